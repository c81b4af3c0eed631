// DeriveSharedSecret: ECDH between a KEY_AGREEMENT key's private key and a peer's public key.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> DeriveSharedSecret(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto algorithm = request.Enum("KeyAgreementAlgorithm", {"ECDH"}, /*required=*/true);
  auto public_key = request.Blob("PublicKey", 1, 8192, /*required=*/true);
  auto options = ReadCryptoOptions(request);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!options.ok()) return options.status();
  auto result = context.service.DeriveSharedSecret(
      context.call, *key_id, *algorithm, std::string(public_key->view()), options->grant_tokens);
  if (!result.ok()) return result.status();
  // On DryRun the result goes unsent (the shared secret is SecretBytes).
  if (options->dry_run) return DryRunSucceeded();
  JsonWriter writer;
  writer.BeginObject().String("KeyId", result->key_arn).Blob("SharedSecret", result->shared_secret);
  return writer.String("KeyAgreementAlgorithm", result->key_agreement_algorithm)
      .String("KeyOrigin", result->key_origin)
      .EndObject()
      .Take();
}

}  // namespace kmsd::api
