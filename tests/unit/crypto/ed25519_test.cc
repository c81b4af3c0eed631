// Ed25519 keys (ECC_NIST_EDWARDS25519): RFC 8032's known answers for Ed25519 (7.1) and Ed25519ph
// (7.3) through kmsd's own functions from the seed, round trips, OpenSSL's own verification of
// pure Ed25519, tampered signatures and wrong lengths.
#include "crypto/ed25519.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <string>

#include "kmsd/asymmetric.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd::crypto {
namespace {

std::string Hex(std::string_view hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return bytes;
}

const KeySpecInfo& Ed25519Spec() { return *FindKeySpec("ECC_NIST_EDWARDS25519"); }
const SigningAlgorithmInfo& Pure() { return *FindSigningAlgorithm("ED25519_SHA_512"); }
const SigningAlgorithmInfo& Prehash() { return *FindSigningAlgorithm("ED25519_PH_SHA_512"); }

// RFC 8410's PKCS#8 of an Ed25519 seed: the fixed prefix, then the 32 bytes.
SecretBytes Pkcs8OfSeed(std::string_view seed) {
  return SecretBytes::FromString(Hex("302e020100300506032b657004220420") + std::string(seed));
}

std::shared_ptr<const PrivateKey> KeyFromSeed(std::string_view seed_hex) {
  auto key = PrivateKey::FromPkcs8(Pkcs8OfSeed(Hex(seed_hex)), Ed25519Spec());
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : nullptr;
}

std::shared_ptr<const PrivateKey> NewKey() {
  auto material = GenerateKeyMaterial(Ed25519Spec());
  EXPECT_TRUE(material.ok()) << material.status();
  auto key = PrivateKey::FromPkcs8(*material, Ed25519Spec());
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

std::string Sha512(std::string_view data) {
  std::string digest(SHA512_DIGEST_LENGTH, '\0');
  SHA512(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

struct KnownAnswer {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 7.1, TEST 1, TEST 2, TEST 3 and TEST SHA(abc).
constexpr KnownAnswer kEd25519Vectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fe"
     "ebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431"
     "e0303dca179c138ac17ad9bef1177331a704"},
};

// RFC 8032 7.3, TEST abc (Ed25519ph).
constexpr KnownAnswer kEd25519phVector = {
    "TEST abc", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf", "616263",
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062ad"
    "f5aaa10b8c61e636062aaad11c2a26083406"};

TEST(Ed25519, Rfc8032PureVectorsSignAndVerifyThroughPrivateKey) {
  for (const KnownAnswer& vector : kEd25519Vectors) {
    auto key = KeyFromSeed(vector.seed);
    ASSERT_NE(key, nullptr) << vector.name;
    // GetPublicKey's DER SubjectPublicKeyInfo (RFC 8410): the fixed prefix, then the point.
    EXPECT_EQ(key->PublicKeyDer(), Hex("302a300506032b6570032100") + Hex(vector.public_key))
        << vector.name;
    auto signature = key->Sign(Pure(), Hex(vector.message), /*is_digest=*/false);
    ASSERT_TRUE(signature.ok()) << vector.name << ": " << signature.status();
    EXPECT_EQ(*signature, Hex(vector.signature)) << vector.name;
    auto valid = key->Verify(Pure(), Hex(vector.message), false, Hex(vector.signature));
    ASSERT_TRUE(valid.ok()) << valid.status();
    EXPECT_TRUE(*valid) << vector.name;
  }
}

TEST(Ed25519, Rfc8032PrehashVectorThroughLibsodiumFromTheSeed) {
  std::string seed = Hex(kEd25519phVector.seed);
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  ASSERT_NE(key, nullptr);
  SecretBytes secret_key;
  std::string public_key;
  ASSERT_TRUE(Ed25519LibsodiumKey(key, secret_key, public_key).ok());
  EVP_PKEY_free(key);
  EXPECT_EQ(public_key, Hex(kEd25519phVector.public_key));
  // libsodium's secret key is the seed and the public key.
  EXPECT_EQ(secret_key.view(), seed + public_key);
  auto signature = Ed25519phSign(secret_key, Hex(kEd25519phVector.message));
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(*signature, Hex(kEd25519phVector.signature));
  EXPECT_TRUE(
      Ed25519phVerify(public_key, Hex(kEd25519phVector.message), Hex(kEd25519phVector.signature)));
}

TEST(Ed25519, PrehashAlgorithmSignsTheDigestAsEd25519phsMessage) {
  // ED25519_PH_SHA_512 with DIGEST d is Ed25519ph(d): d is hashed once more (AWS's model), so the
  // signature of SHA-512("abc") is not RFC 8032's signature of "abc".
  auto key = KeyFromSeed(kEd25519phVector.seed);
  ASSERT_NE(key, nullptr);
  std::string digest = Sha512("abc");
  auto signature = key->Sign(Prehash(), digest, /*is_digest=*/true);
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_NE(*signature, Hex(kEd25519phVector.signature));
  SecretBytes secret_key;
  std::string public_key;
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(Hex(kEd25519phVector.seed).data()), 32);
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(Ed25519LibsodiumKey(raw, secret_key, public_key).ok());
  EVP_PKEY_free(raw);
  auto expected = Ed25519phSign(secret_key, digest);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(*signature, *expected);
  EXPECT_TRUE(Ed25519phVerify(public_key, digest, *signature));
  auto valid = key->Verify(Prehash(), digest, true, *signature);
  ASSERT_TRUE(valid.ok());
  EXPECT_TRUE(*valid);
}

TEST(Ed25519, PureSignatureVerifiesInOpenSslWithThePublicKeyDer) {
  auto key = NewKey();
  std::string message = "a message of a JWT, say";
  auto signature = key->Sign(Pure(), message, false);
  ASSERT_TRUE(signature.ok());
  ASSERT_EQ(signature->size(), 64u);
  const auto* in = reinterpret_cast<const unsigned char*>(key->PublicKeyDer().data());
  EVP_PKEY* public_key = d2i_PUBKEY(nullptr, &in, static_cast<long>(key->PublicKeyDer().size()));
  ASSERT_NE(public_key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_id(public_key), EVP_PKEY_ED25519);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, public_key), 1);
  EXPECT_EQ(
      EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature->data()),
                       signature->size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()),
      1);
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(public_key);
}

TEST(Ed25519, RoundTripsWithBothAlgorithmsOnANewKey) {
  auto key = NewKey();
  auto pure = key->Sign(Pure(), "hello", false);
  ASSERT_TRUE(pure.ok());
  EXPECT_TRUE(*key->Verify(Pure(), "hello", false, *pure));
  std::string digest = Sha512("hello");
  auto prehash = key->Sign(Prehash(), digest, true);
  ASSERT_TRUE(prehash.ok());
  EXPECT_EQ(prehash->size(), 64u);
  EXPECT_TRUE(*key->Verify(Prehash(), digest, true, *prehash));
  // Ed25519 is deterministic: the same message gives the same signature.
  EXPECT_EQ(*key->Sign(Pure(), "hello", false), *pure);
}

TEST(Ed25519, EveryFlippedSignatureBitFailsVerification) {
  auto key = NewKey();
  std::string digest = Sha512("payload");
  auto pure = key->Sign(Pure(), "payload", false);
  auto prehash = key->Sign(Prehash(), digest, true);
  ASSERT_TRUE(pure.ok() && prehash.ok());
  for (size_t bit = 0; bit < 64 * 8; ++bit) {
    std::string tampered = *pure;
    tampered[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(*key->Verify(Pure(), "payload", false, tampered)) << "bit " << bit;
    tampered = *prehash;
    tampered[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(*key->Verify(Prehash(), digest, true, tampered)) << "bit " << bit;
  }
}

TEST(Ed25519, ChangedMessageOrOtherKeyFailsVerification) {
  auto key = NewKey();
  auto other = NewKey();
  auto pure = key->Sign(Pure(), "payload", false);
  ASSERT_TRUE(pure.ok());
  EXPECT_FALSE(*key->Verify(Pure(), "paylOad", false, *pure));
  EXPECT_FALSE(*other->Verify(Pure(), "payload", false, *pure));
  std::string digest = Sha512("payload");
  auto prehash = key->Sign(Prehash(), digest, true);
  ASSERT_TRUE(prehash.ok());
  std::string changed = digest;
  changed[0] ^= 1;
  EXPECT_FALSE(*key->Verify(Prehash(), changed, true, *prehash));
  EXPECT_FALSE(*other->Verify(Prehash(), digest, true, *prehash));
}

TEST(Ed25519, SignatureOfOneAlgorithmIsNotValidForTheOther) {
  auto key = NewKey();
  std::string digest = Sha512("payload");
  // The pure signature of the 64 digest bytes vs. Ed25519ph of the same bytes (dom2 prefix).
  auto pure = key->Sign(Pure(), digest, false);
  auto prehash = key->Sign(Prehash(), digest, true);
  ASSERT_TRUE(pure.ok() && prehash.ok());
  EXPECT_NE(*pure, *prehash);
  EXPECT_FALSE(*key->Verify(Prehash(), digest, true, *pure));
  EXPECT_FALSE(*key->Verify(Pure(), digest, false, *prehash));
}

TEST(Ed25519, SignaturesOfTheWrongLengthAreNotValid) {
  auto key = NewKey();
  auto pure = key->Sign(Pure(), "payload", false);
  ASSERT_TRUE(pure.ok());
  for (std::string signature :
       {std::string(), pure->substr(0, 63), *pure + std::string(1, '\0'), std::string(128, 'x')}) {
    auto valid = key->Verify(Pure(), "payload", false, signature);
    ASSERT_TRUE(valid.ok()) << valid.status();
    EXPECT_FALSE(*valid) << signature.size();
    valid = key->Verify(Prehash(), Sha512("payload"), true, signature);
    ASSERT_TRUE(valid.ok()) << valid.status();
    EXPECT_FALSE(*valid) << signature.size();
  }
}

TEST(Ed25519, PureAlgorithmRefusesMessageTypeDigest) {
  auto key = NewKey();
  std::string digest = Sha512("payload");
  auto signature = key->Sign(Pure(), digest, /*is_digest=*/true);
  EXPECT_EQ(TypeOf(signature.status()), ErrorType::kValidation);
  EXPECT_NE(signature.status().message().find("requires MessageType RAW"), std::string::npos)
      << signature.status();
  EXPECT_EQ(TypeOf(key->Verify(Pure(), digest, true, std::string(64, 'x')).status()),
            ErrorType::kValidation);
}

TEST(Ed25519, PrehashAlgorithmRefusesMessageTypeRaw) {
  auto key = NewKey();
  auto signature = key->Sign(Prehash(), "payload", /*is_digest=*/false);
  EXPECT_EQ(TypeOf(signature.status()), ErrorType::kValidation);
  EXPECT_NE(signature.status().message().find("requires MessageType DIGEST"), std::string::npos)
      << signature.status();
  EXPECT_EQ(TypeOf(key->Verify(Prehash(), "payload", false, std::string(64, 'x')).status()),
            ErrorType::kValidation);
}

TEST(Ed25519, PrehashDigestMustBe64Bytes) {
  auto key = NewKey();
  for (size_t length : {1, 32, 48, 63, 65, 128}) {
    std::string digest(length, 'd');
    auto signature = key->Sign(Prehash(), digest, true);
    EXPECT_EQ(TypeOf(signature.status()), ErrorType::kValidation) << length;
    EXPECT_EQ(signature.status().message(),
              "Digest is invalid length for algorithm ED25519_PH_SHA_512.");
    EXPECT_EQ(TypeOf(key->Verify(Prehash(), digest, true, std::string(64, 'x')).status()),
              ErrorType::kValidation)
        << length;
  }
}

TEST(Ed25519, GeneratedMaterialIsAnEd25519Pkcs8Key) {
  auto material = GenerateKeyMaterial(Ed25519Spec());
  ASSERT_TRUE(material.ok()) << material.status();
  const unsigned char* in = material->data();
  EVP_PKEY* key = d2i_AutoPrivateKey(nullptr, &in, static_cast<long>(material->size()));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_id(key), EVP_PKEY_ED25519);
  EVP_PKEY_free(key);
  auto second = GenerateKeyMaterial(Ed25519Spec());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(material->view(), second->view());
}

TEST(Ed25519, MaterialOfAnotherSpecIsRefusedEitherWay) {
  auto p256 = GenerateKeyMaterial(*FindKeySpec("ECC_NIST_P256"));
  ASSERT_TRUE(p256.ok());
  EXPECT_EQ(TypeOf(PrivateKey::FromPkcs8(*p256, Ed25519Spec()).status()), ErrorType::kKmsInternal);
  auto ed25519 = GenerateKeyMaterial(Ed25519Spec());
  ASSERT_TRUE(ed25519.ok());
  EXPECT_EQ(TypeOf(PrivateKey::FromPkcs8(*ed25519, *FindKeySpec("ECC_NIST_P256")).status()),
            ErrorType::kKmsInternal);
}

TEST(Ed25519, EcdsaAlgorithmsNeverSignWithAnEd25519KeyNorEd25519WithAnEcKey) {
  auto key = NewKey();
  EXPECT_FALSE(key->Sign(*FindSigningAlgorithm("ECDSA_SHA_256"), "payload", false).ok());
  auto p256_material = GenerateKeyMaterial(*FindKeySpec("ECC_NIST_P256"));
  auto p256 = PrivateKey::FromPkcs8(*p256_material, *FindKeySpec("ECC_NIST_P256"));
  ASSERT_TRUE(p256.ok());
  EXPECT_EQ(TypeOf((*p256)->Sign(Pure(), "payload", false).status()), ErrorType::kKmsInternal);
}

TEST(Ed25519, LibsodiumInitialises) { EXPECT_TRUE(InitializeLibsodium().ok()); }

}  // namespace
}  // namespace kmsd::crypto
