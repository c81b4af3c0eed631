// STS: GetCallerIdentity and AssumeRole. Sessions are not stored: AssumeRole seals what a session
// is into its token (session_token.h), and Find opens it (credentials.cc).
#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/session_token.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

constexpr std::string_view kAssumeRole = "sts:AssumeRole";

// The role name an ARN of this account names ("arn:aws:iam::ACCOUNT:role/PATH/NAME"), or empty.
std::string_view RoleNameOf(std::string_view arn, std::string_view account_id) {
  std::string prefix = StrCat("arn:aws:iam::", account_id, ":role/");
  if (!arn.starts_with(prefix)) return {};
  return arn.substr(arn.rfind('/') + 1);
}

}  // namespace

CallerIdentity IamServiceImpl::GetCallerIdentity(const CallContext& call) const {
  const Principal& caller = *call.principal;
  return {caller.principal_id, caller.account_id, caller.arn};
}

absl::StatusOr<SessionCredentials> IamServiceImpl::AssumeRole(const CallContext& call,
                                                              const AssumeRoleRequest& request) {
  const Principal& caller = *call.principal;
  if (caller.IsRoot()) {
    return Error(ErrorType::kAccessDenied, "Roles may not be assumed by root accounts.");
  }
  if (!IsIamName(request.role_session_name) || request.role_session_name.size() < 2 ||
      request.role_session_name.size() > 64) {
    return Validation(
        StrCat("The specified value for roleSessionName is invalid: ", request.role_session_name));
  }
  // A missing role is denied in the words of any denial: its existence is not for the caller.
  std::string_view role_name = RoleNameOf(request.role_arn, options_.account_id);
  auto role = role_name.empty() ? absl::StatusOr<RolePtr>(NotFound("")) : FindRole(role_name);
  if (!role.ok() || AsciiLower((*role)->role.arn) != AsciiLower(request.role_arn)) {
    return Error(ErrorType::kAccessDenied,
                 NotAuthorizedMessage(caller, kAssumeRole, request.role_arn));
  }

  policy::RequestContext context = ContextFor(call, kAssumeRole, (*role)->role.arn);
  context.Set("sts:RoleSessionName", request.role_session_name);
  if (request.external_id) context.Set("sts:ExternalId", *request.external_id);
  policy::Decision decision = policy::Authorize({&context, (*role)->trust.get(), {}});
  if (!decision.allowed) {
    return Error(ErrorType::kAccessDenied,
                 decision.message.empty()
                     ? NotAuthorizedMessage(caller, kAssumeRole, (*role)->role.arn)
                     : decision.message);
  }

  int64_t duration = request.duration_seconds.value_or(kDefaultSessionDurationSeconds);
  if (duration < kMinSessionDurationSeconds) {
    return Validation(StrCat("1 validation error detected: Value '", duration,
                             "' at 'durationSeconds' failed to satisfy constraint: Member must "
                             "have value greater than or equal to ",
                             kMinSessionDurationSeconds));
  }
  if (caller.kind == PrincipalType::kAssumedRole && duration > kMaxChainedSessionDurationSeconds) {
    return Validation(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
        "chaining.");
  }
  if (duration > (*role)->role.max_session_duration) {
    return Validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }

  SessionClaims claims;
  auto access_key_id = NewAccessKeyId(kSessionAccessKeyIdPrefix);
  if (!access_key_id.ok()) return access_key_id.status();
  auto secret = NewSecretAccessKey();
  if (!secret.ok()) return secret.status();
  claims.access_key_id = std::move(*access_key_id);
  claims.secret_access_key = std::move(*secret);
  claims.role_id = (*role)->role.role_id;
  claims.role_name = (*role)->role.role_name;
  claims.session_name = request.role_session_name;
  claims.created = clock_->NowSeconds();
  claims.expiration = claims.created + duration;
  auto token = SealSessionToken(session_key_, claims);
  if (!token.ok()) return token.status();

  SessionCredentials session;
  session.access_key_id = std::move(claims.access_key_id);
  session.secret_access_key = std::move(claims.secret_access_key);
  session.session_token = std::move(*token);
  session.expiration = claims.expiration;
  session.assumed_role_id = StrCat((*role)->role.role_id, ":", request.role_session_name);
  session.assumed_role_arn =
      AssumedRoleArn(options_.account_id, (*role)->role.role_name, request.role_session_name);
  return session;
}

}  // namespace kmsd::iam
