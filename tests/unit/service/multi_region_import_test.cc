// Multi-Region keys of Origin EXTERNAL (issue 13): a replica waits in PendingImport for its
// primary's material, takes no other, and a rotation to new material waits until every replica
// has imported it (PENDING_MULTI_REGION_IMPORT_AND_ROTATION).
#include <gtest/gtest.h>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/key_import.h"
#include "kmsd/regions.h"
#include "unit/service/service_test_util.h"

namespace kmsd::testing {
namespace {

constexpr std::string_view kPrimaryRegion = "us-east-1";
constexpr std::string_view kReplicaRegion = "eu-west-1";

class MultiRegionImportTest : public KeystoreFixture {
 protected:
  void SetUp() override {
    KeystoreFixture::SetUp();
    if (HasFatalFailure()) return;
    auto parsed = ParseRegionList("us-east-1,eu-west-1");
    ASSERT_TRUE(parsed.ok());
    auto made = NewKmsRegions(*parsed, {}, keystore_.get(), &clock_);
    ASSERT_TRUE(made.ok()) << made.status();
    regions_ = std::move(*made);
  }

  KmsService* In(std::string_view region) {
    auto service = regions_->ForRegion(region);
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? *service : nullptr;
  }

  // A multi-Region primary of Origin EXTERNAL with its material (AWS replicates only a usable
  // primary), replicated into the other region.
  std::string NewReplicatedKey(std::string_view material, std::string spec = "SYMMETRIC_DEFAULT",
                               std::string usage = "ENCRYPT_DECRYPT") {
    auto key = In(kPrimaryRegion)
                   ->CreateKey(call_, {.key_usage = std::move(usage),
                                       .key_spec = std::move(spec),
                                       .origin = "EXTERNAL",
                                       .multi_region = true});
    EXPECT_TRUE(key.ok()) << key.status();
    if (!key.ok()) return "";
    auto pending = In(kPrimaryRegion)
                       ->ReplicateKey(call_, {.key_id = key->key_id,
                                              .replica_region = std::string(kReplicaRegion)});
    EXPECT_EQ(TypeOf(pending.status()), ErrorType::kKmsInvalidState);  // pending import
    auto imported = Import(kPrimaryRegion, key->key_id, material);
    EXPECT_TRUE(imported.ok()) << imported.status();
    auto replica = In(kPrimaryRegion)
                       ->ReplicateKey(call_, {.key_id = key->key_id,
                                              .replica_region = std::string(kReplicaRegion)});
    EXPECT_TRUE(replica.ok()) << replica.status();
    if (replica.ok()) {
      EXPECT_EQ(replica->replica_key_metadata.state, KeyState::kPendingImport);
    }
    return key->key_id;
  }

  absl::StatusOr<KeyMaterialResult> Import(std::string_view region, const std::string& key_id,
                                           std::string_view material,
                                           std::optional<std::string> import_type = {},
                                           std::optional<int64_t> valid_to = {}) {
    auto parameters =
        In(region)->GetParametersForImport(call_, key_id, "RSAES_OAEP_SHA_256", "RSA_2048");
    if (!parameters.ok()) return parameters.status();
    auto wrapped = crypto::RsaOaepEncrypt(parameters->public_key, "SHA256", material);
    if (!wrapped.ok()) return wrapped.status();
    ImportKeyMaterialRequest request;
    request.key_id = key_id;
    request.import_token = parameters->import_token;
    request.encrypted_key_material = *wrapped;
    request.expiration_model = valid_to ? "KEY_MATERIAL_EXPIRES" : "KEY_MATERIAL_DOES_NOT_EXPIRE";
    request.valid_to = valid_to;
    request.import_type = std::move(import_type);
    return In(region)->ImportKeyMaterial(call_, request);
  }

  KeyState StateIn(std::string_view region, const std::string& key_id) {
    auto m = In(region)->DescribeKey(call_, key_id, {});
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? m->state : KeyState::kDisabled;
  }

  std::vector<std::string> MaterialStates(std::string_view region, const std::string& key_id) {
    auto listed = In(region)->ListKeyRotations(call_, key_id, 100, "", /*include_all=*/true);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<std::string> states;
    if (listed.ok()) {
      for (const RotationListEntry& row : listed->rotations) {
        states.push_back(StrCat(row.key_material_state, "/", row.import_state));
      }
    }
    return states;
  }

  std::atomic<int64_t> now_{1700000000};
  FixedClock clock_{&now_};
  std::unique_ptr<KmsRegions> regions_;
  CallContext call_{std::make_shared<const Principal>(RootPrincipal(kAccount, "AKIAROOT"))};
  const std::string material_ = std::string(32, 'k');
};

TEST_F(MultiRegionImportTest, AReplicaImportsItsPrimarysMaterialAndDecryptsItsBlobs) {
  std::string key_id = NewReplicatedKey(material_);
  auto imported = In(kPrimaryRegion)->DescribeKey(call_, key_id, {});
  ASSERT_TRUE(imported.ok());
  // Nothing new into a replica, and no other material.
  EXPECT_EQ(TypeOf(Import(kReplicaRegion, key_id, material_, "NEW_KEY_MATERIAL").status()),
            ErrorType::kUnsupportedOperation);
  EXPECT_EQ(TypeOf(Import(kReplicaRegion, key_id, std::string(32, 'o')).status()),
            ErrorType::kIncorrectKeyMaterial);
  EXPECT_EQ(StateIn(kReplicaRegion, key_id), KeyState::kPendingImport);
  auto replica = Import(kReplicaRegion, key_id, material_);
  ASSERT_TRUE(replica.ok()) << replica.status();
  EXPECT_EQ(replica->key_material_id, imported->key_material_id);
  EXPECT_EQ(StateIn(kReplicaRegion, key_id), KeyState::kEnabled);
  auto blob = In(kPrimaryRegion)->Encrypt(call_, key_id, SecretBytes::FromString("hi"), {}, {});
  ASSERT_TRUE(blob.ok());
  auto opened = In(kReplicaRegion)->Decrypt(call_, blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->plaintext.view(), "hi");
  EXPECT_EQ(opened->key_material_id, imported->key_material_id);
  // Each key's material is its own: deleting the replica's leaves the primary alone.
  ASSERT_TRUE(In(kReplicaRegion)->DeleteImportedKeyMaterial(call_, key_id, "").ok());
  EXPECT_EQ(StateIn(kReplicaRegion, key_id), KeyState::kPendingImport);
  EXPECT_EQ(StateIn(kPrimaryRegion, key_id), KeyState::kEnabled);
}

TEST_F(MultiRegionImportTest, RotationWaitsUntilEveryReplicaHasTheNewMaterial) {
  std::string key_id = NewReplicatedKey(material_);
  ASSERT_TRUE(Import(kReplicaRegion, key_id, material_).ok());
  auto old_blob =
      In(kPrimaryRegion)->Encrypt(call_, key_id, SecretBytes::FromString("old"), {}, {});
  ASSERT_TRUE(old_blob.ok());
  std::string next(32, 'n');
  EXPECT_EQ(TypeOf(Import(kReplicaRegion, key_id, next, "NEW_KEY_MATERIAL").status()),
            ErrorType::kUnsupportedOperation);
  auto added = Import(kPrimaryRegion, key_id, next, "NEW_KEY_MATERIAL");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(MaterialStates(kPrimaryRegion, key_id),
            (std::vector<std::string>{"CURRENT/IMPORTED",
                                      "PENDING_MULTI_REGION_IMPORT_AND_ROTATION/IMPORTED"}));
  EXPECT_EQ(TypeOf(In(kPrimaryRegion)->RotateKeyOnDemand(call_, key_id).status()),
            ErrorType::kKmsInvalidState);
  EXPECT_EQ(TypeOf(In(kReplicaRegion)->RotateKeyOnDemand(call_, key_id).status()),
            ErrorType::kUnsupportedOperation);
  // The replica keeps working while the new material waits for its import.
  EXPECT_EQ(StateIn(kReplicaRegion, key_id), KeyState::kEnabled);
  ASSERT_TRUE(Import(kReplicaRegion, key_id, next).ok());  // EXISTING_KEY_MATERIAL by default
  EXPECT_EQ(MaterialStates(kPrimaryRegion, key_id),
            (std::vector<std::string>{"CURRENT/IMPORTED", "PENDING_ROTATION/IMPORTED"}));
  ASSERT_TRUE(In(kPrimaryRegion)->RotateKeyOnDemand(call_, key_id).ok());
  EXPECT_EQ(MaterialStates(kReplicaRegion, key_id),
            (std::vector<std::string>{"NON_CURRENT/IMPORTED", "CURRENT/IMPORTED"}));
  auto replica_key = In(kReplicaRegion)->DescribeKey(call_, key_id, {});
  ASSERT_TRUE(replica_key.ok());
  EXPECT_EQ(replica_key->key_material_id, added->key_material_id);
  auto new_blob =
      In(kReplicaRegion)->Encrypt(call_, key_id, SecretBytes::FromString("new"), {}, {});
  ASSERT_TRUE(new_blob.ok());
  auto in_primary = In(kPrimaryRegion)->Decrypt(call_, new_blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(in_primary.ok()) << in_primary.status();
  EXPECT_EQ(in_primary->key_material_id, added->key_material_id);
  auto old_in_replica = In(kReplicaRegion)->Decrypt(call_, old_blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(old_in_replica.ok()) << old_in_replica.status();
  EXPECT_EQ(old_in_replica->plaintext.view(), "old");
}

TEST_F(MultiRegionImportTest, DeletingThePrimarysPendingMaterialDeletesItFromTheReplicas) {
  std::string key_id = NewReplicatedKey(material_);
  ASSERT_TRUE(Import(kReplicaRegion, key_id, material_).ok());
  std::string next(32, 'n');
  auto added = Import(kPrimaryRegion, key_id, next, "NEW_KEY_MATERIAL");
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(Import(kReplicaRegion, key_id, next).ok());
  ASSERT_TRUE(
      In(kPrimaryRegion)->DeleteImportedKeyMaterial(call_, key_id, added->key_material_id).ok());
  EXPECT_EQ(MaterialStates(kReplicaRegion, key_id),
            (std::vector<std::string>{"CURRENT/IMPORTED"}));
  EXPECT_EQ(StateIn(kReplicaRegion, key_id), KeyState::kEnabled);
  EXPECT_EQ(backend_->List(StrCat("region/eu-west-1/material/", key_id, "/"), "", 0)->size(),
            1u);
  // Forgotten everywhere: the same material is not the replica's to import any more.
  EXPECT_EQ(TypeOf(Import(kReplicaRegion, key_id, next).status()),
            ErrorType::kIncorrectKeyMaterial);
}

TEST_F(MultiRegionImportTest, ThePrimarysExpiredPendingMaterialLeavesTheReplicasToo) {
  std::string key_id = NewReplicatedKey(material_);
  ASSERT_TRUE(Import(kReplicaRegion, key_id, material_).ok());
  std::string next(32, 'n');
  ASSERT_TRUE(Import(kPrimaryRegion, key_id, next, "NEW_KEY_MATERIAL", now_ + 3600).ok());
  ASSERT_TRUE(Import(kReplicaRegion, key_id, next).ok());  // the replica's never expires
  now_ += 3600;
  auto report = regions_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->key_materials_expired, 1);
  EXPECT_EQ(MaterialStates(kPrimaryRegion, key_id),
            (std::vector<std::string>{"CURRENT/IMPORTED"}));
  EXPECT_EQ(MaterialStates(kReplicaRegion, key_id),
            (std::vector<std::string>{"CURRENT/IMPORTED"}));
  EXPECT_EQ(backend_->List(StrCat("region/eu-west-1/material/", key_id, "/"), "", 0)->size(),
            1u);
}

TEST_F(MultiRegionImportTest, AnAsymmetricReplicaTakesOnlyItsPrimarysKeyPair) {
  std::string hmac_key(32, 'h');
  std::string key_id = NewReplicatedKey(hmac_key, "HMAC_256", "GENERATE_VERIFY_MAC");
  EXPECT_EQ(TypeOf(Import(kReplicaRegion, key_id, std::string(32, 'x')).status()),
            ErrorType::kIncorrectKeyMaterial);
  ASSERT_TRUE(Import(kReplicaRegion, key_id, hmac_key).ok());
  auto mac = In(kPrimaryRegion)
                 ->GenerateMac(call_, key_id, SecretBytes::FromString("m"), "HMAC_SHA_256", {});
  ASSERT_TRUE(mac.ok()) << mac.status();
  auto verified = In(kReplicaRegion)
                      ->VerifyMac(call_, key_id, SecretBytes::FromString("m"), mac->mac,
                                  "HMAC_SHA_256", {});
  EXPECT_TRUE(verified.ok()) << verified.status();
}

}  // namespace
}  // namespace kmsd::testing
