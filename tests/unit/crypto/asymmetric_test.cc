// Key material of every kind and the sign, verify and HMAC primitives, checked against OpenSSL's
// own high-level verification and RFC 4231's vectors.
#include "kmsd/asymmetric.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd::crypto {
namespace {

const KeySpecInfo& Spec(std::string_view name) {
  const KeySpecInfo* spec = FindKeySpec(name);
  EXPECT_NE(spec, nullptr) << name;
  return *spec;
}

const SigningAlgorithmInfo& Algorithm(std::string_view name) {
  const SigningAlgorithmInfo* algorithm = FindSigningAlgorithm(name);
  EXPECT_NE(algorithm, nullptr) << name;
  return *algorithm;
}

// One key per spec for the whole test program: RSA generation takes a while.
std::shared_ptr<const PrivateKey> KeyOf(std::string_view spec_name) {
  static std::map<std::string, std::shared_ptr<const PrivateKey>> keys;
  auto& key = keys[std::string(spec_name)];
  if (!key) {
    auto material = GenerateKeyMaterial(Spec(spec_name));
    EXPECT_TRUE(material.ok()) << material.status();
    auto parsed = PrivateKey::FromPkcs8(*material, Spec(spec_name));
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    key = *parsed;
  }
  return key;
}

// The public key as an independent EVP_PKEY, parsed from GetPublicKey's DER.
EVP_PKEY* PublicKeyOf(const PrivateKey& key) {
  const auto* in = reinterpret_cast<const unsigned char*>(key.PublicKeyDer().data());
  return d2i_PUBKEY(nullptr, &in, static_cast<long>(key.PublicKeyDer().size()));
}

// Verifies with OpenSSL's one-shot EVP_DigestVerify over the raw message, the way a verifier
// outside kmsd would (PSS salt length set explicitly to the digest's length).
bool OpenSslVerifies(const PrivateKey& key, const SigningAlgorithmInfo& algorithm,
                     std::string_view message, std::string_view signature) {
  EVP_PKEY* public_key = PublicKeyOf(key);
  if (!public_key) return false;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pkey_context = nullptr;
  bool ok = EVP_DigestVerifyInit_ex(context, &pkey_context, std::string(algorithm.digest).c_str(),
                                    nullptr, nullptr, public_key, nullptr) == 1;
  if (ok && algorithm.padding == SignaturePadding::kPss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pkey_context, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_context, static_cast<int>(algorithm.digest_size)) ==
             1;
  }
  ok = ok &&
       EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                        signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                        message.size()) == 1;
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(public_key);
  return ok;
}

TEST(GenerateKeyMaterial, SymmetricAndHmacKeysAreRandomBytesOfTheSpecsLength) {
  for (auto [name, size] :
       {std::pair{"SYMMETRIC_DEFAULT", 32}, std::pair{"HMAC_224", 28}, std::pair{"HMAC_256", 32},
        std::pair{"HMAC_384", 48}, std::pair{"HMAC_512", 64}}) {
    auto first = GenerateKeyMaterial(Spec(name));
    auto second = GenerateKeyMaterial(Spec(name));
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->size(), static_cast<size_t>(size)) << name;
    EXPECT_NE(first->view(), second->view()) << name;
  }
}

TEST(GenerateKeyMaterial, UnsupportedSpecsAreRefusedWithTheirReason) {
  for (std::string_view name : {"SM2", "ML_DSA_65"}) {
    auto material = GenerateKeyMaterial(Spec(name));
    EXPECT_EQ(TypeOf(material.status()), ErrorType::kUnsupportedOperation) << name;
  }
}

TEST(GenerateKeyMaterial, AsymmetricKeysAreOfTheSpecsSizeOrCurve) {
  for (std::string_view name : {"RSA_2048", "RSA_3072", "ECC_NIST_P256", "ECC_NIST_P384",
                                "ECC_NIST_P521", "ECC_SECG_P256K1"}) {
    std::shared_ptr<const PrivateKey> key = KeyOf(name);
    ASSERT_NE(key, nullptr) << name;
    EVP_PKEY* public_key = PublicKeyOf(*key);
    ASSERT_NE(public_key, nullptr) << name;
    EXPECT_EQ(EVP_PKEY_get_bits(public_key), Spec(name).bits) << name;
    EVP_PKEY_free(public_key);
  }
}

TEST(GenerateKeyMaterial, Rsa4096HasPublicExponent65537) {
  std::shared_ptr<const PrivateKey> key = KeyOf("RSA_4096");
  ASSERT_NE(key, nullptr);
  EVP_PKEY* public_key = PublicKeyOf(*key);
  ASSERT_NE(public_key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_bits(public_key), 4096);
  BIGNUM* exponent = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(public_key, "e", &exponent), 1);
  EXPECT_EQ(BN_get_word(exponent), 65537u);
  BN_free(exponent);
  EVP_PKEY_free(public_key);
}

TEST(PrivateKey, RefusesMaterialOfAnotherSpec) {
  auto material = GenerateKeyMaterial(Spec("ECC_NIST_P256"));
  ASSERT_TRUE(material.ok());
  EXPECT_EQ(TypeOf(PrivateKey::FromPkcs8(*material, Spec("ECC_NIST_P384")).status()),
            ErrorType::kKmsInternal);
  EXPECT_EQ(TypeOf(PrivateKey::FromPkcs8(*material, Spec("RSA_2048")).status()),
            ErrorType::kKmsInternal);
  EXPECT_TRUE(PrivateKey::FromPkcs8(*material, Spec("ECC_NIST_P256")).ok());
}

TEST(PrivateKey, RefusesBytesThatAreNotPkcs8) {
  SecretBytes garbage = SecretBytes::FromString("not a private key");
  EXPECT_EQ(TypeOf(PrivateKey::FromPkcs8(garbage, Spec("RSA_2048")).status()),
            ErrorType::kKmsInternal);
}

TEST(Sign, EverySigningAlgorithmOfEverySpecVerifiesInOpenSsl) {
  const std::string message = "a message to sign, of no particular length";
  for (std::string_view spec_name :
       {"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"}) {
    std::shared_ptr<const PrivateKey> key = KeyOf(spec_name);
    ASSERT_NE(key, nullptr);
    for (std::string_view algorithm_name : Spec(spec_name).signing_algorithms) {
      const SigningAlgorithmInfo& algorithm = Algorithm(algorithm_name);
      auto signature = key->Sign(algorithm, message, /*is_digest=*/false);
      ASSERT_TRUE(signature.ok()) << signature.status();
      EXPECT_TRUE(OpenSslVerifies(*key, algorithm, message, *signature))
          << spec_name << " " << algorithm_name;
      EXPECT_FALSE(OpenSslVerifies(*key, algorithm, message + ".", *signature))
          << spec_name << " " << algorithm_name;
      auto verified = key->Verify(algorithm, message, /*is_digest=*/false, *signature);
      ASSERT_TRUE(verified.ok());
      EXPECT_TRUE(*verified) << spec_name << " " << algorithm_name;
    }
  }
}

TEST(Sign, DigestMessageSignsTheSameAsTheRawMessage) {
  std::shared_ptr<const PrivateKey> key = KeyOf("RSA_2048");
  const SigningAlgorithmInfo& algorithm = Algorithm("RSASSA_PKCS1_V1_5_SHA_256");
  const std::string message = "hash me";
  auto raw = key->Sign(algorithm, message, /*is_digest=*/false);
  auto digest = key->Sign(algorithm, Sha256(message), /*is_digest=*/true);
  ASSERT_TRUE(raw.ok() && digest.ok());
  EXPECT_EQ(*raw, *digest);  // PKCS#1 v1.5 is deterministic
  EXPECT_TRUE(OpenSslVerifies(*key, algorithm, message, *digest));
}

TEST(Sign, EcdsaOverADigestVerifiesAsTheRawMessage) {
  std::shared_ptr<const PrivateKey> key = KeyOf("ECC_NIST_P256");
  const SigningAlgorithmInfo& algorithm = Algorithm("ECDSA_SHA_256");
  auto signature = key->Sign(algorithm, Sha256("abc"), /*is_digest=*/true);
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(OpenSslVerifies(*key, algorithm, "abc", *signature));
  auto verified = key->Verify(algorithm, "abc", /*is_digest=*/false, *signature);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(*verified);
}

TEST(Sign, DigestOfTheWrongLengthIsAValidationError) {
  std::shared_ptr<const PrivateKey> key = KeyOf("ECC_NIST_P384");
  auto signature = key->Sign(Algorithm("ECDSA_SHA_384"), std::string(32, 'x'), true);
  EXPECT_EQ(TypeOf(signature.status()), ErrorType::kValidation);
}

TEST(Verify, EveryFlippedBitOfASignatureFails) {
  std::shared_ptr<const PrivateKey> key = KeyOf("ECC_NIST_P256");
  const SigningAlgorithmInfo& algorithm = Algorithm("ECDSA_SHA_256");
  auto signature = key->Sign(algorithm, "message", false);
  ASSERT_TRUE(signature.ok());
  for (size_t bit = 0; bit < signature->size() * 8; ++bit) {
    std::string flipped = *signature;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    auto verified = key->Verify(algorithm, "message", false, flipped);
    ASSERT_TRUE(verified.ok());
    EXPECT_FALSE(*verified) << "bit " << bit;
  }
}

TEST(Verify, PssSignatureDoesNotVerifyAsPkcs1) {
  std::shared_ptr<const PrivateKey> key = KeyOf("RSA_2048");
  auto signature = key->Sign(Algorithm("RSASSA_PSS_SHA_256"), "message", false);
  ASSERT_TRUE(signature.ok());
  auto as_pkcs1 = key->Verify(Algorithm("RSASSA_PKCS1_V1_5_SHA_256"), "message", false, *signature);
  auto as_pss384 = key->Verify(Algorithm("RSASSA_PSS_SHA_384"), "message", false, *signature);
  ASSERT_TRUE(as_pkcs1.ok() && as_pss384.ok());
  EXPECT_FALSE(*as_pkcs1);
  EXPECT_FALSE(*as_pss384);
}

TEST(Verify, GarbageSignatureIsNotValidRatherThanAnError) {
  std::shared_ptr<const PrivateKey> key = KeyOf("RSA_2048");
  auto verified = key->Verify(Algorithm("RSASSA_PSS_SHA_512"), "m", false, "short");
  ASSERT_TRUE(verified.ok());
  EXPECT_FALSE(*verified);
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// RFC 4231, test case 2 (key "Jefe").
TEST(Hmac, MatchesRfc4231TestCase2ForEveryDigest) {
  SecretBytes key = SecretBytes::FromString("Jefe");
  const std::string data = "what do ya want for nothing?";
  std::map<std::string, std::string> expected = {
      {"HMAC_SHA_224", "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"},
      {"HMAC_SHA_256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"HMAC_SHA_384",
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab"
       "2"
       "1649"},
      {"HMAC_SHA_512",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f"
       "0"
       "e6fdcaeab1a34d4a6b4b636e070a38bce737"},
  };
  for (const auto& [name, mac] : expected) {
    auto computed = Hmac(*FindMacAlgorithm(name), key, data);
    ASSERT_TRUE(computed.ok());
    EXPECT_EQ(*computed, Unhex(mac)) << name;
  }
}

// kmsd's HMAC (RFC 2104 on a fetched digest) against OpenSSL's HMAC(): keys shorter than, as
// long as and longer than the digest's block (64 bytes for SHA-224/256, 128 for SHA-384/512;
// imported keys may be longer), messages empty to several blocks.
TEST(Hmac, MatchesOpenSslForEveryDigestKeyLengthAndMessageLength) {
  for (std::string_view name : {"HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"}) {
    const MacAlgorithmInfo& algorithm = *FindMacAlgorithm(name);
    const EVP_MD* digest = EVP_get_digestbyname(std::string(algorithm.digest).c_str());
    ASSERT_NE(digest, nullptr);
    for (size_t key_size : {0, 1, 32, 63, 64, 65, 127, 128, 129, 200}) {
      std::string key_bytes(key_size, '\0');
      for (size_t i = 0; i < key_size; ++i) key_bytes[i] = static_cast<char>(i * 7 + 1);
      SecretBytes key = SecretBytes::FromString(key_bytes);
      for (size_t message_size : {0, 1, 55, 64, 111, 128, 1000, 4096}) {
        std::string message(message_size, 'm');
        unsigned char expected[EVP_MAX_MD_SIZE];
        unsigned int expected_size = 0;
        ASSERT_NE(HMAC(digest, key_bytes.data(), static_cast<int>(key_bytes.size()),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       expected, &expected_size),
                  nullptr);
        auto computed = Hmac(algorithm, key, message);
        ASSERT_TRUE(computed.ok()) << computed.status();
        EXPECT_EQ(*computed, std::string(reinterpret_cast<const char*>(expected), expected_size))
            << name << " key " << key_size << " message " << message_size;
      }
    }
  }
}

// Each Sign and Verify works on a copy of the key's prototype context: threads signing with one
// key at once each get a valid signature of their own message.
TEST(Sign, ThreadsSigningWithOneKeyAtOnceEachGetAValidSignature) {
  for (auto [spec, algorithm_name] :
       {std::pair<std::string_view, std::string_view>{"ECC_NIST_P256", "ECDSA_SHA_256"},
        {"RSA_2048", "RSASSA_PSS_SHA_256"}}) {
    auto key = KeyOf(spec);
    const SigningAlgorithmInfo& algorithm = Algorithm(algorithm_name);
    constexpr int kThreads = 4, kEach = 20;
    std::vector<std::vector<std::pair<std::string, std::string>>> signed_by(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          std::string message = "message " + std::to_string(t) + "/" + std::to_string(i);
          auto signature = key->Sign(algorithm, message, /*is_digest=*/false);
          if (signature.ok()) signed_by[t].emplace_back(message, *signature);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (const auto& signatures : signed_by) {
      ASSERT_EQ(signatures.size(), static_cast<size_t>(kEach));
      for (const auto& [message, signature] : signatures) {
        EXPECT_TRUE(OpenSslVerifies(*key, algorithm, message, signature)) << spec << " " << message;
        auto valid = key->Verify(algorithm, message, /*is_digest=*/false, signature);
        ASSERT_TRUE(valid.ok());
        EXPECT_TRUE(*valid);
        auto other = key->Verify(algorithm, message + "!", /*is_digest=*/false, signature);
        ASSERT_TRUE(other.ok());
        EXPECT_FALSE(*other);
      }
    }
  }
}

// --- RSAES-OAEP (issue 13) ---

const EncryptionAlgorithmInfo& Oaep(std::string_view name) {
  const EncryptionAlgorithmInfo* algorithm = FindEncryptionAlgorithm(name);
  EXPECT_NE(algorithm, nullptr) << name;
  return *algorithm;
}

// Encrypts as a party outside kmsd would: OpenSSL with the public key alone.
std::string OpenSslOaepEncrypt(const PrivateKey& key, std::string_view digest,
                               std::string_view plaintext) {
  EVP_PKEY* public_key = PublicKeyOf(key);
  EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_pkey(nullptr, public_key, nullptr);
  const EVP_MD* md = EVP_get_digestbyname(std::string(digest).c_str());
  std::string out(512, '\0');
  size_t length = out.size();
  bool ok = EVP_PKEY_encrypt_init(context) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_oaep_md(context, md) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(context, md) == 1 &&
            EVP_PKEY_encrypt(context, reinterpret_cast<unsigned char*>(out.data()), &length,
                             reinterpret_cast<const unsigned char*>(plaintext.data()),
                             plaintext.size()) == 1;
  EVP_PKEY_CTX_free(context);
  EVP_PKEY_free(public_key);
  EXPECT_TRUE(ok);
  out.resize(ok ? length : 0);
  return out;
}

TEST(EncryptionAlgorithms, PlaintextLimitsAreAwsTable) {
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_2048"), Oaep("RSAES_OAEP_SHA_1")), 214u);
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_2048"), Oaep("RSAES_OAEP_SHA_256")), 190u);
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_3072"), Oaep("RSAES_OAEP_SHA_1")), 342u);
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_3072"), Oaep("RSAES_OAEP_SHA_256")), 318u);
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_4096"), Oaep("RSAES_OAEP_SHA_1")), 470u);
  EXPECT_EQ(MaxRsaPlaintext(Spec("RSA_4096"), Oaep("RSAES_OAEP_SHA_256")), 446u);
  EXPECT_EQ(FindEncryptionAlgorithm("SYMMETRIC_DEFAULT"), nullptr);
  EXPECT_EQ(FindEncryptionAlgorithm("SM2PKE"), nullptr);
}

TEST(RsaOaep, CiphertextIsTheModulusLongAndDecryptsAtTheLimit) {
  for (std::string_view name : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) {
    auto key = KeyOf("RSA_2048");
    std::string plaintext(MaxRsaPlaintext(Spec("RSA_2048"), Oaep(name)), 'p');
    auto ciphertext = key->Encrypt(Oaep(name), plaintext);
    ASSERT_TRUE(ciphertext.ok()) << ciphertext.status();
    EXPECT_EQ(ciphertext->size(), 256u);
    auto decrypted = key->Decrypt(Oaep(name), *ciphertext);
    ASSERT_TRUE(decrypted.ok()) << decrypted.status();
    EXPECT_EQ(decrypted->view(), plaintext);
  }
}

TEST(RsaOaep, OpenSslCiphertextWithThePublicKeyDecrypts) {
  auto key = KeyOf("RSA_3072");
  for (auto [name, digest] :
       {std::pair{"RSAES_OAEP_SHA_1", "SHA1"}, std::pair{"RSAES_OAEP_SHA_256", "SHA256"}}) {
    std::string ciphertext = OpenSslOaepEncrypt(*key, digest, "made outside kmsd");
    auto decrypted = key->Decrypt(Oaep(name), ciphertext);
    ASSERT_TRUE(decrypted.ok()) << name << ": " << decrypted.status();
    EXPECT_EQ(decrypted->view(), "made outside kmsd");
  }
}

TEST(RsaOaep, WrongAlgorithmIsInvalidCiphertext) {
  auto key = KeyOf("RSA_2048");
  auto ciphertext = key->Encrypt(Oaep("RSAES_OAEP_SHA_256"), "secret");
  ASSERT_TRUE(ciphertext.ok());
  EXPECT_EQ(TypeOf(key->Decrypt(Oaep("RSAES_OAEP_SHA_1"), *ciphertext).status()),
            ErrorType::kInvalidCiphertext);
}

TEST(RsaOaep, EveryFlippedByteAndEveryWrongLengthIsInvalidCiphertext) {
  auto key = KeyOf("RSA_2048");
  auto ciphertext = key->Encrypt(Oaep("RSAES_OAEP_SHA_256"), "secret");
  ASSERT_TRUE(ciphertext.ok());
  for (size_t i = 0; i < ciphertext->size(); i += 7) {
    std::string altered = *ciphertext;
    altered[i] ^= 0x01;
    EXPECT_EQ(TypeOf(key->Decrypt(Oaep("RSAES_OAEP_SHA_256"), altered).status()),
              ErrorType::kInvalidCiphertext)
        << "byte " << i;
  }
  EXPECT_EQ(TypeOf(key->Decrypt(Oaep("RSAES_OAEP_SHA_256"), ciphertext->substr(1)).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(key->Decrypt(Oaep("RSAES_OAEP_SHA_256"), *ciphertext + "x").status()),
            ErrorType::kInvalidCiphertext);
}

TEST(RsaOaep, AnotherKeysCiphertextIsInvalid) {
  auto ciphertext = KeyOf("RSA_2048")->Encrypt(Oaep("RSAES_OAEP_SHA_1"), "secret");
  ASSERT_TRUE(ciphertext.ok());
  auto material = GenerateKeyMaterial(Spec("RSA_2048"));
  ASSERT_TRUE(material.ok());
  auto other = PrivateKey::FromPkcs8(*material, Spec("RSA_2048"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(TypeOf((*other)->Decrypt(Oaep("RSAES_OAEP_SHA_1"), *ciphertext).status()),
            ErrorType::kInvalidCiphertext);
}

// --- ECDH (issue 13) ---

// A peer's key pair made by OpenSSL directly.
EVP_PKEY* PeerKey(const char* curve) { return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve); }

std::string SpkiOf(EVP_PKEY* key) {
  int length = i2d_PUBKEY(key, nullptr);
  std::string der(static_cast<size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(key, &out);
  return der;
}

// What the peer derives with its private key and kmsd's public key.
std::string PeerDerives(EVP_PKEY* peer, const PrivateKey& key) {
  EVP_PKEY* ours = PublicKeyOf(key);
  EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_pkey(nullptr, peer, nullptr);
  std::string secret(128, '\0');
  size_t length = secret.size();
  bool ok = EVP_PKEY_derive_init(context) == 1 && EVP_PKEY_derive_set_peer(context, ours) == 1 &&
            EVP_PKEY_derive(context, reinterpret_cast<unsigned char*>(secret.data()), &length) == 1;
  EVP_PKEY_CTX_free(context);
  EVP_PKEY_free(ours);
  EXPECT_TRUE(ok);
  secret.resize(ok ? length : 0);
  return secret;
}

TEST(DeriveSharedSecret, AgreesWithThePeersOwnDerivationOnEveryNistCurve) {
  for (auto [spec, curve, size] :
       {std::tuple{"ECC_NIST_P256", "P-256", 32u}, std::tuple{"ECC_NIST_P384", "P-384", 48u},
        std::tuple{"ECC_NIST_P521", "P-521", 66u}}) {
    EVP_PKEY* peer = PeerKey(curve);
    ASSERT_NE(peer, nullptr);
    auto secret = KeyOf(spec)->DeriveSharedSecret(SpkiOf(peer));
    ASSERT_TRUE(secret.ok()) << spec << ": " << secret.status();
    EXPECT_EQ(secret->size(), size);
    EXPECT_EQ(secret->view(), PeerDerives(peer, *KeyOf(spec)));
    EVP_PKEY_free(peer);
  }
}

TEST(DeriveSharedSecret, PeerKeyOnAnotherCurveIsAValidationErrorNamingBoth) {
  EVP_PKEY* peer = PeerKey("P-384");
  auto secret = KeyOf("ECC_NIST_P256")->DeriveSharedSecret(SpkiOf(peer));
  EVP_PKEY_free(peer);
  EXPECT_EQ(TypeOf(secret.status()), ErrorType::kValidation);
  EXPECT_NE(secret.status().message().find("ECC_NIST_P384"), std::string::npos);
  EXPECT_NE(secret.status().message().find("ECC_NIST_P256"), std::string::npos);
}

TEST(DeriveSharedSecret, RsaPeerKeyIsAValidationError) {
  auto secret = KeyOf("ECC_NIST_P256")->DeriveSharedSecret(KeyOf("RSA_2048")->PublicKeyDer());
  EXPECT_EQ(TypeOf(secret.status()), ErrorType::kValidation);
  EXPECT_NE(secret.status().message().find("not an elliptic curve"), std::string::npos);
}

TEST(DeriveSharedSecret, MalformedDerIsAValidationError) {
  std::string der = KeyOf("ECC_NIST_P256")->PublicKeyDer();
  for (std::string bad : {std::string("not der"), der.substr(0, der.size() - 1),
                          der + std::string(1, '\0'), std::string()}) {
    EXPECT_EQ(TypeOf(KeyOf("ECC_NIST_P256")->DeriveSharedSecret(bad).status()),
              ErrorType::kValidation);
  }
}

TEST(DeriveSharedSecret, PointNotOnTheCurveIsAValidationError) {
  std::string der = KeyOf("ECC_NIST_P256")->PublicKeyDer();
  // The uncompressed point is the last 64 bytes (x then y): change y, and it leaves the curve.
  der[der.size() - 1] ^= 0x01;
  auto secret = KeyOf("ECC_NIST_P256")->DeriveSharedSecret(der);
  EXPECT_EQ(TypeOf(secret.status()), ErrorType::kValidation);
  EXPECT_NE(secret.status().message().find("not a valid point"), std::string::npos)
      << secret.status();
}

// --- Data key pairs (issue 13) ---

TEST(GenerateDataKeyPair, EverySpecMakesAPairWhosePublicKeyMatchesThePrivate) {
  for (std::string_view spec : {"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                                "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"}) {
    auto pair = GenerateDataKeyPair(spec);
    ASSERT_TRUE(pair.ok()) << spec << ": " << pair.status();
    const unsigned char* in = pair->private_key.data();
    EVP_PKEY* private_key =
        d2i_AutoPrivateKey(nullptr, &in, static_cast<long>(pair->private_key.size()));
    ASSERT_NE(private_key, nullptr) << spec;
    const auto* public_in = reinterpret_cast<const unsigned char*>(pair->public_key.data());
    EVP_PKEY* public_key =
        d2i_PUBKEY(nullptr, &public_in, static_cast<long>(pair->public_key.size()));
    ASSERT_NE(public_key, nullptr) << spec;
    EXPECT_EQ(EVP_PKEY_eq(private_key, public_key), 1) << spec;
    EVP_PKEY_free(private_key);
    EVP_PKEY_free(public_key);
  }
}

TEST(GenerateDataKeyPair, EachCallMakesANewPair) {
  auto first = GenerateDataKeyPair("ECC_NIST_P256");
  auto second = GenerateDataKeyPair("ECC_NIST_P256");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->public_key, second->public_key);
}

TEST(GenerateDataKeyPair, Sm2AndUnknownSpecsAreUnsupported) {
  EXPECT_EQ(TypeOf(GenerateDataKeyPair("SM2").status()), ErrorType::kUnsupportedOperation);
  EXPECT_EQ(TypeOf(GenerateDataKeyPair("HMAC_256").status()), ErrorType::kUnsupportedOperation);
}

}  // namespace
}  // namespace kmsd::crypto
