// CreateRole, GetRole, ListRoles, DeleteRole, UpdateAssumeRolePolicy.
#include "api/iam/operations.h"

namespace kmsd::api::iam {

absl::Status CreateRole(OperationContext& context, QueryReader& request, Node& result) {
  CreateRoleRequest create;
  auto name = request.String("RoleName", query::kRoleNameRule, /*required=*/true);
  auto path = request.String("Path", query::kPathRule);
  auto trust = request.String("AssumeRolePolicyDocument", query::kPolicyDocumentRule,
                              /*required=*/true);
  auto description = request.String("Description", query::kRoleDescriptionRule);
  auto max_session =
      request.Integer("MaxSessionDuration", kMinRoleMaxSessionDuration, kMaxRoleMaxSessionDuration);
  create.tags = request.Tags("Tags", kMaxTags);
  if (request.HasAny("PermissionsBoundary")) return Unsupported("PermissionsBoundary");
  if (auto status = request.Finish(); !status.ok()) return status;
  create.role_name = *name;
  create.path = path.value_or("/");
  create.assume_role_policy_document = *trust;
  create.description = description.value_or("");
  create.max_session_duration = max_session.value_or(kMinRoleMaxSessionDuration);
  auto role = context.service.CreateRole(context.call, create);
  if (!role.ok()) return role.status();
  result.Add(RoleNode("Role", *role, /*with_details=*/true));
  return absl::OkStatus();
}

absl::Status GetRole(OperationContext& context, QueryReader& request, Node& result) {
  auto name = request.String("RoleName", query::kRoleNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto role = context.service.GetRole(context.call, *name);
  if (!role.ok()) return role.status();
  result.Add(RoleNode("Role", *role, /*with_details=*/true));
  return absl::OkStatus();
}

absl::Status ListRoles(OperationContext& context, QueryReader& request, Node& result) {
  PageRequest page = ReadPage(request, /*with_path_prefix=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListRoles(context.call, page);
  if (!list.ok()) return list.status();
  Node& roles = result.Add(Node::List("Roles"));
  for (const IamRole& role : list->roles) {
    roles.Add(RoleNode("member", role, /*with_details=*/false));
  }
  AddPage(result, *list);
  return absl::OkStatus();
}

absl::Status DeleteRole(OperationContext& context, QueryReader& request, Node&) {
  auto name = request.String("RoleName", query::kRoleNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.DeleteRole(context.call, *name);
}

absl::Status UpdateAssumeRolePolicy(OperationContext& context, QueryReader& request, Node&) {
  auto name = request.String("RoleName", query::kRoleNameRule, /*required=*/true);
  auto document = request.String("PolicyDocument", query::kPolicyDocumentRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.UpdateAssumeRolePolicy(context.call, *name, *document);
}

}  // namespace kmsd::api::iam
