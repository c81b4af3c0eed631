// GetPublicKey: the public key of an asymmetric KMS key (DER SubjectPublicKeyInfo) with what it
// may be used for.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> GetPublicKey(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  GrantTokens grant_tokens = request.GrantTokens();
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.GetPublicKey(context.call, *key_id, grant_tokens);
  if (!result.ok()) return result.status();
  JsonWriter writer;
  writer.BeginObject()
      .String("KeyId", result->key_arn)
      .Blob("PublicKey", std::string_view(result->public_key))
      .String("CustomerMasterKeySpec", result->key_spec)
      .String("KeySpec", result->key_spec)
      .String("KeyUsage", result->key_usage);
  WriteKeyAlgorithms(writer, result->key_spec, result->key_usage);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
