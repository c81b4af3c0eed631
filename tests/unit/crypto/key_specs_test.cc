#include "kmsd/key_specs.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kmsd {
namespace {

std::vector<std::string> Strings(std::span<const std::string_view> names) {
  return {names.begin(), names.end()};
}

TEST(KeySpecs, ListEveryKeySpecOfTheServiceModelInItsOrder) {
  std::vector<std::string> names;
  for (const KeySpecInfo& spec : AllKeySpecs()) names.emplace_back(spec.name);
  EXPECT_EQ(names, (std::vector<std::string>{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256",
                                             "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                             "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256",
                                             "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44",
                                             "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519"}));
}

TEST(KeySpecs, UnknownNameIsNotFound) { EXPECT_EQ(FindKeySpec("RSA_1024"), nullptr); }

TEST(KeySpecs, RsaAllowsEncryptionOrSigning) {
  const KeySpecInfo* rsa = FindKeySpec("RSA_3072");
  ASSERT_NE(rsa, nullptr);
  EXPECT_EQ(rsa->family, KeyFamily::kRsa);
  EXPECT_EQ(rsa->bits, 3072);
  EXPECT_TRUE(AllowsUsage(*rsa, kEncryptDecrypt));
  EXPECT_TRUE(AllowsUsage(*rsa, kSignVerify));
  EXPECT_FALSE(AllowsUsage(*rsa, kKeyAgreement));
  EXPECT_FALSE(AllowsUsage(*rsa, kGenerateVerifyMac));
}

TEST(KeySpecs, NistCurvesAllowSigningOrKeyAgreementAndSecp256k1OnlySigning) {
  for (std::string_view name : {"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"}) {
    const KeySpecInfo* spec = FindKeySpec(name);
    ASSERT_NE(spec, nullptr);
    EXPECT_TRUE(AllowsUsage(*spec, kSignVerify)) << name;
    EXPECT_TRUE(AllowsUsage(*spec, kKeyAgreement)) << name;
    EXPECT_FALSE(AllowsUsage(*spec, kEncryptDecrypt)) << name;
  }
  const KeySpecInfo* k1 = FindKeySpec("ECC_SECG_P256K1");
  ASSERT_NE(k1, nullptr);
  EXPECT_EQ(k1->curve, "secp256k1");
  EXPECT_TRUE(AllowsUsage(*k1, kSignVerify));
  EXPECT_FALSE(AllowsUsage(*k1, kKeyAgreement));
}

TEST(KeySpecs, HmacAndSymmetricKeysHaveOneUsageAndFixedMaterialSizes) {
  EXPECT_EQ(FindKeySpec("HMAC_224")->MaterialSize(), 28u);
  EXPECT_EQ(FindKeySpec("HMAC_512")->MaterialSize(), 64u);
  EXPECT_EQ(FindKeySpec("SYMMETRIC_DEFAULT")->MaterialSize(), 32u);
  EXPECT_EQ(FindKeySpec("RSA_2048")->MaterialSize(), 0u);
  EXPECT_FALSE(AllowsUsage(*FindKeySpec("HMAC_256"), kEncryptDecrypt));
  EXPECT_FALSE(AllowsUsage(*FindKeySpec("SYMMETRIC_DEFAULT"), kGenerateVerifyMac));
}

TEST(KeySpecs, RsaSigningAlgorithmsInDescribeKeysOrder) {
  KeyAlgorithms algorithms = AlgorithmsOf(*FindKeySpec("RSA_2048"), kSignVerify);
  EXPECT_EQ(Strings(algorithms.signing),
            (std::vector<std::string>{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                      "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256",
                                      "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}));
  EXPECT_TRUE(algorithms.encryption.empty());
  EXPECT_TRUE(algorithms.mac.empty());
  EXPECT_TRUE(algorithms.key_agreement.empty());
}

TEST(KeySpecs, OnlyTheListOfTheKeysUsageIsSet) {
  KeyAlgorithms encryption = AlgorithmsOf(*FindKeySpec("RSA_4096"), kEncryptDecrypt);
  EXPECT_EQ(Strings(encryption.encryption),
            (std::vector<std::string>{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}));
  EXPECT_TRUE(encryption.signing.empty());
  KeyAlgorithms agreement = AlgorithmsOf(*FindKeySpec("ECC_NIST_P384"), kKeyAgreement);
  EXPECT_EQ(Strings(agreement.key_agreement), (std::vector<std::string>{"ECDH"}));
  EXPECT_TRUE(agreement.signing.empty());
  KeyAlgorithms mac = AlgorithmsOf(*FindKeySpec("HMAC_384"), kGenerateVerifyMac);
  EXPECT_EQ(Strings(mac.mac), (std::vector<std::string>{"HMAC_SHA_384"}));
  KeyAlgorithms none = AlgorithmsOf(*FindKeySpec("HMAC_384"), kSignVerify);
  EXPECT_TRUE(none.mac.empty() && none.signing.empty());
}

TEST(KeySpecs, EachCurveSignsWithTheDigestAwsPairsItWith) {
  EXPECT_EQ(Strings(FindKeySpec("ECC_NIST_P256")->signing_algorithms),
            std::vector<std::string>{"ECDSA_SHA_256"});
  EXPECT_EQ(Strings(FindKeySpec("ECC_NIST_P384")->signing_algorithms),
            std::vector<std::string>{"ECDSA_SHA_384"});
  EXPECT_EQ(Strings(FindKeySpec("ECC_NIST_P521")->signing_algorithms),
            std::vector<std::string>{"ECDSA_SHA_512"});
  EXPECT_EQ(Strings(FindKeySpec("ECC_SECG_P256K1")->signing_algorithms),
            std::vector<std::string>{"ECDSA_SHA_256"});
}

TEST(KeySpecs, SpecsKmsdCannotServeSayWhy) {
  for (std::string_view name : {"SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"}) {
    const KeySpecInfo* spec = FindKeySpec(name);
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(spec->family, KeyFamily::kUnsupported) << name;
    EXPECT_FALSE(spec->unsupported_reason.empty()) << name;
  }
}

TEST(KeySpecs, Ed25519SignsOnlyWithBothEdwardsAlgorithmsEachOfOneMessageType) {
  const KeySpecInfo* spec = FindKeySpec("ECC_NIST_EDWARDS25519");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->family, KeyFamily::kEdwards);
  EXPECT_TRUE(spec->Asymmetric());
  EXPECT_EQ(Strings(spec->usages), std::vector<std::string>{"SIGN_VERIFY"});
  EXPECT_EQ(Strings(spec->signing_algorithms),
            (std::vector<std::string>{"ED25519_SHA_512", "ED25519_PH_SHA_512"}));
  const SigningAlgorithmInfo* pure = FindSigningAlgorithm("ED25519_SHA_512");
  const SigningAlgorithmInfo* prehash = FindSigningAlgorithm("ED25519_PH_SHA_512");
  ASSERT_NE(pure, nullptr);
  ASSERT_NE(prehash, nullptr);
  EXPECT_EQ(pure->message, SignatureMessage::kRawOnly);
  EXPECT_EQ(prehash->message, SignatureMessage::kDigestOnly);
  EXPECT_EQ(prehash->digest_size, 64u);
}

TEST(KeySpecs, EveryListedSigningAndMacAlgorithmOfASupportedSpecCanRun) {
  for (const KeySpecInfo& spec : AllKeySpecs()) {
    if (spec.family == KeyFamily::kUnsupported) continue;
    for (std::string_view name : spec.signing_algorithms) {
      EXPECT_NE(FindSigningAlgorithm(name), nullptr) << spec.name << " " << name;
    }
    for (std::string_view name : spec.mac_algorithms) {
      EXPECT_NE(FindMacAlgorithm(name), nullptr) << spec.name << " " << name;
    }
  }
  EXPECT_EQ(FindSigningAlgorithm("RSASSA_PSS_SHA_384")->digest_size, 48u);
  EXPECT_EQ(FindSigningAlgorithm("SM2DSA"), nullptr);
  EXPECT_EQ(FindMacAlgorithm("HMAC_SHA_224")->mac_size, 28u);
}

}  // namespace
}  // namespace kmsd
