// CreateKey: a new KMS key of any supported spec (include/kmsd/key_specs.h), with its key policy
// (or AWS's default). Also the KeyMetadata writer every key operation shares.
#include "api/kms/common.h"
#include "api/kms/operations.h"
#include "kmsd/errors.h"

namespace kmsd::api {

void WriteKeyMetadata(JsonWriter& writer, const KeyMetadata& m, std::string_view member) {
  writer.BeginObject(member)
      .String("AWSAccountId", m.account_id)
      .String("KeyId", m.key_id)
      .String("Arn", m.arn)
      .Integer("CreationDate", m.creation_date)
      .Boolean("Enabled", m.Enabled())
      .String("Description", m.description)
      .String("KeyUsage", m.key_usage)
      .String("KeyState", KeyStateName(m.state));
  if (m.deletion_date) writer.Integer("DeletionDate", *m.deletion_date);
  // AWS: "present only when the KeyState of the KMS key is PendingReplicaDeletion" (issue 13).
  if (m.pending_deletion_window_days && m.state == KeyState::kPendingReplicaDeletion) {
    writer.Integer("PendingDeletionWindowInDays", *m.pending_deletion_window_days);
  }
  // Imported key material (issue 13): only for Origin EXTERNAL, as AWS.
  if (m.valid_to) writer.Integer("ValidTo", *m.valid_to);
  if (!m.expiration_model.empty()) writer.String("ExpirationModel", m.expiration_model);
  if (!m.key_material_id.empty() && m.key_spec == kSymmetricDefault) {
    writer.String("CurrentKeyMaterialId", m.key_material_id);
  }
  writer.String("Origin", m.origin)
      .String("KeyManager", m.key_manager)
      .String("CustomerMasterKeySpec", m.key_spec)
      .String("KeySpec", m.key_spec);
  WriteKeyAlgorithms(writer, m.key_spec, m.key_usage);
  writer.Boolean("MultiRegion", m.multi_region);
  if (m.multi_region_configuration) {  // issue 13
    const MultiRegionConfiguration& configuration = *m.multi_region_configuration;
    writer.BeginObject("MultiRegionConfiguration")
        .String("MultiRegionKeyType", configuration.key_type)
        .BeginObject("PrimaryKey")
        .String("Arn", configuration.primary_key.arn)
        .String("Region", configuration.primary_key.region)
        .EndObject()
        .BeginArray("ReplicaKeys");
    for (const MultiRegionKey& replica : configuration.replica_keys) {
      writer.BeginObject().String("Arn", replica.arn).String("Region", replica.region).EndObject();
    }
    writer.EndArray().EndObject();
  }
  writer.EndObject();
}

absl::StatusOr<std::string> KeyMetadataAnswer(const absl::StatusOr<KeyMetadata>& metadata) {
  if (!metadata.ok()) return metadata.status();
  JsonWriter writer;
  writer.BeginObject();
  WriteKeyMetadata(writer, *metadata);
  return writer.EndObject().Take();
}

absl::StatusOr<std::string> CreateKey(OperationContext& context, RequestReader& request) {
  static const std::vector<std::string_view> kKeySpecs = {
      "RSA_2048",      "RSA_3072",      "RSA_4096",        "ECC_NIST_P256", "ECC_NIST_P384",
      "ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224",    "HMAC_256",
      "HMAC_384",      "HMAC_512",      "SM2",             "ML_DSA_44",     "ML_DSA_65",
      "ML_DSA_87",     "ECC_NIST_EDWARDS25519"};
  CreateKeyRequest create;
  create.policy = request.String("Policy", kPolicyRule);
  create.description = request.String("Description", kDescriptionRule).value_or("");
  create.key_usage =
      request
          .Enum("KeyUsage", {"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"})
          .value_or("ENCRYPT_DECRYPT");
  auto key_spec = request.Enum("KeySpec", kKeySpecs);
  auto master_key_spec = request.Enum("CustomerMasterKeySpec", kKeySpecs);
  create.key_spec = key_spec.value_or(master_key_spec.value_or("SYMMETRIC_DEFAULT"));
  create.origin = request.Enum("Origin", {"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM",
                                          "EXTERNAL_KEY_STORE"})
                      .value_or("AWS_KMS");
  create.bypass_policy_lockout_safety_check =
      request.Boolean("BypassPolicyLockoutSafetyCheck").value_or(false);
  create.multi_region = request.Boolean("MultiRegion").value_or(false);
  create.tags = request.Tags("Tags");
  bool custom_store = request.String("CustomKeyStoreId", StringRule{1, 64}).has_value();
  bool xks = request.String("XksKeyId", StringRule{1, 128}).has_value();
  if (auto status = request.Finish(); !status.ok()) return status;
  // Not a constraint of the model, so not worded as one ("1 validation error detected: ...").
  if (key_spec && master_key_spec) {
    return Validation("KeySpec and CustomerMasterKeySpec cannot both be specified. Use KeySpec.");
  }
  // Origins AWS_CLOUDHSM and EXTERNAL_KEY_STORE are keys in a custom key store.
  if (custom_store || xks || create.origin == "AWS_CLOUDHSM" ||
      create.origin == "EXTERNAL_KEY_STORE") {
    return NoCustomKeyStores();
  }
  return KeyMetadataAnswer(context.service.CreateKey(context.call, create));
}

}  // namespace kmsd::api
