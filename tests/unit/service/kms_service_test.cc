// The service over a real keystore (memory backend, file seal in a temp dir): key states, key
// reference forms, aliases and the crypto operations, without HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/service.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::FixedClock;
using testing::kDay;

class KmsServiceTest : public testing::ServiceTest {};

TEST_F(KmsServiceTest, CreateKeyFillsMetadata) {
  auto key = service_->CreateKey(call_, {.description = "d"});
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->arn, "arn:aws:kms:us-east-1:111122223333:key/" + key->key_id);
  EXPECT_EQ(key->creation_date, now_);
  EXPECT_EQ(key->state, KeyState::kEnabled);
  EXPECT_EQ(key->description, "d");
}

TEST_F(KmsServiceTest, EncryptDecryptRoundTripWithContext) {
  std::string key_id = NewKey();
  EncryptionContext context{{"purpose", "test"}};
  auto encrypted = service_->Encrypt(call_, key_id, SecretBytes::FromString("hello"), context, {});
  ASSERT_TRUE(encrypted.ok()) << encrypted.status();
  auto decrypted = service_->Decrypt(call_, encrypted->ciphertext_blob, context, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "hello");
  auto wrong = service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  EXPECT_EQ(TypeOf(wrong.status()), ErrorType::kInvalidCiphertext);
}

TEST_F(KmsServiceTest, DecryptNamingAnotherKeyIsIncorrectKey) {
  std::string key_id = NewKey();
  std::string other = NewKey();
  auto encrypted = service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {});
  ASSERT_TRUE(encrypted.ok());
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, other, {}).status()),
            ErrorType::kIncorrectKey);
}

TEST_F(KmsServiceTest, DisabledKeyRefusesCryptoUntilEnabled) {
  std::string key_id = NewKey();
  auto encrypted = service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {});
  ASSERT_TRUE(service_->DisableKey(call_, key_id).ok());
  EXPECT_EQ(TypeOf(service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {}).status()),
            ErrorType::kDisabled);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kDisabled);
  EXPECT_EQ(TypeOf(service_->GenerateDataKey(call_, key_id, 32, {}, true, {}).status()),
            ErrorType::kDisabled);
  ASSERT_TRUE(service_->EnableKey(call_, key_id).ok());
  EXPECT_TRUE(service_->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {}).ok());
}

TEST_F(KmsServiceTest, CountKeysByStateCountsEveryStoredKey) {
  std::string enabled = NewKey();
  std::string disabled = NewKey();
  std::string deleting = NewKey();
  ASSERT_TRUE(service_->DisableKey(call_, disabled).ok());
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, deleting, 7).ok());
  auto counts = service_->CountKeysByState();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->enabled, 1);
  EXPECT_EQ(counts->disabled, 1);
  EXPECT_EQ(counts->pending_deletion, 1);
}

TEST_F(KmsServiceTest, CacheStatsCountHitsAfterTheFirstLookUp) {
  std::string key_id = NewKey();
  KeyCacheStats before = service_->CacheStats();
  ASSERT_TRUE(service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  ASSERT_TRUE(service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  KeyCacheStats after = service_->CacheStats();
  EXPECT_EQ(after.hits - before.hits, 2u);  // CreateKey published the key: no miss
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_GE(after.entries, 1u);
}

TEST_F(KmsServiceTest, EveryKeyReferenceFormResolves) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/forms", key_id).ok());
  for (const std::string& ref :
       {key_id, "arn:aws:kms:us-east-1:111122223333:key/" + key_id, std::string("alias/forms"),
        std::string("arn:aws:kms:us-east-1:111122223333:alias/forms")}) {
    auto described = service_->DescribeKey(call_, ref, {});
    ASSERT_TRUE(described.ok()) << ref << ": " << described.status();
    EXPECT_EQ(described->key_id, key_id);
  }
}

TEST_F(KmsServiceTest, UnknownReferencesAreNotFound) {
  for (const std::string& ref :
       {std::string("00000000-0000-4000-8000-000000000000"), std::string("alias/none"),
        std::string("junk"),
        std::string("arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000")}) {
    EXPECT_EQ(TypeOf(service_->DescribeKey(call_, ref, {}).status()), ErrorType::kNotFound) << ref;
  }
  EXPECT_EQ(TypeOf(service_->DescribeKey(call_, "arn:x", {}).status()), ErrorType::kInvalidArn);
}

TEST_F(KmsServiceTest, AliasRules) {
  std::string key_id = NewKey();
  EXPECT_TRUE(service_->CreateAlias(call_, "alias/a", key_id).ok());
  EXPECT_EQ(TypeOf(service_->CreateAlias(call_, "alias/a", key_id)), ErrorType::kAlreadyExists);
  EXPECT_EQ(TypeOf(service_->CreateAlias(call_, "noprefix", key_id)), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(service_->DeleteAlias(call_, "alias/zzz").status()), ErrorType::kNotFound);
  // The key the alias named, for the audit record.
  auto deleted = service_->DeleteAlias(call_, "alias/a");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, service_->DescribeKey(call_, key_id, {})->arn);
}

// AWS answers a change to a name reserved for AWS managed keys as a matter of permission.
TEST_F(KmsServiceTest, ReservedAliasNamesAreNotAuthorizedForEveryAliasOperation) {
  std::string key_id = NewKey();
  EXPECT_EQ(TypeOf(service_->CreateAlias(call_, "alias/aws/x", key_id)),
            ErrorType::kNotAuthorized);
  EXPECT_EQ(TypeOf(service_->UpdateAlias(call_, "alias/aws/x", key_id)),
            ErrorType::kNotAuthorized);
  EXPECT_EQ(TypeOf(service_->DeleteAlias(call_, "alias/aws/x").status()),
            ErrorType::kNotAuthorized);
}

TEST_F(KmsServiceTest, CreateAliasRefusesCharactersItsDocumentationDoesNotAllow) {
  std::string key_id = NewKey();
  absl::Status status = service_->CreateAlias(call_, "alias/my:alias", key_id);
  EXPECT_EQ(TypeOf(status), ErrorType::kValidation);
  EXPECT_EQ(status.message(), "alias/my:alias contains invalid characters for an alias");
  EXPECT_TRUE(service_->CreateAlias(call_, "alias/My_alias-2/x", key_id).ok());
}

TEST_F(KmsServiceTest, AliasesMustTargetKeysNotAliases) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/a", key_id).ok());
  for (const std::string& target :
       {std::string("alias/a"), std::string("arn:aws:kms:us-east-1:111122223333:alias/a")}) {
    absl::Status created = service_->CreateAlias(call_, "alias/b", target);
    EXPECT_EQ(TypeOf(created), ErrorType::kValidation) << target;
    EXPECT_EQ(created.message(), "Aliases must refer to keys. Not aliases");
    absl::Status updated = service_->UpdateAlias(call_, "alias/a", target);
    EXPECT_EQ(TypeOf(updated), ErrorType::kValidation) << target;
    EXPECT_EQ(updated.message(), "Aliases must refer to keys. Not aliases");
  }
}

TEST_F(KmsServiceTest, AnAliasWhereOnlyKeysAreAcceptedIsAnInvalidKeyIdWithoutMore) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/a", key_id).ok());
  auto status = service_->GetKeyRotationStatus(call_, "alias/a").status();
  EXPECT_EQ(TypeOf(status), ErrorType::kNotFound);
  EXPECT_EQ(status.message(), "Invalid keyId 'alias/a'");
}

TEST_F(KmsServiceTest, ListKeysPaginatesWithoutRepeats) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) created.insert(NewKey());
  std::set<std::string> seen;
  std::string marker;
  int pages = 0;
  do {
    auto page = service_->ListKeys(call_, 3, marker);
    ASSERT_TRUE(page.ok());
    EXPECT_LE(page->keys.size(), 3u);
    for (const auto& key : page->keys) EXPECT_TRUE(seen.insert(key.key_id).second);
    marker = page->next_marker;
    ++pages;
  } while (!marker.empty());
  EXPECT_EQ(seen, created);
  EXPECT_EQ(pages, 3);
}

TEST_F(KmsServiceTest, BlobsSurviveANewServiceOverTheSameKeystore) {
  std::string key_id = NewKey();
  auto encrypted = service_->Encrypt(call_, key_id, SecretBytes::FromString("kept"), {}, {});
  ASSERT_TRUE(encrypted.ok());
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  auto decrypted = fresh->Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "kept");
}

TEST_F(KmsServiceTest, ConcurrentCryptoAndStateChangesAreSafe) {
  std::string key_id = NewKey();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto data_key = service_->GenerateDataKey(call_, key_id, 32, {}, true, {});
        if (!data_key.ok()) continue;  // the key may be disabled at that moment
        auto decrypted = service_->Decrypt(call_, data_key->ciphertext_blob, {}, "", {});
        if (decrypted.ok() && decrypted->plaintext.view() != data_key->plaintext.view()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(service_->DisableKey(call_, key_id).ok());
    ASSERT_TRUE(service_->EnableKey(call_, key_id).ok());
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(KmsServiceTest, ScheduledDeletionDestroysTheKeyOnlyWhenDue) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/doomed", key_id).ok());
  auto blob = service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {});
  auto scheduled = service_->ScheduleKeyDeletion(call_, key_id, 7);
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->deletion_date, now_ + 7 * kDay);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kKmsInvalidState);
  now_ += 7 * kDay - 1;
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 0);
  now_ += 1;
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 1);
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 0);  // exactly once
  EXPECT_EQ(TypeOf(service_->DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->DescribeKey(call_, "alias/doomed", {}).status()),
            ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->Decrypt(call_, blob->ciphertext_blob, {}, "", {}).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_TRUE(backend_->List("material/", "", 0)->empty());
  EXPECT_TRUE(backend_->List("due/", "", 0)->empty());
}

TEST_F(KmsServiceTest, CancelledDeletionNeverHappens) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  ASSERT_TRUE(service_->CancelKeyDeletion(call_, key_id).ok());
  EXPECT_EQ(service_->DescribeKey(call_, key_id, {})->state, KeyState::kDisabled);
  now_ += 30 * kDay;
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 0);
  EXPECT_TRUE(service_->DescribeKey(call_, key_id, {}).ok());
}

TEST_F(KmsServiceTest, RotationKeepsEveryOldVersionAndRunsOncePerPeriod) {
  std::string key_id = NewKey();
  auto old_blob = service_->Encrypt(call_, key_id, SecretBytes::FromString("old"), {}, {});
  ASSERT_TRUE(service_->EnableKeyRotation(call_, key_id, 90).ok());
  now_ += 90 * kDay;
  EXPECT_EQ(service_->RunDueTasks()->keys_rotated, 1);
  EXPECT_EQ(service_->RunDueTasks()->keys_rotated, 0);
  auto new_blob = service_->Encrypt(call_, key_id, SecretBytes::FromString("new"), {}, {});
  EXPECT_EQ(ParseBlobHeader(new_blob->ciphertext_blob)->backing_key_version, 2u);
  EXPECT_EQ(service_->Decrypt(call_, old_blob->ciphertext_blob, {}, "", {})->plaintext.view(),
            "old");
  auto moved = service_->ReEncrypt(call_, old_blob->ciphertext_blob, {}, "", key_id, {}, {});
  EXPECT_EQ(ParseBlobHeader(moved->ciphertext_blob)->backing_key_version, 2u);
  auto rotations = service_->ListKeyRotations(call_, key_id, 10, "");
  ASSERT_EQ(rotations->rotations.size(), 1u);
  EXPECT_EQ(rotations->rotations[0].type, RotationType::kAutomatic);
  EXPECT_EQ(service_->GetKeyRotationStatus(call_, key_id)->next_rotation_date, now_ + 90 * kDay);
}

TEST_F(KmsServiceTest, OnDemandRotationsAreLimitedToTwentyFive) {
  std::string key_id = NewKey();
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(service_->RotateKeyOnDemand(call_, key_id).ok());
  auto refused = service_->RotateKeyOnDemand(call_, key_id);
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kLimitExceeded);
  EXPECT_EQ(refused.status().message(),
            StrCat("The on-demand rotations limit has been reached for the given keyId. No more "
                   "on-demand rotations can be performed for this key: ",
                   KeyArn(key_id)));
}

}  // namespace
}  // namespace kmsd
