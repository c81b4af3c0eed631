// The cryptography of imported key material (Origin EXTERNAL): the RSA wrapping key pairs that
// GetParametersForImport hands out, the unwrapping of EncryptedKeyMaterial with each wrapping
// algorithm AWS offers, and the check that unwrapped material is material of the key's spec.
//
//   RSAES_OAEP_SHA_1/256       the material is RSA-OAEP encrypted (MGF1 with the same digest, no
//                              label) under the wrapping public key
//   RSA_AES_KEY_WRAP_SHA_1/256 RSA-OAEP(ephemeral 256-bit AES key) || AES key wrap with padding
//                              (RFC 5649) of the material under that AES key
//
// Every temporary copy of secret bytes is wiped (OPENSSL_cleanse); material and wrapping private
// keys live in SecretBytes. Unwrapping failures say nothing about why (no padding oracle): one
// InvalidCiphertextException for every way a ciphertext can be wrong. Thread-safe: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/key_specs.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::crypto {

enum class WrappingAlgorithm {
  kRsaesPkcs1V15,  // in the model; AWS has refused it since October 2023
  kRsaesOaepSha1,
  kRsaesOaepSha256,
  kRsaAesKeyWrapSha1,
  kRsaAesKeyWrapSha256,
  kSm2Pke,  // China Regions only
};

// The model's name ("RSAES_OAEP_SHA_256") and back; nullopt for a name not in the model.
std::string_view WrappingAlgorithmName(WrappingAlgorithm algorithm);
std::optional<WrappingAlgorithm> ParseWrappingAlgorithm(std::string_view name);
bool IsRsaAesKeyWrap(WrappingAlgorithm algorithm);

// The largest material RSAES_OAEP_SHA_x can wrap directly under a key of modulus_bits
// (RFC 8017: k - 2 hLen - 2 bytes).
size_t MaxOaepPlaintext(int modulus_bits, WrappingAlgorithm algorithm);

// The length a wrapped-material ciphertext must have, at least: the RSA part.
inline size_t RsaCiphertextSize(int modulus_bits) { return static_cast<size_t>(modulus_bits) / 8; }

struct WrappingKeyPair {
  SecretBytes private_key;  // PKCS#8 DER
  std::string public_key;   // DER SubjectPublicKeyInfo (GetParametersForImport's PublicKey)
};

// A fresh RSA key pair (e = 65537) of modulus_bits: 2048, 3072 or 4096.
absl::StatusOr<WrappingKeyPair> GenerateWrappingKey(int modulus_bits);

// Unwraps encrypted material with the wrapping private key (PKCS#8 DER) as algorithm says. Any
// malformed or wrong ciphertext is InvalidCiphertextException, worded the same whatever failed.
// Only the RSAES_OAEP and RSA_AES_KEY_WRAP algorithms are accepted here.
absl::StatusOr<SecretBytes> UnwrapKeyMaterial(const SecretBytes& wrapping_private_key,
                                              WrappingAlgorithm algorithm,
                                              std::string_view encrypted);

// The material lengths AWS accepts for an imported key of the spec: 32 bytes for
// SYMMETRIC_DEFAULT; for HMAC keys, from the digest's length up to its block size (HMAC_224 and
// HMAC_256: 28/32..64, HMAC_384 and HMAC_512: 48/64..128).
struct MaterialLength {
  size_t min = 0;
  size_t max = 0;
};
MaterialLength ImportedMaterialLength(const KeySpecInfo& spec);

// Checks that material is key material of the spec (fixed-size specs: its length; asymmetric: a
// PKCS#8 private key of the spec's algorithm and size or curve, whose key pair checks out), and
// returns its fingerprint: 32 bytes that are the same for the same material (for an asymmetric key:
// the same key pair, whatever the PKCS#8 encoding) and reveal nothing of it. Wrong material is
// IncorrectKeyMaterialException, naming what is wrong but never echoing the material.
absl::StatusOr<std::string> CheckImportedMaterial(const KeySpecInfo& spec,
                                                  const SecretBytes& material);

// AES key wrap with padding (RFC 5649) under a 256-bit key; the wrap is for tests and tools, the
// unwrap is what RSA_AES_KEY_WRAP uses. Unwrap fails (InvalidCiphertextException) on any change.
absl::StatusOr<std::string> AesKeyWrapPad(const SecretBytes& key, std::string_view plaintext);
absl::StatusOr<SecretBytes> AesKeyUnwrapPad(const SecretBytes& key, std::string_view wrapped);

// RSA-OAEP encryption under a DER SubjectPublicKeyInfo (digest "SHA1" or "SHA256", MGF1 with the
// same digest): what a client does to wrap material. For tests and the kms client.
absl::StatusOr<std::string> RsaOaepEncrypt(std::string_view public_key_der, std::string_view digest,
                                           std::string_view plaintext);

}  // namespace kmsd::crypto
