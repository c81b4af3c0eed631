// Query filters over a small trail: key in every id form, event, principal (users, role sessions
// and the roles behind them), event source, time and errors.
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

// A trail in a temporary data dir, written by each fixture's SetUp; queries return the matching
// records' sequence numbers.
class QueryFixture : public ::testing::Test {
 protected:
  std::unique_ptr<AuditLog> OpenLog() {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    auto log = OpenAuditLog(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::vector<int> Query(QueryFilter filter, std::string_view event_source = "") {
    filter.event_source = std::string(event_source);
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

class AuditQueryTest : public QueryFixture {
 protected:
  void SetUp() override {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    auto record = [&](testing::Call call) { ASSERT_TRUE(log->Record(call.Outcome()).ok()); };
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

// KMS, IAM and STS calls by the root, the IAM user alice and two sessions of the role deployer.
class AuditQueryIdentityTest : public QueryFixture {
 protected:
  void SetUp() override {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    auto record = [&](testing::Call call, std::optional<Principal> principal) {
      call.principal = std::move(principal);
      ASSERT_TRUE(log->Record(call.Outcome()).ok());
    };
    Principal other_session = testing::AssumedRole();
    other_session.principal_id = "AROAEXAMPLEDEPLOYER1:build-43";
    other_session.arn = "arn:aws:sts::111122223333:assumed-role/deployer/build-43";
    other_session.access_key_id = "ASIAEXAMPLESESSION02";
    other_session.session_name = "build-43";
    std::string encrypt = StrCat(R"({"KeyId":")", kKeyA, R"("})");
    // 1: alice encrypts.
    record(MakeCall("Encrypt", encrypt), testing::IamUser());
    // 2: the root creates the user bob.
    record(testing::MakeQueryCall("iam", "CreateUser", "Action=CreateUser&UserName=bob",
                                  R"({"UserName":"bob"})"),
           RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001"));
    // 3: alice assumes the role deployer.
    record(testing::MakeQueryCall("sts", "AssumeRole", "",
                                  R"({"RoleArn":"arn:aws:iam::111122223333:role/ci/deployer"})"),
           testing::IamUser());
    // 4, 5: the session build-42 encrypts, then asks who it is.
    record(MakeCall("Encrypt", encrypt), testing::AssumedRole());
    record(testing::MakeQueryCall("sts", "GetCallerIdentity", "", ""), testing::AssumedRole());
    // 6: the session build-43 is denied a decrypt.
    record(MakeCall("Decrypt", encrypt, "", Error(ErrorType::kAccessDenied, "not authorized")),
           other_session);
  }
};

TEST_F(AuditQueryIdentityTest, PrincipalMatchesAUserByNameArnIdOrAccessKey) {
  std::vector<int> alice{1, 3};
  EXPECT_EQ(Query({.principal = "alice"}), alice);
  EXPECT_EQ(Query({.principal = "arn:aws:iam::111122223333:user/team/alice"}), alice);
  EXPECT_EQ(Query({.principal = "AIDAEXAMPLEALICE0001"}), alice);
  EXPECT_EQ(Query({.principal = "AKIAEXAMPLEALICE0001"}), alice);
}

TEST_F(AuditQueryIdentityTest, PrincipalMatchesEverySessionOfARoleByTheRolesArnIdOrName) {
  std::vector<int> deployer{4, 5, 6};
  EXPECT_EQ(Query({.principal = "arn:aws:iam::111122223333:role/ci/deployer"}), deployer);
  EXPECT_EQ(Query({.principal = "deployer"}), deployer);
  EXPECT_EQ(Query({.principal = "AROAEXAMPLEDEPLOYER1"}), deployer);
}

TEST_F(AuditQueryIdentityTest, PrincipalMatchesOneSessionByItsArnIdOrAccessKey) {
  std::vector<int> build_42{4, 5};
  EXPECT_EQ(Query({.principal = "arn:aws:sts::111122223333:assumed-role/deployer/build-42"}),
            build_42);
  EXPECT_EQ(Query({.principal = "AROAEXAMPLEDEPLOYER1:build-42"}), build_42);
  EXPECT_EQ(Query({.principal = "ASIAEXAMPLESESSION01"}), build_42);
  EXPECT_EQ(Query({.principal = "ASIAEXAMPLESESSION02"}), (std::vector<int>{6}));
}

TEST_F(AuditQueryIdentityTest, EventSourceTakesAShortOrAFullNameInAnyCase) {
  EXPECT_EQ(Query({}, "kms"), (std::vector<int>{1, 4, 6}));
  EXPECT_EQ(Query({}, "iam"), (std::vector<int>{2}));
  EXPECT_EQ(Query({}, "STS"), (std::vector<int>{3, 5}));
  EXPECT_EQ(Query({}, "sts.amazonaws.com"), (std::vector<int>{3, 5}));
  EXPECT_EQ(Query({}, "cloudtrail"), (std::vector<int>{}));
  EXPECT_EQ(Query({}, ""), (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST_F(AuditQueryIdentityTest, EventSourceCombinesWithTheOtherFilters) {
  EXPECT_EQ(Query({.principal = "alice"}, "sts"), (std::vector<int>{3}));
  EXPECT_EQ(Query({.principal = "deployer", .errors_only = true}, "kms"), (std::vector<int>{6}));
}

TEST_F(AuditQueryIdentityTest, TableShowsTheUserNameOrTheSessionName) {
  std::ostringstream out;
  ASSERT_TRUE(QueryTrail(dir_.audit(), {}, QueryFormat::kTable, out).ok());
  std::vector<std::string> rows;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 7u);  // the header and six records
  size_t column = rows[0].find("PRINCIPAL");
  ASSERT_NE(column, std::string::npos);
  auto principal = [&](size_t row) { return rows[row].substr(column, 20); };
  EXPECT_EQ(principal(1), "alice               ");
  EXPECT_EQ(principal(2), "AKIAEXAMPLEROOT00001");
  EXPECT_EQ(principal(4), "build-42            ");
  EXPECT_EQ(principal(6), "build-43            ");
  EXPECT_NE(rows[6].find("AccessDeniedException"), std::string::npos);
  EXPECT_EQ(rows[3].find("deployer"), std::string::npos);  // a role is not a key
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
