// The OpenSSL wrappers against published vectors, and the encodings' strictness.
#include "kmsd/crypto.h"

#include <gtest/gtest.h>

#include <set>

#include "kmsd/errors.h"

namespace kmsd::crypto {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

SecretBytes SecretFromHex(std::string_view hex) { return SecretBytes::FromString(Unhex(hex)); }

TEST(Hkdf, MatchesRfc5869TestCase1) {
  auto okm = HkdfSha256(SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                        Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hkdf, MatchesRfc5869TestCase2WithLongInputs) {
  std::string ikm, salt, info;
  for (int i = 0; i < 80; ++i) {
    ikm.push_back(static_cast<char>(i));
    salt.push_back(static_cast<char>(0x60 + i));
    info.push_back(static_cast<char>(0xb0 + i));
  }
  auto okm = HkdfSha256(SecretBytes::FromString(ikm), salt, info, 82);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(Hkdf, MatchesRfc5869TestCase3WithEmptySaltAndInfo) {
  auto okm = HkdfSha256(SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(Hkdf, Sha512DiffersFromSha256AndIsDeterministic) {
  SecretBytes ikm = SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto a = HkdfSha512(ikm, "salt", "info", 64);
  auto b = HkdfSha512(ikm, "salt", "info", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->view(), b->view());
  EXPECT_NE(a->view().substr(0, 32), HkdfSha256(ikm, "salt", "info", 32)->view());
}

TEST(Hkdf, RefusesOutputLongerThan255Blocks) {
  EXPECT_FALSE(HkdfSha256(SecretBytes(32), "", "", 255 * 32 + 1).ok());
}

TEST(AesGcm, MatchesTheGcmSpecTestCase14) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14: zero key and IV.
  auto sealed = AesGcmSeal(SecretBytes(32), std::string(12, '\0'), "", std::string(16, '\0'));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AesGcm, MatchesTheGcmSpecTestCase16WithAssociatedData) {
  SecretBytes key =
      SecretFromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  std::string nonce = Unhex("cafebabefacedbaddecaf888");
  std::string aad = Unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  std::string plaintext = Unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  std::string expected =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b";  // ciphertext || tag
  auto sealed = AesGcmSeal(key, nonce, aad, plaintext);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), expected);
  auto opened = AesGcmOpen(key, nonce, aad, Unhex(expected));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->view(), plaintext);
}

TEST(AesGcm, EmptyPlaintextIsJustATag) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  auto sealed = AesGcmSeal(key, nonce, "aad", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kGcmTagSize);
  auto opened = AesGcmOpen(key, nonce, "aad", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->empty());
  EXPECT_FALSE(AesGcmOpen(key, nonce, "aae", *sealed).ok());
}

TEST(AesGcm, FlippingAnyBitOfCiphertextOrTagFails) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  std::string sealed = *AesGcmSeal(key, nonce, "aad", "plaintext");
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    std::string tampered = sealed;
    tampered[i / 8] = static_cast<char>(tampered[i / 8] ^ (1 << (i % 8)));
    EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", tampered).status()),
              ErrorType::kInvalidCiphertext)
        << "bit " << i;
  }
}

TEST(AesGcm, OpenRejectsAnyChangeOfAssociatedDataNonceOrKey) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  auto sealed = AesGcmSeal(key, nonce, "aad", "plaintext");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(AesGcmOpen(key, nonce, "aad", *sealed)->view(), "plaintext");
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aae", *sealed).status()), ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "", *sealed).status()), ErrorType::kInvalidCiphertext);
  std::string other_nonce = nonce;
  other_nonce[0] ^= 1;
  EXPECT_EQ(TypeOf(AesGcmOpen(key, other_nonce, "aad", *sealed).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(*RandomSecret(32), nonce, "aad", *sealed).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", "short").status()), ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", sealed->substr(1)).status()),
            ErrorType::kInvalidCiphertext);
}

TEST(AesGcm, RefusesKeysAndNoncesOfTheWrongSize) {
  EXPECT_FALSE(AesGcmSeal(SecretBytes(16), std::string(12, '\0'), "", "p").ok());
  EXPECT_FALSE(AesGcmSeal(SecretBytes(32), std::string(16, '\0'), "", "p").ok());
  EXPECT_FALSE(AesGcmOpen(SecretBytes(31), std::string(12, '\0'), "", std::string(32, 'x')).ok());
}

TEST(Sha256AndHmac, MatchKnownValues) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(ConstantTimeEquals, ComparesLengthAndContent) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(HexEncode, IsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xf0\xff", 4)), "000ff0ff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "Zg=="},
                                                                   {"fo", "Zm8="},
                                                                   {"foo", "Zm9v"},
                                                                   {"foob", "Zm9vYg=="},
                                                                   {"fooba", "Zm9vYmE="},
                                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(*Base64Decode(encoded), plain);
  }
}

TEST(Base64, RoundTripsEveryLengthAndEveryByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, data);
    auto secret = Base64DecodeSecret(Base64Encode(data));
    ASSERT_TRUE(secret.ok());
    EXPECT_EQ(secret->view(), data);
    data.push_back(static_cast<char>(i));
  }
}

TEST(Base64, RejectsAnythingNotStrictStandardBase64) {
  for (std::string_view bad :
       std::initializer_list<std::string_view>{"a",        "ab",
                                               "abc",      "ab=c",
                                               "a===",     "====",
                                               "=AAA",     "ab c",
                                               "ab\nc",    "YQ==\n",
                                               " YQ==",    "YQ",
                                               "YQ=",      "YR==",
                                               "YWF=",     "-_-_",
                                               "YQ==YQ==", "Zm9v\r\n",
                                               "Zm9v=",    "Zm9v====",
                                               "Zm9\x80",  std::string_view("Zm\0v", 4)}) {
    EXPECT_EQ(TypeOf(Base64Decode(bad).status()), ErrorType::kValidation) << bad;
    EXPECT_EQ(TypeOf(Base64DecodeSecret(bad).status()), ErrorType::kValidation) << bad;
  }
}

TEST(Random, GivesDistinctValuesOfTheAskedSize) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(seen.insert(*RandomBytes(16)).second);
  EXPECT_EQ(RandomSecret(1024)->size(), 1024u);
  EXPECT_TRUE(RandomBytes(0)->empty());
}

}  // namespace
}  // namespace kmsd::crypto
