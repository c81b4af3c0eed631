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

absl::Status PolicyNotFound(IamEntityKind kind, std::string_view policy_name) {
  return NotFound(
      StrCat("The ", KindName(kind), " policy with name ", policy_name, " cannot be found."));
}

// The record of the user or role that owns inline policies.
std::string OwnerRecordId(const IamEntity& entity) {
  return entity.kind == IamEntityKind::kUser ? records::UserRecordId(entity.name)
                                             : records::RoleRecordId(entity.name);
}

}  // namespace

absl::StatusOr<PolicyOwner> IamServiceImpl::FindPolicyOwner(const IamEntity& entity) const {
  PolicyOwner owner;
  if (entity.kind == IamEntityKind::kUser) {
    auto user = FindUser(entity.name);
    if (!user.ok()) return user.status();
    owner.user = std::move(*user);
  } else {
    auto role = FindRole(entity.name);
    if (!role.ok()) return role.status();
    owner.role = std::move(*role);
  }
  return owner;
}

absl::Status IamServiceImpl::AuthorizePolicyAction(const CallContext& call, const IamEntity& entity,
                                                   std::string_view verb,
                                                   std::string_view noun) const {
  bool user = entity.kind == IamEntityKind::kUser;
  return Authorize(call, StrCat("iam:", verb, user ? "User" : "Role", noun),
                   user ? UserResource(entity.name) : RoleResource(entity.name));
}

void IamServiceImpl::PublishPolicies(const PolicyOwner& owner, PolicyMap policies) {
  if (owner.user) {
    auto changed = std::make_shared<UserEntry>(*owner.user);
    changed->policies = std::move(policies);
    PublishUser(std::move(changed));
  } else {
    auto changed = std::make_shared<RoleEntry>(*owner.role);
    changed->policies = std::move(policies);
    PublishRole(std::move(changed));
  }
}

absl::Status IamServiceImpl::PutInlinePolicy(const CallContext& call, const IamEntity& entity,
                                             const std::string& policy_name,
                                             const std::string& document) {
  if (auto status = AuthorizePolicyAction(call, entity, "Put", "Policy"); !status.ok()) {
    return status;
  }
  if (!IsIamName(policy_name)) {
    return Validation(StrCat("The specified value for policyName is invalid: ", policy_name));
  }
  auto compiled = policy::Parse(document, policy::PolicyKind::kIdentity, kMaxPolicyDocumentLength);
  if (!compiled.ok()) return compiled.status();

  std::string encoded = records::EncodePolicy({"", policy_name, document});
  return ChangeInlinePolicies(
      entity, [&](const PolicyOwner& owner, PolicyMap& policies, KeystoreBatch& batch) {
        policies[AsciiLower(policy_name)] = PolicyEntry{policy_name, document, *compiled};
        size_t characters = 0;
        for (const auto& [key, entry] : policies) characters += PolicyCharacters(entry.document);
        size_t quota = owner.user ? kMaxUserInlinePolicyCharacters : kMaxRoleInlinePolicyCharacters;
        if (characters > quota) {
          return Error(ErrorType::kLimitExceeded,
                       StrCat("Maximum policy size of ", quota, " bytes exceeded for ",
                              KindName(entity.kind), " ", owner.name()));
        }
        batch.puts.emplace_back(records::PolicyRecordId(entity.kind, entity.name, policy_name),
                                encoded);
        return absl::OkStatus();
      });
}

absl::StatusOr<InlinePolicy> IamServiceImpl::GetInlinePolicy(const CallContext& call,
                                                             const IamEntity& entity,
                                                             const std::string& policy_name) {
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  if (auto status = AuthorizePolicyAction(call, entity, "Get", "Policy"); !status.ok()) {
    return status;
  }
  auto owner = FindPolicyOwner(entity);
  if (!owner.ok()) return owner.status();
  auto it = owner->policies().find(AsciiLower(policy_name));
  if (it == owner->policies().end()) return PolicyNotFound(entity.kind, policy_name);
  return InlinePolicy{owner->name(), it->second.name, it->second.document};
}

absl::StatusOr<PolicyNameList> IamServiceImpl::ListInlinePolicies(const CallContext& call,
                                                                  const IamEntity& entity,
                                                                  const PageRequest& page) {
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  if (auto status = AuthorizePolicyAction(call, entity, "List", "Policies"); !status.ok()) {
    return status;
  }
  auto owner = FindPolicyOwner(entity);
  if (!owner.ok()) return owner.status();
  PolicyNameList list;
  static_cast<Page&>(list) = PageOf(
      owner->policies(), page, [](const PolicyEntry&) { return true; },
      [&](const PolicyEntry& entry) { list.policy_names.push_back(entry.name); });
  return list;
}

absl::Status IamServiceImpl::DeleteInlinePolicy(const CallContext& call, const IamEntity& entity,
                                                const std::string& policy_name) {
  if (auto status = AuthorizePolicyAction(call, entity, "Delete", "Policy"); !status.ok()) {
    return status;
  }
  return ChangeInlinePolicies(
      entity, [&](const PolicyOwner&, PolicyMap& policies, KeystoreBatch& batch) {
        if (policies.erase(AsciiLower(policy_name)) == 0) {
          return PolicyNotFound(entity.kind, policy_name);
        }
        batch.deletes.push_back(records::PolicyRecordId(entity.kind, entity.name, policy_name));
        return absl::OkStatus();
      });
}

absl::Status IamServiceImpl::ChangeInlinePolicies(
    const IamEntity& entity,
    const std::function<absl::Status(const PolicyOwner&, PolicyMap&, KeystoreBatch&)>& edit) {
  std::lock_guard write_lock(write_mutex_);
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  return RetryConflicts([&]() -> absl::Status {
    auto owner = FindPolicyOwner(entity);
    if (!owner.ok()) return owner.status();
    // The quota counts what storage holds on a shared store; each policy written or deleted
    // rewrites the owner's record, which this write expects unchanged.
    auto stored = ReadOwner(entity.kind, entity.name);
    if (!stored.ok()) return stored.status();
    auto policies = CurrentPolicies(*owner, entity.kind);
    if (!policies.ok()) return policies.status();
    KeystoreBatch batch;
    if (auto status = edit(*owner, *policies, batch); !status.ok()) return status;
    batch.puts.emplace_back(OwnerRecordId(entity), stored->value->view());  // touched
    batch.expect.emplace_back(OwnerRecordId(entity), std::move(stored->version));
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    PublishPolicies(*owner, std::move(*policies));
    return absl::OkStatus();
  });
}

}  // namespace kmsd::iam
