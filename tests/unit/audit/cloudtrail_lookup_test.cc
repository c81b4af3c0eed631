// CloudTrail over the trail: LookupEvents' reading newest first, its filters, paging with MAC'd
// tokens and a bounded amount of reading per page; its refusals; GetTrailStatus's cached
// verification; the node id in records and digests, and queries merged over two nodes' trails.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "audit/lookup.h"
#include "kmsd/cloudtrail.h"
#include "kmsd/policy.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::MakeCall;

constexpr char kKey[] = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-4000-8000-000000000001";

class LookupFixture : public ::testing::Test {
 protected:
  // 40 records, one a minute from 10:00, in files of about 4 KiB: Encrypts by the root (even
  // sequences), DescribeKeys by alice (odd ones, which are read-only), and at 3 an AssumedRole
  // session's ListKeys.
  void SetUp() override {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    options.node_id = "node-a";
    options.max_file_bytes = 4096;
    auto log = OpenAuditLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int sequence = 1; sequence <= 40; ++sequence) {
      testing::Call call;
      if (sequence == 3) {
        call = MakeCall("ListKeys", "{}");
        call.principal = testing::AssumedRole();
      } else if (sequence % 2 == 0) {
        call = MakeCall("Encrypt", StrCat(R"({"KeyId":")", kKey, R"(","Plaintext":"eA=="})"),
                        StrCat(R"({"KeyId":")", kKeyArn, R"("})"));
      } else {
        call = MakeCall("DescribeKey", StrCat(R"({"KeyId":")", kKey, R"("})"));
        call.principal = testing::IamUser();
      }
      ASSERT_TRUE((*log)->Record(call.Outcome()).ok());
      clock_.Advance(60);
    }
  }

  static std::vector<int> Sequences(const std::vector<std::string>& lines) {
    std::vector<int> sequences;
    for (const std::string& line : lines) {
      sequences.push_back(json::parse(line)["sequenceNumber"].get<int>());
    }
    return sequences;
  }

  // Every page of a lookup, followed to the end; the sequences found, in order.
  std::vector<int> AllPages(const LookupQuery& query, const LookupLimits& limits, int* pages) {
    std::vector<int> found;
    std::optional<LookupPosition> from;
    *pages = 0;
    for (int guard = 0; guard < 1000; ++guard) {
      auto page = LookupTrail(dir_.audit(), query, from, limits);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++*pages;
      for (int sequence : Sequences(page->lines)) found.push_back(sequence);
      if (!page->next) break;
      from = page->next;
    }
    return found;
  }

  static std::vector<int> Descending(int from, int to, int step = 1) {
    std::vector<int> out;
    for (int i = from; i >= to; i -= step) out.push_back(i);
    return out;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
};

TEST_F(LookupFixture, TheTrailSpansSeveralFiles) {
  EXPECT_GT(testing::TrailFiles(dir_.audit()).size(), 3u);
}

TEST_F(LookupFixture, ReadsNewestFirstAndPagesThroughEveryFileOnce) {
  LookupQuery query;
  query.max_results = 7;
  int pages = 0;
  EXPECT_EQ(AllPages(query, {}, &pages), Descending(40, 1));
  EXPECT_EQ(pages, 6);  // 40 records, 7 a page
}

TEST_F(LookupFixture, BoundedReadingEndsPagesEarlyButLosesNothing) {
  LookupQuery query;
  LookupLimits limits;
  limits.max_scan_bytes = 1500;  // about two records' worth per page
  limits.chunk_bytes = 512;
  int pages = 0;
  std::vector<int> found = AllPages(query, limits, &pages);
  std::string shown;
  for (int sequence : found) shown += StrCat(sequence, " ");
  EXPECT_EQ(found, Descending(40, 1)) << shown;
  EXPECT_GT(pages, 10);
}

TEST_F(LookupFixture, FiltersByEachAttribute) {
  auto lookup = [&](std::string key, std::string value) {
    LookupQuery query{std::move(key), std::move(value)};
    int pages = 0;
    return AllPages(query, {}, &pages);
  };
  std::vector<int> even = Descending(40, 2, 2);
  std::vector<int> odd_but_3 = Descending(39, 5, 2);
  odd_but_3.push_back(1);
  EXPECT_EQ(lookup("EventName", "Encrypt"), even);
  EXPECT_EQ(lookup("EventName", "encrypt"), std::vector<int>{});  // names are exact
  EXPECT_EQ(lookup("Username", "root"), even);
  EXPECT_EQ(lookup("Username", "alice"), odd_but_3);
  EXPECT_EQ(lookup("Username", "build-42"), std::vector<int>{3});  // a session by its name
  EXPECT_EQ(lookup("AccessKeyId", "AKIAEXAMPLEALICE0001"), odd_but_3);
  EXPECT_EQ(lookup("ReadOnly", "false"), even);
  EXPECT_EQ(lookup("ReadOnly", "true").size(), 20u);
  EXPECT_EQ(lookup("EventSource", "kms.amazonaws.com").size(), 40u);
  EXPECT_EQ(lookup("EventSource", "iam.amazonaws.com"), std::vector<int>{});
  EXPECT_EQ(lookup("ResourceType", "AWS::KMS::Key").size(), 39u);  // ListKeys names none
  EXPECT_EQ(lookup("ResourceName", kKeyArn).size(), 39u);
  EXPECT_EQ(lookup("ResourceName", kKey).size(), 39u);        // a key by its id
  EXPECT_EQ(lookup("ResourceName", "aaaa-0000").size(), 0u);  // not a part of one
  // EventId: one record.
  LookupQuery newest;
  newest.max_results = 1;
  auto page = LookupTrail(dir_.audit(), newest, std::nullopt);
  ASSERT_TRUE(page.ok());
  std::string event_id = json::parse(page->lines.at(0))["eventID"];
  EXPECT_EQ(lookup("EventId", event_id), std::vector<int>{40});
}

TEST_F(LookupFixture, TimeRangeIsInclusiveAtBothEnds) {
  // Record n was written at 10:00 + (n-1) minutes.
  LookupQuery query;
  query.start_seconds = 1714557600 + 9 * 60;  // record 10
  query.end_seconds = 1714557600 + 19 * 60;   // record 20
  int pages = 0;
  EXPECT_EQ(AllPages(query, {}, &pages), Descending(20, 10));
  query.attribute_key = "EventName";
  query.attribute_value = "Encrypt";
  EXPECT_EQ(AllPages(query, {}, &pages), Descending(20, 10, 2));
}

TEST_F(LookupFixture, RecordsNameTheirNodeAndSoDoDigests) {
  for (const std::string& file : testing::TrailFiles(dir_.audit())) {
    for (const std::string& line : testing::ReadLines(file)) {
      EXPECT_EQ(json::parse(line)["nodeId"], "node-a");
    }
  }
  auto digests = testing::ReadLines(dir_.audit() + "/digests.jsonl");
  ASSERT_FALSE(digests.empty());
  EXPECT_EQ(json::parse(digests.back())["nodeId"], "node-a");
  // and the trail still verifies: the node id is covered by the chain and the signatures.
  auto key = AuditPublicKeyPem(dir_.path());
  ASSERT_TRUE(key.ok());
  auto report = VerifyTrail(dir_.audit(), *key);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << FormatVerifyReport(*report);
}

TEST(NodeId, OnlyHostNameCharactersAreAccepted) {
  EXPECT_TRUE(IsNodeId("kms-1.example.com"));
  EXPECT_FALSE(IsNodeId(""));
  EXPECT_FALSE(IsNodeId("a\"b"));
  EXPECT_FALSE(IsNodeId(std::string(254, 'a')));
  testing::TempDir dir;
  AuditOptions options;
  options.data_dir = dir.path();
  options.node_id = "bad node";
  EXPECT_EQ(TypeOf(OpenAuditLog(options).status()), ErrorType::kValidation);
}

// ---- the service: authorization, tokens, refusals, trail status

std::shared_ptr<const Principal> Root() {
  return std::make_shared<const Principal>(RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001"));
}

std::shared_ptr<const Principal> AliceWith(std::string_view policy_document) {
  Principal alice = testing::IamUser();
  if (!policy_document.empty()) {
    auto policy = policy::Parse(policy_document, policy::PolicyKind::kIdentity);
    EXPECT_TRUE(policy.ok()) << policy.status();
    alice.identity_policies.push_back(*policy);
  }
  return std::make_shared<const Principal>(std::move(alice));
}

class CloudTrailServiceTest : public LookupFixture {
 protected:
  void SetUp() override {
    LookupFixture::SetUp();
    cloudtrail::CloudTrailOptions options;
    options.audit_dir = dir_.audit();
    auto key = AuditPublicKeyPem(dir_.path());
    ASSERT_TRUE(key.ok());
    options.public_key_pem = *key;
    options.clock = &clock_;
    auto service = cloudtrail::NewCloudTrailService(options);
    ASSERT_TRUE(service.ok());
    service_ = std::move(*service);
    call_.principal = Root();
  }

  absl::StatusOr<cloudtrail::LookupEventsResult> Lookup(cloudtrail::LookupEventsRequest request) {
    return service_->LookupEvents(call_, request);
  }

  std::unique_ptr<cloudtrail::CloudTrailService> service_;
  CallContext call_;
};

TEST_F(CloudTrailServiceTest, EventsCarryCloudTrailsFields) {
  auto result = Lookup({.max_results = 2});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->events.size(), 2u);
  const cloudtrail::Event& newest = result->events[0];  // 40: an Encrypt by the root
  EXPECT_EQ(newest.event_name, "Encrypt");
  EXPECT_EQ(newest.read_only, "false");
  EXPECT_EQ(newest.username, "root");
  EXPECT_EQ(newest.access_key_id, "AKIAEXAMPLEROOT00001");
  EXPECT_EQ(newest.event_source, "kms.amazonaws.com");
  EXPECT_EQ(newest.event_time, 1714557600 + 39 * 60);
  ASSERT_EQ(newest.resources.size(), 1u);
  EXPECT_EQ(newest.resources[0].type, "AWS::KMS::Key");
  EXPECT_EQ(newest.resources[0].name, kKeyArn);
  json record = json::parse(newest.cloud_trail_event);
  EXPECT_EQ(record["sequenceNumber"], 40);
  EXPECT_EQ(record["eventID"], newest.event_id);
  EXPECT_EQ(result->events[1].username, "alice");
  EXPECT_EQ(result->events[1].read_only, "true");
  EXPECT_FALSE(result->next_token.empty());
}

TEST_F(CloudTrailServiceTest, TokensPageToTheEnd) {
  std::set<std::string> seen;
  cloudtrail::LookupEventsRequest request{.max_results = 9};
  for (int page = 0; page < 20; ++page) {
    auto result = Lookup(request);
    ASSERT_TRUE(result.ok()) << result.status();
    for (const auto& event : result->events) EXPECT_TRUE(seen.insert(event.event_id).second);
    if (result->next_token.empty()) break;
    request.next_token = result->next_token;
  }
  EXPECT_EQ(seen.size(), 40u);
}

TEST_F(CloudTrailServiceTest, AnAlteredTokenIsRefused) {
  auto first = Lookup({.max_results = 5});
  ASSERT_TRUE(first.ok());
  std::string token = first->next_token;
  ASSERT_FALSE(token.empty());
  for (size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    auto result = Lookup({.max_results = 5, .next_token = altered});
    EXPECT_EQ(TypeOf(result.status()), ErrorType::kInvalidNextToken) << i;
  }
  EXPECT_EQ(TypeOf(Lookup({.max_results = 5, .next_token = "not a token"}).status()),
            ErrorType::kInvalidNextToken);
}

TEST_F(CloudTrailServiceTest, ATokenIsBoundToItsLookupsParameters) {
  auto first = Lookup({.max_results = 5});
  ASSERT_TRUE(first.ok());
  // Another page size is fine; another filter or time range is not.
  EXPECT_TRUE(Lookup({.max_results = 7, .next_token = first->next_token}).ok());
  auto other = Lookup({.attributes = {{"EventName", "Encrypt"}},
                       .max_results = 5,
                       .next_token = first->next_token});
  EXPECT_EQ(TypeOf(other.status()), ErrorType::kInvalidNextToken);
  auto later =
      Lookup({.start_time = 1714557600, .max_results = 5, .next_token = first->next_token});
  EXPECT_EQ(TypeOf(later.status()), ErrorType::kInvalidNextToken);
}

TEST_F(CloudTrailServiceTest, RefusesWhatCloudTrailRefuses) {
  auto type = [&](cloudtrail::LookupEventsRequest request) {
    return TypeOf(Lookup(std::move(request)).status());
  };
  EXPECT_EQ(type({.attributes = {{"EventName", "Encrypt"}, {"Username", "root"}}}),
            ErrorType::kInvalidLookupAttributes);
  EXPECT_EQ(type({.attributes = {{"Color", "blue"}}}), ErrorType::kInvalidLookupAttributes);
  EXPECT_EQ(type({.attributes = {{"EventName", ""}}}), ErrorType::kInvalidLookupAttributes);
  EXPECT_EQ(type({.attributes = {{"ReadOnly", "yes"}}}), ErrorType::kInvalidLookupAttributes);
  EXPECT_EQ(type({.start_time = 200, .end_time = 100}), ErrorType::kInvalidTimeRange);
  EXPECT_EQ(type({.max_results = 0}), ErrorType::kInvalidMaxResults);
  EXPECT_EQ(type({.max_results = 51}), ErrorType::kInvalidMaxResults);
  EXPECT_EQ(type({.event_category = "management"}), ErrorType::kInvalidEventCategory);
  // Insights: kmsd records none.
  auto insights = Lookup({.event_category = "insight"});
  ASSERT_TRUE(insights.ok());
  EXPECT_TRUE(insights->events.empty());
}

TEST_F(CloudTrailServiceTest, AnIamUserNeedsAnIdentityPolicyThatAllowsLookupEvents) {
  call_.principal = AliceWith("");
  auto denied = Lookup({});
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
  EXPECT_NE(denied.status().message().find("cloudtrail:LookupEvents"), std::string::npos);
  call_.principal = AliceWith(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Action":"kms:*","Resource":"*"}]})");
  EXPECT_EQ(TypeOf(Lookup({}).status()), ErrorType::kAccessDenied);
  call_.principal = AliceWith(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Action":"cloudtrail:LookupEvents","Resource":"*"}]})");
  EXPECT_TRUE(Lookup({}).ok());
  // ... which does not extend to the trail's status.
  EXPECT_EQ(TypeOf(service_->GetTrailStatus(call_, "kmsd").status()), ErrorType::kAccessDenied);
}

TEST_F(CloudTrailServiceTest, TrailStatusSaysTheTrailVerifiesAndWhenItWasSigned) {
  auto status = service_->GetTrailStatus(call_, "kmsd");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->is_logging);
  EXPECT_TRUE(status->verified) << status->latest_digest_delivery_error;
  EXPECT_TRUE(status->latest_digest_delivery_error.empty());
  ASSERT_TRUE(status->latest_digest_delivery_time.has_value());
  ASSERT_TRUE(status->latest_delivery_time.has_value());
  EXPECT_EQ(*status->latest_delivery_time, 1714557600 + 39 * 60);
  EXPECT_TRUE(
      service_->GetTrailStatus(call_, "arn:aws:cloudtrail:us-east-1:111122223333:trail/kmsd").ok());
  EXPECT_EQ(TypeOf(service_->GetTrailStatus(call_, "other").status()), ErrorType::kTrailNotFound);
}

TEST_F(CloudTrailServiceTest, TrailStatusReportsTamperingOnceTheCacheIsRedone) {
  ASSERT_TRUE(service_->GetTrailStatus(call_, "kmsd").ok());  // verified and cached
  // Change a signed record.
  std::string first = testing::TrailFiles(dir_.audit()).front();
  auto lines = testing::ReadLines(first);
  size_t at = lines[0].find("Encrypt");
  if (at == std::string::npos) at = lines[0].find("DescribeKey");
  ASSERT_NE(at, std::string::npos);
  lines[0][at] = 'X';
  testing::WriteLines(first, lines);
  clock_.Advance(31);                                // past the cache's 30 s
  for (int attempt = 0; attempt < 100; ++attempt) {  // the redo runs in the background
    auto status = service_->GetTrailStatus(call_, "kmsd");
    ASSERT_TRUE(status.ok());
    if (!status->verified) {
      EXPECT_NE(status->latest_digest_delivery_error.find("modified"), std::string::npos)
          << status->latest_digest_delivery_error;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "the tampering was not reported";
}

// ---- several nodes' trails merged (issue 12)

TEST(MergedQuery, TwoNodesTrailsInterleaveByTimeAndEachVerifiesAlone) {
  testing::TempDir a, b;
  testing::FakeClock clock;
  auto open = [&](const testing::TempDir& dir, std::string node) {
    AuditOptions options;
    options.data_dir = dir.path();
    options.clock = &clock;
    options.node_id = std::move(node);
    auto log = OpenAuditLog(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return std::move(*log);
  };
  auto log_a = open(a, "node-a");
  auto log_b = open(b, "node-b");
  // a at 10:00, b at 10:01, a at 10:02, b at 10:03.
  for (int i = 0; i < 4; ++i) {
    auto& log = i % 2 == 0 ? log_a : log_b;
    ASSERT_TRUE(log->Record(MakeCall("GenerateRandom", R"({"NumberOfBytes":8})").Outcome()).ok());
    clock.Advance(60);
  }
  log_a.reset();
  log_b.reset();
  std::ostringstream out;
  auto matched = QueryTrails({a.audit(), b.audit()}, {}, QueryFormat::kJsonLines, out);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_EQ(*matched, 4);
  std::vector<std::pair<std::string, int>> order;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    json record = json::parse(line);
    order.emplace_back(record["nodeId"], record["sequenceNumber"]);
  }
  EXPECT_EQ(order, (std::vector<std::pair<std::string, int>>{
                       {"node-a", 1}, {"node-b", 1}, {"node-a", 2}, {"node-b", 2}}));
  std::ostringstream table;
  ASSERT_TRUE(QueryTrails({a.audit(), b.audit()}, {}, QueryFormat::kTable, table).ok());
  EXPECT_NE(table.str().find("NODE"), std::string::npos);
  EXPECT_NE(table.str().find("node-b"), std::string::npos);
  std::ostringstream summary;
  auto counted = SummarizeTrails({a.audit(), b.audit()}, {}, {SummaryColumn::kEvent},
                                 QueryFormat::kJsonLines, summary);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(json::parse(summary.str())["count"], 4);
}

}  // namespace
}  // namespace kmsd::audit
