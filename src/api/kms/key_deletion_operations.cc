// ScheduleKeyDeletion and CancelKeyDeletion.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> ScheduleKeyDeletion(OperationContext& context,
                                                RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  // The model allows 1..365; the service enforces KMS's 7..30.
  int64_t window = request.Integer("PendingWindowInDays", 1, 365).value_or(30);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result =
      context.service.ScheduleKeyDeletion(context.call, *key_id, static_cast<int>(window));
  if (!result.ok()) return result.status();
  JsonWriter writer;
  writer.BeginObject().String("KeyId", result->key_arn);
  // AWS: no DeletionDate for a multi-Region primary with replicas (PendingReplicaDeletion): it
  // is not known until the last replica is deleted.
  if (result->key_state == KeyState::kPendingDeletion) {
    writer.Integer("DeletionDate", result->deletion_date);
  }
  return writer.String("KeyState", KeyStateName(result->key_state))
      .Integer("PendingWindowInDays", result->pending_window_days)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> CancelKeyDeletion(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto key_arn = context.service.CancelKeyDeletion(context.call, *key_id);
  if (!key_arn.ok()) return key_arn.status();
  return JsonWriter().BeginObject().String("KeyId", *key_arn).EndObject().Take();
}

}  // namespace kmsd::api
