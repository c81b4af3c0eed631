// The index of the IAM operations kmsd serves, and the IAM codec. docs/API.md mirrors this table.
#include <unordered_map>

#include "api/iam/operations.h"
#include "api/query/codecs.h"

namespace kmsd::api {
namespace iam {
namespace {

using query::OperationEntry;

// Members of each operation's input, as the model names them: what the audit may record.
const std::vector<std::string_view> kUser = {"UserName"};
const std::vector<std::string_view> kUserKey = {"UserName", "AccessKeyId"};
const std::vector<std::string_view> kPathPage = {"PathPrefix", "Marker", "MaxItems"};
const std::vector<std::string_view> kUserPage = {"UserName", "Marker", "MaxItems"};
const std::vector<std::string_view> kRole = {"RoleName"};
const std::vector<std::string_view> kRolePage = {"RoleName", "Marker", "MaxItems"};

const OperationEntry* Find(std::string_view action) {
  // writes, has_result, audits_answer
  static const auto* const kOperations = new std::unordered_map<std::string_view, OperationEntry>{
      {"CreateUser",
       {&CreateUser, {"Path", "UserName", "PermissionsBoundary", "Tags"}, true, true, true}},
      {"GetUser", {&GetUser, kUser, false, true, false}},
      {"ListUsers", {&ListUsers, kPathPage, false, true, false}},
      {"DeleteUser", {&DeleteUser, kUser, true, false, false}},
      {"CreateAccessKey", {&CreateAccessKey, kUser, true, true, true}},
      {"ListAccessKeys", {&ListAccessKeys, kUserPage, false, true, false}},
      {"UpdateAccessKey",
       {&UpdateAccessKey, {"UserName", "AccessKeyId", "Status"}, true, false, false}},
      {"DeleteAccessKey", {&DeleteAccessKey, kUserKey, true, false, false}},
      {"PutUserPolicy",
       {&PutUserPolicy, {"UserName", "PolicyName", "PolicyDocument"}, true, false, false}},
      {"GetUserPolicy", {&GetUserPolicy, {"UserName", "PolicyName"}, false, true, false}},
      {"ListUserPolicies", {&ListUserPolicies, kUserPage, false, true, false}},
      {"DeleteUserPolicy", {&DeleteUserPolicy, {"UserName", "PolicyName"}, true, false, false}},
      {"CreateRole",
       {&CreateRole,
        {"Path", "RoleName", "AssumeRolePolicyDocument", "Description", "MaxSessionDuration",
         "PermissionsBoundary", "Tags"},
        true,
        true,
        true}},
      {"GetRole", {&GetRole, kRole, false, true, false}},
      {"ListRoles", {&ListRoles, kPathPage, false, true, false}},
      {"DeleteRole", {&DeleteRole, kRole, true, false, false}},
      {"UpdateAssumeRolePolicy",
       {&UpdateAssumeRolePolicy, {"RoleName", "PolicyDocument"}, true, false, false}},
      {"PutRolePolicy",
       {&PutRolePolicy, {"RoleName", "PolicyName", "PolicyDocument"}, true, false, false}},
      {"GetRolePolicy", {&GetRolePolicy, {"RoleName", "PolicyName"}, false, true, false}},
      {"ListRolePolicies", {&ListRolePolicies, kRolePage, false, true, false}},
      {"DeleteRolePolicy", {&DeleteRolePolicy, {"RoleName", "PolicyName"}, true, false, false}},
  };
  auto it = kOperations->find(action);
  return it == kOperations->end() ? nullptr : &it->second;
}

}  // namespace
}  // namespace iam

std::unique_ptr<ServiceCodec> NewIamCodec(IamService* service) {
  return query::NewQueryCodec(
      {"iam", "iam.amazonaws.com", "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/",
       "ServiceFailure", &iam::Find},
      service);
}

}  // namespace kmsd::api
