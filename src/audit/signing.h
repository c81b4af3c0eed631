// The audit signing key: Ed25519, kept in the data dir as PKCS#8 PEM (0600), created at first
// start. Digests are signed with it; the verifier needs only its public key.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kmsd::audit {

class SigningKey {
 public:
  // Loads the key at path, or creates it (mode 0600) when there is none. Refuses a key file that
  // group or others can read.
  static absl::StatusOr<std::unique_ptr<SigningKey>> LoadOrCreate(const std::string& path);
  // Loads an existing key only.
  static absl::StatusOr<std::unique_ptr<SigningKey>> Load(const std::string& path);
  virtual ~SigningKey() = default;

  virtual absl::StatusOr<std::string> Sign(std::string_view message) const = 0;
  virtual std::string PublicKeyPem() const = 0;
};

// Hex SHA-256 of the public key's DER encoding: names which key signed a digest.
absl::StatusOr<std::string> PublicKeyFingerprint(const std::string& public_key_pem);

// True when signature is public_key_pem's Ed25519 signature of message.
absl::StatusOr<bool> VerifySignature(const std::string& public_key_pem, std::string_view message,
                                     std::string_view signature);

}  // namespace kmsd::audit
