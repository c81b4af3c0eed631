// GenerateMac and VerifyMac: HMAC (RFC 2104) with GENERATE_VERIFY_MAC keys. The twins share the
// reading of their common members.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

struct MacRequest {
  std::optional<std::string> key_id;
  std::optional<SecretBytes> message;
  std::optional<std::string> mac_algorithm;
  CryptoOptions options;
};

// KeyId, Message, MacAlgorithm, GrantTokens, DryRun; the caller reads the rest and finishes.
absl::StatusOr<MacRequest> ReadMacRequest(RequestReader& request) {
  MacRequest read;
  read.message = request.Blob("Message", 1, 4096, /*required=*/true);
  read.key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  read.mac_algorithm =
      request.Enum("MacAlgorithm", {"HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"},
                   /*required=*/true);
  auto options = ReadCryptoOptions(request);
  if (!options.ok()) return options.status();
  read.options = std::move(*options);
  return read;
}

}  // namespace

absl::StatusOr<std::string> GenerateMac(OperationContext& context, RequestReader& request) {
  auto read = ReadMacRequest(request);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!read.ok()) return read.status();
  auto result = context.service.GenerateMac(context.call, *read->key_id, *read->message,
                                            *read->mac_algorithm, read->options.grant_tokens);
  if (!result.ok()) return result.status();
  if (read->options.dry_run) return DryRunSucceeded();
  return JsonWriter()
      .BeginObject()
      .Blob("Mac", std::string_view(result->mac))
      .String("MacAlgorithm", result->mac_algorithm)
      .String("KeyId", result->key_arn)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> VerifyMac(OperationContext& context, RequestReader& request) {
  auto read = ReadMacRequest(request);
  auto mac = request.Blob("Mac", 1, 6144, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (!read.ok()) return read.status();
  auto result = context.service.VerifyMac(context.call, *read->key_id, *read->message,
                                          std::string(mac->view()), *read->mac_algorithm,
                                          read->options.grant_tokens);
  if (!result.ok()) return result.status();
  if (read->options.dry_run) return DryRunSucceeded();
  return JsonWriter()
      .BeginObject()
      .String("KeyId", result->key_arn)
      .Boolean("MacValid", true)
      .String("MacAlgorithm", result->mac_algorithm)
      .EndObject()
      .Take();
}

}  // namespace kmsd::api
