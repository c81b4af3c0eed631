// kmsd's API endpoint: routes each request to the service its SigV4 credential scope names (KMS
// over AWS JSON 1.1; IAM and STS over the Query protocol when configured), authenticates the
// caller once for all of them through the credential store, and answers in that service's
// shapes, errors included. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "kmsd/clock.h"
#include "kmsd/credentials.h"
#include "kmsd/http.h"
#include "kmsd/metrics.h"
#include "kmsd/ops.h"
#include "kmsd/principal.h"
#include "kmsd/regions.h"
#include "kmsd/service.h"

namespace kmsd {

namespace api {
class ServiceCodec;  // src/api/codec.h
}

// What one request was and how it ended, for logs (and the audit trail).
struct RequestOutcome {
  std::string_view operation;     // e.g. "Encrypt"; empty when it could not be told
  const HttpRequest& http;
  const Principal* principal;     // nullptr when authentication failed
  const absl::Status& status;
  // The answer's JSON body on success (it may hold Plaintext: read only what is safe), else empty.
  std::string_view response_body;
  // The access key id the request claimed, when its Authorization header could be parsed.
  std::string_view claimed_access_key_id;
  // The service the request was for, as CloudTrail's eventSource.
  std::string_view event_source = "kms.amazonaws.com";
  // For protocols whose bodies are not JSON (IAM and STS speak the Query protocol): the request's
  // parameters as a JSON object, made by the codec with every secret left out. Empty: the audit
  // reads the JSON body itself (KMS).
  std::string_view request_parameters_json;
  // Likewise the answer's elements worth recording, as a JSON object, never a secret (no secret
  // access key, no session token). Empty: KMS answers are read from response_body; others record
  // null.
  std::string_view response_elements_json;
  // The record's eventID, the one the service was given (CallContext::event_id). Empty: the
  // audit makes one.
  std::string_view event_id;
  // The region the request was served in (its SigV4 scope's), CloudTrail's awsRegion. Empty:
  // the audit's configured region.
  std::string_view region;
  // Issue 12: not a request but an action the service took by itself (a key deleted when its
  // waiting period ended, an automatic rotation): recorded as CloudTrail records AWS's service
  // events (eventType AwsServiceEvent, invokedBy kms.amazonaws.com, no request parameters), about
  // the key service_event_key_arn. http supplies nothing but is required.
  bool service_event = false;
  std::string_view service_event_key_arn;
};

struct ApiOptions {
  std::string region = "us-east-1";
  // Who may call (not owned; must outlive the handler). Required.
  const CredentialStore* credentials = nullptr;
  // Services served beside KMS at the same endpoint (IAM, STS), each picked by its SigV4 signing
  // name.
  std::vector<std::shared_ptr<const api::ServiceCodec>> other_services;
  // Called once per request, after the operation and before the answer is sent; must be
  // thread-safe and must not block. It calls `recorded` exactly once, from any thread, when the
  // outcome is recorded (kmsd: durable in the audit trail); the answer waits for it, and a non-OK
  // status replaces the answer with that error (fail closed). The outcome is valid only during
  // the call.
  std::function<void(const RequestOutcome&, std::function<void(absl::Status)> recorded)>
      on_request;

  // GET/HEAD /health, /ready and /metrics, answered before authentication and never passed to
  // on_request (include/kmsd/ops.h). Unset: those paths take the road of every request.
  std::optional<OpsOptions> ops;
  // Where the router counts requests by service, operation and error type, and their latency
  // (docs/METRICS.md). Not owned; must outlive the handler. nullptr: not counted.
  metrics::Registry* metrics = nullptr;

  // Test mode only (kmsd serve --enable-test-clock, refused in any normal start): a request by
  // the root with X-Amz-Target "KmsdTest.AdvanceClock" and body {"Seconds": N} moves this clock
  // forward, then runs after_clock_advance (the scheduler) before answering.
  AdvancingClock* test_clock = nullptr;
  std::function<absl::Status()> after_clock_advance;

  // Several regions (issue 13, include/kmsd/regions.h; not owned). When set, a KMS request is
  // served by the service of the region its SigV4 scope names, a region not served is refused,
  // and `region` above is unused; the service given to NewApiHandler is ignored.
  KmsRegions* regions = nullptr;
};

// Operations that only read keys (Encrypt, Decrypt, GenerateDataKey, DescribeKey, ...) run on the
// I/O thread that read the request; those that write storage, and the test clock, are offloaded.
AsyncHttpHandler NewApiHandler(ApiOptions options, KmsService* service, const Clock* clock);

// AWS's error answer: {"__type": ..., "message": ...} with the type's HTTP status. Internal errors
// get a generic message; their detail belongs in the server log, not in the answer.
HttpResponse ErrorResponse(const absl::Status& status, const std::string& request_id);

}  // namespace kmsd
