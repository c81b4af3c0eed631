// Imported key material in the service (issue 13): keys of Origin EXTERNAL wait in PendingImport,
// GetParametersForImport's refusals, ImportKeyMaterial's checks of token, expiry and material,
// DeleteImportedKeyMaterial and the scheduler's expiry, and the rotation rules of imported keys.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kmsd/asymmetric.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/key_import.h"
#include "kmsd/service.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::FixedClock;
using testing::kDay;

constexpr std::string_view kNoExpiry = "KEY_MATERIAL_DOES_NOT_EXPIRE";

class ImportedKeyMaterialTest : public testing::ServiceTest {
 protected:
  std::string NewExternalKey(std::string spec = "SYMMETRIC_DEFAULT",
                             std::string usage = "ENCRYPT_DECRYPT") {
    auto key = service_->CreateKey(
        call_, {.key_usage = std::move(usage), .key_spec = std::move(spec), .origin = "EXTERNAL"});
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? key->key_id : "";
  }

  ImportParameters Parameters(const std::string& key_id,
                              std::string algorithm = "RSAES_OAEP_SHA_256",
                              std::string spec = "RSA_2048") {
    auto parameters = service_->GetParametersForImport(call_, key_id, algorithm, spec);
    EXPECT_TRUE(parameters.ok()) << parameters.status();
    return parameters.ok() ? std::move(*parameters) : ImportParameters{};
  }

  // What a client does: wraps material under the parameters' public key.
  static std::string Wrap(const ImportParameters& parameters, std::string_view material,
                          std::string_view algorithm = "RSAES_OAEP_SHA_256") {
    std::string_view digest = algorithm.ends_with("SHA_1") ? "SHA1" : "SHA256";
    if (!algorithm.starts_with("RSA_AES")) {
      auto wrapped = crypto::RsaOaepEncrypt(parameters.public_key, digest, material);
      EXPECT_TRUE(wrapped.ok()) << wrapped.status();
      return wrapped.ok() ? *wrapped : "";
    }
    auto aes_key = crypto::RandomSecret(32);
    auto wrapped_key = crypto::RsaOaepEncrypt(parameters.public_key, digest, aes_key->view());
    auto wrapped_material = crypto::AesKeyWrapPad(*aes_key, material);
    EXPECT_TRUE(wrapped_key.ok() && wrapped_material.ok());
    return *wrapped_key + *wrapped_material;
  }

  // An ImportKeyMaterial request for material wrapped under the parameters, never expiring.
  static ImportKeyMaterialRequest RequestFor(const std::string& key_id,
                                             const ImportParameters& parameters,
                                             std::string_view material) {
    return {.key_id = key_id,
            .import_token = parameters.import_token,
            .encrypted_key_material = Wrap(parameters, material),
            .expiration_model = std::string(kNoExpiry)};
  }

  absl::StatusOr<KeyMaterialResult> Import(const std::string& key_id, std::string_view material,
                                           std::optional<int64_t> valid_to = std::nullopt) {
    ImportParameters parameters = Parameters(key_id);
    return ImportWith(key_id, parameters, Wrap(parameters, material), valid_to);
  }

  absl::StatusOr<KeyMaterialResult> ImportWith(const std::string& key_id,
                                               const ImportParameters& parameters,
                                               std::string wrapped,
                                               std::optional<int64_t> valid_to = std::nullopt) {
    ImportKeyMaterialRequest request;
    request.key_id = key_id;
    request.import_token = parameters.import_token;
    request.encrypted_key_material = std::move(wrapped);
    request.expiration_model = valid_to ? "KEY_MATERIAL_EXPIRES" : std::string(kNoExpiry);
    request.valid_to = valid_to;
    return service_->ImportKeyMaterial(call_, request);
  }

  // ImportKeyMaterial with ImportType NEW_KEY_MATERIAL (issue 13).
  absl::StatusOr<KeyMaterialResult> ImportNew(const std::string& key_id, std::string_view material,
                                              std::optional<int64_t> valid_to = std::nullopt) {
    ImportParameters parameters = Parameters(key_id);
    ImportKeyMaterialRequest request = RequestFor(key_id, parameters, material);
    request.import_type = "NEW_KEY_MATERIAL";
    if (valid_to) {
      request.expiration_model = "KEY_MATERIAL_EXPIRES";
      request.valid_to = valid_to;
    }
    return service_->ImportKeyMaterial(call_, request);
  }

  KeyMetadata Describe(const std::string& key_id) {
    auto m = service_->DescribeKey(call_, key_id, {});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : KeyMetadata{};
  }

  absl::StatusOr<EncryptResult> EncryptUnder(const std::string& key_id) {
    return service_->Encrypt(call_, key_id, SecretBytes::FromString("secret"), {}, {});
  }

  size_t Records(const std::string& prefix) { return backend_->List(prefix, "", 0)->size(); }

  const std::string material_ = std::string(32, 'k');
};

TEST_F(ImportedKeyMaterialTest, ExternalKeyIsCreatedPendingImportWithoutMaterial) {
  std::string key_id = NewExternalKey();
  KeyMetadata m = Describe(key_id);
  EXPECT_EQ(m.state, KeyState::kPendingImport);
  EXPECT_FALSE(m.Enabled());
  EXPECT_EQ(m.origin, "EXTERNAL");
  EXPECT_TRUE(m.expiration_model.empty());
  EXPECT_FALSE(m.valid_to.has_value());
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 0u);
}

TEST_F(ImportedKeyMaterialTest, CryptographicOperationsOnAKeyPendingImportAreInvalidState) {
  std::string symmetric = NewExternalKey();
  auto encrypted = EncryptUnder(symmetric);
  EXPECT_EQ(TypeOf(encrypted.status()), ErrorType::kKmsInvalidState);
  EXPECT_EQ(encrypted.status().message(), StrCat(KeyArn(symmetric), " is pending import."));
  EXPECT_EQ(TypeOf(service_->GenerateDataKey(call_, symmetric, 32, {}, true, {}).status()),
            ErrorType::kKmsInvalidState);
  std::string hmac = NewExternalKey("HMAC_256", "GENERATE_VERIFY_MAC");
  EXPECT_EQ(
      TypeOf(service_->GenerateMac(call_, hmac, SecretBytes::FromString("m"), "HMAC_SHA_256", {})
                 .status()),
      ErrorType::kKmsInvalidState);
  std::string ecc = NewExternalKey("ECC_NIST_P256", "SIGN_VERIFY");
  EXPECT_EQ(TypeOf(service_
                       ->Sign(call_, ecc, SecretBytes::FromString("m"), MessageType::kRaw,
                              "ECDSA_SHA_256", {})
                       .status()),
            ErrorType::kKmsInvalidState);
  EXPECT_EQ(TypeOf(service_->GetPublicKey(call_, ecc, {}).status()), ErrorType::kKmsInvalidState);
}

TEST_F(ImportedKeyMaterialTest, EnableAndDisableRefuseAKeyPendingImport) {
  std::string key_id = NewExternalKey();
  EXPECT_EQ(TypeOf(service_->EnableKey(call_, key_id)), ErrorType::kKmsInvalidState);
  EXPECT_EQ(TypeOf(service_->DisableKey(call_, key_id)), ErrorType::kKmsInvalidState);
  EXPECT_TRUE(service_->UpdateKeyDescription(call_, key_id, "still editable").ok());
}

TEST_F(ImportedKeyMaterialTest, GetParametersForImportRefusesKeysWithGeneratedMaterial) {
  std::string key_id = NewKey();
  auto parameters =
      service_->GetParametersForImport(call_, key_id, "RSAES_OAEP_SHA_256", "RSA_2048");
  EXPECT_EQ(TypeOf(parameters.status()), ErrorType::kUnsupportedOperation);
  EXPECT_EQ(parameters.status().message(),
            StrCat(KeyArn(key_id), " origin is AWS_KMS which is not valid for this operation."));
}

TEST_F(ImportedKeyMaterialTest, GetParametersForImportRefusesWhatAwsRefuses) {
  std::string symmetric = NewExternalKey();
  std::string rsa = NewExternalKey("RSA_2048", "SIGN_VERIFY");
  std::string p521 = NewExternalKey("ECC_NIST_P521", "SIGN_VERIFY");
  auto refused = [&](const std::string& key, std::string algorithm, std::string spec) {
    return TypeOf(service_->GetParametersForImport(call_, key, algorithm, spec).status()) ==
           ErrorType::kUnsupportedOperation;
  };
  EXPECT_TRUE(refused(symmetric, "RSAES_PKCS1_V1_5", "RSA_2048"));
  EXPECT_TRUE(refused(symmetric, "SM2PKE", "SM2"));
  EXPECT_TRUE(refused(symmetric, "RSAES_OAEP_SHA_256", "SM2"));
  EXPECT_TRUE(refused(rsa, "RSAES_OAEP_SHA_256", "RSA_4096"));
  EXPECT_TRUE(refused(rsa, "RSAES_OAEP_SHA_1", "RSA_4096"));
  EXPECT_TRUE(refused(p521, "RSAES_OAEP_SHA_256", "RSA_2048"));
  EXPECT_TRUE(refused(p521, "RSAES_OAEP_SHA_1", "RSA_2048"));
  EXPECT_FALSE(refused(p521, "RSAES_OAEP_SHA_256", "RSA_3072"));
  EXPECT_FALSE(refused(p521, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"));
  EXPECT_FALSE(refused(rsa, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"));
}

TEST_F(ImportedKeyMaterialTest, ParametersAreValidFor24HoursAndKeptSealedUntilThen) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id, "RSAES_OAEP_SHA_256", "RSA_3072");
  EXPECT_EQ(parameters.key_arn, KeyArn(key_id));
  EXPECT_EQ(parameters.parameters_valid_to, now_ + kDay);
  const unsigned char* in = reinterpret_cast<const unsigned char*>(parameters.public_key.data());
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &in, static_cast<long>(parameters.public_key.size()));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 3072);
  EVP_PKEY_free(key);
  EXPECT_EQ(Records(StrCat("import/", key_id, "/")), 1u);
  // The scheduler removes the wrapping key when its token ends, not before.
  now_ += kDay - 1;
  ASSERT_TRUE(service_->RunDueTasks().ok());
  EXPECT_EQ(Records(StrCat("import/", key_id, "/")), 1u);
  now_ += 1;
  ASSERT_TRUE(service_->RunDueTasks().ok());
  EXPECT_EQ(Records(StrCat("import/", key_id, "/")), 0u);
}

TEST_F(ImportedKeyMaterialTest, ImportedSymmetricMaterialEnablesTheKeyAndSurvivesARestart) {
  std::string key_id = NewExternalKey();
  auto imported = Import(key_id, material_);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->key_arn, KeyArn(key_id));
  EXPECT_EQ(imported->key_material_id.size(), 64u);
  KeyMetadata m = Describe(key_id);
  EXPECT_EQ(m.state, KeyState::kEnabled);
  EXPECT_EQ(m.expiration_model, kNoExpiry);
  EXPECT_FALSE(m.valid_to.has_value());
  EXPECT_EQ(m.key_material_id, imported->key_material_id);
  auto encrypted = EncryptUnder(key_id);
  ASSERT_TRUE(encrypted.ok()) << encrypted.status();

  auto restarted = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  auto decrypted = restarted->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "secret");
  auto described = restarted->DescribeKey(call_, key_id, {});
  EXPECT_EQ(described->key_material_id, imported->key_material_id);
}

TEST_F(ImportedKeyMaterialTest, TheSameMaterialImportsIntoEachKeyWithItsOwnMaterialId) {
  std::string first = NewExternalKey();
  std::string second = NewExternalKey();
  auto a = Import(first, material_);
  auto b = Import(second, material_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key_material_id, b->key_material_id);
}

TEST_F(ImportedKeyMaterialTest, ReimportOfOtherMaterialIsIncorrectKeyMaterial) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto other = Import(key_id, std::string(32, 'o'));
  EXPECT_EQ(TypeOf(other.status()), ErrorType::kIncorrectKeyMaterial);
  ASSERT_TRUE(service_->DeleteImportedKeyMaterial(call_, key_id, "").ok());
  EXPECT_EQ(TypeOf(Import(key_id, std::string(32, 'o')).status()),
            ErrorType::kIncorrectKeyMaterial);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
  EXPECT_TRUE(Import(key_id, material_).ok());
}

TEST_F(ImportedKeyMaterialTest, ImportTypeAndKeyMaterialIdFollowAws) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id);
  ImportKeyMaterialRequest request = RequestFor(key_id, parameters, material_);
  request.import_type = "EXISTING_KEY_MATERIAL";
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()),
            ErrorType::kIncorrectKeyMaterial);
  request.import_type = "NEW_KEY_MATERIAL";
  request.key_material_id = std::string(64, 'a');
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()), ErrorType::kValidation);
  request.key_material_id.reset();
  auto imported = service_->ImportKeyMaterial(call_, request);
  ASSERT_TRUE(imported.ok()) << imported.status();
  // Again: the same material is EXISTING, and its id must match.
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()),
            ErrorType::kIncorrectKeyMaterial);
  request.import_type = "EXISTING_KEY_MATERIAL";
  request.key_material_id = std::string(64, 'a');
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()),
            ErrorType::kIncorrectKeyMaterial);
  request.key_material_id = imported->key_material_id;
  EXPECT_TRUE(service_->ImportKeyMaterial(call_, request).ok());
  // Without ImportType, material the key has had is EXISTING_KEY_MATERIAL: other material is not.
  request.import_type.reset();
  request.key_material_id.reset();
  request.encrypted_key_material = Wrap(parameters, std::string(32, 'n'));
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()),
            ErrorType::kIncorrectKeyMaterial);
  // New material for on-demand rotation (issue 13) must say so.
  request.import_type = "NEW_KEY_MATERIAL";
  auto added = service_->ImportKeyMaterial(call_, request);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_NE(added->key_material_id, imported->key_material_id);
}

TEST_F(ImportedKeyMaterialTest, ImportTypeIsOnlyForSymmetricKeys) {
  std::string hmac = NewExternalKey("HMAC_256", "GENERATE_VERIFY_MAC");
  ImportParameters parameters = Parameters(hmac);
  ImportKeyMaterialRequest request = RequestFor(hmac, parameters, material_);
  request.import_type = "NEW_KEY_MATERIAL";
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(call_, request).status()), ErrorType::kValidation);
}

TEST_F(ImportedKeyMaterialTest, ATokenOfAnotherKeyIsInvalid) {
  std::string key_id = NewExternalKey();
  std::string other = NewExternalKey();
  ImportParameters parameters = Parameters(other);
  auto imported = ImportWith(key_id, parameters, Wrap(parameters, material_));
  EXPECT_EQ(TypeOf(imported.status()), ErrorType::kInvalidImportToken);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
}

TEST_F(ImportedKeyMaterialTest, EveryFlippedByteOfATokenIsInvalid) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id);
  std::string wrapped = Wrap(parameters, material_);
  for (size_t i = 0; i < parameters.import_token.size(); ++i) {
    ImportParameters changed = parameters;
    changed.import_token[i] ^= 0x01;
    auto imported = ImportWith(key_id, changed, wrapped);
    ErrorType type = TypeOf(imported.status());
    // A changed end date may read as already past (expired) before the token is opened.
    ASSERT_TRUE(type == ErrorType::kInvalidImportToken || type == ErrorType::kExpiredImportToken)
        << "byte " << i << ": " << imported.status();
  }
  EXPECT_EQ(TypeOf(ImportWith(key_id, {.import_token = "short"}, wrapped).status()),
            ErrorType::kInvalidImportToken);
  EXPECT_TRUE(ImportWith(key_id, parameters, wrapped).ok());
}

TEST_F(ImportedKeyMaterialTest, AnExpiredTokenIsRefusedBeforeAndAfterItsWrappingKeyIsGone) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id);
  std::string wrapped = Wrap(parameters, material_);
  now_ += kDay;
  EXPECT_EQ(TypeOf(ImportWith(key_id, parameters, wrapped).status()),
            ErrorType::kExpiredImportToken);
  ASSERT_TRUE(service_->RunDueTasks().ok());
  EXPECT_EQ(TypeOf(ImportWith(key_id, parameters, wrapped).status()),
            ErrorType::kExpiredImportToken);
}

TEST_F(ImportedKeyMaterialTest, MaterialWrappedWithAnotherAlgorithmIsInvalidCiphertext) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id, "RSAES_OAEP_SHA_256");
  auto imported = ImportWith(key_id, parameters, Wrap(parameters, material_, "RSAES_OAEP_SHA_1"));
  EXPECT_EQ(TypeOf(imported.status()), ErrorType::kInvalidCiphertext);
}

TEST_F(ImportedKeyMaterialTest, MaterialOfTheWrongLengthIsIncorrectKeyMaterial) {
  std::string key_id = NewExternalKey();
  EXPECT_EQ(TypeOf(Import(key_id, std::string(16, 'k')).status()),
            ErrorType::kIncorrectKeyMaterial);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
}

TEST_F(ImportedKeyMaterialTest, ValidToFollowsTheExpirationModel) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id);
  std::string wrapped = Wrap(parameters, material_);
  auto import = [&](std::string model, std::optional<int64_t> valid_to) {
    ImportKeyMaterialRequest request{.key_id = key_id,
                                     .import_token = parameters.import_token,
                                     .encrypted_key_material = wrapped,
                                     .expiration_model = std::move(model),
                                     .valid_to = valid_to};
    return TypeOf(service_->ImportKeyMaterial(call_, request).status());
  };
  int64_t now = now_;
  EXPECT_EQ(import("KEY_MATERIAL_EXPIRES", std::nullopt), ErrorType::kValidation);
  EXPECT_EQ(import("KEY_MATERIAL_EXPIRES", now), ErrorType::kValidation);
  EXPECT_EQ(import("KEY_MATERIAL_EXPIRES", now + 365 * kDay + 1), ErrorType::kValidation);
  EXPECT_EQ(import(std::string(kNoExpiry), now + kDay), ErrorType::kValidation);
  EXPECT_EQ(import("KEY_MATERIAL_EXPIRES", now + 365 * kDay), ErrorType::kNone);
  KeyMetadata m = Describe(key_id);
  EXPECT_EQ(m.expiration_model, "KEY_MATERIAL_EXPIRES");
  EXPECT_EQ(m.valid_to, now + 365 * kDay);
  // Reimporting changes the expiry.
  EXPECT_EQ(import(std::string(kNoExpiry), std::nullopt), ErrorType::kNone);
  EXPECT_FALSE(Describe(key_id).valid_to.has_value());
}

TEST_F(ImportedKeyMaterialTest, DeletedMaterialIsDestroyedAndTheSameMaterialBringsBlobsBack) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto encrypted = EncryptUnder(key_id);
  ASSERT_TRUE(encrypted.ok());
  auto deleted = service_->DeleteImportedKeyMaterial(call_, key_id, "");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->key_arn, KeyArn(key_id));
  EXPECT_EQ(deleted->key_material_id, Describe(key_id).key_material_id);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 0u);
  auto refused = service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kKmsInvalidState);
  // A restart does not bring it back either.
  auto restarted = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_EQ(TypeOf(restarted->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kKmsInvalidState);

  ASSERT_TRUE(Import(key_id, material_).ok());
  auto decrypted = service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "secret");
}

TEST_F(ImportedKeyMaterialTest, DeleteNamesOnlyTheKeysMaterialAndOnlyExternalKeys) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  EXPECT_EQ(
      TypeOf(service_->DeleteImportedKeyMaterial(call_, key_id, std::string(64, 'b')).status()),
      ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->DeleteImportedKeyMaterial(call_, NewKey(), "").status()),
            ErrorType::kUnsupportedOperation);
}

TEST_F(ImportedKeyMaterialTest, DeletingMaterialOfAKeyPendingDeletionKeepsItsState) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  ASSERT_TRUE(service_->DeleteImportedKeyMaterial(call_, key_id, "").ok());
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingDeletion);
  ASSERT_TRUE(service_->CancelKeyDeletion(call_, key_id).ok());
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
}

TEST_F(ImportedKeyMaterialTest, ExpiredMaterialIsDeletedByTheSchedulerAndComesBackByReimport) {
  std::string key_id = NewExternalKey();
  int64_t valid_to = now_ + 3600;
  ASSERT_TRUE(Import(key_id, material_, valid_to).ok());
  auto encrypted = EncryptUnder(key_id);
  ASSERT_TRUE(encrypted.ok());
  now_ = valid_to - 1;
  auto early = service_->RunDueTasks();
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->key_materials_expired, 0);
  now_ = valid_to;
  auto report = service_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->key_materials_expired, 1);
  KeyMetadata m = Describe(key_id);
  EXPECT_EQ(m.state, KeyState::kPendingImport);
  EXPECT_FALSE(m.valid_to.has_value());
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 0u);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kKmsInvalidState);
  ASSERT_TRUE(Import(key_id, material_).ok());
  EXPECT_TRUE(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {}).ok());
}

TEST_F(ImportedKeyMaterialTest, ReimportWithANewValidToReplacesTheExpiry) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_, now_ + 3600).ok());
  ASSERT_TRUE(Import(key_id, material_, now_ + 7200).ok());
  now_ += 3600;
  ASSERT_EQ(service_->RunDueTasks()->key_materials_expired, 0);
  EXPECT_EQ(Describe(key_id).state, KeyState::kEnabled);
  now_ += 3600;
  ASSERT_EQ(service_->RunDueTasks()->key_materials_expired, 1);
}

TEST_F(ImportedKeyMaterialTest, ImportedHmacKeyOfAnyAllowedLengthMacs) {
  std::string key_id = NewExternalKey("HMAC_256", "GENERATE_VERIFY_MAC");
  std::string material(64, 'h');
  auto imported = Import(key_id, material);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_TRUE(imported->key_material_id.empty());  // symmetric encryption keys only
  auto mac =
      service_->GenerateMac(call_, key_id, SecretBytes::FromString("message"), "HMAC_SHA_256", {});
  ASSERT_TRUE(mac.ok()) << mac.status();
  auto expected =
      crypto::Hmac(*FindMacAlgorithm("HMAC_SHA_256"), SecretBytes::FromString(material), "message");
  EXPECT_EQ(mac->mac, *expected);
  auto restarted = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_TRUE(restarted
                  ->VerifyMac(call_, key_id, SecretBytes::FromString("message"), mac->mac,
                              "HMAC_SHA_256", {})
                  .ok());
}

TEST_F(ImportedKeyMaterialTest, ImportedEccKeySignsAsItsPrivateKeyAndOnlyItCanComeBack) {
  const KeySpecInfo& spec = *FindKeySpec("ECC_NIST_P256");
  auto material = crypto::GenerateKeyMaterial(spec);
  ASSERT_TRUE(material.ok());
  auto own = crypto::PrivateKey::FromPkcs8(*material, spec);
  ASSERT_TRUE(own.ok());
  std::string key_id = NewExternalKey("ECC_NIST_P256", "SIGN_VERIFY");
  ImportParameters parameters = Parameters(key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048");
  auto imported = ImportWith(key_id, parameters,
                             Wrap(parameters, material->view(), "RSA_AES_KEY_WRAP_SHA_256"));
  ASSERT_TRUE(imported.ok()) << imported.status();
  auto public_key = service_->GetPublicKey(call_, key_id, {});
  ASSERT_TRUE(public_key.ok());
  EXPECT_EQ(public_key->public_key, (*own)->PublicKeyDer());
  const SigningAlgorithmInfo& ecdsa = *FindSigningAlgorithm("ECDSA_SHA_256");
  auto signature = (*own)->Sign(ecdsa, "message", false);
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(service_
                  ->Verify(call_, key_id, SecretBytes::FromString("message"), MessageType::kRaw,
                           *signature, "ECDSA_SHA_256", {})
                  .ok());
  // After deletion only the same key pair imports again.
  ASSERT_TRUE(service_->DeleteImportedKeyMaterial(call_, key_id, "").ok());
  auto other = crypto::GenerateKeyMaterial(spec);
  ImportParameters again = Parameters(key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048");
  EXPECT_EQ(TypeOf(ImportWith(key_id, again, Wrap(again, other->view(), "RSA_AES_KEY_WRAP_SHA_256"))
                       .status()),
            ErrorType::kIncorrectKeyMaterial);
  EXPECT_TRUE(
      ImportWith(key_id, again, Wrap(again, material->view(), "RSA_AES_KEY_WRAP_SHA_256")).ok());
}

TEST_F(ImportedKeyMaterialTest, AnRsaKeyOfAnotherSizeIsIncorrectKeyMaterial) {
  auto material = crypto::GenerateKeyMaterial(*FindKeySpec("RSA_2048"));
  std::string key_id = NewExternalKey("RSA_3072", "SIGN_VERIFY");
  ImportParameters parameters = Parameters(key_id, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048");
  EXPECT_EQ(TypeOf(ImportWith(key_id, parameters,
                              Wrap(parameters, material->view(), "RSA_AES_KEY_WRAP_SHA_1"))
                       .status()),
            ErrorType::kIncorrectKeyMaterial);
}

TEST_F(ImportedKeyMaterialTest, AutomaticRotationIsRefusedForImportedKeys) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto enabled = service_->EnableKeyRotation(call_, key_id, 365);
  EXPECT_EQ(TypeOf(enabled), ErrorType::kUnsupportedOperation);
  EXPECT_EQ(enabled.message(),
            StrCat(KeyArn(key_id), " origin is EXTERNAL which is not valid for this operation."));
  EXPECT_EQ(TypeOf(service_->DisableKeyRotation(call_, key_id)), ErrorType::kUnsupportedOperation);
  auto status = service_->GetKeyRotationStatus(call_, key_id);
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->enabled);
}

// --- Several materials of a symmetric imported key: on-demand rotation (issue 13) ---

TEST_F(ImportedKeyMaterialTest, OnDemandRotationNeedsMaterialPendingRotation) {
  std::string key_id = NewExternalKey();
  auto early = service_->RotateKeyOnDemand(call_, key_id);
  EXPECT_EQ(TypeOf(early.status()), ErrorType::kKmsInvalidState);
  EXPECT_EQ(early.status().message(), StrCat(KeyArn(key_id), " is pending import."));
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto refused = service_->RotateKeyOnDemand(call_, key_id);
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kKmsInvalidState);
  EXPECT_EQ(refused.status().message(),
            StrCat("No available key material pending rotation for the key: ", KeyArn(key_id),
                   "."));
}

TEST_F(ImportedKeyMaterialTest, NewMaterialWaitsPendingRotationUntilRotateKeyOnDemand) {
  std::string key_id = NewExternalKey();
  auto first = Import(key_id, material_);
  ASSERT_TRUE(first.ok());
  auto old_blob = EncryptUnder(key_id);
  ASSERT_TRUE(old_blob.ok());
  ImportParameters parameters = Parameters(key_id);
  ImportKeyMaterialRequest request = RequestFor(key_id, parameters, std::string(32, 'n'));
  request.import_type = "NEW_KEY_MATERIAL";
  request.key_material_description = "second material";
  auto second = service_->ImportKeyMaterial(call_, request);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_NE(second->key_material_id, first->key_material_id);
  // Pending: the key still encrypts under its current material.
  EXPECT_EQ(Describe(key_id).key_material_id, first->key_material_id);
  auto pending_blob = EncryptUnder(key_id);
  ASSERT_TRUE(pending_blob.ok());
  EXPECT_EQ(service_->Decrypt(call_, pending_blob->ciphertext_blob, {}, "", {})->key_material_id,
            first->key_material_id);
  EXPECT_TRUE(service_->ListKeyRotations(call_, key_id, 10, "")->rotations.empty());
  auto listed = service_->ListKeyRotations(call_, key_id, 10, "", /*include_all=*/true);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->rotations.size(), 2u);
  EXPECT_EQ(listed->rotations[0].key_material_id, first->key_material_id);
  EXPECT_EQ(listed->rotations[0].key_material_state, "CURRENT");
  EXPECT_EQ(listed->rotations[0].import_state, "IMPORTED");
  EXPECT_FALSE(listed->rotations[0].date.has_value());
  EXPECT_EQ(listed->rotations[1].key_material_id, second->key_material_id);
  EXPECT_EQ(listed->rotations[1].key_material_state, "PENDING_ROTATION");
  EXPECT_EQ(listed->rotations[1].description, "second material");
  EXPECT_FALSE(listed->rotations[1].type.has_value());

  auto rotated = service_->RotateKeyOnDemand(call_, key_id);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(Describe(key_id).key_material_id, second->key_material_id);
  auto new_blob = EncryptUnder(key_id);
  ASSERT_TRUE(new_blob.ok());
  auto opened = service_->Decrypt(call_, new_blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->key_material_id, second->key_material_id);
  // Old blobs open with the material they were made under.
  auto old_opened = service_->Decrypt(call_, old_blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(old_opened.ok()) << old_opened.status();
  EXPECT_EQ(old_opened->plaintext.view(), "secret");
  EXPECT_EQ(old_opened->key_material_id, first->key_material_id);
  auto moved = service_->ReEncrypt(call_, old_blob->ciphertext_blob, {}, "", key_id, {}, {});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->source_key_material_id, first->key_material_id);
  EXPECT_EQ(moved->destination_key_material_id, second->key_material_id);

  // The rotation is listed; so is every material, after a restart too.
  auto restarted = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  auto rotations = restarted->ListKeyRotations(call_, key_id, 10, "");
  ASSERT_TRUE(rotations.ok());
  ASSERT_EQ(rotations->rotations.size(), 1u);
  EXPECT_EQ(rotations->rotations[0].key_material_id, second->key_material_id);
  EXPECT_EQ(rotations->rotations[0].type, RotationType::kOnDemand);
  EXPECT_EQ(rotations->rotations[0].date, now_);
  EXPECT_EQ(rotations->rotations[0].key_material_state, "CURRENT");
  auto all = restarted->ListKeyRotations(call_, key_id, 10, "", /*include_all=*/true);
  ASSERT_EQ(all->rotations.size(), 2u);
  EXPECT_EQ(all->rotations[0].key_material_state, "NON_CURRENT");
  EXPECT_TRUE(restarted->Decrypt(call_, old_blob->ciphertext_blob, {}, "", {}).ok());
}

TEST_F(ImportedKeyMaterialTest, OnlyOneNewMaterialWaitsForRotation) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto pending = ImportNew(key_id, std::string(32, 'n'));
  ASSERT_TRUE(pending.ok()) << pending.status();
  auto other = ImportNew(key_id, std::string(32, 'o'));
  EXPECT_EQ(TypeOf(other.status()), ErrorType::kKmsInvalidState);
  EXPECT_TRUE(std::string(other.status().message()).ends_with(
      StrCat(") cannot be imported into KMS key ", key_id, ", because another key material (id: ",
             pending->key_material_id, ") is pending rotation.")))
      << other.status();
  // Material the key already has is not new.
  EXPECT_EQ(TypeOf(ImportNew(key_id, material_).status()), ErrorType::kIncorrectKeyMaterial);
}

TEST_F(ImportedKeyMaterialTest, DeletingMaterialPendingRotationForgetsItAndKeepsTheKeyEnabled) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  auto pending = ImportNew(key_id, std::string(32, 'n'));
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 2u);
  auto deleted = service_->DeleteImportedKeyMaterial(call_, key_id, pending->key_material_id);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->key_material_id, pending->key_material_id);
  EXPECT_EQ(Describe(key_id).state, KeyState::kEnabled);
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 1u);
  EXPECT_EQ(service_->ListKeyRotations(call_, key_id, 10, "", true)->rotations.size(), 1u);
  // Other new material may take its place.
  EXPECT_TRUE(ImportNew(key_id, std::string(32, 'o')).ok());
}

TEST_F(ImportedKeyMaterialTest, AKeyMissingAnyOfItsMaterialsIsPendingImportUntilItComesBack) {
  std::string key_id = NewExternalKey();
  auto first = Import(key_id, material_);
  ASSERT_TRUE(first.ok());
  auto old_blob = EncryptUnder(key_id);
  auto second = ImportNew(key_id, std::string(32, 'n'));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(service_->RotateKeyOnDemand(call_, key_id).ok());
  auto new_blob = EncryptUnder(key_id);
  ASSERT_TRUE(old_blob.ok() && new_blob.ok());
  // The material that is no longer current: the key cannot be used at all without it.
  auto deleted = service_->DeleteImportedKeyMaterial(call_, key_id, first->key_material_id);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
  EXPECT_EQ(Describe(key_id).key_material_id, second->key_material_id);
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 1u);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, new_blob->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kKmsInvalidState);
  auto all = service_->ListKeyRotations(call_, key_id, 10, "", true);
  ASSERT_EQ(all->rotations.size(), 2u);
  EXPECT_EQ(all->rotations[0].import_state, "PENDING_IMPORT");
  EXPECT_EQ(all->rotations[1].import_state, "IMPORTED");
  // Reimported by its id: the key is whole again and old blobs open.
  ImportParameters parameters = Parameters(key_id);
  ImportKeyMaterialRequest request = RequestFor(key_id, parameters, material_);
  request.import_type = "EXISTING_KEY_MATERIAL";
  request.key_material_id = first->key_material_id;
  auto back = service_->ImportKeyMaterial(call_, request);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Describe(key_id).state, KeyState::kEnabled);
  EXPECT_EQ(Describe(key_id).key_material_id, second->key_material_id);
  EXPECT_EQ(service_->Decrypt(call_, old_blob->ciphertext_blob, {}, "", {})->plaintext.view(),
            "secret");
  // Deleting without an id deletes the current material.
  auto current = service_->DeleteImportedKeyMaterial(call_, key_id, "");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->key_material_id, second->key_material_id);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
}

TEST_F(ImportedKeyMaterialTest, EachMaterialExpiresOnItsOwn) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_, now_ + 3600).ok());
  auto pending = ImportNew(key_id, std::string(32, 'n'), now_ + 7200);
  ASSERT_TRUE(pending.ok()) << pending.status();
  now_ += 3600;
  auto report = service_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->key_materials_expired, 1);
  EXPECT_EQ(Describe(key_id).state, KeyState::kPendingImport);
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 1u);
  now_ += 3600;
  EXPECT_EQ(service_->RunDueTasks()->key_materials_expired, 1);
  // The pending material is forgotten; the first waits for its reimport.
  auto all = service_->ListKeyRotations(call_, key_id, 10, "", true);
  ASSERT_EQ(all->rotations.size(), 1u);
  EXPECT_EQ(all->rotations[0].import_state, "PENDING_IMPORT");
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 0u);
  auto schedule = backend_->List("due/", "", 0);
  ASSERT_TRUE(schedule.ok());
  for (const StorageEntry& due : *schedule) {
    EXPECT_EQ(due.key.find("expire-material"), std::string::npos) << due.key;
  }
}

TEST_F(ImportedKeyMaterialTest, MaterialPendingRotationOpensNoBlob) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  std::string pending_material(32, 'n');
  ASSERT_TRUE(ImportNew(key_id, pending_material).ok());
  auto blob = EncryptUnder(key_id);
  ASSERT_TRUE(blob.ok());
  // A blob made outside kmsd under the pending material (its holder can make one).
  BlobHeader header = *ParseBlobHeader(blob->ciphertext_blob);
  header.backing_key_version += 1;
  auto forged = SealBlob(header, SecretBytes::FromString(pending_material), {}, "forged");
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, *forged, {}, "", {}).status()),
            ErrorType::kInvalidCiphertext);
  ASSERT_TRUE(service_->RotateKeyOnDemand(call_, key_id).ok());
  EXPECT_EQ(service_->Decrypt(call_, *forged, {}, "", {})->plaintext.view(), "forged");
}

TEST_F(ImportedKeyMaterialTest, GeneratedSymmetricMaterialHasKeyMaterialIdsToo) {
  std::string key_id = NewKey();
  std::string first = Describe(key_id).key_material_id;
  EXPECT_EQ(first.size(), 64u);
  auto blob = EncryptUnder(key_id);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(service_->RotateKeyOnDemand(call_, key_id).ok());
  std::string second = Describe(key_id).key_material_id;
  EXPECT_EQ(second.size(), 64u);
  EXPECT_NE(first, second);
  EXPECT_EQ(service_->Decrypt(call_, blob->ciphertext_blob, {}, "", {})->key_material_id, first);
  auto data_key = service_->GenerateDataKey(call_, key_id, 32, {}, true, {});
  ASSERT_TRUE(data_key.ok());
  EXPECT_EQ(data_key->key_material_id, second);
  auto all = service_->ListKeyRotations(call_, key_id, 10, "", true);
  ASSERT_EQ(all->rotations.size(), 2u);
  EXPECT_EQ(all->rotations[0].key_material_id, first);
  EXPECT_EQ(all->rotations[0].key_material_state, "NON_CURRENT");
  EXPECT_FALSE(all->rotations[0].imported_material);
  EXPECT_EQ(all->rotations[1].key_material_id, second);
  EXPECT_EQ(all->rotations[1].key_material_state, "CURRENT");
  // Not a symmetric key: none.
  auto hmac = service_->CreateKey(
      call_, {.key_usage = "GENERATE_VERIFY_MAC", .key_spec = "HMAC_256"});
  ASSERT_TRUE(hmac.ok());
  EXPECT_TRUE(Describe(hmac->key_id).key_material_id.empty());
}

TEST_F(ImportedKeyMaterialTest, ImportedKeysRotateOnDemandWithinTheQuota) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  ImportParameters parameters = Parameters(key_id);  // a token serves until it expires
  auto import_new = [&](char fill) {
    ImportKeyMaterialRequest request = RequestFor(key_id, parameters, std::string(32, fill));
    request.import_type = "NEW_KEY_MATERIAL";
    return service_->ImportKeyMaterial(call_, request);
  };
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(import_new(static_cast<char>('A' + i)).ok());
    ASSERT_TRUE(service_->RotateKeyOnDemand(call_, key_id).ok()) << i;
  }
  ASSERT_TRUE(import_new('z').ok());
  EXPECT_EQ(TypeOf(service_->RotateKeyOnDemand(call_, key_id).status()),
            ErrorType::kLimitExceeded);
}

TEST_F(ImportedKeyMaterialTest, ImportIsRefusedForADisabledOrDeletingKey) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_).ok());
  ASSERT_TRUE(service_->DisableKey(call_, key_id).ok());
  EXPECT_EQ(TypeOf(Import(key_id, material_).status()), ErrorType::kKmsInvalidState);
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  EXPECT_EQ(TypeOf(service_->GetParametersForImport(call_, key_id, "RSAES_OAEP_SHA_256", "RSA_2048")
                       .status()),
            ErrorType::kKmsInvalidState);
}

TEST_F(ImportedKeyMaterialTest, DestroyingTheKeyRemovesItsWrappingKeysAndMaterial) {
  std::string key_id = NewExternalKey();
  ASSERT_TRUE(Import(key_id, material_, now_ + 30 * kDay).ok());
  Parameters(key_id);
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  now_ += 7 * kDay;
  auto report = service_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->keys_deleted, 1);
  EXPECT_EQ(Records(StrCat("import/", key_id, "/")), 0u);
  EXPECT_EQ(Records(StrCat("material/", key_id, "/")), 0u);
  now_ += 30 * kDay;
  EXPECT_TRUE(service_->RunDueTasks().ok());  // the stale expiry finds no key
  EXPECT_EQ(Records("due/"), 0u);
}

TEST_F(ImportedKeyMaterialTest, ImportRequiresItsOwnPermission) {
  std::string key_id = NewExternalKey();
  ImportParameters parameters = Parameters(key_id);
  ImportKeyMaterialRequest request = RequestFor(key_id, parameters, material_);
  CallContext bob =
      testing::AsUser("bob", {testing::Allow(R"("kms:GetParametersForImport")", "*")});
  EXPECT_EQ(TypeOf(service_->ImportKeyMaterial(bob, request).status()), ErrorType::kAccessDenied);
  EXPECT_TRUE(service_->GetParametersForImport(bob, key_id, "RSAES_OAEP_SHA_1", "RSA_2048").ok());
  EXPECT_EQ(TypeOf(service_->DeleteImportedKeyMaterial(bob, key_id, "").status()),
            ErrorType::kAccessDenied);
}

}  // namespace
}  // namespace kmsd
