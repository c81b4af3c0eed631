// The kinds of KMS key AWS has, as one table: for each KeySpec of the service model its family,
// size or curve, the KeyUsage values AWS allows with it, and the algorithms a key of that spec
// and usage supports, in the order DescribeKey and GetPublicKey list them. Also the signing and
// MAC algorithms with the digest each uses. Specs kmsd cannot serve correctly (SM2 outside China
// Regions, ML-DSA with OpenSSL 3.0) are in the table with the reason CreateKey gives for refusing
// them.
//
// Everything here is constant data; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace kmsd {

enum class KeyFamily {
  kSymmetric,    // SYMMETRIC_DEFAULT: AES-256-GCM backing keys
  kRsa,          // RSA_2048/3072/4096, e = 65537
  kEcc,          // the NIST curves and secp256k1
  kHmac,         // HMAC_224/256/384/512
  kEdwards,      // ECC_NIST_EDWARDS25519: Ed25519 (RFC 8032), SIGN_VERIFY only
  kUnsupported,  // in the model, refused by kmsd (see KeySpecInfo::unsupported_reason)
};

inline constexpr std::string_view kEncryptDecrypt = "ENCRYPT_DECRYPT";
inline constexpr std::string_view kSignVerify = "SIGN_VERIFY";
inline constexpr std::string_view kGenerateVerifyMac = "GENERATE_VERIFY_MAC";
inline constexpr std::string_view kKeyAgreement = "KEY_AGREEMENT";

struct KeySpecInfo {
  std::string_view name;  // "RSA_2048"
  KeyFamily family;
  // RSA: modulus bits; ECC: the curve's bits; HMAC and symmetric: key bits.
  int bits = 0;
  std::string_view curve;  // ECC: OpenSSL's group name ("P-256", "secp256k1"); else empty
  std::span<const std::string_view> usages;  // the KeyUsage values AWS accepts with the spec
  // The algorithms of a key of this spec, by its usage.
  std::span<const std::string_view> encryption_algorithms;     // with ENCRYPT_DECRYPT
  std::span<const std::string_view> signing_algorithms;        // with SIGN_VERIFY
  std::span<const std::string_view> key_agreement_algorithms;  // with KEY_AGREEMENT
  std::span<const std::string_view> mac_algorithms;            // with GENERATE_VERIFY_MAC
  // kUnsupported: why kmsd refuses the spec (UnsupportedOperationException).
  std::string_view unsupported_reason;

  bool Asymmetric() const {
    return family == KeyFamily::kRsa || family == KeyFamily::kEcc || family == KeyFamily::kEdwards;
  }
  // The length of the key material in bytes, where it is fixed (symmetric and HMAC); else 0.
  size_t MaterialSize() const {
    return family == KeyFamily::kSymmetric || family == KeyFamily::kHmac ? bits / 8 : 0;
  }
};

// Every KeySpec of the service model, in the model's order.
std::span<const KeySpecInfo> AllKeySpecs();
// The spec of that name, or nullptr.
const KeySpecInfo* FindKeySpec(std::string_view name);
// Whether AWS allows the KeyUsage with the spec.
bool AllowsUsage(const KeySpecInfo& spec, std::string_view usage);

// The algorithm lists of a key: only the one that belongs to its usage is not empty, as AWS
// sends only that member.
struct KeyAlgorithms {
  std::span<const std::string_view> encryption;
  std::span<const std::string_view> signing;
  std::span<const std::string_view> key_agreement;
  std::span<const std::string_view> mac;
};
KeyAlgorithms AlgorithmsOf(const KeySpecInfo& spec, std::string_view usage);
// Whether name is in list.
bool Lists(std::span<const std::string_view> list, std::string_view name);

// kEd25519: pure Ed25519 (RFC 8032 5.1, over the whole message); kEd25519ph: HashEdDSA Ed25519ph
// (RFC 8032 5.1 with phflag 1 and an empty context), which hashes its message with SHA-512 itself.
enum class SignaturePadding { kPkcs1, kPss, kEcdsa, kEd25519, kEd25519ph };

// The MessageType values an algorithm takes. AWS's Ed25519 algorithms take one each
// (ED25519_SHA_512 RAW, ED25519_PH_SHA_512 DIGEST: "These message types cannot be used
// interchangeably"); the others take both.
enum class SignatureMessage { kRawOrDigest, kRawOnly, kDigestOnly };

struct SigningAlgorithmInfo {
  std::string_view name;    // "RSASSA_PSS_SHA_256"
  std::string_view digest;  // OpenSSL's digest name: "SHA256"
  size_t digest_size = 0;   // bytes; what a DIGEST message must be
  SignaturePadding padding;
  SignatureMessage message = SignatureMessage::kRawOrDigest;
};
// The signing algorithms kmsd can run (not SM2DSA or ML_DSA_SHAKE_256), or nullptr.
const SigningAlgorithmInfo* FindSigningAlgorithm(std::string_view name);

struct MacAlgorithmInfo {
  std::string_view name;    // "HMAC_SHA_256"
  std::string_view digest;  // "SHA256"
  size_t mac_size = 0;      // bytes
};
const MacAlgorithmInfo* FindMacAlgorithm(std::string_view name);

// RSAES-OAEP as AWS runs it (issue 13): the digest is both the OAEP hash and MGF1's, the label
// empty.
struct EncryptionAlgorithmInfo {
  std::string_view name;    // "RSAES_OAEP_SHA_256"
  std::string_view digest;  // OpenSSL's digest name: "SHA256"
  size_t digest_size = 0;   // bytes
};
// The RSA encryption algorithms (not SYMMETRIC_DEFAULT or SM2PKE), or nullptr.
const EncryptionAlgorithmInfo* FindEncryptionAlgorithm(std::string_view name);
// The most plaintext an RSA key of the spec encrypts with the algorithm: the modulus length less
// twice the digest length less 2 (RFC 8017 7.1.1), which is AWS's table in the Encrypt docs
// (RSA_2048: 214 bytes with RSAES_OAEP_SHA_1, 190 with RSAES_OAEP_SHA_256).
size_t MaxRsaPlaintext(const KeySpecInfo& spec, const EncryptionAlgorithmInfo& algorithm);

}  // namespace kmsd
