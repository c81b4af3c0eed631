// The router: each request reaches the codec of the service its SigV4 scope names, authenticated
// through the credential store, and the store's own refusals reach the client in that codec's
// shape. A fake codec stands in for IAM; the KMS codec is the real one.
#include <memory>
#include <string>

#include "api/codec.h"
#include "gtest/gtest.h"
#include "kmsd/api.h"
#include "kmsd/credentials.h"
#include "kmsd/errors.h"
#include "kmsd/regions.h"
#include "kmsd/sigv4.h"
#include "unit/keystore_fixture.h"

namespace kmsd {
namespace {

constexpr int64_t kNow = 1'714'557'600;  // 2024-05-01T10:00:00Z
constexpr char kRootKey[] = "AKIAROOTROOTROOT0001";
constexpr char kRootSecret[] = "root-secret-root-secret";
constexpr char kSessionKey[] = "ASIASESSIONSESSION01";
constexpr char kSessionSecret[] = "session-secret-session";

class FixedClock : public Clock {
 public:
  int64_t NowSeconds() const override { return kNow; }
};

// The root, and one session whose token is "good-token" and which expired at "expired-token".
class FakeCredentialStore : public CredentialStore {
 public:
  FakeCredentialStore() {
    auto root = std::make_shared<Credential>();
    root->secret_access_key = SecretBytes::FromString(kRootSecret);
    root->principal = std::make_shared<const Principal>(RootPrincipal("111122223333", kRootKey));
    root_ = root;
    auto session = std::make_shared<Credential>();
    session->secret_access_key = SecretBytes::FromString(kSessionSecret);
    Principal principal;
    principal.kind = PrincipalType::kAssumedRole;
    principal.type = "AssumedRole";
    principal.arn = "arn:aws:sts::111122223333:assumed-role/r/s";
    principal.access_key_id = kSessionKey;
    session->principal = std::make_shared<const Principal>(principal);
    session_ = session;
  }

  absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view access_key_id,
                                                         std::string_view session_token,
                                                         int64_t) const override {
    if (access_key_id == kRootKey && session_token.empty()) return root_;
    if (access_key_id == kSessionKey) {
      if (session_token == "good-token") return session_;
      if (session_token == "expired-token") {
        return Error(ErrorType::kExpiredToken, "The security token included in the request is expired");
      }
      return Error(ErrorType::kInvalidClientTokenId, "The security token included in the request is invalid.");
    }
    return Error(ErrorType::kUnrecognizedClient, "The security token included in the request is invalid.");
  }

 private:
  std::shared_ptr<const Credential> root_;
  std::shared_ptr<const Credential> session_;
};

// Stands in for the IAM codec: answers "served <operation> for <caller ARN>" and errors as
// "error <AWS name>", so tests see which codec answered and with what.
class FakeIamCodec : public api::ServiceCodec {
 public:
  std::string_view SigningName() const override { return "iam"; }
  std::string_view EventSource() const override { return "iam.amazonaws.com"; }
  std::string OperationName(const HttpRequest& http) const override {
    return http.body.starts_with("Action=") ? http.body.substr(7, http.body.find('&') - 7) : "";
  }
  bool MayBlock(std::string_view) const override { return false; }
  std::string AuditRequestParameters(const HttpRequest&) const override {
    return R"({"userName":"bob"})";
  }
  absl::StatusOr<api::ServedAnswer> Serve(const HttpRequest&, std::string_view operation,
                                          const CallContext& call) const override {
    // Short answers live inside their strings (SSO): the audit must still see them whole.
    if (operation == "Short") return api::ServedAnswer{"{}", R"({"a":1})"};
    return api::ServedAnswer{"served " + std::string(operation) + " for " + call.principal->arn,
                             R"({"user":{"userName":"bob"}})"};
  }
  HttpResponse Success(std::string body) const override {
    HttpResponse response;
    response.body = std::move(body);
    return response;
  }
  HttpResponse Failure(const absl::Status& status, const std::string&) const override {
    HttpResponse response;
    response.status = 403;
    response.body = "error " + std::string(AwsName(TypeOf(status)));
    return response;
  }
};

class Exchange : public HttpExchange {
 public:
  explicit Exchange(HttpRequest request) : request_(std::move(request)) {}
  const HttpRequest& Request() const override { return request_; }
  void Reply(HttpResponse response) override { response_ = std::move(response); }
  void Offload(std::function<void()> work) override { work(); }
  HttpResponse response_;

 private:
  HttpRequest request_;
};

struct Recorded {
  std::string operation;
  std::string event_source;
  std::string parameters;
  std::string response_elements;
  std::string principal_arn;
  std::string response_body;
};

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    ApiOptions options;
    options.credentials = &store_;
    options.other_services.push_back(std::make_shared<FakeIamCodec>());
    options.on_request = [this](const RequestOutcome& outcome,
                                std::function<void(absl::Status)> recorded) {
      recorded_ = {std::string(outcome.operation), std::string(outcome.event_source),
                   std::string(outcome.request_parameters_json),
                   std::string(outcome.response_elements_json),
                   outcome.principal ? outcome.principal->arn : "",
                   std::string(outcome.response_body)};
      recorded(absl::OkStatus());
    };
    // The KMS service is never reached: these requests are IAM's or fail authentication.
    handler_ = NewApiHandler(std::move(options), nullptr, &clock_);
  }

  HttpResponse Send(HttpRequest request) {
    auto exchange = std::make_shared<Exchange>(std::move(request));
    handler_(exchange);
    return exchange->response_;
  }

  static HttpRequest Signed(std::string_view service, std::string body, const char* key,
                            const char* secret, std::string token = "") {
    sigv4::SignableRequest signable{"POST", "/", {{"host", "127.0.0.1:7600"}}, std::move(body)};
    if (service == "kms") {
      signable.headers.emplace_back("x-amz-target", "TrentService.ListKeys");
      signable.headers.emplace_back("content-type", "application/x-amz-json-1.1");
    } else {
      signable.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    }
    sigv4::Sign(signable, {key, secret, token}, "us-east-1", service, kNow);
    HttpRequest request;
    request.method = signable.method;
    request.target = signable.target;
    request.headers = std::move(signable.headers);
    request.body = std::move(signable.body);
    request.request_id = "request-1";
    return request;
  }

  FixedClock clock_;
  FakeCredentialStore store_;
  Recorded recorded_;
  AsyncHttpHandler handler_;
};

TEST_F(RouterTest, ARequestSignedForIamReachesTheIamCodecAsItsCaller) {
  HttpResponse response =
      Send(Signed("iam", "Action=GetUser&Version=2010-05-08", kRootKey, kRootSecret));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "served GetUser for arn:aws:iam::111122223333:root");
}

TEST_F(RouterTest, TheAuditHearsTheCodecsEventSourceParametersAndResponseElements) {
  Send(Signed("iam", "Action=GetUser&Version=2010-05-08", kRootKey, kRootSecret));
  EXPECT_EQ(recorded_.operation, "GetUser");
  EXPECT_EQ(recorded_.event_source, "iam.amazonaws.com");
  EXPECT_EQ(recorded_.parameters, R"({"userName":"bob"})");
  EXPECT_EQ(recorded_.response_elements, R"({"user":{"userName":"bob"}})");
  EXPECT_EQ(recorded_.principal_arn, "arn:aws:iam::111122223333:root");
}

// A short answer ("{}") is kept inside its std::string; the outcome once viewed the string it
// had been moved out of, and the audit read "\0}" (found when EnableKey's record lost its keyId).
TEST_F(RouterTest, TheAuditSeesShortAnswersWhole) {
  HttpResponse response = Send(Signed("iam", "Action=Short&Version=2010-05-08", kRootKey, kRootSecret));
  EXPECT_EQ(response.body, "{}");
  EXPECT_EQ(recorded_.response_body, "{}");
  EXPECT_EQ(recorded_.response_elements, R"({"a":1})");
}

TEST_F(RouterTest, ASessionWithItsTokenIsTheAssumedRole) {
  HttpResponse response = Send(Signed("iam", "Action=GetUser&Version=2010-05-08", kSessionKey,
                                      kSessionSecret, "good-token"));
  EXPECT_EQ(response.body, "served GetUser for arn:aws:sts::111122223333:assumed-role/r/s");
}

TEST_F(RouterTest, AnExpiredSessionIsRefusedAsExpiredNotAsUnknown) {
  HttpResponse response = Send(Signed("iam", "Action=GetUser&Version=2010-05-08", kSessionKey,
                                      kSessionSecret, "expired-token"));
  EXPECT_EQ(response.body, "error ExpiredTokenException");
  EXPECT_EQ(recorded_.principal_arn, "");
}

TEST_F(RouterTest, AnAlteredSessionTokenIsRefusedInTheKmsShape) {
  HttpResponse response =
      Send(Signed("kms", "{}", kSessionKey, kSessionSecret, "altered-token"));
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find(R"("__type":"UnrecognizedClientException")"), std::string::npos)
      << response.body;
}

TEST_F(RouterTest, AWrongSecretIsAnInvalidSignatureInTheServicesShape) {
  HttpResponse response =
      Send(Signed("iam", "Action=GetUser&Version=2010-05-08", kRootKey, "not-the-secret"));
  EXPECT_EQ(response.body, "error InvalidSignatureException");
}

TEST_F(RouterTest, AnUnsignedQueryRequestIsRefusedByTheServiceItLooksLike) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = {{"content-type", "application/x-www-form-urlencoded"}};
  request.body = "Action=ListUsers&Version=2010-05-08";
  HttpResponse response = Send(std::move(request));
  EXPECT_EQ(response.body, "error MissingAuthenticationTokenException");
}

TEST_F(RouterTest, AnUnsignedJsonRequestIsRefusedByKms) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = {{"x-amz-target", "TrentService.ListKeys"}};
  request.body = "{}";
  HttpResponse response = Send(std::move(request));
  EXPECT_EQ(response.status, 403);
  EXPECT_NE(response.body.find("MissingAuthenticationTokenException"), std::string::npos);
}

TEST_F(RouterTest, AScopeForAServiceKmsdDoesNotServeIsRefusedByKms) {
  HttpResponse response = Send(Signed("s3", "{}", kRootKey, kRootSecret));
  EXPECT_NE(response.body.find(R"("__type":"InvalidSignatureException")"), std::string::npos)
      << response.body;
}

// --- Several regions (issue 13): the scope's region picks the region's service ---

class RouterRegionsTest : public testing::KeystoreFixture {
 protected:
  void SetUp() override {
    testing::KeystoreFixture::SetUp();
    if (HasFatalFailure()) return;
    auto list = ParseRegionList("us-east-1,eu-west-1");
    ASSERT_TRUE(list.ok());
    auto regions = NewKmsRegions(*list, {}, keystore_.get(), &clock_);
    ASSERT_TRUE(regions.ok()) << regions.status();
    regions_ = std::move(*regions);
    ApiOptions options;
    options.credentials = &store_;
    options.regions = regions_.get();
    options.on_request = [this](const RequestOutcome& outcome,
                                std::function<void(absl::Status)> recorded) {
      recorded_region_ = std::string(outcome.region);
      recorded(absl::OkStatus());
    };
    handler_ = NewApiHandler(std::move(options), regions_->Default(), &clock_);
  }

  HttpResponse Send(std::string_view region, std::string_view operation) {
    sigv4::SignableRequest signable{"POST", "/", {{"host", "127.0.0.1:7600"}}, "{}"};
    signable.headers.emplace_back("x-amz-target", StrCat("TrentService.", operation));
    signable.headers.emplace_back("content-type", "application/x-amz-json-1.1");
    sigv4::Sign(signable, {kRootKey, kRootSecret, ""}, region, "kms", kNow);
    HttpRequest request;
    request.method = signable.method;
    request.target = signable.target;
    request.headers = std::move(signable.headers);
    request.body = std::move(signable.body);
    request.request_id = "request-1";
    auto exchange = std::make_shared<Exchange>(std::move(request));
    handler_(exchange);
    return exchange->response_;
  }

  FixedClock clock_;
  FakeCredentialStore store_;
  std::unique_ptr<KmsRegions> regions_;
  AsyncHttpHandler handler_;
  std::string recorded_region_ = "unset";
};

TEST_F(RouterRegionsTest, TheScopesRegionServesTheRequestAndIsRecorded) {
  HttpResponse made = Send("eu-west-1", "CreateKey");
  EXPECT_EQ(made.status, 200) << made.body;
  EXPECT_NE(made.body.find("arn:aws:kms:eu-west-1:"), std::string::npos) << made.body;
  EXPECT_EQ(recorded_region_, "eu-west-1");
  HttpResponse east = Send("us-east-1", "ListKeys");
  EXPECT_EQ(east.status, 200);
  EXPECT_NE(east.body.find("\"Keys\":[]"), std::string::npos) << east.body;
  EXPECT_EQ(recorded_region_, "us-east-1");
}

TEST_F(RouterRegionsTest, ARegionNotServedIsRefusedNamingTheServedRegions) {
  HttpResponse refused = Send("sa-east-1", "ListKeys");
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("InvalidSignatureException"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("'us-east-1', 'eu-west-1', not 'sa-east-1'"), std::string::npos)
      << refused.body;
  EXPECT_EQ(recorded_region_, "");
}

}  // namespace
}  // namespace kmsd
