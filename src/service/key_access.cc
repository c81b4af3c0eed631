// Who may use a key: key policies, grants and their tokens, and the authorization of each call
// (through service/authorization.h and the policy engine).
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::StatusOr<std::string> KmsServiceImpl::GetKeyPolicy(const CallContext& call,
                                                         const std::string& key_id,
                                                         const std::string& policy_name) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:GetKeyPolicy"}); !status.ok()) {
    return status;
  }
  if (auto status = RequireDefaultPolicyName(policy_name); !status.ok()) return status;
  const std::optional<std::string>& document = (*entry)->record.policy;
  return document ? *document : default_policy_document_;
}

absl::StatusOr<std::vector<std::string>> KmsServiceImpl::ListKeyPolicies(
    const CallContext& call, const std::string& key_id) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListKeyPolicies"}); !status.ok()) {
    return status;
  }
  return std::vector<std::string>{std::string(kDefaultKeyPolicyName)};
}

absl::Status KmsServiceImpl::PutKeyPolicy(const CallContext& call, const std::string& key_id,
                                          const std::string& policy_name,
                                          const std::string& document, bool bypass_lockout_check) {
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
    auto current = Resolve(key_id, /*allow_alias=*/false);
    if (!current.ok()) return current.status();
    auto add_bypass = [bypass_lockout_check](policy::RequestContext& context) {
      if (bypass_lockout_check) context.Set("kms:BypassPolicyLockoutSafetyCheck", "true");
    };
    if (auto status = AuthorizeKey(call, **current,
                                   {.action = "kms:PutKeyPolicy", .add_conditions = add_bypass});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireDefaultPolicyName(policy_name); !status.ok()) return status;
    auto compiled = CompileKeyPolicy(document);
    if (!compiled.ok()) return compiled.status();
    if (!bypass_lockout_check) {
      if (auto status = CheckLockout(call, **current, **compiled); !status.ok()) return status;
    }
    return MutateLocked(*current,
                        [&](KeyRecord& record, KeyChange& change) {
                          record.policy = document;
                          change.policy = *compiled;
                          return absl::OkStatus();
                        })
        .status();
  });
}

absl::StatusOr<CreateGrantResult> KmsServiceImpl::CreateGrant(const CallContext& call,
                                                              const CreateGrantRequest& request) {
  auto operations = grants::ValidateCreateGrant(request);
  if (!operations.ok()) return operations.status();

  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::StatusOr<CreateGrantResult> {
    auto current = Resolve(request.key_id, /*allow_alias=*/false);
    if (!current.ok()) return current.status();
    if (auto status = CheckGrantTokens(request.grant_tokens, {&*current}); !status.ok()) {
      return status;
    }
    // A grant that allows CreateGrant lets its grantee make only grants that allow a subset of
    // its operations, with constraints at least as strict.
    auto within_parent = [&](const grants::Grant& parent) {
      return (*operations & ~parent.operations) == 0 &&
             grants::AtLeastAsStrict(request.constraints, parent.record.constraints);
    };
    if (auto status = AuthorizeKey(call, **current,
                                   {.action = "kms:CreateGrant",
                                    .grant_operation = grants::kCreateGrant,
                                    .add_conditions =
                                        [&](policy::RequestContext& context) {
                                          authorization::AddGrantConditions(context, request);
                                        },
                                    .grant_admits = within_parent});
        !status.ok()) {
      return status;
    }
    const KeyEntry& entry = **current;
    if (auto status = RequireUsable(entry.record.metadata); !status.ok()) return status;
    if (auto status = grants::CheckOperationsForKey(request.operations, entry.record.metadata);
        !status.ok()) {
      return status;
    }

    // A retry of a named request finds the grant it made; AWS answers it with a new token.
    if (!request.name.empty()) {
      for (const auto& [grant_id, grant] : entry.grants->ById()) {
        if (SameGrant(grant->record, *operations, grant->operations, request)) {
          if (request.dry_run) return DryRunSucceeded();
          auto token = grants::MakeToken(grant->record);
          if (!token.ok()) return token.status();
          return CreateGrantResult{grant_id, std::move(*token)};
        }
      }
    }
    if (entry.grants->size() >= kMaxGrantsPerKey) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat(KeyArn(entry.record.metadata.key_id), " already has ", kMaxGrantsPerKey,
                          " grants, the most a KMS key can have"));
    }
    if (entry.grants->ForGrantee(request.grantee_principal).size() >= kMaxGrantsPerGranteePerKey) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat(KeyArn(entry.record.metadata.key_id), " already has ",
                          kMaxGrantsPerGranteePerKey, " grants for ", request.grantee_principal,
                          ", the most one principal can have on a KMS key"));
    }
    if (request.dry_run) return DryRunSucceeded();

    GrantRecord record;
    record.key_id = entry.record.metadata.key_id;
    auto grant_id = grants::NewGrantId();
    if (!grant_id.ok()) return grant_id.status();
    record.grant_id = std::move(*grant_id);
    auto secret = grants::NewTokenSecret();
    if (!secret.ok()) return secret.status();
    record.token_secret = std::move(*secret);
    record.name = request.name;
    record.creation_date = clock_->NowSeconds();
    record.grantee_principal = request.grantee_principal;
    record.retiring_principal = request.retiring_principal;
    for (const std::string& operation : request.operations) {
      if (std::find(record.operations.begin(), record.operations.end(), operation) ==
          record.operations.end()) {
        record.operations.push_back(operation);
      }
    }
    record.constraints = request.constraints;
    auto token = grants::MakeToken(record);
    if (!token.ok()) return token.status();

    // The key must still be as read (not disabled or scheduled for deletion meanwhile), and so
    // must its grants, which the quotas above counted: every CreateGrant rewrites the key record
    // (grants_created), so of two nodes racing past a quota one conflicts, reads the grants
    // again and is refused (issue 12).
    auto key_version = StoredKeyVersion(entry);
    if (!key_version.ok()) return key_version.status();
    KeyRecord counted = entry.record;
    ++counted.grants_created;
    std::string encoded_key = records::EncodeKeyRecord(counted);
    SecretBytes encoded = records::EncodeGrantRecord(record);
    KeystoreBatch batch;
    std::string record_id = records::GrantRecordId(record.key_id, record.grant_id);
    batch.puts.emplace_back(record_id, encoded.view());
    batch.puts.emplace_back(records::KeyRecordId(record.key_id), encoded_key);
    batch.expect.emplace_back(record_id, "");
    batch.expect.emplace_back(records::KeyRecordId(record.key_id), std::move(*key_version));
    uint64_t seen = InvalidationsOf(record.key_id);
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    CreateGrantResult result{record.grant_id, std::move(*token)};
    auto changed = std::make_shared<KeyEntry>(entry);
    changed->record = std::move(counted);
    changed->stored_record = std::move(encoded_key);
    changed->grants = entry.grants->With(grants::FromRecord(std::move(record)));
    PublishIfCurrent(std::move(changed), seen);
    return result;
  });
}

absl::StatusOr<GrantList> KmsServiceImpl::ListGrants(const CallContext& call,
                                                     const std::string& key_id,
                                                     const std::string& grant_id,
                                                     const std::string& grantee_principal,
                                                     size_t limit, const std::string& marker) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListGrants"}); !status.ok()) {
    return status;
  }
  if (!grant_id.empty() && !grants::IsGrantId(grant_id)) return InvalidGrantId(grant_id);
  if (!marker.empty() && !grants::IsGrantId(marker)) {
    return Error(ErrorType::kInvalidMarker, "Invalid marker");
  }
  limit = std::min(limit, kMaxGrantsPerPage);
  const auto& by_id = (*entry)->grants->ById();
  GrantList list;
  for (auto it = marker.empty() ? by_id.begin() : by_id.upper_bound(marker); it != by_id.end();
       ++it) {
    const GrantRecord& grant = it->second->record;
    if (!grant_id.empty() && grant.grant_id != grant_id) continue;
    if (!grantee_principal.empty() && grant.grantee_principal != grantee_principal) continue;
    if (list.grants.size() == limit) {
      list.next_marker = list.grants.back().grant_id;
      break;
    }
    list.grants.push_back(ToEntry(grant));
  }
  return list;
}

absl::StatusOr<GrantList> KmsServiceImpl::ListRetirableGrants(const CallContext& call,
                                                              const std::string& retiring_principal,
                                                              size_t limit,
                                                              const std::string& marker) {
  // AWS: "The authorized resource in ListRetirableGrants calls is the retiring principal".
  if (auto status = AuthorizeAccountAction(call, "kms:ListRetirableGrants", retiring_principal);
      !status.ok()) {
    return status;
  }
  if (!marker.empty() && !std::string_view(marker).starts_with(records::kGrantPrefix)) {
    return Error(ErrorType::kInvalidMarker, "Invalid marker");
  }
  limit = std::min(limit, kMaxGrantsPerPage);
  GrantList list;
  std::string start_after = marker;
  std::string last_listed;  // the record id of the last grant in the page: the next marker
  while (true) {
    auto listed = keystore_->List(records::kGrantPrefix, start_after, kRetirableGrantsPerRead);
    if (!listed.ok()) return listed.status();
    for (const KeystoreRecord& stored : *listed) {
      auto record = records::DecodeGrantRecord(stored.value.view());
      if (!record.ok()) return record.status();
      if (record->retiring_principal != retiring_principal) continue;
      if (list.grants.size() == limit) {
        list.next_marker = last_listed;
        return list;
      }
      list.grants.push_back(ToEntry(*record));
      last_listed = stored.id;
    }
    if (listed->size() < kRetirableGrantsPerRead) return list;
    start_after = listed->back().id;
  }
}

absl::StatusOr<std::string> KmsServiceImpl::RetireGrant(const CallContext& call,
                                                        const RetireGrantRequest& request) {
  std::lock_guard write_lock(write_mutex_);
  std::string key_arn;
  absl::Status retired = RetryConflicts([&]() -> absl::Status {
    EntryPtr entry;
    const grants::Grant* grant = nullptr;
    if (!request.grant_token.empty()) {
      auto found = GrantOfToken(request.grant_token);
      if (!found.ok()) return found.status();
      std::tie(entry, grant) = *found;
    } else {
      if (request.key_id.empty() || request.grant_id.empty()) {
        return Validation("Specify either GrantToken, or both KeyId and GrantId");
      }
      auto current = Resolve(request.key_id, /*allow_alias=*/false);
      if (!current.ok()) return current.status();
      entry = *current;
      auto found = FindGrant(*entry, request.grant_id);
      if (!found.ok()) return found.status();
      grant = *found;
    }
    if (auto status = AuthorizeRetire(call, *entry, grant->record); !status.ok()) return status;
    if (request.dry_run) return DryRunSucceeded();
    key_arn = KeyArn(entry->record.metadata.key_id);
    return RemoveGrant(entry, grant->record.grant_id);
  });
  if (!retired.ok()) return retired;
  return key_arn;
}

absl::Status KmsServiceImpl::RevokeGrant(const CallContext& call, const std::string& key_id,
                                         const std::string& grant_id, bool dry_run) {
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:RevokeGrant"}); !status.ok()) {
      return status;
    }
    auto grant = FindGrant(**entry, grant_id);
    if (!grant.ok()) return grant.status();
    if (dry_run) return DryRunSucceeded();
    return RemoveGrant(*entry, grant_id);
  });
}

policy::RequestContext KmsServiceImpl::KeyContext(const CallContext& call, std::string_view action,
                                                  const KeyEntry& entry) const {
  const KeyMetadata& key = entry.record.metadata;
  auto context = authorization::NewContext(call, action, KeyArn(key.key_id), clock_->NowSeconds());
  authorization::AddKeyProperties(context, key);
  for (const std::string& alias : entry.aliases) context.Add("kms:ResourceAliases", alias);
  return context;
}

absl::Status KmsServiceImpl::AuthorizeKey(const CallContext& call, const KeyEntry& entry,
                                          const KeyRequest& request) const {
  auto context = KeyContext(call, request.action, entry);
  if (!request.request_alias.empty()) {
    context.Set("kms:RequestAlias", std::string(request.request_alias));
  }
  if (request.encryption_context) {
    context.Set("kms:EncryptionAlgorithm", request.encryption_algorithm.empty()
                                               ? std::string("SYMMETRIC_DEFAULT")
                                               : std::string(request.encryption_algorithm));
    authorization::AddEncryptionContext(context, *request.encryption_context);
  }
  if (request.add_conditions) request.add_conditions(context);
  if (request.grant_operation == 0) {
    return authorization::Decide(context, entry.policy.get());
  }
  struct GrantQuestion {
    const KeyEntry* entry;
    const Principal* caller;
    const KeyRequest* request;
  } question{&entry, call.principal.get(), &request};
  return authorization::Decide(context, entry.policy.get(), [q = &question] {
    return GrantAllows(*q->entry, q->caller, *q->request);
  });
}

bool KmsServiceImpl::GrantAllows(const KeyEntry& entry, const Principal* caller,
                                 const KeyRequest& request) {
  if (!caller) return false;
  auto any_admits = [&](std::span<const grants::GrantPtr> candidates) {
    for (const grants::GrantPtr& grant : candidates) {
      if ((grant->operations & request.grant_operation) == 0) continue;
      if (request.grant_admits) {
        if (request.grant_admits(*grant)) return true;
      } else if (!request.encryption_context ||
                 (request.grant_operation & grants::kContextOperations) == 0 ||
                 grants::ConstraintsAdmit(grant->record.constraints, *request.encryption_context)) {
        return true;
      }
    }
    return false;
  };
  if (any_admits(entry.grants->ForGrantee(caller->arn))) return true;
  return caller->kind == PrincipalType::kAssumedRole && !caller->role_arn.empty() &&
         any_admits(entry.grants->ForGrantee(caller->role_arn));
}

absl::Status KmsServiceImpl::AuthorizeAccountAction(const CallContext& call,
                                                    std::string_view action,
                                                    std::string resource) const {
  auto context = authorization::NewContext(call, action, std::move(resource), clock_->NowSeconds());
  return authorization::Decide(context, nullptr);
}

absl::Status KmsServiceImpl::AuthorizeAliasAction(const CallContext& call, std::string_view action,
                                                  const std::string& alias_name,
                                                  std::initializer_list<EntryPtr> keys) const {
  if (auto status = AuthorizeAccountAction(call, action, AliasArn(alias_name)); !status.ok()) {
    return status;
  }
  for (const EntryPtr& key : keys) {
    if (auto status = AuthorizeKey(call, *key, {.action = action}); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::AuthorizeRetire(const CallContext& call, const KeyEntry& entry,
                                             const GrantRecord& grant) const {
  auto context = KeyContext(call, "kms:RetireGrant", entry);
  if (call.principal && !authorization::IdentityPolicyDenies(context)) {
    const Principal& caller = *call.principal;
    const grants::Grant* found = entry.grants->Find(grant.grant_id);
    bool grantee_may = found && (found->operations & grants::kRetireGrant) != 0 &&
                       authorization::NamesCaller(grant.grantee_principal, caller);
    if (grantee_may || authorization::NamesCaller(grant.retiring_principal, caller)) {
      return absl::OkStatus();
    }
  }
  return authorization::Decide(context, nullptr);
}

absl::StatusOr<policy::PolicyPtr> KmsServiceImpl::CompileKeyPolicy(
    const std::string& document) const {
  // AWS: "If the key policy exceeds the length constraint, KMS returns a
  // LimitExceededException."
  if (document.size() > policy::kMaxKeyPolicyBytes) {
    return Error(ErrorType::kLimitExceeded,
                 StrCat("The key policy is ", document.size(), " bytes; the limit is ",
                        policy::kMaxKeyPolicyBytes, " bytes"));
  }
  auto compiled = policy::Parse(document, policy::PolicyKind::kResource);
  if (!compiled.ok() || !options_.principal_exists) return compiled;
  std::string users = StrCat("arn:aws:iam::", options_.account_id, ":user/");
  std::string roles = StrCat("arn:aws:iam::", options_.account_id, ":role/");
  for (const std::string& arn : (*compiled)->PrincipalArns()) {
    bool checkable = arn.starts_with(users) || arn.starts_with(roles);
    if (checkable && !options_.principal_exists(arn)) {
      return Error(ErrorType::kMalformedPolicyDocument,
                   "Policy contains a statement with one or more invalid principals.");
    }
  }
  return compiled;
}

absl::Status KmsServiceImpl::CheckLockout(const CallContext& call, const KeyEntry& entry,
                                          const policy::Policy& new_policy) const {
  auto context = KeyContext(call, "kms:PutKeyPolicy", entry);
  if (authorization::Decide(context, &new_policy).ok()) return absl::OkStatus();
  return Error(ErrorType::kMalformedPolicyDocument,
               "The new key policy will not allow you to update the key policy in the future.");
}

absl::Status KmsServiceImpl::RequireDefaultPolicyName(const std::string& policy_name) {
  if (policy_name.empty() || policy_name == kDefaultKeyPolicyName) return absl::OkStatus();
  return NotFound(
      StrCat("No key policy named '", policy_name, "': the only key policy name is \"default\""));
}

absl::Status KmsServiceImpl::CheckGrantTokens(const GrantTokens& tokens,
                                              std::initializer_list<EntryPtr*> refresh) {
  for (const std::string& token : tokens) {
    auto grant = GrantOfToken(token);
    if (!grant.ok()) return grant.status();
  }
  // On a shared store a token may name a grant made on another node a moment ago, which
  // GrantOfToken has just read into the cache: the caller's entries are taken again from it.
  if (shared_ && !tokens.empty()) {
    for (EntryPtr* entry : refresh) {
      auto fresh = Load((*entry)->record.metadata.key_id);
      if (!fresh.ok()) return fresh.status();
      *entry = std::move(*fresh);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<EntryPtr, const grants::Grant*>> KmsServiceImpl::GrantOfToken(
    const std::string& token) {
  auto claim = grants::ParseToken(token);
  if (!claim) return InvalidGrantToken();
  auto entry = Load(claim->key_id);
  if (!entry.ok()) {
    return TypeOf(entry.status()) == ErrorType::kNotFound ? InvalidGrantToken() : entry.status();
  }
  const grants::Grant* grant = (*entry)->grants->Find(claim->grant_id);
  if (!grant && shared_) {
    // AWS: a grant token makes a new grant usable at once. Made on another node, it may not
    // have reached this node's cache yet: read the key again, once.
    Forget(claim->key_id);
    entry = Load(claim->key_id);
    if (!entry.ok()) {
      return TypeOf(entry.status()) == ErrorType::kNotFound ? InvalidGrantToken() : entry.status();
    }
    grant = (*entry)->grants->Find(claim->grant_id);
  }
  if (!grant || !grants::TokenMatches(*claim, grant->record)) return InvalidGrantToken();
  return std::make_pair(*entry, grant);
}

absl::StatusOr<const grants::Grant*> KmsServiceImpl::FindGrant(const KeyEntry& entry,
                                                               const std::string& grant_id) const {
  if (!grants::IsGrantId(grant_id)) return InvalidGrantId(grant_id);
  const grants::Grant* grant = entry.grants->Find(grant_id);
  if (!grant) {
    return NotFound(
        StrCat("Grant ", grant_id, " does not exist on ", KeyArn(entry.record.metadata.key_id)));
  }
  return grant;
}

absl::Status KmsServiceImpl::InvalidGrantId(const std::string& grant_id) {
  return Error(ErrorType::kInvalidGrantId, StrCat("Invalid grant ID '", grant_id, "'"));
}

absl::Status KmsServiceImpl::RemoveGrant(const EntryPtr& entry, const std::string& grant_id) {
  const std::string& key_id = entry->record.metadata.key_id;
  std::string record_id = records::GrantRecordId(key_id, grant_id);
  KeystoreBatch batch;
  batch.deletes.push_back(record_id);
  if (shared_) {
    // Retired or revoked on another node since this one cached it: read the key again.
    auto stored = keystore_->GetVersioned(record_id);
    if (!stored.ok()) return stored.status();
    if (!stored->value) {
      Forget(key_id);
      return StorageConflict(record_id);
    }
    batch.expect.emplace_back(record_id, std::move(stored->version));
  }
  uint64_t seen = InvalidationsOf(key_id);
  if (auto status = keystore_->Commit(batch); !status.ok()) {
    if (IsStorageConflict(status)) Forget(key_id);
    return status;
  }
  auto changed = std::make_shared<KeyEntry>(*entry);
  changed->grants = entry->grants->Without(grant_id);
  PublishIfCurrent(std::move(changed), seen);
  return absl::OkStatus();
}

bool KmsServiceImpl::SameGrant(const GrantRecord& grant, grants::OperationSet requested_operations,
                               grants::OperationSet grant_operations,
                               const CreateGrantRequest& request) {
  return grant.name == request.name && grant.grantee_principal == request.grantee_principal &&
         grant.retiring_principal == request.retiring_principal &&
         grant_operations == requested_operations &&
         grants::SameConstraints(grant.constraints, request.constraints);
}

GrantEntry KmsServiceImpl::ToEntry(const GrantRecord& grant) const {
  return GrantEntry{KeyArn(grant.key_id),
                    grant.grant_id,
                    grant.name,
                    grant.creation_date,
                    grant.grantee_principal,
                    grant.retiring_principal,
                    StrCat("arn:aws:iam::", options_.account_id, ":root"),
                    grant.operations,
                    grant.constraints};
}

}  // namespace kmsd::service_internal
