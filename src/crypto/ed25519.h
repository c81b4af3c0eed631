// Ed25519 keys (ECC_NIST_EDWARDS25519, issue 13): pure Ed25519 through OpenSSL 3's EVP and
// HashEdDSA Ed25519ph through libsodium, which OpenSSL 3.0 lacks. crypto::PrivateKey calls these;
// the unit tests run RFC 8032's known answers through them.
//
// Every copy of the seed is wiped; libsodium's secret key lives in SecretBytes. Thread-safe.
#pragma once

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::crypto {

inline constexpr size_t kEd25519SignatureSize = 64;  // R || S
inline constexpr size_t kEd25519KeySize = 32;        // the public key, and the seed

// Pure Ed25519 (RFC 8032 5.1) of the whole message: EVP_DigestSign with no digest.
absl::StatusOr<std::string> Ed25519Sign(EVP_PKEY* key, std::string_view message);
// Whether signature is key's Ed25519 signature of message; a malformed one is not valid.
bool Ed25519Verify(EVP_PKEY* key, std::string_view message, std::string_view signature);

// libsodium's form of an Ed25519 key (seed || public key, 64 bytes), made from the 32-byte seed
// OpenSSL holds with crypto_sign_ed25519_seed_keypair, and the raw public key. Checks that
// libsodium derives OpenSSL's public key from the seed; anything else is KMSInternalException.
absl::Status Ed25519LibsodiumKey(EVP_PKEY* key, SecretBytes& secret_key, std::string& public_key);

// HashEdDSA Ed25519ph (RFC 8032 5.1, phflag 1, empty context) of message, of any length:
// libsodium computes PH(M) = SHA-512(M) itself. AWS's ED25519_PH_SHA_512 passes its 64-byte
// DIGEST as M, so the caller's digest is hashed once more, as the service model says.
absl::StatusOr<std::string> Ed25519phSign(const SecretBytes& secret_key, std::string_view message);
// Whether signature is the Ed25519ph signature of message under the 32-byte public key.
bool Ed25519phVerify(std::string_view public_key, std::string_view message,
                     std::string_view signature);

}  // namespace kmsd::crypto
