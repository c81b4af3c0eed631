// Thin, misuse-resistant wrappers over OpenSSL 3 EVP. Randomness comes from the OS CSPRNG
// (RAND_bytes, seeded by getrandom). All functions are thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::crypto {

inline constexpr size_t kAes256KeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;

// Cryptographically secure random bytes (OpenSSL's DRBGs, seeded by the OS). Fails only if the
// CSPRNG fails. RandomSecret is for keys (OpenSSL's private DRBG); RandomBytes for values that
// are public once used (nonces, salts, ids). Small requests come from a per-thread pool of
// generator output, each byte handed out once and wiped from the pool as it goes.
absl::StatusOr<SecretBytes> RandomSecret(size_t size);
absl::StatusOr<std::string> RandomBytes(size_t size);

// AES-256-GCM. Seal returns ciphertext || tag. The caller supplies the nonce and guarantees it is
// never reused under the same key (callers derive a fresh key per message or use random nonces).
absl::StatusOr<std::string> AesGcmSeal(const SecretBytes& key, std::string_view nonce,
                                       std::string_view associated_data,
                                       std::string_view plaintext);
// Opens ciphertext || tag; any change to key, nonce, associated data or ciphertext fails with
// kInvalidCiphertext (constant-time tag check inside OpenSSL).
absl::StatusOr<SecretBytes> AesGcmOpen(const SecretBytes& key, std::string_view nonce,
                                       std::string_view associated_data,
                                       std::string_view ciphertext_and_tag);

// HKDF (RFC 5869) with the OpenSSL digest named by digest ("SHA256", "SHA384", "SHA512"); an
// empty salt means none (the RFC's string of zeros).
absl::StatusOr<SecretBytes> Hkdf(const char* digest, const SecretBytes& input_key,
                                 std::string_view salt, std::string_view info, size_t length);
// Shorthands for SHA-256 and SHA-512.
absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& input_key, std::string_view salt,
                                       std::string_view info, size_t length);
absl::StatusOr<SecretBytes> HkdfSha512(const SecretBytes& input_key, std::string_view salt,
                                       std::string_view info, size_t length);

// Digests and MACs; outputs are raw bytes. SHA-256 is fetched from OpenSSL once per process and
// each thread reuses one digest context, so a call takes no lock; the overloads that write into a
// caller's array allocate nothing. HMAC-SHA256 leaves no key-dependent state behind.
inline constexpr size_t kSha256Size = 32;
std::string Sha256(std::string_view data);
// SHA-256 of the concatenation of parts, without building it (the audit chain hashes
// previous hash || line this way).
std::string Sha256(std::initializer_list<std::string_view> parts);
std::string HmacSha256(std::string_view key, std::string_view data);
void Sha256(std::string_view data, std::span<uint8_t, kSha256Size> digest);
void HmacSha256(std::string_view key, std::string_view data, std::span<uint8_t, kSha256Size> mac);

// Constant-time equality (CRYPTO_memcmp); false when the lengths differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Encodings.
std::string HexEncode(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Strict standard base64 (with padding); anything else is an error.
absl::StatusOr<std::string> Base64Decode(std::string_view text);
absl::StatusOr<SecretBytes> Base64DecodeSecret(std::string_view text);

}  // namespace kmsd::crypto
