// Asymmetric and HMAC keys in the service (issue 13): CreateKey's rules for KeySpec and KeyUsage,
// material that survives a restart and is destroyed with the key, Sign/Verify/GetPublicKey,
// GenerateMac/VerifyMac, and the operations that refuse keys of the wrong kind.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/service.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::FixedClock;
using testing::kDay;

class KeyTypesTest : public testing::ServiceTest {
 protected:
  absl::StatusOr<KeyMetadata> Create(std::string spec, std::string usage) {
    return service_->CreateKey(call_, {.key_usage = std::move(usage), .key_spec = std::move(spec)});
  }
  std::string NewKeyOf(std::string spec, std::string usage) {
    auto key = Create(std::move(spec), std::move(usage));
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? key->key_id : "";
  }
  static SecretBytes Message(std::string_view text) { return SecretBytes::FromString(text); }
};

TEST_F(KeyTypesTest, CreateKeyMakesEverySupportedSpecWithEachUsageAwsAllows) {
  for (auto [spec, usage] :
       {std::pair{"RSA_2048", "ENCRYPT_DECRYPT"}, std::pair{"RSA_2048", "SIGN_VERIFY"},
        std::pair{"ECC_NIST_P256", "SIGN_VERIFY"}, std::pair{"ECC_NIST_P384", "KEY_AGREEMENT"},
        std::pair{"ECC_NIST_P521", "SIGN_VERIFY"}, std::pair{"ECC_SECG_P256K1", "SIGN_VERIFY"},
        std::pair{"HMAC_224", "GENERATE_VERIFY_MAC"},
        std::pair{"HMAC_512", "GENERATE_VERIFY_MAC"}}) {
    auto key = Create(spec, usage);
    ASSERT_TRUE(key.ok()) << spec << " " << usage << ": " << key.status();
    EXPECT_EQ(key->key_spec, spec);
    EXPECT_EQ(key->key_usage, usage);
  }
}

TEST_F(KeyTypesTest, UsageTheSpecDoesNotAllowIsAValidationError) {
  EXPECT_EQ(TypeOf(Create("HMAC_256", "ENCRYPT_DECRYPT").status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Create("ECC_SECG_P256K1", "KEY_AGREEMENT").status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Create("RSA_3072", "GENERATE_VERIFY_MAC").status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Create("SYMMETRIC_DEFAULT", "SIGN_VERIFY").status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Create("ECC_NIST_P256", "ENCRYPT_DECRYPT").status()), ErrorType::kValidation);
}

TEST_F(KeyTypesTest, SpecsKmsdCannotServeAreUnsupported) {
  EXPECT_EQ(TypeOf(Create("ML_DSA_44", "SIGN_VERIFY").status()), ErrorType::kUnsupportedOperation);
  EXPECT_EQ(TypeOf(Create("SM2", "SIGN_VERIFY").status()), ErrorType::kUnsupportedOperation);
  EXPECT_EQ(TypeOf(Create("ECC_NIST_EDWARDS25519", "SIGN_VERIFY").status()),
            ErrorType::kUnsupportedOperation);
  EXPECT_TRUE(backend_->List("key/", "", 0)->empty());
}

TEST_F(KeyTypesTest, SignatureVerifiesWithTheKeyAndWithGetPublicKeysKeyInOpenSsl) {
  std::string key_id = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  auto signed_message =
      service_->Sign(call_, key_id, Message("payload"), MessageType::kRaw, "ECDSA_SHA_256", {});
  ASSERT_TRUE(signed_message.ok()) << signed_message.status();
  EXPECT_EQ(signed_message->key_arn, KeyArn(key_id));
  auto verified = service_->Verify(call_, key_id, Message("payload"), MessageType::kRaw,
                                   signed_message->signature, "ECDSA_SHA_256", {});
  EXPECT_TRUE(verified.ok()) << verified.status();
  // The same message as its digest verifies too (MessageType need not match).
  auto as_digest =
      service_->Verify(call_, key_id, Message(crypto::Sha256("payload")), MessageType::kDigest,
                       signed_message->signature, "ECDSA_SHA_256", {});
  EXPECT_TRUE(as_digest.ok()) << as_digest.status();

  auto public_key = service_->GetPublicKey(call_, key_id, {});
  ASSERT_TRUE(public_key.ok()) << public_key.status();
  EXPECT_EQ(public_key->key_spec, "ECC_NIST_P256");
  EXPECT_EQ(public_key->key_usage, "SIGN_VERIFY");
  const auto* in = reinterpret_cast<const unsigned char*>(public_key->public_key.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &in, static_cast<long>(public_key->public_key.size()));
  ASSERT_NE(pkey, nullptr);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, pkey), 1);
  EXPECT_EQ(
      EVP_DigestVerify(
          context, reinterpret_cast<const unsigned char*>(signed_message->signature.data()),
          signed_message->signature.size(), reinterpret_cast<const unsigned char*>("payload"), 7),
      1);
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(pkey);
}

TEST_F(KeyTypesTest, AlteredMessageIsAnInvalidSignature) {
  std::string key_id = NewKeyOf("RSA_2048", "SIGN_VERIFY");
  auto signed_message = service_->Sign(call_, key_id, Message("payload"), MessageType::kRaw,
                                       "RSASSA_PSS_SHA_256", {});
  ASSERT_TRUE(signed_message.ok());
  auto verified = service_->Verify(call_, key_id, Message("payloaD"), MessageType::kRaw,
                                   signed_message->signature, "RSASSA_PSS_SHA_256", {});
  EXPECT_EQ(TypeOf(verified.status()), ErrorType::kKmsInvalidSignature);
}

TEST_F(KeyTypesTest, SigningAlgorithmTheKeyDoesNotSupportIsInvalidKeyUsage) {
  std::string ecc = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  EXPECT_EQ(TypeOf(service_->Sign(call_, ecc, Message("m"), MessageType::kRaw, "ECDSA_SHA_384", {})
                       .status()),
            ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(
      TypeOf(service_->Sign(call_, ecc, Message("m"), MessageType::kRaw, "RSASSA_PSS_SHA_256", {})
                 .status()),
      ErrorType::kInvalidKeyUsage);
}

TEST_F(KeyTypesTest, DigestOfTheWrongLengthIsAValidationError) {
  std::string key_id = NewKeyOf("ECC_NIST_P384", "SIGN_VERIFY");
  EXPECT_EQ(TypeOf(service_
                       ->Sign(call_, key_id, Message(crypto::Sha256("m")), MessageType::kDigest,
                              "ECDSA_SHA_384", {})
                       .status()),
            ErrorType::kValidation);
}

TEST_F(KeyTypesTest, OperationsRefuseKeysOfTheWrongUsage) {
  std::string symmetric = NewKey();
  std::string signing = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  std::string mac = NewKeyOf("HMAC_256", "GENERATE_VERIFY_MAC");
  std::string agreement = NewKeyOf("ECC_NIST_P256", "KEY_AGREEMENT");
  for (const std::string& key : {signing, mac, agreement}) {
    EXPECT_EQ(TypeOf(service_->Encrypt(call_, key, Message("x"), {}, {}).status()),
              ErrorType::kInvalidKeyUsage);
    EXPECT_EQ(TypeOf(service_->GenerateDataKey(call_, key, 32, {}, true, {}).status()),
              ErrorType::kInvalidKeyUsage);
  }
  auto blob = service_->Encrypt(call_, symmetric, Message("x"), {}, {});
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(
      TypeOf(service_->ReEncrypt(call_, blob->ciphertext_blob, {}, "", signing, {}, {}).status()),
      ErrorType::kInvalidKeyUsage);
  for (const std::string& key : {symmetric, mac, agreement}) {
    EXPECT_EQ(
        TypeOf(service_->Sign(call_, key, Message("m"), MessageType::kRaw, "ECDSA_SHA_256", {})
                   .status()),
        ErrorType::kInvalidKeyUsage);
  }
  for (const std::string& key : {symmetric, signing}) {
    EXPECT_EQ(TypeOf(service_->GenerateMac(call_, key, Message("m"), "HMAC_SHA_256", {}).status()),
              ErrorType::kInvalidKeyUsage);
  }
  EXPECT_EQ(TypeOf(service_->GetPublicKey(call_, symmetric, {}).status()),
            ErrorType::kUnsupportedOperation);
  EXPECT_EQ(TypeOf(service_->GetPublicKey(call_, mac, {}).status()),
            ErrorType::kUnsupportedOperation);
  EXPECT_TRUE(service_->GetPublicKey(call_, agreement, {}).ok());
}

TEST_F(KeyTypesTest, RsaEncryptionKeysRefuseDataKeysAndEncryptionIsNotSupportedYet) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_EQ(TypeOf(service_->GenerateDataKey(call_, rsa, 32, {}, false, {}).status()),
            ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(TypeOf(service_->Encrypt(call_, rsa, Message("x"), {}, {}).status()),
            ErrorType::kUnsupportedOperation);
}

TEST_F(KeyTypesTest, AsymmetricAndHmacKeysDoNotRotate) {
  for (const std::string& key :
       {NewKeyOf("RSA_2048", "SIGN_VERIFY"), NewKeyOf("HMAC_384", "GENERATE_VERIFY_MAC")}) {
    EXPECT_EQ(TypeOf(service_->EnableKeyRotation(call_, key, 365)),
              ErrorType::kUnsupportedOperation);
    EXPECT_EQ(TypeOf(service_->DisableKeyRotation(call_, key)), ErrorType::kUnsupportedOperation);
    EXPECT_EQ(TypeOf(service_->RotateKeyOnDemand(call_, key).status()),
              ErrorType::kUnsupportedOperation);
    EXPECT_EQ(TypeOf(service_->GetKeyRotationStatus(call_, key).status()),
              ErrorType::kUnsupportedOperation);
    EXPECT_EQ(TypeOf(service_->ListKeyRotations(call_, key, 10, "").status()),
              ErrorType::kUnsupportedOperation);
  }
}

TEST_F(KeyTypesTest, MacIsDeterministicAndVerifiesButNotAFlippedBit) {
  std::string key_id = NewKeyOf("HMAC_256", "GENERATE_VERIFY_MAC");
  auto first = service_->GenerateMac(call_, key_id, Message("token"), "HMAC_SHA_256", {});
  auto second = service_->GenerateMac(call_, key_id, Message("token"), "HMAC_SHA_256", {});
  ASSERT_TRUE(first.ok() && second.ok()) << first.status();
  EXPECT_EQ(first->mac.size(), 32u);
  EXPECT_EQ(first->mac, second->mac);
  EXPECT_TRUE(
      service_->VerifyMac(call_, key_id, Message("token"), first->mac, "HMAC_SHA_256", {}).ok());
  for (size_t bit = 0; bit < first->mac.size() * 8; ++bit) {
    std::string flipped = first->mac;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_EQ(
        TypeOf(service_->VerifyMac(call_, key_id, Message("token"), flipped, "HMAC_SHA_256", {})
                   .status()),
        ErrorType::kKmsInvalidMac)
        << bit;
  }
  EXPECT_EQ(TypeOf(service_
                       ->VerifyMac(call_, key_id, Message("token"), first->mac.substr(1),
                                   "HMAC_SHA_256", {})
                       .status()),
            ErrorType::kKmsInvalidMac);
  EXPECT_EQ(
      TypeOf(service_->GenerateMac(call_, key_id, Message("token"), "HMAC_SHA_512", {}).status()),
      ErrorType::kInvalidKeyUsage);
}

TEST_F(KeyTypesTest, MaterialSurvivesANewServiceOverTheSameKeystore) {
  std::string signing = NewKeyOf("ECC_SECG_P256K1", "SIGN_VERIFY");
  std::string mac = NewKeyOf("HMAC_224", "GENERATE_VERIFY_MAC");
  auto signature =
      service_->Sign(call_, signing, Message("kept"), MessageType::kRaw, "ECDSA_SHA_256", {});
  auto tag = service_->GenerateMac(call_, mac, Message("kept"), "HMAC_SHA_224", {});
  ASSERT_TRUE(signature.ok() && tag.ok());
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_TRUE(fresh
                  ->Verify(call_, signing, Message("kept"), MessageType::kRaw, signature->signature,
                           "ECDSA_SHA_256", {})
                  .ok());
  auto again = fresh->GenerateMac(call_, mac, Message("kept"), "HMAC_SHA_224", {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->mac, tag->mac);
  EXPECT_EQ(fresh->GetPublicKey(call_, signing, {})->public_key,
            service_->GetPublicKey(call_, signing, {})->public_key);
}

TEST_F(KeyTypesTest, DeletionDestroysTheKeyPair) {
  std::string key_id = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  EXPECT_EQ(
      TypeOf(service_->Sign(call_, key_id, Message("m"), MessageType::kRaw, "ECDSA_SHA_256", {})
                 .status()),
      ErrorType::kKmsInvalidState);
  now_ += 7 * kDay;
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 1);
  EXPECT_TRUE(backend_->List("material/", "", 0)->empty());
  EXPECT_EQ(TypeOf(service_->GetPublicKey(call_, key_id, {}).status()), ErrorType::kNotFound);
}

TEST_F(KeyTypesTest, GrantsAllowOnlyOperationsOfTheKeysKind) {
  std::string signing = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  std::string mac = NewKeyOf("HMAC_256", "GENERATE_VERIFY_MAC");
  auto grant = [&](const std::string& key, std::vector<std::string> operations) {
    return service_->CreateGrant(call_, {.key_id = key,
                                         .grantee_principal = testing::UserArn("alice"),
                                         .operations = std::move(operations)});
  };
  EXPECT_TRUE(grant(signing, {"Sign", "Verify", "GetPublicKey"}).ok());
  EXPECT_EQ(TypeOf(grant(signing, {"Encrypt"}).status()), ErrorType::kValidation);
  EXPECT_TRUE(grant(mac, {"GenerateMac", "VerifyMac"}).ok());
  EXPECT_EQ(TypeOf(grant(mac, {"Sign"}).status()), ErrorType::kValidation);
}

TEST_F(KeyTypesTest, GrantAllowsItsGranteeToSign) {
  std::string key_id = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  ASSERT_TRUE(service_
                  ->CreateGrant(call_, {.key_id = key_id,
                                        .grantee_principal = testing::UserArn("alice"),
                                        .operations = {"Sign"}})
                  .ok());
  CallContext alice = testing::AsUser("alice");
  EXPECT_TRUE(
      service_->Sign(alice, key_id, Message("m"), MessageType::kRaw, "ECDSA_SHA_256", {}).ok());
  EXPECT_EQ(TypeOf(service_->GetPublicKey(alice, key_id, {}).status()), ErrorType::kAccessDenied);
  CallContext bob = testing::AsUser("bob");
  EXPECT_EQ(TypeOf(service_->Sign(bob, key_id, Message("m"), MessageType::kRaw, "ECDSA_SHA_256", {})
                       .status()),
            ErrorType::kAccessDenied);
}

}  // namespace
}  // namespace kmsd
