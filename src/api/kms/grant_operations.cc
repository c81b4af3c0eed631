// CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant.
#include "api/kms/common.h"
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

const std::vector<std::string_view>& GrantOperationNames() {
  static const auto* const kNames = new std::vector<std::string_view>{
      "Decrypt",
      "Encrypt",
      "GenerateDataKey",
      "GenerateDataKeyWithoutPlaintext",
      "ReEncryptFrom",
      "ReEncryptTo",
      "Sign",
      "Verify",
      "GetPublicKey",
      "CreateGrant",
      "RetireGrant",
      "DescribeKey",
      "GenerateDataKeyPair",
      "GenerateDataKeyPairWithoutPlaintext",
      "GenerateMac",
      "VerifyMac",
      "DeriveSharedSecret",
  };
  return *kNames;
}

void WriteContext(JsonWriter& writer, std::string_view member,
                  const std::optional<EncryptionContext>& pairs) {
  if (!pairs) return;
  writer.BeginObject(member);
  for (const auto& [key, value] : *pairs) writer.String(key, value);
  writer.EndObject();
}

// {"Grants": [GrantListEntry...], "Truncated": ..., "NextMarker": ...}
absl::StatusOr<std::string> GrantListAnswer(const absl::StatusOr<GrantList>& list) {
  if (!list.ok()) return list.status();
  JsonWriter writer;
  writer.BeginObject().BeginArray("Grants");
  for (const GrantEntry& grant : list->grants) {
    writer.BeginObject().String("KeyId", grant.key_arn).String("GrantId", grant.grant_id);
    if (!grant.name.empty()) writer.String("Name", grant.name);
    writer.Integer("CreationDate", grant.creation_date)
        .String("GranteePrincipal", grant.grantee_principal);
    if (!grant.retiring_principal.empty()) {
      writer.String("RetiringPrincipal", grant.retiring_principal);
    }
    writer.String("IssuingAccount", grant.issuing_account).BeginArray("Operations");
    for (const std::string& operation : grant.operations) writer.String(operation);
    writer.EndArray();
    const GrantConstraints& constraints = grant.constraints;
    if (constraints.encryption_context_equals || constraints.encryption_context_subset) {
      writer.BeginObject("Constraints");
      WriteContext(writer, "EncryptionContextSubset", constraints.encryption_context_subset);
      WriteContext(writer, "EncryptionContextEquals", constraints.encryption_context_equals);
      writer.EndObject();
    }
    writer.EndObject();
  }
  writer.EndArray().Boolean("Truncated", list->truncated());
  if (list->truncated()) writer.String("NextMarker", list->next_marker);
  return writer.EndObject().Take();
}

// AWS pages grants 1..100 at a time, 50 unless asked; the model allows asking for up to 1000.
size_t GrantPageLimit(RequestReader& request) {
  return static_cast<size_t>(request.Integer("Limit", 1, 1000).value_or(50));
}

}  // namespace

absl::StatusOr<std::string> CreateGrant(OperationContext& context, RequestReader& request) {
  CreateGrantRequest create;
  create.key_id = request.String("KeyId", kKeyIdRule, /*required=*/true).value_or("");
  create.grantee_principal =
      request.String("GranteePrincipal", kPrincipalIdRule, /*required=*/true).value_or("");
  create.retiring_principal = request.String("RetiringPrincipal", kPrincipalIdRule).value_or("");
  create.operations = request.EnumList("Operations", GrantOperationNames(), /*required=*/true);
  create.constraints = request.Constraints("Constraints");
  create.grant_tokens = request.GrantTokens();
  create.name = request.String("Name", kGrantNameRule).value_or("");
  create.dry_run = request.Boolean("DryRun").value_or(false);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.CreateGrant(context.call, create);
  if (!result.ok()) return result.status();
  return JsonWriter()
      .BeginObject()
      .String("GrantToken", result->grant_token)
      .String("GrantId", result->grant_id)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> ListGrants(OperationContext& context, RequestReader& request) {
  size_t limit = GrantPageLimit(request);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  std::string grant_id = request.String("GrantId", kGrantIdRule).value_or("");
  std::string grantee = request.String("GranteePrincipal", kPrincipalIdRule).value_or("");
  if (auto status = request.Finish(); !status.ok()) return status;
  return GrantListAnswer(
      context.service.ListGrants(context.call, *key_id, grant_id, grantee, limit, marker));
}

absl::StatusOr<std::string> ListRetirableGrants(OperationContext& context, RequestReader& request) {
  size_t limit = GrantPageLimit(request);
  std::string marker = request.String("Marker", kMarkerRule).value_or("");
  auto retiring_principal =
      request.String("RetiringPrincipal", kPrincipalIdRule, /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  return GrantListAnswer(
      context.service.ListRetirableGrants(context.call, *retiring_principal, limit, marker));
}

absl::StatusOr<std::string> RetireGrant(OperationContext& context, RequestReader& request) {
  RetireGrantRequest retire;
  retire.grant_token = request.String("GrantToken", kGrantTokenRule).value_or("");
  retire.key_id = request.String("KeyId", kKeyIdRule).value_or("");
  retire.grant_id = request.String("GrantId", kGrantIdRule).value_or("");
  retire.dry_run = request.Boolean("DryRun").value_or(false);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto key_arn = context.service.RetireGrant(context.call, retire);
  if (!key_arn.ok()) return key_arn.status();
  context.audit_key_arn = std::move(*key_arn);
  return std::string("{}");
}

absl::StatusOr<std::string> RevokeGrant(OperationContext& context, RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto grant_id = request.String("GrantId", kGrantIdRule, /*required=*/true);
  bool dry_run = request.Boolean("DryRun").value_or(false);
  if (auto status = request.Finish(); !status.ok()) return status;
  return EmptyAnswer(context.service.RevokeGrant(context.call, *key_id, *grant_id, dry_run));
}

}  // namespace kmsd::api
