// Asymmetric and HMAC key material and primitives (include/kmsd/asymmetric.h) over OpenSSL 3 EVP.
#include "kmsd/asymmetric.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <string>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyContextFree {
  void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};
struct Pkcs8Free {
  // PKCS8_PRIV_KEY_INFO's free wipes the private key octets it holds.
  void operator()(PKCS8_PRIV_KEY_INFO* info) const { PKCS8_PRIV_KEY_INFO_free(info); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyContext = std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree>;

absl::Status OpenSslFailure(std::string_view what) {
  return Internal(StrCat("OpenSSL failed to ", what));
}

// The DER PKCS#8 PrivateKeyInfo of key, straight into SecretBytes.
absl::StatusOr<SecretBytes> Pkcs8Der(EVP_PKEY* key) {
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, Pkcs8Free> info(EVP_PKEY2PKCS8(key));
  if (!info) return OpenSslFailure("encode a private key");
  int length = i2d_PKCS8_PRIV_KEY_INFO(info.get(), nullptr);
  if (length <= 0) return OpenSslFailure("encode a private key");
  SecretBytes der(static_cast<size_t>(length));
  unsigned char* out = der.data();
  if (i2d_PKCS8_PRIV_KEY_INFO(info.get(), &out) != length) {
    return OpenSslFailure("encode a private key");
  }
  return der;
}

absl::StatusOr<std::string> PublicDer(EVP_PKEY* key) {
  int length = i2d_PUBKEY(key, nullptr);
  if (length <= 0) return OpenSslFailure("encode a public key");
  std::string der(static_cast<size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key, &out) != length) return OpenSslFailure("encode a public key");
  return der;
}

// Whether the parsed key is what the spec says the key's material is.
bool MatchesSpec(EVP_PKEY* key, const KeySpecInfo& spec) {
  if (spec.family == KeyFamily::kRsa) {
    return EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) == spec.bits;
  }
  if (spec.family == KeyFamily::kEcc) {
    char group[64] = {};
    size_t length = 0;
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &length) != 1) {
      return false;
    }
    // OpenSSL names the NIST curves by their SECG/X9.62 names.
    std::string_view name(group, length);
    std::string_view expected = spec.curve == "P-256"   ? "prime256v1"
                                : spec.curve == "P-384" ? "secp384r1"
                                : spec.curve == "P-521" ? "secp521r1"
                                                        : spec.curve;
    return name == expected || name == spec.curve;
  }
  return false;
}

// The message's digest under the algorithm, or the message when it already is one.
absl::StatusOr<std::string> DigestOf(const SigningAlgorithmInfo& algorithm,
                                     std::string_view message, bool is_digest) {
  if (is_digest) {
    if (message.size() != algorithm.digest_size) {
      return Validation(StrCat("Digest is invalid length for algorithm ", algorithm.name, "."));
    }
    return std::string(message);
  }
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  size_t length = 0;
  if (EVP_Q_digest(nullptr, std::string(algorithm.digest).c_str(), nullptr, message.data(),
                   message.size(), reinterpret_cast<unsigned char*>(digest.data()), &length) != 1 ||
      length != algorithm.digest_size) {
    return OpenSslFailure("hash a message");
  }
  digest.resize(algorithm.digest_size);
  return digest;
}

// A signing or verifying context of key set up for the algorithm (padding, digest, PSS salt).
absl::StatusOr<PkeyContext> SignatureContext(EVP_PKEY* key, const SigningAlgorithmInfo& algorithm,
                                             bool for_signing) {
  PkeyContext context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!context) return OpenSslFailure("make a signature context");
  int ok = for_signing ? EVP_PKEY_sign_init(context.get()) : EVP_PKEY_verify_init(context.get());
  if (ok != 1) return OpenSslFailure("start a signature");
  if (algorithm.padding != SignaturePadding::kEcdsa) {
    bool pss = algorithm.padding == SignaturePadding::kPss;
    if (EVP_PKEY_CTX_set_rsa_padding(context.get(),
                                     pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1) {
      return OpenSslFailure("set the RSA padding");
    }
    // AWS's RSASSA-PSS: MGF1 with the message digest, salt as long as the digest.
    if (pss && EVP_PKEY_CTX_set_rsa_pss_saltlen(context.get(), RSA_PSS_SALTLEN_DIGEST) != 1) {
      return OpenSslFailure("set the PSS salt length");
    }
  }
  const std::string digest_name(algorithm.digest);
  if (EVP_PKEY_CTX_set_signature_md(context.get(), EVP_get_digestbyname(digest_name.c_str())) !=
      1) {
    return OpenSslFailure("set the signature digest");
  }
  return context;
}

}  // namespace

absl::StatusOr<SecretBytes> GenerateKeyMaterial(const KeySpecInfo& spec) {
  switch (spec.family) {
    case KeyFamily::kSymmetric:
    case KeyFamily::kHmac:
      return RandomSecret(spec.MaterialSize());
    case KeyFamily::kRsa: {
      Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(spec.bits)));
      if (!key) return OpenSslFailure("generate an RSA key");
      return Pkcs8Der(key.get());
    }
    case KeyFamily::kEcc: {
      const std::string curve(spec.curve);
      Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str()));
      if (!key) return OpenSslFailure("generate an EC key");
      return Pkcs8Der(key.get());
    }
    case KeyFamily::kUnsupported:
      break;
  }
  return Error(ErrorType::kUnsupportedOperation, spec.unsupported_reason);
}

absl::StatusOr<std::shared_ptr<const PrivateKey>> PrivateKey::FromPkcs8(const SecretBytes& der,
                                                                        const KeySpecInfo& spec) {
  const unsigned char* in = der.data();
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, Pkcs8Free> info(
      d2i_PKCS8_PRIV_KEY_INFO(nullptr, &in, static_cast<long>(der.size())));
  if (!info || in != der.data() + der.size()) {
    return Internal("stored private key is malformed");
  }
  Pkey key(EVP_PKCS82PKEY(info.get()));
  if (!key || !MatchesSpec(key.get(), spec)) {
    return Internal(StrCat("stored private key is not a ", spec.name, " key"));
  }
  auto public_der = PublicDer(key.get());
  if (!public_der.ok()) return public_der.status();
  return std::shared_ptr<const PrivateKey>(new PrivateKey(key.release(), std::move(*public_der)));
}

PrivateKey::PrivateKey(evp_pkey_st* key, std::string public_key_der)
    : key_(key), public_key_der_(std::move(public_key_der)) {}

PrivateKey::~PrivateKey() { EVP_PKEY_free(key_); }

absl::StatusOr<std::string> PrivateKey::Sign(const SigningAlgorithmInfo& algorithm,
                                             std::string_view message, bool is_digest) const {
  auto digest = DigestOf(algorithm, message, is_digest);
  if (!digest.ok()) return digest.status();
  auto context = SignatureContext(key_, algorithm, /*for_signing=*/true);
  if (!context.ok()) return context.status();
  const auto* digest_bytes = reinterpret_cast<const unsigned char*>(digest->data());
  size_t length = 0;
  if (EVP_PKEY_sign(context->get(), nullptr, &length, digest_bytes, digest->size()) != 1) {
    return OpenSslFailure("sign");
  }
  std::string signature(length, '\0');
  if (EVP_PKEY_sign(context->get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                    digest_bytes, digest->size()) != 1) {
    return OpenSslFailure("sign");
  }
  signature.resize(length);  // ECDSA's DER length varies
  return signature;
}

absl::StatusOr<bool> PrivateKey::Verify(const SigningAlgorithmInfo& algorithm,
                                        std::string_view message, bool is_digest,
                                        std::string_view signature) const {
  auto digest = DigestOf(algorithm, message, is_digest);
  if (!digest.ok()) return digest.status();
  auto context = SignatureContext(key_, algorithm, /*for_signing=*/false);
  if (!context.ok()) return context.status();
  int verified = EVP_PKEY_verify(
      context->get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(digest->data()), digest->size());
  // 0: a wrong signature; < 0: one OpenSSL could not even parse. Both are simply not valid.
  return verified == 1;
}

absl::StatusOr<std::string> Hmac(const MacAlgorithmInfo& algorithm, const SecretBytes& key,
                                 std::string_view message) {
  std::string mac(algorithm.mac_size, '\0');
  size_t length = 0;
  const std::string digest(algorithm.digest);
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest.c_str(), nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                reinterpret_cast<unsigned char*>(mac.data()), mac.size(), &length) == nullptr ||
      length != algorithm.mac_size) {
    return OpenSslFailure("compute an HMAC");
  }
  return mac;
}

}  // namespace kmsd::crypto
