// AWS Signature Version 4: signing (for our clients: kms CLI, load generator) and full
// verification (for the server). Thread-safe pure functions.
// Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kmsd::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional
};

// A request as signed: header names in any case; values as sent.
struct SignableRequest {
  std::string method;
  std::string target;  // path and query, e.g. "/" or "/path?x=1&y=2"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Adds x-amz-date, x-amz-security-token (when set) and Authorization to request.headers, signing
// every header present (the caller must include host). now = Unix seconds.
void Sign(SignableRequest& request, const Credentials& credentials, std::string_view region,
          std::string_view service, int64_t now);

// The secret for an access key id, or nullopt for an unknown one.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

struct VerifyOptions {
  std::string region;
  std::string service = "kms";
  int64_t now = 0;                      // Unix seconds
  int64_t max_clock_skew_seconds = 300;
};

// Verifies the Authorization header of request fully. Returns the access key id on success.
// Errors carry the AWS error types: kMissingAuthenticationToken (no Authorization),
// kIncompleteSignature (malformed Authorization or missing date, or a signed header absent),
// kUnrecognizedClient (unknown access key), kInvalidSignature (wrong signature, wrong scope,
// expired/future date). The signature is compared in constant time.
absl::StatusOr<std::string> Verify(const SignableRequest& request, const SecretLookup& lookup,
                                   const VerifyOptions& options);

// Building blocks, exposed for tests against AWS's published vectors.
std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers_lower_case,
                             std::string_view payload_hash_hex);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

}  // namespace kmsd::sigv4
