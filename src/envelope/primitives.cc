// See primitives.h.
#include "envelope/primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>

#include "kmsd/errors.h"

namespace kmsd::envelope {

absl::StatusOr<FrameCipher> FrameCipher::Create(const SecretBytes& key, bool encrypt) {
  FrameCipher cipher;
  cipher.encrypt_ = encrypt;
  cipher.context_.reset(EVP_CIPHER_CTX_new());
  if (!cipher.context_ || key.size() != 32 ||
      EVP_CipherInit_ex(cipher.context_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr,
                        encrypt ? 1 : 0) != 1) {
    return Internal("AES-GCM initialisation failed");
  }
  return cipher;
}

absl::Status FrameCipher::Run(const uint8_t iv[12], std::string_view aad, const uint8_t* in,
                              size_t size, uint8_t* out, uint8_t tag[16]) {
  EVP_CIPHER_CTX* c = context_.get();
  int length = 0;
  if (EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv, encrypt_ ? 1 : 0) != 1 ||
      EVP_CipherUpdate(c, nullptr, &length, reinterpret_cast<const uint8_t*>(aad.data()),
                       static_cast<int>(aad.size())) != 1) {
    return Internal("AES-GCM failed");
  }
  // EVP takes int lengths; frames are at most 2^32-1 bytes, so feed in chunks.
  size_t done = 0;
  while (done < size) {
    int chunk = static_cast<int>(std::min<size_t>(size - done, 1 << 30));
    if (EVP_CipherUpdate(c, out + done, &length, in + done, chunk) != 1) {
      return Internal("AES-GCM failed");
    }
    done += static_cast<size_t>(chunk);
  }
  if (encrypt_) {
    if (EVP_CipherFinal_ex(c, out + size, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
      return Internal("AES-GCM failed");
    }
    return absl::OkStatus();
  }
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1 ||
      EVP_CipherFinal_ex(c, out + size, &length) != 1) {
    OPENSSL_cleanse(out, size);
    return Error(ErrorType::kInvalidCiphertext, "a frame failed authentication");
  }
  return absl::OkStatus();
}

absl::StatusOr<Signature> Signature::NewSigner() {
  Signature signature;
  signature.key_.reset(EVP_EC_gen("P-384"));
  if (!signature.key_ ||
      EVP_PKEY_set_utf8_string_param(
          signature.key_.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") != 1) {
    return Internal("ECDSA P-384 key generation failed");
  }
  signature.digest_.reset(EVP_MD_CTX_new());
  if (!signature.digest_ || EVP_DigestSignInit(signature.digest_.get(), nullptr, EVP_sha384(),
                                               nullptr, signature.key_.get()) != 1) {
    return Internal("ECDSA signer initialisation failed");
  }
  return signature;
}

absl::StatusOr<Signature> Signature::NewVerifier(std::string_view compressed_public_key) {
  Signature signature;
  OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0);
  OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, compressed_public_key.data(),
                                   compressed_public_key.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder);
  EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = params && context && EVP_PKEY_fromdata_init(context) == 1 &&
            EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(context);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(builder);
  if (!ok) {
    return Error(ErrorType::kInvalidCiphertext, "the message's signing public key is malformed");
  }
  signature.key_.reset(key);
  signature.digest_.reset(EVP_MD_CTX_new());
  if (!signature.digest_ || EVP_DigestVerifyInit(signature.digest_.get(), nullptr, EVP_sha384(),
                                                 nullptr, signature.key_.get()) != 1) {
    return Internal("ECDSA verifier initialisation failed");
  }
  return signature;
}

std::string Signature::PublicKey() const {
  uint8_t point[128];
  size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                      sizeof(point), &length) != 1) {
    return "";
  }
  // The SDKs exchange the compressed form (SEC 1): 0x02 or 0x03 by Y's parity, then X.
  constexpr size_t kCoordinate = 48;
  if (length == 1 + 2 * kCoordinate && point[0] == 0x04) {
    point[0] = static_cast<uint8_t>(0x02 | (point[2 * kCoordinate] & 1));
    return std::string(reinterpret_cast<char*>(point), 1 + kCoordinate);
  }
  return std::string(reinterpret_cast<char*>(point), length);
}

void Signature::Update(const uint8_t* data, size_t size) {
  // Sign and verify contexts accept the same update call for digest-then-sign.
  EVP_DigestUpdate(digest_.get(), data, size);
}

absl::StatusOr<std::string> Signature::Sign() {
  size_t length = 0;
  if (EVP_DigestSignFinal(digest_.get(), nullptr, &length) != 1) return Internal("ECDSA failed");
  std::string der(length, '\0');
  if (EVP_DigestSignFinal(digest_.get(), reinterpret_cast<uint8_t*>(der.data()), &length) != 1) {
    return Internal("ECDSA failed");
  }
  der.resize(length);
  return der;
}

bool Signature::Verify(std::string_view der_signature) {
  return EVP_DigestVerifyFinal(digest_.get(),
                               reinterpret_cast<const uint8_t*>(der_signature.data()),
                               der_signature.size()) == 1;
}

}  // namespace kmsd::envelope
