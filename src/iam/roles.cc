// IAM roles and their trust policies.
#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/records.h"
#include "kmsd/strings.h"

namespace kmsd::iam {

absl::Status IamServiceImpl::CheckTrustPrincipals(const policy::Policy& trust) const {
  std::string user_prefix = StrCat("arn:aws:iam::", options_.account_id, ":user/");
  std::string role_prefix = StrCat("arn:aws:iam::", options_.account_id, ":role/");
  for (const std::string& arn : trust.PrincipalArns()) {
    bool user = arn.starts_with(user_prefix);
    if (!user && !arn.starts_with(role_prefix)) continue;  // the account, or another account
    std::string_view name = std::string_view(arn).substr(arn.rfind('/') + 1);
    bool exists = false;
    if (user) {
      auto found = FindUser(name);
      exists = found.ok() && AsciiLower((*found)->user.arn) == AsciiLower(arn);
    } else {
      auto found = FindRole(name);
      exists = found.ok() && AsciiLower((*found)->role.arn) == AsciiLower(arn);
    }
    if (!exists) {
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
  if (FindRole(request.role_name).ok()) {
    return Error(ErrorType::kAlreadyExists,
                 StrCat("Role with name ", request.role_name, " already exists."));
  }
  auto status =
      keystore_->Put(records::RoleRecordId(request.role_name), records::EncodeRole(entry->role));
  if (!status.ok()) return status;
  PublishRole(entry);
  return entry->role;
}

absl::StatusOr<IamRole> IamServiceImpl::GetRole(const CallContext& call,
                                                const std::string& role_name) {
  if (auto status = Authorize(call, "iam:GetRole", RoleResource(role_name)); !status.ok()) {
    return status;
  }
  auto role = FindRole(role_name);
  if (!role.ok()) return role.status();
  return (*role)->role;
}

absl::StatusOr<RoleList> IamServiceImpl::ListRoles(const CallContext& call,
                                                   const PageRequest& page) {
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
  auto role = FindRole(role_name);
  if (!role.ok()) return role.status();
  if (!(*role)->policies.empty()) {
    return Error(ErrorType::kDeleteConflict, "Cannot delete entity, must delete policies first.");
  }
  if (auto status = keystore_->Delete(records::RoleRecordId(role_name)); !status.ok()) {
    return status;
  }
  // Its sessions find no role from now on (credentials.cc), so they stop at once.
  std::unique_lock lock(index_mutex_);
  roles_.erase(AsciiLower(role_name));
  return absl::OkStatus();
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
  auto role = FindRole(role_name);
  if (!role.ok()) return role.status();
  auto changed = std::make_shared<RoleEntry>(**role);
  changed->role.assume_role_policy_document = document;
  changed->trust = std::move(*trust);
  status = keystore_->Put(records::RoleRecordId(role_name), records::EncodeRole(changed->role));
  if (!status.ok()) return status;
  PublishRole(std::move(changed));
  return absl::OkStatus();
}

}  // namespace kmsd::iam
