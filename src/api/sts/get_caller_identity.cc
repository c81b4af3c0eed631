// GetCallerIdentity: who the credentials are. Needs no permission, as in AWS.
#include "api/sts/operations.h"

namespace kmsd::api::sts {

absl::Status GetCallerIdentity(OperationContext& context, QueryReader& request, Node& result) {
  if (auto status = request.Finish(); !status.ok()) return status;
  CallerIdentity identity = context.service.GetCallerIdentity(context.call);
  result.Add(Node::Text("UserId", identity.user_id));
  result.Add(Node::Text("Account", identity.account));
  result.Add(Node::Text("Arn", identity.arn));
  return absl::OkStatus();
}

}  // namespace kmsd::api::sts
