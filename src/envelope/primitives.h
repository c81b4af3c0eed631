// The envelope layer's own crypto: streaming AES-256-GCM with a reused context, HKDF with a
// chosen digest, and ECDSA P-384 over SHA-384 with the compressed public keys the SDKs exchange.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::envelope {

// AES-256-GCM for many frames under one key: the key is set once, each frame only sets its IV.
class FrameCipher {
 public:
  static absl::StatusOr<FrameCipher> Create(const SecretBytes& key, bool encrypt);
  // out receives size bytes; tag is written (encrypt) or checked (decrypt, constant time).
  absl::Status Run(const uint8_t iv[12], std::string_view aad, const uint8_t* in, size_t size,
                   uint8_t* out, uint8_t tag[16]);

 private:
  struct Free {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, Free> context_;
  bool encrypt_ = true;
};

// A streaming ECDSA P-384 / SHA-384 signer or verifier.
class Signature {
 public:
  // A new key; PublicKey() gives its compressed point.
  static absl::StatusOr<Signature> NewSigner();
  static absl::StatusOr<Signature> NewVerifier(std::string_view compressed_public_key);
  std::string PublicKey() const;
  void Update(const uint8_t* data, size_t size);
  absl::StatusOr<std::string> Sign();
  bool Verify(std::string_view der_signature);

 private:
  struct FreeKey {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct FreeDigest {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_PKEY, FreeKey> key_;
  std::unique_ptr<EVP_MD_CTX, FreeDigest> digest_;
};

}  // namespace kmsd::envelope
