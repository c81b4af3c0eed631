// Key lifecycle: create, describe, list, enable and disable, describe again, schedule and cancel
// deletion, and tags.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::StatusOr<KeyMetadata> KmsServiceImpl::CreateKey(const CallContext& call,
                                                      const CreateKeyRequest& request) {
  auto entry = std::make_shared<KeyEntry>();
  KeyMetadata& m = entry->record.metadata;
  m.key_id = request.multi_region ? NewMultiRegionKeyId() : NewUuid();
  m.multi_region = request.multi_region;
  m.key_usage = request.key_usage;
  m.key_spec = request.key_spec;
  m.origin = request.origin;
  {
    auto context = authorization::NewContext(call, "kms:CreateKey", "*", clock_->NowSeconds());
    authorization::AddKeyProperties(context, m);
    // Present only when the request sets it, so that AWS's Null conditions on it work.
    if (request.bypass_policy_lockout_safety_check) {
      context.Set("kms:BypassPolicyLockoutSafetyCheck", "true");
    }
    context.Set("kms:MultiRegion", request.multi_region ? "true" : "false");
    if (auto status = authorization::Decide(context, nullptr); !status.ok()) return status;
  }
  const KeySpecInfo* spec = FindKeySpec(request.key_spec);
  if (!spec) return Validation(StrCat("KeySpec ", request.key_spec, " is not a KMS key spec"));
  if (!AllowsUsage(*spec, request.key_usage)) {
    return Validation(StrCat("KeyUsage ", request.key_usage, " is not compatible with KeySpec ",
                             request.key_spec));
  }
  if (spec->family == KeyFamily::kUnsupported) {
    return Error(ErrorType::kUnsupportedOperation, spec->unsupported_reason);
  }
  // Origin EXTERNAL (issue 13): no material until ImportKeyMaterial.
  bool external = request.origin == "EXTERNAL";
  if (request.origin != "AWS_KMS" && !external) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("Origin ", request.origin, " is not supported yet"));
  }
  if (auto status = ValidateTags(request.tags); !status.ok()) return status;
  if (auto status = AttachNewKeyPolicy(call, *entry, request.policy,
                                       request.bypass_policy_lockout_safety_check);
      !status.ok()) {
    return status;
  }

  m.creation_date = clock_->NowSeconds();
  m.description = request.description;
  if (external && request.multi_region) {
    return Error(ErrorType::kUnsupportedOperation,
                 "Multi-Region keys with imported key material (Origin EXTERNAL) are not "
                 "supported yet");
  }
  m.state = external ? KeyState::kPendingImport : KeyState::kEnabled;
  entry->record.tags = request.tags;
  entry->record.current_version = 1;
  entry->record.has_material = !external;

  if (!external) {
    auto material = crypto::GenerateKeyMaterial(*spec);
    if (!material.ok()) return material.status();
    entry->versions[1] = std::make_shared<const SecretBytes>(std::move(*material));
    if (auto status = AttachMaterial(*entry); !status.ok()) return status;
  }

  entry->stored_record = records::EncodeKeyRecord(entry->record);
  KeystoreBatch batch;
  batch.expect.emplace_back(records::KeyRecordId(m.key_id), "");  // a new key id, on any node
  batch.puts.emplace_back(records::KeyRecordId(m.key_id), entry->stored_record);
  if (!external) {
    batch.puts.emplace_back(records::MaterialRecordId(m.key_id, 1), entry->versions[1]->view());
  }
  // A multi-Region key's shared record: this region holds the primary (issue 13).
  std::string multi_region_record;
  if (m.multi_region) {
    multi_region_record = records::EncodeMultiRegionRecord({Region(), {}});
    batch.puts.emplace_back(records::MultiRegionRecordId(m.key_id), multi_region_record);
  }
  {
    std::lock_guard write_lock(write_mutex_);
    uint64_t seen = InvalidationsOf(m.key_id);
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    PublishIfCurrent(entry, seen);
  }
  KeyMetadata created = Describe(*entry);
  if (auto status = AddMultiRegionConfiguration(created); !status.ok()) return status;
  return created;
}

absl::Status KmsServiceImpl::AttachNewKeyPolicy(const CallContext& call, KeyEntry& entry,
                                                const std::optional<std::string>& document,
                                                bool bypass_lockout_check) const {
  if (!document) {
    if (!default_policy_.ok()) return default_policy_.status();
    entry.policy = *default_policy_;
    return absl::OkStatus();
  }
  auto compiled = CompileKeyPolicy(*document);
  if (!compiled.ok()) return compiled.status();
  if (!bypass_lockout_check) {
    if (auto status = CheckLockout(call, entry, **compiled); !status.ok()) return status;
  }
  entry.policy = std::move(*compiled);
  entry.record.policy = *document;
  return absl::OkStatus();
}

absl::StatusOr<KeyMetadata> KmsServiceImpl::DescribeKey(const CallContext& call,
                                                        const std::string& key_id,
                                                        const GrantTokens& grant_tokens) {
  std::string request_alias;
  auto entry = Resolve(key_id, /*allow_alias=*/true, &request_alias);
  if (!entry.ok()) return entry.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&*entry}); !status.ok()) return status;
  if (auto status = AuthorizeKey(call, **entry,
                                 {.action = "kms:DescribeKey",
                                  .grant_operation = grants::kDescribeKey,
                                  .request_alias = request_alias});
      !status.ok()) {
    return status;
  }
  KeyMetadata described = Describe(**entry);
  if (auto status = AddMultiRegionConfiguration(described); !status.ok()) return status;
  return described;
}

absl::StatusOr<KeyList> KmsServiceImpl::ListKeys(const CallContext& call, size_t limit,
                                                 const std::string& marker) {
  if (auto status = AuthorizeAccountAction(call, "kms:ListKeys", "*"); !status.ok()) {
    return status;
  }
  std::string start_after;
  if (!marker.empty()) {
    if (!IsKeyId(marker)) return Error(ErrorType::kInvalidMarker, "Invalid marker");
    start_after = records::KeyRecordId(AsciiLower(marker));
  }
  // Ids only; the records are small, and the list is read from storage so it is complete even
  // when the cache holds a fraction of the keys.
  auto listed = keystore_->List(records::kKeyPrefix, start_after, limit + 1);
  if (!listed.ok()) return listed.status();
  KeyList result;
  for (const KeystoreRecord& record : *listed) {
    if (result.keys.size() == limit) {
      result.next_marker = result.keys.back().key_id;
      break;
    }
    std::string id = record.id.substr(records::kKeyPrefix.size());
    result.keys.push_back({id, KeyArn(id)});
  }
  return result;
}

absl::Status KmsServiceImpl::EnableKey(const CallContext& call, const std::string& key_id) {
  return ChangeUnlessPendingDeletion(
      call, "kms:EnableKey", key_id, [](KeyMetadata& m) { m.state = KeyState::kEnabled; },
      /*needs_material=*/true);
}

absl::Status KmsServiceImpl::DisableKey(const CallContext& call, const std::string& key_id) {
  return ChangeUnlessPendingDeletion(
      call, "kms:DisableKey", key_id, [](KeyMetadata& m) { m.state = KeyState::kDisabled; },
      /*needs_material=*/true);
}

absl::Status KmsServiceImpl::UpdateKeyDescription(const CallContext& call,
                                                  const std::string& key_id,
                                                  const std::string& description) {
  return ChangeUnlessPendingDeletion(call, "kms:UpdateKeyDescription", key_id,
                                     [&](KeyMetadata& m) { m.description = description; });
}

absl::StatusOr<ScheduleDeletionResult> KmsServiceImpl::ScheduleKeyDeletion(
    const CallContext& call, const std::string& key_id, int pending_window_days) {
  if (pending_window_days < kMinPendingWindowDays || pending_window_days > kMaxPendingWindowDays) {
    return Validation(StrCat("PendingWindowInDays must be between ", kMinPendingWindowDays, " and ",
                             kMaxPendingWindowDays, " days"));
  }
  int64_t now = clock_->NowSeconds();
  auto entry = Mutate(
      call, "kms:ScheduleKeyDeletion", key_id, /*allow_alias=*/false,
      [&](KeyRecord& record, KeyChange& change) {
        if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
          return status;
        }
        record.metadata.pending_deletion_window_days = pending_window_days;
        // Issue 13: a multi-Region primary with replicas waits for them, its window not begun.
        auto waits = WaitsForReplicaDeletion(record.metadata, change);
        if (!waits.ok()) return waits.status();
        if (*waits) {
          record.metadata.state = KeyState::kPendingReplicaDeletion;
          record.metadata.deletion_date.reset();
          return absl::OkStatus();
        }
        record.metadata.state = KeyState::kPendingDeletion;
        record.metadata.deletion_date = now + pending_window_days * kSecondsPerDay;
        change.puts.emplace_back(records::DueRecordId(*record.metadata.deletion_date,
                                                      records::kDeleteTask, record.metadata.key_id),
                                 "");
        return absl::OkStatus();
      });
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  return ScheduleDeletionResult{KeyArn(m.key_id), m.deletion_date.value_or(0), pending_window_days,
                                m.state};
}

absl::StatusOr<std::string> KmsServiceImpl::CancelKeyDeletion(const CallContext& call,
                                                              const std::string& key_id) {
  auto entry = Mutate(call, "kms:CancelKeyDeletion", key_id, /*allow_alias=*/false,
                      [&](KeyRecord& record, KeyChange& change) {
                        KeyMetadata& m = record.metadata;
                        if (!IsPendingDeletion(m.state)) {
                          return Error(ErrorType::kKmsInvalidState,
                                       StrCat(KeyArn(m.key_id), " is not pending deletion."));
                        }
                        // PendingReplicaDeletion has no date yet, so nothing scheduled.
                        if (m.deletion_date) {
                          change.deletes.push_back(records::DueRecordId(
                              *m.deletion_date, records::kDeleteTask, m.key_id));
                        }
                        // A key whose imported material is gone waits for it again.
                        m.state = record.has_material ? KeyState::kDisabled
                                                      : KeyState::kPendingImport;
                        m.deletion_date.reset();
                        m.pending_deletion_window_days.reset();
                        return absl::OkStatus();
                      });
  if (!entry.ok()) return entry.status();
  return KeyArn((*entry)->record.metadata.key_id);
}

absl::Status KmsServiceImpl::TagResource(const CallContext& call, const std::string& key_id,
                                         const std::vector<Tag>& tags) {
  return Mutate(call, "kms:TagResource", key_id, /*allow_alias=*/false,
                [&](KeyRecord& record, KeyChange&) {
                  if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                    return status;
                  }
                  if (auto status = ValidateTags(tags); !status.ok()) return status;
                  for (const Tag& tag : tags) {
                    auto existing = std::find_if(record.tags.begin(), record.tags.end(),
                                                 [&](const Tag& t) { return t.key == tag.key; });
                    if (existing != record.tags.end()) {
                      existing->value = tag.value;
                    } else {
                      record.tags.push_back(tag);
                    }
                  }
                  return ValidateTags(record.tags);
                })
      .status();
}

absl::Status KmsServiceImpl::UntagResource(const CallContext& call, const std::string& key_id,
                                           const std::vector<std::string>& tag_keys) {
  return Mutate(call, "kms:UntagResource", key_id, /*allow_alias=*/false,
                [&](KeyRecord& record, KeyChange&) {
                  if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                    return status;
                  }
                  for (const std::string& tag_key : tag_keys) {
                    if (AsciiLower(tag_key).starts_with("aws:")) {
                      return Error(ErrorType::kTag,
                                   "Tag keys beginning with 'aws:' are reserved for AWS use");
                    }
                  }
                  std::erase_if(record.tags, [&](const Tag& tag) {
                    return std::find(tag_keys.begin(), tag_keys.end(), tag.key) != tag_keys.end();
                  });
                  return absl::OkStatus();
                })
      .status();
}

absl::StatusOr<TagList> KmsServiceImpl::ListResourceTags(const CallContext& call,
                                                         const std::string& key_id, size_t limit,
                                                         const std::string& marker) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListResourceTags"}); !status.ok()) {
    return status;
  }
  auto page = PageByPosition((*entry)->record.tags, limit, marker);
  if (!page.ok()) return page.status();
  TagList list;
  list.tags = std::move(page->first);
  list.next_marker = std::move(page->second);
  return list;
}

}  // namespace kmsd::service_internal
