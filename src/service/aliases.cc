// Aliases: their operations, names, records and the in-memory index of alias -> key.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::Status KmsServiceImpl::CreateAlias(const CallContext& call, const std::string& alias_name,
                                         const std::string& target_key_id) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  if (auto status = ValidateNewAliasCharacters(alias_name); !status.ok()) return status;
  if (auto status = RequireKeyTarget(target_key_id); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
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
    auto existing = keystore_->GetVersioned(records::AliasRecordId(alias_name));
    if (!existing.ok()) return existing.status();
    if (existing->value) {
      return Error(ErrorType::kAlreadyExists,
                   StrCat("An alias with the name ", AliasArn(alias_name), " already exists"));
    }
    auto key_version = StoredKeyVersion(**target);
    if (!key_version.ok()) return key_version.status();
    int64_t now = clock_->NowSeconds();
    AliasRecord record{(*target)->record.metadata.key_id, now, now};
    std::string encoded = records::EncodeAliasRecord(record);
    // Of two nodes creating the same name, the second finds it present and answers
    // AlreadyExists; the key must not have been scheduled for deletion meanwhile.
    KeystoreBatch batch;
    batch.puts.emplace_back(records::AliasRecordId(alias_name), encoded);
    batch.expect.emplace_back(records::AliasRecordId(alias_name), "");
    batch.expect.emplace_back(records::KeyRecordId(record.target_key_id), *key_version);
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    IndexAlias(alias_name, record.target_key_id);
    RepublishAliases(*target);
    return absl::OkStatus();
  });
}

absl::Status KmsServiceImpl::UpdateAlias(const CallContext& call, const std::string& alias_name,
                                         const std::string& target_key_id) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  if (auto status = RequireKeyTarget(target_key_id); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    std::string alias_version;
    auto record = LoadAlias(alias_name, &alias_version);
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
    auto key_version = StoredKeyVersion(**target);
    if (!key_version.ok()) return key_version.status();
    record->target_key_id = (*target)->record.metadata.key_id;
    record->last_updated_date = clock_->NowSeconds();
    std::string encoded = records::EncodeAliasRecord(*record);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::AliasRecordId(alias_name), encoded);
    batch.expect.emplace_back(records::AliasRecordId(alias_name), alias_version);
    batch.expect.emplace_back(records::KeyRecordId(record->target_key_id), *key_version);
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    IndexAlias(alias_name, record->target_key_id);
    RepublishAliases(*old_target);
    RepublishAliases(*target);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> KmsServiceImpl::DeleteAlias(const CallContext& call,
                                                        const std::string& alias_name) {
  if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  std::string target_arn;
  absl::Status deleted = RetryConflicts([&]() -> absl::Status {
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    std::string alias_version;
    auto record = LoadAlias(alias_name, &alias_version);
    if (!record.ok()) return record.status();
    auto target = Load(record->target_key_id);
    if (!target.ok()) return target.status();
    if (auto status = AuthorizeAliasAction(call, "kms:DeleteAlias", alias_name, {*target});
        !status.ok()) {
      return status;
    }
    KeystoreBatch batch;
    batch.deletes.push_back(records::AliasRecordId(alias_name));
    batch.expect.emplace_back(records::AliasRecordId(alias_name), alias_version);
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    UnindexAlias(alias_name);
    RepublishAliases(*target);
    target_arn = KeyArn((*target)->record.metadata.key_id);
    return absl::OkStatus();
  });
  if (!deleted.ok()) return deleted;
  return target_arn;
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
    return Validation(
        "Alias must start with the prefix \"alias/\". Please see "
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
  }
  if (alias_name.size() == records::kAliasPrefix.size()) {
    return Error(ErrorType::kInvalidAliasName, "Alias name must not be empty after \"alias/\"");
  }
  // AWS refuses every change to a reserved name as a matter of permission, not of naming.
  if (std::string_view(alias_name).starts_with(kReservedAliasPrefix)) {
    return Error(ErrorType::kNotAuthorized,
                 StrCat(alias_name,
                        ": alias names that begin with alias/aws/ are reserved for "
                        "AWS managed keys"));
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::ValidateNewAliasCharacters(const std::string& alias_name) {
  // The model's pattern admits ':' (alias ARNs use it), but CreateAlias's documentation allows
  // only letters, digits, '/', '_' and '-' in a name; AWS refuses the rest in these words.
  for (char c : alias_name) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '/' || c == '_' || c == '-';
    if (!allowed)
      return Validation(StrCat(alias_name, " contains invalid characters for an alias"));
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::RequireKeyTarget(const std::string& target_key_id) const {
  auto target = ParseReference(target_key_id);
  if (target.ok() && target->kind == KeyReference::kAliasName) {
    return Validation("Aliases must refer to keys. Not aliases");
  }
  return absl::OkStatus();
}

absl::StatusOr<AliasRecord> KmsServiceImpl::LoadAlias(const std::string& alias_name,
                                                      std::string* version) {
  auto stored = keystore_->GetVersioned(records::AliasRecordId(alias_name));
  if (!stored.ok()) return stored.status();
  if (!stored->value) {
    return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
  }
  if (version) *version = std::move(stored->version);
  return records::DecodeAliasRecord(stored->value->view());
}

absl::StatusOr<std::string> KmsServiceImpl::AliasTarget(const std::string& alias_name) {
  for (bool read_again = false;; read_again = true) {
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    {
      std::shared_lock cache_lock(cache_mutex_);
      auto it = alias_targets_.find(alias_name);
      if (it != alias_targets_.end()) return it->second;
    }
    if (read_again || !shared_ || stale_.load(std::memory_order_acquire)) break;
    // Created on another node a moment ago, maybe, and not reported yet: storage says.
    auto stored = keystore_->Get(records::AliasRecordId(alias_name));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) break;
    std::unique_lock cache_lock(cache_mutex_);
    changed_aliases_.insert(alias_name);
    aliases_changed_.store(true, std::memory_order_release);
  }
  return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
}

absl::Status KmsServiceImpl::EnsureAliasIndex() {
  bool stale = stale_.load(std::memory_order_acquire);
  if (!stale && alias_index_loaded_.load(std::memory_order_acquire) &&
      !aliases_changed_.load(std::memory_order_acquire)) {
    return absl::OkStatus();
  }
  std::lock_guard index_lock(alias_index_mutex_);
  if (stale || !alias_index_loaded_.load(std::memory_order_relaxed)) return LoadAliasIndex();
  // Read again the aliases the watch reported changed.
  std::set<std::string> changed;
  {
    std::unique_lock cache_lock(cache_mutex_);
    changed.swap(changed_aliases_);
    aliases_changed_.store(false, std::memory_order_release);
  }
  for (auto name = changed.begin(); name != changed.end(); ++name) {
    auto stored = keystore_->Get(*name);
    absl::StatusOr<AliasRecord> record = AliasRecord{};
    if (stored.ok() && stored->has_value()) record = records::DecodeAliasRecord((*stored)->view());
    if (!stored.ok() || !record.ok()) {
      // What was not read stays to read at the next call.
      std::unique_lock cache_lock(cache_mutex_);
      changed_aliases_.insert(name, changed.end());
      aliases_changed_.store(true, std::memory_order_release);
      return stored.ok() ? record.status() : stored.status();
    }
    // Both the old and the new target's entries list their aliases: drop them.
    std::unique_lock cache_lock(cache_mutex_);
    if (auto old = alias_targets_.find(*name); old != alias_targets_.end()) {
      ForgetLocked(old->second);
    }
    UnindexAliasLocked(*name);
    if (stored->has_value()) {
      IndexAliasLocked(*name, record->target_key_id);
      ForgetLocked(record->target_key_id);
    }
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::LoadAliasIndex() {
  bool stale = stale_.load(std::memory_order_acquire);
  {
    // The whole read covers what the watch reported so far; what it reports from now on stays.
    std::unique_lock cache_lock(cache_mutex_);
    changed_aliases_.clear();
    aliases_changed_.store(false, std::memory_order_release);
  }
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
  // Read while stale, it serves this call only: the next reads again.
  if (!stale) alias_index_loaded_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> KmsServiceImpl::StoredAliasesOf(
    const std::string& key_id) {
  auto listed = keystore_->List(records::kAliasPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  std::vector<std::pair<std::string, std::string>> aliases;
  for (const KeystoreRecord& stored : *listed) {
    auto record = records::DecodeAliasRecord(stored.value.view());
    if (!record.ok()) return record.status();
    if (record->target_key_id != key_id) continue;
    std::string version;
    auto current = LoadAlias(stored.id, &version);
    if (!current.ok()) {
      if (TypeOf(current.status()) == ErrorType::kNotFound) continue;  // deleted meanwhile
      return current.status();
    }
    if (current->target_key_id == key_id) aliases.emplace_back(stored.id, std::move(version));
  }
  return aliases;
}

void KmsServiceImpl::IndexAlias(const std::string& alias_name, const std::string& key_id) {
  std::unique_lock cache_lock(cache_mutex_);
  IndexAliasLocked(alias_name, key_id);
}

void KmsServiceImpl::IndexAliasLocked(const std::string& alias_name, const std::string& key_id) {
  UnindexAliasLocked(alias_name);
  alias_targets_[alias_name] = key_id;
  std::vector<std::string>& names = aliases_by_key_[key_id];
  names.insert(std::upper_bound(names.begin(), names.end(), alias_name), alias_name);
}

void KmsServiceImpl::UnindexAlias(const std::string& alias_name) {
  std::unique_lock cache_lock(cache_mutex_);
  UnindexAliasLocked(alias_name);
}

void KmsServiceImpl::UnindexAliasLocked(const std::string& alias_name) {
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
  if (shared_) {
    // Another node may have changed the key since entry was read: the next look-up reads it
    // (and its aliases, from the index as just changed).
    Forget(entry->record.metadata.key_id);
    return;
  }
  auto changed = std::make_shared<KeyEntry>(*entry);
  changed->aliases = AliasesOf(entry->record.metadata.key_id);
  Publish(std::move(changed));
}

}  // namespace kmsd::service_internal
