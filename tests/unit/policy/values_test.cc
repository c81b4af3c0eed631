// The pieces under the operators: glob patterns with variables, dates, numbers, IP networks and
// ARNs, each row one behaviour.
#include "policy/values.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "policy/pattern.h"

namespace kmsd::policy::internal {
namespace {

struct PatternCase {
  std::string name;
  std::string pattern;
  PatternOptions options;
  std::string input;
  Match expected;
};

const PatternOptions kGlob{.wildcards = true, .variables = false, .ignore_case = false};
const PatternOptions kGlobVariables{.wildcards = true, .variables = true, .ignore_case = false};
const PatternOptions kText{.wildcards = false, .variables = true, .ignore_case = false};
const PatternOptions kAction{.wildcards = true, .variables = false, .ignore_case = true};

// clang-format off
std::vector<PatternCase> PatternCases() {
  return {
      {"LiteralMatchesItself", "kms:Encrypt", kGlob, "kms:Encrypt", Match::kYes},
      {"LiteralIsCaseSensitiveByDefault", "kms:Encrypt", kGlob, "kms:encrypt", Match::kNo},
      {"IgnoreCaseMatchesAnyCase", "kms:encrypt", kAction, "KMS:Encrypt", Match::kYes},
      {"StarAloneMatchesEmpty", "*", kGlob, "", Match::kYes},
      {"TrailingStarMatchesAPrefix", "kms:Get*", kGlob, "kms:GetKeyPolicy", Match::kYes},
      {"TrailingStarMatchesThePrefixItself", "kms:Get*", kGlob, "kms:Get", Match::kYes},
      {"LeadingStarMatchesASuffix", "*Key", kGlob, "kms:DescribeKey", Match::kYes},
      {"StarsBacktrack", "a*b*c", kGlob, "aXbYbZc", Match::kYes},
      {"StarsFailWhenTheTailIsMissing", "a*b*c", kGlob, "aXbYbZ", Match::kNo},
      {"QuestionMarkNeedsOneCharacter", "kms:?", kGlob, "kms:", Match::kNo},
      {"QuestionMarkMatchesAMultiByteCharacter", "caf?", kGlob, "caf\xC3\xA9", Match::kYes},
      {"WildcardsAreTextWithoutWildcards", "a*", kText, "abc", Match::kNo},
      {"StarIsTextWithoutWildcards", "a*", kText, "a*", Match::kYes},
      {"VariableIsTextWithoutVariables", "${aws:username}", kGlob, "${aws:username}", Match::kYes},
      {"UnresolvedVariableIsReported", "user/${aws:username}", kGlobVariables, "user/bob", Match::kUnresolved},
      {"DefaultStandsInForAMissingKey", "user/${aws:username, 'guest'}", kGlobVariables, "user/guest", Match::kYes},
      {"EscapesAreLiteralCharacters", "${*}${?}${$}", kGlobVariables, "*?$", Match::kYes},
      {"EscapedStarIsNotAWildcard", "a${*}", kGlobVariables, "ab", Match::kNo},
      {"UnclosedVariableIsText", "a${aws:username", kGlobVariables, "a${aws:username", Match::kYes},
      {"DollarAloneIsText", "cost$", kGlobVariables, "cost$", Match::kYes},
      {"BadDefaultIsText", "${aws:username, guest}", kGlobVariables, "${aws:username, guest}", Match::kYes},
  };
}
// clang-format on

class PatternTest : public ::testing::TestWithParam<PatternCase> {};

TEST_P(PatternTest, Matches) {
  const PatternCase& row = GetParam();
  RequestContext context;
  Pattern pattern = Pattern::Compile(row.pattern, row.options);
  EXPECT_EQ(static_cast<int>(pattern.Matches(row.input, context)), static_cast<int>(row.expected));
}

INSTANTIATE_TEST_SUITE_P(Glob, PatternTest, ::testing::ValuesIn(PatternCases()),
                         [](const auto& info) { return info.param.name; });

TEST(Pattern, VariableValueIsMatchedAsText) {
  RequestContext context;
  context.Set("aws:username", "b*");
  Pattern pattern = Pattern::Compile("user/${aws:username}", kGlobVariables);
  EXPECT_EQ(pattern.Matches("user/b*", context), Match::kYes);
  EXPECT_EQ(pattern.Matches("user/bob", context), Match::kNo);
}

TEST(Pattern, MultiValuedKeyIsNoVariable) {
  RequestContext context;
  context.Add("kms:EncryptionContextKeys", "a");
  context.Add("kms:EncryptionContextKeys", "b");
  Pattern pattern = Pattern::Compile("${kms:EncryptionContextKeys}", kGlobVariables);
  EXPECT_EQ(pattern.Matches("a", context), Match::kUnresolved);
}

TEST(Pattern, HostilePatternMatchesInBoundedTime) {
  // Backtracking to the last star only: "*a*a*...*b" against "aaaa...a" is quadratic at worst.
  std::string hostile;
  for (int i = 0; i < 500; ++i) hostile += "*a";
  hostile += "*b";
  std::string input(8000, 'a');
  RequestContext context;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Pattern::Compile(hostile, kGlob).Matches(input, context), Match::kNo);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(Date, ReadsAwsFormats) {
  const int64_t noon = int64_t{1714564800} * 1000;  // 2024-05-01T12:00:00Z
  EXPECT_EQ(ParseDate("2024-05-01T12:00:00Z"), noon);
  EXPECT_EQ(ParseDate("2024-05-01T12:00:00.000Z"), noon);
  EXPECT_EQ(ParseDate("2024-05-01T12:00:00.5Z"), noon + 500);
  EXPECT_EQ(ParseDate("2024-05-01T12:00Z"), noon);
  EXPECT_EQ(ParseDate("2024-05-01T12:00:00"), noon);
  EXPECT_EQ(ParseDate("2024-05-01T14:00:00+02:00"), noon);
  EXPECT_EQ(ParseDate("2024-05-01T07:00:00-0500"), noon);
  EXPECT_EQ(ParseDate("2024-05-01"), noon - 12 * 3600 * 1000);
  EXPECT_EQ(ParseDate("1714564800"), noon);
  EXPECT_EQ(ParseDate("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseDate("2024-02-29"), ParseDate("2024-03-01").value() - 86400000);
}

TEST(Date, RefusesWhatIsNotADate) {
  // All digits is epoch seconds: "2024" is 2024 seconds past 1970, not a year.
  for (const char* text :
       {"", "2024-05", "2023-02-29", "2024-04-31", "2024-00-10", "2024-05-01T25:00:00Z",
        "2024-05-01T12:60:00Z", "2024-05-01 12:00:00", "2024-05-01T12:00:00+2",
        "2024-05-01T12:00:00Zjunk", "yesterday", "-1714564800", "2024-05-01T12:00:00."}) {
    EXPECT_EQ(ParseDate(text), std::nullopt) << text;
  }
}

TEST(Number, ReadsIntegersAndDecimals) {
  EXPECT_EQ(ParseNumber("10"), 10.0);
  EXPECT_EQ(ParseNumber("-1.5"), -1.5);
  EXPECT_EQ(ParseNumber("+3"), 3.0);
  EXPECT_EQ(ParseNumber("0.25"), 0.25);
}

TEST(Number, RefusesWhatIsNotANumber) {
  for (const char* text : {"", "ten", "1 ", " 1", "1e3", "0x10", "inf", "nan", "1.2.3", "+"}) {
    EXPECT_EQ(ParseNumber(text), std::nullopt) << text;
  }
}

bool Contains(const char* network, const char* address) {
  return ParseIpNetwork(network)->Contains(*ParseIpNetwork(address));
}

TEST(IpNetwork, ContainsAddressesOfItsPrefix) {
  EXPECT_TRUE(Contains("203.0.113.0/24", "203.0.113.255"));
  EXPECT_FALSE(Contains("203.0.113.0/24", "203.0.112.255"));
  EXPECT_TRUE(Contains("10.16.0.0/12", "10.31.255.1"));  // a prefix not on a byte boundary
  EXPECT_FALSE(Contains("10.16.0.0/12", "10.32.0.1"));
  EXPECT_TRUE(Contains("0.0.0.0/0", "192.0.2.1"));
  EXPECT_TRUE(Contains("192.0.2.1", "192.0.2.1"));
  EXPECT_FALSE(Contains("192.0.2.1", "192.0.2.2"));
  EXPECT_TRUE(Contains("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(Contains("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(Contains("::/0", "::1"));
  EXPECT_FALSE(Contains("0.0.0.0/0", "::ffff:192.0.2.1"));  // families never mix
}

TEST(IpNetwork, RefusesWhatIsNotAnAddressOrBlock) {
  for (const char* text :
       {"", "/24", "203.0.113", "203.0.113.0/", "203.0.113.0/33", "203.0.113.0/-1",
        "203.0.113.0/2x", "256.0.0.1", "2001:db8::/129", "2001:db8:::1", "localhost"}) {
    EXPECT_EQ(ParseIpNetwork(text), std::nullopt) << text;
  }
}

TEST(Arn, SplitsIntoSixPartsKeepingColonsInTheResource) {
  auto parts = SplitArn("arn:aws:kms:us-east-1:111122223333:alias/a:b");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ((*parts)[2], "kms");
  EXPECT_EQ((*parts)[3], "us-east-1");
  EXPECT_EQ((*parts)[5], "alias/a:b");
  EXPECT_EQ(SplitArn("arn:aws:iam::user/bob"), std::nullopt);
}

TEST(AccountId, IsTwelveDigits) {
  EXPECT_TRUE(IsAccountId("111122223333"));
  EXPECT_FALSE(IsAccountId("11112222333"));
  EXPECT_FALSE(IsAccountId("11112222333a"));
}

}  // namespace
}  // namespace kmsd::policy::internal
