// GetKeyPolicy, PutKeyPolicy and ListKeyPolicies: a key's one policy, named "default".
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> GetKeyPolicy(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  std::string policy_name = request.String("PolicyName", kPolicyNameRule).value_or("");
  if (auto status = request.Finish(); !status.ok()) return status;
  auto policy = context.service.GetKeyPolicy(context.call, *key_id, policy_name);
  if (!policy.ok()) return policy.status();
  return JsonWriter()
      .BeginObject()
      .String("Policy", *policy)
      .String("PolicyName", kDefaultKeyPolicyName)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> PutKeyPolicy(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  std::string policy_name = request.String("PolicyName", kPolicyNameRule).value_or("");
  auto policy = request.String("Policy", kPolicyRule, /*required=*/true);
  bool bypass = request.Boolean("BypassPolicyLockoutSafetyCheck").value_or(false);
  if (auto status = request.Finish(); !status.ok()) return status;
  return EmptyAnswer(
      context.service.PutKeyPolicy(context.call, *key_id, policy_name, *policy, bypass));
}

absl::StatusOr<std::string> ListKeyPolicies(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  request.Integer("Limit", 1, 1000);
  request.String("Marker", kMarkerRule);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto names = context.service.ListKeyPolicies(context.call, *key_id);
  if (!names.ok()) return names.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("PolicyNames");
  for (const std::string& name : *names) writer.String(name);
  return writer.EndArray().Boolean("Truncated", false).EndObject().Take();
}

}  // namespace kmsd::api
