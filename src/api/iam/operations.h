// One function per IAM operation, each in the file of its family (user_operations.cc,
// access_key_operations.cc, role_operations.cc, inline_policy_operations.cc); dispatch.cc's table
// is the index of what kmsd serves. Operations read like api/kms/encrypt.cc: read and check the
// members, one service call, write the answer's members.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "api/query/query_codec.h"
#include "kmsd/iam.h"

namespace kmsd::api::iam {

using query::Node;
using query::OperationContext;
using query::QueryReader;

// Shapes several operations share (common.cc).
inline constexpr size_t kMaxTags = 50;
// Marker, MaxItems and (with_path_prefix) PathPrefix.
PageRequest ReadPage(QueryReader& request, bool with_path_prefix);
// IsTruncated, and Marker when it is.
void AddPage(Node& result, const Page& page);
// <User>; Tags only where AWS answers them (not in ListUsers).
Node UserNode(std::string_view name, const IamUser& user, bool with_tags);
// <Role>; Tags and RoleLastUsed only where AWS answers them (GetRole, CreateRole: not ListRoles).
Node RoleNode(std::string_view name, const IamRole& role, bool with_details);
// A member kmsd does not implement is refused rather than ignored, since ignoring it would give
// the caller something other than it asked for.
absl::Status Unsupported(std::string_view member);

absl::Status CreateUser(OperationContext& context, QueryReader& request, Node& result);
absl::Status GetUser(OperationContext& context, QueryReader& request, Node& result);
absl::Status ListUsers(OperationContext& context, QueryReader& request, Node& result);
absl::Status DeleteUser(OperationContext& context, QueryReader& request, Node& result);

absl::Status CreateAccessKey(OperationContext& context, QueryReader& request, Node& result);
absl::Status ListAccessKeys(OperationContext& context, QueryReader& request, Node& result);
absl::Status UpdateAccessKey(OperationContext& context, QueryReader& request, Node& result);
absl::Status DeleteAccessKey(OperationContext& context, QueryReader& request, Node& result);

absl::Status CreateRole(OperationContext& context, QueryReader& request, Node& result);
absl::Status GetRole(OperationContext& context, QueryReader& request, Node& result);
absl::Status ListRoles(OperationContext& context, QueryReader& request, Node& result);
absl::Status DeleteRole(OperationContext& context, QueryReader& request, Node& result);
absl::Status UpdateAssumeRolePolicy(OperationContext& context, QueryReader& request, Node& result);

absl::Status PutUserPolicy(OperationContext& context, QueryReader& request, Node& result);
absl::Status GetUserPolicy(OperationContext& context, QueryReader& request, Node& result);
absl::Status ListUserPolicies(OperationContext& context, QueryReader& request, Node& result);
absl::Status DeleteUserPolicy(OperationContext& context, QueryReader& request, Node& result);
absl::Status PutRolePolicy(OperationContext& context, QueryReader& request, Node& result);
absl::Status GetRolePolicy(OperationContext& context, QueryReader& request, Node& result);
absl::Status ListRolePolicies(OperationContext& context, QueryReader& request, Node& result);
absl::Status DeleteRolePolicy(OperationContext& context, QueryReader& request, Node& result);

}  // namespace kmsd::api::iam
