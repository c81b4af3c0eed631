// ReEncrypt: decrypts and encrypts again under another (or the same, newest) key, inside kmsd.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> ReEncrypt(OperationContext& context, RequestReader& request) {
  auto blob = request.Blob("CiphertextBlob", 1, 6144, /*required=*/true);
  EncryptionContext source_context = request.Context("SourceEncryptionContext");
  std::string source_key_id = request.String("SourceKeyId", kKeyIdRule).value_or("");
  auto destination_key_id = request.String("DestinationKeyId", kKeyIdRule, /*required=*/true);
  EncryptionContext destination_context = request.Context("DestinationEncryptionContext");
  std::string source_algorithm = ReadEncryptionAlgorithm(request, "SourceEncryptionAlgorithm");
  std::string destination_algorithm =
      ReadEncryptionAlgorithm(request, "DestinationEncryptionAlgorithm");
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.ReEncrypt(
      context.call, std::string(blob->view()), source_context, source_key_id, *destination_key_id,
      destination_context, options->grant_tokens, source_algorithm, destination_algorithm);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (plaintext is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject()
      .Blob("CiphertextBlob", std::string_view(result->ciphertext_blob))
      .String("SourceKeyId", result->source_key_arn)
      .String("KeyId", result->key_arn)
      .String("SourceEncryptionAlgorithm", result->source_encryption_algorithm)
      .String("DestinationEncryptionAlgorithm", result->destination_encryption_algorithm);
  if (!result->source_key_material_id.empty()) {
    writer.String("SourceKeyMaterialId", result->source_key_material_id);
  }
  if (!result->destination_key_material_id.empty()) {
    writer.String("DestinationKeyMaterialId", result->destination_key_material_id);
  }
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
