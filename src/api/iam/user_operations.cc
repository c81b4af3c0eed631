// CreateUser, GetUser, ListUsers, DeleteUser.
#include "api/iam/operations.h"

namespace kmsd::api::iam {

absl::Status CreateUser(OperationContext& context, QueryReader& request, Node& result) {
  CreateUserRequest create;
  auto name = request.String("UserName", query::kUserNameRule, /*required=*/true);
  auto path = request.String("Path", query::kPathRule);
  create.tags = request.Tags("Tags", kMaxTags);
  if (request.HasAny("PermissionsBoundary")) return Unsupported("PermissionsBoundary");
  if (auto status = request.Finish(); !status.ok()) return status;
  create.user_name = *name;
  create.path = path.value_or("/");
  auto user = context.service.CreateUser(context.call, create);
  if (!user.ok()) return user.status();
  result.Add(UserNode("User", *user, /*with_tags=*/true));
  return absl::OkStatus();
}

absl::Status GetUser(OperationContext& context, QueryReader& request, Node& result) {
  auto name = request.String("UserName", query::kExistingUserNameRule);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto user = context.service.GetUser(context.call, name);
  if (!user.ok()) return user.status();
  result.Add(UserNode("User", *user, /*with_tags=*/true));
  return absl::OkStatus();
}

absl::Status ListUsers(OperationContext& context, QueryReader& request, Node& result) {
  PageRequest page = ReadPage(request, /*with_path_prefix=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListUsers(context.call, page);
  if (!list.ok()) return list.status();
  Node& users = result.Add(Node::List("Users"));
  for (const IamUser& user : list->users) users.Add(UserNode("member", user, /*with_tags=*/false));
  AddPage(result, *list);
  return absl::OkStatus();
}

absl::Status DeleteUser(OperationContext& context, QueryReader& request, Node&) {
  auto name = request.String("UserName", query::kExistingUserNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.DeleteUser(context.call, *name);
}

}  // namespace kmsd::api::iam
