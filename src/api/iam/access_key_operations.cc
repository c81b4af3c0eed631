// CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey. The secret of a new key is in
// CreateAccessKey's one answer and nowhere else: never in the audit (Node::Secret), never again.
#include "api/iam/operations.h"

namespace kmsd::api::iam {
namespace {

void AddKeyMembers(Node& node, const AccessKeyMetadata& key) {
  if (!key.user_name.empty()) node.Add(Node::Text("UserName", key.user_name));
  node.Add(Node::Text("AccessKeyId", key.access_key_id));
  node.Add(Node::Text("Status", std::string(AccessKeyStatusName(key.status))));
}

}  // namespace

absl::Status CreateAccessKey(OperationContext& context, QueryReader& request, Node& result) {
  auto name = request.String("UserName", query::kExistingUserNameRule);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto created = context.service.CreateAccessKey(context.call, name);
  if (!created.ok()) return created.status();
  Node& key = result.Add(Node::Struct("AccessKey"));
  AddKeyMembers(key, created->metadata);
  key.Add(Node::Secret("SecretAccessKey", std::move(created->secret_access_key)));
  key.Add(Node::Date("CreateDate", created->metadata.create_date));
  return absl::OkStatus();
}

absl::Status ListAccessKeys(OperationContext& context, QueryReader& request, Node& result) {
  auto name = request.String("UserName", query::kExistingUserNameRule);
  PageRequest page = ReadPage(request, /*with_path_prefix=*/false);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListAccessKeys(context.call, name, page);
  if (!list.ok()) return list.status();
  Node& keys = result.Add(Node::List("AccessKeyMetadata"));
  for (const AccessKeyMetadata& key : list->keys) {
    Node& member = keys.Add(Node::Struct("member"));
    AddKeyMembers(member, key);
    member.Add(Node::Date("CreateDate", key.create_date));
  }
  AddPage(result, *list);
  return absl::OkStatus();
}

absl::Status UpdateAccessKey(OperationContext& context, QueryReader& request, Node&) {
  auto name = request.String("UserName", query::kExistingUserNameRule);
  auto id = request.String("AccessKeyId", query::kAccessKeyIdRule, /*required=*/true);
  auto status_name = request.Enum("Status", {"Active", "Inactive", "Expired"}, /*required=*/true);
  if (status_name == "Expired") {
    request.AddViolation("Status Expired is set by IAM, not by UpdateAccessKey");
  }
  if (auto status = request.Finish(); !status.ok()) return status;
  AccessKeyStatus status =
      *status_name == "Active" ? AccessKeyStatus::kActive : AccessKeyStatus::kInactive;
  return context.service.UpdateAccessKey(context.call, name, *id, status);
}

absl::Status DeleteAccessKey(OperationContext& context, QueryReader& request, Node&) {
  auto name = request.String("UserName", query::kExistingUserNameRule);
  auto id = request.String("AccessKeyId", query::kAccessKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.DeleteAccessKey(context.call, name, *id);
}

}  // namespace kmsd::api::iam
