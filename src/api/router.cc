// The request road: HTTP request -> the service its SigV4 scope names -> authenticate (SigV4 and,
// for temporary credentials, the session token) -> that service's codec -> answer, recorded
// before it is sent.
#include <openssl/crypto.h>

#include <chrono>
#include <memory>
#include <optional>

#include "api/codec.h"
#include "api/kms/codec.h"
#include "api/request_metrics.h"
#include "kmsd/api.h"
#include "kmsd/errors.h"
#include "kmsd/sigv4.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd {
namespace {

constexpr std::string_view kSecurityTokenHeader = "x-amz-security-token";

// What the Authorization header claims, read without trusting it: "AWS4-HMAC-SHA256
// Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...".
struct ClaimedScope {
  std::string_view access_key_id;
  std::string_view region;
  std::string_view service;
};

ClaimedScope ReadClaimedScope(const HttpRequest& http) {
  const std::string* authorization = http.Header("authorization");
  if (!authorization) return {};
  std::string_view text = *authorization;
  size_t start = text.find("Credential=");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start + 11);
  text = text.substr(0, std::min(text.find_first_of(", "), text.size()));
  ClaimedScope claimed;
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash > 128) return {};
  claimed.access_key_id = text.substr(0, slash);
  // DATE/REGION/SERVICE/aws4_request: the service is the third part after the key id.
  std::string_view rest = text.substr(slash + 1);
  for (int part = 0; part < 2; ++part) {
    size_t next = rest.find('/');
    if (next == std::string_view::npos) return claimed;
    rest.remove_prefix(next + 1);
    if (part == 0) claimed.region = rest.substr(0, rest.find('/'));
  }
  claimed.service = rest.substr(0, rest.find('/'));
  return claimed;
}

// Query-protocol requests name their API version in the form body; with no signature to tell
// the service, it tells which shape an error should take.
bool BodyHasVersion(const HttpRequest& http, std::string_view version) {
  std::string_view body = http.body;
  size_t at = body.find(StrCat("Version=", version));
  return at != std::string_view::npos && (at == 0 || body[at - 1] == '&');
}

class Router : public std::enable_shared_from_this<Router> {
  using SteadyClock = std::chrono::steady_clock;

 public:
  Router(ApiOptions options, KmsService* service, const Clock* clock)
      : options_(std::move(options)), clock_(clock) {
    api::KmsTestHooks hooks{options_.test_clock, options_.after_clock_advance};
    kms_ = options_.regions ? api::NewKmsCodec(options_.regions, std::move(hooks))
                            : api::NewKmsCodec(service, std::move(hooks));
    if (options_.metrics) {
      request_metrics_ = std::make_unique<api::RequestMetrics>(*options_.metrics);
    }
  }

  void Handle(std::shared_ptr<HttpExchange> exchange) const {
    const HttpRequest& http = exchange->Request();
    // Probes and scrapes: no SigV4, no audit, no request metrics (include/kmsd/ops.h).
    if (options_.ops && IsOpsRequest(http)) {
      ServeOpsRequest(std::move(exchange));
      return;
    }
    SteadyClock::time_point started = SteadyClock::now();
    ClaimedScope claimed = ReadClaimedScope(http);
    const api::ServiceCodec* codec = CodecFor(http, claimed);
    std::string operation = codec->OperationName(http);
    if (codec->MayBlockRequest(operation, http)) {
      auto answer = [self = shared_from_this(), exchange, codec, operation, claimed, started] {
        self->Answer(exchange, *codec, operation, claimed, started);
      };
      if (codec->ComputeBoundRequest(operation, http)) {
        exchange->OffloadCompute(std::move(answer));
      } else {
        exchange->Offload(std::move(answer));
      }
      return;
    }
    Answer(std::move(exchange), *codec, operation, claimed, started);
  }

 private:
  // The codec of the service the signature's scope names. Unsigned requests, and scopes naming
  // a service kmsd does not serve, are answered by the service the request looks like (KMS
  // unless it is a Query request for IAM or STS); authentication then refuses them in its shape.
  const api::ServiceCodec* CodecFor(const HttpRequest& http, const ClaimedScope& claimed) const {
    if (!claimed.service.empty()) {
      if (claimed.service == kms_->SigningName()) return kms_.get();
      for (const auto& other : options_.other_services) {
        if (claimed.service == other->SigningName()) return other.get();
      }
    }
    // ---- CloudTrail (issue 15): its JSON requests name their service in X-Amz-Target
    if (const std::string* target = http.Header("x-amz-target");
        target && target->starts_with("com.amazonaws.cloudtrail.")) {
      for (const auto& other : options_.other_services) {
        if (other->SigningName() == "cloudtrail") return other.get();
      }
    }
    // ---- end CloudTrail
    if (http.Header("x-amz-target")) return kms_.get();
    for (const auto& other : options_.other_services) {
      if ((other->SigningName() == "sts" && BodyHasVersion(http, "2011-06-15")) ||
          (other->SigningName() == "iam" && BodyHasVersion(http, "2010-05-08"))) {
        return other.get();
      }
    }
    return kms_.get();
  }

  // /health at once; /ready and /metrics run checks and collectors that may read storage.
  void ServeOpsRequest(std::shared_ptr<HttpExchange> exchange) const {
    if (exchange->Request().target == "/health") {
      exchange->Reply(*ServeOps(*options_.ops, exchange->Request()));
      return;
    }
    exchange->Offload([self = shared_from_this(), exchange] {
      exchange->Reply(*ServeOps(*self->options_.ops, exchange->Request()));
    });
  }

  void Count(const api::ServiceCodec& codec, std::string_view operation,
             const absl::Status& status, SteadyClock::time_point started) const {
    if (!request_metrics_) return;
    std::chrono::duration<double> elapsed = SteadyClock::now() - started;
    request_metrics_->Record(codec, operation, status, elapsed.count());
  }

  // `claimed` views the request's Authorization header, which lives as long as the exchange.
  void Answer(std::shared_ptr<HttpExchange> exchange, const api::ServiceCodec& codec,
              const std::string& operation, ClaimedScope claimed,
              SteadyClock::time_point started) const {
    const HttpRequest& http = exchange->Request();
    std::shared_ptr<const Credential> credential;
    // The audit record's eventID, known to the service too (GetKeyLastUsage names it).
    std::string event_id = options_.on_request ? NewUuid() : std::string();
    std::string_view region = ServedRegion(claimed);
    absl::StatusOr<api::ServedAnswer> served =
        Serve(http, codec, operation, event_id, claimed, credential);
    if (!options_.on_request) {
      Count(codec, operation, served.status(), started);
      exchange->Reply(MakeAnswer(codec, std::move(served), http.request_id));
      return;
    }
    absl::Status status = served.ok() ? absl::OkStatus() : served.status();
    // The answer waits until the outcome is recorded; a failure to record replaces it. Moved
    // before the outcome views its body: a short body (an SSO string such as "{}") does not
    // move along with its string.
    auto answer = std::make_shared<absl::StatusOr<api::ServedAnswer>>(std::move(served));
    std::string_view body = answer->ok() ? std::string_view((*answer)->body) : std::string_view();
    std::string parameters = codec.AuditRequestParameters(http);
    RequestOutcome outcome{
        operation,
        http,
        credential ? credential->principal.get() : nullptr,
        status,
        body,
        claimed.access_key_id,
        codec.EventSource(),
        parameters,
        answer->ok() ? std::string_view((*answer)->audit_response_elements) : std::string_view(),
        event_id,
        region};
    options_.on_request(outcome, [self = shared_from_this(), exchange, answer, &codec, operation,
                                  started](absl::Status recorded) {
      if (!recorded.ok()) {
        if (answer->ok()) OPENSSL_cleanse((*answer)->body.data(), (*answer)->body.size());
        self->Count(codec, operation, recorded, started);
        exchange->Reply(codec.Failure(recorded, exchange->Request().request_id));
        return;
      }
      self->Count(codec, operation, answer->status(), started);
      exchange->Reply(MakeAnswer(codec, std::move(*answer), exchange->Request().request_id));
    });
  }

  static HttpResponse MakeAnswer(const api::ServiceCodec& codec,
                                 absl::StatusOr<api::ServedAnswer> served,
                                 const std::string& request_id) {
    if (!served.ok()) return codec.Failure(served.status(), request_id);
    return codec.Success(std::move(served->body));
  }

  // Several regions (issue 13): the region a request is served in, its scope's when served;
  // empty otherwise (one region, or a scope naming none kmsd serves).
  std::string_view ServedRegion(const ClaimedScope& claimed) const {
    if (!options_.regions || !options_.regions->Serves(claimed.region)) return {};
    return claimed.region;
  }

  absl::StatusOr<api::ServedAnswer> Serve(const HttpRequest& http, const api::ServiceCodec& codec,
                                          const std::string& operation, const std::string& event_id,
                                          const ClaimedScope& claimed,
                                          std::shared_ptr<const Credential>& credential) const {
    std::string_view region = ServedRegion(claimed);
    if (options_.regions && region.empty() && !claimed.region.empty()) {
      // Signed for a region not served: refused as AWS refuses a scope for another endpoint.
      return options_.regions->ForRegion(claimed.region).status();
    }
    auto authenticated = Authenticate(http, codec.SigningName(), region);
    if (!authenticated.ok()) return authenticated.status();
    credential = std::move(*authenticated);
    CallContext call{credential->principal, http.request_id, http.remote_address, UserAgent(http),
                     http.secure, event_id};
    call.region = std::string(region);
    return codec.Serve(http, operation, call);
  }

  // region: the scope's region when served (several regions), else empty: the one configured.
  absl::StatusOr<std::shared_ptr<const Credential>> Authenticate(const HttpRequest& http,
                                                                 std::string_view service,
                                                                 std::string_view region) const {
    if (!options_.credentials) return Internal("kmsd has no credential store");
    const std::string* token = http.Header(kSecurityTokenHeader);
    std::string_view session_token = token ? std::string_view(*token) : std::string_view();
    // The store's own refusal (an expired or altered session token) is the answer, not the
    // generic "unrecognized client" sigv4::Verify gives for a key it cannot look up.
    absl::Status refused;
    std::shared_ptr<const Credential> found;
    int64_t now = clock_->NowSeconds();
    auto lookup = [&](std::string_view access_key_id) -> std::optional<std::string> {
      auto credential = options_.credentials->Find(access_key_id, session_token, now);
      if (!credential.ok()) {
        refused = credential.status();
        return std::nullopt;
      }
      found = std::move(*credential);
      return std::string(found->secret_access_key.view());
    };
    // Verified where it lies: a copy of the body would be one more copy of plaintext to wipe.
    sigv4::SignableRequestView signable{http.method, http.target, http.headers, http.body};
    std::string signed_region = region.empty() ? DefaultRegion() : std::string(region);
    auto verified =
        sigv4::Verify(signable, lookup, {signed_region, std::string(service), now, 300});
    if (!verified.ok()) return refused.ok() ? verified.status() : refused;
    return found;
  }

  std::string DefaultRegion() const {
    return options_.regions ? options_.regions->Served().Default() : options_.region;
  }

  static std::string UserAgent(const HttpRequest& http) {
    const std::string* agent = http.Header("user-agent");
    return agent ? *agent : "";
  }

  const ApiOptions options_;
  const Clock* const clock_;
  std::unique_ptr<api::ServiceCodec> kms_;
  std::unique_ptr<api::RequestMetrics> request_metrics_;  // when options_.metrics
};

}  // namespace

AsyncHttpHandler NewApiHandler(ApiOptions options, KmsService* service, const Clock* clock) {
  auto router = std::make_shared<const Router>(std::move(options), service, clock);
  return [router](std::shared_ptr<HttpExchange> exchange) { router->Handle(std::move(exchange)); };
}

}  // namespace kmsd
