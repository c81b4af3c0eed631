// GetTrailStatus: whether this node's trail is written and verifies (docs/AUDIT.md, "Trail
// status over HTTP").
#include "api/cloudtrail/operations.h"
#include "api/json_writer.h"
#include "kmsd/clock.h"

namespace kmsd::api::cloudtrail_operations {

absl::StatusOr<std::string> GetTrailStatus(OperationContext& context, RequestReader& request) {
  auto name = request.String("Name", {0, 2048}, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto trail = context.service.GetTrailStatus(context.call, *name);
  if (!trail.ok()) return trail.status();
  JsonWriter out;
  out.BeginObject().Boolean("IsLogging", trail->is_logging);
  if (!trail->latest_delivery_error.empty()) {
    out.String("LatestDeliveryError", trail->latest_delivery_error);
  }
  if (trail->latest_delivery_time) out.Integer("LatestDeliveryTime", *trail->latest_delivery_time);
  if (trail->latest_digest_delivery_time) {
    out.Integer("LatestDigestDeliveryTime", *trail->latest_digest_delivery_time);
  }
  if (!trail->latest_digest_delivery_error.empty()) {
    out.String("LatestDigestDeliveryError", trail->latest_digest_delivery_error);
  }
  out.Integer("StartLoggingTime", trail->start_logging_time);
  out.String("TimeLoggingStarted", Iso8601(trail->start_logging_time));
  // When the cached verification ran, and whether it passed: in the model's free-text members
  // for delivery attempts (docs/AUDIT.md).
  if (trail->verified_at) {
    out.String("LatestDeliveryAttemptTime", Iso8601(*trail->verified_at));
    out.String("LatestDeliveryAttemptSucceeded", trail->verified ? "true" : "false");
  }
  return out.EndObject().Take();
}

}  // namespace kmsd::api::cloudtrail_operations
