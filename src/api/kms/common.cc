// Shared request members of the crypto operations.
#include "api/kms/common.h"

#include "kmsd/errors.h"
#include "kmsd/key_specs.h"
#include "kmsd/strings.h"

namespace kmsd::api {

std::string ReadEncryptionAlgorithm(RequestReader& request, std::string_view member) {
  return request
      .Enum(member, {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"})
      .value_or(std::string(kSymmetricDefault));
}

absl::StatusOr<CryptoOptions> ReadCryptoOptions(RequestReader& request) {
  CryptoOptions options;
  options.grant_tokens = request.GrantTokens();
  options.dry_run = request.Boolean("DryRun").value_or(false);
  if (auto status = RefuseRecipient(request); !status.ok()) return status;
  return options;
}

absl::Status RefuseRecipient(const RequestReader& request) {
  if (!request.Has("Recipient")) return absl::OkStatus();
  return Validation(
      "The Recipient attestation document cannot be verified: kmsd runs outside AWS Nitro "
      "Enclaves and NitroTPM and never encrypts a response for a recipient. Omit Recipient.");
}

absl::Status DryRunSucceeded() {
  return Error(ErrorType::kDryRunOperation,
               "The request would have succeeded, but the DryRun option is set.");
}

void WriteKeyAlgorithms(JsonWriter& writer, std::string_view key_spec, std::string_view key_usage) {
  const KeySpecInfo* spec = FindKeySpec(key_spec);
  if (!spec) return;
  KeyAlgorithms algorithms = AlgorithmsOf(*spec, key_usage);
  for (auto [member, names] : {std::pair{"EncryptionAlgorithms", algorithms.encryption},
                               std::pair{"SigningAlgorithms", algorithms.signing},
                               std::pair{"KeyAgreementAlgorithms", algorithms.key_agreement},
                               std::pair{"MacAlgorithms", algorithms.mac}}) {
    if (names.empty()) continue;
    writer.BeginArray(member);
    for (std::string_view name : names) writer.String(name);
    writer.EndArray();
  }
}

absl::Status NoCustomKeyStores() {
  return Error(ErrorType::kUnsupportedOperation,
               "kmsd has no custom key stores (AWS CloudHSM or external key stores): "
               "CustomKeyStoreId, XksKeyId and the origins AWS_CLOUDHSM and EXTERNAL_KEY_STORE "
               "cannot be used");
}

absl::StatusOr<std::string> EmptyAnswer(const absl::Status& status) {
  if (!status.ok()) return status;
  return std::string("{}");
}

}  // namespace kmsd::api
