// The PKCS#11 HSM seal: the keyring key is wrapped and unwrapped with AES-256-GCM by a
// non-extractable, sensitive AES key inside a token (an HSM, or SoftHSM2 in tests); the root key
// never exists outside the token. Thread-safe: one logged-in session behind a mutex (the seal is
// used at start and by `kmsd seal migrate`, not per request). docs/SEAL.md.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/seal.h"

namespace kmsd {

// The default label of the root key: generated in the token on the first start when absent.
inline constexpr char kDefaultPkcs11KeyLabel[] = "kmsd-root";

struct Pkcs11SealOptions {
  std::string module_path;  // the vendor's PKCS#11 library (.so), loaded with dlopen
  std::string token_label;  // the token (slot) to use, by its label
  std::string key_label = kDefaultPkcs11KeyLabel;
  // The user PIN is read from this file: mode 0600 or stricter, one trailing newline stripped.
  std::string pin_file;
  // When no key has key_label: true generates one inside the token (CKA_TOKEN, CKA_SENSITIVE,
  // CKA_EXTRACTABLE false); false refuses (the operator named a key that must exist).
  bool create_key = false;
};

// Loads the module, finds the token, logs in and finds (or generates) the key. Fails with a
// message naming the problem: the module does not load, no token has that label (the labels
// found are listed), the PIN is wrong, the key is missing or is not an AES-256 key allowed to
// encrypt and decrypt. The PIN is zeroized once used and never appears in a message.
absl::StatusOr<std::unique_ptr<Seal>> OpenPkcs11Seal(const Pkcs11SealOptions& options);

}  // namespace kmsd
