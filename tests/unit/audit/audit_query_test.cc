// Query filters over a small trail: key in every id form, event, principal (users, role sessions
// and the roles behind them), event source, time and errors.
#include <gtest/gtest.h>

#include <map>
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

TEST_F(AuditQueryTest, AliasMatchesItsParametersAndItsKeysRecordsOnceCreated) {
  // 3 creates it, 4 names it, 5 is about its key A; 1 used A before the alias existed.
  EXPECT_EQ(Query({.key = "alias/app"}), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(Query({.key = "arn:aws:kms:us-east-1:111122223333:alias/app"}),
            (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(Query({.key = "alias/other"}), (std::vector<int>{}));
}

TEST_F(AuditQueryTest, EventNamePrincipalErrorsAndTime) {
  EXPECT_EQ(Query({.event_name = "Encrypt"}), (std::vector<int>{1, 4}));
  EXPECT_EQ(Query({.principal = "AKIASTRANGER"}), (std::vector<int>{4}));
  EXPECT_EQ(Query({.principal = "arn:aws:iam::111122223333:root"}), (std::vector<int>{1, 2, 3, 5}));
  EXPECT_EQ(Query({.errors_only = true}), (std::vector<int>{4, 5}));
  EXPECT_EQ(Query({.start_seconds = *ParseTime("2024-05-01T11:00:00Z", 0),
                   .end_seconds = *ParseTime("2024-05-01T12:00:00Z", 0)}),
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

TEST_F(AuditQueryTest, EventNameIsCaseInsensitive) {
  std::vector<int> encrypts{1, 4};
  EXPECT_EQ(Query({.event_name = "encrypt"}), encrypts);
  EXPECT_EQ(Query({.event_name = "ENCRYPT"}), encrypts);
  EXPECT_EQ(Query({.event_name = "createalias"}), (std::vector<int>{3}));
  EXPECT_EQ(Query({.event_name = "crypt"}), (std::vector<int>{}));  // whole names only
}

// One alias's life in the trail: created for A, retargeted to B, deleted; calls by key id, by
// the alias, and Decrypts that name no key (only their resources say which key).
class AuditQueryAliasTest : public QueryFixture {
 protected:
  static std::string Answer(std::string_view key) {
    return StrCat(R"({"KeyId":")", Arn(key), R"("})");
  }
  static testing::Call DecryptWith(std::string_view key) {
    return MakeCall("Decrypt", R"({"CiphertextBlob":"AA=="})", Answer(key));
  }
  static testing::Call PointAlias(std::string operation, std::string_view alias,
                                  std::string_view key, absl::Status status = absl::OkStatus()) {
    return MakeCall(std::move(operation),
                    StrCat(R"({"AliasName":")", alias, R"(","TargetKeyId":")", key, R"("})"), "{}",
                    std::move(status));
  }
  static testing::Call EncryptThrough(std::string_view alias, std::string_view resolved) {
    return MakeCall("Encrypt", StrCat(R"({"KeyId":")", alias, R"(","Plaintext":"eA=="})"),
                    Answer(resolved));
  }

  void Write(std::vector<testing::Call> calls) {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    for (const testing::Call& call : calls) {
      ASSERT_TRUE(log->Record(call.Outcome()).ok());
      clock_.Advance(60);
    }
  }
};

TEST_F(AuditQueryAliasTest, AliasFollowsItsTargetThroughTheTrail) {
  Write({
      MakeCall("Encrypt", StrCat(R"({"KeyId":")", kKeyA, R"("})"), Answer(kKeyA)),  // 1: before
      PointAlias("CreateAlias", "alias/app", kKeyA),                                // 2
      DecryptWith(kKeyA),                                                           // 3
      EncryptThrough("alias/app", kKeyA),                                           // 4
      DecryptWith(kKeyB),                                                           // 5: not A
      PointAlias("UpdateAlias", "alias/app", kKeyB),                                // 6
      DecryptWith(kKeyA),                                                           // 7: old key
      DecryptWith(kKeyB),                                                           // 8
      MakeCall("Encrypt", R"({"KeyId":"alias/app"})", "", NotFound("no")),          // 9
      MakeCall("DeleteAlias", R"({"AliasName":"alias/app"})"),                      // 10
      DecryptWith(kKeyB),                                                           // 11: after
  });
  std::vector<int> expected{2, 3, 4, 6, 8, 9, 10};
  EXPECT_EQ(Query({.key = "alias/app"}), expected);
  EXPECT_EQ(Query({.key = "arn:aws:kms:us-east-1:111122223333:alias/app"}), expected);
  EXPECT_EQ(Query({.key = "alias/app", .event_name = "decrypt"}), (std::vector<int>{3, 8}));
  EXPECT_EQ(Query({.key = "alias/App"}), (std::vector<int>{}));  // alias names keep their case
}

TEST_F(AuditQueryAliasTest, AliasOlderThanTheTrailIsKnownFromItsFirstUseBackToTheStart) {
  Write({
      DecryptWith(kKeyA),                             // 1: before the first use, same key
      EncryptThrough("alias/old", kKeyA),             // 2: shows alias/old -> A
      DecryptWith(kKeyB),                             // 3
      DecryptWith(kKeyA),                             // 4
      PointAlias("UpdateAlias", "alias/old", kKeyB),  // 5
      DecryptWith(kKeyA),                             // 6
      DecryptWith(kKeyB),                             // 7
  });
  EXPECT_EQ(Query({.key = "alias/old"}), (std::vector<int>{1, 2, 4, 5, 7}));
}

TEST_F(AuditQueryAliasTest, AliasFirstSeenRetargetedHasNoKnownKeyBefore) {
  Write({
      DecryptWith(kKeyA),                             // 1: the old target is unknown
      PointAlias("UpdateAlias", "alias/old", kKeyB),  // 2
      DecryptWith(kKeyA),                             // 3
      DecryptWith(kKeyB),                             // 4
  });
  EXPECT_EQ(Query({.key = "alias/old"}), (std::vector<int>{2, 4}));
}

TEST_F(AuditQueryAliasTest, UseThatRacedARecordedChangeDoesNotMoveTheAlias) {
  Write({
      PointAlias("CreateAlias", "alias/app", kKeyA),  // 1
      PointAlias("UpdateAlias", "alias/app", kKeyB),  // 2
      EncryptThrough("alias/app", kKeyA),             // 3: resolved just before 2
      DecryptWith(kKeyA),                             // 4
      DecryptWith(kKeyB),                             // 5
  });
  EXPECT_EQ(Query({.key = "alias/app"}), (std::vector<int>{1, 2, 3, 5}));
}

TEST_F(AuditQueryAliasTest, FailedAliasChangesChangeNothing) {
  Write({
      PointAlias("CreateAlias", "alias/app", kKeyA),                                         // 1
      PointAlias("UpdateAlias", "alias/app", kKeyB, Error(ErrorType::kAccessDenied, "no")),  // 2
      MakeCall("DeleteAlias", R"({"AliasName":"alias/app"})", "", NotFound("no")),           // 3
      DecryptWith(kKeyA),                                                                    // 4
      DecryptWith(kKeyB),                                                                    // 5
  });
  EXPECT_EQ(Query({.key = "alias/app"}), (std::vector<int>{1, 2, 3, 4}));
}

TEST_F(AuditQueryAliasTest, OtherAliasesDoNotMoveIt) {
  Write({
      PointAlias("CreateAlias", "alias/app", kKeyA),          // 1
      PointAlias("CreateAlias", "alias/app-old", kKeyB),      // 2
      PointAlias("UpdateAlias", "alias/application", kKeyB),  // 3
      DecryptWith(kKeyA),                                     // 4
      DecryptWith(kKeyB),                                     // 5
  });
  EXPECT_EQ(Query({.key = "alias/app"}), (std::vector<int>{1, 4}));
}

// Summaries over alias/app's life: the root and alice use A through the alias, a stranger fails.
class AuditSummaryTest : public AuditQueryAliasTest {
 protected:
  void SetUp() override {
    auto by_alice = [](testing::Call call) {
      call.principal = testing::IamUser();
      return call;
    };
    auto stranger = MakeCall("Encrypt", R"({"KeyId":"alias/app"})", "",
                             Error(ErrorType::kUnrecognizedClient, "invalid token"));
    stranger.principal.reset();
    stranger.claimed_access_key_id = "AKIASTRANGER";
    Write({
        PointAlias("CreateAlias", "alias/app", kKeyA),  // 1, 10:00
        by_alice(DecryptWith(kKeyA)),                   // 2, 10:01
        by_alice(DecryptWith(kKeyA)),                   // 3, 10:02
        by_alice(MakeCall("Decrypt", R"({"CiphertextBlob":"AA==","KeyId":"alias/app"})", "",
                          Error(ErrorType::kInvalidCiphertext, "bad"))),  // 4, 10:03
        EncryptThrough("alias/app", kKeyA),                               // 5, 10:04
        by_alice(DecryptWith(kKeyA)),                                     // 6, 10:05
        stranger,                                                         // 7, 10:06
        DecryptWith(kKeyB),                                               // 8, 10:07
    });
  }

  std::vector<json> Rows(const QueryFilter& filter, const std::vector<SummaryColumn>& group_by,
                         int64_t expected_records) {
    std::ostringstream out;
    auto matched = SummarizeTrail(dir_.audit(), filter, group_by, QueryFormat::kJsonLines, out);
    EXPECT_TRUE(matched.ok()) << matched.status();
    EXPECT_EQ(matched.value_or(-1), expected_records);
    std::vector<json> rows;
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
    return rows;
  }
};

TEST_F(AuditSummaryTest, ByKeyGroupsWhoDidWhatWithWhatOutcome) {
  QueryFilter filter{.key = "alias/app"};
  auto rows = Rows(filter, DefaultSummaryColumns(filter), 7);
  ASSERT_EQ(rows.size(), 5u);
  // The most frequent first.
  EXPECT_EQ(rows[0], json::parse(R"({"principal":"alice","event":"Decrypt","outcome":"OK",
      "count":3,"errors":0,"firstTime":"2024-05-01T10:01:00Z","lastTime":"2024-05-01T10:05:00Z"})"));
  auto find = [&](std::string principal, std::string event, std::string outcome) {
    for (const json& row : rows) {
      if (row["principal"] == principal && row["event"] == event && row["outcome"] == outcome) {
        return row["count"].get<int>();
      }
    }
    return 0;
  };
  EXPECT_EQ(find("alice", "Decrypt", "InvalidCiphertextException"), 1);
  EXPECT_EQ(find("arn:aws:iam::111122223333:root", "CreateAlias", "OK"), 1);
  EXPECT_EQ(find("arn:aws:iam::111122223333:root", "Encrypt", "OK"), 1);
  EXPECT_EQ(find("unauthenticated AKIASTRANGER", "Encrypt", "UnrecognizedClientException"), 1);
}

TEST_F(AuditSummaryTest, WithoutAKeyOneRowPerKeyWithItsErrors) {
  QueryFilter filter;
  auto rows = Rows(filter, DefaultSummaryColumns(filter), 8);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["key"], kKeyA);  // CreateAlias, 3 Decrypts, Encrypt
  EXPECT_EQ(rows[0]["count"], 5);
  EXPECT_EQ(rows[0]["errors"], 0);
  // A call through the alias that failed has no key resource: it is counted under the alias.
  std::map<std::string, int> errors;
  for (const json& row : rows) errors[row["key"].get<std::string>()] = row["errors"].get<int>();
  EXPECT_EQ(errors, (std::map<std::string, int>{{kKeyA, 0}, {kKeyB, 0}, {"alias/app", 2}}));
}

TEST_F(AuditSummaryTest, TakesTheQueryFilters) {
  auto rows = Rows({.key = "alias/app", .event_name = "decrypt", .errors_only = true},
                   {SummaryColumn::kPrincipal}, 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["principal"], "alice");
  EXPECT_EQ(rows[0]["errors"], 1);
  EXPECT_EQ(
      Rows({.start_seconds = *ParseTime("2024-05-01T10:05:00Z", 0)}, {SummaryColumn::kEvent}, 3)
          .size(),
      2u);  // Decrypt (2), Encrypt (1)
}

TEST_F(AuditSummaryTest, TableHasAHeaderAndAlignedRows) {
  std::ostringstream out;
  QueryFilter filter{.key = "alias/app"};
  ASSERT_TRUE(
      SummarizeTrail(dir_.audit(), filter, DefaultSummaryColumns(filter), QueryFormat::kTable, out)
          .ok());
  std::vector<std::string> lines;
  std::istringstream text(out.str());
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 6u);  // header and five groups
  EXPECT_TRUE(lines[0].starts_with("PRINCIPAL"));
  size_t count = lines[0].find("COUNT");
  size_t first = lines[0].find("FIRST");
  ASSERT_NE(count, std::string::npos);
  EXPECT_EQ(lines[0].find("ERRORS"), std::string::npos);  // the outcome column says it
  EXPECT_TRUE(lines[1].starts_with("alice "));
  EXPECT_EQ(lines[1].substr(count, 2), "3 ");
  EXPECT_EQ(lines[1].substr(first, 20), "2024-05-01T10:01:00Z");
  EXPECT_NE(out.str().find("UnrecognizedClientException"), std::string::npos);
}

TEST(AuditSummaryColumns, NamesAndDefaults) {
  EXPECT_EQ(ParseSummaryColumn("principal"), SummaryColumn::kPrincipal);
  EXPECT_EQ(ParseSummaryColumn("outcome"), SummaryColumn::kOutcome);
  EXPECT_EQ(ParseSummaryColumn("Principal"), std::nullopt);
  EXPECT_EQ(DefaultSummaryColumns({}), (std::vector<SummaryColumn>{SummaryColumn::kKey}));
  EXPECT_EQ(DefaultSummaryColumns({.key = kKeyA}),
            (std::vector<SummaryColumn>{SummaryColumn::kPrincipal, SummaryColumn::kEvent,
                                        SummaryColumn::kOutcome}));
}

TEST(AuditParseTime, AcceptsATimeAgoInSecondsMinutesHoursDaysOrWeeks) {
  constexpr int64_t kNow = 1714557600;
  EXPECT_EQ(*ParseTime("90s", kNow), kNow - 90);
  EXPECT_EQ(*ParseTime("30m", kNow), kNow - 1800);
  EXPECT_EQ(*ParseTime("1h", kNow), kNow - 3600);
  EXPECT_EQ(*ParseTime("2d", kNow), kNow - 2 * 86400);
  EXPECT_EQ(*ParseTime("1w", kNow), kNow - 7 * 86400);
  EXPECT_EQ(*ParseTime("0m", kNow), kNow);
  EXPECT_EQ(*ParseTime("now", kNow), kNow);
}

TEST(AuditParseTime, RejectsOtherUnitsAndForms) {
  for (std::string_view text :
       {"1y", "h", "-1h", "1.5h", "1H", "1 h", "1hour", "1h30m", "10000000000h"}) {
    EXPECT_FALSE(ParseTime(text, 1714557600).ok()) << text;
  }
  auto status = ParseTime("1y", 0).status();
  EXPECT_NE(ToStd(status.message()).find("30m, 1h"), std::string::npos) << status;
}

TEST(AuditParseTime, AcceptsDatesTimesAndSeconds) {
  EXPECT_EQ(*ParseTime("2024-05-01", 0), 1714521600);
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00Z", 0), 1714557600);
  EXPECT_EQ(*ParseTime("2024-05-01T10:00:00.123Z", 0), 1714557600);
  EXPECT_EQ(*ParseTime("1714557600", 0), 1714557600);
  EXPECT_FALSE(ParseTime("yesterday", 0).ok());
  EXPECT_FALSE(ParseTime("2024-13-01", 0).ok());
}

}  // namespace
}  // namespace kmsd::audit
