// Inline policies of users and roles (PutUserPolicy, PutRolePolicy, and their Get, List and
// Delete). One road for both kinds of owner; only the names and the quota differ.
#include "iam/iam_service_impl.h"
#include "iam/records.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

std::string_view KindName(IamEntityKind kind) {
  return kind == IamEntityKind::kUser ? "user" : "role";
}

// "iam:PutUserPolicy", "iam:ListRolePolicies", ...
std::string Action(IamEntityKind kind, std::string_view verb, std::string_view noun) {
  return StrCat("iam:", verb, kind == IamEntityKind::kUser ? "User" : "Role", noun);
}

absl::Status PolicyNotFound(IamEntityKind kind, std::string_view policy_name) {
  return NotFound(
      StrCat("The ", KindName(kind), " policy with name ", policy_name, " cannot be found."));
}

}  // namespace

absl::StatusOr<const PolicyMap*> IamServiceImpl::PoliciesOf(const IamEntity& entity,
                                                            UserPtr& user, RolePtr& role) const {
  if (entity.kind == IamEntityKind::kUser) {
    auto found = FindUser(entity.name);
    if (!found.ok()) return found.status();
    user = std::move(*found);
    return &user->policies;
  }
  auto found = FindRole(entity.name);
  if (!found.ok()) return found.status();
  role = std::move(*found);
  return &role->policies;
}

std::string IamServiceImpl::EntityResource(const IamEntity& entity) const {
  return entity.kind == IamEntityKind::kUser ? UserResource(entity.name)
                                             : RoleResource(entity.name);
}

void IamServiceImpl::PublishPolicies(const UserPtr& user, const RolePtr& role,
                                     PolicyMap policies) {
  if (user) {
    auto changed = std::make_shared<UserEntry>(*user);
    changed->policies = std::move(policies);
    PublishUser(std::move(changed));
  } else {
    auto changed = std::make_shared<RoleEntry>(*role);
    changed->policies = std::move(policies);
    PublishRole(std::move(changed));
  }
}

absl::Status IamServiceImpl::PutInlinePolicy(const CallContext& call, const IamEntity& entity,
                                             const std::string& policy_name,
                                             const std::string& document) {
  auto status = Authorize(call, Action(entity.kind, "Put", "Policy"), EntityResource(entity));
  if (!status.ok()) return status;
  if (!IsIamName(policy_name)) {
    return Validation(StrCat("The specified value for policyName is invalid: ", policy_name));
  }
  auto compiled = policy::Parse(document, policy::PolicyKind::kIdentity, kMaxPolicyDocumentLength);
  if (!compiled.ok()) return compiled.status();

  std::lock_guard write_lock(write_mutex_);
  UserPtr user;
  RolePtr role;
  auto current = PoliciesOf(entity, user, role);
  if (!current.ok()) return current.status();
  PolicyMap policies = **current;
  policies[AsciiLower(policy_name)] = PolicyEntry{policy_name, document, std::move(*compiled)};
  size_t characters = 0;
  for (const auto& [key, entry] : policies) characters += PolicyCharacters(entry.document);
  size_t quota = entity.kind == IamEntityKind::kUser ? kMaxUserInlinePolicyCharacters : kMaxRoleInlinePolicyCharacters;
  if (characters > quota) {
    return Error(ErrorType::kLimitExceeded,
                 StrCat("Maximum policy size of ", quota, " bytes exceeded for ",
                        KindName(entity.kind), " ", entity.name));
  }
  status = keystore_->Put(records::PolicyRecordId(entity.kind, entity.name, policy_name),
                          records::EncodePolicy({"", policy_name, document}));
  if (!status.ok()) return status;
  PublishPolicies(user, role, std::move(policies));
  return absl::OkStatus();
}

absl::StatusOr<InlinePolicy> IamServiceImpl::GetInlinePolicy(const CallContext& call,
                                                             const IamEntity& entity,
                                                             const std::string& policy_name) {
  auto status = Authorize(call, Action(entity.kind, "Get", "Policy"), EntityResource(entity));
  if (!status.ok()) return status;
  UserPtr user;
  RolePtr role;
  auto policies = PoliciesOf(entity, user, role);
  if (!policies.ok()) return policies.status();
  auto it = (*policies)->find(AsciiLower(policy_name));
  if (it == (*policies)->end()) return PolicyNotFound(entity.kind, policy_name);
  return InlinePolicy{user ? user->user.user_name : role->role.role_name, it->second.name,
                      it->second.document};
}

absl::StatusOr<PolicyNameList> IamServiceImpl::ListInlinePolicies(const CallContext& call,
                                                                  const IamEntity& entity,
                                                                  const PageRequest& page) {
  auto status = Authorize(call, Action(entity.kind, "List", "Policies"), EntityResource(entity));
  if (!status.ok()) return status;
  UserPtr user;
  RolePtr role;
  auto policies = PoliciesOf(entity, user, role);
  if (!policies.ok()) return policies.status();
  PolicyNameList list;
  static_cast<Page&>(list) = PageOf(
      **policies, page, [](const PolicyEntry&) { return true; },
      [&](const PolicyEntry& entry) { list.policy_names.push_back(entry.name); });
  return list;
}

absl::Status IamServiceImpl::DeleteInlinePolicy(const CallContext& call, const IamEntity& entity,
                                                const std::string& policy_name) {
  auto status = Authorize(call, Action(entity.kind, "Delete", "Policy"), EntityResource(entity));
  if (!status.ok()) return status;
  std::lock_guard write_lock(write_mutex_);
  UserPtr user;
  RolePtr role;
  auto current = PoliciesOf(entity, user, role);
  if (!current.ok()) return current.status();
  PolicyMap policies = **current;
  if (policies.erase(AsciiLower(policy_name)) == 0) {
    return PolicyNotFound(entity.kind, policy_name);
  }
  status = keystore_->Delete(records::PolicyRecordId(entity.kind, entity.name, policy_name));
  if (!status.ok()) return status;
  PublishPolicies(user, role, std::move(policies));
  return absl::OkStatus();
}

}  // namespace kmsd::iam
