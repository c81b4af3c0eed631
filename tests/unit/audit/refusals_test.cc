// Refused HTTP requests in the trail: what a record holds and leaves out, the rate limits, and
// that records written through the real log chain and verify.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "audit/event.h"
#include "kmsd/audit.h"
#include "kmsd/audit_refusals.h"
#include "kmsd/errors.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::FakeClock;
using testing::TempDir;

// Renders each record as the real log would, and keeps it.
class CapturingLog : public AuditLog {
 public:
  void RecordAsync(const RequestOutcome& outcome, std::function<void(absl::Status)> done) override {
    std::string event = BuildEvent(outcome, {"us-east-1", "111122223333"}, 1714557600, "id");
    {
      std::lock_guard lock(mutex_);
      events_.push_back(json::parse(event));
    }
    done(absl::OkStatus());
  }
  absl::Status WriteDigest() override { return absl::OkStatus(); }
  absl::Status Failure() override { return absl::OkStatus(); }

  std::vector<json> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<json> events_;
};

HttpRequest Refused(std::string address = "192.0.2.7") {
  HttpRequest request;
  request.remote_address = std::move(address);
  request.request_id = "11111111-2222-4333-8444-555555555555";
  return request;
}

class RefusalAuditTest : public ::testing::Test {
 protected:
  RefusalAuditOptions Options() {
    RefusalAuditOptions options;
    options.now_seconds = [this] { return now_.load(); };
    options.on_unrecorded = [this](uint64_t n) { reported_ += n; };
    return options;
  }
  void Refuse(RefusalAudit& audit, const HttpRequest& request,
              absl::Status status = Error(ErrorType::kSerialization, "Malformed HTTP request"),
              int http_status = 400) {
    audit.Record(HttpRefusal{request, status, http_status});
  }

  CapturingLog log_;
  std::atomic<int64_t> now_{100};
  std::atomic<uint64_t> reported_{0};
};

TEST_F(RefusalAuditTest, RecordsAMalformedRequestAsInvalidHttpRequest) {
  RefusalAudit audit(&log_, Options());
  HttpRequest request = Refused();
  request.headers = {{"user-agent", "curl/7.88"}};
  Refuse(audit, request);
  ASSERT_EQ(log_.events().size(), 1u);
  json event = log_.events()[0];
  EXPECT_EQ(event["eventName"], "InvalidHttpRequest");
  EXPECT_EQ(event["errorCode"], "SerializationException");
  EXPECT_EQ(event["errorMessage"], "Malformed HTTP request");
  EXPECT_EQ(event["sourceIPAddress"], "192.0.2.7");
  EXPECT_EQ(event["userAgent"], "curl/7.88");
  EXPECT_EQ(event["userIdentity"]["type"], "Unknown");
  EXPECT_EQ(event["requestID"], request.request_id);
  EXPECT_EQ(event["requestParameters"], json({{"httpStatus", 400}}));
}

TEST_F(RefusalAuditTest, RecordsMethodAndPathButNeitherQueryNorBodyNorOtherHeaders) {
  RefusalAudit audit(&log_, Options());
  HttpRequest request = Refused();
  request.method = "POST";
  request.target = "/keys?X-Amz-Signature=abcdef";
  request.headers = {{"authorization", "AWS4-HMAC-SHA256 Credential=AKIASECRETISH"},
                     {"x-amz-security-token", "token-bytes"}};
  request.body = "never-recorded-body";
  Refuse(audit, request, Error(ErrorType::kRequestEntityTooLarge, "too large"), 413);
  ASSERT_EQ(log_.events().size(), 1u);
  json event = log_.events()[0];
  EXPECT_EQ(event["errorCode"], "RequestEntityTooLargeException");
  EXPECT_EQ(event["requestParameters"],
            json({{"httpMethod", "POST"}, {"path", "/keys"}, {"httpStatus", 413}}));
  std::string text = event.dump();
  for (const char* secret : {"abcdef", "AKIASECRETISH", "token-bytes", "never-recorded-body"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

TEST_F(RefusalAuditTest, CutsALongUserAgentAndPath) {
  RefusalAudit audit(&log_, Options());
  HttpRequest request = Refused();
  request.method = "GET";
  request.target = "/" + std::string(5000, 'p');
  request.headers = {{"user-agent", std::string(5000, 'u')}};
  Refuse(audit, request);
  json event = log_.events().at(0);
  EXPECT_EQ(event["userAgent"].get<std::string>().size(), 256u);
  EXPECT_EQ(event["requestParameters"]["path"].get<std::string>().size(), 256u);
}

TEST_F(RefusalAuditTest, RecordsTheHeaderDeadlineWithNoAnswer) {
  RefusalAudit audit(&log_, Options());
  Refuse(audit, Refused(), Error(ErrorType::kRequestTimeout, "No complete request head"), 0);
  json event = log_.events().at(0);
  EXPECT_EQ(event["errorCode"], "RequestTimeoutException");
  EXPECT_EQ(event["requestParameters"]["httpStatus"], 0);
}

TEST_F(RefusalAuditTest, RecordsAtMostTheBudgetOfOneClientPerSecond) {
  RefusalAuditOptions options = Options();
  options.per_client_per_second = 3;
  RefusalAudit audit(&log_, options);
  for (int i = 0; i < 10; ++i) Refuse(audit, Refused("192.0.2.7"));
  EXPECT_EQ(log_.events().size(), 3u);
  Refuse(audit, Refused("192.0.2.8"));  // another client has its own budget
  EXPECT_EQ(log_.events().size(), 4u);
  EXPECT_EQ(audit.UnrecordedTotal(), 7u);
}

TEST_F(RefusalAuditTest, RecordsAtMostTheTotalBudgetPerSecondAcrossClients) {
  RefusalAuditOptions options = Options();
  options.total_per_second = 5;
  RefusalAudit audit(&log_, options);
  for (int i = 0; i < 20; ++i) Refuse(audit, Refused(StrCat("192.0.2.", i)));
  EXPECT_EQ(log_.events().size(), 5u);
  EXPECT_EQ(audit.UnrecordedTotal(), 15u);
}

TEST_F(RefusalAuditTest, ANewSecondHasANewBudgetAndTheRecordCountsWhatWasLeftOut) {
  RefusalAuditOptions options = Options();
  options.per_client_per_second = 2;
  RefusalAudit audit(&log_, options);
  for (int i = 0; i < 6; ++i) Refuse(audit, Refused());
  EXPECT_EQ(reported_.load(), 0u);
  now_ += 1;
  Refuse(audit, Refused());
  ASSERT_EQ(log_.events().size(), 3u);
  EXPECT_EQ(log_.events()[2]["requestParameters"]["refusalsNotRecordedBefore"], 4);
  EXPECT_EQ(reported_.load(), 4u);  // told once the window closed
}

TEST_F(RefusalAuditTest, TellsWhatWentUnrecordedWhenItEnds) {
  RefusalAuditOptions options = Options();
  options.per_client_per_second = 1;
  {
    RefusalAudit audit(&log_, options);
    for (int i = 0; i < 4; ++i) Refuse(audit, Refused());
  }
  EXPECT_EQ(reported_.load(), 3u);
}

TEST(RefusalAuditTrail, RecordsLandInTheTrailThatVerifiesAndQueryFindsThem) {
  TempDir dir;
  FakeClock clock;
  AuditOptions options;
  options.data_dir = dir.path();
  options.clock = &clock;
  {
    auto log = OpenAuditLog(options);
    ASSERT_TRUE(log.ok()) << log.status();
    RefusalAudit audit(log->get(), {});
    HttpRequest request = Refused("198.51.100.4");
    absl::Status status = Error(ErrorType::kSerialization, "Malformed HTTP request");
    audit.Record(HttpRefusal{request, status, 400});
    testing::Call call = testing::MakeCall("ListKeys", "{}");
    ASSERT_TRUE((*log)->Record(call.Outcome()).ok());  // written after the refusal's record
  }
  auto key = AuditPublicKeyPem(dir.path());
  ASSERT_TRUE(key.ok()) << key.status();
  auto report = VerifyTrail(dir.audit(), *key);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << FormatVerifyReport(*report);
  EXPECT_EQ(report->records, 2);
  QueryFilter filter;
  filter.event_name = "InvalidHttpRequest";
  std::ostringstream out;
  auto matched = QueryTrail(dir.audit(), filter, QueryFormat::kJsonLines, out);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_EQ(*matched, 1);
  EXPECT_EQ(json::parse(out.str())["sourceIPAddress"], "198.51.100.4");
}

}  // namespace
}  // namespace kmsd::audit
