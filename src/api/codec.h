// One wire protocol of one AWS service at kmsd's endpoint: KMS (JSON 1.1), IAM and STS (Query
// protocol, XML answers), later CloudTrail (JSON 1.1). The router (router.cc) picks a codec by
// the service named in the request's SigV4 credential scope, authenticates the caller once for
// all of them, and hands the request over; the codec reads the operation's members, calls its
// service, and writes the answer and the errors in its service's exact shapes. Implementations
// are immutable after construction and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/http.h"
#include "kmsd/principal.h"

namespace kmsd::api {

// A successful answer: the body, and what the audit trail may record of it.
struct ServedAnswer {
  std::string body;
  // For codecs whose answers are not JSON: the answer's elements worth recording, as a JSON
  // object with no secret in it (RequestOutcome::response_elements_json). Empty = none / the
  // body itself is the JSON the audit reads (KMS).
  std::string audit_response_elements;
};

class ServiceCodec {
 public:
  virtual ~ServiceCodec() = default;

  // The service name in SigV4 credential scopes ("kms", "iam", "sts").
  virtual std::string_view SigningName() const = 0;
  // CloudTrail's eventSource for this service ("kms.amazonaws.com").
  virtual std::string_view EventSource() const = 0;

  // The operation the request names (X-Amz-Target for JSON, Action for Query), or empty when it
  // names none. Cheap, and safe on hostile input: it is called before authentication.
  virtual std::string OperationName(const HttpRequest& http) const = 0;
  // True when the operation may block (it writes storage): the router then runs it on the
  // server's pool for blocking work, not on an I/O thread. True for unknown names.
  virtual bool MayBlock(std::string_view operation) const = 0;
  // The same for one request, whose body a codec may look at too (KMS: an RSA decryption takes
  // milliseconds of CPU, so a Decrypt or ReEncrypt naming an RSAES algorithm is offloaded). Cheap;
  // called before authentication.
  virtual bool MayBlockRequest(std::string_view operation, const HttpRequest& http) const {
    (void)http;
    return MayBlock(operation);
  }
  // True when a request the router offloads (MayBlockRequest) only computes: it writes nothing and
  // its time goes to a private-key operation (KMS: Sign, Verify, DeriveSharedSecret, RSAES). The
  // router then runs it on the compute pool (HttpExchange::OffloadCompute) instead of the
  // blocking pool. Cheap; called before authentication.
  virtual bool ComputeBoundRequest(std::string_view operation, const HttpRequest& http) const {
    (void)operation;
    (void)http;
    return false;
  }
  // True when the codec serves an operation of that name. Metrics label requests by operation
  // only for these (a bounded set); every other name counts as "Unknown".
  virtual bool Serves(std::string_view operation) const {
    (void)operation;
    return false;
  }

  // For codecs whose bodies are not JSON: the request's parameters as a JSON object for the
  // audit trail, secrets left out (RequestOutcome::request_parameters_json). Empty = the audit
  // reads the JSON body itself. Called for every request, authenticated or not.
  virtual std::string AuditRequestParameters(const HttpRequest& http) const {
    (void)http;
    return {};
  }

  // Serves an authenticated request for `operation` (as OperationName returned it; may be empty
  // or unknown: answer the protocol's error for that).
  virtual absl::StatusOr<ServedAnswer> Serve(const HttpRequest& http, std::string_view operation,
                                             const CallContext& call) const = 0;

  // The HTTP answer for a success body, in the protocol's content type.
  virtual HttpResponse Success(std::string body) const = 0;
  // The HTTP answer for an error (from Serve, or from authentication in the router) in the
  // protocol's shape, with the service's name for the error type and its HTTP status. Internal
  // errors get a generic message.
  virtual HttpResponse Failure(const absl::Status& status, const std::string& request_id) const = 0;
};

}  // namespace kmsd::api
