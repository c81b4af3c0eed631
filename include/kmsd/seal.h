// A Seal protects the root of the key hierarchy: it wraps and unwraps the keyring key that the
// keystore barrier uses for every record. The dev seal keeps a 256-bit root key in a file (0600);
// a PKCS#11 HSM seal will implement the same interface. Implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd {

class Seal {
 public:
  virtual ~Seal() = default;
  // A short name for logs and docs ("file", "pkcs11").
  virtual std::string_view Name() const = 0;
  virtual absl::StatusOr<std::string> Wrap(const SecretBytes& plaintext,
                                           std::string_view associated_data) = 0;
  virtual absl::StatusOr<SecretBytes> Unwrap(std::string_view wrapped,
                                             std::string_view associated_data) = 0;
};

// A seal over a 256-bit root key held in memory: AES-256-GCM with a random nonce and the
// associated data given (wrapped = version byte || nonce || ciphertext || tag). The file seal and
// the shares seal (include/kmsd/shares_seal.h) wrap this way; `name` is its Name().
std::unique_ptr<Seal> NewRootKeySeal(std::string name, SecretBytes root_key);

// Root key in `path`: created with mode 0600 from the CSPRNG when absent; refused when the file is
// readable by group or others, or is not exactly 32 bytes.
absl::StatusOr<std::unique_ptr<Seal>> OpenFileSeal(const std::string& path);

}  // namespace kmsd
