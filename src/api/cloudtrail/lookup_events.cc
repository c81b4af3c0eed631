// LookupEvents: this node's audit records, newest first, by one lookup attribute and a time
// range, a page at a time.
#include <algorithm>

#include "api/cloudtrail/operations.h"
#include "api/json_writer.h"
#include "kmsd/strings.h"

namespace kmsd::api::cloudtrail_operations {
namespace {

// LookupAttributes: a list of {AttributeKey, AttributeValue}; the service checks the keys and
// how many there are, this the shapes.
std::vector<cloudtrail::LookupAttribute> Attributes(RequestReader& request) {
  std::vector<cloudtrail::LookupAttribute> attributes;
  const nlohmann::json* list = request.Peek("LookupAttributes");
  if (!list) return attributes;
  if (!list->is_array()) {
    request.AddTypeError("LookupAttributes", "a list");
    return attributes;
  }
  for (const nlohmann::json& item : *list) {
    if (attributes.size() == 16) break;  // more than one is refused anyway
    if (!item.is_object()) {
      request.AddTypeError("LookupAttributes", "a list of LookupAttribute structures");
      return attributes;
    }
    cloudtrail::LookupAttribute attribute;
    for (auto [member, field] : {std::pair{"AttributeKey", &attribute.key},
                                 std::pair{"AttributeValue", &attribute.value}}) {
      auto value = item.find(member);
      if (value == item.end() || value->is_null()) {
        request.AddViolation(StrCat("Value null at 'lookupAttributes.", attributes.size() + 1,
                                    ".member.", LowerCamel(member),
                                    "' failed to satisfy constraint: Member must not be null"));
        continue;
      }
      if (!value->is_string()) {
        request.AddTypeError("LookupAttributes", "a list of LookupAttribute structures of strings");
        return attributes;
      }
      *field = value->get<std::string>();
    }
    attributes.push_back(std::move(attribute));
  }
  return attributes;
}

}  // namespace

absl::StatusOr<std::string> LookupEvents(OperationContext& context, RequestReader& request) {
  cloudtrail::LookupEventsRequest lookup;
  lookup.attributes = Attributes(request);
  lookup.start_time = request.Timestamp("StartTime");
  lookup.end_time = request.Timestamp("EndTime");
  lookup.event_category = request.String("EventCategory", {0, 64});
  const nlohmann::json* max_results = request.Peek("MaxResults");
  if (max_results && !max_results->is_number_integer()) {
    request.AddTypeError("MaxResults", "an integer");
  }
  auto token = request.String("NextToken", {0, SIZE_MAX});
  if (auto status = request.Finish(); !status.ok()) return status;
  // CloudTrail answers a MaxResults out of 1..50 with its own exception, not a validation error.
  if (max_results) {
    lookup.max_results = max_results->is_number_unsigned() && max_results->get<uint64_t>() > 1000
                             ? 1000
                             : static_cast<int>(std::max<int64_t>(
                                   -1, std::min<int64_t>(max_results->get<int64_t>(), 1000)));
  }
  if (token) lookup.next_token = *token;
  auto result = context.service.LookupEvents(context.call, lookup);
  if (!result.ok()) return result.status();

  JsonWriter out;
  out.BeginObject().BeginArray("Events");
  for (const cloudtrail::Event& event : result->events) {
    out.BeginObject()
        .String("EventId", event.event_id)
        .String("EventName", event.event_name)
        .String("ReadOnly", event.read_only);
    if (!event.access_key_id.empty()) out.String("AccessKeyId", event.access_key_id);
    out.Integer("EventTime", event.event_time).String("EventSource", event.event_source);
    if (!event.username.empty()) out.String("Username", event.username);
    out.BeginArray("Resources");
    for (const cloudtrail::Resource& resource : event.resources) {
      out.BeginObject()
          .String("ResourceType", resource.type)
          .String("ResourceName", resource.name)
          .EndObject();
    }
    out.EndArray().String("CloudTrailEvent", event.cloud_trail_event).EndObject();
  }
  out.EndArray();
  if (!result->next_token.empty()) out.String("NextToken", result->next_token);
  return out.EndObject().Take();
}

}  // namespace kmsd::api::cloudtrail_operations
