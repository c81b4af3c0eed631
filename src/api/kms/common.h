// Request members and response pieces that several operations share.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/json_writer.h"
#include "api/request_reader.h"

namespace kmsd::api {

inline constexpr std::string_view kSymmetricDefault = "SYMMETRIC_DEFAULT";

// Reads an EncryptionAlgorithm-shaped member (the model's enum); absent = SYMMETRIC_DEFAULT. The
// service checks that the key supports it.
std::string ReadEncryptionAlgorithm(RequestReader& request, std::string_view member);

// Members the crypto operations share: GrantTokens and DryRun, returned, and Recipient (refused
// clearly rather than ignored, since ignoring it would change what the caller gets: kmsd cannot
// verify a Nitro attestation document, so it answers ValidationException as AWS answers a document
// it cannot verify).
struct CryptoOptions {
  GrantTokens grant_tokens;
  bool dry_run = false;
};
absl::StatusOr<CryptoOptions> ReadCryptoOptions(RequestReader& request);
// The Recipient member's answer, when the request has one (ReadCryptoOptions, GenerateRandom).
absl::Status RefuseRecipient(const RequestReader& request);

// The answer to a DryRun request that passed every check: the operation ran (the crypto
// operations change nothing) and its result was thrown away, as AWS does,
// DryRunOperationException.
absl::Status DryRunSucceeded();

// The algorithm list of a key's spec and usage, as AWS sends it: EncryptionAlgorithms,
// SigningAlgorithms, KeyAgreementAlgorithms or MacAlgorithms, only the one of the key's usage
// (DescribeKey's KeyMetadata, GetPublicKey).
void WriteKeyAlgorithms(JsonWriter& writer, std::string_view key_spec, std::string_view key_usage);

// The answer to CustomKeyStoreId (CreateKey, GenerateRandom), XksKeyId and the custom key store
// origins (CreateKey): kmsd has no custom key stores. UnsupportedOperationException, which both
// operations may answer.
absl::Status NoCustomKeyStores();

// The empty answer of operations that return nothing, or the service's error.
absl::StatusOr<std::string> EmptyAnswer(const absl::Status& status);

}  // namespace kmsd::api
