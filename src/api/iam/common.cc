// Shapes the IAM operations share: paging, User, Role, Tags.
#include "api/iam/operations.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::iam {
namespace {

void AddTags(Node& parent, const std::vector<Tag>& tags) {
  if (tags.empty()) return;
  Node& list = parent.Add(Node::List("Tags"));
  for (const Tag& tag : tags) {
    Node& member = list.Add(Node::Struct("member"));
    member.Add(Node::Text("Key", tag.key));
    member.Add(Node::Text("Value", tag.value));
  }
}

}  // namespace

PageRequest ReadPage(QueryReader& request, bool with_path_prefix) {
  PageRequest page;
  if (with_path_prefix) {
    page.path_prefix = request.String("PathPrefix", query::kPathPrefixRule).value_or("/");
  }
  page.marker = request.String("Marker", query::kIamMarkerRule).value_or("");
  page.max_items =
      static_cast<size_t>(request.Integer("MaxItems", 1, query::kMaxItemsLimit).value_or(100));
  return page;
}

void AddPage(Node& result, const Page& page) {
  result.Add(Node::Boolean("IsTruncated", page.truncated()));
  if (page.truncated()) result.Add(Node::Text("Marker", page.next_marker));
}

Node UserNode(std::string_view name, const IamUser& user, bool with_tags) {
  Node node = Node::Struct(name);
  if (!user.path.empty()) node.Add(Node::Text("Path", user.path));
  if (!user.user_name.empty()) node.Add(Node::Text("UserName", user.user_name));
  node.Add(Node::Text("UserId", user.user_id));
  node.Add(Node::Text("Arn", user.arn));
  node.Add(Node::Date("CreateDate", user.create_date));
  if (with_tags) AddTags(node, user.tags);
  return node;
}

Node RoleNode(std::string_view name, const IamRole& role, bool with_details) {
  Node node = Node::Struct(name);
  node.Add(Node::Text("Path", role.path));
  node.Add(Node::Text("RoleName", role.role_name));
  node.Add(Node::Text("RoleId", role.role_id));
  node.Add(Node::Text("Arn", role.arn));
  node.Add(Node::Date("CreateDate", role.create_date));
  node.Add(Node::PolicyDocument("AssumeRolePolicyDocument", role.assume_role_policy_document));
  if (!role.description.empty()) node.Add(Node::Text("Description", role.description));
  node.Add(Node::Number("MaxSessionDuration", role.max_session_duration));
  if (with_details) {
    AddTags(node, role.tags);
    node.Add(Node::Struct("RoleLastUsed"));
  }
  return node;
}

absl::Status Unsupported(std::string_view member) {
  return Error(ErrorType::kUnsupportedOperation, StrCat(member, " is not supported by kmsd"));
}

}  // namespace kmsd::api::iam
