// Aliases: their operations, names, records and the in-memory index of alias -> key.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::Status KmsServiceImpl::CreateAlias(const CallContext& call, const std::string& alias_name,
                                         const std::string& target_key_id) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  auto target = Resolve(target_key_id, /*allow_alias=*/false);
  if (!target.ok()) return target.status();
  if (auto status = AuthorizeAliasAction(call, "kms:CreateAlias", alias_name, {*target});
      !status.ok()) {
    return status;
  }
  if (auto status = RequireNotPendingDeletion((*target)->record.metadata); !status.ok()) {
    return status;
  }
  auto existing = keystore_->Get(records::AliasRecordId(alias_name));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return Error(ErrorType::kAlreadyExists,
                 StrCat("An alias with the name ", AliasArn(alias_name), " already exists"));
  }
  int64_t now = clock_->NowSeconds();
  AliasRecord record{(*target)->record.metadata.key_id, now, now};
  if (auto status =
          keystore_->Put(records::AliasRecordId(alias_name), records::EncodeAliasRecord(record));
      !status.ok()) {
    return status;
  }
  IndexAlias(alias_name, record.target_key_id);
  RepublishAliases(*target);
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::UpdateAlias(const CallContext& call, const std::string& alias_name,
                                         const std::string& target_key_id) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  auto record = LoadAlias(alias_name);
  if (!record.ok()) return record.status();
  auto target = Resolve(target_key_id, /*allow_alias=*/false);
  if (!target.ok()) return target.status();
  auto old_target = Load(record->target_key_id);
  if (!old_target.ok()) return old_target.status();
  if (auto status =
          AuthorizeAliasAction(call, "kms:UpdateAlias", alias_name, {*old_target, *target});
      !status.ok()) {
    return status;
  }
  if (auto status = RequireNotPendingDeletion((*target)->record.metadata); !status.ok()) {
    return status;
  }
  record->target_key_id = (*target)->record.metadata.key_id;
  record->last_updated_date = clock_->NowSeconds();
  if (auto status =
          keystore_->Put(records::AliasRecordId(alias_name), records::EncodeAliasRecord(*record));
      !status.ok()) {
    return status;
  }
  IndexAlias(alias_name, record->target_key_id);
  RepublishAliases(*old_target);
  RepublishAliases(*target);
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::DeleteAlias(const CallContext& call, const std::string& alias_name) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  auto record = LoadAlias(alias_name);
  if (!record.ok()) return record.status();
  auto target = Load(record->target_key_id);
  if (!target.ok()) return target.status();
  if (auto status = AuthorizeAliasAction(call, "kms:DeleteAlias", alias_name, {*target});
      !status.ok()) {
    return status;
  }
  if (auto status = keystore_->Delete(records::AliasRecordId(alias_name)); !status.ok()) {
    return status;
  }
  UnindexAlias(alias_name);
  RepublishAliases(*target);
  return absl::OkStatus();
}

absl::StatusOr<AliasList> KmsServiceImpl::ListAliases(const CallContext& call,
                                                      const std::string& key_id, size_t limit,
                                                      const std::string& marker) {
  if (auto status = AuthorizeAccountAction(call, "kms:ListAliases", "*"); !status.ok()) {
    return status;
  }
  std::string filter_key_id;
  if (!key_id.empty()) {
    // AWS accepts only a key id or key ARN here.
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    filter_key_id = (*entry)->record.metadata.key_id;
  }
  if (!marker.empty() && !std::string_view(marker).starts_with(records::kAliasPrefix)) {
    return Error(ErrorType::kInvalidMarker, "Invalid marker");
  }
  AliasList result;
  std::string start_after = marker;
  // Filtering by key reads pages until the page is full or the aliases run out.
  while (true) {
    auto listed = keystore_->List(records::kAliasPrefix, start_after, limit + 1);
    if (!listed.ok()) return listed.status();
    for (const KeystoreRecord& stored : *listed) {
      auto record = records::DecodeAliasRecord(stored.value.view());
      if (!record.ok()) return record.status();
      if (!filter_key_id.empty() && record->target_key_id != filter_key_id) continue;
      if (result.aliases.size() == limit) {
        result.next_marker = result.aliases.back().name;
        return result;
      }
      result.aliases.push_back({stored.id, AliasArn(stored.id), record->target_key_id,
                                record->creation_date, record->last_updated_date});
    }
    if (listed->size() < limit + 1) return result;
    start_after = listed->back().id;
  }
}

absl::Status KmsServiceImpl::ValidateAliasName(const std::string& alias_name) const {
  if (!std::string_view(alias_name).starts_with(records::kAliasPrefix)) {
    return Validation("Alias must start with the prefix \"alias/\".");
  }
  if (alias_name.size() == records::kAliasPrefix.size()) {
    return Error(ErrorType::kInvalidAliasName, "Alias name must not be empty after \"alias/\"");
  }
  if (std::string_view(alias_name).starts_with(kReservedAliasPrefix)) {
    return Error(ErrorType::kInvalidAliasName,
                 "Alias names beginning with \"alias/aws/\" are reserved for AWS managed keys");
  }
  return absl::OkStatus();
}

absl::StatusOr<AliasRecord> KmsServiceImpl::LoadAlias(const std::string& alias_name) {
  auto stored = keystore_->Get(records::AliasRecordId(alias_name));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
  }
  return records::DecodeAliasRecord((*stored)->view());
}

absl::StatusOr<std::string> KmsServiceImpl::AliasTarget(const std::string& alias_name) {
  if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  std::shared_lock cache_lock(cache_mutex_);
  auto it = alias_targets_.find(alias_name);
  if (it == alias_targets_.end()) {
    return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
  }
  return it->second;
}

absl::Status KmsServiceImpl::EnsureAliasIndex() {
  if (alias_index_loaded_.load(std::memory_order_acquire)) return absl::OkStatus();
  std::lock_guard index_lock(alias_index_mutex_);
  if (alias_index_loaded_.load(std::memory_order_relaxed)) return absl::OkStatus();
  auto listed = keystore_->List(records::kAliasPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  std::unordered_map<std::string, std::string> targets;
  std::unordered_map<std::string, std::vector<std::string>> by_key;
  for (const KeystoreRecord& stored : *listed) {
    auto record = records::DecodeAliasRecord(stored.value.view());
    if (!record.ok()) return record.status();
    targets[stored.id] = record->target_key_id;
    by_key[record->target_key_id].push_back(stored.id);  // listed in name order
  }
  {
    std::unique_lock cache_lock(cache_mutex_);
    alias_targets_ = std::move(targets);
    aliases_by_key_ = std::move(by_key);
  }
  alias_index_loaded_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

void KmsServiceImpl::IndexAlias(const std::string& alias_name, const std::string& key_id) {
  UnindexAlias(alias_name);
  std::unique_lock cache_lock(cache_mutex_);
  alias_targets_[alias_name] = key_id;
  std::vector<std::string>& names = aliases_by_key_[key_id];
  names.insert(std::upper_bound(names.begin(), names.end(), alias_name), alias_name);
}

void KmsServiceImpl::UnindexAlias(const std::string& alias_name) {
  std::unique_lock cache_lock(cache_mutex_);
  auto target = alias_targets_.find(alias_name);
  if (target == alias_targets_.end()) return;
  auto names = aliases_by_key_.find(target->second);
  if (names != aliases_by_key_.end()) {
    std::erase(names->second, alias_name);
    if (names->second.empty()) aliases_by_key_.erase(names);
  }
  alias_targets_.erase(target);
}

std::vector<std::string> KmsServiceImpl::AliasesOf(const std::string& key_id) {
  std::shared_lock cache_lock(cache_mutex_);
  auto names = aliases_by_key_.find(key_id);
  return names == aliases_by_key_.end() ? std::vector<std::string>() : names->second;
}

void KmsServiceImpl::RepublishAliases(const EntryPtr& entry) {
  auto changed = std::make_shared<KeyEntry>(*entry);
  changed->aliases = AliasesOf(entry->record.metadata.key_id);
  Publish(std::move(changed));
}

}  // namespace kmsd::service_internal
