// The request road: HTTP request -> SigV4 -> X-Amz-Target -> operation -> JSON answer.
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <unordered_map>

#include "kmsd/strings.h"
#include "api/json_writer.h"
#include "api/kms/operations.h"
#include "kmsd/api.h"
#include "kmsd/errors.h"
#include "kmsd/sigv4.h"

namespace kmsd {
namespace {

constexpr std::string_view kTargetPrefix = "TrentService.";
constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
constexpr std::string_view kAdvanceClockTarget = "KmsdTest.AdvanceClock";
constexpr int64_t kMaxClockAdvanceSeconds = 20LL * 365 * 86400;

class ApiHandler : public std::enable_shared_from_this<ApiHandler> {
 public:
  ApiHandler(ApiOptions options, KmsService* service, const Clock* clock)
      : options_(std::move(options)), service_(service), clock_(clock) {
    for (const ApiCredential& credential : options_.credentials) {
      credentials_.emplace(credential.access_key_id, &credential);
    }
  }

  void Handle(std::shared_ptr<HttpExchange> exchange) const {
    const HttpRequest& http = exchange->Request();
    if (api::MayBlock(OperationName(http))) {
      exchange->Offload([self = shared_from_this(), exchange] { self->Answer(exchange); });
      return;
    }
    Answer(std::move(exchange));
  }

 private:
  void Answer(std::shared_ptr<HttpExchange> exchange) const {
    const HttpRequest& http = exchange->Request();
    std::string_view operation_name = OperationName(http);
    const Principal* principal = nullptr;
    absl::StatusOr<std::string> response = Serve(http, operation_name, principal);
    if (!options_.on_request) {
      exchange->Reply(MakeAnswer(std::move(response), http.request_id));
      return;
    }
    absl::Status status = response.ok() ? absl::OkStatus() : response.status();
    std::string_view body = response.ok() ? std::string_view(*response) : std::string_view();
    RequestOutcome outcome{operation_name, http, principal, status, body,
                           ClaimedAccessKeyId(http)};
    // The answer waits until the outcome is recorded; a failure to record replaces it.
    auto answer = std::make_shared<absl::StatusOr<std::string>>(std::move(response));
    options_.on_request(outcome, [exchange, answer](absl::Status recorded) {
      if (!recorded.ok()) {
        if (answer->ok()) OPENSSL_cleanse((*answer)->data(), (*answer)->size());
        exchange->Reply(ErrorResponse(recorded, exchange->Request().request_id));
        return;
      }
      exchange->Reply(MakeAnswer(std::move(*answer), exchange->Request().request_id));
    });
  }

  static HttpResponse MakeAnswer(absl::StatusOr<std::string> response,
                                 const std::string& request_id) {
    if (!response.ok()) return ErrorResponse(response.status(), request_id);
    HttpResponse answer;
    answer.headers.emplace_back("Content-Type", kJsonContentType);
    answer.body = std::move(*response);
    return answer;
  }

  static std::string_view OperationName(const HttpRequest& http) {
    const std::string* target = http.Header("x-amz-target");
    if (!target || !std::string_view(*target).starts_with(kTargetPrefix)) return {};
    return std::string_view(*target).substr(kTargetPrefix.size());
  }

  absl::StatusOr<std::string> Serve(const HttpRequest& http, std::string_view operation_name,
                                    const Principal*& principal) const {
    auto authenticated = Authenticate(http);
    if (!authenticated.ok()) return authenticated.status();
    principal = (*authenticated)->principal.get();
    if (http.method != "POST") {
      return Error(ErrorType::kUnknownOperation, "KMS requests must use POST");
    }
    if (options_.test_clock) {
      const std::string* target = http.Header("x-amz-target");
      if (target && *target == kAdvanceClockTarget) return AdvanceClock(http);
    }
    if (operation_name.empty()) {
      return Error(ErrorType::kUnknownOperation,
                   "The X-Amz-Target header must name a KMS operation: TrentService.<Operation>");
    }
    api::Operation operation = api::FindOperation(operation_name);
    if (!operation) {
      // Echo the name only when it is plainly a name: the header is hostile input.
      bool printable = operation_name.size() <= 64 &&
                       std::all_of(operation_name.begin(), operation_name.end(),
                                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
      return Error(ErrorType::kUnknownOperation,
                   StrCat("Operation ", printable ? operation_name : "(unprintable)",
                                " is not supported by kmsd"));
    }
    auto request = api::RequestReader::Parse(http.body);
    if (!request.ok()) return request.status();
    CallContext call{(*authenticated)->principal, http.request_id, http.remote_address, UserAgent(http)};
    api::OperationContext context{*service_, call};
    return operation(context, *request);
  }

  absl::StatusOr<std::string> AdvanceClock(const HttpRequest& http) const {
    auto request = api::RequestReader::Parse(http.body);
    if (!request.ok()) return request.status();
    auto seconds = request->Integer("Seconds", 1, kMaxClockAdvanceSeconds, /*required=*/true);
    if (auto status = request->Finish(); !status.ok()) return status;
    options_.test_clock->Advance(*seconds);
    if (options_.after_clock_advance) {
      if (auto status = options_.after_clock_advance(); !status.ok()) return status;
    }
    return api::JsonWriter()
        .BeginObject()
        .Integer("Now", options_.test_clock->NowSeconds())
        .EndObject()
        .Take();
  }

  absl::StatusOr<const ApiCredential*> Authenticate(const HttpRequest& http) const {
    // Verified where it lies: a copy of the body would be one more copy of plaintext to wipe.
    sigv4::SignableRequestView signable{http.method, http.target, http.headers, http.body};
    const ApiCredential* matched = nullptr;
    auto lookup = [&](std::string_view access_key_id) -> std::optional<std::string> {
      auto it = credentials_.find(access_key_id);
      if (it == credentials_.end()) return std::nullopt;
      matched = it->second;
      return it->second->secret_access_key;
    };
    auto verified = sigv4::Verify(
        signable, lookup, {options_.region, "kms", clock_->NowSeconds(), 300});
    if (!verified.ok()) return verified.status();
    return matched;
  }

  // "AWS4-HMAC-SHA256 Credential=AKID/..." -> AKID, for the audit of failed authentications.
  static std::string_view ClaimedAccessKeyId(const HttpRequest& http) {
    const std::string* authorization = http.Header("authorization");
    if (!authorization) return {};
    std::string_view text = *authorization;
    size_t start = text.find("Credential=");
    if (start == std::string_view::npos) return {};
    text.remove_prefix(start + 11);
    size_t end = text.find('/');
    if (end == std::string_view::npos || end > 128) return {};
    return text.substr(0, end);
  }

  static std::string UserAgent(const HttpRequest& http) {
    const std::string* agent = http.Header("user-agent");
    return agent ? *agent : "";
  }

  const ApiOptions options_;
  KmsService* const service_;
  const Clock* const clock_;
  std::unordered_map<std::string_view, const ApiCredential*> credentials_;
};

}  // namespace

AsyncHttpHandler NewApiHandler(ApiOptions options, KmsService* service, const Clock* clock) {
  auto handler = std::make_shared<const ApiHandler>(std::move(options), service, clock);
  return [handler](std::shared_ptr<HttpExchange> exchange) {
    handler->Handle(std::move(exchange));
  };
}

HttpResponse ErrorResponse(const absl::Status& status, const std::string& request_id) {
  ErrorType type = TypeOf(status);
  std::string_view message = ToStd(status.message());
  if (type == ErrorType::kKmsInternal) {
    message = "kmsd could not complete the request because of an internal error";
  }
  HttpResponse response;
  response.status = HttpStatus(type);
  response.headers.emplace_back("Content-Type", kJsonContentType);
  response.headers.emplace_back("x-amzn-ErrorType", std::string(AwsName(type)));
  response.body = api::JsonWriter()
                      .BeginObject()
                      .String("__type", AwsName(type))
                      .String("message", message)
                      .EndObject()
                      .Take();
  (void)request_id;  // the net layer sends it as x-amzn-RequestId
  return response;
}

}  // namespace kmsd
