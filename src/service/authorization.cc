// The KMS side of authorization: default key policy, request contexts, decisions. See
// authorization.h.
#include "service/authorization.h"

#include <ctime>
#include <utility>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::authorization {
namespace {

constexpr std::string_view kNoCaller = "The request has no authenticated caller";

// aws:CurrentTime as ISO 8601 in UTC. Formatted once per second per thread: every request asks.
const std::string& CurrentTimeText(int64_t now) {
  thread_local int64_t formatted_second = -1;
  thread_local std::string text;
  if (now != formatted_second) {
    std::time_t seconds = static_cast<std::time_t>(now);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    size_t length = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &utc);
    text.assign(buffer, length);
    formatted_second = now;
  }
  return text;
}

}  // namespace

std::string DefaultKeyPolicy(std::string_view account_id) {
  // AWS answers GetKeyPolicy with its own pretty-printer's layout (" : ", "[ {"); botocore's
  // GetKeyPolicy example shows it.
  return StrCat(
      "{\n"
      "  \"Version\" : \"2012-10-17\",\n"
      "  \"Id\" : \"key-default-1\",\n"
      "  \"Statement\" : [ {\n"
      "    \"Sid\" : \"Enable IAM User Permissions\",\n"
      "    \"Effect\" : \"Allow\",\n"
      "    \"Principal\" : {\n"
      "      \"AWS\" : \"arn:aws:iam::",
      account_id,
      ":root\"\n"
      "    },\n"
      "    \"Action\" : \"kms:*\",\n"
      "    \"Resource\" : \"*\"\n"
      "  } ]\n"
      "}");
}

policy::RequestContext NewContext(const CallContext& call, std::string_view action,
                                  std::string resource, int64_t now) {
  policy::RequestContext context;
  context.action = std::string(action);
  context.resource = std::move(resource);
  if (call.principal) context.SetCaller(call.principal);
  if (!call.source_ip.empty()) context.Set("aws:SourceIp", call.source_ip);
  context.Set("aws:SecureTransport", call.secure_transport ? "true" : "false");
  context.Set("aws:CurrentTime", CurrentTimeText(now));
  context.Set("aws:EpochTime", std::to_string(now));
  return context;
}

void AddKeyProperties(policy::RequestContext& context, const KeyMetadata& key) {
  context.Set("kms:KeySpec", key.key_spec);
  context.Set("kms:KeyUsage", key.key_usage);
  context.Set("kms:KeyOrigin", key.origin);
}

void AddEncryptionContext(policy::RequestContext& context, const EncryptionContext& pairs) {
  for (const auto& [key, value] : pairs) {
    context.Set(StrCat("kms:EncryptionContext:", key), value);
    context.Add("kms:EncryptionContextKeys", key);
  }
}

void AddGrantConditions(policy::RequestContext& context, const CreateGrantRequest& request) {
  for (const std::string& operation : request.operations) {
    context.Add("kms:GrantOperations", operation);
  }
  context.Set("kms:GranteePrincipal", request.grantee_principal);
  if (!request.retiring_principal.empty()) {
    context.Set("kms:RetiringPrincipal", request.retiring_principal);
  }
  const GrantConstraints& constraints = request.constraints;
  if (constraints.encryption_context_equals) {
    context.Add("kms:GrantConstraintType", "EncryptionContextEquals");
    AddEncryptionContext(context, *constraints.encryption_context_equals);
  }
  if (constraints.encryption_context_subset) {
    context.Add("kms:GrantConstraintType", "EncryptionContextSubset");
    AddEncryptionContext(context, *constraints.encryption_context_subset);
  }
}

bool NamesCaller(std::string_view principal, const Principal& caller) {
  if (principal.empty()) return false;
  if (principal == caller.arn) return true;
  return caller.kind == PrincipalType::kAssumedRole && principal == caller.role_arn;
}

absl::Status Decide(const policy::RequestContext& context, const policy::Policy* resource_policy,
                    std::function<bool()> granted) {
  if (!context.caller) return Error(ErrorType::kAccessDenied, kNoCaller);
  policy::AuthorizationRequest request;
  request.context = &context;
  request.resource_policy = resource_policy;
  request.granted = std::move(granted);
  policy::Decision decision = policy::Authorize(request);
  if (decision.allowed) return absl::OkStatus();
  return Error(ErrorType::kAccessDenied, decision.message);
}

bool IdentityPolicyDenies(const policy::RequestContext& context) {
  if (!context.caller) return true;
  for (const auto& identity_policy : context.caller->identity_policies) {
    if (identity_policy && policy::Evaluate(*identity_policy, context).explicit_deny) return true;
  }
  return false;
}

}  // namespace kmsd::authorization
