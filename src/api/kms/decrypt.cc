// Decrypt: a symmetric blob names its key; KeyId, when given, must be that key. An RSA ciphertext
// names nothing: KeyId and EncryptionAlgorithm say how to open it.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> Decrypt(OperationContext& context, RequestReader& request) {
  auto blob = request.Blob("CiphertextBlob", 1, 6144, /*required=*/true);
  EncryptionContext encryption_context = request.Context("EncryptionContext");
  std::string key_id = request.String("KeyId", kKeyIdRule).value_or("");
  std::string algorithm = ReadEncryptionAlgorithm(request, "EncryptionAlgorithm");
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.Decrypt(context.call, std::string(blob->view()), encryption_context,
                                        key_id, options->grant_tokens, algorithm);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (plaintext is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject()
      .String("KeyId", result->key_arn)
      .String("EncryptionAlgorithm", result->encryption_algorithm)
      .Blob("Plaintext", result->plaintext);
  if (!result->key_material_id.empty()) writer.String("KeyMaterialId", result->key_material_id);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
