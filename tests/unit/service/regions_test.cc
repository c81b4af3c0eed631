// Several regions in one kmsd and multi-Region keys (issue 13): the region list, each region's
// namespace over one keystore, the default region's unchanged record ids, and multi-Region keys.
#include "kmsd/regions.h"

#include "kmsd/uuid.h"
#include "unit/service/service_test_util.h"

namespace kmsd::testing {
namespace {

TEST(ParseRegionList, FirstIsTheDefault) {
  auto list = ParseRegionList("eu-west-1, us-east-1");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->Default(), "eu-west-1");
  EXPECT_EQ(list->regions.size(), 2u);
  EXPECT_FALSE(list->any);
}

TEST(ParseRegionList, StarAloneServesAnyRegionWithUsEast1AsDefault) {
  auto list = ParseRegionList("*");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->any);
  EXPECT_EQ(list->Default(), "us-east-1");
}

TEST(ParseRegionList, RefusesEmptyDuplicateAndMalformedNames) {
  for (std::string_view bad : {"", "us-east-1,", "us-east-1,us-east-1", "US-EAST-1", "useast1",
                               "us-east-1;rm", "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-1"}) {
    EXPECT_FALSE(ParseRegionList(bad).ok()) << bad;
  }
}

TEST(IsRegionName, AcceptsAwsRegionShapes) {
  for (std::string_view good : {"us-east-1", "us-gov-west-1", "ap-southeast-5", "il-central-1"}) {
    EXPECT_TRUE(IsRegionName(good)) << good;
  }
  for (std::string_view bad : {"us-east", "us--1", "-us-east-1", "us-east-1a", "us-east-", "*"}) {
    EXPECT_FALSE(IsRegionName(bad)) << bad;
  }
}

TEST(MultiRegionKeyId, HasAwsFormatAndRoundTripsThroughBytes) {
  std::string id = NewMultiRegionKeyId();
  EXPECT_TRUE(IsMultiRegionKeyId(id));
  EXPECT_TRUE(IsKeyId(id));
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id.substr(0, 4), "mrk-");
  auto bytes = KeyIdToBytes(id);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(KeyIdFromBytes(*bytes, true), id);
  EXPECT_FALSE(IsMultiRegionKeyId("mrk-1234"));
  EXPECT_FALSE(IsMultiRegionKeyId("mrk-1234abcd12ab34cd56ef1234567890ag"));
}

class RegionsTest : public KeystoreFixture {
 protected:
  void SetUp() override {
    KeystoreFixture::SetUp();
    if (HasFatalFailure()) return;
    Open("us-east-1,eu-west-1");
  }
  void Open(std::string_view list) {
    regions_.reset();
    auto parsed = ParseRegionList(list);
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
  std::string Err(const absl::Status& status) { return std::string(AwsName(TypeOf(status))); }

  std::atomic<int64_t> now_{1700000000};
  FixedClock clock_{&now_};
  std::unique_ptr<KmsRegions> regions_;
  CallContext call_{std::make_shared<const Principal>(RootPrincipal(kAccount, "AKIAROOT"))};
};

TEST_F(RegionsTest, ARegionNotServedIsInvalidSignatureNamingTheServedOnes) {
  auto refused = regions_->ForRegion("sa-east-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(Err(refused.status()), "InvalidSignatureException");
  EXPECT_NE(refused.status().message().find("eu-west-1"), absl::string_view::npos);
  EXPECT_FALSE(regions_->Serves("sa-east-1"));
  EXPECT_TRUE(regions_->Serves("eu-west-1"));
}

TEST_F(RegionsTest, EachRegionHasItsOwnKeysAndArns) {
  auto key = In("eu-west-1")->CreateKey(call_, {});
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->arn, StrCat("arn:aws:kms:eu-west-1:", kAccount, ":key/", key->key_id));
  EXPECT_EQ(Err(In("us-east-1")->DescribeKey(call_, key->key_id, {}).status()),
            "NotFoundException");
  auto east = In("us-east-1")->ListKeys(call_, 100, "");
  ASSERT_TRUE(east.ok());
  EXPECT_TRUE(east->keys.empty());
  auto west = In("eu-west-1")->ListKeys(call_, 100, "");
  ASSERT_TRUE(west.ok());
  ASSERT_EQ(west->keys.size(), 1u);
  EXPECT_EQ(west->keys[0].key_id, key->key_id);
}

TEST_F(RegionsTest, TheDefaultRegionKeepsTheUnprefixedRecordIds) {
  auto east = In("us-east-1")->CreateKey(call_, {});
  auto west = In("eu-west-1")->CreateKey(call_, {});
  ASSERT_TRUE(east.ok() && west.ok());
  auto plain = keystore_->Get(StrCat("key/", east->key_id));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->has_value());
  auto prefixed = keystore_->Get(StrCat("region/eu-west-1/key/", west->key_id));
  ASSERT_TRUE(prefixed.ok());
  EXPECT_TRUE(prefixed->has_value());
  // A service made alone (a one-region kmsd before this change) sees the default region's keys.
  auto alone = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_TRUE(alone->DescribeKey(call_, east->key_id, {}).ok());
  EXPECT_FALSE(alone->DescribeKey(call_, west->key_id, {}).ok());
}

TEST_F(RegionsTest, AnotherFirstRegionOnTheSameDataIsRefused) {
  regions_.reset();
  auto parsed = ParseRegionList("eu-west-1,us-east-1");
  ASSERT_TRUE(parsed.ok());
  auto made = NewKmsRegions(*parsed, {}, keystore_.get(), &clock_);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("default region is us-east-1"), absl::string_view::npos);
}

TEST_F(RegionsTest, CountsAndDueTasksCoverEveryRegion) {
  ASSERT_TRUE(In("us-east-1")->CreateKey(call_, {}).ok());
  auto west = In("eu-west-1")->CreateKey(call_, {});
  ASSERT_TRUE(west.ok());
  auto counts = regions_->CountKeysByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->enabled, 2);
  ASSERT_TRUE(In("eu-west-1")->ScheduleKeyDeletion(call_, west->key_id, 7).ok());
  now_ += 8 * kDay;
  auto report = regions_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->keys_deleted, 1);
}

TEST_F(RegionsTest, AnyRegionMakesRegionsOnDemandAndFindsThemAgain) {
  Open("us-east-1,*");
  auto key = In("ca-central-1")->CreateKey(call_, {});
  ASSERT_TRUE(key.ok());
  Open("us-east-1,*");  // a restart: ca-central-1's keys are counted before any request
  auto counts = regions_->CountKeysByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->enabled, 1);
}

TEST_F(RegionsTest, ReplicaDecryptsThePrimarysBlobsAndTakesItsRotations) {
  CreateKeyRequest request;
  request.multi_region = true;
  auto primary = In("us-east-1")->CreateKey(call_, request);
  ASSERT_TRUE(primary.ok()) << primary.status();
  EXPECT_TRUE(IsMultiRegionKeyId(primary->key_id));
  ASSERT_TRUE(primary->multi_region_configuration.has_value());
  EXPECT_EQ(primary->multi_region_configuration->key_type, "PRIMARY");
  auto blob =
      In("us-east-1")->Encrypt(call_, primary->key_id, SecretBytes::FromString("hi"), {}, {});
  ASSERT_TRUE(blob.ok());
  auto replicated = In("us-east-1")->ReplicateKey(call_, {primary->key_id, "eu-west-1"});
  ASSERT_TRUE(replicated.ok()) << replicated.status();
  EXPECT_EQ(replicated->replica_key_metadata.multi_region_configuration->key_type, "REPLICA");
  auto opened = In("eu-west-1")->Decrypt(call_, blob->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->plaintext.view(), "hi");
  auto rotation = In("us-east-1")->RotateKeyOnDemand(call_, primary->key_id);
  ASSERT_TRUE(rotation.ok()) << rotation.status();
  auto rotated =
      In("us-east-1")->Encrypt(call_, primary->key_id, SecretBytes::FromString("r"), {}, {});
  ASSERT_TRUE(rotated.ok());
  auto reopened = In("eu-west-1")->Decrypt(call_, rotated->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(reopened->plaintext.view(), "r");
  // The replica's deletion leaves the set; a primary alone is deleted like any key.
  ASSERT_TRUE(In("eu-west-1")->ScheduleKeyDeletion(call_, primary->key_id, 7).ok());
  now_ += 8 * kDay;
  ASSERT_TRUE(regions_->RunDueTasks().ok());
  auto described = In("us-east-1")->DescribeKey(call_, primary->key_id, {});
  ASSERT_TRUE(described.ok());
  EXPECT_TRUE(described->multi_region_configuration->replica_keys.empty());
  auto scheduled = In("us-east-1")->ScheduleKeyDeletion(call_, primary->key_id, 7);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->key_state, KeyState::kPendingDeletion);
  EXPECT_EQ(scheduled->deletion_date, now_ + 7 * kDay);
}

TEST_F(RegionsTest, GrantTokensOfAMultiRegionKeyNameIt) {
  CreateKeyRequest request;
  request.multi_region = true;
  auto key = In("us-east-1")->CreateKey(call_, request);
  ASSERT_TRUE(key.ok());
  CreateGrantRequest grant;
  grant.key_id = key->key_id;
  grant.grantee_principal = StrCat("arn:aws:iam::", kAccount, ":role/app");
  grant.operations = {"Encrypt"};
  auto made = In("us-east-1")->CreateGrant(call_, grant);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_TRUE(
      In("us-east-1")
          ->Encrypt(call_, key->key_id, SecretBytes::FromString("x"), {}, {made->grant_token})
          .ok());
}

TEST_F(RegionsTest, ReplicateKeyRefusesWhatAwsRefuses) {
  CreateKeyRequest request;
  request.multi_region = true;
  auto key = In("us-east-1")->CreateKey(call_, request);
  auto single = In("us-east-1")->CreateKey(call_, {});
  ASSERT_TRUE(key.ok() && single.ok());
  KmsService* east = In("us-east-1");
  EXPECT_EQ(Err(east->ReplicateKey(call_, {single->key_id, "eu-west-1"}).status()),
            "UnsupportedOperationException");
  EXPECT_EQ(Err(east->ReplicateKey(call_, {key->key_id, "sa-east-1"}).status()),
            "UnsupportedOperationException");
  EXPECT_EQ(Err(east->ReplicateKey(call_, {key->key_id, "us-east-1"}).status()),
            "UnsupportedOperationException");
  ASSERT_TRUE(east->ReplicateKey(call_, {key->key_id, "eu-west-1"}).ok());
  EXPECT_EQ(Err(east->ReplicateKey(call_, {key->key_id, "eu-west-1"}).status()),
            "AlreadyExistsException");
  EXPECT_EQ(Err(In("eu-west-1")->ReplicateKey(call_, {key->key_id, "us-east-1"}).status()),
            "UnsupportedOperationException");
  EXPECT_EQ(Err(east->ReplicateKey(call_, {"mrk-00000000000000000000000000000000", "eu-west-1"})
                    .status()),
            "NotFoundException");
  // Only the account's own principals with kms:CreateKey may make the replica.
  auto stranger = CallContext{policy::testing::User("nobody", kAccount)};
  EXPECT_EQ(Err(east->ReplicateKey(stranger, {key->key_id, "eu-west-1"}).status()),
            "AccessDeniedException");
}

TEST_F(RegionsTest, ReplicaTagsNeedTagResourceInAnIdentityPolicy) {
  CreateKeyRequest request;
  request.multi_region = true;
  auto key = In("us-east-1")->CreateKey(call_, request);
  ASSERT_TRUE(key.ok());
  const std::string replicate_and_create =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
      R"("Action":["kms:ReplicateKey","kms:CreateKey"],"Resource":"*"}]})";
  ReplicateKeyRequest tagged{key->key_id, "eu-west-1"};
  tagged.tags = {{"team", "a"}};
  auto refused = In("us-east-1")->ReplicateKey(AsUser("admin", {replicate_and_create}), tagged);
  EXPECT_EQ(Err(refused.status()), "AccessDeniedException");
  EXPECT_NE(std::string(refused.status().message()).find("kms:TagResource"), std::string::npos)
      << refused.status();
  const std::string tag_resource =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
      R"("Action":"kms:TagResource","Resource":"*"}]})";
  auto made = In("us-east-1")->ReplicateKey(
      AsUser("admin", {replicate_and_create, tag_resource}), tagged);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->replica_tags.size(), 1u);
}

// --- The deletion of a multi-Region primary with replicas (AWS: PendingReplicaDeletion) ---

class MultiRegionDeletionTest : public RegionsTest {
 protected:
  void SetUp() override {
    RegionsTest::SetUp();
    if (HasFatalFailure()) return;
    Open("us-east-1,eu-west-1,ap-southeast-2");
    CreateKeyRequest request;
    request.multi_region = true;
    auto made = In("us-east-1")->CreateKey(call_, request);
    ASSERT_TRUE(made.ok()) << made.status();
    key_id_ = made->key_id;
  }
  void Replicate(std::string_view region) {
    auto made = In("us-east-1")->ReplicateKey(call_, {key_id_, std::string(region)});
    ASSERT_TRUE(made.ok()) << made.status();
  }
  KeyMetadata Describe(std::string_view region) {
    auto described = In(region)->DescribeKey(call_, key_id_, {});
    EXPECT_TRUE(described.ok()) << described.status();
    return described.ok() ? *described : KeyMetadata{};
  }
  bool Exists(std::string_view region) {
    return In(region)->DescribeKey(call_, key_id_, {}).ok();
  }
  int RunDueTasks() {
    auto report = regions_->RunDueTasks();
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? report->keys_deleted : -1;
  }
  std::string key_id_;
};

TEST_F(MultiRegionDeletionTest, PrimaryWithReplicasWaitsInPendingReplicaDeletionWithoutADate) {
  Replicate("eu-west-1");
  auto scheduled = In("us-east-1")->ScheduleKeyDeletion(call_, key_id_, 7);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->key_state, KeyState::kPendingReplicaDeletion);
  EXPECT_EQ(scheduled->deletion_date, 0);  // AWS: not known until the last replica is deleted
  EXPECT_EQ(scheduled->pending_window_days, 7);
  KeyMetadata primary = Describe("us-east-1");
  EXPECT_EQ(KeyStateName(primary.state), "PendingReplicaDeletion");
  EXPECT_FALSE(primary.deletion_date.has_value());
  EXPECT_EQ(primary.pending_deletion_window_days, 7);
  EXPECT_FALSE(primary.Enabled());
  // The replica is not affected.
  EXPECT_EQ(Describe("eu-west-1").state, KeyState::kEnabled);
  auto counts = regions_->CountKeysByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->pending_replica_deletion, 1);
  EXPECT_EQ(counts->enabled, 1);
  // "This status can continue indefinitely": nothing is due while the replica lives.
  now_ += 60 * kDay;
  EXPECT_EQ(RunDueTasks(), 0);
  EXPECT_EQ(Describe("us-east-1").state, KeyState::kPendingReplicaDeletion);
}

TEST_F(MultiRegionDeletionTest, PendingReplicaDeletionRefusesWhatPendingDeletionRefuses) {
  Replicate("eu-west-1");
  ASSERT_TRUE(In("us-east-1")->ScheduleKeyDeletion(call_, key_id_, 7).ok());
  KmsService* east = In("us-east-1");
  auto encrypted = east->Encrypt(call_, key_id_, SecretBytes::FromString("x"), {}, {});
  ASSERT_FALSE(encrypted.ok());
  EXPECT_EQ(Err(encrypted.status()), "KMSInvalidStateException");
  EXPECT_EQ(std::string(encrypted.status().message()),
            StrCat("arn:aws:kms:us-east-1:", kAccount, ":key/", key_id_,
                   " is pending replica deletion."));
  auto replicated = east->ReplicateKey(call_, {key_id_, "ap-southeast-2"});
  EXPECT_EQ(Err(replicated.status()), "KMSInvalidStateException");
  EXPECT_NE(std::string(replicated.status().message()).find("pending replica deletion"),
            std::string::npos);
  EXPECT_EQ(Err(east->UpdatePrimaryRegion(call_, key_id_, "eu-west-1")),
            "KMSInvalidStateException");
  EXPECT_EQ(Err(east->EnableKey(call_, key_id_)), "KMSInvalidStateException");
  EXPECT_EQ(Err(east->DisableKey(call_, key_id_)), "KMSInvalidStateException");
  EXPECT_EQ(Err(east->UpdateKeyDescription(call_, key_id_, "d")), "KMSInvalidStateException");
  EXPECT_EQ(Err(east->TagResource(call_, key_id_, {{"k", "v"}})), "KMSInvalidStateException");
  EXPECT_EQ(Err(east->ScheduleKeyDeletion(call_, key_id_, 7).status()),
            "KMSInvalidStateException");
  EXPECT_EQ(Err(east->CreateAlias(call_, "alias/late", key_id_)), "KMSInvalidStateException");
  // What AWS allows in that state: DescribeKey, GetKeyPolicy, ListResourceTags.
  EXPECT_TRUE(east->GetKeyPolicy(call_, key_id_, "default").ok());
  EXPECT_TRUE(east->ListResourceTags(call_, key_id_, 50, "").ok());
  // The replica still works, and decrypts what the primary made before.
  EXPECT_TRUE(
      In("eu-west-1")->Encrypt(call_, key_id_, SecretBytes::FromString("x"), {}, {}).ok());
}

TEST_F(MultiRegionDeletionTest, TheLastReplicasDeletionStartsThePrimarysWaitingPeriodOnce) {
  Replicate("eu-west-1");
  Replicate("ap-southeast-2");
  ASSERT_TRUE(In("us-east-1")->ScheduleKeyDeletion(call_, key_id_, 8).ok());
  ASSERT_TRUE(In("eu-west-1")->ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(In("ap-southeast-2")->ScheduleKeyDeletion(call_, key_id_, 10).ok());
  EXPECT_EQ(Describe("eu-west-1").state, KeyState::kPendingDeletion);
  // Day 7: one replica goes; another remains, so the primary still waits.
  now_ += 7 * kDay + 1;
  EXPECT_EQ(RunDueTasks(), 1);
  EXPECT_FALSE(Exists("eu-west-1"));
  EXPECT_EQ(Describe("us-east-1").state, KeyState::kPendingReplicaDeletion);
  // Day 10: the last replica goes and the primary's 8 days begin, in the same commit.
  now_ += 3 * kDay;
  EXPECT_EQ(RunDueTasks(), 1);
  EXPECT_FALSE(Exists("ap-southeast-2"));
  KeyMetadata primary = Describe("us-east-1");
  EXPECT_EQ(primary.state, KeyState::kPendingDeletion);
  ASSERT_TRUE(primary.deletion_date.has_value());
  EXPECT_EQ(*primary.deletion_date, now_ + 8 * kDay);
  EXPECT_TRUE(primary.multi_region_configuration->replica_keys.empty());
  // Further passes change nothing until the date; then the primary is deleted, once.
  EXPECT_EQ(RunDueTasks(), 0);
  now_ += 8 * kDay - 1;
  EXPECT_EQ(RunDueTasks(), 0);
  EXPECT_TRUE(Exists("us-east-1"));
  now_ += 1;
  EXPECT_EQ(RunDueTasks(), 1);
  EXPECT_FALSE(Exists("us-east-1"));
  EXPECT_EQ(RunDueTasks(), 0);
  auto registry = keystore_->Get(StrCat("mrk/", key_id_));
  ASSERT_TRUE(registry.ok());
  EXPECT_FALSE(registry->has_value());  // the set is gone with its last key
}

TEST_F(MultiRegionDeletionTest, CancelKeyDeletionFromPendingReplicaDeletionLeavesItDisabled) {
  Replicate("eu-west-1");
  ASSERT_TRUE(In("us-east-1")->ScheduleKeyDeletion(call_, key_id_, 7).ok());
  auto cancelled = In("us-east-1")->CancelKeyDeletion(call_, key_id_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  KeyMetadata primary = Describe("us-east-1");
  EXPECT_EQ(primary.state, KeyState::kDisabled);
  EXPECT_FALSE(primary.pending_deletion_window_days.has_value());
  // The replica's deletion no longer starts anything for the primary.
  ASSERT_TRUE(In("eu-west-1")->ScheduleKeyDeletion(call_, key_id_, 7).ok());
  now_ += 31 * kDay;
  EXPECT_EQ(RunDueTasks(), 1);
  EXPECT_EQ(Describe("us-east-1").state, KeyState::kDisabled);
  EXPECT_EQ(Err(In("us-east-1")->CancelKeyDeletion(call_, key_id_).status()),
            "KMSInvalidStateException");
}

TEST_F(MultiRegionDeletionTest, ReplicaDeletionWindowsAreSevenToThirtyDays) {
  Replicate("eu-west-1");
  KmsService* west = In("eu-west-1");
  EXPECT_EQ(Err(west->ScheduleKeyDeletion(call_, key_id_, 6).status()), "ValidationException");
  EXPECT_EQ(Err(west->ScheduleKeyDeletion(call_, key_id_, 31).status()), "ValidationException");
  auto scheduled = west->ScheduleKeyDeletion(call_, key_id_, 30);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->key_state, KeyState::kPendingDeletion);
  EXPECT_EQ(scheduled->deletion_date, now_ + 30 * kDay);
  EXPECT_EQ(Describe("us-east-1").state, KeyState::kEnabled);  // the primary is not affected
}

TEST_F(MultiRegionDeletionTest, ADisabledPrimaryIsNeitherReplicatedNorMoved) {
  Replicate("eu-west-1");
  ASSERT_TRUE(In("us-east-1")->DisableKey(call_, key_id_).ok());
  EXPECT_EQ(Err(In("us-east-1")->ReplicateKey(call_, {key_id_, "ap-southeast-2"}).status()),
            "DisabledException");
  EXPECT_EQ(Err(In("us-east-1")->UpdatePrimaryRegion(call_, key_id_, "eu-west-1")),
            "DisabledException");
  ASSERT_TRUE(In("us-east-1")->EnableKey(call_, key_id_).ok());
  ASSERT_TRUE(In("eu-west-1")->DisableKey(call_, key_id_).ok());
  EXPECT_EQ(Err(In("us-east-1")->UpdatePrimaryRegion(call_, key_id_, "eu-west-1")),
            "DisabledException");
}

}  // namespace
}  // namespace kmsd::testing
