// The credential store: from the access key id a request claims (and its session token, for
// temporary credentials) to the secret its SigV4 signature must be made with and the principal it
// proves. The root credential, IAM users' access keys and STS sessions all answer here, so the
// router has one road for every caller. Thread-safe; Find runs on the hot path of every request
// and must not block on storage in the common case (answers come from memory).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/principal.h"
#include "kmsd/secret_bytes.h"

namespace kmsd {

struct Credential {
  SecretBytes secret_access_key;
  std::shared_ptr<const Principal> principal;
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // session_token is the X-Amz-Security-Token the request carried, empty when none. Errors:
  //   kUnrecognizedClient   unknown or inactive access key, or a session's key without its token
  //   kInvalidClientTokenId a token that kmsd did not issue, was altered, or is not this key's
  //   kExpiredToken         a session past its expiration
  virtual absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view access_key_id,
                                                                 std::string_view session_token,
                                                                 int64_t now_seconds) const = 0;
};

}  // namespace kmsd
