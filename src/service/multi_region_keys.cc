// Multi-Region keys (issue 13): related keys with one key id and the same key material in several
// served regions. The shared record "mrk/<id>" (service/records.h) names the primary's region and
// the replicas'; each region's key record is its own (policy, tags, description, state). Changes
// that span regions (ReplicateKey, UpdatePrimaryRegion, a rotation reaching the replicas) hold
// RegionPeers::MultiRegionMutex() first, then one region's write_mutex_ at a time; a key's
// destruction updates the shared record with a conditional write instead of the mutex.
#include "kmsd/regions.h"
#include "service/regional_keystore.h"
#include "service/service_impl.h"

namespace kmsd::service_internal {
namespace {

constexpr std::string_view kPrimary = "PRIMARY";
constexpr std::string_view kReplica = "REPLICA";

}  // namespace

absl::StatusOr<std::optional<records::MultiRegionRecord>> KmsServiceImpl::LoadMultiRegion(
    const std::string& key_id, std::string* version) const {
  auto stored = keystore_->GetVersioned(records::MultiRegionRecordId(key_id));
  if (!stored.ok()) return stored.status();
  if (version) *version = stored->version;
  if (!stored->value) return std::optional<records::MultiRegionRecord>();
  auto decoded = records::DecodeMultiRegionRecord(stored->value->view());
  if (!decoded.ok()) return decoded.status();
  return std::optional<records::MultiRegionRecord>(std::move(*decoded));
}

std::string KmsServiceImpl::RegionKeyArn(std::string_view region, std::string_view key_id) const {
  return StrCat("arn:aws:kms:", region, ":", options_.account_id, ":key/", key_id);
}

absl::Status KmsServiceImpl::AddMultiRegionConfiguration(KeyMetadata& m) const {
  if (!m.multi_region) return absl::OkStatus();
  auto registry = LoadMultiRegion(m.key_id);
  if (!registry.ok()) return registry.status();
  if (!*registry) return absl::OkStatus();
  MultiRegionConfiguration configuration;
  configuration.key_type = (*registry)->primary_region == Region() ? kPrimary : kReplica;
  configuration.primary_key = {RegionKeyArn((*registry)->primary_region, m.key_id),
                               (*registry)->primary_region};
  for (const std::string& region : (*registry)->replica_regions) {
    configuration.replica_keys.push_back({RegionKeyArn(region, m.key_id), region});
  }
  m.multi_region_configuration = std::move(configuration);
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::RequireNotReplica(const KeyMetadata& m,
                                               std::string_view operation) const {
  if (!m.multi_region) return absl::OkStatus();
  auto registry = LoadMultiRegion(m.key_id);
  if (!registry.ok()) return registry.status();
  if (*registry && (*registry)->primary_region != Region()) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat(KeyArn(m.key_id), " is a multi-Region replica key: ", operation,
                        " applies to its primary key in ", (*registry)->primary_region, "."));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> KmsServiceImpl::WaitsForReplicaDeletion(const KeyMetadata& m,
                                                              KeyChange& change) {
  if (!m.multi_region) return false;
  std::string version;
  auto registry = LoadMultiRegion(m.key_id, &version);
  if (!registry.ok()) return registry.status();
  if (!*registry || (*registry)->primary_region != Region()) return false;
  std::string id = records::MultiRegionRecordId(m.key_id);
  change.expect.emplace_back(id, std::move(version));
  change.puts.emplace_back(std::move(id), records::EncodeMultiRegionRecord(**registry));
  return !(*registry)->replica_regions.empty();
}

absl::StatusOr<KmsServiceImpl::PrimaryKeyOfSet> KmsServiceImpl::PrimaryForChange(
    const CallContext& call, const std::string& key_id, std::string_view operation,
    std::string_view condition_key, const std::string& condition_value) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  const std::string action = StrCat("kms:", operation);
  if (auto status = AuthorizeKey(call, **entry,
                                 {.action = action,
                                  .add_conditions =
                                      [&](policy::RequestContext& context) {
                                        context.Set(std::string(condition_key), condition_value);
                                      }});
      !status.ok()) {
    return status;
  }
  if (!m.multi_region) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat(KeyArn(m.key_id), " is not a multi-Region key."));
  }
  std::string version;
  auto registry = LoadMultiRegion(m.key_id, &version);
  if (!registry.ok()) return registry.status();
  if (!*registry) return Internal("multi-Region key without its shared record");
  if ((*registry)->primary_region != Region()) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat(KeyArn(m.key_id), " is a multi-Region replica key: call ", operation,
                        " on its primary key in ", (*registry)->primary_region, "."));
  }
  // AWS's key state table: Disabled is DisabledException, PendingImport, PendingDeletion and
  // PendingReplicaDeletion KMSInvalidStateException, for ReplicateKey and UpdatePrimaryRegion.
  if (auto status = RequireUsable(m); !status.ok()) return status;
  return PrimaryKeyOfSet{*entry, std::move(**registry), std::move(version)};
}

absl::StatusOr<ReplicateKeyResult> KmsServiceImpl::ReplicateKey(
    const CallContext& call, const ReplicateKeyRequest& request) {
  if (!peers_) {
    return Error(ErrorType::kUnsupportedOperation, "This kmsd serves one region only.");
  }
  std::lock_guard multi_region_lock(peers_->MultiRegionMutex());
  auto primary = PrimaryForChange(call, request.key_id, "ReplicateKey", "kms:ReplicaRegion",
                                  request.replica_region);
  if (!primary.ok()) return primary.status();
  auto& [entry, registry, registry_version] = *primary;
  const KeyMetadata& m = entry->record.metadata;
  if (!IsRegionName(request.replica_region)) {
    return Validation(StrCat("ReplicaRegion '", request.replica_region,
                             "' is not a region name (e.g. eu-west-1)."));
  }
  if (request.replica_region == Region()) {
    return Error(
        ErrorType::kUnsupportedOperation,
        StrCat("ReplicaRegion must be a region other than the primary key's (", Region(), ")."));
  }
  KmsServiceImpl* target = peers_->Peer(request.replica_region);
  if (!target) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("Region ", request.replica_region,
                        " is not served by this kmsd (it serves ", peers_->ServedText(), ")."));
  }
  const auto& replicas = registry.replica_regions;
  if (std::find(replicas.begin(), replicas.end(), request.replica_region) != replicas.end()) {
    return Error(ErrorType::kAlreadyExists,
                 StrCat("A replica of ", KeyArn(m.key_id), " already exists in ",
                        request.replica_region, "."));
  }
  records::MultiRegionRecord updated = registry;
  updated.replica_regions.push_back(request.replica_region);
  auto made = target->CreateReplica(call, *entry, request, updated, registry_version);
  if (!made.ok()) return made.status();
  if (auto status = target->AddMultiRegionConfiguration(made->replica_key_metadata); !status.ok()) {
    return status;
  }
  return made;
}

absl::StatusOr<ReplicateKeyResult> KmsServiceImpl::CreateReplica(
    const CallContext& call, const KeyEntry& primary, const ReplicateKeyRequest& request,
    const records::MultiRegionRecord& updated_registry, const std::string& registry_version) {
  const KeyMetadata& pm = primary.record.metadata;
  {
    // AWS: kms:CreateKey in the replica's region, by identity policies.
    auto context = authorization::NewContext(call, "kms:CreateKey", "*", clock_->NowSeconds());
    authorization::AddKeyProperties(context, pm);
    context.Set("kms:MultiRegion", "true");
    context.Set("kms:MultiRegionKeyType", std::string(kReplica));
    if (auto status = authorization::Decide(context, nullptr); !status.ok()) return status;
  }
  if (!request.tags.empty()) {
    // AWS: "To use the Tags parameter, kms:TagResource in an IAM policy in the replica Region."
    auto context =
        authorization::NewContext(call, "kms:TagResource", KeyArn(pm.key_id), clock_->NowSeconds());
    authorization::AddKeyProperties(context, pm);
    if (auto status = authorization::Decide(context, nullptr); !status.ok()) return status;
  }
  if (auto status = ValidateTags(request.tags); !status.ok()) return status;
  auto entry = std::make_shared<KeyEntry>();
  // Shared properties: id, spec, usage, origin, material and its versions, rotation.
  entry->record = primary.record;
  entry->versions = primary.versions;
  entry->private_key = primary.private_key;
  KeyMetadata& m = entry->record.metadata;
  m.creation_date = clock_->NowSeconds();
  m.description = request.description;
  m.state = KeyState::kEnabled;
  m.deletion_date.reset();
  m.pending_deletion_window_days.reset();
  entry->record.tags = request.tags;
  entry->record.policy.reset();
  if (auto status = AttachNewKeyPolicy(call, *entry, request.policy,
                                       request.bypass_policy_lockout_safety_check);
      !status.ok()) {
    return status;
  }
  // The replica's records under this region's prefix and the shared record, in one commit on
  // the keystore every region shares.
  std::string encoded = records::EncodeKeyRecord(entry->record);
  std::string registry = records::EncodeMultiRegionRecord(updated_registry);
  KeystoreBatch batch;
  batch.puts.emplace_back(StrCat(record_prefix_, records::KeyRecordId(m.key_id)), encoded);
  for (const auto& [version, material] : entry->versions) {
    batch.puts.emplace_back(StrCat(record_prefix_, records::MaterialRecordId(m.key_id, version)),
                            material->view());
  }
  batch.puts.emplace_back(records::MultiRegionRecordId(m.key_id), registry);
  batch.expect.emplace_back(records::MultiRegionRecordId(m.key_id), registry_version);
  batch.expect.emplace_back(StrCat(record_prefix_, records::KeyRecordId(m.key_id)), "");
  {
    std::lock_guard write_lock(write_mutex_);
    if (auto status = peers_->SharedKeystore()->Commit(batch); !status.ok()) return status;
    entry->stored_record = std::move(encoded);  // what the next conditional write expects
    Publish(entry);
  }
  return ReplicateKeyResult{Describe(*entry),
                            entry->record.policy.value_or(default_policy_document_),
                            entry->record.tags};
}

absl::Status KmsServiceImpl::UpdatePrimaryRegion(const CallContext& call, const std::string& key_id,
                                                 const std::string& primary_region) {
  if (!peers_) {
    return Error(ErrorType::kUnsupportedOperation, "This kmsd serves one region only.");
  }
  std::lock_guard multi_region_lock(peers_->MultiRegionMutex());
  auto primary =
      PrimaryForChange(call, key_id, "UpdatePrimaryRegion", "kms:PrimaryRegion", primary_region);
  if (!primary.ok()) return primary.status();
  auto& [entry, registry, registry_version] = *primary;
  const KeyMetadata& m = entry->record.metadata;
  auto& replicas = registry.replica_regions;
  auto found = std::find(replicas.begin(), replicas.end(), primary_region);
  KmsServiceImpl* target = found == replicas.end() ? nullptr : peers_->Peer(primary_region);
  if (!target) {
    return NotFound(StrCat("There is no replica of ", KeyArn(m.key_id), " in region '",
                           IsRegionName(primary_region) ? primary_region : "(not a region)", "'."));
  }
  auto replica = target->Load(m.key_id);
  if (!replica.ok()) return replica.status();
  // AWS authorizes kms:UpdatePrimaryRegion on the replica too (its own key policy).
  if (auto status = target->AuthorizeKey(call, **replica, {.action = "kms:UpdatePrimaryRegion"});
      !status.ok()) {
    return status;
  }
  if (auto status = target->RequireUsable((*replica)->record.metadata); !status.ok()) {
    return status;
  }
  records::MultiRegionRecord updated;
  updated.primary_region = primary_region;
  for (const std::string& region : replicas) {
    if (region != primary_region) updated.replica_regions.push_back(region);
  }
  updated.replica_regions.push_back(Region());
  KeystoreBatch batch;
  std::string encoded = records::EncodeMultiRegionRecord(updated);
  batch.puts.emplace_back(records::MultiRegionRecordId(m.key_id), encoded);
  batch.expect.emplace_back(records::MultiRegionRecordId(m.key_id), registry_version);
  // The rotation schedule moves with the primary (the old one's due record is dropped when due).
  const KeyRecord& replica_record = (*replica)->record;
  if (replica_record.rotation_enabled) {
    batch.puts.emplace_back(
        StrCat(target->record_prefix_, records::DueRecordId(replica_record.next_rotation_date,
                                                            records::kRotateTask, m.key_id)),
        "");
  }
  // Entries carry no role, so no cache changes: DescribeKey reads the shared record.
  return peers_->SharedKeystore()->Commit(batch);
}

absl::Status KmsServiceImpl::SyncReplicas(const std::string& key_id) {
  if (!peers_ || !IsMultiRegionKeyId(key_id)) return absl::OkStatus();
  std::lock_guard multi_region_lock(peers_->MultiRegionMutex());
  auto registry = LoadMultiRegion(key_id);
  if (!registry.ok()) return registry.status();
  if (!*registry || (*registry)->primary_region != Region()) return absl::OkStatus();
  auto primary = Load(key_id);
  if (!primary.ok()) return primary.status();
  for (const std::string& region : (*registry)->replica_regions) {
    KmsServiceImpl* target = peers_->Peer(region);
    if (!target) continue;  // no longer served: it catches up when served again and rotated
    if (auto status = target->TakeSharedProperties(**primary); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::TakeSharedProperties(const KeyEntry& primary) {
  std::lock_guard write_lock(write_mutex_);
  auto current = Load(primary.record.metadata.key_id);
  if (!current.ok()) {
    // Destroyed meanwhile: nothing to bring up to date.
    return TypeOf(current.status()) == ErrorType::kNotFound ? absl::OkStatus() : current.status();
  }
  return MutateLocked(*current,
                      [&](KeyRecord& record, KeyChange& change) {
                        for (const auto& [version, material] : primary.versions) {
                          if (!(*current)->versions.count(version)) {
                            change.new_versions.emplace(version,
                                                        SecretBytes::FromString(material->view()));
                          }
                        }
                        record.current_version = primary.record.current_version;
                        record.rotations = primary.record.rotations;
                        // The rotation schedule is the primary's; replicas never rotate alone.
                        record.rotation_enabled = primary.record.rotation_enabled;
                        record.rotation_period_days = primary.record.rotation_period_days;
                        record.next_rotation_date = primary.record.next_rotation_date;
                        return absl::OkStatus();
                      })
      .status();
}

absl::Status KmsServiceImpl::ForgetMultiRegionKey(const KeyRecord& record, KeystoreBatch& batch,
                                                  std::string& encoded, PrimaryRelease& release) {
  if (!record.metadata.multi_region) return absl::OkStatus();
  const std::string& key_id = record.metadata.key_id;
  std::string version;
  auto registry = LoadMultiRegion(key_id, &version);
  if (!registry.ok()) return registry.status();
  if (!*registry) return absl::OkStatus();
  std::string id = records::MultiRegionRecordId(key_id);
  batch.expect.emplace_back(id, version);
  auto& replicas = (*registry)->replica_regions;
  if ((*registry)->primary_region == Region()) {
    if (!replicas.empty()) {
      // Only a primary without replicas is ever PendingDeletion; ReplicateKey refuses it.
      return Error(ErrorType::kKmsInvalidState,
                   StrCat(KeyArn(key_id), " still has replica keys; not deleted."));
    }
    batch.deletes.push_back(id);
    return absl::OkStatus();
  }
  replicas.erase(std::remove(replicas.begin(), replicas.end(), Region()), replicas.end());
  encoded = records::EncodeMultiRegionRecord(**registry);
  batch.puts.emplace_back(id, encoded);
  if (!replicas.empty() || !peers_) return absl::OkStatus();
  // The last replica: a primary waiting in PendingReplicaDeletion begins its waiting period now
  // (AWS: "When the last of its replicas keys is deleted (not just scheduled), the key state of
  // the primary key changes to PendingDeletion and its waiting period begins"). A concurrent
  // ScheduleKeyDeletion of the primary touches the shared record this batch expects.
  KmsServiceImpl* primary = peers_->Peer((*registry)->primary_region);
  if (!primary) return absl::OkStatus();  // its region no longer served: nothing to release
  std::string record_id = records::KeyRecordId(key_id);
  auto stored = primary->keystore_->GetVersioned(record_id);
  if (!stored.ok()) return stored.status();
  if (!stored->value) return absl::OkStatus();
  auto primary_record = records::DecodeKeyRecord(stored->value->view());
  if (!primary_record.ok()) return primary_record.status();
  KeyMetadata& m = primary_record->metadata;
  if (m.state != KeyState::kPendingReplicaDeletion) return absl::OkStatus();
  m.state = KeyState::kPendingDeletion;
  m.deletion_date = clock_->NowSeconds() +
                    m.pending_deletion_window_days.value_or(kMaxPendingWindowDays) * kSecondsPerDay;
  release.region = primary;
  release.key_id = key_id;
  release.record_id = StrCat(primary->record_prefix_, record_id);
  release.version = std::move(stored->version);
  release.record = records::EncodeKeyRecord(*primary_record);
  release.due_record_id = StrCat(primary->record_prefix_,
                                 records::DueRecordId(*m.deletion_date, records::kDeleteTask, key_id));
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::CommitDestruction(const KeystoreBatch& batch,
                                               const PrimaryRelease& release) {
  if (!release.region) return keystore_->Commit(batch);
  // Two regions' records in one commit: this region's ids as the shared keystore names them.
  auto shared = [this](const std::string& id) {
    return IsSharedRecordId(id) ? id : StrCat(record_prefix_, id);
  };
  KeystoreBatch across;
  for (const auto& put : batch.puts) across.puts.emplace_back(shared(put.first), put.second);
  for (const std::string& id : batch.deletes) across.deletes.push_back(shared(id));
  for (const auto& expected : batch.expect) {
    across.expect.emplace_back(shared(expected.first), expected.second);
  }
  across.puts.emplace_back(release.record_id, release.record);
  across.puts.emplace_back(release.due_record_id, "");
  across.expect.emplace_back(release.record_id, release.version);
  if (auto status = peers_->SharedKeystore()->Commit(across); !status.ok()) {
    if (IsStorageConflict(status)) release.region->Forget(release.key_id);
    return status;
  }
  release.region->Forget(release.key_id);  // its next read finds PendingDeletion
  return absl::OkStatus();
}

}  // namespace kmsd::service_internal
