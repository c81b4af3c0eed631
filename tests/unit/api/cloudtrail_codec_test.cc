// The CloudTrail codec over a recording fake service: the operation from X-Amz-Target, the
// request's members read into the service's types with the protocol's errors, the answers'
// shapes, the errors' shapes, and what the audit is given (never the NextToken).
#include <gtest/gtest.h>

#include "api/cloudtrail/codec.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "nlohmann/json.hpp"

namespace kmsd {
namespace {

using nlohmann::json;

class FakeCloudTrail : public cloudtrail::CloudTrailService {
 public:
  absl::StatusOr<cloudtrail::LookupEventsResult> LookupEvents(
      const CallContext&, const cloudtrail::LookupEventsRequest& request) override {
    last_lookup = request;
    if (!refusal.ok()) return refusal;
    cloudtrail::LookupEventsResult result;
    cloudtrail::Event event{"id-1",
                            "Encrypt",
                            "false",
                            "AKIAEXAMPLE",
                            1714557600,
                            "kms.amazonaws.com",
                            "root",
                            {{"AWS::KMS::Key", "arn:aws:kms:us-east-1:111122223333:key/k"}},
                            R"({"eventID":"id-1"})"};
    result.events.push_back(event);
    result.next_token = "token-2";
    return result;
  }
  absl::StatusOr<cloudtrail::TrailStatus> GetTrailStatus(const CallContext&,
                                                         std::string_view name) override {
    last_name = std::string(name);
    cloudtrail::TrailStatus status;
    status.is_logging = true;
    status.latest_digest_delivery_time = 1714557600;
    status.verified = true;
    status.verified_at = 1714557660;
    status.start_logging_time = 1714550000;
    return status;
  }

  cloudtrail::LookupEventsRequest last_lookup;
  std::string last_name;
  absl::Status refusal;
};

HttpRequest Post(std::string_view operation, std::string body) {
  HttpRequest http;
  http.method = "POST";
  http.target = "/";
  http.headers = {{"x-amz-target", StrCat(api::kCloudTrailTargetPrefix, operation)}};
  http.body = std::move(body);
  http.request_id = "request-1";
  return http;
}

class CloudTrailCodecTest : public ::testing::Test {
 protected:
  absl::StatusOr<api::ServedAnswer> Serve(std::string_view operation, std::string body) {
    HttpRequest http = Post(operation, std::move(body));
    return codec_->Serve(http, codec_->OperationName(http), call_);
  }

  FakeCloudTrail service_;
  std::unique_ptr<api::ServiceCodec> codec_ = api::NewCloudTrailCodec(&service_);
  CallContext call_;
};

TEST_F(CloudTrailCodecTest, NamesItsServiceAndOperations) {
  EXPECT_EQ(codec_->SigningName(), "cloudtrail");
  EXPECT_EQ(codec_->EventSource(), "cloudtrail.amazonaws.com");
  EXPECT_EQ(codec_->OperationName(Post("LookupEvents", "")), "LookupEvents");
  EXPECT_EQ(codec_->OperationName(Post("Lookup Events\n", "")), "");  // never echoed
  HttpRequest kms = Post("", "");
  kms.headers = {{"x-amz-target", "TrentService.Encrypt"}};
  EXPECT_EQ(codec_->OperationName(kms), "");
  EXPECT_TRUE(codec_->Serves("GetTrailStatus"));
  EXPECT_FALSE(codec_->Serves("DescribeTrails"));
}

TEST_F(CloudTrailCodecTest, ReadsLookupEventsMembers) {
  auto served = Serve("LookupEvents", R"({"LookupAttributes":[{"AttributeKey":"EventName",
      "AttributeValue":"Decrypt"}],"StartTime":1714557600.5,"EndTime":1714560000,
      "MaxResults":7,"NextToken":"abc"})");
  ASSERT_TRUE(served.ok()) << served.status();
  const auto& request = service_.last_lookup;
  ASSERT_EQ(request.attributes.size(), 1u);
  EXPECT_EQ(request.attributes[0].key, "EventName");
  EXPECT_EQ(request.attributes[0].value, "Decrypt");
  EXPECT_EQ(request.start_time, 1714557600);
  EXPECT_EQ(request.end_time, 1714560000);
  EXPECT_EQ(request.max_results, 7);
  EXPECT_EQ(request.next_token, "abc");
  // Out-of-range MaxResults reach the service, which answers CloudTrail's own exception.
  ASSERT_TRUE(Serve("LookupEvents", R"({"MaxResults":500000})").ok());
  EXPECT_EQ(service_.last_lookup.max_results, 1000);
}

TEST_F(CloudTrailCodecTest, WritesEventsAsCloudTrailDoes) {
  auto served = Serve("LookupEvents", "{}");
  ASSERT_TRUE(served.ok());
  json answer = json::parse(served->body);
  EXPECT_EQ(answer["NextToken"], "token-2");
  const json& event = answer["Events"][0];
  EXPECT_EQ(event["EventId"], "id-1");
  EXPECT_EQ(event["EventName"], "Encrypt");
  EXPECT_EQ(event["ReadOnly"], "false");
  EXPECT_EQ(event["AccessKeyId"], "AKIAEXAMPLE");
  EXPECT_EQ(event["EventTime"], 1714557600);  // the JSON protocol's timestamps: epoch seconds
  EXPECT_EQ(event["EventSource"], "kms.amazonaws.com");
  EXPECT_EQ(event["Username"], "root");
  EXPECT_EQ(event["Resources"][0]["ResourceType"], "AWS::KMS::Key");
  EXPECT_EQ(event["CloudTrailEvent"], R"({"eventID":"id-1"})");
}

TEST_F(CloudTrailCodecTest, WrongTypesAreSerializationErrors) {
  for (std::string body :
       {R"({"LookupAttributes":"EventName"})",
        R"({"LookupAttributes":[{"AttributeKey":1,"AttributeValue":"x"}]})",
        R"({"StartTime":"yesterday"})", R"({"MaxResults":"5"})", R"({"EndTime":1e300})", "[1]"}) {
    EXPECT_EQ(TypeOf(Serve("LookupEvents", body).status()), ErrorType::kSerialization) << body;
  }
  auto missing = Serve("LookupEvents", R"({"LookupAttributes":[{"AttributeKey":"EventName"}]})");
  EXPECT_EQ(TypeOf(missing.status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Serve("GetTrailStatus", "{}").status()), ErrorType::kValidation);
}

TEST_F(CloudTrailCodecTest, AnswersTrailStatus) {
  auto served = Serve("GetTrailStatus", R"({"Name":"kmsd"})");
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(service_.last_name, "kmsd");
  json answer = json::parse(served->body);
  EXPECT_EQ(answer["IsLogging"], true);
  EXPECT_EQ(answer["LatestDigestDeliveryTime"], 1714557600);
  EXPECT_FALSE(answer.contains("LatestDigestDeliveryError"));
  EXPECT_EQ(answer["LatestDeliveryAttemptSucceeded"], "true");
  EXPECT_EQ(answer["LatestDeliveryAttemptTime"], "2024-05-01T10:01:00Z");
}

TEST_F(CloudTrailCodecTest, ErrorsHaveCloudTrailsNames) {
  service_.refusal = Error(ErrorType::kInvalidNextToken, "bad token");
  auto refused = Serve("LookupEvents", "{}");
  HttpResponse response = codec_->Failure(refused.status(), "request-1");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(json::parse(response.body)["__type"], "InvalidNextTokenException");
  HttpResponse internal = codec_->Failure(Internal("disk on fire"), "request-1");
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(json::parse(internal.body)["__type"], "InternalFailure");
  EXPECT_EQ(internal.body.find("disk on fire"), std::string::npos);
  auto unknown = Serve("DescribeTrails", "{}");
  EXPECT_EQ(TypeOf(unknown.status()), ErrorType::kUnknownOperation);
}

TEST_F(CloudTrailCodecTest, TheAuditGetsTheLookupButNotTheToken) {
  HttpRequest http = Post("LookupEvents", R"({"LookupAttributes":[{"AttributeKey":"Username",
      "AttributeValue":"alice"}],"StartTime":1714557600,"MaxResults":5,"NextToken":"secret"})");
  json parameters = json::parse(codec_->AuditRequestParameters(http));
  EXPECT_EQ(parameters["lookupAttributes"][0]["attributeValue"], "alice");
  EXPECT_EQ(parameters["startTime"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(parameters["maxResults"], 5);
  EXPECT_FALSE(parameters.contains("nextToken"));
  EXPECT_EQ(codec_->AuditRequestParameters(Post("LookupEvents", "not json")), "null");
}

}  // namespace
}  // namespace kmsd
