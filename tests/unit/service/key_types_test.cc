// Asymmetric and HMAC keys in the service (issue 13): CreateKey's rules for KeySpec and KeyUsage,
// material that survives a restart and is destroyed with the key, Sign/Verify/GetPublicKey,
// GenerateMac/VerifyMac, and the operations that refuse keys of the wrong kind.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kmsd/ciphertext_blob.h"
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
        std::pair{"ECC_NIST_EDWARDS25519", "SIGN_VERIFY"},
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

TEST_F(KeyTypesTest, RsaEncryptionKeysRefuseDataKeys) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_EQ(TypeOf(service_->GenerateDataKey(call_, rsa, 32, {}, false, {}).status()),
            ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(
      TypeOf(service_->GenerateDataKeyPair(call_, rsa, "ECC_NIST_P256", {}, true, {}).status()),
      ErrorType::kInvalidKeyUsage);
}

// --- RSA encryption (issue 13) ---

TEST_F(KeyTypesTest, RsaEncryptDecryptRoundTripsWithEachAlgorithm) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  for (std::string algorithm : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) {
    auto encrypted = service_->Encrypt(call_, rsa, Message("rsa secret"), {}, {}, algorithm);
    ASSERT_TRUE(encrypted.ok()) << encrypted.status();
    EXPECT_EQ(encrypted->ciphertext_blob.size(), 256u);  // the raw OAEP output, as AWS
    EXPECT_EQ(encrypted->encryption_algorithm, algorithm);
    EXPECT_EQ(encrypted->key_arn, KeyArn(rsa));
    auto decrypted = service_->Decrypt(call_, encrypted->ciphertext_blob, {}, rsa, {}, algorithm);
    ASSERT_TRUE(decrypted.ok()) << decrypted.status();
    EXPECT_EQ(decrypted->plaintext.view(), "rsa secret");
    EXPECT_EQ(decrypted->encryption_algorithm, algorithm);
    EXPECT_EQ(decrypted->key_arn, KeyArn(rsa));
  }
}

TEST_F(KeyTypesTest, RsaPlaintextLimitIsAwsPerSpecAndAlgorithm) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_TRUE(
      service_->Encrypt(call_, rsa, Message(std::string(190, 'a')), {}, {}, "RSAES_OAEP_SHA_256")
          .ok());
  auto over =
      service_->Encrypt(call_, rsa, Message(std::string(191, 'a')), {}, {}, "RSAES_OAEP_SHA_256");
  EXPECT_EQ(TypeOf(over.status()), ErrorType::kValidation);
  EXPECT_NE(over.status().message().find("190"), std::string::npos) << over.status();
  EXPECT_TRUE(
      service_->Encrypt(call_, rsa, Message(std::string(214, 'a')), {}, {}, "RSAES_OAEP_SHA_1")
          .ok());
  EXPECT_EQ(
      TypeOf(
          service_->Encrypt(call_, rsa, Message(std::string(215, 'a')), {}, {}, "RSAES_OAEP_SHA_1")
              .status()),
      ErrorType::kValidation);
}

TEST_F(KeyTypesTest, RsaKeyRefusesSymmetricDefaultAndSymmetricKeyRefusesOaep) {
  std::string rsa = NewKeyOf("RSA_3072", "ENCRYPT_DECRYPT");
  auto symmetric_default = service_->Encrypt(call_, rsa, Message("x"), {}, {});
  EXPECT_EQ(TypeOf(symmetric_default.status()), ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(symmetric_default.status().message(),
            "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_3072.");
  std::string symmetric = NewKey();
  auto oaep = service_->Encrypt(call_, symmetric, Message("x"), {}, {}, "RSAES_OAEP_SHA_256");
  EXPECT_EQ(TypeOf(oaep.status()), ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(oaep.status().message(),
            "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.");
  EXPECT_EQ(TypeOf(service_->Encrypt(call_, rsa, Message("x"), {}, {}, "SM2PKE").status()),
            ErrorType::kInvalidKeyUsage);
  // A signing RSA key is refused for its usage, whatever the algorithm.
  std::string signing = NewKeyOf("RSA_2048", "SIGN_VERIFY");
  EXPECT_EQ(
      TypeOf(
          service_->Encrypt(call_, signing, Message("x"), {}, {}, "RSAES_OAEP_SHA_256").status()),
      ErrorType::kInvalidKeyUsage);
}

TEST_F(KeyTypesTest, RsaCiphertextNeedsKeyIdAndItsAlgorithmToDecrypt) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  auto encrypted = service_->Encrypt(call_, rsa, Message("x"), {}, {}, "RSAES_OAEP_SHA_256");
  ASSERT_TRUE(encrypted.ok());
  const std::string& blob = encrypted->ciphertext_blob;
  // No KeyId: the ciphertext is read as a symmetric blob, which it is not.
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob, {}, "", {}).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob, {}, "", {}, "RSAES_OAEP_SHA_256").status()),
            ErrorType::kValidation);
  // KeyId without the algorithm, and with the other algorithm.
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob, {}, rsa, {}).status()),
            ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob, {}, rsa, {}, "RSAES_OAEP_SHA_1").status()),
            ErrorType::kInvalidCiphertext);
  // Random bytes that happen to read as a symmetric blob's header naming no key (about 1 RSA
  // ciphertext in 128 did, and the answer was IncorrectKeyException): still the usage error.
  std::string looks_symmetric = blob;
  looks_symmetric[0] = static_cast<char>(kBlobFormatVersion);
  ASSERT_TRUE(ParseBlobHeader(looks_symmetric).ok());
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, looks_symmetric, {}, rsa, {}).status()),
            ErrorType::kInvalidKeyUsage);
  // Another RSA key.
  std::string other = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob, {}, other, {}, "RSAES_OAEP_SHA_256").status()),
            ErrorType::kInvalidCiphertext);
}

TEST_F(KeyTypesTest, RsaKeysTakeNoEncryptionContext) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_EQ(TypeOf(service_
                       ->Encrypt(call_, rsa, Message("x"), {{"purpose", "test"}}, {},
                                 "RSAES_OAEP_SHA_256")
                       .status()),
            ErrorType::kValidation);
  auto encrypted = service_->Encrypt(call_, rsa, Message("x"), {}, {}, "RSAES_OAEP_SHA_256");
  ASSERT_TRUE(encrypted.ok());
  EXPECT_EQ(TypeOf(service_
                       ->Decrypt(call_, encrypted->ciphertext_blob, {{"purpose", "test"}}, rsa, {},
                                 "RSAES_OAEP_SHA_256")
                       .status()),
            ErrorType::kValidation);
}

TEST_F(KeyTypesTest, DisabledRsaKeyDoesNotDecrypt) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  auto encrypted = service_->Encrypt(call_, rsa, Message("x"), {}, {}, "RSAES_OAEP_SHA_1");
  ASSERT_TRUE(encrypted.ok());
  ASSERT_TRUE(service_->DisableKey(call_, rsa).ok());
  EXPECT_EQ(
      TypeOf(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, rsa, {}, "RSAES_OAEP_SHA_1")
                 .status()),
      ErrorType::kDisabled);
}

TEST_F(KeyTypesTest, ReEncryptMovesBetweenSymmetricAndRsaKeysBothWays) {
  std::string rsa = NewKeyOf("RSA_4096", "ENCRYPT_DECRYPT");
  std::string symmetric = NewKey();
  auto symmetric_blob = service_->Encrypt(call_, symmetric, Message("moving"), {{"a", "b"}}, {});
  ASSERT_TRUE(symmetric_blob.ok());
  auto to_rsa = service_->ReEncrypt(call_, symmetric_blob->ciphertext_blob, {{"a", "b"}}, "", rsa,
                                    {}, {}, "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256");
  ASSERT_TRUE(to_rsa.ok()) << to_rsa.status();
  EXPECT_EQ(to_rsa->ciphertext_blob.size(), 512u);
  EXPECT_EQ(to_rsa->source_encryption_algorithm, "SYMMETRIC_DEFAULT");
  EXPECT_EQ(to_rsa->destination_encryption_algorithm, "RSAES_OAEP_SHA_256");
  EXPECT_EQ(to_rsa->source_key_arn, KeyArn(symmetric));
  EXPECT_EQ(to_rsa->key_arn, KeyArn(rsa));

  auto back = service_->ReEncrypt(call_, to_rsa->ciphertext_blob, {}, rsa, symmetric, {{"c", "d"}},
                                  {}, "RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->source_key_arn, KeyArn(rsa));
  EXPECT_EQ(back->source_encryption_algorithm, "RSAES_OAEP_SHA_256");
  auto decrypted = service_->Decrypt(call_, back->ciphertext_blob, {{"c", "d"}}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "moving");

  // The RSA source needs SourceKeyId; an RSA destination no destination context.
  EXPECT_EQ(TypeOf(service_
                       ->ReEncrypt(call_, to_rsa->ciphertext_blob, {}, "", symmetric, {}, {},
                                   "RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT")
                       .status()),
            ErrorType::kValidation);
  EXPECT_EQ(TypeOf(service_
                       ->ReEncrypt(call_, symmetric_blob->ciphertext_blob, {{"a", "b"}}, "", rsa,
                                   {{"x", "y"}}, {}, "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1")
                       .status()),
            ErrorType::kValidation);
  // A symmetric-sized plaintext over the RSA limit cannot move to the RSA key.
  auto large = service_->Encrypt(call_, symmetric, Message(std::string(1000, 'z')), {}, {});
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(TypeOf(service_
                       ->ReEncrypt(call_, large->ciphertext_blob, {}, "", rsa, {}, {},
                                   "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256")
                       .status()),
            ErrorType::kValidation);
}

TEST_F(KeyTypesTest, IdentityPolicyConditionOnEncryptionAlgorithmSeesTheRequestsAlgorithm) {
  std::string rsa = NewKeyOf("RSA_2048", "ENCRYPT_DECRYPT");
  // alice may encrypt with RSAES_OAEP_SHA_256 only (the default key policy lets the account's
  // identity policies decide).
  CallContext alice =
      testing::AsUser("alice", {StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)",
                                       R"("Action":"kms:Encrypt","Resource":")", KeyArn(rsa),
                                       R"(","Condition":{"StringEquals":)",
                                       R"({"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}}]})")});
  EXPECT_TRUE(service_->Encrypt(alice, rsa, Message("x"), {}, {}, "RSAES_OAEP_SHA_256").ok());
  EXPECT_EQ(
      TypeOf(service_->Encrypt(alice, rsa, Message("x"), {}, {}, "RSAES_OAEP_SHA_1").status()),
      ErrorType::kAccessDenied);
}

// --- Data key pairs (issue 13) ---

TEST_F(KeyTypesTest, DataKeyPairsPrivateKeyDecryptsFromItsBlobAndMatchesThePublicKey) {
  std::string symmetric = NewKey();
  for (std::string spec :
       {"RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"}) {
    auto pair = service_->GenerateDataKeyPair(call_, symmetric, spec, {{"pair", spec}}, true, {});
    ASSERT_TRUE(pair.ok()) << spec << ": " << pair.status();
    EXPECT_EQ(pair->key_pair_spec, spec);
    EXPECT_EQ(pair->key_arn, KeyArn(symmetric));
    auto decrypted =
        service_->Decrypt(call_, pair->private_key_ciphertext_blob, {{"pair", spec}}, "", {});
    ASSERT_TRUE(decrypted.ok()) << decrypted.status();
    EXPECT_EQ(decrypted->plaintext.view(), pair->private_key_plaintext.view());
    const unsigned char* in = decrypted->plaintext.data();
    EVP_PKEY* private_key =
        d2i_AutoPrivateKey(nullptr, &in, static_cast<long>(decrypted->plaintext.size()));
    const auto* public_in = reinterpret_cast<const unsigned char*>(pair->public_key.data());
    EVP_PKEY* public_key =
        d2i_PUBKEY(nullptr, &public_in, static_cast<long>(pair->public_key.size()));
    ASSERT_NE(private_key, nullptr);
    ASSERT_NE(public_key, nullptr);
    EXPECT_EQ(EVP_PKEY_eq(private_key, public_key), 1) << spec;
    EVP_PKEY_free(private_key);
    EVP_PKEY_free(public_key);
  }
}

TEST_F(KeyTypesTest, DataKeyPairWithoutPlaintextHasNoPrivateKeyButItsBlobDecrypts) {
  std::string symmetric = NewKey();
  auto pair = service_->GenerateDataKeyPair(call_, symmetric, "ECC_NIST_P384", {}, false, {});
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_TRUE(pair->private_key_plaintext.empty());
  EXPECT_FALSE(pair->public_key.empty());
  EXPECT_TRUE(service_->Decrypt(call_, pair->private_key_ciphertext_blob, {}, "", {}).ok());
}

TEST_F(KeyTypesTest, DataKeyPairsRefuseSm2AndKeysThatAreNotSymmetric) {
  std::string symmetric = NewKey();
  auto sm2 = service_->GenerateDataKeyPair(call_, symmetric, "SM2", {}, true, {});
  EXPECT_EQ(TypeOf(sm2.status()), ErrorType::kUnsupportedOperation);
  EXPECT_NE(sm2.status().message().find("China"), std::string::npos);
  for (const std::string& key :
       {NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY"), NewKeyOf("HMAC_256", "GENERATE_VERIFY_MAC")}) {
    EXPECT_EQ(TypeOf(service_->GenerateDataKeyPair(call_, key, "RSA_2048", {}, false, {}).status()),
              ErrorType::kInvalidKeyUsage);
  }
}

TEST_F(KeyTypesTest, GrantsAllowDataKeyPairsAndKeyAgreementToTheirGranteeOnly) {
  std::string symmetric = NewKey();
  std::string agreement = NewKeyOf("ECC_NIST_P256", "KEY_AGREEMENT");
  for (auto [key, operation] : {std::pair{symmetric, "GenerateDataKeyPairWithoutPlaintext"},
                                std::pair{agreement, "DeriveSharedSecret"}}) {
    ASSERT_TRUE(service_
                    ->CreateGrant(call_, {.key_id = key,
                                          .grantee_principal = testing::UserArn("alice"),
                                          .operations = {operation}})
                    .ok())
        << operation;
  }
  auto peer = service_->GetPublicKey(call_, agreement, {});
  ASSERT_TRUE(peer.ok());
  CallContext alice = testing::AsUser("alice");
  EXPECT_TRUE(service_->GenerateDataKeyPair(alice, symmetric, "ECC_NIST_P256", {}, false, {}).ok());
  EXPECT_EQ(
      TypeOf(
          service_->GenerateDataKeyPair(alice, symmetric, "ECC_NIST_P256", {}, true, {}).status()),
      ErrorType::kAccessDenied);
  EXPECT_TRUE(service_->DeriveSharedSecret(alice, agreement, "ECDH", peer->public_key, {}).ok());
  CallContext bob = testing::AsUser("bob");
  EXPECT_EQ(
      TypeOf(service_->DeriveSharedSecret(bob, agreement, "ECDH", peer->public_key, {}).status()),
      ErrorType::kAccessDenied);
}

// --- Key agreement (issue 13) ---

TEST_F(KeyTypesTest, TwoKmsKeysDeriveTheSameSecretFromEachOthersPublicKey) {
  std::string alice = NewKeyOf("ECC_NIST_P256", "KEY_AGREEMENT");
  std::string bob = NewKeyOf("ECC_NIST_P256", "KEY_AGREEMENT");
  auto alice_public = service_->GetPublicKey(call_, alice, {});
  auto bob_public = service_->GetPublicKey(call_, bob, {});
  ASSERT_TRUE(alice_public.ok() && bob_public.ok());
  EXPECT_EQ(alice_public->key_usage, "KEY_AGREEMENT");
  auto alice_secret =
      service_->DeriveSharedSecret(call_, alice, "ECDH", bob_public->public_key, {});
  auto bob_secret = service_->DeriveSharedSecret(call_, bob, "ECDH", alice_public->public_key, {});
  ASSERT_TRUE(alice_secret.ok()) << alice_secret.status();
  ASSERT_TRUE(bob_secret.ok()) << bob_secret.status();
  EXPECT_EQ(alice_secret->shared_secret.size(), 32u);
  EXPECT_EQ(alice_secret->shared_secret.view(), bob_secret->shared_secret.view());
  EXPECT_EQ(alice_secret->key_arn, KeyArn(alice));
  EXPECT_EQ(alice_secret->key_agreement_algorithm, "ECDH");
  EXPECT_EQ(alice_secret->key_origin, "AWS_KMS");
}

TEST_F(KeyTypesTest, DeriveSharedSecretRefusesOtherUsagesAndPeersOnAnotherCurve) {
  std::string agreement = NewKeyOf("ECC_NIST_P384", "KEY_AGREEMENT");
  std::string signing = NewKeyOf("ECC_NIST_P256", "SIGN_VERIFY");
  auto signing_public = service_->GetPublicKey(call_, signing, {});
  ASSERT_TRUE(signing_public.ok());
  EXPECT_EQ(
      TypeOf(service_->DeriveSharedSecret(call_, signing, "ECDH", signing_public->public_key, {})
                 .status()),
      ErrorType::kInvalidKeyUsage);
  EXPECT_EQ(
      TypeOf(service_->DeriveSharedSecret(call_, agreement, "ECDH", signing_public->public_key, {})
                 .status()),
      ErrorType::kValidation);
  EXPECT_EQ(
      TypeOf(service_->DeriveSharedSecret(call_, NewKey(), "ECDH", signing_public->public_key, {})
                 .status()),
      ErrorType::kInvalidKeyUsage);
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

// --- Ed25519 keys (ECC_NIST_EDWARDS25519) ---

std::string Sha512(std::string_view data) {
  std::string digest(SHA512_DIGEST_LENGTH, '\0');
  SHA512(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

TEST_F(KeyTypesTest, Ed25519KeySignsAndVerifiesWithBothAlgorithmsEachOfItsMessageType) {
  EXPECT_EQ(TypeOf(Create("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT").status()),
            ErrorType::kValidation);
  std::string key_id = NewKeyOf("ECC_NIST_EDWARDS25519", "SIGN_VERIFY");
  auto pure =
      service_->Sign(call_, key_id, Message("payload"), MessageType::kRaw, "ED25519_SHA_512", {});
  ASSERT_TRUE(pure.ok()) << pure.status();
  EXPECT_EQ(pure->signature.size(), 64u);
  EXPECT_EQ(pure->signing_algorithm, "ED25519_SHA_512");
  EXPECT_TRUE(service_
                  ->Verify(call_, key_id, Message("payload"), MessageType::kRaw, pure->signature,
                           "ED25519_SHA_512", {})
                  .ok());
  std::string digest = Sha512("payload");
  auto prehash = service_->Sign(call_, key_id, Message(digest), MessageType::kDigest,
                                "ED25519_PH_SHA_512", {});
  ASSERT_TRUE(prehash.ok()) << prehash.status();
  EXPECT_TRUE(service_
                  ->Verify(call_, key_id, Message(digest), MessageType::kDigest, prehash->signature,
                           "ED25519_PH_SHA_512", {})
                  .ok());
  EXPECT_EQ(TypeOf(service_
                       ->Verify(call_, key_id, Message("payloaD"), MessageType::kRaw,
                                pure->signature, "ED25519_SHA_512", {})
                       .status()),
            ErrorType::kKmsInvalidSignature);
  // Each algorithm takes one MessageType; ECDSA is not an algorithm of the key.
  EXPECT_EQ(
      TypeOf(service_
                 ->Sign(call_, key_id, Message(digest), MessageType::kDigest, "ED25519_SHA_512", {})
                 .status()),
      ErrorType::kValidation);
  EXPECT_EQ(TypeOf(service_
                       ->Sign(call_, key_id, Message("payload"), MessageType::kRaw,
                              "ED25519_PH_SHA_512", {})
                       .status()),
            ErrorType::kValidation);
  EXPECT_EQ(
      TypeOf(
          service_->Sign(call_, key_id, Message("payload"), MessageType::kRaw, "ECDSA_SHA_256", {})
              .status()),
      ErrorType::kInvalidKeyUsage);
  auto public_key = service_->GetPublicKey(call_, key_id, {});
  ASSERT_TRUE(public_key.ok()) << public_key.status();
  EXPECT_EQ(public_key->key_spec, "ECC_NIST_EDWARDS25519");
  EXPECT_EQ(public_key->public_key.size(), 44u);  // RFC 8410 SubjectPublicKeyInfo
}

TEST_F(KeyTypesTest, Ed25519KeySurvivesANewServiceAndIsDestroyedWithTheKey) {
  std::string key_id = NewKeyOf("ECC_NIST_EDWARDS25519", "SIGN_VERIFY");
  std::string digest = Sha512("kept");
  auto signature = service_->Sign(call_, key_id, Message(digest), MessageType::kDigest,
                                  "ED25519_PH_SHA_512", {});
  ASSERT_TRUE(signature.ok()) << signature.status();
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  auto again =
      fresh->Sign(call_, key_id, Message(digest), MessageType::kDigest, "ED25519_PH_SHA_512", {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->signature, signature->signature);  // deterministic, the same key
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
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
