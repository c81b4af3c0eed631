// AWS Signature Version 4: signing (for our clients: kms CLI, load generator) and full
// verification (for the server). Sign and Verify are thread-safe; each thread keeps a small cache
// of the signing keys it derived (SigningKeyCache).
// Reference:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional
};

// A request as signed, borrowed: method, target, headers and body stay where the caller keeps
// them (the server verifies what it received without copying it). Header names in any case; values
// as sent. What it views must outlive every use of the view.
struct SignableRequestView {
  std::string_view method;
  std::string_view target;  // path and query, e.g. "/" or "/path?x=1&y=2"
  std::span<const std::pair<std::string, std::string>> headers;
  std::string_view body;
};

// A request as signed, owning its strings so that Sign can add its headers. Header names in any
// case; values as sent. Converts to a view of itself wherever a SignableRequestView is taken.
struct SignableRequest {
  std::string method;
  std::string target;  // path and query, e.g. "/" or "/path?x=1&y=2"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  operator SignableRequestView() const { return {method, target, headers, body}; }
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
  int64_t now = 0;  // Unix seconds
  int64_t max_clock_skew_seconds = 300;
};

// Verifies the Authorization header of request fully. Returns the access key id on success.
// Errors carry the AWS error types: kMissingAuthenticationToken (no Authorization),
// kIncompleteSignature (malformed Authorization or missing date, or a signed header absent),
// kUnrecognizedClient (unknown access key), kInvalidSignature (wrong signature, wrong scope,
// expired/future date). The signature is compared in constant time.
absl::StatusOr<std::string> Verify(const SignableRequestView& request, const SecretLookup& lookup,
                                   const VerifyOptions& options);

// The last few signing keys derived, so that whoever signs or verifies many requests under the
// same secret, day, region and service derives each key (four HMACs) once, not per request.
// Entries are keyed by every input of the derivation, the secret included: a hit is exactly what
// SigningKey() would return, and a rotated secret or a new day simply misses. The least recently
// used entry makes room. Secrets and keys are wiped when evicted and when the cache goes. Not
// thread-safe: Sign and Verify keep one cache per thread.
class SigningKeyCache {
 public:
  static constexpr size_t kDefaultCapacity = 8;
  explicit SigningKeyCache(size_t capacity = kDefaultCapacity);

  // The 32-byte signing key for these inputs, derived on a miss; valid until the next call.
  std::string_view Get(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

  // How many keys Get has derived (its misses).
  uint64_t derivations() const { return derivations_; }

 private:
  struct Entry {
    SecretBytes secret;
    std::string date;
    std::string region;
    std::string service;
    SecretBytes key;
    uint64_t last_use = 0;
  };

  size_t capacity_;
  std::vector<Entry> entries_;
  uint64_t uses_ = 0;
  uint64_t derivations_ = 0;
};

// Building blocks, exposed for tests against AWS's published vectors.
std::string CanonicalRequest(const SignableRequestView& request,
                             const std::vector<std::string>& signed_headers_lower_case,
                             std::string_view payload_hash_hex);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

}  // namespace kmsd::sigv4
