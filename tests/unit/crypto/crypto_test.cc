// The OpenSSL wrappers against published vectors, and the encodings' strictness.
#include "kmsd/crypto.h"

#include <gtest/gtest.h>

#include "kmsd/errors.h"
#include "kmsd/uuid.h"

namespace kmsd::crypto {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(Hkdf, MatchesRfc5869TestCase1) {
  SecretBytes ikm = SecretBytes::FromString(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  auto okm = HkdfSha256(ikm, Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(AesGcm, MatchesTheGcmSpecTestCase14) {
  // McGrew & Viega, GCM test case 14: zero key, zero IV, one zero block.
  SecretBytes key(32);
  auto sealed = AesGcmSeal(key, std::string(12, '\0'), "", std::string(16, '\0'));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AesGcm, OpenRejectsAnyChangeOfDataNonceOrKey) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  auto sealed = AesGcmSeal(key, nonce, "aad", "plaintext");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(AesGcmOpen(key, nonce, "aad", *sealed)->view(), "plaintext");
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aae", *sealed).status()), ErrorType::kInvalidCiphertext);
  std::string other_nonce = nonce;
  other_nonce[0] ^= 1;
  EXPECT_FALSE(AesGcmOpen(key, other_nonce, "aad", *sealed).ok());
  EXPECT_FALSE(AesGcmOpen(*RandomSecret(32), nonce, "aad", *sealed).ok());
  EXPECT_FALSE(AesGcmOpen(key, nonce, "aad", "short").ok());
}

TEST(Sha256AndHmac, MatchKnownValues) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ConstantTimeEquals, ComparesLengthAndContent) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(Base64, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 64; ++i) {
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>(i * 37));
  }
}

TEST(Base64, RejectsAnythingNotStrictStandardBase64) {
  for (std::string_view bad : {"a", "ab", "abc", "ab=c", "a===", "ab c", "ab\nc", "YQ", "YR==",
                               "YWF=", "-_-_", "YQ==YQ=="}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
  EXPECT_EQ(*Base64Decode("YQ=="), "a");
  EXPECT_EQ(Base64DecodeSecret("aGVsbG8=")->view(), "hello");
}

TEST(Random, GivesDistinctValues) {
  EXPECT_NE(RandomBytes(32).value(), RandomBytes(32).value());
  EXPECT_EQ(RandomSecret(1024)->size(), 1024u);
}

TEST(Uuid, FormatsParsesAndValidates) {
  std::string id = NewUuid();
  EXPECT_TRUE(IsUuid(id));
  EXPECT_EQ(id[14], '4');
  EXPECT_EQ(UuidFromBytes(*UuidToBytes(id)), id);
  EXPECT_FALSE(IsUuid("1234"));
  EXPECT_FALSE(IsUuid("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"));
  EXPECT_NE(NewUuid(), NewUuid());
}

TEST(Errors, CarryTheirTypeNameAndStatus) {
  absl::Status status = Error(ErrorType::kDisabled, "off");
  EXPECT_EQ(TypeOf(status), ErrorType::kDisabled);
  EXPECT_EQ(AwsName(TypeOf(status)), "DisabledException");
  EXPECT_EQ(HttpStatus(ErrorType::kDisabled), 400);
  EXPECT_EQ(HttpStatus(ErrorType::kKmsInternal), 500);
  EXPECT_EQ(HttpStatus(ErrorType::kDependencyTimeout), 503);
  EXPECT_EQ(HttpStatus(ErrorType::kRequestEntityTooLarge), 413);
  EXPECT_EQ(TypeOf(absl::UnknownError("x")), ErrorType::kKmsInternal);
  EXPECT_EQ(TypeOf(absl::OkStatus()), ErrorType::kNone);
}

TEST(SecretBytes, MovesAndClears) {
  SecretBytes a = SecretBytes::FromString("key");
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.view(), "key");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is defined empty
  b.Clear();
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace kmsd::crypto
