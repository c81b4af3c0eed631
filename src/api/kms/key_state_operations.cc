// EnableKey, DisableKey and UpdateKeyDescription: small changes to one key with empty answers,
// kept in one file because they share their shape.
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

using KeyChange = absl::Status (KmsService::*)(const CallContext&, const std::string&);

absl::StatusOr<std::string> ChangeKey(OperationContext& context, RequestReader& request,
                                      KeyChange change) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = (context.service.*change)(context.call, *key_id); !status.ok()) return status;
  return std::string("{}");
}

}  // namespace

absl::StatusOr<std::string> EnableKey(OperationContext& context, RequestReader& request) {
  return ChangeKey(context, request, &KmsService::EnableKey);
}

absl::StatusOr<std::string> DisableKey(OperationContext& context, RequestReader& request) {
  return ChangeKey(context, request, &KmsService::DisableKey);
}

absl::StatusOr<std::string> UpdateKeyDescription(OperationContext& context,
                                                 RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto description = request.String("Description", kDescriptionRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = context.service.UpdateKeyDescription(context.call, *key_id, *description);
      !status.ok()) {
    return status;
  }
  return std::string("{}");
}

}  // namespace kmsd::api
