// IAM roles and their trust policies.
#include <algorithm>

#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/records.h"
#include "kmsd/strings.h"

namespace kmsd::iam {

bool IamServiceImpl::PrincipalExists(std::string_view arn) const {
  if (!EnsureCurrent().ok()) return false;  // cannot tell: the policy naming it is refused
  std::string prefix = StrCat("arn:aws:iam::", options_.account_id, ":");
  if (!arn.starts_with(prefix)) return false;
  std::string_view name = arn.substr(arn.rfind('/') + 1);
  std::string lower_arn = AsciiLower(arn);
  if (arn.substr(prefix.size()).starts_with("user/")) {
    auto user = FindUser(name);
    return user.ok() && AsciiLower((*user)->user.arn) == lower_arn;
  }
  if (arn.substr(prefix.size()).starts_with("role/")) {
    auto role = FindRole(name);
    return role.ok() && AsciiLower((*role)->role.arn) == lower_arn;
  }
  return false;
}

absl::Status IamServiceImpl::CheckTrustPrincipals(const policy::Policy& trust) const {
  std::string prefix = StrCat("arn:aws:iam::", options_.account_id, ":");
  for (const std::string& arn : trust.PrincipalArns()) {
    std::string_view kind = std::string_view(arn).substr(std::min(arn.size(), prefix.size()));
    bool names_entity =
        arn.starts_with(prefix) && (kind.starts_with("user/") || kind.starts_with("role/"));
    // The account itself, or another account's principals, are not ours to check.
    if (names_entity && !PrincipalExists(arn)) {
      return Error(ErrorType::kMalformedPolicyDocument,
                   StrCat("Invalid principal in policy: \"AWS\":\"", arn, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<IamRole> IamServiceImpl::CreateRole(const CallContext& call,
                                                   const CreateRoleRequest& request) {
  if (auto status = ValidateNewEntity(request.role_name, request.path, request.tags);
      !status.ok()) {
    return status;
  }
  if (request.max_session_duration < kMinRoleMaxSessionDuration ||
      request.max_session_duration > kMaxRoleMaxSessionDuration) {
    return Validation(StrCat("MaxSessionDuration must be between ", kMinRoleMaxSessionDuration,
                             " and ", kMaxRoleMaxSessionDuration, " seconds"));
  }
  std::string arn = RoleArn(options_.account_id, request.path, request.role_name);
  if (auto status = Authorize(call, "iam:CreateRole", arn); !status.ok()) return status;
  auto trust = ParseTrustPolicy(request.assume_role_policy_document);
  if (!trust.ok()) return trust.status();
  if (auto status = CheckTrustPrincipals(**trust); !status.ok()) return status;
  auto id = NewUniqueId(kRoleIdPrefix);
  if (!id.ok()) return id.status();

  auto entry = std::make_shared<RoleEntry>();
  entry->role = IamRole{request.path,
                        request.role_name,
                        *id,
                        arn,
                        clock_->NowSeconds(),
                        request.assume_role_policy_document,
                        request.description,
                        request.max_session_duration,
                        request.tags};
  entry->trust = std::move(*trust);
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  auto exists = [&] {
    return Error(ErrorType::kAlreadyExists,
                 StrCat("Role with name ", request.role_name, " already exists."));
  };
  if (FindRole(request.role_name).ok()) return exists();
  std::string encoded = records::EncodeRole(entry->role);
  KeystoreBatch batch;
  batch.puts.emplace_back(records::RoleRecordId(request.role_name), encoded);
  batch.expect.emplace_back(records::RoleRecordId(request.role_name), "");
  auto status = keystore_->Commit(batch);
  if (IsStorageConflict(status)) return exists();  // created on another node meanwhile
  if (!status.ok()) return status;
  PublishRole(entry);
  return entry->role;
}

absl::StatusOr<IamRole> IamServiceImpl::GetRole(const CallContext& call,
                                                const std::string& role_name) {
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  if (auto status = Authorize(call, "iam:GetRole", RoleResource(role_name)); !status.ok()) {
    return status;
  }
  auto role = FindRole(role_name);
  if (!role.ok()) return role.status();
  return (*role)->role;
}

absl::StatusOr<RoleList> IamServiceImpl::ListRoles(const CallContext& call,
                                                   const PageRequest& page) {
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  auto status = Authorize(call, "iam:ListRoles", ListResource("role", page.path_prefix));
  if (!status.ok()) return status;
  RoleList list;
  std::shared_lock lock(index_mutex_);
  static_cast<Page&>(list) = PageOf(
      roles_, page,
      [&](const RolePtr& role) { return role->role.path.starts_with(page.path_prefix); },
      [&](const RolePtr& role) { list.roles.push_back(role->role); });
  return list;
}

absl::Status IamServiceImpl::DeleteRole(const CallContext& call, const std::string& role_name) {
  if (auto status = Authorize(call, "iam:DeleteRole", RoleResource(role_name)); !status.ok()) {
    return status;
  }
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::Status {
    auto role = FindRole(role_name);
    if (!role.ok()) return role.status();
    auto stored = ReadOwner(IamEntityKind::kRole, role_name);
    if (!stored.ok()) return stored.status();
    auto policies = CurrentPolicies({.role = *role}, IamEntityKind::kRole);
    if (!policies.ok()) return policies.status();
    if (!policies->empty()) {
      return Error(ErrorType::kDeleteConflict, "Cannot delete entity, must delete policies first.");
    }
    KeystoreBatch batch;
    batch.deletes.push_back(records::RoleRecordId(role_name));
    batch.expect.emplace_back(records::RoleRecordId(role_name), std::move(stored->version));
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    // Its sessions find no role from now on (credentials.cc), so they stop at once.
    std::unique_lock lock(index_mutex_);
    roles_.erase(AsciiLower(role_name));
    return absl::OkStatus();
  });
}

absl::Status IamServiceImpl::UpdateAssumeRolePolicy(const CallContext& call,
                                                    const std::string& role_name,
                                                    const std::string& document) {
  auto status = Authorize(call, "iam:UpdateAssumeRolePolicy", RoleResource(role_name));
  if (!status.ok()) return status;
  auto trust = ParseTrustPolicy(document);
  if (!trust.ok()) return trust.status();
  if (status = CheckTrustPrincipals(**trust); !status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  if (status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::Status {
    auto role = FindRole(role_name);
    if (!role.ok()) return role.status();
    // Changed from the record as stored, which the write expects unchanged.
    auto stored = ReadOwner(IamEntityKind::kRole, role_name);
    if (!stored.ok()) return stored.status();
    auto record = records::DecodeRole(stored->value->view());
    if (!record.ok()) return record.status();
    auto changed = std::make_shared<RoleEntry>(**role);
    changed->role = std::move(*record);
    changed->role.arn = RoleArn(options_.account_id, changed->role.path, changed->role.role_name);
    changed->role.assume_role_policy_document = document;
    changed->trust = *trust;
    std::string encoded = records::EncodeRole(changed->role);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::RoleRecordId(role_name), encoded);
    batch.expect.emplace_back(records::RoleRecordId(role_name), std::move(stored->version));
    if (auto committed = keystore_->Commit(batch); !committed.ok()) return committed;
    PublishRole(std::move(changed));
    return absl::OkStatus();
  });
}

}  // namespace kmsd::iam
