// Rotation (automatic and on demand) and the scheduler's due tasks: rotations and deletions that
// fall due, and the destruction of a key.
#include <set>

#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::Status KmsServiceImpl::EnableKeyRotation(const CallContext& call, const std::string& key_id,
                                               int period_days) {
  int64_t now = clock_->NowSeconds();
  auto enabled = Mutate(
      call, "kms:EnableKeyRotation", key_id, /*allow_alias=*/false,
      [&](KeyRecord& record, KeyChange& change) {
        if (auto status = RequireRotatable(record.metadata, "EnableKeyRotation"); !status.ok()) {
          return status;
        }
        if (auto status = RequireNotReplica(record.metadata, "EnableKeyRotation"); !status.ok()) {
          return status;
        }
        if (auto status = RequireGeneratedMaterial(record.metadata); !status.ok()) return status;
        if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
        UnscheduleRotation(record, change);
        record.rotation_enabled = true;
        record.rotation_period_days = period_days;
        record.next_rotation_date = now + period_days * kSecondsPerDay;
        change.puts.emplace_back(records::DueRecordId(record.next_rotation_date,
                                                      records::kRotateTask, record.metadata.key_id),
                                 "");
        return absl::OkStatus();
      });
  if (!enabled.ok()) return enabled.status();
  // Rotation is shared with the replicas (issue 13).
  return SyncReplicas((*enabled)->record.metadata.key_id);
}

absl::Status KmsServiceImpl::DisableKeyRotation(const CallContext& call,
                                                const std::string& key_id) {
  auto disabled = Mutate(
      call, "kms:DisableKeyRotation", key_id, /*allow_alias=*/false,
      [&](KeyRecord& record, KeyChange& change) {
        if (auto status = RequireRotatable(record.metadata, "DisableKeyRotation"); !status.ok()) {
          return status;
        }
        if (auto status = RequireNotReplica(record.metadata, "DisableKeyRotation"); !status.ok()) {
          return status;
        }
        if (auto status = RequireGeneratedMaterial(record.metadata); !status.ok()) return status;
        if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
        UnscheduleRotation(record, change);
        return absl::OkStatus();
      });
  if (!disabled.ok()) return disabled.status();
  return SyncReplicas((*disabled)->record.metadata.key_id);
}

absl::StatusOr<RotationStatus> KmsServiceImpl::GetKeyRotationStatus(const CallContext& call,
                                                                    const std::string& key_id) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:GetKeyRotationStatus"});
      !status.ok()) {
    return status;
  }
  if (auto status = RequireRotatable((*entry)->record.metadata, "GetKeyRotationStatus");
      !status.ok()) {
    return status;
  }
  const KeyRecord& record = (*entry)->record;
  RotationStatus status{KeyArn(record.metadata.key_id), record.rotation_enabled};
  if (record.rotation_enabled) {
    status.period_days = record.rotation_period_days;
    status.next_rotation_date = record.next_rotation_date;
  }
  return status;
}

absl::StatusOr<std::string> KmsServiceImpl::RotateKeyOnDemand(const CallContext& call,
                                                              const std::string& key_id) {
  int64_t now = clock_->NowSeconds();
  auto entry = Mutate(
      call, "kms:RotateKeyOnDemand", key_id, /*allow_alias=*/false,
      [&](KeyRecord& record, KeyChange& change) {
        // AWS checks the key's state before its spec (a disabled RSA key is DisabledException:
        // recorded by LocalStack's AWS-validated snapshots, docs/FIDELITY.md).
        if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
        if (auto status = RequireRotatable(record.metadata, "RotateKeyOnDemand"); !status.ok()) {
          return status;
        }
        if (auto status = RequireNotReplica(record.metadata, "RotateKeyOnDemand"); !status.ok()) {
          return status;
        }
        size_t on_demand = std::count_if(
            record.rotations.begin(), record.rotations.end(),
            [](const Rotation& rotation) { return rotation.type == RotationType::kOnDemand; });
        if (on_demand >= kMaxOnDemandRotations) {
          return Error(ErrorType::kLimitExceeded,
                       StrCat("The on-demand rotations limit has been reached for the given "
                              "keyId. No more on-demand rotations can be performed for this key: ",
                              KeyArn(record.metadata.key_id)));
        }
        // Issue 13: an imported key rotates to the material imported for it.
        if (record.metadata.origin == "EXTERNAL") return RotateToPendingMaterial(record, now);
        return AddRotation(record, change, now, RotationType::kOnDemand);
      });
  if (!entry.ok()) return entry.status();
  if (auto status = SyncReplicas((*entry)->record.metadata.key_id); !status.ok()) return status;
  return KeyArn((*entry)->record.metadata.key_id);
}

absl::StatusOr<RotationList> KmsServiceImpl::ListKeyRotations(const CallContext& call,
                                                              const std::string& key_id,
                                                              size_t limit,
                                                              const std::string& marker,
                                                              bool include_all_key_material) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListKeyRotations"}); !status.ok()) {
    return status;
  }
  if (auto status = RequireRotatable((*entry)->record.metadata, "ListKeyRotations"); !status.ok()) {
    return status;
  }
  auto rows = KeyMaterialRows(**entry, include_all_key_material);
  if (!rows.ok()) return rows.status();
  auto page = PageByPosition(*rows, limit, marker);
  if (!page.ok()) return page.status();
  RotationList list;
  list.key_arn = KeyArn((*entry)->record.metadata.key_id);
  list.rotations = std::move(page->first);
  list.next_marker = std::move(page->second);
  return list;
}

absl::StatusOr<std::vector<RotationListEntry>> KmsServiceImpl::KeyMaterialRows(
    const KeyEntry& entry, bool include_all) const {
  const KeyRecord& record = entry.record;
  auto row = [&](uint32_t version) {
    RotationListEntry one;
    one.key_material_id = MaterialIdOfVersion(entry, version);
    one.key_material_state = version == record.current_version ? "CURRENT" : "NON_CURRENT";
    for (const records::ImportedMaterial& material : record.materials) {
      if (material.version != version) continue;
      one.imported_material = true;
      one.import_state = material.imported ? "IMPORTED" : "PENDING_IMPORT";
      one.description = material.description;
      one.expiration_model = material.expiration_model;
      one.valid_to = material.valid_to;
    }
    return one;
  };
  std::vector<RotationListEntry> rows;
  if (include_all) {
    // The first material: the oldest version that no rotation made.
    std::set<uint32_t> rotated;
    for (const Rotation& rotation : record.rotations) rotated.insert(rotation.version);
    std::optional<uint32_t> first;
    for (const records::ImportedMaterial& material : record.materials) {
      if (!material.pending_rotation && !rotated.contains(material.version)) {
        first = material.version;
        break;
      }
    }
    if (!first && record.materials.empty()) {
      for (const auto& [version, material] : entry.versions) {
        if (!rotated.contains(version)) {
          first = version;
          break;
        }
      }
    }
    if (first) rows.push_back(row(*first));
  }
  for (const Rotation& rotation : record.rotations) {
    RotationListEntry one = row(rotation.version);
    one.date = rotation.date;
    one.type = rotation.type;
    rows.push_back(std::move(one));
  }
  if (include_all) {
    if (const records::ImportedMaterial* pending = record.PendingMaterial()) {
      RotationListEntry one = row(pending->version);
      auto everywhere = PendingInEveryReplica(record, pending->id);
      if (!everywhere.ok()) return everywhere.status();
      one.key_material_state =
          *everywhere ? "PENDING_ROTATION" : "PENDING_MULTI_REGION_IMPORT_AND_ROTATION";
      rows.push_back(std::move(one));
    }
  }
  return rows;
}

absl::StatusOr<DueTaskReport> KmsServiceImpl::RunScheduledTasks() {
  int64_t now = clock_->NowSeconds();
  DueTaskReport report;
  std::string start_after;
  while (true) {
    auto listed = keystore_->List(records::kDuePrefix, start_after, kDueTasksPerPage);
    if (!listed.ok()) return listed.status();
    for (const KeystoreRecord& stored : *listed) {
      auto task = records::ParseDueRecordId(stored.id);
      if (!task) return Internal("malformed schedule record");
      if (task->due > now) return report;
      // A node that lost the leadership stops; its writes are conditional anyway.
      if (!leadership_->IsLeader()) return report;
      if (auto status = RunDueTask(*task, stored.id, now, report); !status.ok()) return status;
    }
    if (listed->size() < kDueTasksPerPage) return report;
    start_after = listed->back().id;
  }
}

absl::Status KmsServiceImpl::RunDueTask(const records::DueTask& task,
                                        const std::string& due_record_id, int64_t now,
                                        DueTaskReport& report) {
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
    // Every write below expects the schedule record as read here: another node that did the
    // task first removed it, and then this one finds it gone or its commit refused.
    auto due = keystore_->GetVersioned(due_record_id);
    if (!due.ok()) return due.status();
    if (!due->value) return absl::OkStatus();
    if (task.task == records::kDeleteTask) {
      auto resumed = ResumeDestruction(task, due_record_id, due->version, report);
      if (!resumed.ok()) return resumed.status();
      if (*resumed) return absl::OkStatus();
    }
    auto entry = Load(task.key_id);
    if (!entry.ok() && TypeOf(entry.status()) != ErrorType::kNotFound) return entry.status();
    if (entry.ok()) {
      // Decide on the key as stored, not as this node may have cached it.
      if (auto version = StoredKeyVersion(**entry); !version.ok()) return version.status();
    }
    const KeyRecord* record = entry.ok() ? &(*entry)->record : nullptr;
    if (record && task.task == records::kDeleteTask &&
        record->metadata.state == KeyState::kPendingDeletion &&
        record->metadata.deletion_date == task.due) {
      return DestroyKey(*entry, due_record_id, due->version, report);
    }
    if (record && task.task == records::kRotateTask && record->metadata.multi_region &&
        !RequireNotReplica(record->metadata, "rotation").ok()) {
      // The primary moved: its region rotates now (issue 13).
      KeystoreBatch moved;
      moved.deletes.push_back(due_record_id);
      moved.expect.emplace_back(due_record_id, due->version);
      return keystore_->Commit(moved);
    }
    if (record && task.task == records::kRotateTask && record->rotation_enabled &&
        record->next_rotation_date == task.due) {
      bool rotate = record->metadata.state == KeyState::kEnabled;
      auto rotated = MutateLocked(*entry, [&](KeyRecord& changed, KeyChange& change) {
        change.expect.emplace_back(due_record_id, due->version);
        change.deletes.push_back(due_record_id);
        // A key that is not enabled is not rotated; its schedule moves on by one period.
        changed.next_rotation_date =
            std::max(task.due, now) + changed.rotation_period_days * kSecondsPerDay;
        change.puts.emplace_back(
            records::DueRecordId(changed.next_rotation_date, records::kRotateTask,
                                 changed.metadata.key_id),
            "");
        return rotate ? AddRotation(changed, change, now, RotationType::kAutomatic)
                      : absl::OkStatus();
      });
      if (!rotated.ok()) return rotated.status();
      if (rotate) {
        ++report.keys_rotated;
        // After the commit, which stands either way: a crash before this report loses the
        // record, never doubles it (the reporter logs a failure).
        ReportServiceEvent("RotateKey", record->metadata.key_id, task.due).IgnoreError();
      }
      if (record->metadata.multi_region) replica_syncs_.push_back(record->metadata.key_id);
      return absl::OkStatus();
    }
    if (record && (task.task == records::kExpireMaterialTask ||
                   task.task == records::kExpireImportParametersTask)) {
      return RunImportTask(*entry, task, due_record_id, now, report);  // issue 13
    }
    KeystoreBatch cancelled;  // cancelled or superseded
    cancelled.deletes.push_back(due_record_id);
    cancelled.expect.emplace_back(due_record_id, due->version);
    return keystore_->Commit(cancelled);
  });
}

absl::Status KmsServiceImpl::DestroyKey(const EntryPtr& entry, const std::string& due_record_id,
                                        const std::string& due_version, DueTaskReport& report) {
  const KeyRecord& record = entry->record;
  const std::string& key_id = record.metadata.key_id;
  auto key_version = StoredKeyVersion(*entry);
  if (!key_version.ok()) return key_version.status();
  {
    // A key that cannot finish its destruction is not begun (issue 13: a primary that gained a
    // replica since its deletion was scheduled).
    KeystoreBatch probe;
    std::string encoded;
    PrimaryRelease release;
    if (auto status = ForgetMultiRegionKey(record, probe, encoded, release); !status.ok()) {
      return status;
    }
  }
  // Step one: mark the key as being destroyed, conditional on the schedule record and the key as
  // read. From this commit on every node answers NotFound for it (LoadFromKeystore), so no new
  // alias, grant or use can reach it, and the destruction cannot be cancelled.
  KeyRecord marked = record;
  marked.destroying = true;
  marked.deletion_recorded = false;
  std::string encoded = records::EncodeKeyRecord(marked);
  KeystoreBatch mark;
  mark.puts.emplace_back(records::KeyRecordId(key_id), encoded);
  mark.expect.emplace_back(records::KeyRecordId(key_id), std::move(*key_version));
  mark.expect.emplace_back(due_record_id, due_version);
  {
    std::unique_lock destroy_lock(destroy_mutex_);
    if (auto status = keystore_->Commit(mark); !status.ok()) {
      if (IsStorageConflict(status)) Forget(key_id);
      return status;
    }
    Forget(key_id);
  }
  return FinishDestruction(key_id, due_record_id, due_version, report);
}

absl::StatusOr<bool> KmsServiceImpl::ResumeDestruction(const records::DueTask& task,
                                                       const std::string& due_record_id,
                                                       const std::string& due_version,
                                                       DueTaskReport& report) {
  auto stored = keystore_->Get(records::KeyRecordId(task.key_id));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return false;
  auto record = records::DecodeKeyRecord((*stored)->view());
  if (!record.ok()) return record.status();
  if (!record->destroying) return false;
  // A node (this one or another) began and did not finish: whatever it had deleted stays
  // deleted, and the rest goes now.
  if (auto status = FinishDestruction(task.key_id, due_record_id, due_version, report);
      !status.ok()) {
    return status;
  }
  return true;
}

absl::Status KmsServiceImpl::FinishDestruction(const std::string& key_id,
                                               const std::string& due_record_id,
                                               const std::string& due_version,
                                               DueTaskReport& report) {
  const std::string key_record_id = records::KeyRecordId(key_id);
  // Step two: the DeleteKey report, then the key's other records in batches that fit one etcd
  // transaction, each conditional on the marked key record (a node that overlaps deletes the
  // same records: no harm).
  while (true) {
    auto stored = keystore_->GetVersioned(key_record_id);
    if (!stored.ok()) return stored.status();
    if (!stored->value) return absl::OkStatus();  // another node finished it
    auto record = records::DecodeKeyRecord(stored->value->view());
    if (!record.ok()) return record.status();
    if (!record->destroying) return Internal("a key being destroyed lost its mark");
    if (!record->deletion_recorded) {
      // Reported before any record goes, and noted at once: a crash between the report and the
      // note (one etcd transaction) is the one case in which a resumed destruction reports the
      // deletion again, under the same eventID (docs/HA.md).
      if (auto status =
              ReportServiceEvent("DeleteKey", key_id, record->metadata.deletion_date.value_or(0));
          !status.ok()) {
        return status;
      }
      record->deletion_recorded = true;
      std::string recorded = records::EncodeKeyRecord(*record);
      KeystoreBatch note;
      note.puts.emplace_back(key_record_id, recorded);
      note.expect.emplace_back(key_record_id, std::move(stored->version));
      if (auto status = keystore_->Commit(note); !status.ok()) return status;
      continue;
    }
    KeystoreBatch batch;
    batch.expect.emplace_back(key_record_id, std::move(stored->version));
    for (const std::string& prefix : {records::MaterialPrefix(key_id), records::GrantPrefix(key_id),
                                      records::ImportPrefix(key_id)}) {
      size_t room = kMaxDestroyBatchRecords - batch.deletes.size();
      if (room == 0) break;
      auto listed = keystore_->List(prefix, "", room);
      if (!listed.ok()) return listed.status();
      for (const KeystoreRecord& listed_record : *listed) batch.deletes.push_back(listed_record.id);
    }
    std::vector<std::string> alias_names;
    if (batch.deletes.size() < kMaxDestroyBatchRecords) {
      if (auto status = EnsureAliasIndex(); !status.ok()) return status;
      if (shared_) {
        // Other nodes' aliases may not have reached this node's index: read them, each expected
        // still to name this key.
        auto aliases = StoredAliasesOf(key_id);
        if (!aliases.ok()) return aliases.status();
        for (auto& alias : *aliases) {
          if (batch.deletes.size() == kMaxDestroyBatchRecords) break;
          batch.expect.emplace_back(alias.first, std::move(alias.second));
          batch.deletes.push_back(records::AliasRecordId(alias.first));
          alias_names.push_back(std::move(alias.first));
        }
      } else {
        for (std::string& name : AliasesOf(key_id)) {
          if (batch.deletes.size() == kMaxDestroyBatchRecords) break;
          batch.deletes.push_back(records::AliasRecordId(name));
          alias_names.push_back(std::move(name));
        }
      }
    }
    if (batch.deletes.empty()) break;  // nothing left but the key record and its schedule
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    std::unique_lock cache_lock(cache_mutex_);
    for (const std::string& name : alias_names) UnindexAliasLocked(name);
  }
  // Step three: the key record last, with its schedule, usage and multi-Region share.
  auto stored = keystore_->GetVersioned(key_record_id);
  if (!stored.ok()) return stored.status();
  if (!stored->value) return absl::OkStatus();
  auto record = records::DecodeKeyRecord(stored->value->view());
  if (!record.ok()) return record.status();
  KeystoreBatch batch;
  batch.expect.emplace_back(due_record_id, due_version);
  batch.expect.emplace_back(key_record_id, std::move(stored->version));
  batch.deletes.push_back(due_record_id);
  batch.deletes.push_back(key_record_id);
  if (record->rotation_enabled) {
    batch.deletes.push_back(
        records::DueRecordId(record->next_rotation_date, records::kRotateTask, key_id));
  }
  batch.deletes.push_back(key_usage::UsageRecordId(key_id));
  std::string multi_region_record;  // issue 13: the shared record loses this region
  PrimaryRelease release;           // and a primary waiting for its last replica begins its wait
  if (auto status = ForgetMultiRegionKey(*record, batch, multi_region_record, release);
      !status.ok()) {
    return status;
  }
  {
    std::unique_lock destroy_lock(destroy_mutex_);
    if (auto status = CommitDestruction(batch, release); !status.ok()) return status;
    key_usage_.Forget(key_id);
    std::unique_lock cache_lock(cache_mutex_);
    ForgetLocked(key_id);
    aliases_by_key_.erase(key_id);
  }
  ++report.keys_deleted;
  return keystore_->Compact();
}

absl::Status KmsServiceImpl::ReportServiceEvent(std::string_view event_name,
                                                const std::string& key_id, int64_t due) {
  if (!options_.on_service_event) return absl::OkStatus();
  ServiceEvent event;
  event.event_name = std::string(event_name);
  event.key_arn = KeyArn(key_id);
  event.region = Region();
  // The same event has the same id on every node that reports it.
  std::string digest = crypto::Sha256(
      {"kmsd service event\n", event.event_name, "\n", event.key_arn, "\n", std::to_string(due)});
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < 16; ++i) {
    auto byte = static_cast<unsigned char>(digest[i]);
    if (i == 6) byte = (byte & 0x0f) | 0x50;  // a name-based UUID's version and variant bits
    if (i == 8) byte = (byte & 0x3f) | 0x80;
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  event.event_id = StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                          hex.substr(16, 4), "-", hex.substr(20));
  return options_.on_service_event(event);
}

void KmsServiceImpl::UnscheduleRotation(KeyRecord& record, KeyChange& change) {
  if (!record.rotation_enabled) return;
  change.deletes.push_back(records::DueRecordId(record.next_rotation_date, records::kRotateTask,
                                                record.metadata.key_id));
  record.rotation_enabled = false;
  record.rotation_period_days = 0;
  record.next_rotation_date = 0;
}

absl::Status KmsServiceImpl::AddRotation(KeyRecord& record, KeyChange& change, int64_t now,
                                         RotationType type) {
  auto material = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!material.ok()) return material.status();
  uint32_t version = record.current_version + 1;
  for (const Rotation& rotation : record.rotations)
    version = std::max(version, rotation.version + 1);
  record.current_version = version;
  record.rotations.push_back({version, now, type});
  change.new_versions.emplace(version, std::move(*material));
  return absl::OkStatus();
}

}  // namespace kmsd::service_internal
