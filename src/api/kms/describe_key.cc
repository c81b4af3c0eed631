// DescribeKey: a key's metadata, by any form of key id.
#include "api/kms/operations.h"

namespace kmsd::api {

absl::StatusOr<std::string> DescribeKey(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  GrantTokens grant_tokens = request.GrantTokens();
  if (auto status = request.Finish(); !status.ok()) return status;
  return KeyMetadataAnswer(context.service.DescribeKey(context.call, *key_id, grant_tokens));
}

}  // namespace kmsd::api
