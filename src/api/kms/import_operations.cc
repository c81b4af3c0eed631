// Imported key material (issue 13): GetParametersForImport, ImportKeyMaterial and
// DeleteImportedKeyMaterial, three twins over one kind of key (Origin EXTERNAL).
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

bool IsKeyMaterialIdText(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !text.empty();
}

bool IsKeyMaterialDescriptionText(std::string_view text) {
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '/' || c == '_' || c == '.' || c == '-' || c == ' ' || c == '\t' ||
              c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!ok) return false;
  }
  return !text.empty();
}

// BackingKeyIdType and KeyMaterialDescriptionType.
constexpr StringRule kKeyMaterialIdRule{64, 64, "^[a-f0-9]+$", IsKeyMaterialIdText};
constexpr StringRule kKeyMaterialDescriptionRule{0, 256, "^[a-zA-Z0-9:/_\\s.-]+$",
                                                 IsKeyMaterialDescriptionText};
// CiphertextType: ImportToken and EncryptedKeyMaterial.
constexpr size_t kMaxCiphertextBytes = 6144;

// The answer of ImportKeyMaterial and DeleteImportedKeyMaterial.
absl::StatusOr<std::string> KeyMaterialAnswer(const absl::StatusOr<KeyMaterialResult>& result) {
  if (!result.ok()) return result.status();
  JsonWriter writer;
  writer.BeginObject().String("KeyId", result->key_arn);
  if (!result->key_material_id.empty()) writer.String("KeyMaterialId", result->key_material_id);
  return writer.EndObject().Take();
}

}  // namespace

absl::StatusOr<std::string> GetParametersForImport(OperationContext& context,
                                                   RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto algorithm = request.Enum("WrappingAlgorithm",
                                {"RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                 "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256", "SM2PKE"},
                                /*required=*/true);
  auto spec = request.Enum("WrappingKeySpec", {"RSA_2048", "RSA_3072", "RSA_4096", "SM2"},
                           /*required=*/true);
  if (auto status = request.Finish(); !status.ok()) return status;
  auto result = context.service.GetParametersForImport(context.call, *key_id, *algorithm, *spec);
  if (!result.ok()) return result.status();
  return JsonWriter()
      .BeginObject()
      .String("KeyId", result->key_arn)
      .Blob("ImportToken", std::string_view(result->import_token))
      .Blob("PublicKey", std::string_view(result->public_key))
      .Integer("ParametersValidTo", result->parameters_valid_to)
      .EndObject()
      .Take();
}

absl::StatusOr<std::string> ImportKeyMaterial(OperationContext& context, RequestReader& request) {
  ImportKeyMaterialRequest import;
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto token = request.Blob("ImportToken", 1, kMaxCiphertextBytes, /*required=*/true);
  auto material = request.Blob("EncryptedKeyMaterial", 1, kMaxCiphertextBytes, /*required=*/true);
  import.valid_to = request.Timestamp("ValidTo");
  import.expiration_model =
      request.Enum("ExpirationModel", {"KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"})
          .value_or("KEY_MATERIAL_EXPIRES");
  import.import_type = request.Enum("ImportType", {"NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"});
  import.key_material_description =
      request.String("KeyMaterialDescription", kKeyMaterialDescriptionRule);
  import.key_material_id = request.String("KeyMaterialId", kKeyMaterialIdRule);
  if (auto status = request.Finish(); !status.ok()) return status;
  import.key_id = std::move(*key_id);
  import.import_token = std::string(token->view());
  import.encrypted_key_material = std::string(material->view());
  return KeyMaterialAnswer(context.service.ImportKeyMaterial(context.call, import));
}

absl::StatusOr<std::string> DeleteImportedKeyMaterial(OperationContext& context,
                                                      RequestReader& request) {
  auto key_id = request.String("KeyId", kKeyIdRule, /*required=*/true);
  auto material_id = request.String("KeyMaterialId", kKeyMaterialIdRule);
  if (auto status = request.Finish(); !status.ok()) return status;
  return KeyMaterialAnswer(
      context.service.DeleteImportedKeyMaterial(context.call, *key_id, material_id.value_or("")));
}

}  // namespace kmsd::api
