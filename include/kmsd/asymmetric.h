// Key material of every kind of KMS key and the primitives of the asymmetric and HMAC keys, over
// OpenSSL 3 EVP: generation from the OS CSPRNG, private keys as PKCS#8 DER, public keys as DER
// SubjectPublicKeyInfo, signatures (RSASSA-PSS with salt length = digest length, as AWS;
// RSASSA-PKCS1-v1_5; ECDSA, DER-encoded as AWS returns it; pure Ed25519) and HMAC (RFC 2104).
// Ed25519ph, which OpenSSL 3.0 lacks, runs in libsodium (the well-kept standard library for it).
//
// Every temporary copy of private key bytes (DER buffers) is wiped with OPENSSL_cleanse; the
// caller keeps the material in SecretBytes. Thread-safety: the functions are thread-safe, and a
// PrivateKey is immutable once parsed, so one may sign and verify from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/key_specs.h"
#include "kmsd/secret_bytes.h"

struct evp_pkey_st;      // OpenSSL's EVP_PKEY
struct evp_pkey_ctx_st;  // OpenSSL's EVP_PKEY_CTX

namespace kmsd::crypto {

// Initialises libsodium (sodium_init) once; kmsd calls it at startup and refuses to start when it
// fails. Ed25519 keys call it too (a failure makes them KMSInternalException). Thread-safe.
absl::Status InitializeLibsodium();

// New key material for a key of the spec: random bytes for symmetric (32) and HMAC keys (the
// spec's length), an RSA (e = 65537), EC or Ed25519 key pair as PKCS#8 DER for asymmetric ones. An
// unsupported spec is UnsupportedOperationException with the table's reason.
absl::StatusOr<SecretBytes> GenerateKeyMaterial(const KeySpecInfo& spec);

// An asymmetric private key parsed once from its PKCS#8 DER, with its public key.
class PrivateKey {
 public:
  // Parses the DER and checks that it is a key of the spec (algorithm, modulus size or curve);
  // anything else is KMSInternalException, the material being kmsd's own.
  static absl::StatusOr<std::shared_ptr<const PrivateKey>> FromPkcs8(const SecretBytes& der,
                                                                     const KeySpecInfo& spec);
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  // DER SubjectPublicKeyInfo (RFC 5280), as GetPublicKey returns it.
  const std::string& PublicKeyDer() const { return public_key_der_; }

  // Signs message (is_digest: message is already the algorithm's digest, of its exact length).
  // The caller checks that the algorithm fits the key. A MessageType the algorithm does not take
  // (ED25519_SHA_512 takes only RAW, ED25519_PH_SHA_512 only DIGEST) is ValidationException.
  // ED25519_PH_SHA_512 signs Ed25519ph(M) with M the 64-byte digest: PH(M) hashes it once more.
  absl::StatusOr<std::string> Sign(const SigningAlgorithmInfo& algorithm, std::string_view message,
                                   bool is_digest) const;
  // Whether signature is the algorithm's signature of message under this key. A malformed
  // signature is not valid (false), not an error.
  absl::StatusOr<bool> Verify(const SigningAlgorithmInfo& algorithm, std::string_view message,
                              bool is_digest, std::string_view signature) const;

  // RSAES-OAEP with an RSA key (issue 13): the raw ciphertext, as long as the modulus, as AWS
  // returns it. The caller checks the plaintext against MaxRsaPlaintext.
  absl::StatusOr<std::string> Encrypt(const EncryptionAlgorithmInfo& algorithm,
                                      std::string_view plaintext) const;
  // Anything that is not an OAEP ciphertext of this key with the algorithm (wrong length, wrong
  // key, wrong algorithm, altered) is InvalidCiphertextException; no detail is told, as the
  // padding check must not become an oracle.
  absl::StatusOr<SecretBytes> Decrypt(const EncryptionAlgorithmInfo& algorithm,
                                      std::string_view ciphertext) const;

  // ECDH with an EC key (issue 13): the raw shared secret (the x coordinate of the shared point,
  // as long as the curve's field) with the peer's DER SubjectPublicKeyInfo. A peer key that is
  // malformed, not an EC key, on another curve or not a point of the curve is ValidationException
  // saying which.
  absl::StatusOr<SecretBytes> DeriveSharedSecret(std::string_view peer_public_key_der) const;

 private:
  // A signing and a verifying context of the key for one algorithm, set up when the key is
  // parsed; each Sign or Verify works on a copy.
  struct SignaturePrototype {
    const SigningAlgorithmInfo* algorithm;
    evp_pkey_ctx_st* signing;
    evp_pkey_ctx_st* verifying;
  };
  PrivateKey(evp_pkey_st* key, std::string public_key_der,
             std::vector<SignaturePrototype> prototypes);
  // The prototype context of the algorithm, or nullptr when it is not one of the spec's.
  evp_pkey_ctx_st* PrototypeFor(const SigningAlgorithmInfo& algorithm, bool for_signing) const;
  evp_pkey_st* const key_;
  const std::string public_key_der_;
  const std::vector<SignaturePrototype> prototypes_;
  // Ed25519 keys only, set once in FromPkcs8: libsodium's secret key (seed || public key, 64
  // bytes, wiped with the key) for Ed25519ph, and the raw 32-byte public key.
  SecretBytes ed25519ph_secret_key_;
  std::string ed25519_public_key_;
};

// A data key pair (GenerateDataKeyPair): the private key as PKCS#8 DER, the public key as DER
// SubjectPublicKeyInfo.
struct DataKeyPair {
  SecretBytes private_key;
  std::string public_key;
};
// A new key pair of a KeyPairSpec kmsd makes: RSA_2048/3072/4096 (e = 65537), ECC_NIST_P256/P384/
// P521, ECC_SECG_P256K1 and ECC_NIST_EDWARDS25519 (Ed25519). Any other name is
// UnsupportedOperationException.
absl::StatusOr<DataKeyPair> GenerateDataKeyPair(std::string_view key_pair_spec);

// HMAC of message under key with the algorithm's digest (RFC 2104).
absl::StatusOr<std::string> Hmac(const MacAlgorithmInfo& algorithm, const SecretBytes& key,
                                 std::string_view message);

}  // namespace kmsd::crypto
