// CreateAlias, UpdateAlias, DeleteAlias and ListAliases.
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

using AliasChange = absl::Status (KmsService::*)(const CallContext&, const std::string&,
                                                 const std::string&);

absl::StatusOr<std::string> PointAlias(OperationContext& context, RequestReader& request,
                                       AliasChange change) {
  auto alias_name = request.String("AliasName", kAliasNameRule, /*required=*/true);
  auto target = request.String("TargetKeyId", kKeyIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  if (auto status = (context.service.*change)(context.call, *alias_name, *target); !status.ok()) {
    return status;
  }
  return std::string("{}");
}

}  // namespace

absl::StatusOr<std::string> CreateAlias(OperationContext& context, RequestReader& request) {
  return PointAlias(context, request, &KmsService::CreateAlias);
}

absl::StatusOr<std::string> UpdateAlias(OperationContext& context, RequestReader& request) {
  return PointAlias(context, request, &KmsService::UpdateAlias);
}

absl::StatusOr<std::string> DeleteAlias(OperationContext& context, RequestReader& request) {
  auto alias_name = request.String("AliasName", kAliasNameRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto target = context.service.DeleteAlias(context.call, *alias_name);
  if (!target.ok()) return target.status();
  context.audit_key_arn = std::move(*target);
  return std::string("{}");
}

absl::StatusOr<std::string> ListAliases(OperationContext& context, RequestReader& request) {
  std::string key_id = request.String("KeyId", kKeyIdRule).value_or("");
  int64_t limit = request.Integer("Limit", 1, 1000).value_or(100);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  if (auto status = request.Finish(); !status.ok()) return status;
  auto list = context.service.ListAliases(context.call, key_id, static_cast<size_t>(limit), marker);
  if (!list.ok()) return list.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("Aliases");
  for (const AliasEntry& alias : list->aliases) {
    writer.BeginObject()
        .String("AliasName", alias.name)
        .String("AliasArn", alias.arn)
        .String("TargetKeyId", alias.target_key_id)
        .Integer("CreationDate", alias.creation_date)
        .Integer("LastUpdatedDate", alias.last_updated_date)
        .EndObject();
  }
  writer.EndArray().Boolean("Truncated", list->truncated());
  if (list->truncated()) writer.String("NextMarker", list->next_marker);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
