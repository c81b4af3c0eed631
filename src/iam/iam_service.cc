// The identity service: opening and loading, authorization of IAM actions, and the principals
// its credentials prove. See include/kmsd/iam.h and iam_service_impl.h.
#include <algorithm>

#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/records.h"
#include "iam/session_token.h"
#include "kmsd/crypto.h"
#include "kmsd/strings.h"

namespace kmsd {

std::string_view AccessKeyStatusName(AccessKeyStatus status) {
  return status == AccessKeyStatus::kActive ? "Active" : "Inactive";
}

bool IsIamName(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && c != '+' && c != '=' && c != ',' && c != '.' && c != '@' && c != '-') {
      return false;
    }
  }
  return true;
}

namespace iam {
namespace {

// The part of a policy record id after its prefix: "<entity>/<policy>".
bool SplitPolicyRecordId(std::string_view rest, std::string& entity_key) {
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return false;
  entity_key = std::string(rest.substr(0, slash));
  return true;
}

}  // namespace

absl::Status ValidateNewEntity(std::string_view name, std::string_view path,
                               const std::vector<Tag>& tags) {
  if (!IsIamName(name) || name.size() > 64) {
    return Validation(StrCat("The specified value for name is invalid: ", name));
  }
  bool path_printable =
      std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (path.empty() || path.front() != '/' || path.back() != '/' || path.size() > 512 ||
      !path_printable) {
    return Validation(
        "The specified value for path is invalid. It must begin and end with / "
        "and contain only alphanumeric characters and/or / characters.");
  }
  std::vector<std::string> keys;
  for (const Tag& tag : tags) {
    std::string key = AsciiLower(tag.key);
    if (key.starts_with("aws:")) {
      return Validation("Tag keys beginning with 'aws:' are reserved for AWS use.");
    }
    keys.push_back(std::move(key));
  }
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
    return Validation("Duplicate tag keys found. Please note that Tag keys are case insensitive.");
  }
  return absl::OkStatus();
}

size_t PolicyCharacters(std::string_view document) {
  size_t count = 0;
  for (char c : document) {
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    bool continuation = (static_cast<uint8_t>(c) & 0xC0) == 0x80;  // one character, not bytes
    if (!space && !continuation) ++count;
  }
  return count;
}

absl::StatusOr<policy::PolicyPtr> ParseTrustPolicy(std::string_view document) {
  auto trust = policy::Parse(document, policy::PolicyKind::kTrust, kMaxPolicyDocumentLength);
  if (!trust.ok()) return trust.status();
  if (PolicyCharacters(document) > kMaxTrustPolicyCharacters) {
    return Error(ErrorType::kLimitExceeded,
                 StrCat("Cannot exceed quota for ACLSizePerRole: ", kMaxTrustPolicyCharacters));
  }
  return trust;
}

std::string NotAuthorizedMessage(const Principal& caller, std::string_view action,
                                 std::string_view resource) {
  return StrCat("User: ", caller.arn, " is not authorized to perform: ", action,
                " on resource: ", resource);
}

IamServiceImpl::IamServiceImpl(IamOptions options, Keystore* keystore, std::unique_ptr<Clock> clock)
    : options_(std::move(options)), keystore_(keystore), clock_(std::move(clock)) {
  auto root = std::make_shared<Credential>();
  root->secret_access_key = options_.root_secret_access_key.Clone();
  root->principal = std::make_shared<const Principal>(
      RootPrincipal(options_.account_id, options_.root_access_key_id));
  root_credential_ = std::move(root);
}

absl::Status IamServiceImpl::Load() {
  Backend* backend = options_.backend;
  shared_ = backend && backend->Shared();
  // Watching first, so that nothing changed after the index is read goes unnoticed. A node that
  // cannot watch cannot tell whether its index is current: it reads credentials from storage.
  if (shared_ && !backend->Watch(records::kIamPrefix, &watcher_).ok()) stale_.store(true);

  auto account = CreateOnce(records::kAccountRecord, records::EncodeAccount(clock_->NowSeconds()));
  if (!account.ok()) return account.status();
  auto created = records::DecodeAccount(account->view());
  if (!created.ok()) return created.status();
  account_create_date_ = *created;

  // One session key for every node sharing the store, so any node opens any node's tokens.
  auto fresh = crypto::RandomSecret(kSessionTokenKeySize);
  if (!fresh.ok()) return fresh.status();
  auto session_key = CreateOnce(records::kSessionKeyRecord, fresh->view());
  if (!session_key.ok()) return session_key.status();
  if (session_key->size() != kSessionTokenKeySize) return Internal("malformed session key");
  session_key_ = std::move(*session_key);
  return LoadIndex();
}

absl::StatusOr<SecretBytes> IamServiceImpl::CreateOnce(std::string_view id,
                                                       std::string_view fresh) {
  for (int tries = 0; tries < 2; ++tries) {
    auto stored = keystore_->Get(id);
    if (!stored.ok()) return stored.status();
    if (*stored) return std::move(**stored);
    KeystoreBatch batch;
    batch.puts.emplace_back(std::string(id), fresh);
    batch.expect.emplace_back(std::string(id), "");
    auto status = keystore_->Commit(batch);
    if (status.ok()) return SecretBytes::FromString(std::string(fresh));
    if (!IsStorageConflict(status)) return status;  // else another node wrote it: read that
  }
  return Internal(StrCat("the record ", id, " could not be created"));
}

absl::Status IamServiceImpl::LoadIndex() {
  // Entries are built mutable here, then published once everything is read.
  std::map<std::string, std::shared_ptr<UserEntry>> users;
  std::map<std::string, std::shared_ptr<RoleEntry>> roles;
  auto listed = keystore_->List(records::kUserPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  for (const KeystoreRecord& record : *listed) {
    auto user = records::DecodeUser(record.value.view());
    if (!user.ok()) return user.status();
    user->arn = UserArn(options_.account_id, user->path, user->user_name);
    auto entry = std::make_shared<UserEntry>();
    entry->user = std::move(*user);
    users[record.id.substr(records::kUserPrefix.size())] = std::move(entry);
  }
  listed = keystore_->List(records::kRolePrefix, "", 0);
  if (!listed.ok()) return listed.status();
  for (const KeystoreRecord& record : *listed) {
    auto role = records::DecodeRole(record.value.view());
    if (!role.ok()) return role.status();
    role->arn = RoleArn(options_.account_id, role->path, role->role_name);
    auto trust = ParseTrustPolicy(role->assume_role_policy_document);
    if (!trust.ok()) {
      return Internal(StrCat("the stored trust policy of role ", role->role_name,
                             " no longer parses: ", ToStd(trust.status().message())));
    }
    auto entry = std::make_shared<RoleEntry>();
    entry->role = std::move(*role);
    entry->trust = std::move(*trust);
    roles[record.id.substr(records::kRolePrefix.size())] = std::move(entry);
  }

  for (IamEntityKind kind : {IamEntityKind::kUser, IamEntityKind::kRole}) {
    std::string prefix = records::PolicyPrefix(kind);
    listed = keystore_->List(prefix, "", 0);
    if (!listed.ok()) return listed.status();
    for (const KeystoreRecord& record : *listed) {
      std::string entity_key;
      if (!SplitPolicyRecordId(std::string_view(record.id).substr(prefix.size()), entity_key)) {
        return Internal("malformed inline policy record id");
      }
      PolicyMap* policies = nullptr;
      if (kind == IamEntityKind::kUser && users.count(entity_key)) {
        policies = &users[entity_key]->policies;
      } else if (kind == IamEntityKind::kRole && roles.count(entity_key)) {
        policies = &roles[entity_key]->policies;
      } else {
        return Internal("an inline policy record has no user or role");
      }
      auto stored = records::DecodePolicy(record.value.view());
      if (!stored.ok()) return stored.status();
      auto compiled =
          policy::Parse(stored->document, policy::PolicyKind::kIdentity, kMaxPolicyDocumentLength);
      if (!compiled.ok()) {
        return Internal(StrCat("the stored inline policy ", stored->policy_name,
                               " no longer parses: ", ToStd(compiled.status().message())));
      }
      (*policies)[AsciiLower(stored->policy_name)] =
          PolicyEntry{stored->policy_name, std::move(stored->document), std::move(*compiled)};
    }
  }

  listed = keystore_->List(records::kAccessKeyPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  std::vector<records::AccessKeyRecord> keys;
  for (const KeystoreRecord& record : *listed) {
    auto key = records::DecodeAccessKey(record.value.view());
    if (!key.ok()) return key.status();
    auto user = users.find(key->user_key);
    if (user == users.end()) return Internal("an access key record has no user");
    user->second->access_key_ids.push_back(key->metadata.access_key_id);
    key->metadata.user_name = user->second->user.user_name;
    keys.push_back(std::move(*key));
  }

  std::map<std::string, UserPtr> published_users;
  std::map<std::string, RolePtr> published_roles;
  StringMap<AccessKeyPtr> published_keys;
  for (auto& [key, user] : users) {
    std::sort(user->access_key_ids.begin(), user->access_key_ids.end());
    published_users[key] = user;
  }
  for (auto& [key, role] : roles) published_roles[key] = role;
  for (records::AccessKeyRecord& key : keys) {
    auto secret = keystore_->Get(records::SecretRecordId(key.metadata.access_key_id));
    if (!secret.ok()) return secret.status();
    if (!*secret) return Internal("an access key has no secret");
    auto entry = std::make_shared<AccessKeyEntry>();
    entry->user_key = key.user_key;
    entry->credential = UserCredential(*published_users[key.user_key], key.metadata, **secret);
    entry->metadata = std::move(key.metadata);
    published_keys[entry->metadata.access_key_id] = std::move(entry);
  }
  std::unique_lock lock(index_mutex_);
  users_ = std::move(published_users);
  roles_ = std::move(published_roles);
  access_keys_ = std::move(published_keys);
  return absl::OkStatus();
}

void IamServiceImpl::OnStoredChange(std::string_view record_id) {
  // The account date and the session key never change once created.
  if (record_id == records::kAccountRecord || record_id == records::kSessionKeyRecord) return;
  reload_needed_.store(true, std::memory_order_release);
}

void IamServiceImpl::OnFeedStale() { stale_.store(true, std::memory_order_release); }

void IamServiceImpl::OnFeedCurrent() {
  reload_needed_.store(true, std::memory_order_release);  // what changed unseen: read it all
  stale_.store(false, std::memory_order_release);
}

absl::Status IamServiceImpl::EnsureCurrent() const {
  if (!shared_) return absl::OkStatus();
  bool stale = stale_.load(std::memory_order_acquire);
  if (!stale && !reload_needed_.load(std::memory_order_acquire)) return absl::OkStatus();
  std::lock_guard reload_lock(reload_mutex_);
  // Another caller may have reloaded while this one waited.
  if (!stale && !reload_needed_.load(std::memory_order_acquire)) return absl::OkStatus();
  // Cleared before reading: a change reported during the read marks it again.
  reload_needed_.store(false, std::memory_order_release);
  // The index is a copy of storage: reading it again changes nothing this service answers but
  // how current it is, so a const caller (Find) may ask for it.
  auto status = const_cast<IamServiceImpl*>(this)->LoadIndex();
  if (!status.ok()) reload_needed_.store(true, std::memory_order_release);
  return status;
}

absl::StatusOr<VersionedRecord> IamServiceImpl::ReadOwner(IamEntityKind kind,
                                                          std::string_view name) const {
  bool user = kind == IamEntityKind::kUser;
  auto stored =
      keystore_->GetVersioned(user ? records::UserRecordId(name) : records::RoleRecordId(name));
  if (!stored.ok()) return stored.status();
  if (!stored->value) {
    return NotFound(
        StrCat("The ", user ? "user" : "role", " with name ", name, " cannot be found."));
  }
  return stored;
}

absl::StatusOr<size_t> IamServiceImpl::AccessKeyCount(const UserEntry& user) const {
  if (!shared_) return user.access_key_ids.size();
  std::string user_key = AsciiLower(user.user.user_name);
  auto listed = keystore_->List(records::kAccessKeyPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  size_t count = 0;
  for (const KeystoreRecord& record : *listed) {
    auto key = records::DecodeAccessKey(record.value.view());
    if (!key.ok()) return key.status();
    if (key->user_key == user_key) ++count;
  }
  return count;
}

absl::StatusOr<PolicyMap> IamServiceImpl::CurrentPolicies(const PolicyOwner& owner,
                                                          IamEntityKind kind) const {
  if (!shared_) return owner.policies();
  std::string prefix = StrCat(records::PolicyPrefix(kind), AsciiLower(owner.name()), "/");
  auto listed = keystore_->List(prefix, "", 0);
  if (!listed.ok()) return listed.status();
  PolicyMap policies;
  for (const KeystoreRecord& record : *listed) {
    auto stored = records::DecodePolicy(record.value.view());
    if (!stored.ok()) return stored.status();
    auto compiled =
        policy::Parse(stored->document, policy::PolicyKind::kIdentity, kMaxPolicyDocumentLength);
    if (!compiled.ok()) {
      return Internal(StrCat("the stored inline policy ", stored->policy_name,
                             " no longer parses: ", ToStd(compiled.status().message())));
    }
    policies[AsciiLower(stored->policy_name)] =
        PolicyEntry{stored->policy_name, std::move(stored->document), std::move(*compiled)};
  }
  return policies;
}

absl::StatusOr<std::shared_ptr<const Credential>> IamServiceImpl::CredentialFromStorage(
    std::string_view access_key_id) const {
  auto stored_key = keystore_->Get(records::AccessKeyRecordId(access_key_id));
  if (!stored_key.ok()) return stored_key.status();
  if (!*stored_key) return NotFound("no such access key");
  auto key = records::DecodeAccessKey((*stored_key)->view());
  if (!key.ok()) return key.status();
  if (key->metadata.status != AccessKeyStatus::kActive) return NotFound("inactive access key");
  auto secret = keystore_->Get(records::SecretRecordId(access_key_id));
  if (!secret.ok()) return secret.status();
  if (!*secret) return Internal("an access key has no secret");
  auto stored_user = keystore_->Get(records::UserRecordId(key->user_key));
  if (!stored_user.ok()) return stored_user.status();
  if (!*stored_user) return Internal("an access key record has no user");
  auto user = records::DecodeUser((*stored_user)->view());
  if (!user.ok()) return user.status();
  UserEntry entry;
  entry.user = std::move(*user);
  entry.user.arn = UserArn(options_.account_id, entry.user.path, entry.user.user_name);
  PolicyOwner owner;
  owner.user = std::make_shared<const UserEntry>(entry);
  auto policies = CurrentPolicies(owner, IamEntityKind::kUser);
  if (!policies.ok()) return policies.status();
  entry.policies = std::move(*policies);
  key->metadata.user_name = entry.user.user_name;
  return UserCredential(entry, key->metadata, **secret);
}

policy::RequestContext IamServiceImpl::ContextFor(const CallContext& call, std::string_view action,
                                                  std::string_view resource) const {
  policy::RequestContext context;
  context.action = std::string(action);
  context.resource = std::string(resource);
  context.SetCaller(call.principal);
  int64_t now = clock_->NowSeconds();
  context.Set("aws:CurrentTime", Iso8601(now));
  context.Set("aws:EpochTime", std::to_string(now));
  context.Set("aws:SecureTransport", call.secure_transport ? "true" : "false");
  if (!call.source_ip.empty()) context.Set("aws:SourceIp", call.source_ip);
  if (!call.user_agent.empty()) context.Set("aws:UserAgent", call.user_agent);
  return context;
}

absl::Status IamServiceImpl::Authorize(const CallContext& call, std::string_view action,
                                       std::string_view resource) const {
  const Principal& caller = *call.principal;
  if (caller.IsRoot()) return absl::OkStatus();
  policy::RequestContext context = ContextFor(call, action, resource);
  policy::Decision decision = policy::Authorize({&context, nullptr, {}});
  if (decision.allowed) return absl::OkStatus();
  return Error(ErrorType::kAccessDenied, decision.message.empty()
                                             ? NotAuthorizedMessage(caller, action, resource)
                                             : decision.message);
}

absl::StatusOr<UserPtr> IamServiceImpl::FindUser(std::string_view user_name) const {
  for (bool refreshed = false;; refreshed = true) {
    {
      std::shared_lock lock(index_mutex_);
      auto it = users_.find(AsciiLower(user_name));
      if (it != users_.end()) return it->second;
    }
    if (refreshed || !RefreshIfStored(records::UserRecordId(user_name))) {
      return NotFound(StrCat("The user with name ", user_name, " cannot be found."));
    }
  }
}

absl::StatusOr<RolePtr> IamServiceImpl::FindRole(std::string_view role_name) const {
  for (bool refreshed = false;; refreshed = true) {
    {
      std::shared_lock lock(index_mutex_);
      auto it = roles_.find(AsciiLower(role_name));
      if (it != roles_.end()) return it->second;
    }
    if (refreshed || !RefreshIfStored(records::RoleRecordId(role_name))) {
      return NotFound(StrCat("The role with name ", role_name, " cannot be found."));
    }
  }
}

bool IamServiceImpl::RefreshIfStored(const std::string& record_id) const {
  if (!shared_) return false;
  auto stored = keystore_->Get(record_id);
  if (!stored.ok() || !stored->has_value()) return false;
  reload_needed_.store(true, std::memory_order_release);
  return EnsureCurrent().ok();
}

std::string IamServiceImpl::UserResource(std::string_view user_name) const {
  auto user = FindUser(user_name);
  return user.ok() ? (*user)->user.arn : UserArn(options_.account_id, "/", user_name);
}

std::string IamServiceImpl::RoleResource(std::string_view role_name) const {
  auto role = FindRole(role_name);
  return role.ok() ? (*role)->role.arn : RoleArn(options_.account_id, "/", role_name);
}

std::string IamServiceImpl::ListResource(std::string_view kind,
                                         std::string_view path_prefix) const {
  return StrCat("arn:aws:iam::", options_.account_id, ":", kind, path_prefix);
}

namespace {

std::vector<policy::PolicyPtr> Compiled(const PolicyMap& policies) {
  std::vector<policy::PolicyPtr> compiled;
  compiled.reserve(policies.size());
  for (const auto& [key, entry] : policies) compiled.push_back(entry.compiled);
  return compiled;
}

}  // namespace

std::shared_ptr<const Credential> IamServiceImpl::UserCredential(const UserEntry& user,
                                                                 const AccessKeyMetadata& key,
                                                                 const SecretBytes& secret) const {
  auto principal = std::make_shared<Principal>();
  principal->kind = PrincipalType::kIamUser;
  principal->type = "IAMUser";
  principal->principal_id = user.user.user_id;
  principal->arn = user.user.arn;
  principal->account_id = options_.account_id;
  principal->access_key_id = key.access_key_id;
  principal->user_name = user.user.user_name;
  principal->identity_policies = Compiled(user.policies);
  auto credential = std::make_shared<Credential>();
  credential->secret_access_key = secret.Clone();
  credential->principal = std::move(principal);
  return credential;
}

std::shared_ptr<const Credential> IamServiceImpl::SessionCredential(
    const RoleEntry& role, std::string_view access_key_id, const SecretBytes& secret,
    std::string_view session_name, int64_t created, int64_t expiration) const {
  auto principal = std::make_shared<Principal>();
  principal->kind = PrincipalType::kAssumedRole;
  principal->type = "AssumedRole";
  principal->principal_id = StrCat(role.role.role_id, ":", session_name);
  principal->arn = AssumedRoleArn(options_.account_id, role.role.role_name, session_name);
  principal->account_id = options_.account_id;
  principal->access_key_id = std::string(access_key_id);
  principal->role_arn = role.role.arn;
  principal->role_id = role.role.role_id;
  principal->role_name = role.role.role_name;
  principal->session_name = std::string(session_name);
  principal->session_created = created;
  principal->session_expiration = expiration;
  principal->identity_policies = Compiled(role.policies);
  auto credential = std::make_shared<Credential>();
  credential->secret_access_key = secret.Clone();
  credential->principal = std::move(principal);
  return credential;
}

void IamServiceImpl::PublishUser(UserPtr user, AccessKeyPtr added, std::string_view removed) {
  std::string key = AsciiLower(user->user.user_name);
  std::vector<AccessKeyPtr> rebuilt;
  if (added) rebuilt.push_back(std::move(added));
  // Exclusive throughout: on a shared store a reload (LoadIndex) may replace the maps at any time.
  std::unique_lock lock(index_mutex_);
  for (const std::string& id : user->access_key_ids) {
    auto it = access_keys_.find(id);
    if (it == access_keys_.end()) continue;  // the one being added
    auto entry = std::make_shared<AccessKeyEntry>(*it->second);
    entry->credential =
        UserCredential(*user, entry->metadata, it->second->credential->secret_access_key);
    rebuilt.push_back(std::move(entry));
  }
  for (AccessKeyPtr& entry : rebuilt) {
    access_keys_[entry->metadata.access_key_id] = std::move(entry);
  }
  if (!removed.empty()) access_keys_.erase(std::string(removed));
  users_[key] = std::move(user);
}

void IamServiceImpl::PublishRole(RolePtr role) {
  std::string key = AsciiLower(role->role.role_name);
  std::unique_lock lock(index_mutex_);
  roles_[key] = std::move(role);
}

}  // namespace iam

absl::StatusOr<std::unique_ptr<IamService>> OpenIamService(IamOptions options, Keystore* keystore,
                                                           std::unique_ptr<Clock> clock) {
  if (options.account_id.size() != 12 || options.root_access_key_id.empty() ||
      options.root_secret_access_key.empty()) {
    return Error(ErrorType::kValidation,
                 "the identity service needs a 12-digit account id and the root credential");
  }
  auto service =
      std::make_unique<iam::IamServiceImpl>(std::move(options), keystore, std::move(clock));
  if (auto status = service->Load(); !status.ok()) return status;
  return service;
}

}  // namespace kmsd
