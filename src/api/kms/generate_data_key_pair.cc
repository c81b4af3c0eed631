// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh key pair for use outside
// kmsd, its private key encrypted under a symmetric KMS key (and, for the first, also in
// plaintext).
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

absl::StatusOr<std::string> DataKeyPair(OperationContext& context, RequestReader& request,
                                        bool with_plaintext) {
  EncryptionContext encryption_context = request.Context("EncryptionContext");
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto key_pair_spec =
      request.Enum("KeyPairSpec",
                   {"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                    "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2", "ECC_NIST_EDWARDS25519"},
                   /*required=*/true);
  // Recipient is in GenerateDataKeyPair's model only; ReadCryptoOptions refuses it where present.
  auto options = ReadCryptoOptions(request);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!options.ok()) return options.status();
  auto result =
      context.service.GenerateDataKeyPair(context.call, *key_id, *key_pair_spec, encryption_context,
                                          with_plaintext, options->grant_tokens);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (the private key is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject().Blob("PrivateKeyCiphertextBlob",
                            std::string_view(result->private_key_ciphertext_blob));
  if (with_plaintext) writer.Blob("PrivateKeyPlaintext", result->private_key_plaintext);
  writer.Blob("PublicKey", std::string_view(result->public_key))
      .String("KeyId", result->key_arn)
      .String("KeyPairSpec", result->key_pair_spec);
  if (!result->key_material_id.empty()) writer.String("KeyMaterialId", result->key_material_id);
  return writer.EndObject().Take();
}

}  // namespace

absl::StatusOr<std::string> GenerateDataKeyPair(OperationContext& context, RequestReader& request) {
  return DataKeyPair(context, request, /*with_plaintext=*/true);
}

absl::StatusOr<std::string> GenerateDataKeyPairWithoutPlaintext(OperationContext& context,
                                                                RequestReader& request) {
  return DataKeyPair(context, request, /*with_plaintext=*/false);
}

}  // namespace kmsd::api
