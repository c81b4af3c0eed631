// STS session tokens: what a session is (its access key, secret, role, session name, times)
// sealed with AES-256-GCM under the service's session-token key, with the access key id as
// associated data. A token therefore proves itself: one kmsd did not issue, one altered in any
// bit, or one presented with another access key id fails to open. Nothing about a session is
// stored; the service checks on use that the role still exists with the same id.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::iam {

inline constexpr size_t kSessionTokenKeySize = 32;
// Longer tokens are refused before any decoding (ours are about 300 characters).
inline constexpr size_t kMaxSessionTokenLength = 4096;

struct SessionClaims {
  std::string access_key_id;
  SecretBytes secret_access_key;
  std::string role_id;
  std::string role_name;  // as created (the session's ARN shows it)
  std::string session_name;
  int64_t created = 0;     // Unix seconds
  int64_t expiration = 0;  // Unix seconds
};

absl::StatusOr<std::string> SealSessionToken(const SecretBytes& key, const SessionClaims& claims);

// The claims of a token presented with access_key_id. Any failure is kInvalidClientTokenId with
// AWS's message; the caller checks expiration and the role.
absl::StatusOr<SessionClaims> OpenSessionToken(const SecretBytes& key,
                                               std::string_view access_key_id,
                                               std::string_view token);

}  // namespace kmsd::iam
