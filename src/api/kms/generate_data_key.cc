// GenerateDataKey and GenerateDataKeyWithoutPlaintext: a fresh data key, encrypted under a KMS key
// (and, for the first, also in plaintext for the caller's envelope encryption).
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

absl::StatusOr<std::string> DataKey(OperationContext& context, RequestReader& request,
                                    bool with_plaintext) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  EncryptionContext encryption_context = request.Context("EncryptionContext");
  auto number_of_bytes = request.Integer("NumberOfBytes", 1, 1024);
  auto key_spec = request.Enum("KeySpec", {"AES_256", "AES_128"});
  bool has_size = request.Has("NumberOfBytes");
  bool has_spec = request.Has("KeySpec");
  if (has_size == has_spec) {
    request.AddViolation("Please specify either KeySpec or NumberOfBytes, but not both");
  }
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  if (auto status = request.Finish(); !status.ok()) return status;
  size_t size = number_of_bytes ? static_cast<size_t>(*number_of_bytes)
                                : (*key_spec == "AES_128" ? 16 : 32);
  auto result = context.service.GenerateDataKey(context.call, *key_id, size, encryption_context,
                                                with_plaintext, options->grant_tokens);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (plaintext is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject()
      .Blob("CiphertextBlob", std::string_view(result->ciphertext_blob))
      .String("KeyId", result->key_arn);
  if (with_plaintext) writer.Blob("Plaintext", result->plaintext);
  if (!result->key_material_id.empty()) writer.String("KeyMaterialId", result->key_material_id);
  return writer.EndObject().Take();
}

}  // namespace

absl::StatusOr<std::string> GenerateDataKey(OperationContext& context, RequestReader& request) {
  return DataKey(context, request, /*with_plaintext=*/true);
}

absl::StatusOr<std::string> GenerateDataKeyWithoutPlaintext(OperationContext& context,
                                                            RequestReader& request) {
  return DataKey(context, request, /*with_plaintext=*/false);
}

}  // namespace kmsd::api
