// Encrypt: up to 4096 bytes directly under a KMS key (RSA keys: RSAES-OAEP, AWS's smaller limits).
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> Encrypt(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto plaintext = request.Blob("Plaintext", 1, 4096, /*required=*/true);
  EncryptionContext encryption_context = request.Context("EncryptionContext");
  std::string algorithm = ReadEncryptionAlgorithm(request, "EncryptionAlgorithm");
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.Encrypt(context.call, *key_id, *plaintext, encryption_context,
                                        options->grant_tokens, algorithm);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (plaintext is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  return JsonWriter()
      .BeginObject()
      .Blob("CiphertextBlob", std::string_view(result->ciphertext_blob))
      .String("KeyId", result->key_arn)
      .String("EncryptionAlgorithm", result->encryption_algorithm)
      .EndObject()
      .Take();
}

}  // namespace kmsd::api
