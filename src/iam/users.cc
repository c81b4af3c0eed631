// IAM users and their access keys.
#include <algorithm>

#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/records.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

absl::Status AccessKeyNotFound(std::string_view access_key_id) {
  return NotFound(StrCat("The Access Key with id ", access_key_id, " cannot be found."));
}

// The root's one key is kmsd's configured credential: listed, never changed through IAM.
absl::Status RootKeyIsConfigured() {
  return Validation(
      "The account root's access key is set in kmsd's configuration and cannot be created, "
      "changed or deleted through IAM; specify UserName to manage a user's access keys");
}

}  // namespace

absl::StatusOr<std::string> IamServiceImpl::TargetUserName(
    const CallContext& call, const std::optional<std::string>& user_name) const {
  if (user_name) return *user_name;
  const Principal& caller = *call.principal;
  switch (caller.kind) {
    case PrincipalType::kRoot:
      return std::string();  // the root itself
    case PrincipalType::kIamUser:
      return caller.user_name;
    case PrincipalType::kAssumedRole:
      break;
  }
  return Validation("Must specify userName when calling with non-User credentials");
}

absl::StatusOr<std::string> IamServiceImpl::KeyOwnerName(
    const CallContext& call, const std::optional<std::string>& user_name,
    std::string_view access_key_id, std::string_view action) const {
  auto name = TargetUserName(call, user_name);
  if (!name.ok()) return name.status();
  if (name->empty()) {
    return access_key_id == options_.root_access_key_id ? RootKeyIsConfigured()
                                                        : AccessKeyNotFound(access_key_id);
  }
  if (auto allowed = Authorize(call, action, UserResource(*name)); !allowed.ok()) return allowed;
  return name;
}

absl::StatusOr<AccessKeyPtr> IamServiceImpl::FindUsersAccessKey(
    const UserEntry& user, std::string_view access_key_id) const {
  for (bool refreshed = false;; refreshed = true) {
    {
      std::shared_lock lock(index_mutex_);
      auto it = access_keys_.find(access_key_id);
      if (it != access_keys_.end()) {
        if (it->second->user_key != AsciiLower(user.user.user_name)) break;
        return it->second;
      }
    }
    if (refreshed || !RefreshIfStored(records::AccessKeyRecordId(access_key_id))) break;
  }
  return AccessKeyNotFound(access_key_id);
}

absl::StatusOr<IamUser> IamServiceImpl::CreateUser(const CallContext& call,
                                                   const CreateUserRequest& request) {
  if (auto status = ValidateNewEntity(request.user_name, request.path, request.tags);
      !status.ok()) {
    return status;
  }
  std::string arn = UserArn(options_.account_id, request.path, request.user_name);
  if (auto status = Authorize(call, "iam:CreateUser", arn); !status.ok()) return status;
  auto id = NewUniqueId(kUserIdPrefix);
  if (!id.ok()) return id.status();

  auto entry = std::make_shared<UserEntry>();
  entry->user =
      IamUser{request.path, request.user_name, *id, arn, clock_->NowSeconds(), request.tags};
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  auto exists = [&] {
    return Error(ErrorType::kAlreadyExists,
                 StrCat("User with name ", request.user_name, " already exists."));
  };
  if (FindUser(request.user_name).ok()) return exists();
  // Of two nodes creating the same name, the second finds the record present.
  std::string encoded = records::EncodeUser(entry->user);
  KeystoreBatch batch;
  batch.puts.emplace_back(records::UserRecordId(request.user_name), encoded);
  batch.expect.emplace_back(records::UserRecordId(request.user_name), "");
  auto status = keystore_->Commit(batch);
  if (IsStorageConflict(status)) return exists();
  if (!status.ok()) return status;
  PublishUser(entry);
  return entry->user;
}

absl::StatusOr<IamUser> IamServiceImpl::GetUser(const CallContext& call,
                                                const std::optional<std::string>& user_name) {
  auto name = TargetUserName(call, user_name);
  if (!name.ok()) return name.status();
  if (name->empty()) {  // the root, as AWS describes it: no name or path
    const Principal& root = *call.principal;
    IamUser user;
    user.path.clear();
    user.user_id = root.account_id;
    user.arn = root.arn;
    user.create_date = account_create_date_;
    return user;
  }
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  if (auto status = Authorize(call, "iam:GetUser", UserResource(*name)); !status.ok()) {
    return status;
  }
  auto user = FindUser(*name);
  if (!user.ok()) return user.status();
  return (*user)->user;
}

absl::StatusOr<UserList> IamServiceImpl::ListUsers(const CallContext& call,
                                                   const PageRequest& page) {
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  auto status = Authorize(call, "iam:ListUsers", ListResource("user", page.path_prefix));
  if (!status.ok()) return status;
  UserList list;
  std::shared_lock lock(index_mutex_);
  static_cast<Page&>(list) = PageOf(
      users_, page,
      [&](const UserPtr& user) { return user->user.path.starts_with(page.path_prefix); },
      [&](const UserPtr& user) { list.users.push_back(user->user); });
  return list;
}

absl::Status IamServiceImpl::DeleteUser(const CallContext& call, const std::string& user_name) {
  if (auto status = Authorize(call, "iam:DeleteUser", UserResource(user_name)); !status.ok()) {
    return status;
  }
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::Status {
    auto user = FindUser(user_name);
    if (!user.ok()) return user.status();
    // Counted from storage on a shared store; a key or policy added meanwhile on another node
    // rewrote the user's record, so the delete's condition fails and this reads again.
    auto stored = ReadOwner(IamEntityKind::kUser, user_name);
    if (!stored.ok()) return stored.status();
    auto keys = AccessKeyCount(**user);
    if (!keys.ok()) return keys.status();
    if (*keys != 0) {
      return Error(ErrorType::kDeleteConflict,
                   "Cannot delete entity, must delete access keys first.");
    }
    auto policies = CurrentPolicies({.user = *user}, IamEntityKind::kUser);
    if (!policies.ok()) return policies.status();
    if (!policies->empty()) {
      return Error(ErrorType::kDeleteConflict, "Cannot delete entity, must delete policies first.");
    }
    KeystoreBatch batch;
    batch.deletes.push_back(records::UserRecordId(user_name));
    batch.expect.emplace_back(records::UserRecordId(user_name), std::move(stored->version));
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    std::unique_lock lock(index_mutex_);
    users_.erase(AsciiLower(user_name));
    return absl::OkStatus();
  });
}

absl::StatusOr<CreatedAccessKey> IamServiceImpl::CreateAccessKey(
    const CallContext& call, const std::optional<std::string>& user_name) {
  auto name = TargetUserName(call, user_name);
  if (!name.ok()) return name.status();
  if (name->empty()) return RootKeyIsConfigured();
  auto status = Authorize(call, "iam:CreateAccessKey", UserResource(*name));
  if (!status.ok()) return status;

  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::StatusOr<CreatedAccessKey> {
    auto user = FindUser(*name);
    if (!user.ok()) return user.status();
    // The quota counts what storage holds when nodes share it; every key created or deleted
    // rewrites the user's record, which this write expects unchanged.
    auto owner = ReadOwner(IamEntityKind::kUser, *name);
    if (!owner.ok()) return owner.status();
    auto count = AccessKeyCount(**user);
    if (!count.ok()) return count.status();
    if (*count >= kMaxAccessKeysPerUser) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat("Cannot exceed quota for AccessKeysPerUser: ", kMaxAccessKeysPerUser));
    }
    auto id = NewAccessKeyId(kAccessKeyIdPrefix);
    if (!id.ok()) return id.status();
    bool known = [&] {
      std::shared_lock lock(index_mutex_);
      return access_keys_.count(*id) != 0;
    }();
    if (known || *id == options_.root_access_key_id) {
      return Internal("access key id collision");  // 2^80 ids: a broken generator, not bad luck
    }
    auto secret = NewSecretAccessKey();
    if (!secret.ok()) return secret.status();

    records::AccessKeyRecord record{
        AsciiLower((*user)->user.user_name),
        {(*user)->user.user_name, *id, AccessKeyStatus::kActive, clock_->NowSeconds()}};
    std::string encoded = records::EncodeAccessKey(record);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::AccessKeyRecordId(*id), encoded);
    batch.puts.emplace_back(records::SecretRecordId(*id), secret->view());
    batch.puts.emplace_back(records::UserRecordId(*name), owner->value->view());  // touched
    batch.expect.emplace_back(records::UserRecordId(*name), std::move(owner->version));
    batch.expect.emplace_back(records::AccessKeyRecordId(*id), "");
    if (auto commit = keystore_->Commit(batch); !commit.ok()) return commit;

    auto changed = std::make_shared<UserEntry>(**user);
    changed->access_key_ids.push_back(*id);
    std::sort(changed->access_key_ids.begin(), changed->access_key_ids.end());
    auto key = std::make_shared<AccessKeyEntry>();
    key->user_key = record.user_key;
    key->metadata = record.metadata;
    key->credential = UserCredential(*changed, key->metadata, *secret);
    PublishUser(std::move(changed), std::move(key));
    return CreatedAccessKey{std::move(record.metadata), std::move(*secret)};
  });
}

absl::StatusOr<AccessKeyList> IamServiceImpl::ListAccessKeys(
    const CallContext& call, const std::optional<std::string>& user_name, const PageRequest& page) {
  auto name = TargetUserName(call, user_name);
  if (!name.ok()) return name.status();
  AccessKeyList list;
  if (name->empty()) {
    list.keys.push_back(
        {"", options_.root_access_key_id, AccessKeyStatus::kActive, account_create_date_});
    return list;
  }
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  auto status = Authorize(call, "iam:ListAccessKeys", UserResource(*name));
  if (!status.ok()) return status;
  auto user = FindUser(*name);
  if (!user.ok()) return user.status();
  std::map<std::string, AccessKeyMetadata> keys;
  for (const std::string& id : (*user)->access_key_ids) {
    auto key = FindUsersAccessKey(**user, id);
    if (key.ok()) keys[id] = (*key)->metadata;
  }
  static_cast<Page&>(list) = PageOf(
      keys, page, [](const AccessKeyMetadata&) { return true; },
      [&](const AccessKeyMetadata& key) { list.keys.push_back(key); });
  return list;
}

absl::Status IamServiceImpl::UpdateAccessKey(const CallContext& call,
                                             const std::optional<std::string>& user_name,
                                             const std::string& access_key_id,
                                             AccessKeyStatus status) {
  auto name = KeyOwnerName(call, user_name, access_key_id, "iam:UpdateAccessKey");
  if (!name.ok()) return name.status();
  std::lock_guard write_lock(write_mutex_);
  if (auto current = EnsureCurrent(); !current.ok()) return current;
  return RetryConflicts([&]() -> absl::Status {
    auto user = FindUser(*name);
    if (!user.ok()) return user.status();
    auto key = FindUsersAccessKey(**user, access_key_id);
    if (!key.ok()) return key.status();
    // The record as stored, not as this node's index has it.
    auto stored = keystore_->GetVersioned(records::AccessKeyRecordId(access_key_id));
    if (!stored.ok()) return stored.status();
    if (!stored->value) return AccessKeyNotFound(access_key_id);
    auto record = records::DecodeAccessKey(stored->value->view());
    if (!record.ok()) return record.status();
    if (record->metadata.status == status) return absl::OkStatus();
    auto changed = std::make_shared<AccessKeyEntry>(**key);
    changed->metadata.status = status;
    record->metadata.status = status;
    std::string encoded = records::EncodeAccessKey(*record);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::AccessKeyRecordId(access_key_id), encoded);
    batch.expect.emplace_back(records::AccessKeyRecordId(access_key_id),
                              std::move(stored->version));
    if (auto committed = keystore_->Commit(batch); !committed.ok()) return committed;
    std::unique_lock lock(index_mutex_);
    access_keys_[access_key_id] = std::move(changed);
    return absl::OkStatus();
  });
}

absl::Status IamServiceImpl::DeleteAccessKey(const CallContext& call,
                                             const std::optional<std::string>& user_name,
                                             const std::string& access_key_id) {
  auto name = KeyOwnerName(call, user_name, access_key_id, "iam:DeleteAccessKey");
  if (!name.ok()) return name.status();
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::Status {
    auto user = FindUser(*name);
    if (!user.ok()) return user.status();
    auto key = FindUsersAccessKey(**user, access_key_id);
    if (!key.ok()) return key.status();
    auto owner = ReadOwner(IamEntityKind::kUser, *name);
    if (!owner.ok()) return owner.status();
    auto stored = keystore_->GetVersioned(records::AccessKeyRecordId(access_key_id));
    if (!stored.ok()) return stored.status();
    if (!stored->value) return AccessKeyNotFound(access_key_id);  // deleted on another node
    KeystoreBatch batch;
    batch.deletes = {records::AccessKeyRecordId(access_key_id),
                     records::SecretRecordId(access_key_id)};
    batch.puts.emplace_back(records::UserRecordId(*name), owner->value->view());  // touched
    batch.expect.emplace_back(records::UserRecordId(*name), std::move(owner->version));
    batch.expect.emplace_back(records::AccessKeyRecordId(access_key_id),
                              std::move(stored->version));
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    auto changed = std::make_shared<UserEntry>(**user);
    std::erase(changed->access_key_ids, access_key_id);
    PublishUser(std::move(changed), nullptr, access_key_id);
    return absl::OkStatus();
  });
}

}  // namespace kmsd::iam
