// The operational endpoints and the router's request metrics: /health, /ready and /metrics are
// answered without credentials and never reach the audit (on_request); /ready names the check
// that fails with a 503; every other request keeps its road, and is counted by service,
// operation and error type with only served operation names as labels.
#include <memory>
#include <string>

#include "api/codec.h"
#include "gtest/gtest.h"
#include "kmsd/api.h"
#include "kmsd/credentials.h"
#include "kmsd/errors.h"
#include "kmsd/metrics.h"
#include "kmsd/ops.h"

namespace kmsd {
namespace {

class FixedClock : public Clock {
 public:
  int64_t NowSeconds() const override { return 1'714'557'600; }
};

// Knows nobody: every signed or unsigned request fails authentication.
class NoCredentials : public CredentialStore {
 public:
  absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view, std::string_view,
                                                         int64_t) const override {
    return Error(ErrorType::kUnrecognizedClient, "unknown");
  }
};

class Exchange : public HttpExchange {
 public:
  explicit Exchange(HttpRequest request) : request_(std::move(request)) {}
  const HttpRequest& Request() const override { return request_; }
  void Reply(HttpResponse response) override {
    response_ = std::move(response);
    ++replies_;
  }
  void Offload(std::function<void()> work) override {
    ++offloaded_;
    work();
  }
  HttpResponse response_;
  int replies_ = 0;
  int offloaded_ = 0;

 private:
  HttpRequest request_;
};

HttpRequest Get(std::string target, std::string method = "GET") {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.request_id = "request-1";
  return request;
}

std::string Header(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

class OpsTest : public ::testing::Test {
 protected:
  OpsTest() {
    registry_.AddCounter("kmsd_test_total", "A test counter.").Get().Increment(7);
    ops_.metrics = &registry_;
    ops_.readiness_checks = {
        {"storage", [this] { return storage_; }},
        {"audit", [this] { return audit_; }},
    };
  }

  AsyncHttpHandler ApiHandler(bool with_ops) {
    ApiOptions options;
    options.credentials = &credentials_;
    if (with_ops) options.ops = ops_;
    options.metrics = &registry_;
    options.on_request = [this](const RequestOutcome& outcome,
                                std::function<void(absl::Status)> recorded) {
      audited_.push_back(std::string(outcome.operation));
      recorded(absl::OkStatus());
    };
    return NewApiHandler(std::move(options), nullptr, &clock_);
  }

  static std::shared_ptr<Exchange> Send(const AsyncHttpHandler& handler, HttpRequest request) {
    auto exchange = std::make_shared<Exchange>(std::move(request));
    handler(exchange);
    return exchange;
  }

  metrics::Registry registry_;
  OpsOptions ops_;
  absl::Status storage_;
  absl::Status audit_;
  FixedClock clock_;
  NoCredentials credentials_;
  std::vector<std::string> audited_;
};

TEST_F(OpsTest, HealthIsOkWithoutCredentials) {
  auto answer = ServeOps(ops_, Get("/health"));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "ok\n");
}

TEST_F(OpsTest, ReadyIsOkWhenEveryCheckPasses) {
  auto answer = ServeOps(ops_, Get("/ready"));
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "ready\n");
}

TEST_F(OpsTest, ReadyIs503NamingTheFailingCheckAndItsReason) {
  audit_ = absl::UnavailableError("audit trail not writable");
  auto answer = ServeOps(ops_, Get("/ready"));
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(answer->body, "not ready\naudit: audit trail not writable\n");
  EXPECT_EQ(Header(*answer, "Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(OpsTest, ReadyListsEveryFailingCheck) {
  storage_ = absl::UnavailableError("storage unreachable");
  audit_ = absl::UnavailableError("audit trail not writable");
  auto answer = ServeOps(ops_, Get("/ready"));
  EXPECT_EQ(answer->body,
            "not ready\nstorage: storage unreachable\naudit: audit trail not writable\n");
}

TEST_F(OpsTest, MetricsIsTheRegistryInTheTextFormat) {
  auto answer = ServeOps(ops_, Get("/metrics"));
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(Header(*answer, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(answer->body.find("kmsd_test_total 7\n"), std::string::npos) << answer->body;
}

TEST_F(OpsTest, MetricsIs404WhereNoRegistryIsServed) {
  ops_.metrics = nullptr;
  EXPECT_EQ(ServeOps(ops_, Get("/metrics"))->status, 404);
}

TEST_F(OpsTest, HeadAnswersTheStatusWithoutABody) {
  audit_ = absl::UnavailableError("audit trail not writable");
  auto answer = ServeOps(ops_, Get("/ready", "HEAD"));
  EXPECT_EQ(answer->status, 503);
  EXPECT_EQ(answer->body, "");
}

TEST_F(OpsTest, OnlyTheExactPathsWithGetOrHeadAreOps) {
  EXPECT_FALSE(ServeOps(ops_, Get("/health", "POST")).has_value());
  EXPECT_FALSE(ServeOps(ops_, Get("/health/")).has_value());
  EXPECT_FALSE(ServeOps(ops_, Get("/ready?x=1")).has_value());
  EXPECT_FALSE(ServeOps(ops_, Get("/")).has_value());
}

TEST_F(OpsTest, TheApiHandlerAnswersProbesUnauditedAndUncounted) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/true);
  EXPECT_EQ(Send(handler, Get("/health"))->response_.status, 200);
  auto ready = Send(handler, Get("/ready"));
  EXPECT_EQ(ready->response_.status, 200);
  EXPECT_EQ(ready->offloaded_, 1);  // checks may read storage: not on the I/O thread
  EXPECT_EQ(Send(handler, Get("/metrics"))->response_.status, 200);
  EXPECT_TRUE(audited_.empty());
  EXPECT_EQ(registry_.Render().find("kmsd_requests_total{"), std::string::npos);
}

TEST_F(OpsTest, TheApiHandlerFailsReadinessThroughAFailingCheck) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/true);
  storage_ = absl::UnavailableError("storage unreachable");
  auto ready = Send(handler, Get("/ready"));
  EXPECT_EQ(ready->response_.status, 503);
  EXPECT_EQ(ready->response_.body, "not ready\nstorage: storage unreachable\n");
}

TEST_F(OpsTest, OtherPathsKeepTheirRoadAuditedAndRefused) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/true);
  auto other = Send(handler, Get("/other"));
  EXPECT_NE(other->response_.status, 200);
  ASSERT_EQ(audited_.size(), 1u);
}

TEST_F(OpsTest, WithoutOpsOptionsTheProbesAreAuditedAsBefore) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/false);
  EXPECT_NE(Send(handler, Get("/health"))->response_.status, 200);
  EXPECT_EQ(audited_.size(), 1u);
}

TEST_F(OpsTest, RequestsAreCountedByServiceOperationAndErrorType) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/true);
  HttpRequest encrypt = Get("/", "POST");
  encrypt.headers = {{"x-amz-target", "TrentService.Encrypt"},
                     {"authorization",
                      "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN/20240501/us-east-1/kms/aws4_request, "
                      "SignedHeaders=host, Signature=00"}};
  Send(handler, encrypt);
  Send(handler, encrypt);
  std::string text = registry_.Render();
  EXPECT_NE(text.find("kmsd_requests_total{service=\"kms\",operation=\"Encrypt\",error="
                      "\"IncompleteSignatureException\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kmsd_request_duration_seconds_count{service=\"kms\",operation="
                      "\"Encrypt\"} 2\n"),
            std::string::npos)
      << text;
}

TEST_F(OpsTest, AnOperationKmsdDoesNotServeIsCountedAsUnknown) {
  AsyncHttpHandler handler = ApiHandler(/*with_ops=*/true);
  HttpRequest hostile = Get("/", "POST");
  hostile.headers = {{"x-amz-target", "TrentService.MadeUpName1234"}};
  Send(handler, hostile);
  std::string text = registry_.Render();
  EXPECT_EQ(text.find("MadeUpName1234"), std::string::npos) << text;
  EXPECT_NE(text.find("operation=\"Unknown\""), std::string::npos) << text;
}

TEST_F(OpsTest, TheOpsListenerServesOnlyTheEndpoints) {
  AsyncHttpHandler handler = NewOpsHandler(ops_);
  EXPECT_EQ(Send(handler, Get("/metrics"))->response_.status, 200);
  EXPECT_EQ(Send(handler, Get("/health"))->response_.status, 200);
  EXPECT_EQ(Send(handler, Get("/"))->response_.status, 404);
  auto post = Send(handler, Get("/ready", "POST"));
  EXPECT_EQ(post->response_.status, 405);
  EXPECT_EQ(Header(post->response_, "Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace kmsd
