// TagResource, UntagResource and ListResourceTags.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> TagResource(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  if (!request.Has("Tags")) request.AddViolation(
      "Value null at 'tags' failed to satisfy constraint: Member must not be null");
  std::vector<Tag> tags = request.Tags("Tags");
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = context.service.TagResource(context.call, *key_id, tags); !status.ok()) {
    return status;
  }
  return std::string("{}");
}

absl::StatusOr<std::string> UntagResource(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto tag_keys = request.StringList("TagKeys", StringRule{1, 128}, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = context.service.UntagResource(context.call, *key_id, tag_keys);
      !status.ok()) {
    return status;
  }
  return std::string("{}");
}

absl::StatusOr<std::string> ListResourceTags(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  int64_t limit = request.Integer("Limit", 1, 1000).value_or(50);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListResourceTags(context.call, *key_id, static_cast<size_t>(limit),
                                               marker);
  if (!list.ok()) return list.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("Tags");
  for (const Tag& tag : list->tags) {
    writer.BeginObject().String("TagKey", tag.key).String("TagValue", tag.value).EndObject();
  }
  writer.EndArray().Boolean("Truncated", list->truncated());
  if (list->truncated()) writer.String("NextMarker", list->next_marker);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
