// GetKeyLastUsage: a key's last successful cryptographic operation, and since when kmsd tracks it.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> GetKeyLastUsage(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto usage = context.service.GetKeyLastUsage(context.call, *key_id);
  if (!usage.ok()) return usage.status();
  JsonWriter writer;
  writer.BeginObject().String("KeyId", usage->key_id);
  // AWS: "If the key has not been used since tracking began, this response element is empty",
  // each of its members "Absent if the key has not been used since KMS began tracking".
  writer.BeginObject("KeyLastUsage");
  if (usage->last_use) {
    const KeyUse& use = *usage->last_use;
    writer.String("Operation", use.operation).Integer("Timestamp", use.timestamp);
    if (!use.cloudtrail_event_id.empty()) {
      writer.String("CloudTrailEventId", use.cloudtrail_event_id);
    }
    if (!use.request_id.empty()) writer.String("KmsRequestId", use.request_id);
  }
  writer.EndObject();
  writer.Integer("TrackingStartDate", usage->tracking_start_date)
      .Integer("KeyCreationDate", usage->key_creation_date);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
