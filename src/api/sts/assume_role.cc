// AssumeRole: temporary credentials for a role whose trust policy allows the caller. The secret
// and the session token are in this one answer and never in the audit (Node::Secret).
#include "api/sts/operations.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::sts {

absl::Status AssumeRole(OperationContext& context, QueryReader& request, Node& result) {
  AssumeRoleRequest assume;
  auto role_arn = request.String("RoleArn", query::kArnRule, /*required=*/true);
  auto session_name =
      request.String("RoleSessionName", query::kRoleSessionNameRule, /*required=*/true);
  assume.duration_seconds =
      request.Integer("DurationSeconds", kMinSessionDurationSeconds, kMaxRoleMaxSessionDuration);
  assume.external_id = request.String("ExternalId", query::kExternalIdRule);
  // Session policies, session tags, MFA, source identity and provided contexts would each change
  // what the session may do or say; kmsd refuses them rather than issue a different session.
  for (std::string_view member :
       {"Policy", "PolicyArns", "Tags", "TransitiveTagKeys", "SerialNumber", "TokenCode",
        "SourceIdentity", "ProvidedContexts"}) {
    if (request.HasAny(member)) {
      return Error(ErrorType::kUnsupportedOperation,
                   StrCat(member, " is not supported by kmsd's AssumeRole"));
    }
  }
  if (auto status = request.Finish(); !status.ok()) return status;
  assume.role_arn = *role_arn;
  assume.role_session_name = *session_name;
  auto session = context.service.AssumeRole(context.call, assume);
  if (!session.ok()) return session.status();

  Node& credentials = result.Add(Node::Struct("Credentials"));
  credentials.Add(Node::Text("AccessKeyId", session->access_key_id));
  credentials.Add(Node::Secret("SecretAccessKey", std::move(session->secret_access_key)));
  credentials.Add(Node::Secret("SessionToken", SecretBytes::FromString(session->session_token)));
  credentials.Add(Node::Date("Expiration", session->expiration));
  Node& user = result.Add(Node::Struct("AssumedRoleUser"));
  user.Add(Node::Text("AssumedRoleId", session->assumed_role_id));
  user.Add(Node::Text("Arn", session->assumed_role_arn));
  return absl::OkStatus();
}

}  // namespace kmsd::api::sts
