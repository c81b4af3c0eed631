// Asymmetric and HMAC key material and primitives (include/kmsd/asymmetric.h) over OpenSSL 3 EVP,
// and Ed25519ph over libsodium.
#include "kmsd/asymmetric.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "crypto/ed25519.h"
#include "crypto/openssl_handles.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::crypto {
namespace {

constexpr size_t kMaxHmacBlockSize = 128;  // SHA-384 and SHA-512

struct X509PubkeyFree {
  void operator()(X509_PUBKEY* key) const { X509_PUBKEY_free(key); }
};

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

// The curve of an EC key (OpenSSL's NID), or NID_undef.
int CurveOf(EVP_PKEY* key) {
  char group[64] = {};
  size_t length = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &length) != 1) {
    return NID_undef;
  }
  return OBJ_sn2nid(group);
}

// Whether the parsed key is what the spec says the key's material is.
bool MatchesSpec(EVP_PKEY* key, const KeySpecInfo& spec) {
  if (spec.family == KeyFamily::kRsa) {
    return EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) == spec.bits;
  }
  if (spec.family == KeyFamily::kEcc) {
    // The table names the NIST curves by their NIST names ("P-256"), OpenSSL by SECG/X9.62's.
    const std::string curve(spec.curve);
    int expected = EC_curve_nist2nid(curve.c_str());
    if (expected == NID_undef) expected = OBJ_sn2nid(curve.c_str());
    return expected != NID_undef && CurveOf(key) == expected;
  }
  if (spec.family == KeyFamily::kEdwards) return EVP_PKEY_is_a(key, "ED25519");
  return false;
}

bool IsEdwards(const SigningAlgorithmInfo& algorithm) {
  return algorithm.padding == SignaturePadding::kEd25519 ||
         algorithm.padding == SignaturePadding::kEd25519ph;
}

// AWS's Ed25519 algorithms each take one MessageType (the service model's KeySpec and Sign
// documentation); the others take both.
absl::Status CheckMessageType(const SigningAlgorithmInfo& algorithm, bool is_digest) {
  if (algorithm.message == SignatureMessage::kRawOrDigest ||
      (algorithm.message == SignatureMessage::kDigestOnly) == is_digest) {
    return absl::OkStatus();
  }
  std::string_view required = is_digest ? "RAW" : "DIGEST";
  return Validation(
      StrCat("MessageType ", is_digest ? "DIGEST" : "RAW", " is not valid with signing algorithm ",
             algorithm.name, ", which requires MessageType ", required,
             ". For ECC_NIST_EDWARDS25519 KMS keys, ED25519_SHA_512 requires MessageType RAW and "
             "ED25519_PH_SHA_512 requires MessageType DIGEST; these message types cannot be used "
             "interchangeably."));
}

struct MdFree {
  void operator()(EVP_MD* digest) const { EVP_MD_free(digest); }
};
struct MdContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// The digests of the signing and MAC algorithms, fetched once for the life of the process: a
// name (EVP_Q_digest, EVP_get_digestbyname) is looked up again on every call, under OpenSSL's
// global lock. nullptr for a name OpenSSL does not offer.
const EVP_MD* FetchedDigest(std::string_view name) {
  static const auto* const kDigests = [] {
    auto* digests = new std::vector<std::pair<std::string, std::unique_ptr<EVP_MD, MdFree>>>;
    for (const char* fetched : {"SHA224", "SHA256", "SHA384", "SHA512", "SHA1"}) {
      digests->emplace_back(fetched, EVP_MD_fetch(nullptr, fetched, nullptr));
    }
    return digests;
  }();
  for (const auto& digest : *kDigests) {
    if (digest.first == name) return digest.second.get();
  }
  return nullptr;
}

// Each thread's one digest context for the messages it hashes (reinitialised per message).
EVP_MD_CTX* ThreadDigestContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdContextFree> context(EVP_MD_CTX_new());
  return context.get();
}

// The digest of the concatenation of parts into out (EVP_MAX_MD_SIZE bytes); its length, or 0.
size_t DigestInto(const EVP_MD* digest, std::initializer_list<std::string_view> parts,
                  unsigned char* out) {
  EVP_MD_CTX* context = ThreadDigestContext();
  if (!context || !digest || EVP_DigestInit_ex2(context, digest, nullptr) != 1) return 0;
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(context, part.data(), part.size()) != 1) return 0;
  }
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context, out, &length) != 1) return 0;
  return length;
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
  size_t length = DigestInto(FetchedDigest(algorithm.digest), {message},
                             reinterpret_cast<unsigned char*>(digest.data()));
  if (length != algorithm.digest_size) return OpenSslFailure("hash a message");
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
  const EVP_MD* digest = FetchedDigest(algorithm.digest);
  if (!digest || EVP_PKEY_CTX_set_signature_md(context.get(), digest) != 1) {
    return OpenSslFailure("set the signature digest");
  }
  return context;
}

// A fresh signature context: a copy of prototype, or one set up as asked when there is none (an
// algorithm not of the key's spec: the caller has checked it, so only tests get here).
absl::StatusOr<PkeyContext> CopyOrSetUp(EVP_PKEY_CTX* prototype, EVP_PKEY* key,
                                        const SigningAlgorithmInfo& algorithm, bool for_signing) {
  if (!prototype) return SignatureContext(key, algorithm, for_signing);
  PkeyContext copy(EVP_PKEY_CTX_dup(prototype));
  if (!copy) return OpenSslFailure("copy a signature context");
  return copy;
}

// An RSA context of key set up for RSAES-OAEP with the algorithm's digest as hash and MGF1 hash.
absl::StatusOr<PkeyContext> OaepContext(EVP_PKEY* key, const EncryptionAlgorithmInfo& algorithm,
                                        bool for_encryption) {
  PkeyContext context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!context) return OpenSslFailure("make an encryption context");
  int ok =
      for_encryption ? EVP_PKEY_encrypt_init(context.get()) : EVP_PKEY_decrypt_init(context.get());
  if (ok != 1) return OpenSslFailure("start an RSA encryption");
  const EVP_MD* digest = FetchedDigest(algorithm.digest);
  if (EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_OAEP_PADDING) != 1 || !digest ||
      EVP_PKEY_CTX_set_rsa_oaep_md(context.get(), digest) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), digest) != 1) {
    return OpenSslFailure("set up RSAES-OAEP");
  }
  return context;
}

// AWS's name of a curve where it has one ("ECC_NIST_P256"), else OpenSSL's.
std::string CurveName(int nid) {
  switch (nid) {
    case NID_X9_62_prime256v1:
      return "ECC_NIST_P256 (secp256r1)";
    case NID_secp384r1:
      return "ECC_NIST_P384 (secp384r1)";
    case NID_secp521r1:
      return "ECC_NIST_P521 (secp521r1)";
    case NID_secp256k1:
      return "ECC_SECG_P256K1 (secp256k1)";
    default: {
      const char* name = OBJ_nid2sn(nid);
      return name ? name : "an unknown curve";
    }
  }
}

// The peer's public key of DeriveSharedSecret, checked as the request's PublicKey: DER
// SubjectPublicKeyInfo, nothing after it, an EC key by a named curve, that curve, a point on it.
absl::StatusOr<Pkey> PeerPublicKey(std::string_view der, int curve) {
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509_PUBKEY, X509PubkeyFree> info(
      d2i_X509_PUBKEY(nullptr, &in, static_cast<long>(der.size())));
  if (!info || in != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Validation(
        "PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo (SPKI) as RFC 5280 defines "
        "it. Give the peer's public key in DER, not PEM or base64 of base64.");
  }
  ASN1_OBJECT* algorithm = nullptr;
  X509_ALGOR* parameters = nullptr;
  if (X509_PUBKEY_get0_param(&algorithm, nullptr, nullptr, &parameters, info.get()) != 1) {
    return Validation("PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo (SPKI).");
  }
  if (OBJ_obj2nid(algorithm) != NID_X9_62_id_ecPublicKey) {
    return Validation(
        StrCat("PublicKey is not an elliptic curve (EC) public key; ECDH needs the "
               "peer's public key on the KMS key's curve, ",
               CurveName(curve), "."));
  }
  int type = V_ASN1_UNDEF;
  const void* value = nullptr;
  X509_ALGOR_get0(nullptr, &type, &value, parameters);
  if (type != V_ASN1_OBJECT) {
    return Validation(
        "PublicKey must name its curve (namedCurve); explicit curve parameters are "
        "not accepted.");
  }
  int peer_curve = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(value));
  if (peer_curve != curve) {
    return Validation(StrCat("PublicKey is on curve ", CurveName(peer_curve),
                             ", but the KMS key is on ", CurveName(curve),
                             ". Both key pairs must be on the same curve."));
  }
  // The point is decoded (and checked to be on the curve) when the key is first asked for.
  EVP_PKEY* key = X509_PUBKEY_get0(info.get());
  if (!key) {
    return Validation(StrCat("PublicKey is not a valid point on curve ", CurveName(curve), "."));
  }
  if (!EVP_PKEY_up_ref(key)) return OpenSslFailure("keep a public key");
  Pkey peer(key);
  PkeyContext check(EVP_PKEY_CTX_new_from_pkey(nullptr, peer.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return Validation(StrCat("PublicKey is not a valid point on curve ", CurveName(curve), "."));
  }
  return peer;
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
    case KeyFamily::kEdwards: {
      Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      if (!key) return OpenSslFailure("generate an Ed25519 key");
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
  // One signing and one verifying context per algorithm of the spec, set up once; each call
  // works on a copy (EVP_PKEY_CTX_dup only reads its source, so threads may copy at once).
  // Setting one up costs 2-4 µs of fetches and parameter lookups, a tenth of a P-256 signature.
  std::vector<SignaturePrototype> prototypes;
  for (std::string_view name : spec.signing_algorithms) {
    const SigningAlgorithmInfo* algorithm = FindSigningAlgorithm(name);
    if (!algorithm) continue;  // in AWS's list, not run by kmsd (SM2DSA)
    // Ed25519 signs in one shot through an EVP_MD_CTX (or libsodium): no EVP_PKEY_CTX to keep.
    if (IsEdwards(*algorithm)) continue;
    auto signing = SignatureContext(key.get(), *algorithm, /*for_signing=*/true);
    if (!signing.ok()) return signing.status();
    auto verifying = SignatureContext(key.get(), *algorithm, /*for_signing=*/false);
    if (!verifying.ok()) return verifying.status();
    prototypes.push_back({algorithm, signing->release(), verifying->release()});
  }
  std::shared_ptr<PrivateKey> parsed(
      new PrivateKey(key.release(), std::move(*public_der), std::move(prototypes)));
  if (spec.family == KeyFamily::kEdwards) {
    if (auto status = Ed25519LibsodiumKey(parsed->key_, parsed->ed25519ph_secret_key_,
                                          parsed->ed25519_public_key_);
        !status.ok()) {
      return status;
    }
  }
  return std::shared_ptr<const PrivateKey>(std::move(parsed));
}

PrivateKey::PrivateKey(evp_pkey_st* key, std::string public_key_der,
                       std::vector<SignaturePrototype> prototypes)
    : key_(key), public_key_der_(std::move(public_key_der)), prototypes_(std::move(prototypes)) {}

PrivateKey::~PrivateKey() {
  // The contexts hold references to the key; it is freed (and its private BIGNUMs cleared) with
  // the last of them.
  for (const SignaturePrototype& prototype : prototypes_) {
    EVP_PKEY_CTX_free(prototype.signing);
    EVP_PKEY_CTX_free(prototype.verifying);
  }
  EVP_PKEY_free(key_);
}

evp_pkey_ctx_st* PrivateKey::PrototypeFor(const SigningAlgorithmInfo& algorithm,
                                          bool for_signing) const {
  for (const SignaturePrototype& prototype : prototypes_) {
    if (prototype.algorithm == &algorithm || prototype.algorithm->name == algorithm.name) {
      return for_signing ? prototype.signing : prototype.verifying;
    }
  }
  return nullptr;
}

absl::StatusOr<std::string> PrivateKey::Sign(const SigningAlgorithmInfo& algorithm,
                                             std::string_view message, bool is_digest) const {
  if (auto status = CheckMessageType(algorithm, is_digest); !status.ok()) return status;
  if (IsEdwards(algorithm)) {
    if (ed25519_public_key_.empty()) return Internal("Ed25519 signatures need an Ed25519 key");
    if (algorithm.padding == SignaturePadding::kEd25519) return Ed25519Sign(key_, message);
    if (message.size() != algorithm.digest_size) {
      return Validation(StrCat("Digest is invalid length for algorithm ", algorithm.name, "."));
    }
    return Ed25519phSign(ed25519ph_secret_key_, message);
  }
  auto digest = DigestOf(algorithm, message, is_digest);
  if (!digest.ok()) return digest.status();
  auto context = CopyOrSetUp(PrototypeFor(algorithm, /*for_signing=*/true), key_, algorithm,
                             /*for_signing=*/true);
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
  if (auto status = CheckMessageType(algorithm, is_digest); !status.ok()) return status;
  if (IsEdwards(algorithm)) {
    if (ed25519_public_key_.empty()) return Internal("Ed25519 signatures need an Ed25519 key");
    if (algorithm.padding == SignaturePadding::kEd25519) {
      return Ed25519Verify(key_, message, signature);
    }
    if (message.size() != algorithm.digest_size) {
      return Validation(StrCat("Digest is invalid length for algorithm ", algorithm.name, "."));
    }
    return Ed25519phVerify(ed25519_public_key_, message, signature);
  }
  auto digest = DigestOf(algorithm, message, is_digest);
  if (!digest.ok()) return digest.status();
  auto context = CopyOrSetUp(PrototypeFor(algorithm, /*for_signing=*/false), key_, algorithm,
                             /*for_signing=*/false);
  if (!context.ok()) return context.status();
  int verified = EVP_PKEY_verify(
      context->get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(digest->data()), digest->size());
  // 0: a wrong signature; < 0: one OpenSSL could not even parse. Both are simply not valid.
  return verified == 1;
}

absl::StatusOr<std::string> PrivateKey::Encrypt(const EncryptionAlgorithmInfo& algorithm,
                                                std::string_view plaintext) const {
  auto context = OaepContext(key_, algorithm, /*for_encryption=*/true);
  if (!context.ok()) return context.status();
  const auto* in = reinterpret_cast<const unsigned char*>(plaintext.data());
  size_t length = 0;
  if (EVP_PKEY_encrypt(context->get(), nullptr, &length, in, plaintext.size()) != 1) {
    return OpenSslFailure("encrypt with RSAES-OAEP");
  }
  std::string ciphertext(length, '\0');
  if (EVP_PKEY_encrypt(context->get(), reinterpret_cast<unsigned char*>(ciphertext.data()), &length,
                       in, plaintext.size()) != 1) {
    return OpenSslFailure("encrypt with RSAES-OAEP");
  }
  ciphertext.resize(length);
  return ciphertext;
}

absl::StatusOr<SecretBytes> PrivateKey::Decrypt(const EncryptionAlgorithmInfo& algorithm,
                                                std::string_view ciphertext) const {
  auto invalid = [] {
    return Error(ErrorType::kInvalidCiphertext,
                 "The ciphertext is invalid: it is not an RSAES-OAEP ciphertext of this KMS key "
                 "with this encryption algorithm.");
  };
  // An OAEP ciphertext is exactly as long as the modulus.
  if (ciphertext.size() != static_cast<size_t>(EVP_PKEY_get_size(key_))) return invalid();
  auto context = OaepContext(key_, algorithm, /*for_encryption=*/false);
  if (!context.ok()) return context.status();
  const auto* in = reinterpret_cast<const unsigned char*>(ciphertext.data());
  SecretBytes buffer(ciphertext.size());
  size_t length = buffer.size();
  if (EVP_PKEY_decrypt(context->get(), buffer.data(), &length, in, ciphertext.size()) != 1) {
    return invalid();
  }
  // AWS's plaintexts are 1..4096 bytes: an empty one decrypts, but Decrypt cannot answer it.
  if (length == 0) return invalid();
  return SecretBytes(buffer.data(), length);
}

absl::StatusOr<SecretBytes> PrivateKey::DeriveSharedSecret(
    std::string_view peer_public_key_der) const {
  int curve = CurveOf(key_);
  if (curve == NID_undef) return Internal("ECDH needs an elliptic curve key");
  auto peer = PeerPublicKey(peer_public_key_der, curve);
  if (!peer.ok()) return peer.status();
  PkeyContext context(EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
  if (!context || EVP_PKEY_derive_init(context.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(context.get(), peer->get(), /*validate_peer=*/1) != 1) {
    return Validation(
        StrCat("PublicKey cannot be used for ECDH with a key on curve ", CurveName(curve), "."));
  }
  size_t length = 0;
  if (EVP_PKEY_derive(context.get(), nullptr, &length) != 1) return OpenSslFailure("run ECDH");
  SecretBytes secret(length);
  if (EVP_PKEY_derive(context.get(), secret.data(), &length) != 1 || length != secret.size()) {
    return OpenSslFailure("run ECDH");
  }
  return secret;
}

absl::StatusOr<DataKeyPair> GenerateDataKeyPair(std::string_view key_pair_spec) {
  Pkey key;
  const KeySpecInfo* spec = FindKeySpec(key_pair_spec);
  if (spec && spec->family == KeyFamily::kRsa) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(spec->bits)));
  } else if (spec && spec->family == KeyFamily::kEcc) {
    const std::string curve(spec->curve);
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.c_str()));
  } else if (spec && spec->family == KeyFamily::kEdwards) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  } else {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("KeyPairSpec ", key_pair_spec, " is not supported by kmsd"));
  }
  if (!key) return OpenSslFailure(StrCat("generate a ", key_pair_spec, " key pair"));
  auto private_der = Pkcs8Der(key.get());
  if (!private_der.ok()) return private_der.status();
  auto public_der = PublicDer(key.get());
  if (!public_der.ok()) return public_der.status();
  return DataKeyPair{std::move(*private_der), std::move(*public_der)};
}

// RFC 2104 over the thread's digest context with the digest fetched once: the bytes of OpenSSL's
// HMAC (checked against it and RFC 4231), without EVP_Q_mac's lookups of "HMAC" and the digest
// by name, under OpenSSL's lock, on every call.
absl::StatusOr<std::string> Hmac(const MacAlgorithmInfo& algorithm, const SecretBytes& key,
                                 std::string_view message) {
  const EVP_MD* digest = FetchedDigest(algorithm.digest);
  if (!digest) return OpenSslFailure("compute an HMAC");
  const size_t block_size = static_cast<size_t>(EVP_MD_get_block_size(digest));
  unsigned char pad[kMaxHmacBlockSize] = {};
  unsigned char inner[EVP_MAX_MD_SIZE];
  unsigned char outer[EVP_MAX_MD_SIZE];
  auto wipe = [&] {
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(outer, sizeof(outer));
    // The context's last state is the MAC itself; resetting it wipes it.
    EVP_MD_CTX_reset(ThreadDigestContext());
  };
  bool ok = block_size <= sizeof(pad);
  if (ok && key.size() > block_size) {  // imported HMAC keys may be longer than a block
    ok = DigestInto(digest, {key.view()}, pad) == static_cast<size_t>(EVP_MD_get_size(digest));
  } else if (ok && key.size() > 0) {
    std::memcpy(pad, key.data(), key.size());
  }
  for (size_t i = 0; ok && i < block_size; ++i) pad[i] ^= 0x36;
  const std::string_view pad_view(reinterpret_cast<const char*>(pad), block_size);
  size_t inner_size = ok ? DigestInto(digest, {pad_view, message}, inner) : 0;
  for (size_t i = 0; i < block_size && inner_size; ++i) pad[i] ^= 0x36 ^ 0x5c;
  size_t outer_size =
      inner_size ? DigestInto(digest,
                              {pad_view,
                               std::string_view(reinterpret_cast<const char*>(inner), inner_size)},
                              outer)
                 : 0;
  if (outer_size != algorithm.mac_size) {
    wipe();
    return OpenSslFailure("compute an HMAC");
  }
  std::string mac(reinterpret_cast<const char*>(outer), outer_size);
  wipe();
  return mac;
}

}  // namespace kmsd::crypto
