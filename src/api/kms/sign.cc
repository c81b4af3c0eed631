// Sign and Verify: signatures with asymmetric SIGN_VERIFY keys, over a message (RAW) or its digest
// (DIGEST). The twins share the reading of their common members.
#include "api/kms/common.h"
#include "api/kms/operations.h"
#include "kmsd/errors.h"

namespace kmsd::api {
namespace {

struct SignatureRequest {
  std::optional<std::string> key_id;
  std::optional<SecretBytes> message;
  MessageType message_type = MessageType::kRaw;
  std::optional<std::string> signing_algorithm;
  CryptoOptions options;
};

// KeyId, Message, MessageType, SigningAlgorithm, GrantTokens, DryRun; the caller reads the rest
// and finishes the request.
absl::StatusOr<SignatureRequest> ReadSignatureRequest(RequestReader& request) {
  SignatureRequest read;
  read.key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  read.message = request.Blob("Message", 1, 4096, /*required=*/true);
  auto message_type = request.Enum("MessageType", {"RAW", "DIGEST", "EXTERNAL_MU"});
  read.signing_algorithm =
      request.Enum("SigningAlgorithm",
                   {"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                    "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512",
                    "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512", "ED25519_PH_SHA_512"},
                   /*required=*/true);
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  read.options = std::move(*options);
  if (message_type == "EXTERNAL_MU") {
    // Only ML-DSA keys take a μ, and kmsd has none (include/kmsd/key_specs.h).
    return Error(ErrorType::kInvalidKeyUsage,
                 "MessageType EXTERNAL_MU is valid only with ML-DSA keys (ML_DSA_SHAKE_256)");
  }
  if (message_type == "DIGEST") read.message_type = MessageType::kDigest;
  return read;
}

}  // namespace

absl::StatusOr<std::string> Sign(OperationContext& context, RequestReader& request) {
  auto read = ReadSignatureRequest(request);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!read.ok()) return read.status();
  auto result =
      context.service.Sign(context.call, *read->key_id, *read->message, read->message_type,
                           *read->signing_algorithm, read->options.grant_tokens);
  if (!result.ok()) return result.status();
  if (read->options.dry_run) return DryRunSucceeded();
  return JsonWriter()
      .BeginObject()
      .String("KeyId", result->key_arn)
      .Blob("Signature", std::string_view(result->signature))
      .String("SigningAlgorithm", result->signing_algorithm)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> Verify(OperationContext& context, RequestReader& request) {
  auto read = ReadSignatureRequest(request);
  auto signature = request.Blob("Signature", 1, 6144, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!read.ok()) return read.status();
  auto result = context.service.Verify(context.call, *read->key_id, *read->message,
                                       read->message_type, std::string(signature->view()),
                                       *read->signing_algorithm, read->options.grant_tokens);
  if (!result.ok()) return result.status();
  if (read->options.dry_run) return DryRunSucceeded();
  return JsonWriter()
      .BeginObject()
      .String("KeyId", result->key_arn)
      .Boolean("SignatureValid", true)
      .String("SigningAlgorithm", result->signing_algorithm)
      .EndObject()
      .Take();
}

}  // namespace kmsd::api
