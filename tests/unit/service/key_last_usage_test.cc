// Key usage tracking (GetKeyLastUsage) and the custom key store operations, through the service.
#include <gtest/gtest.h>

#include "service_test_util.h"

namespace kmsd::testing {
namespace {

class KeyLastUsageTest : public ServiceTest {
 protected:
  // A call as the root, naming the request and audit ids a server would give it.
  CallContext Call(const std::string& event_id, const std::string& request_id) const {
    CallContext call = call_;
    call.event_id = event_id;
    call.request_id = request_id;
    return call;
  }

  KeyLastUsage Usage(const std::string& key_id, KmsService* service = nullptr) {
    auto usage = (service ? service : service_.get())->GetKeyLastUsage(call_, key_id);
    EXPECT_TRUE(usage.ok()) << usage.status();
    return usage.ok() ? *usage : KeyLastUsage{};
  }

  std::string Encrypted(const std::string& key_id) {
    auto blob = service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {});
    EXPECT_TRUE(blob.ok()) << blob.status();
    return blob.ok() ? blob->ciphertext_blob : "";
  }
};

TEST_F(KeyLastUsageTest, ANewKeyHasNoLastUseAndIsTrackedSinceItsCreation) {
  now_ += 100;  // the key is younger than the service
  std::string key_id = NewKey();
  KeyLastUsage usage = Usage(key_id);
  EXPECT_EQ(usage.key_id, key_id);
  EXPECT_FALSE(usage.last_use.has_value());
  EXPECT_EQ(usage.key_creation_date, now_.load());
  EXPECT_EQ(usage.tracking_start_date, now_.load());
}

TEST_F(KeyLastUsageTest, EncryptBecomesTheLastUseWithItsEventAndRequestIds) {
  std::string key_id = NewKey();
  now_ += 5;
  ASSERT_TRUE(service_->Encrypt(Call("event-1", "request-1"), key_id, SecretBytes::FromString("x"),
                                {}, {})
                  .ok());
  KeyLastUsage usage = Usage(key_id);
  ASSERT_TRUE(usage.last_use.has_value());
  EXPECT_EQ(usage.last_use->operation, "Encrypt");
  EXPECT_EQ(usage.last_use->timestamp, now_.load());
  EXPECT_EQ(usage.last_use->cloudtrail_event_id, "event-1");
  EXPECT_EQ(usage.last_use->request_id, "request-1");
}

TEST_F(KeyLastUsageTest, EachCryptographicOperationNamesItself) {
  std::string key_id = NewKey();
  std::string blob = Encrypted(key_id);
  ASSERT_TRUE(service_->Decrypt(call_, blob, {}, "", {}).ok());
  EXPECT_EQ(Usage(key_id).last_use->operation, "Decrypt");
  ASSERT_TRUE(service_->GenerateDataKey(call_, key_id, 32, {}, true, {}).ok());
  EXPECT_EQ(Usage(key_id).last_use->operation, "GenerateDataKey");
  ASSERT_TRUE(service_->GenerateDataKey(call_, key_id, 32, {}, false, {}).ok());
  EXPECT_EQ(Usage(key_id).last_use->operation, "GenerateDataKeyWithoutPlaintext");
}

TEST_F(KeyLastUsageTest, ReEncryptIsALastUseOfBothKeys) {
  std::string source = NewKey();
  std::string destination = NewKey();
  std::string blob = Encrypted(source);
  ASSERT_TRUE(service_->ReEncrypt(Call("event-re", "request-re"), blob, {}, "", destination, {}, {})
                  .ok());
  for (const std::string& key_id : {source, destination}) {
    KeyLastUsage usage = Usage(key_id);
    ASSERT_TRUE(usage.last_use.has_value()) << key_id;
    EXPECT_EQ(usage.last_use->operation, "ReEncrypt");
    EXPECT_EQ(usage.last_use->cloudtrail_event_id, "event-re");
  }
}

TEST_F(KeyLastUsageTest, AFailedOperationIsNoUse) {
  std::string key_id = NewKey();
  std::string blob = Encrypted(key_id);
  ASSERT_TRUE(service_->DisableKey(call_, key_id).ok());
  EXPECT_FALSE(service_->Decrypt(Call("event-failed", "r"), blob, {}, "", {}).ok());
  EXPECT_EQ(Usage(key_id).last_use->operation, "Encrypt");
}

TEST_F(KeyLastUsageTest, ADryRunIsNoUse) {
  std::string key_id = NewKey();
  CallContext dry_run = Call("event-dry", "r");
  dry_run.dry_run = true;
  ASSERT_TRUE(service_->Encrypt(dry_run, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  EXPECT_FALSE(Usage(key_id).last_use.has_value());
}

TEST_F(KeyLastUsageTest, ASavedLastUseSurvivesANewService) {
  std::string key_id = NewKey();
  ASSERT_TRUE(
      service_->Encrypt(Call("event-kept", "r"), key_id, SecretBytes::FromString("x"), {}, {})
          .ok());
  auto saved = service_->SaveKeyUsage();
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(*saved, 1);
  EXPECT_EQ(*service_->SaveKeyUsage(), 0);  // nothing changed since
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  KeyLastUsage usage = Usage(key_id, fresh.get());
  ASSERT_TRUE(usage.last_use.has_value());
  EXPECT_EQ(usage.last_use->cloudtrail_event_id, "event-kept");
}

// What a crash costs: the uses since the last save.
TEST_F(KeyLastUsageTest, AnUnsavedLastUseIsLostWithTheService) {
  std::string key_id = NewKey();
  Encrypted(key_id);
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_FALSE(Usage(key_id, fresh.get()).last_use.has_value());
}

TEST_F(KeyLastUsageTest, TheSchedulersPassSavesUsage) {
  std::string key_id = NewKey();
  Encrypted(key_id);
  auto report = service_->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->key_usages_saved, 1);
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  EXPECT_EQ(Usage(key_id, fresh.get()).last_use->operation, "Encrypt");
}

TEST_F(KeyLastUsageTest, KeysOlderThanTrackingAreTrackedSinceItsFirstStart) {
  std::string old_key = NewKey();
  int64_t created = now_.load();
  // The first kmsd that tracks usage starts a day later, over the same data.
  now_ += kDay;
  auto tracking = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  ASSERT_TRUE(tracking->SaveKeyUsage().ok());
  now_ += kDay;
  // Later starts keep the first one's date.
  auto later = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  KeyLastUsage usage = Usage(old_key, later.get());
  EXPECT_EQ(usage.key_creation_date, created);
  EXPECT_EQ(usage.tracking_start_date, created + kDay);
}

TEST_F(KeyLastUsageTest, ADestroyedKeyLeavesNoUsageRecord) {
  std::string key_id = NewKey();
  Encrypted(key_id);
  ASSERT_TRUE(service_->SaveKeyUsage().ok());
  ASSERT_EQ(backend_->List("usage/", "", 0)->size(), 1u);
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  now_ += 7 * kDay;
  ASSERT_EQ(service_->RunDueTasks()->keys_deleted, 1);
  EXPECT_TRUE(backend_->List("usage/", "", 0)->empty());
  EXPECT_EQ(TypeOf(service_->GetKeyLastUsage(call_, key_id).status()), ErrorType::kNotFound);
}

TEST_F(KeyLastUsageTest, WorksInEveryKeyStateButNotByAlias) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/used", key_id).ok());
  EXPECT_EQ(TypeOf(service_->GetKeyLastUsage(call_, "alias/used").status()),
            ErrorType::kNotFound);
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id, 7).ok());
  EXPECT_TRUE(service_->GetKeyLastUsage(call_, KeyArn(key_id)).ok());
}

TEST_F(KeyLastUsageTest, IsAuthorizedAsKmsGetKeyLastUsage) {
  std::string key_id = NewKey();
  EXPECT_EQ(TypeOf(service_->GetKeyLastUsage(AsUser("nobody"), key_id).status()),
            ErrorType::kAccessDenied);
  CallContext allowed = AsUser("auditor", {R"({"Version":"2012-10-17","Statement":[{
      "Effect":"Allow","Action":"kms:GetKeyLastUsage","Resource":"*"}]})"});
  EXPECT_TRUE(service_->GetKeyLastUsage(allowed, key_id).ok());
}

TEST_F(KeyLastUsageTest, CustomKeyStoreOperationsAreAuthorizedThenUnsupported) {
  for (std::string_view operation :
       {"CreateCustomKeyStore", "ConnectCustomKeyStore", "DisconnectCustomKeyStore",
        "UpdateCustomKeyStore", "DeleteCustomKeyStore", "DescribeCustomKeyStores"}) {
    absl::Status refused = service_->CustomKeyStoreOperation(call_, operation);
    EXPECT_EQ(TypeOf(refused), ErrorType::kUnsupportedOperation) << operation;
    EXPECT_NE(refused.message().find("no custom key stores"), absl::string_view::npos);
    EXPECT_EQ(TypeOf(service_->CustomKeyStoreOperation(AsUser("nobody"), operation)),
              ErrorType::kAccessDenied)
        << operation;
  }
  CallContext allowed = AsUser("admin", {R"({"Version":"2012-10-17","Statement":[{
      "Effect":"Allow","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]})"});
  EXPECT_EQ(TypeOf(service_->CustomKeyStoreOperation(allowed, "DescribeCustomKeyStores")),
            ErrorType::kUnsupportedOperation);
}

}  // namespace
}  // namespace kmsd::testing
