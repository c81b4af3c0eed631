// PutUserPolicy, GetUserPolicy, ListUserPolicies, DeleteUserPolicy and their Role twins: one
// road for both owners, told apart by the member that names the owner.
#include "api/iam/operations.h"

namespace kmsd::api::iam {
namespace {

struct Owner {
  IamEntityKind kind;
  std::string_view member;  // "UserName" or "RoleName"
  const StringRule* rule;
};
constexpr Owner kUser{IamEntityKind::kUser, "UserName", &query::kExistingUserNameRule};
constexpr Owner kRole{IamEntityKind::kRole, "RoleName", &query::kRoleNameRule};

IamEntity ReadOwner(const Owner& owner, QueryReader& request) {
  return {owner.kind, request.String(owner.member, *owner.rule, /*required=*/true).value_or("")};
}

absl::Status PutPolicy(const Owner& owner, OperationContext& context, QueryReader& request) {
  IamEntity entity = ReadOwner(owner, request);
  auto name = request.String("PolicyName", query::kPolicyNameRule, /*required=*/true);
  auto document = request.String("PolicyDocument", query::kPolicyDocumentRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.PutInlinePolicy(context.call, entity, *name, *document);
}

absl::Status GetPolicy(const Owner& owner, OperationContext& context, QueryReader& request,
                       Node& result) {
  IamEntity entity = ReadOwner(owner, request);
  auto name = request.String("PolicyName", query::kPolicyNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto policy = context.service.GetInlinePolicy(context.call, entity, *name);
  if (!policy.ok()) return policy.status();
  result.Add(Node::Text(owner.member, policy->entity_name));
  result.Add(Node::Text("PolicyName", policy->policy_name));
  result.Add(Node::PolicyDocument("PolicyDocument", policy->document));
  return absl::OkStatus();
}

absl::Status ListPolicies(const Owner& owner, OperationContext& context, QueryReader& request,
                          Node& result) {
  IamEntity entity = ReadOwner(owner, request);
  PageRequest page = ReadPage(request, /*with_path_prefix=*/false);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListInlinePolicies(context.call, entity, page);
  if (!list.ok()) return list.status();
  Node& names = result.Add(Node::List("PolicyNames"));
  for (const std::string& name : list->policy_names) names.Add(Node::Text("member", name));
  AddPage(result, *list);
  return absl::OkStatus();
}

absl::Status DeletePolicy(const Owner& owner, OperationContext& context, QueryReader& request) {
  IamEntity entity = ReadOwner(owner, request);
  auto name = request.String("PolicyName", query::kPolicyNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.DeleteInlinePolicy(context.call, entity, *name);
}

}  // namespace

absl::Status PutUserPolicy(OperationContext& context, QueryReader& request, Node&) {
  return PutPolicy(kUser, context, request);
}
absl::Status GetUserPolicy(OperationContext& context, QueryReader& request, Node& result) {
  return GetPolicy(kUser, context, request, result);
}
absl::Status ListUserPolicies(OperationContext& context, QueryReader& request, Node& result) {
  return ListPolicies(kUser, context, request, result);
}
absl::Status DeleteUserPolicy(OperationContext& context, QueryReader& request, Node&) {
  return DeletePolicy(kUser, context, request);
}
absl::Status PutRolePolicy(OperationContext& context, QueryReader& request, Node&) {
  return PutPolicy(kRole, context, request);
}
absl::Status GetRolePolicy(OperationContext& context, QueryReader& request, Node& result) {
  return GetPolicy(kRole, context, request, result);
}
absl::Status ListRolePolicies(OperationContext& context, QueryReader& request, Node& result) {
  return ListPolicies(kRole, context, request, result);
}
absl::Status DeleteRolePolicy(OperationContext& context, QueryReader& request, Node&) {
  return DeletePolicy(kRole, context, request);
}

}  // namespace kmsd::api::iam
