// The request context: condition keys and their values, looked up case-insensitively, and the
// global keys AWS derives from the caller.
#include <utility>

#include "kmsd/clock.h"
#include "kmsd/policy.h"
#include "kmsd/strings.h"
#include "policy/pattern.h"

namespace kmsd::policy {

RequestContext RequestContext::ForCall(const CallContext& call, std::string_view action,
                                       std::string_view resource, int64_t now_seconds) {
  RequestContext context;
  context.action = std::string(action);
  context.resource = std::string(resource);
  context.SetCaller(call.principal);
  context.Set("aws:CurrentTime", Iso8601(now_seconds));
  context.Set("aws:EpochTime", std::to_string(now_seconds));
  context.Set("aws:SecureTransport", call.secure_transport ? "true" : "false");
  if (!call.source_ip.empty()) context.Set("aws:SourceIp", call.source_ip);
  if (!call.user_agent.empty()) context.Set("aws:UserAgent", call.user_agent);
  return context;
}

void RequestContext::SetCaller(std::shared_ptr<const Principal> principal) {
  caller = std::move(principal);
  if (caller == nullptr) return;
  const Principal& who = *caller;
  // AWS's values per principal type (IAM User Guide, "Request information that you can use for
  // policy variables"): a session reports its role's ARN as aws:PrincipalArn, the root has no
  // aws:username, and aws:userid is the account id, the user's id or "role-id:session-name".
  switch (who.kind) {
    case PrincipalType::kRoot:
      Set("aws:PrincipalType", "Account");
      Set("aws:PrincipalArn", who.arn);
      break;
    case PrincipalType::kIamUser:
      Set("aws:PrincipalType", "User");
      Set("aws:PrincipalArn", who.arn);
      Set("aws:username", who.user_name);
      break;
    case PrincipalType::kAssumedRole:
      Set("aws:PrincipalType", "AssumedRole");
      Set("aws:PrincipalArn", who.role_arn);
      break;
  }
  Set("aws:userid", who.principal_id);
  Set("aws:PrincipalAccount", who.account_id);
  Set("kms:CallerAccount", who.account_id);
}

void RequestContext::Set(std::string_view key, std::string value) {
  for (auto& [name, values] : values_) {
    if (internal::EqualsIgnoreCase(name, key)) {
      values.clear();
      values.push_back(std::move(value));
      return;
    }
  }
  values_.emplace_back(AsciiLower(key), std::vector<std::string>{std::move(value)});
}

void RequestContext::Add(std::string_view key, std::string value) {
  for (auto& [name, values] : values_) {
    if (internal::EqualsIgnoreCase(name, key)) {
      values.push_back(std::move(value));
      return;
    }
  }
  values_.emplace_back(AsciiLower(key), std::vector<std::string>{std::move(value)});
}

const std::vector<std::string>* RequestContext::Find(std::string_view key) const {
  for (const auto& [name, values] : values_) {
    if (internal::EqualsIgnoreCase(name, key)) return &values;
  }
  return nullptr;
}

}  // namespace kmsd::policy
