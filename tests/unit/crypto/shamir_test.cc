// Shamir secret sharing: any T of N recombine, T-1 do not; the text form catches typos.
#include "kmsd/shamir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd::shamir {
namespace {

SecretBytes RandomKey() {
  auto key = crypto::RandomSecret(32);
  EXPECT_TRUE(key.ok());
  return std::move(*key);
}

std::vector<Share> Pick(const std::vector<Share>& shares, const std::vector<int>& positions) {
  std::vector<Share> picked;
  for (int position : positions) {
    picked.push_back({shares[position].index, shares[position].value.Clone()});
  }
  return picked;
}

std::string Text(const SecretBytes& text) { return std::string(text.view()); }

EncodedShare Encoded(const Share& share, uint32_t set_id = 0x01020304, uint8_t threshold = 3) {
  return {set_id, threshold, {share.index, share.value.Clone()}};
}

TEST(FieldArithmetic, MultiplicationMatchesTheAesFieldAndInversesAreInverses) {
  EXPECT_EQ(FieldMultiply(0x57, 0x83), 0xc1);  // FIPS-197's worked example
  EXPECT_EQ(FieldMultiply(0x57, 0x13), 0xfe);
  EXPECT_EQ(FieldInverse(0), 0);
  for (int a = 1; a < 256; ++a) {
    EXPECT_EQ(FieldMultiply(static_cast<uint8_t>(a), FieldInverse(static_cast<uint8_t>(a))), 1)
        << a;
  }
}

TEST(Split, EveryThreeOfFiveRecombineToTheSecret) {
  SecretBytes secret = RandomKey();
  auto shares = Split(secret, 5, 3);
  ASSERT_TRUE(shares.ok()) << shares.status();
  ASSERT_EQ(shares->size(), 5u);
  int subsets = 0;
  for (int a = 0; a < 5; ++a) {
    for (int b = a + 1; b < 5; ++b) {
      for (int c = b + 1; c < 5; ++c) {
        auto combined = Combine(Pick(*shares, {c, a, b}));
        ASSERT_TRUE(combined.ok()) << combined.status();
        EXPECT_EQ(combined->view(), secret.view()) << a << b << c;
        ++subsets;
      }
    }
  }
  EXPECT_EQ(subsets, 10);
  // More than the threshold recombine too.
  auto all = Combine(Pick(*shares, {0, 1, 2, 3, 4}));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->view(), secret.view());
}

TEST(Split, FewerThanTheThresholdGiveADifferentValue) {
  SecretBytes secret = RandomKey();
  auto shares = Split(secret, 5, 3);
  ASSERT_TRUE(shares.ok());
  for (int a = 0; a < 5; ++a) {
    for (int b = a + 1; b < 5; ++b) {
      auto combined = Combine(Pick(*shares, {a, b}));
      ASSERT_TRUE(combined.ok());
      EXPECT_NE(combined->view(), secret.view());
    }
  }
}

TEST(Split, NoShareEqualsTheSecretAndSplitsDiffer) {
  SecretBytes secret = RandomKey();
  auto first = Split(secret, 3, 2);
  auto second = Split(secret, 3, 2);
  ASSERT_TRUE(first.ok() && second.ok());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*first)[i].index, i + 1);
    EXPECT_NE((*first)[i].value.view(), secret.view());
    EXPECT_NE((*first)[i].value.view(), (*second)[i].value.view());  // fresh coefficients
  }
}

TEST(Split, TheLargestSetWorks) {
  SecretBytes secret = RandomKey();
  auto shares = Split(secret, 255, 255);
  ASSERT_TRUE(shares.ok());
  auto combined = Combine(*shares);
  ASSERT_TRUE(combined.ok());
  EXPECT_EQ(combined->view(), secret.view());
}

TEST(Split, RefusesAThresholdOfOneAndImpossibleCounts) {
  SecretBytes secret = RandomKey();
  EXPECT_EQ(TypeOf(Split(secret, 3, 1).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Split(secret, 2, 3).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Split(secret, 256, 3).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Split(secret, 0, 0).status()), ErrorType::kValidation);
}

TEST(Combine, RefusesDuplicatesAndSingleShares) {
  auto shares = Split(RandomKey(), 5, 3);
  ASSERT_TRUE(shares.ok());
  EXPECT_EQ(TypeOf(Combine(Pick(*shares, {0, 1, 1})).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Combine(Pick(*shares, {2})).status()), ErrorType::kValidation);
}

TEST(ShareText, RoundTripsWithItsContext) {
  auto shares = Split(RandomKey(), 5, 3);
  ASSERT_TRUE(shares.ok());
  SecretBytes text = EncodeShare(Encoded((*shares)[3], 0xdeadbeef, 3));
  std::string shown = Text(text);
  EXPECT_EQ(shown.size(), 69u + 13u);  // 43 bytes in base32, 14 groups of five
  EXPECT_EQ(std::count(shown.begin(), shown.end(), '-'), 13);
  auto decoded = DecodeShare(shown);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->set_id, 0xdeadbeefu);
  EXPECT_EQ(decoded->threshold, 3);
  EXPECT_EQ(decoded->share.index, 4);
  EXPECT_EQ(decoded->share.value.view(), (*shares)[3].value.view());
}

TEST(ShareText, IgnoresCaseDashesAndSpaces) {
  auto shares = Split(RandomKey(), 2, 2);
  ASSERT_TRUE(shares.ok());
  std::string shown = Text(EncodeShare(Encoded((*shares)[0])));
  std::string retyped;
  for (char c : shown) {
    if (c == '-') {
      retyped += "  ";
      continue;
    }
    retyped += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto decoded = DecodeShare(retyped + "\n");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->share.value.view(), (*shares)[0].value.view());
}

TEST(ShareText, EverySingleCharacterTypoIsCaught) {
  auto shares = Split(RandomKey(), 2, 2);
  ASSERT_TRUE(shares.ok());
  std::string shown = Text(EncodeShare(Encoded((*shares)[1])));
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  int tried = 0;
  for (size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] == '-') continue;
    // The last character carries one padding bit only in its low bit: changes there that keep
    // the 43 bytes equal are not typos of the share; try a change of the high bits.
    char replacement = alphabet[(alphabet.find(shown[i]) + 2) % 32];
    std::string typo = shown;
    typo[i] = replacement;
    auto decoded = DecodeShare(typo);
    EXPECT_FALSE(decoded.ok()) << "typo at " << i;
    EXPECT_EQ(TypeOf(decoded.status()), ErrorType::kValidation);
    ++tried;
  }
  EXPECT_EQ(tried, 69);
}

TEST(ShareText, RefusesWhatIsNotAShareWithoutEchoingIt) {
  auto shares = Split(RandomKey(), 2, 2);
  ASSERT_TRUE(shares.ok());
  std::string shown = Text(EncodeShare(Encoded((*shares)[0])));
  std::string with_one = shown;
  with_one[0] = '1';
  std::string with_bang = shown;
  with_bang[0] = '!';
  std::string longer = shown;
  longer.append("AAAAA");
  for (const std::string& bad :
       {std::string(), std::string("hello"), shown.substr(0, 40), longer, with_one, with_bang}) {
    auto decoded = DecodeShare(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(TypeOf(decoded.status()), ErrorType::kValidation);
    if (!bad.empty()) {
      EXPECT_EQ(std::string(decoded.status().message()).find(bad), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace kmsd::shamir
