// Imported key material: wrapping keys, RSA-OAEP and RSA-AES key wrap unwrapping (round trips,
// every byte flipped, wrong keys and algorithms), and the material checks of each key spec.
#include "kmsd/key_import.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "kmsd/asymmetric.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd::crypto {
namespace {

const KeySpecInfo& Spec(std::string_view name) {
  const KeySpecInfo* spec = FindKeySpec(name);
  EXPECT_NE(spec, nullptr) << name;
  return *spec;
}

// One wrapping key per size for the whole program: RSA generation takes a while.
const WrappingKeyPair& WrappingKey(int bits) {
  static std::map<int, WrappingKeyPair> keys;
  auto it = keys.find(bits);
  if (it == keys.end()) {
    auto pair = GenerateWrappingKey(bits);
    EXPECT_TRUE(pair.ok()) << pair.status();
    it = keys.emplace(bits, std::move(*pair)).first;
  }
  return it->second;
}

SecretBytes Bytes(std::string_view text) { return SecretBytes::FromString(text); }

// What a client does for RSA_AES_KEY_WRAP: a fresh AES key under RSA-OAEP, then the material
// under that AES key with RFC 5649.
std::string RsaAesWrap(const WrappingKeyPair& key, std::string_view digest,
                       const SecretBytes& material) {
  auto aes_key = RandomSecret(32);
  EXPECT_TRUE(aes_key.ok());
  auto wrapped_key = RsaOaepEncrypt(key.public_key, digest, aes_key->view());
  EXPECT_TRUE(wrapped_key.ok()) << wrapped_key.status();
  auto wrapped_material = AesKeyWrapPad(*aes_key, material.view());
  EXPECT_TRUE(wrapped_material.ok()) << wrapped_material.status();
  return *wrapped_key + *wrapped_material;
}

TEST(WrappingAlgorithm, NamesRoundTripAndUnknownNamesAreNone) {
  for (std::string_view name : {"RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"}) {
    auto algorithm = ParseWrappingAlgorithm(name);
    ASSERT_TRUE(algorithm.has_value()) << name;
    EXPECT_EQ(WrappingAlgorithmName(*algorithm), name);
  }
  EXPECT_FALSE(ParseWrappingAlgorithm("RSAES_OAEP_SHA_512").has_value());
}

TEST(WrappingKey, IsAnRsaKeyOfTheAskedSizeWithItsPublicKey) {
  for (int bits : {2048, 3072, 4096}) {
    const WrappingKeyPair& pair = WrappingKey(bits);
    auto parsed = PrivateKey::FromPkcs8(pair.private_key, Spec("RSA_" + std::to_string(bits)));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ((*parsed)->PublicKeyDer(), pair.public_key);
  }
  EXPECT_FALSE(GenerateWrappingKey(1024).ok());
}

TEST(MaxOaepPlaintext, IsModulusMinusTwoDigestsMinusTwo) {
  EXPECT_EQ(MaxOaepPlaintext(2048, WrappingAlgorithm::kRsaesOaepSha256), 256u - 64 - 2);
  EXPECT_EQ(MaxOaepPlaintext(2048, WrappingAlgorithm::kRsaesOaepSha1), 256u - 40 - 2);
  EXPECT_EQ(MaxOaepPlaintext(4096, WrappingAlgorithm::kRsaesOaepSha256), 512u - 64 - 2);
}

TEST(UnwrapKeyMaterial, OaepSha256AndSha1RoundTrip) {
  const WrappingKeyPair& key = WrappingKey(2048);
  SecretBytes material = Bytes(std::string(32, 'm'));
  for (auto [algorithm, digest] : {std::pair{WrappingAlgorithm::kRsaesOaepSha256, "SHA256"},
                                   std::pair{WrappingAlgorithm::kRsaesOaepSha1, "SHA1"}}) {
    auto wrapped = RsaOaepEncrypt(key.public_key, digest, material.view());
    ASSERT_TRUE(wrapped.ok()) << wrapped.status();
    auto unwrapped = UnwrapKeyMaterial(key.private_key, algorithm, *wrapped);
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_EQ(unwrapped->view(), material.view());
  }
}

TEST(UnwrapKeyMaterial, OaepWithTheOtherDigestFails) {
  const WrappingKeyPair& key = WrappingKey(2048);
  auto wrapped = RsaOaepEncrypt(key.public_key, "SHA1", std::string(32, 'm'));
  ASSERT_TRUE(wrapped.ok());
  auto unwrapped =
      UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaesOaepSha256, *wrapped);
  EXPECT_EQ(TypeOf(unwrapped.status()), ErrorType::kInvalidCiphertext);
}

TEST(UnwrapKeyMaterial, RsaAesKeyWrapRoundTripsAnRsa4096PrivateKey) {
  const WrappingKeyPair& key = WrappingKey(3072);
  auto material = GenerateKeyMaterial(Spec("RSA_4096"));
  ASSERT_TRUE(material.ok());
  for (auto [algorithm, digest] : {std::pair{WrappingAlgorithm::kRsaAesKeyWrapSha256, "SHA256"},
                                   std::pair{WrappingAlgorithm::kRsaAesKeyWrapSha1, "SHA1"}}) {
    std::string wrapped = RsaAesWrap(key, digest, *material);
    auto unwrapped = UnwrapKeyMaterial(key.private_key, algorithm, wrapped);
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_EQ(unwrapped->view(), material->view());
  }
}

TEST(UnwrapKeyMaterial, EveryFlippedByteOfAnRsaAesWrapFails) {
  const WrappingKeyPair& key = WrappingKey(2048);
  SecretBytes material = Bytes(std::string(28, 'h'));  // not a multiple of 8: padded
  std::string wrapped = RsaAesWrap(key, "SHA256", material);
  for (size_t i = 0; i < wrapped.size(); ++i) {
    std::string changed = wrapped;
    changed[i] ^= 0x01;
    auto unwrapped =
        UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaAesKeyWrapSha256, changed);
    ASSERT_EQ(TypeOf(unwrapped.status()), ErrorType::kInvalidCiphertext) << "byte " << i;
  }
}

TEST(UnwrapKeyMaterial, EveryFlippedByteOfAnOaepWrapFails) {
  const WrappingKeyPair& key = WrappingKey(2048);
  auto wrapped = RsaOaepEncrypt(key.public_key, "SHA256", std::string(32, 'm'));
  ASSERT_TRUE(wrapped.ok());
  for (size_t i = 0; i < wrapped->size(); i += 7) {
    std::string changed = *wrapped;
    changed[i] ^= 0x80;
    auto unwrapped =
        UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaesOaepSha256, changed);
    ASSERT_EQ(TypeOf(unwrapped.status()), ErrorType::kInvalidCiphertext) << "byte " << i;
  }
}

TEST(UnwrapKeyMaterial, WrongLengthsAndAnotherWrappingKeyFail) {
  const WrappingKeyPair& key = WrappingKey(2048);
  const WrappingKeyPair& other = WrappingKey(3072);
  SecretBytes material = Bytes(std::string(32, 'm'));
  std::string wrapped = RsaAesWrap(key, "SHA256", material);
  for (std::string_view bad : {std::string_view(), std::string_view(wrapped).substr(0, 255),
                               std::string_view(wrapped).substr(0, 256 + 8),
                               std::string_view(wrapped).substr(0, wrapped.size() - 1)}) {
    EXPECT_EQ(
        TypeOf(UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaAesKeyWrapSha256, bad)
                   .status()),
        ErrorType::kInvalidCiphertext)
        << bad.size();
  }
  EXPECT_EQ(
      TypeOf(UnwrapKeyMaterial(other.private_key, WrappingAlgorithm::kRsaAesKeyWrapSha256, wrapped)
                 .status()),
      ErrorType::kInvalidCiphertext);
  // An OAEP ciphertext is exactly one RSA block.
  EXPECT_EQ(TypeOf(UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaesOaepSha256, wrapped)
                       .status()),
            ErrorType::kInvalidCiphertext);
}

TEST(UnwrapKeyMaterial, RefusesAlgorithmsKmsdDoesNotOffer) {
  const WrappingKeyPair& key = WrappingKey(2048);
  EXPECT_FALSE(
      UnwrapKeyMaterial(key.private_key, WrappingAlgorithm::kRsaesPkcs1V15, std::string(256, 'x'))
          .ok());
}

TEST(AesKeyWrapPad, RoundTripsAndRejectsTampering) {
  auto aes_key = RandomSecret(32);
  ASSERT_TRUE(aes_key.ok());
  for (size_t length : {1u, 7u, 8u, 32u, 64u, 1217u}) {
    std::string plaintext(length, 'p');
    auto wrapped = AesKeyWrapPad(*aes_key, plaintext);
    ASSERT_TRUE(wrapped.ok()) << wrapped.status();
    EXPECT_EQ(wrapped->size(), (length + 7) / 8 * 8 + 8);
    auto unwrapped = AesKeyUnwrapPad(*aes_key, *wrapped);
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_EQ(unwrapped->view(), plaintext);
    std::string changed = *wrapped;
    changed.back() ^= 1;
    EXPECT_EQ(TypeOf(AesKeyUnwrapPad(*aes_key, changed).status()), ErrorType::kInvalidCiphertext);
  }
}

TEST(ImportedMaterialLength, FollowsAwsRequirements) {
  auto range = [](std::string_view spec) {
    MaterialLength length = ImportedMaterialLength(Spec(spec));
    return std::pair{length.min, length.max};
  };
  EXPECT_EQ(range("SYMMETRIC_DEFAULT"), (std::pair<size_t, size_t>{32, 32}));
  EXPECT_EQ(range("HMAC_224"), (std::pair<size_t, size_t>{28, 64}));
  EXPECT_EQ(range("HMAC_256"), (std::pair<size_t, size_t>{32, 64}));
  EXPECT_EQ(range("HMAC_384"), (std::pair<size_t, size_t>{48, 128}));
  EXPECT_EQ(range("HMAC_512"), (std::pair<size_t, size_t>{64, 128}));
}

TEST(CheckImportedMaterial, SymmetricMaterialMustBe32Bytes) {
  EXPECT_TRUE(CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(std::string(32, 'a'))).ok());
  for (size_t size : {16u, 31u, 33u, 64u}) {
    auto checked = CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(std::string(size, 'a')));
    EXPECT_EQ(TypeOf(checked.status()), ErrorType::kIncorrectKeyMaterial) << size;
  }
}

TEST(CheckImportedMaterial, HmacMaterialWithinItsRange) {
  EXPECT_TRUE(CheckImportedMaterial(Spec("HMAC_256"), Bytes(std::string(48, 'a'))).ok());
  EXPECT_EQ(TypeOf(CheckImportedMaterial(Spec("HMAC_256"), Bytes(std::string(31, 'a'))).status()),
            ErrorType::kIncorrectKeyMaterial);
  EXPECT_EQ(TypeOf(CheckImportedMaterial(Spec("HMAC_512"), Bytes(std::string(129, 'a'))).status()),
            ErrorType::kIncorrectKeyMaterial);
}

TEST(CheckImportedMaterial, FingerprintIsStableAndDiffersWithMaterial) {
  auto a = CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(std::string(32, 'a')));
  auto a_again = CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(std::string(32, 'a')));
  auto b = CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(std::string(32, 'b')));
  ASSERT_TRUE(a.ok() && a_again.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(*a, *a_again);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->find(std::string(32, 'a')), std::string::npos);
}

TEST(CheckImportedMaterial, AsymmetricMaterialMustBeAPkcs8KeyOfTheSpec) {
  auto p256 = GenerateKeyMaterial(Spec("ECC_NIST_P256"));
  ASSERT_TRUE(p256.ok());
  auto fingerprint = CheckImportedMaterial(Spec("ECC_NIST_P256"), *p256);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  EXPECT_EQ(fingerprint->size(), 32u);
  // The wrong curve, the wrong family, garbage, and a truncated encoding.
  for (std::string_view spec : {"ECC_NIST_P384", "ECC_SECG_P256K1", "RSA_2048"}) {
    EXPECT_EQ(TypeOf(CheckImportedMaterial(Spec(spec), *p256).status()),
              ErrorType::kIncorrectKeyMaterial)
        << spec;
  }
  EXPECT_EQ(
      TypeOf(CheckImportedMaterial(Spec("ECC_NIST_P256"), Bytes(std::string(100, 'x'))).status()),
      ErrorType::kIncorrectKeyMaterial);
  SecretBytes truncated(p256->data(), p256->size() - 1);
  EXPECT_EQ(TypeOf(CheckImportedMaterial(Spec("ECC_NIST_P256"), truncated).status()),
            ErrorType::kIncorrectKeyMaterial);
  auto rsa = GenerateKeyMaterial(Spec("RSA_2048"));
  ASSERT_TRUE(rsa.ok());
  EXPECT_TRUE(CheckImportedMaterial(Spec("RSA_2048"), *rsa).ok());
  EXPECT_EQ(TypeOf(CheckImportedMaterial(Spec("RSA_3072"), *rsa).status()),
            ErrorType::kIncorrectKeyMaterial);
}

TEST(CheckImportedMaterial, MessagesNeverEchoTheMaterial) {
  std::string secret = "THIS-IS-SECRET-MATERIAL-33-BYTES!";
  auto checked = CheckImportedMaterial(Spec("SYMMETRIC_DEFAULT"), Bytes(secret));
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(std::string(checked.status().message()).find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::crypto
