// Multi-Region keys (issue 13): ReplicateKey and UpdatePrimaryRegion.
#include "api/kms/operations.h"
#include "kmsd/regions.h"

namespace kmsd::api {
namespace {

// The model's RegionType: ^([a-z]+-){2,3}\d+$, 1..32.
bool MatchesRegion(std::string_view text) {
  size_t dashes = std::count(text.begin(), text.end(), '-');
  return dashes >= 2 && dashes <= 3 && IsRegionName(text);
}

constexpr StringRule kRegionRule{1, 32, "^([a-z]+-){2,3}\\d+$", &MatchesRegion};

}  // namespace

absl::StatusOr<std::string> ReplicateKey(OperationContext& context, RequestReader& request) {
  ReplicateKeyRequest replicate;
  replicate.key_id = request.String("KeyId", kKeyIdRule, /*required=*/true).value_or("");
  replicate.replica_region =
      request.String("ReplicaRegion", kRegionRule, /*required=*/true).value_or("");
  replicate.policy = request.String("Policy", kPolicyRule);
  replicate.bypass_policy_lockout_safety_check =
      request.Boolean("BypassPolicyLockoutSafetyCheck").value_or(false);
  replicate.description = request.String("Description", kDescriptionRule).value_or("");
  replicate.tags = request.Tags("Tags");
  if (auto status = request.Finish(); !status.ok()) return status;
  auto replicated = context.service.ReplicateKey(context.call, replicate);
  if (!replicated.ok()) return replicated.status();
  JsonWriter writer;
  writer.BeginObject();
  WriteKeyMetadata(writer, replicated->replica_key_metadata, "ReplicaKeyMetadata");
  writer.String("ReplicaPolicy", replicated->replica_policy);
  // AWS leaves ReplicaTags out when the replica has none.
  if (!replicated->replica_tags.empty()) {
    writer.BeginArray("ReplicaTags");
    for (const Tag& tag : replicated->replica_tags) {
      writer.BeginObject().String("TagKey", tag.key).String("TagValue", tag.value).EndObject();
    }
    writer.EndArray();
  }
  return writer.EndObject().Take();
}

absl::StatusOr<std::string> UpdatePrimaryRegion(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto primary_region = request.String("PrimaryRegion", kRegionRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = context.service.UpdatePrimaryRegion(context.call, *key_id, *primary_region);
      !status.ok()) {
    return status;
  }
  return std::string("{}");
}

}  // namespace kmsd::api
