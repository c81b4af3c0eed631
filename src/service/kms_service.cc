// The KMS service: key entries (load, cache, publish), key references, and the factory. The
// operations live beside it (service/service_impl.h lists the files).
#include "service/service_impl.h"

namespace kmsd {

std::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
    case KeyState::kPendingImport:
      return "PendingImport";
    case KeyState::kPendingReplicaDeletion:
      return "PendingReplicaDeletion";
  }
  return "Unavailable";
}

std::string_view RotationTypeName(RotationType type) {
  return type == RotationType::kOnDemand ? "ON_DEMAND" : "AUTOMATIC";
}

namespace service_internal {

absl::Status InvalidGrantToken() {
  return Error(ErrorType::kInvalidGrantToken, "The grant token is not valid");
}

absl::Status DryRunSucceeded() {
  return Error(ErrorType::kDryRunOperation,
               "The request would have succeeded, but the DryRun option is set.");
}

absl::Status ValidateTags(const std::vector<Tag>& tags) {
  if (tags.size() > kMaxTags) {
    return Error(ErrorType::kTag, "Too many tags");
  }
  std::vector<std::string_view> keys;
  for (const Tag& tag : tags) {
    if (tag.key.empty() || tag.key.size() > 128) {
      return Error(ErrorType::kTag, "Tag keys must be 1 to 128 characters long");
    }
    if (tag.value.size() > 256) {
      return Error(ErrorType::kTag, "Tag values must be at most 256 characters long");
    }
    if (AsciiLower(tag.key).starts_with("aws:")) {
      return Error(ErrorType::kTag, "Tags beginning with aws: are reserved");
    }
    keys.push_back(tag.key);
  }
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
    return Error(ErrorType::kTag, "Duplicate tag keys");
  }
  return absl::OkStatus();
}

std::string KmsServiceImpl::KeyArn(std::string_view key_id) const {
  return StrCat(arn_prefix_, "key/", key_id);
}

std::string KmsServiceImpl::AliasArn(std::string_view alias_name) const {
  return StrCat(arn_prefix_, alias_name);
}

KeyMetadata KmsServiceImpl::Describe(const KeyEntry& entry) const {
  KeyMetadata m = entry.record.metadata;
  m.arn = KeyArn(m.key_id);
  m.account_id = options_.account_id;
  // Issue 13: generated symmetric material has a KeyMaterialId too (imported material's is stored).
  if (m.origin != "EXTERNAL") m.key_material_id = MaterialIdOfVersion(entry, entry.record.current_version);
  return m;
}

absl::Status KmsServiceImpl::UndecryptableBlob() {
  return Error(ErrorType::kInvalidCiphertext,
               "The ciphertext is invalid, was modified, or was made under a key that no "
               "longer exists.");
}

absl::Status KmsServiceImpl::RequireNotPendingDeletion(const KeyMetadata& m) const {
  if (m.state == KeyState::kPendingDeletion) {
    return Error(ErrorType::kKmsInvalidState, StrCat(KeyArn(m.key_id), " is pending deletion."));
  }
  if (m.state == KeyState::kPendingReplicaDeletion) {
    // AWS's key state table: "<key ARN> is pending deletion (or pending replica deletion)."
    return Error(ErrorType::kKmsInvalidState,
                 StrCat(KeyArn(m.key_id), " is pending replica deletion."));
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::RequireUsable(const KeyMetadata& m) const {
  if (m.state == KeyState::kDisabled) {
    return Error(ErrorType::kDisabled, StrCat(KeyArn(m.key_id), " is disabled."));
  }
  if (m.state == KeyState::kPendingImport) {
    return Error(ErrorType::kKmsInvalidState, StrCat(KeyArn(m.key_id), " is pending import."));
  }
  return RequireNotPendingDeletion(m);
}

absl::StatusOr<KeyReference> KmsServiceImpl::ParseReference(const std::string& ref) const {
  std::string_view rest = ref;
  if (std::string_view(ref).starts_with("arn:")) {
    if (!std::string_view(ref).starts_with(arn_prefix_)) {
      // A well-formed ARN of another region or account names a key that is not here. AWS names
      // the region when the ARN is of this account in another region.
      constexpr std::string_view kKmsArn = "arn:aws:kms:";
      if (std::string_view(ref).starts_with(kKmsArn)) {
        std::string_view fields = std::string_view(ref).substr(kKmsArn.size());
        std::string_view region = fields.substr(0, fields.find(':'));
        std::string account = StrCat(":", options_.account_id, ":");
        if (region != Region() && fields.substr(region.size()).starts_with(account)) {
          return NotFound(StrCat("Invalid arn ", region));
        }
        return NotFound(StrCat("Key '", ref, "' does not exist"));
      }
      return Error(ErrorType::kInvalidArn, StrCat("Invalid ARN: '", ref, "'"));
    }
    rest.remove_prefix(arn_prefix_.size());
    if (std::string_view(rest).starts_with("key/")) {
      rest.remove_prefix(4);
      if (!IsKeyId(rest)) return NotFound(StrCat("Invalid keyId '", ref, "'"));
      return KeyReference{KeyReference::kKeyId, AsciiLower(rest)};
    }
    if (std::string_view(rest).starts_with(records::kAliasPrefix)) {
      return KeyReference{KeyReference::kAliasName, std::string(rest)};
    }
    return Error(ErrorType::kInvalidArn, StrCat("Invalid ARN: '", ref, "'"));
  }
  if (std::string_view(ref).starts_with(records::kAliasPrefix)) {
    return KeyReference{KeyReference::kAliasName, ref};
  }
  if (!IsKeyId(ref)) return NotFound(StrCat("Invalid keyId '", ref, "'"));
  return KeyReference{KeyReference::kKeyId, AsciiLower(ref)};
}

absl::StatusOr<EntryPtr> KmsServiceImpl::Resolve(const std::string& ref, bool allow_alias,
                                                 std::string* request_alias) {
  auto parsed = ParseReference(ref);
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind == KeyReference::kAliasName) {
    if (!allow_alias) {
      return NotFound(StrCat("Invalid keyId '", ref, "'"));
    }
    auto target = AliasTarget(parsed->value);
    if (!target.ok()) return target.status();
    if (request_alias) *request_alias = parsed->value;
    return Load(*target);
  }
  return Load(parsed->value);
}

absl::StatusOr<EntryPtr> KmsServiceImpl::ResolveForCrypto(const CallContext& call,
                                                          const std::string& ref,
                                                          const GrantTokens& grant_tokens,
                                                          KeyRequest request) {
  std::string request_alias;
  auto entry = Resolve(ref, /*allow_alias=*/true, &request_alias);
  if (!entry.ok()) return entry.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&*entry}); !status.ok()) return status;
  request.request_alias = request_alias;
  if (auto status = AuthorizeKey(call, **entry, request); !status.ok()) return status;
  if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
  return entry;
}

absl::StatusOr<EntryPtr> KmsServiceImpl::BlobKey(const BlobHeader& header,
                                                 const std::string& key_ref,
                                                 std::string* request_alias) {
  if (!key_ref.empty()) {
    auto named = Resolve(key_ref, /*allow_alias=*/true, request_alias);
    if (!named.ok()) return named.status();
    if ((*named)->record.metadata.key_id != header.key_id) {
      return Error(ErrorType::kIncorrectKey,
                   "The key ID in the request does not identify a CMK that can perform this "
                   "operation.");
    }
  }
  auto entry = Load(header.key_id);
  if (entry.ok() && shared_ && !(*entry)->versions.contains(header.backing_key_version)) {
    // Another node may have rotated the key since this one cached it: read it again, once.
    Forget(header.key_id);
    entry = Load(header.key_id);
  }
  if (!entry.ok() && TypeOf(entry.status()) == ErrorType::kNotFound) return UndecryptableBlob();
  return entry;
}

absl::StatusOr<SecretBytes> KmsServiceImpl::OpenUnder(const KeyEntry& entry,
                                                      const BlobHeader& header,
                                                      const std::string& blob,
                                                      const EncryptionContext& context) {
  auto version = entry.versions.find(header.backing_key_version);
  if (version == entry.versions.end()) return UndecryptableBlob();
  // Material pending rotation is used for nothing until it is current (issue 13).
  if (entry.record.IsPendingVersion(header.backing_key_version)) return UndecryptableBlob();
  return OpenBlob(blob, *version->second, context);
}

absl::StatusOr<KeyStateCounts> KmsServiceImpl::CountKeysByState() {
  auto listed = keystore_->List(records::kKeyPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  KeyStateCounts counts;
  for (const KeystoreRecord& stored : *listed) {
    auto record = records::DecodeKeyRecord(stored.value.view());
    if (!record.ok()) return record.status();
    switch (record->metadata.state) {
      case KeyState::kEnabled:
        ++counts.enabled;
        break;
      case KeyState::kDisabled:
        ++counts.disabled;
        break;
      case KeyState::kPendingDeletion:
        ++counts.pending_deletion;
        break;
      case KeyState::kPendingImport:
        ++counts.pending_import;
        break;
      case KeyState::kPendingReplicaDeletion:
        ++counts.pending_replica_deletion;
        break;
    }
  }
  return counts;
}

KeyCacheStats KmsServiceImpl::CacheStats() {
  KeyCacheStats stats;
  stats.hits = cache_hits_.load(std::memory_order_relaxed);
  stats.misses = cache_misses_.load(std::memory_order_relaxed);
  std::shared_lock cache_lock(cache_mutex_);
  stats.entries = key_cache_.size();
  return stats;
}

absl::StatusOr<EntryPtr> KmsServiceImpl::Load(const std::string& key_id) {
  // A shared store's watch reported alias changes: read them before answering from the cache,
  // whose entries list their keys' aliases (an atomic load when nothing changed).
  if (aliases_changed_.load(std::memory_order_acquire)) {
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  }
  bool stale = stale_.load(std::memory_order_acquire);
  uint64_t seen = 0;
  {
    std::shared_lock cache_lock(cache_mutex_);
    if (!stale) {
      auto it = key_cache_.find(key_id);
      if (it != key_cache_.end()) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
    seen = invalidations_[StripeOf(key_id)];
  }
  cache_misses_.fetch_add(1, std::memory_order_relaxed);
  if (auto status = EnsureAliasIndex(); !status.ok()) return status;
  // Shared with DestroyKey's exclusive hold, so a load that read the keystore just before a
  // key was destroyed cannot put the destroyed key back into the cache.
  std::shared_lock destroy_lock(destroy_mutex_);
  auto entry = LoadFromKeystore(key_id);
  if (!entry.ok()) return entry.status();
  std::unique_lock cache_lock(cache_mutex_);
  // While stale, or when the watch dropped this key's stripe since the read began (the read may
  // predate that change), the entry serves this call only.
  if (stale_.load(std::memory_order_acquire) || invalidations_[StripeOf(key_id)] != seen) {
    return entry;
  }
  // Another thread may have loaded or changed it meanwhile; keep the published one.
  auto [it, inserted] = key_cache_.emplace(key_id, *entry);
  return it->second;
}

absl::StatusOr<EntryPtr> KmsServiceImpl::LoadFromKeystore(const std::string& key_id) {
  auto stored = keystore_->Get(records::KeyRecordId(key_id));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return NotFound(StrCat("Key '", KeyArn(key_id), "' does not exist"));
  }
  auto record = records::DecodeKeyRecord((*stored)->view());
  if (!record.ok()) return record.status();
  // Issue 12: its deletion is under way (DestroyKey); part of its material may be gone already.
  if (record->destroying) return NotFound(StrCat("Key '", KeyArn(key_id), "' does not exist"));
  auto entry = std::make_shared<KeyEntry>();
  entry->record = std::move(*record);
  entry->stored_record = std::string((*stored)->view());
  auto materials = keystore_->List(records::MaterialPrefix(key_id), "", 0);
  if (!materials.ok()) return materials.status();
  for (KeystoreRecord& material : *materials) {
    uint32_t version = records::MaterialVersion(material.id);
    if (version == 0) return Internal("stored key material is malformed");
    entry->versions[version] = std::make_shared<const SecretBytes>(std::move(material.value));
  }
  // A key of Origin EXTERNAL may have no material (issue 13).
  if (entry->record.has_material && !entry->versions.contains(entry->record.current_version)) {
    return Internal("stored key is missing its current key material");
  }
  if (auto status = AttachMaterial(*entry); !status.ok()) return status;
  if (entry->record.policy) {
    // A stored policy that no longer compiles leaves the key unusable rather than open.
    auto compiled = policy::Parse(*entry->record.policy, policy::PolicyKind::kResource);
    if (!compiled.ok()) return Internal("the stored key policy does not compile");
    entry->policy = std::move(*compiled);
  } else {
    if (!default_policy_.ok()) return default_policy_.status();
    entry->policy = *default_policy_;
  }
  entry->aliases = AliasesOf(key_id);
  auto stored_grants = keystore_->List(records::GrantPrefix(key_id), "", 0);
  if (!stored_grants.ok()) return stored_grants.status();
  std::vector<grants::GrantPtr> key_grants;
  key_grants.reserve(stored_grants->size());
  for (const KeystoreRecord& stored_grant : *stored_grants) {
    auto grant = records::DecodeGrantRecord(stored_grant.value.view());
    if (!grant.ok()) return grant.status();
    key_grants.push_back(grants::FromRecord(std::move(*grant)));
  }
  entry->grants = grants::GrantTable::From(std::move(key_grants));
  return EntryPtr(std::move(entry));
}

void KmsServiceImpl::Publish(EntryPtr entry) {
  std::unique_lock cache_lock(cache_mutex_);
  key_cache_[entry->record.metadata.key_id] = std::move(entry);
}

absl::StatusOr<std::string> KmsServiceImpl::SealUnder(const KeyEntry& entry,
                                                      const EncryptionContext& context,
                                                      std::string_view plaintext) const {
  uint32_t version = entry.record.current_version;
  return SealBlob(BlobHeader{entry.record.metadata.key_id, version}, *entry.versions.at(version),
                  context, plaintext);
}

}  // namespace service_internal

std::unique_ptr<KmsService> NewKmsService(ServiceOptions options, Keystore* keystore,
                                          std::unique_ptr<Clock> clock) {
  return std::make_unique<service_internal::KmsServiceImpl>(std::move(options), keystore,
                                                            std::move(clock));
}

}  // namespace kmsd
