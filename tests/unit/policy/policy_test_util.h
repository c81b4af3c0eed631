// Callers, request contexts and AWS's sample policies shared by the policy engine's tests.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kmsd/policy.h"
#include "kmsd/principal.h"
#include "kmsd/strings.h"

namespace kmsd::policy::testing {

inline constexpr char kAccount[] = "111122223333";
inline constexpr char kOtherAccount[] = "444455556666";
inline constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

inline std::shared_ptr<const Principal> Root(const std::string& account = kAccount) {
  return std::make_shared<const Principal>(RootPrincipal(account, "AKIAROOT"));
}

inline std::shared_ptr<Principal> User(const std::string& name,
                                       const std::string& account = kAccount) {
  auto user = std::make_shared<Principal>();
  user->kind = PrincipalType::kIamUser;
  user->type = "IAMUser";
  user->principal_id = "AIDA" + name;
  user->arn = StrCat("arn:aws:iam::", account, ":user/", name);
  user->account_id = account;
  user->user_name = name;
  return user;
}

inline std::shared_ptr<Principal> Session(const std::string& role, const std::string& session,
                                          const std::string& account = kAccount) {
  auto caller = std::make_shared<Principal>();
  caller->kind = PrincipalType::kAssumedRole;
  caller->type = "AssumedRole";
  caller->role_id = "AROA" + role;
  caller->principal_id = StrCat(caller->role_id, ":", session);
  caller->arn = StrCat("arn:aws:sts::", account, ":assumed-role/", role, "/", session);
  caller->account_id = account;
  caller->role_arn = StrCat("arn:aws:iam::", account, ":role/", role);
  caller->role_name = role;
  caller->session_name = session;
  return caller;
}

using ContextKeys = std::vector<std::pair<std::string, std::vector<std::string>>>;

inline RequestContext Context(std::shared_ptr<const Principal> caller, std::string action,
                              std::string resource = kKeyArn, const ContextKeys& keys = {}) {
  RequestContext context;
  context.action = std::move(action);
  context.resource = std::move(resource);
  context.SetCaller(std::move(caller));
  for (const auto& [key, values] : keys) {
    for (const std::string& value : values) context.Add(key, value);
  }
  return context;
}

inline PolicyPtr MustParse(const std::string& document, PolicyKind kind) {
  auto policy = Parse(document, kind);
  if (!policy.ok()) return nullptr;
  return *policy;
}

// AWS's default key policy, word for word, for account 111122223333.
inline std::string DefaultKeyPolicy(const std::string& account = kAccount) {
  return StrCat(R"({
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::)",
                account, R"(:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
})");
}

}  // namespace kmsd::policy::testing
