// Imported key material (include/kmsd/key_import.h): wrapping key pairs, RSA-OAEP and RFC 5649
// unwrapping, and the check of unwrapped material against the key's spec, over OpenSSL 3 EVP.
#include "kmsd/key_import.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <memory>

#include "crypto/openssl_handles.h"
#include "kmsd/asymmetric.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::crypto {
namespace {

struct AlgorithmName {
  WrappingAlgorithm algorithm;
  std::string_view name;
};
constexpr std::array<AlgorithmName, 6> kAlgorithms = {{
    {WrappingAlgorithm::kRsaesPkcs1V15, "RSAES_PKCS1_V1_5"},
    {WrappingAlgorithm::kRsaesOaepSha1, "RSAES_OAEP_SHA_1"},
    {WrappingAlgorithm::kRsaesOaepSha256, "RSAES_OAEP_SHA_256"},
    {WrappingAlgorithm::kRsaAesKeyWrapSha1, "RSA_AES_KEY_WRAP_SHA_1"},
    {WrappingAlgorithm::kRsaAesKeyWrapSha256, "RSA_AES_KEY_WRAP_SHA_256"},
    {WrappingAlgorithm::kSm2Pke, "SM2PKE"},
}};

// The ephemeral AES key of RSA_AES_KEY_WRAP: AWS's instructions make a 256-bit key.
constexpr size_t kEphemeralAesKeySize = 32;
// RFC 5649: the wrapped form is at least two 64-bit blocks.
constexpr size_t kKeyWrapBlock = 8;

absl::Status OpenSslFailure(std::string_view what) {
  return Internal(StrCat("OpenSSL failed to ", what));
}

// One answer for every way wrapped material can be wrong, so that a caller learns nothing about
// which check failed.
absl::Status UnwrapFailed() {
  return Error(ErrorType::kInvalidCiphertext,
               "The encrypted key material could not be decrypted with the wrapping key and "
               "algorithm of the import token.");
}

const char* OaepDigest(WrappingAlgorithm algorithm) {
  return algorithm == WrappingAlgorithm::kRsaesOaepSha1 ||
                 algorithm == WrappingAlgorithm::kRsaAesKeyWrapSha1
             ? "SHA1"
             : "SHA256";
}

Pkey ParsePkcs8(const SecretBytes& der) {
  const unsigned char* in = der.data();
  Pkcs8Info info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &in, static_cast<long>(der.size())));
  if (!info || in != der.data() + der.size()) return nullptr;
  return Pkey(EVP_PKCS82PKEY(info.get()));
}

// RSA-OAEP (MGF1 with the same digest, no label) with key, in either direction.
absl::StatusOr<PkeyContext> OaepContext(EVP_PKEY* key, const char* digest, bool encrypt) {
  PkeyContext context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!context) return OpenSslFailure("make an RSA context");
  int ready = encrypt ? EVP_PKEY_encrypt_init(context.get()) : EVP_PKEY_decrypt_init(context.get());
  const EVP_MD* md = EVP_get_digestbyname(digest);
  if (ready != 1 || !md ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), md) != 1) {
    return OpenSslFailure("set up RSA-OAEP");
  }
  return context;
}

absl::StatusOr<SecretBytes> OaepDecrypt(EVP_PKEY* key, const char* digest,
                                        std::string_view ciphertext) {
  auto context = OaepContext(key, digest, /*encrypt=*/false);
  if (!context.ok()) return context.status();
  const auto* in = reinterpret_cast<const unsigned char*>(ciphertext.data());
  size_t length = 0;
  if (EVP_PKEY_decrypt(context->get(), nullptr, &length, in, ciphertext.size()) != 1) {
    return UnwrapFailed();
  }
  SecretBytes plaintext(length);
  if (EVP_PKEY_decrypt(context->get(), plaintext.data(), &length, in, ciphertext.size()) != 1) {
    return UnwrapFailed();
  }
  SecretBytes exact(plaintext.data(), length);
  return exact;  // plaintext wipes its buffer as it goes
}

// AES-256 key wrap with padding, in either direction.
absl::StatusOr<SecretBytes> KeyWrapPad(const SecretBytes& key, std::string_view input, bool wrap) {
  if (key.size() != kEphemeralAesKeySize) return UnwrapFailed();
  Cipher cipher(EVP_CIPHER_fetch(nullptr, "AES-256-WRAP-PAD", nullptr));
  CipherContext context(EVP_CIPHER_CTX_new());
  if (!cipher || !context) return OpenSslFailure("set up AES key wrap");
  if (EVP_CipherInit_ex(context.get(), cipher.get(), nullptr, key.data(), nullptr, wrap ? 1 : 0) !=
      1) {
    return OpenSslFailure("set up AES key wrap");
  }
  // Wrapping adds at most 15 bytes (the 8-byte integrity block and padding to 8).
  SecretBytes output(input.size() + 2 * kKeyWrapBlock);
  int length = 0;
  if (EVP_CipherUpdate(context.get(), output.data(), &length,
                       reinterpret_cast<const unsigned char*>(input.data()),
                       static_cast<int>(input.size())) != 1 ||
      length < 0) {
    if (wrap) return OpenSslFailure("wrap with AES");
    return UnwrapFailed();
  }
  int final_length = 0;
  if (EVP_CipherFinal_ex(context.get(), output.data() + length, &final_length) != 1) {
    if (wrap) return OpenSslFailure("wrap with AES");
    return UnwrapFailed();
  }
  return SecretBytes(output.data(), static_cast<size_t>(length + final_length));
}

absl::Status WrongMaterial(const KeySpecInfo& spec, std::string_view what) {
  return Error(ErrorType::kIncorrectKeyMaterial,
               StrCat("The key material is not valid for a ", spec.name, " KMS key: ", what, "."));
}

}  // namespace

std::string_view WrappingAlgorithmName(WrappingAlgorithm algorithm) {
  for (const AlgorithmName& entry : kAlgorithms) {
    if (entry.algorithm == algorithm) return entry.name;
  }
  return "";
}

std::optional<WrappingAlgorithm> ParseWrappingAlgorithm(std::string_view name) {
  for (const AlgorithmName& entry : kAlgorithms) {
    if (entry.name == name) return entry.algorithm;
  }
  return std::nullopt;
}

bool IsRsaAesKeyWrap(WrappingAlgorithm algorithm) {
  return algorithm == WrappingAlgorithm::kRsaAesKeyWrapSha1 ||
         algorithm == WrappingAlgorithm::kRsaAesKeyWrapSha256;
}

size_t MaxOaepPlaintext(int modulus_bits, WrappingAlgorithm algorithm) {
  size_t digest = std::string_view(OaepDigest(algorithm)) == "SHA1" ? 20 : 32;
  size_t k = RsaCiphertextSize(modulus_bits);
  return k > 2 * digest + 2 ? k - 2 * digest - 2 : 0;
}

absl::StatusOr<WrappingKeyPair> GenerateWrappingKey(int modulus_bits) {
  if (modulus_bits != 2048 && modulus_bits != 3072 && modulus_bits != 4096) {
    return Internal("a wrapping key is RSA_2048, RSA_3072 or RSA_4096");
  }
  const KeySpecInfo* spec = FindKeySpec(StrCat("RSA_", modulus_bits));
  if (!spec) return Internal("the RSA key specs are missing from the table");
  auto material = GenerateKeyMaterial(*spec);
  if (!material.ok()) return material.status();
  auto parsed = PrivateKey::FromPkcs8(*material, *spec);
  if (!parsed.ok()) return parsed.status();
  return WrappingKeyPair{std::move(*material), (*parsed)->PublicKeyDer()};
}

absl::StatusOr<SecretBytes> UnwrapKeyMaterial(const SecretBytes& wrapping_private_key,
                                              WrappingAlgorithm algorithm,
                                              std::string_view encrypted) {
  bool oaep = algorithm == WrappingAlgorithm::kRsaesOaepSha1 ||
              algorithm == WrappingAlgorithm::kRsaesOaepSha256;
  if (!oaep && !IsRsaAesKeyWrap(algorithm)) {
    return Internal("unwrapping with an algorithm kmsd does not offer");
  }
  Pkey key = ParsePkcs8(wrapping_private_key);
  if (!key || !EVP_PKEY_is_a(key.get(), "RSA")) return Internal("stored wrapping key is malformed");
  size_t rsa_size = RsaCiphertextSize(EVP_PKEY_get_bits(key.get()));
  if (oaep) {
    if (encrypted.size() != rsa_size) return UnwrapFailed();
    return OaepDecrypt(key.get(), OaepDigest(algorithm), encrypted);
  }
  // RSA_AES_KEY_WRAP: the RSA-wrapped AES key, then the AES-wrapped material (at least the
  // RFC 5649 minimum of two blocks, a whole number of blocks).
  if (encrypted.size() < rsa_size + 2 * kKeyWrapBlock ||
      (encrypted.size() - rsa_size) % kKeyWrapBlock != 0) {
    return UnwrapFailed();
  }
  auto aes_key = OaepDecrypt(key.get(), OaepDigest(algorithm), encrypted.substr(0, rsa_size));
  if (!aes_key.ok()) return aes_key.status();
  return KeyWrapPad(*aes_key, encrypted.substr(rsa_size), /*wrap=*/false);
}

MaterialLength ImportedMaterialLength(const KeySpecInfo& spec) {
  if (spec.family == KeyFamily::kSymmetric) return {32, 32};
  if (spec.family != KeyFamily::kHmac) return {0, 0};
  // From the digest's output length up to its block size (64 bytes for SHA-224/256, 128 for
  // SHA-384/512), as AWS's requirements for imported HMAC keys say.
  size_t digest = static_cast<size_t>(spec.bits) / 8;
  return {digest, spec.bits <= 256 ? size_t{64} : size_t{128}};
}

absl::StatusOr<std::string> CheckImportedMaterial(const KeySpecInfo& spec,
                                                  const SecretBytes& material) {
  static constexpr std::string_view kFingerprintLabel = "kmsd/imported-key-material/v1";
  if (spec.family == KeyFamily::kSymmetric || spec.family == KeyFamily::kHmac) {
    MaterialLength length = ImportedMaterialLength(spec);
    if (material.size() < length.min || material.size() > length.max) {
      return WrongMaterial(
          spec, length.min == length.max
                    ? StrCat("it must be ", length.min, " bytes long")
                    : StrCat("it must be ", length.min, " to ", length.max, " bytes long"));
    }
    // An HMAC under the material: the same material gives the same fingerprint, and the
    // fingerprint tells nothing about the material.
    return HmacSha256(material.view(), kFingerprintLabel);
  }
  if (!spec.Asymmetric()) return WrongMaterial(spec, "kmsd cannot import material of this spec");
  Pkey key = ParsePkcs8(material);
  if (!key) return WrongMaterial(spec, "it is not a DER-encoded PKCS#8 private key");
  auto parsed = PrivateKey::FromPkcs8(material, spec);
  if (!parsed.ok()) {
    std::string expected = spec.family == KeyFamily::kRsa
                               ? StrCat("it is not a ", spec.bits, "-bit RSA private key")
                           : spec.family == KeyFamily::kEdwards
                               ? std::string("it is not an Ed25519 private key")
                               : StrCat("it is not a private key on curve ", spec.curve);
    return WrongMaterial(spec, expected);
  }
  // The private key must belong to its public key (and for RSA, its primes be consistent).
  PkeyContext context(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!context) return OpenSslFailure("make a key context");
  if (EVP_PKEY_pairwise_check(context.get()) != 1) {
    return WrongMaterial(spec, "its key pair does not check out");
  }
  return Sha256(StrCat(kFingerprintLabel, (*parsed)->PublicKeyDer()));
}

absl::StatusOr<std::string> AesKeyWrapPad(const SecretBytes& key, std::string_view plaintext) {
  auto wrapped = KeyWrapPad(key, plaintext, /*wrap=*/true);
  if (!wrapped.ok()) return wrapped.status();
  return std::string(wrapped->view());
}

absl::StatusOr<SecretBytes> AesKeyUnwrapPad(const SecretBytes& key, std::string_view wrapped) {
  if (wrapped.size() < 2 * kKeyWrapBlock || wrapped.size() % kKeyWrapBlock != 0) {
    return UnwrapFailed();
  }
  return KeyWrapPad(key, wrapped, /*wrap=*/false);
}

absl::StatusOr<std::string> RsaOaepEncrypt(std::string_view public_key_der, std::string_view digest,
                                           std::string_view plaintext) {
  const auto* in = reinterpret_cast<const unsigned char*>(public_key_der.data());
  Pkey key(d2i_PUBKEY(nullptr, &in, static_cast<long>(public_key_der.size())));
  if (!key || !EVP_PKEY_is_a(key.get(), "RSA")) {
    return Error(ErrorType::kValidation, "The public key is not an RSA public key.");
  }
  const std::string digest_name(digest);
  auto context = OaepContext(key.get(), digest_name.c_str(), /*encrypt=*/true);
  if (!context.ok()) return context.status();
  const auto* message = reinterpret_cast<const unsigned char*>(plaintext.data());
  size_t length = 0;
  if (EVP_PKEY_encrypt(context->get(), nullptr, &length, message, plaintext.size()) != 1) {
    return OpenSslFailure("encrypt with RSA-OAEP");
  }
  std::string ciphertext(length, '\0');
  if (EVP_PKEY_encrypt(context->get(), reinterpret_cast<unsigned char*>(ciphertext.data()), &length,
                       message, plaintext.size()) != 1) {
    return Error(ErrorType::kValidation, "The plaintext is too long for RSA-OAEP with this key.");
  }
  ciphertext.resize(length);
  return ciphertext;
}

}  // namespace kmsd::crypto
