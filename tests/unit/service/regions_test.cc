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
  EXPECT_EQ(Err(In("us-east-1")->ScheduleKeyDeletion(call_, primary->key_id, 7).status()),
            "KMSInvalidStateException");
  // The replica's deletion frees the primary's.
  ASSERT_TRUE(In("eu-west-1")->ScheduleKeyDeletion(call_, primary->key_id, 7).ok());
  now_ += 8 * kDay;
  ASSERT_TRUE(regions_->RunDueTasks().ok());
  auto described = In("us-east-1")->DescribeKey(call_, primary->key_id, {});
  ASSERT_TRUE(described.ok());
  EXPECT_TRUE(described->multi_region_configuration->replica_keys.empty());
  EXPECT_TRUE(In("us-east-1")->ScheduleKeyDeletion(call_, primary->key_id, 7).ok());
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

}  // namespace
}  // namespace kmsd::testing
