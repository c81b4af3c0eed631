// Query filters over a small trail: key in every id form, event, principal, time and errors.
#include <gtest/gtest.h>

#include <sstream>

#include "kmsd/audit.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::MakeCall;

constexpr char kKeyA[] = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr char kKeyB[] = "bbbbbbbb-0000-4000-8000-000000000002";

std::string Arn(std::string_view id) {
  return StrCat("arn:aws:kms:us-east-1:111122223333:key/", id);
}

class AuditQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    auto log = OpenAuditLog(options);
    ASSERT_TRUE(log.ok());
    auto record = [&](testing::Call call) { ASSERT_TRUE((*log)->Record(call.Outcome()).ok()); };
    // 1: Encrypt with key A by id, at 10:00.
    record(MakeCall("Encrypt", StrCat(R"({"KeyId":")", kKeyA, R"(","Plaintext":"eA=="})"),
                    StrCat(R"({"KeyId":")", Arn(kKeyA), R"("})")));
    clock_.Advance(3600);
    // 2: Decrypt resolved to key B, at 11:00.
    record(MakeCall("Decrypt", R"({"CiphertextBlob":"AA=="})",
                    StrCat(R"({"KeyId":")", Arn(kKeyB), R"("})")));
    // 3: CreateAlias alias/app -> A.
    record(MakeCall("CreateAlias",
                    StrCat(R"({"AliasName":"alias/app","TargetKeyId":")", kKeyA, R"("})")));
    clock_.Advance(3600);
    // 4: Encrypt through the alias, by someone else, failing authentication, at 12:00.
    auto stranger = MakeCall("Encrypt", R"({"KeyId":"alias/app","Plaintext":"eA=="})", "",
                             Error(ErrorType::kUnrecognizedClient, "invalid token"));
    stranger.principal.reset();
    stranger.claimed_access_key_id = "AKIASTRANGER";
    record(stranger);
    // 5: DescribeKey of A by ARN, NotFound.
    record(MakeCall("DescribeKey", StrCat(R"({"KeyId":")", Arn(kKeyA), R"("})"), "",
                    NotFound("gone")));
  }

  std::vector<int> Query(const QueryFilter& filter) {
    std::ostringstream out;
    auto matched = QueryTrail(dir_.audit(), filter, QueryFormat::kJsonLines, out);
    EXPECT_TRUE(matched.ok()) << matched.status();
    std::vector<int> sequences;
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) {
      sequences.push_back(json::parse(line)["sequenceNumber"].get<int>());
    }
    EXPECT_EQ(static_cast<int64_t>(sequences.size()), *matched);
    return sequences;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
};

TEST_F(AuditQueryTest, NoFilterReturnsEverythingInOrder) {
  EXPECT_EQ(Query({}), (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST_F(AuditQueryTest, KeyByIdOrArnMatchesResourcesAndParameters) {
  std::vector<int> expected{1, 3, 5};
  EXPECT_EQ(Query({.key = kKeyA}), expected);
  EXPECT_EQ(Query({.key = Arn(kKeyA)}), expected);
  EXPECT_EQ(Query({.key = AsciiLower(kKeyA)}), expected);
  EXPECT_EQ(Query({.key = kKeyB}), (std::vector<int>{2}));
}

TEST_F(AuditQueryTest, AliasMatchesKeyIdAndAliasNameParameters) {
  EXPECT_EQ(Query({.key = "alias/app"}), (std::vector<int>{3, 4}));
  EXPECT_EQ(Query({.key = "arn:aws:kms:us-east-1:111122223333:alias/app"}),
            (std::vector<int>{3, 4}));
}

TEST_F(AuditQueryTest, EventNamePrincipalErrorsAndTime) {
  EXPECT_EQ(Query({.event_name = "Encrypt"}), (std::vector<int>{1, 4}));
  EXPECT_EQ(Query({.principal = "AKIASTRANGER"}), (std::vector<int>{4}));
  EXPECT_EQ(Query({.principal = "arn:aws:iam::111122223333:root"}), (std::vector<int>{1, 2, 3, 5}));
  EXPECT_EQ(Query({.errors_only = true}), (std::vector<int>{4, 5}));
  EXPECT_EQ(Query({.start_seconds = *ParseTime("2024-05-01T11:00:00Z"),
                   .end_seconds = *ParseTime("2024-05-01T12:00:00Z")}),
            (std::vector<int>{2, 3}));
  EXPECT_EQ(Query({.event_name = "Encrypt", .errors_only = true}), (std::vector<int>{4}));
}

TEST_F(AuditQueryTest, TableIsReadable) {
  std::ostringstream out;
  ASSERT_TRUE(QueryTrail(dir_.audit(), {.errors_only = true}, QueryFormat::kTable, out).ok());
  std::string table = out.str();
  EXPECT_NE(table.find("SEQ"), std::string::npos);
  EXPECT_NE(table.find("UnrecognizedClientException"), std::string::npos);
  EXPECT_NE(table.find("AKIASTRANGER"), std::string::npos);
  EXPECT_NE(table.find("NotFoundException"), std::string::npos);
  EXPECT_NE(table.find(kKeyA), std::string::npos);
}

TEST(AuditParseTime, AcceptsDatesTimesAndSeconds) {
  EXPECT_EQ(*ParseTime("2024-05-01"), 1714521600);
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00Z"), 1714557600);
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00.123Z"), 1714557600);
  EXPECT_EQ(*ParseTime("1714557600"), 1714557600);
  EXPECT_FALSE(ParseTime("yesterday").ok());
  EXPECT_FALSE(ParseTime("2024-13-01").ok());
}

}  // namespace
}  // namespace kmsd::audit
