// The AWS Query protocol as one ServiceCodec, for the services that speak it at kmsd's endpoint
// (IAM and STS, both over the identity service): form-encoded requests with Action and Version,
// answers <ActionResponse xmlns=...><ActionResult>...</ActionResult><ResponseMetadata>, and errors
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse> with the
// service's codes and HTTP statuses. A service is a description and a table of operations
// (api/iam/dispatch.cc, api/sts/dispatch.cc); each operation reads like api/kms/encrypt.cc.
// Immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "api/codec.h"
#include "api/query/node.h"
#include "api/query/query_reader.h"
#include "kmsd/errors.h"
#include "kmsd/iam.h"

namespace kmsd::api::query {

struct OperationContext {
  IamService& service;
  const CallContext& call;
};

// Reads the request's members, calls the service, and adds the answer's members to `result`
// (the <ActionResult> element; left empty by operations that answer nothing).
using Operation = absl::Status (*)(OperationContext& context, QueryReader& request, Node& result);

struct OperationEntry {
  Operation run = nullptr;
  // The operation's input members (top-level names, as the model spells them): what the audit
  // records of a request, nothing else.
  std::vector<std::string_view> members;
  bool writes = false;         // it commits to storage: MayBlock
  bool has_result = true;      // false: the answer holds only ResponseMetadata
  bool audits_answer = false;  // CloudTrail records its answer (creations): responseElements
};

struct QueryService {
  std::string_view signing_name;         // "iam"
  std::string_view event_source;         // "iam.amazonaws.com"
  std::string_view version;              // "2010-05-08"
  std::string_view xml_namespace;        // "https://iam.amazonaws.com/doc/2010-05-08/"
  std::string_view internal_error_code;  // IAM: "ServiceFailure"; STS: "InternalFailure"
  // The operation named, or nullptr when kmsd does not serve it.
  const OperationEntry* (*find)(std::string_view action);
};

std::unique_ptr<ServiceCodec> NewQueryCodec(QueryService service, IamService* iam);

// The Query error code and HTTP status for a kmsd error type (IAM's and STS's, which agree on
// every type kmsd produces except internal failures).
struct QueryError {
  std::string_view code;
  int http_status;
};
QueryError QueryErrorFor(ErrorType type, std::string_view internal_error_code);

// The request's parameters as the audit records them: the named members only, lower camel case,
// lists as arrays ("Tags.member.1.Key" -> {"tags":[{"key":...}]}), integers for the integer
// members; "null" when there is nothing to record.
std::string AuditParameters(const FormParameters& parameters,
                            const std::vector<std::string_view>& members);

}  // namespace kmsd::api::query
