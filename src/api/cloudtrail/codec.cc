// The CloudTrail codec: AWS JSON 1.1 under CloudTrail's target prefix; answers and errors as
// CloudTrail sends them ({"__type": ..., "message": ...}).
#include "api/cloudtrail/codec.h"

#include <algorithm>
#include <cctype>

#include "api/cloudtrail/operations.h"
#include "api/json_writer.h"
#include "api/request_reader.h"
#include "kmsd/api.h"
#include "kmsd/clock.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";

using Operation = absl::StatusOr<std::string> (*)(cloudtrail_operations::OperationContext&,
                                                  RequestReader&);

struct OperationEntry {
  std::string_view name;
  Operation run;
};

constexpr OperationEntry kOperations[] = {
    {"LookupEvents", cloudtrail_operations::LookupEvents},
    {"GetTrailStatus", cloudtrail_operations::GetTrailStatus},
};

Operation FindOperation(std::string_view name) {
  for (const OperationEntry& entry : kOperations) {
    if (entry.name == name) return entry.run;
  }
  return nullptr;
}

bool IsPlainName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c));
  });
}

// The request's parameters as the audit records them: the lookup's members, lower camel case,
// times as ISO 8601; never the NextToken (opaque, and of no use to a reader of the trail).
std::string AuditParameters(std::string_view operation, std::string_view body) {
  auto request = RequestReader::Parse(body);
  if (!request.ok()) return "null";
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  if (operation == "LookupEvents") {
    if (const nlohmann::json* list = request->Peek("LookupAttributes"); list && list->is_array()) {
      nlohmann::ordered_json attributes = nlohmann::ordered_json::array();
      for (const nlohmann::json& item : *list) {
        if (attributes.size() == 4) break;
        if (!item.is_object()) continue;
        nlohmann::ordered_json attribute = nlohmann::ordered_json::object();
        for (std::string_view member : {"AttributeKey", "AttributeValue"}) {
          auto value = item.find(member);
          if (value != item.end() && value->is_string()) {
            attribute[LowerCamel(member)] = value->get<std::string>().substr(0, 2000);
          }
        }
        attributes.push_back(std::move(attribute));
      }
      out["lookupAttributes"] = std::move(attributes);
    }
    for (std::string_view member : {"StartTime", "EndTime"}) {
      const nlohmann::json* value = request->Peek(member);
      if (value && value->is_number()) {
        double seconds = value->get<double>();
        if (seconds >= 0 && seconds <= 253402300799.0) {
          out[LowerCamel(member)] = Iso8601(static_cast<int64_t>(seconds));
        }
      }
    }
    if (const nlohmann::json* value = request->Peek("MaxResults");
        value && value->is_number_integer()) {
      out["maxResults"] = value->get<int64_t>();
    }
    if (const nlohmann::json* value = request->Peek("EventCategory"); value && value->is_string()) {
      out["eventCategory"] = value->get<std::string>().substr(0, 64);
    }
  } else if (operation == "GetTrailStatus") {
    if (const nlohmann::json* value = request->Peek("Name"); value && value->is_string()) {
      out["name"] = value->get<std::string>().substr(0, 2048);
    }
  }
  if (out.empty()) return "null";
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class CloudTrailCodec final : public ServiceCodec {
 public:
  explicit CloudTrailCodec(cloudtrail::CloudTrailService* service) : service_(service) {}

  std::string_view SigningName() const override { return "cloudtrail"; }
  std::string_view EventSource() const override { return "cloudtrail.amazonaws.com"; }

  std::string OperationName(const HttpRequest& http) const override {
    const std::string* target = http.Header("x-amz-target");
    if (!target || !std::string_view(*target).starts_with(kCloudTrailTargetPrefix)) return {};
    std::string name = target->substr(kCloudTrailTargetPrefix.size());
    // The name reaches logs and the audit trail: only a plain name is passed on.
    return IsPlainName(name) ? name : std::string();
  }

  // Both read trail files.
  bool MayBlock(std::string_view) const override { return true; }
  bool Serves(std::string_view operation) const override {
    return FindOperation(operation) != nullptr;
  }

  std::string AuditRequestParameters(const HttpRequest& http) const override {
    return AuditParameters(OperationName(http), http.body);
  }

  absl::StatusOr<ServedAnswer> Serve(const HttpRequest& http, std::string_view operation_name,
                                     const CallContext& call) const override {
    if (http.method != "POST") {
      return Error(ErrorType::kUnknownOperation, "CloudTrail requests must use POST");
    }
    if (operation_name.empty()) {
      return Error(ErrorType::kUnknownOperation,
                   StrCat("The X-Amz-Target header must name a CloudTrail operation: ",
                          kCloudTrailTargetPrefix, "<Operation>"));
    }
    Operation operation = FindOperation(operation_name);
    if (!operation || service_ == nullptr) {
      return Error(ErrorType::kUnknownOperation,
                   StrCat("Operation ", operation_name,
                          " is not supported by kmsd (CloudTrail: LookupEvents, GetTrailStatus)"));
    }
    auto request = RequestReader::Parse(http.body);
    if (!request.ok()) return request.status();
    cloudtrail_operations::OperationContext context{*service_, call};
    auto body = operation(context, *request);
    if (!body.ok()) return body.status();
    return ServedAnswer{std::move(*body), {}};
  }

  HttpResponse Success(std::string body) const override {
    HttpResponse answer;
    answer.headers.emplace_back("Content-Type", kJsonContentType);
    answer.body = std::move(body);
    return answer;
  }

  // KMS's shape (the same JSON 1.1 errors) but for server faults, which CloudTrail names as every
  // JSON service does.
  HttpResponse Failure(const absl::Status& status, const std::string& request_id) const override {
    ErrorType type = TypeOf(status);
    if (type != ErrorType::kKmsInternal && type != ErrorType::kDependencyTimeout) {
      return ErrorResponse(status, request_id);
    }
    bool unavailable = type == ErrorType::kDependencyTimeout;
    std::string_view name = unavailable ? "ServiceUnavailableException" : "InternalFailure";
    HttpResponse response;
    response.status = unavailable ? 503 : 500;
    response.headers.emplace_back("Content-Type", kJsonContentType);
    response.headers.emplace_back("x-amzn-ErrorType", std::string(name));
    response.body =
        JsonWriter()
            .BeginObject()
            .String("__type", name)
            .String("message", unavailable ? ToStd(status.message())
                                           : "kmsd could not complete the request because of an "
                                             "internal error")
            .EndObject()
            .Take();
    return response;
  }

 private:
  cloudtrail::CloudTrailService* const service_;
};

}  // namespace

std::unique_ptr<ServiceCodec> NewCloudTrailCodec(cloudtrail::CloudTrailService* service) {
  return std::make_unique<CloudTrailCodec>(service);
}

}  // namespace kmsd::api
