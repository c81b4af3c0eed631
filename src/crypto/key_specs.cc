// The key spec table (include/kmsd/key_specs.h). The lists and their order are AWS's: the
// service model's KeyUsage documentation for the usages, DescribeKey's and CreateKey's examples for
// the algorithm lists.
#include "kmsd/key_specs.h"

#include <array>

namespace kmsd {
namespace {

using Names = std::span<const std::string_view>;

constexpr std::string_view kSymmetricUsages[] = {kEncryptDecrypt};
constexpr std::string_view kRsaUsages[] = {kEncryptDecrypt, kSignVerify};
constexpr std::string_view kNistCurveUsages[] = {kSignVerify, kKeyAgreement};
constexpr std::string_view kSignOnly[] = {kSignVerify};
constexpr std::string_view kMacOnly[] = {kGenerateVerifyMac};
constexpr std::string_view kSm2Usages[] = {kEncryptDecrypt, kSignVerify, kKeyAgreement};

constexpr std::string_view kSymmetricEncryption[] = {"SYMMETRIC_DEFAULT"};
constexpr std::string_view kRsaEncryption[] = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"};
constexpr std::string_view kRsaSigning[] = {
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",        "RSASSA_PSS_SHA_384",        "RSASSA_PSS_SHA_512"};
constexpr std::string_view kEcdsaSha256[] = {"ECDSA_SHA_256"};
constexpr std::string_view kEcdsaSha384[] = {"ECDSA_SHA_384"};
constexpr std::string_view kEcdsaSha512[] = {"ECDSA_SHA_512"};
constexpr std::string_view kEcdh[] = {"ECDH"};
constexpr std::string_view kHmacSha224[] = {"HMAC_SHA_224"};
constexpr std::string_view kHmacSha256[] = {"HMAC_SHA_256"};
constexpr std::string_view kHmacSha384[] = {"HMAC_SHA_384"};
constexpr std::string_view kHmacSha512[] = {"HMAC_SHA_512"};
constexpr std::string_view kSm2Encryption[] = {"SM2PKE"};
constexpr std::string_view kSm2Signing[] = {"SM2DSA"};
constexpr std::string_view kMlDsaSigning[] = {"ML_DSA_SHAKE_256"};
constexpr std::string_view kEd25519Signing[] = {"ED25519_SHA_512", "ED25519_PH_SHA_512"};

constexpr KeySpecInfo Rsa(std::string_view name, int bits) {
  return {.name = name,
          .family = KeyFamily::kRsa,
          .bits = bits,
          .usages = kRsaUsages,
          .encryption_algorithms = kRsaEncryption,
          .signing_algorithms = kRsaSigning};
}

constexpr KeySpecInfo NistCurve(std::string_view name, int bits, std::string_view curve,
                                Names signing) {
  return {.name = name,
          .family = KeyFamily::kEcc,
          .bits = bits,
          .curve = curve,
          .usages = kNistCurveUsages,
          .signing_algorithms = signing,
          .key_agreement_algorithms = kEcdh};
}

constexpr KeySpecInfo Hmac(std::string_view name, int bits, Names mac) {
  return {.name = name,
          .family = KeyFamily::kHmac,
          .bits = bits,
          .usages = kMacOnly,
          .mac_algorithms = mac};
}

constexpr std::string_view kMlDsaReason =
    "ML-DSA key specs are not supported by kmsd: its OpenSSL (3.0) has no ML-DSA";

constexpr KeySpecInfo MlDsa(std::string_view name) {
  return {.name = name,
          .family = KeyFamily::kUnsupported,
          .usages = kSignOnly,
          .signing_algorithms = kMlDsaSigning,
          .unsupported_reason = kMlDsaReason};
}

constexpr std::array kKeySpecs = {
    Rsa("RSA_2048", 2048),
    Rsa("RSA_3072", 3072),
    Rsa("RSA_4096", 4096),
    NistCurve("ECC_NIST_P256", 256, "P-256", kEcdsaSha256),
    NistCurve("ECC_NIST_P384", 384, "P-384", kEcdsaSha384),
    NistCurve("ECC_NIST_P521", 521, "P-521", kEcdsaSha512),
    KeySpecInfo{.name = "ECC_SECG_P256K1",
                .family = KeyFamily::kEcc,
                .bits = 256,
                .curve = "secp256k1",
                .usages = kSignOnly,
                .signing_algorithms = kEcdsaSha256},
    KeySpecInfo{.name = "SYMMETRIC_DEFAULT",
                .family = KeyFamily::kSymmetric,
                .bits = 256,
                .usages = kSymmetricUsages,
                .encryption_algorithms = kSymmetricEncryption},
    Hmac("HMAC_224", 224, kHmacSha224),
    Hmac("HMAC_256", 256, kHmacSha256),
    Hmac("HMAC_384", 384, kHmacSha384),
    Hmac("HMAC_512", 512, kHmacSha512),
    KeySpecInfo{.name = "SM2",
                .family = KeyFamily::kUnsupported,
                .usages = kSm2Usages,
                .encryption_algorithms = kSm2Encryption,
                .signing_algorithms = kSm2Signing,
                .key_agreement_algorithms = kEcdh,
                .unsupported_reason = "KeySpec SM2 is available only in China Regions"},
    MlDsa("ML_DSA_44"),
    MlDsa("ML_DSA_65"),
    MlDsa("ML_DSA_87"),
    // Pure Ed25519 through OpenSSL, Ed25519ph through libsodium (OpenSSL 3.0 has no Ed25519ph).
    KeySpecInfo{.name = "ECC_NIST_EDWARDS25519",
                .family = KeyFamily::kEdwards,
                .bits = 256,
                .curve = "ED25519",
                .usages = kSignOnly,
                .signing_algorithms = kEd25519Signing},
};

constexpr std::array kSigningAlgorithms = {
    SigningAlgorithmInfo{"RSASSA_PSS_SHA_256", "SHA256", 32, SignaturePadding::kPss},
    SigningAlgorithmInfo{"RSASSA_PSS_SHA_384", "SHA384", 48, SignaturePadding::kPss},
    SigningAlgorithmInfo{"RSASSA_PSS_SHA_512", "SHA512", 64, SignaturePadding::kPss},
    SigningAlgorithmInfo{"RSASSA_PKCS1_V1_5_SHA_256", "SHA256", 32, SignaturePadding::kPkcs1},
    SigningAlgorithmInfo{"RSASSA_PKCS1_V1_5_SHA_384", "SHA384", 48, SignaturePadding::kPkcs1},
    SigningAlgorithmInfo{"RSASSA_PKCS1_V1_5_SHA_512", "SHA512", 64, SignaturePadding::kPkcs1},
    SigningAlgorithmInfo{"ECDSA_SHA_256", "SHA256", 32, SignaturePadding::kEcdsa},
    SigningAlgorithmInfo{"ECDSA_SHA_384", "SHA384", 48, SignaturePadding::kEcdsa},
    SigningAlgorithmInfo{"ECDSA_SHA_512", "SHA512", 64, SignaturePadding::kEcdsa},
    // Ed25519 hashes with SHA-512 inside the algorithm; Ed25519ph's DIGEST is a SHA-512 digest,
    // which it hashes once more (the service model's SignRequest.MessageType).
    SigningAlgorithmInfo{"ED25519_SHA_512", "SHA512", 64, SignaturePadding::kEd25519,
                         SignatureMessage::kRawOnly},
    SigningAlgorithmInfo{"ED25519_PH_SHA_512", "SHA512", 64, SignaturePadding::kEd25519ph,
                         SignatureMessage::kDigestOnly},
};

constexpr std::array kMacAlgorithms = {
    MacAlgorithmInfo{"HMAC_SHA_224", "SHA224", 28},
    MacAlgorithmInfo{"HMAC_SHA_256", "SHA256", 32},
    MacAlgorithmInfo{"HMAC_SHA_384", "SHA384", 48},
    MacAlgorithmInfo{"HMAC_SHA_512", "SHA512", 64},
};

constexpr std::array kEncryptionAlgorithms = {
    EncryptionAlgorithmInfo{"RSAES_OAEP_SHA_1", "SHA1", 20},
    EncryptionAlgorithmInfo{"RSAES_OAEP_SHA_256", "SHA256", 32},
};

template <typename Table>
auto Find(const Table& table, std::string_view name) -> decltype(&table[0]) {
  for (const auto& entry : table) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace

std::span<const KeySpecInfo> AllKeySpecs() { return kKeySpecs; }

const KeySpecInfo* FindKeySpec(std::string_view name) { return Find(kKeySpecs, name); }

bool Lists(std::span<const std::string_view> list, std::string_view name) {
  for (std::string_view item : list) {
    if (item == name) return true;
  }
  return false;
}

bool AllowsUsage(const KeySpecInfo& spec, std::string_view usage) {
  return Lists(spec.usages, usage);
}

KeyAlgorithms AlgorithmsOf(const KeySpecInfo& spec, std::string_view usage) {
  KeyAlgorithms algorithms;
  if (!AllowsUsage(spec, usage)) return algorithms;
  if (usage == kEncryptDecrypt) algorithms.encryption = spec.encryption_algorithms;
  if (usage == kSignVerify) algorithms.signing = spec.signing_algorithms;
  if (usage == kKeyAgreement) algorithms.key_agreement = spec.key_agreement_algorithms;
  if (usage == kGenerateVerifyMac) algorithms.mac = spec.mac_algorithms;
  return algorithms;
}

const SigningAlgorithmInfo* FindSigningAlgorithm(std::string_view name) {
  return Find(kSigningAlgorithms, name);
}

const MacAlgorithmInfo* FindMacAlgorithm(std::string_view name) {
  return Find(kMacAlgorithms, name);
}

const EncryptionAlgorithmInfo* FindEncryptionAlgorithm(std::string_view name) {
  return Find(kEncryptionAlgorithms, name);
}

size_t MaxRsaPlaintext(const KeySpecInfo& spec, const EncryptionAlgorithmInfo& algorithm) {
  size_t modulus = static_cast<size_t>(spec.bits) / 8;
  size_t overhead = 2 * algorithm.digest_size + 2;
  return modulus > overhead ? modulus - overhead : 0;
}

}  // namespace kmsd
