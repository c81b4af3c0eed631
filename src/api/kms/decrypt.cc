// Decrypt: the blob names its key; KeyId, when given, must be that key.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> Decrypt(OperationContext& context, RequestReader& request) {
  auto blob = request.Blob("CiphertextBlob", 1, 6144, /*required=*/true);
  EncryptionContext encryption_context = request.Context("EncryptionContext");
  std::string key_id = request.String("KeyId", kKeyIdRule).value_or("");
  if (auto status = ReadEncryptionAlgorithm(request, "EncryptionAlgorithm"); !status.ok()) {
    return status;
  }
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.Decrypt(context.call, std::string(blob->view()), encryption_context,
                                        key_id, options->grant_tokens);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (plaintext is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject()
      .String("KeyId", result->key_arn)
      .String("EncryptionAlgorithm", kSymmetricDefault)
      .Blob("Plaintext", result->plaintext);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
