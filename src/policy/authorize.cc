// Authorize: the policies of one request combined as AWS combines them, and AWS's wording of a
// denial (IAM User Guide, "Troubleshooting access denied error messages").
#include "kmsd/policy.h"
#include "kmsd/strings.h"
#include "policy/compiled.h"

namespace kmsd::policy {
namespace {

using internal::CompiledPolicy;
using internal::EvaluateCompiled;
using internal::Verdict;

// "User: ARN is not authorized to perform: ACTION on resource: RESOURCE <reason>".
Decision Denied(const RequestContext& context, std::string_view reason) {
  std::string_view who = context.caller != nullptr ? std::string_view(context.caller->arn)
                                                   : std::string_view("anonymous");
  Decision decision;
  decision.message = StrCat("User: ", who, " is not authorized to perform: ", context.action);
  if (!context.resource.empty()) decision.message += StrCat(" on resource: ", context.resource);
  decision.message += StrCat(" ", reason);
  return decision;
}

Decision Allowed() { return Decision{true, ""}; }

}  // namespace

Decision Authorize(const AuthorizationRequest& request) {
  if (request.context == nullptr) return Decision{false, "no request context"};
  const RequestContext& context = *request.context;
  const Principal* caller = context.caller.get();

  Verdict resource;
  if (request.resource_policy != nullptr) {
    resource =
        EvaluateCompiled(static_cast<const CompiledPolicy&>(*request.resource_policy), context);
    if (resource.explicit_deny) {
      return Denied(context, "with an explicit deny in a resource-based policy");
    }
  }
  // Every identity policy is read even after an Allow: a Deny in any of them wins.
  bool identity_allows = false;
  if (caller != nullptr) {
    for (const auto& policy : caller->identity_policies) {
      if (policy == nullptr) continue;
      Verdict identity = EvaluateCompiled(static_cast<const CompiledPolicy&>(*policy), context);
      if (identity.explicit_deny) {
        return Denied(context, "with an explicit deny in an identity-based policy");
      }
      identity_allows = identity_allows || identity.allow;
    }
  }
  // The root is bound by resource policies but by no identity policy.
  const bool root = caller != nullptr && caller->IsRoot();
  if (request.resource_policy != nullptr) {
    if (resource.allow) return Allowed();
    if (resource.allow_for_account && (root || identity_allows)) return Allowed();
  } else if (root || identity_allows) {
    return Allowed();
  }
  if (request.granted && request.granted()) return Allowed();

  // When the resource policy delegates to the caller's account, what is missing is an identity
  // policy's Allow, and AWS says so.
  const bool missing_identity_allow =
      request.resource_policy == nullptr || resource.allow_for_account;
  return Denied(context, StrCat("because no ", missing_identity_allow ? "identity" : "resource",
                                "-based policy allows the ", context.action, " action"));
}

}  // namespace kmsd::policy
