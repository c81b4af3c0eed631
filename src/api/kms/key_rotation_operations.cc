// EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand and
// ListKeyRotations.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> EnableKeyRotation(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  int64_t period = request.Integer("RotationPeriodInDays", 90, 2560).value_or(365);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status =
          context.service.EnableKeyRotation(context.call, *key_id, static_cast<int>(period));
      !status.ok()) {
    return status;
  }
  return std::string("{}");
}

absl::StatusOr<std::string> DisableKeyRotation(OperationContext& context,
                                               RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = context.service.DisableKeyRotation(context.call, *key_id); !status.ok()) {
    return status;
  }
  return std::string("{}");
}

absl::StatusOr<std::string> GetKeyRotationStatus(OperationContext& context,
                                                 RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto rotation = context.service.GetKeyRotationStatus(context.call, *key_id);
  if (!rotation.ok()) return rotation.status();
  JsonWriter writer;
  writer.BeginObject()
      .Boolean("KeyRotationEnabled", rotation->enabled)
      .String("KeyId", rotation->key_arn);
  if (rotation->enabled) {
    writer.Integer("RotationPeriodInDays", rotation->period_days)
        .Integer("NextRotationDate", rotation->next_rotation_date);
  }
  return writer.EndObject().Take();
}

absl::StatusOr<std::string> RotateKeyOnDemand(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto key_arn = context.service.RotateKeyOnDemand(context.call, *key_id);
  if (!key_arn.ok()) return key_arn.status();
  return JsonWriter().BeginObject().String("KeyId", *key_arn).EndObject().Take();
}

absl::StatusOr<std::string> ListKeyRotations(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  int64_t limit = request.Integer("Limit", 1, 1000).value_or(100);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  auto include = request.Enum("IncludeKeyMaterial", {"ALL_KEY_MATERIAL", "ROTATIONS_ONLY"});
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListKeyRotations(context.call, *key_id, static_cast<size_t>(limit),
                                               marker, include == "ALL_KEY_MATERIAL");
  if (!list.ok()) return list.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("Rotations");
  for (const RotationListEntry& rotation : list->rotations) {
    writer.BeginObject().String("KeyId", list->key_arn);
    if (!rotation.key_material_id.empty()) {
      writer.String("KeyMaterialId", rotation.key_material_id);
    }
    if (rotation.imported_material) {  // symmetric keys of Origin EXTERNAL (issue 13)
      if (!rotation.description.empty()) {
        writer.String("KeyMaterialDescription", rotation.description);
      }
      writer.String("ImportState", rotation.import_state);
      if (!rotation.expiration_model.empty()) {
        writer.String("ExpirationModel", rotation.expiration_model);
      }
      if (rotation.valid_to) writer.Integer("ValidTo", *rotation.valid_to);
    }
    writer.String("KeyMaterialState", rotation.key_material_state);
    if (rotation.date) writer.Integer("RotationDate", *rotation.date);
    if (rotation.type) writer.String("RotationType", RotationTypeName(*rotation.type));
    writer.EndObject();
  }
  writer.EndArray().Boolean("Truncated", list->truncated());
  if (list->truncated()) writer.String("NextMarker", list->next_marker);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
