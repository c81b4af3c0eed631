// ListKeys: every key, paginated by Limit and Marker.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> ListKeys(OperationContext& context, RequestReader& request) {
  int64_t limit = request.Integer("Limit", 1, 1000).value_or(100);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListKeys(context.call, static_cast<size_t>(limit), marker);
  if (!list.ok()) return list.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("Keys");
  for (const KeyListEntry& key : list->keys) {
    writer.BeginObject().String("KeyId", key.key_id).String("KeyArn", key.arn).EndObject();
  }
  writer.EndArray().Boolean("Truncated", list->truncated());
  if (list->truncated()) writer.String("NextMarker", list->next_marker);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
