// The Query protocol codec. See query_codec.h.
#include "api/query/query_codec.h"

#include <algorithm>

#include "api/query/xml_writer.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::query {
namespace {

using nlohmann::json;

constexpr std::string_view kXmlContentType = "text/xml";
constexpr size_t kMaxActionLength = 64;
// Members the model types as integers: the audit records them as numbers.
constexpr std::string_view kIntegerMembers[] = {"MaxItems", "DurationSeconds",
                                                "MaxSessionDuration"};
// Lists are built keyed by this and the zero-padded index, then turned into arrays.
constexpr char kIndexMark = '\x01';

bool IsActionName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxActionLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

// Objects whose members are all list indexes become arrays, in index order.
void ListsToArrays(json& node) {
  if (!node.is_object()) return;
  bool all_indexes = !node.empty();
  for (auto& [key, value] : node.items()) {
    ListsToArrays(value);
    all_indexes = all_indexes && !key.empty() && key[0] == kIndexMark;
  }
  if (!all_indexes) return;
  json array = json::array();
  for (auto& [key, value] : node.items()) array.push_back(std::move(value));
  node = std::move(array);
}

json AuditValue(std::string_view member, const std::string& value) {
  bool integer = std::find(std::begin(kIntegerMembers), std::end(kIntegerMembers), member) !=
                 std::end(kIntegerMembers);
  if (integer && !value.empty() && value.size() <= 18 &&
      value.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoll(value);
  }
  return value;
}

// Places value at the path "member.1.Key" (already split) under node; false when the path
// collides with a value already there.
bool Place(json* node, std::string_view path, const std::string& value, std::string_view member) {
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view segment = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    std::string key = LowerCamel(segment);
    if (segment == "member") {
      size_t next_dot = path.find('.');
      std::string_view index = path.substr(0, next_dot);
      if (index.empty() || index.size() > 4 ||
          index.find_first_not_of("0123456789") != std::string_view::npos) {
        return false;
      }
      key = StrCat(kIndexMark, std::string(4 - index.size(), '0'), index);
      path = next_dot == std::string_view::npos ? std::string_view() : path.substr(next_dot + 1);
    }
    if (!node->is_object() && !node->is_null()) return false;
    node = &(*node)[key];
  }
  if (!node->is_null()) return false;
  *node = AuditValue(member, value);
  return true;
}

class QueryCodec final : public ServiceCodec {
 public:
  QueryCodec(QueryService service, IamService* iam) : service_(service), iam_(iam) {}

  std::string_view SigningName() const override { return service_.signing_name; }
  std::string_view EventSource() const override { return service_.event_source; }

  std::string OperationName(const HttpRequest& http) const override {
    auto action = FindFormValue(http.body, "Action");
    size_t question = http.target.find('?');
    if (!action && question != std::string::npos) {
      action = FindFormValue(std::string_view(http.target).substr(question + 1), "Action");
    }
    // The name reaches logs and the audit trail: only a plain name is passed on.
    return action && IsActionName(*action) ? *action : std::string();
  }

  bool MayBlock(std::string_view operation) const override {
    const OperationEntry* entry = service_.find(operation);
    return !entry || entry->writes;
  }

  bool Serves(std::string_view operation) const override {
    return service_.find(operation) != nullptr;
  }

  std::string AuditRequestParameters(const HttpRequest& http) const override {
    const OperationEntry* entry = service_.find(OperationName(http));
    auto request = QueryReader::Parse(http);
    if (!entry || !request.ok()) return "null";
    return AuditParameters(request->parameters(), entry->members);
  }

  absl::StatusOr<ServedAnswer> Serve(const HttpRequest& http, std::string_view operation,
                                     const CallContext& call) const override {
    auto request = QueryReader::Parse(http);
    if (!request.ok()) return request.status();
    if (operation.empty()) {
      return Error(ErrorType::kUnknownOperation, "The request must name an Action");
    }
    const OperationEntry* entry = service_.find(operation);
    auto version = request->parameters().find("Version");
    if (!entry || (version != request->parameters().end() && version->second != service_.version)) {
      return Error(ErrorType::kUnknownOperation, StrCat("Could not find operation ", operation,
                                                        " for version ", service_.version));
    }
    Node result = Node::Struct(StrCat(operation, "Result"));
    OperationContext context{*iam_, call};
    if (auto status = entry->run(context, *request, result); !status.ok()) return status;

    ServedAnswer answer;
    std::string response = StrCat(operation, "Response");
    XmlWriter writer;
    writer.Open(response, service_.xml_namespace);
    if (entry->has_result) result.WriteXml(writer);
    writer.Open("ResponseMetadata").Element("RequestId", call.request_id).Close("ResponseMetadata");
    answer.body = writer.Close(response).Take();
    if (entry->audits_answer) {
      answer.audit_response_elements =
          result.AuditJson().dump(-1, ' ', false, json::error_handler_t::replace);
    }
    return answer;
  }

  HttpResponse Success(std::string body) const override {
    HttpResponse answer;
    answer.headers.emplace_back("Content-Type", kXmlContentType);
    answer.body = std::move(body);
    return answer;
  }

  HttpResponse Failure(const absl::Status& status, const std::string& request_id) const override {
    ErrorType type = TypeOf(status);
    QueryError error = QueryErrorFor(type, service_.internal_error_code);
    std::string_view message = ToStd(status.message());
    if (error.http_status >= 500) {
      message = "kmsd could not complete the request because of an internal error";
    }
    HttpResponse response;
    response.status = error.http_status;
    response.headers.emplace_back("Content-Type", kXmlContentType);
    XmlWriter writer;
    writer.Open("ErrorResponse", service_.xml_namespace)
        .Open("Error")
        .Element("Type", error.http_status >= 500 ? "Receiver" : "Sender")
        .Element("Code", error.code)
        .Element("Message", message)
        .Close("Error")
        .Element("RequestId", request_id)
        .Close("ErrorResponse");
    response.body = writer.Take();
    return response;
  }

 private:
  const QueryService service_;
  IamService* const iam_;
};

}  // namespace

QueryError QueryErrorFor(ErrorType type, std::string_view internal_error_code) {
  switch (type) {
    case ErrorType::kNotFound:
      return {"NoSuchEntity", 404};
    case ErrorType::kAlreadyExists:
      return {"EntityAlreadyExists", 409};
    case ErrorType::kDeleteConflict:
      return {"DeleteConflict", 409};
    case ErrorType::kLimitExceeded:
      return {"LimitExceeded", 409};
    case ErrorType::kMalformedPolicyDocument:
      return {"MalformedPolicyDocument", 400};
    case ErrorType::kValidation:
    case ErrorType::kInvalidMarker:
    case ErrorType::kInvalidArn:
    case ErrorType::kTag:
      return {"ValidationError", 400};
    case ErrorType::kSerialization:
      return {"MalformedQueryString", 404};
    case ErrorType::kUnknownOperation:
      return {"InvalidAction", 400};
    case ErrorType::kUnsupportedOperation:
      return {"UnsupportedOperation", 400};
    case ErrorType::kAccessDenied:
      return {"AccessDenied", 403};
    case ErrorType::kIncompleteSignature:
      return {"IncompleteSignature", 400};
    case ErrorType::kInvalidSignature:
      return {"SignatureDoesNotMatch", 403};
    case ErrorType::kMissingAuthenticationToken:
      return {"MissingAuthenticationToken", 403};
    case ErrorType::kUnrecognizedClient:
    case ErrorType::kInvalidClientTokenId:
      return {"InvalidClientTokenId", 403};
    case ErrorType::kExpiredToken:
      return {"ExpiredToken", 403};
    case ErrorType::kRequestEntityTooLarge:
      return {"RequestEntityTooLarge", 413};
    case ErrorType::kThrottling:
      return {"Throttling", 400};
    case ErrorType::kDependencyTimeout:
    case ErrorType::kKeyUnavailable:
      return {"ServiceUnavailable", 503};
    default:
      return {internal_error_code, 500};
  }
}

std::string AuditParameters(const FormParameters& parameters,
                            const std::vector<std::string_view>& members) {
  try {
    json root = json::object();
    for (std::string_view member : members) {
      json* node = &root[LowerCamel(member)];
      if (auto it = parameters.find(member); it != parameters.end()) {
        *node = AuditValue(member, it->second);
        continue;
      }
      std::string prefix = StrCat(member, ".");
      for (auto it = parameters.lower_bound(prefix);
           it != parameters.end() && it->first.starts_with(prefix); ++it) {
        Place(node, std::string_view(it->first).substr(prefix.size()), it->second, member);
      }
      if (node->is_null()) root.erase(LowerCamel(member));
    }
    if (root.empty()) return "null";
    ListsToArrays(root);
    return root.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const json::exception&) {
    return "null";  // a tree we could not build records nothing rather than something wrong
  }
}

std::unique_ptr<ServiceCodec> NewQueryCodec(QueryService service, IamService* iam) {
  return std::make_unique<QueryCodec>(service, iam);
}

}  // namespace kmsd::api::query
