// Several KMS service instances ("nodes") over one shared store: conditional writes (no lost
// update, one winner of a race), caches dropped by the watch, a stale feed served from storage
// only, and due tasks run exactly once by the leader.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/etcd_storage.h"
#include "kmsd/key_import.h"
#include "kmsd/regions.h"
#include "kmsd/service.h"
#include "service/service_impl.h"
#include "unit/cluster_fixture.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::FixedClock;
using testing::kDay;

class ServiceClusterTest : public testing::ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    for (int i = 0; i < 2; ++i) AddNode();
  }

  KmsService& AddNode() {
    testing::ClusterFixture::NodeParts& parts = OpenParts();
    ServiceOptions options;
    options.backend = parts.backend.get();
    int node = static_cast<int>(nodes_.size());
    options.on_service_event = [this, node](const ServiceEvent& event) {
      std::lock_guard lock(events_mutex_);
      if (fail_service_events_) return Error(ErrorType::kDependencyTimeout, "audit full");
      service_events_.push_back({node, event});
      return absl::OkStatus();
    };
    nodes_.push_back(
        NewKmsService(options, parts.keystore.get(), std::make_unique<FixedClock>(&now_)));
    return *nodes_.back();
  }

  KmsService& A() { return *nodes_[0]; }
  KmsService& B() { return *nodes_[1]; }

  std::string NewKey(KmsService& node) {
    auto key = node.CreateKey(call_, {});
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? key->key_id : "";
  }

  absl::Status EncryptOn(KmsService& node, const std::string& key_id) {
    return node.Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {}).status();
  }

  static std::string KeyArn(const std::string& key_id) {
    return StrCat("arn:aws:kms:us-east-1:", testing::kAccount, ":key/", key_id);
  }

  // Issue 12: a key with `rotations` automatic rotations (one scheduler pass each), `aliases`
  // aliases and `grants` grants, then scheduled for deletion in 7 days (not yet due).
  std::string BigKeyScheduledForDeletion(int rotations, int aliases, int grants) {
    std::string key_id = NewKey(A());
    EXPECT_TRUE(A().EnableKeyRotation(call_, key_id, 90).ok());
    for (int i = 0; i < rotations; ++i) {
      now_ += 90 * kDay;
      auto report = A().RunDueTasks();
      EXPECT_TRUE(report.ok() && report->keys_rotated == 1) << i;
    }
    for (int i = 0; i < aliases; ++i) {
      EXPECT_TRUE(A().CreateAlias(call_, StrCat("alias/big-", i), key_id).ok());
    }
    for (int i = 0; i < grants; ++i) {
      EXPECT_TRUE(A().CreateGrant(call_, {.key_id = key_id,
                                          .grantee_principal = testing::UserArn("grantee"),
                                          .operations = {"Encrypt"}})
                      .ok());
    }
    EXPECT_TRUE(A().ScheduleKeyDeletion(call_, key_id, 7).ok());
    return key_id;
  }

  // Every record of the store that names the key (its id in the record id, or an alias's).
  size_t RecordsOfKey(const std::string& key_id) {
    auto listed = parts_[0].backend->List("", "", 0);
    EXPECT_TRUE(listed.ok());
    size_t count = 0;
    for (const StorageEntry& entry : *listed) {
      if (entry.key.find(key_id) != std::string::npos || entry.key.starts_with("alias/big-")) {
        ++count;
      }
    }
    return count;
  }

  std::vector<std::pair<int, ServiceEvent>> EventsNamed(std::string_view name) {
    std::lock_guard lock(events_mutex_);
    std::vector<std::pair<int, ServiceEvent>> named;
    for (const auto& event : service_events_) {
      if (event.second.event_name == name) named.push_back(event);
    }
    return named;
  }

  std::mutex events_mutex_;
  std::vector<std::pair<int, ServiceEvent>> service_events_;  // node, event
  bool fail_service_events_ = false;
  std::vector<std::unique_ptr<KmsService>> nodes_;
  CallContext call_{
      std::make_shared<const Principal>(RootPrincipal(testing::kAccount, "AKIAROOT"))};
};

TEST_F(ServiceClusterTest, AliasCreatedOnTwoNodesAtOnceHasOneWinner) {
  std::string key_a = NewKey(A());
  std::string key_b = NewKey(B());
  // B creates the alias between A's read (absent) and A's commit.
  absl::Status b_status;
  store_.BeforeNextCommit(0, [&] { b_status = B().CreateAlias(call_, "alias/race", key_b); });
  absl::Status a_status = A().CreateAlias(call_, "alias/race", key_a);
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(TypeOf(a_status), ErrorType::kAlreadyExists) << a_status;
  ASSERT_TRUE(Delivered());
  for (KmsService* node : {&A(), &B()}) {
    auto described = node->DescribeKey(call_, "alias/race", {});
    ASSERT_TRUE(described.ok()) << described.status();
    EXPECT_EQ(described->key_id, key_b);
  }
}

TEST_F(ServiceClusterTest, AliasRacedFromThreadsOnTwoNodesHasOneWinnerEachRound) {
  std::string key_id = NewKey(A());
  for (int round = 0; round < 20; ++round) {
    std::string name = StrCat("alias/round-", round);
    absl::Status results[2];
    std::thread racers[2];
    for (int i = 0; i < 2; ++i) {
      racers[i] = std::thread([&, i] { results[i] = nodes_[i]->CreateAlias(call_, name, key_id); });
    }
    for (std::thread& racer : racers) racer.join();
    int won = results[0].ok() + results[1].ok();
    int refused = (TypeOf(results[0]) == ErrorType::kAlreadyExists) +
                  (TypeOf(results[1]) == ErrorType::kAlreadyExists);
    EXPECT_EQ(won, 1) << name << ": " << results[0] << " / " << results[1];
    EXPECT_EQ(refused, 1) << name;
  }
}

TEST_F(ServiceClusterTest, DisableKeyOnOneNodeIsRefusedOnTheOtherAfterTheWatchEvent) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());  // cached on B
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(A().DisableKey(call_, key_id).ok());
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(EncryptOn(B(), key_id)), ErrorType::kDisabled);
  ASSERT_TRUE(B().EnableKey(call_, key_id).ok());
  ASSERT_TRUE(Delivered());
  EXPECT_TRUE(EncryptOn(A(), key_id).ok());
}

TEST_F(ServiceClusterTest, DisableKeyIsRefusedAtOnceOnANodeThatMissesItsCache) {
  store_.HoldFeed(true);  // no event reaches B
  std::string key_id = NewKey(A());
  ASSERT_TRUE(A().DisableKey(call_, key_id).ok());
  EXPECT_EQ(TypeOf(EncryptOn(B(), key_id)), ErrorType::kDisabled);
  store_.HoldFeed(false);
}

TEST_F(ServiceClusterTest, KeyCreatedOnOneNodeIsUsableOnAnotherAtOnce) {
  store_.HoldFeed(true);
  std::string key_id = NewKey(A());
  auto encrypted = B().Encrypt(call_, key_id, SecretBytes::FromString("hello"), {}, {});
  ASSERT_TRUE(encrypted.ok()) << encrypted.status();
  auto decrypted = A().Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "hello");
  store_.HoldFeed(false);
}

TEST_F(ServiceClusterTest, UpdatesOfOneKeyOnTwoNodesAreNeverLost) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(B().TagResource(call_, key_id, {{"from", "b0"}}).ok());  // cached on B
  store_.HoldFeed(true);  // B's cache goes stale: the conditional write must notice
  ASSERT_TRUE(A().TagResource(call_, key_id, {{"a", "1"}}).ok());
  ASSERT_TRUE(B().TagResource(call_, key_id, {{"b", "2"}}).ok());
  ASSERT_TRUE(A().UpdateKeyDescription(call_, key_id, "described on A").ok());
  ASSERT_TRUE(B().DisableKey(call_, key_id).ok());
  // And one write lands between another's read and its commit.
  store_.BeforeNextCommit(1, [&] {
    ASSERT_TRUE(A().TagResource(call_, key_id, {{"c", "3"}}).ok());
  });
  ASSERT_TRUE(B().TagResource(call_, key_id, {{"d", "4"}}).ok());
  store_.HoldFeed(false);
  ASSERT_TRUE(Delivered());
  EXPECT_GT(store_.conflicts(), 0);
  for (KmsService* node : {&A(), &B()}) {
    auto tags = node->ListResourceTags(call_, key_id, 50, "");
    ASSERT_TRUE(tags.ok()) << tags.status();
    std::set<std::string> keys;
    for (const Tag& tag : tags->tags) keys.insert(tag.key);
    EXPECT_EQ(keys, (std::set<std::string>{"from", "a", "b", "c", "d"}));
    auto described = node->DescribeKey(call_, key_id, {});
    ASSERT_TRUE(described.ok());
    EXPECT_EQ(described->description, "described on A");
    EXPECT_EQ(described->state, KeyState::kDisabled);
  }
}

TEST_F(ServiceClusterTest, TaggingFromThreadsOnTwoNodesLosesNoTag) {
  std::string key_id = NewKey(A());
  constexpr int kPerNode = 10;
  std::thread writers[2];
  for (int i = 0; i < 2; ++i) {
    writers[i] = std::thread([&, i] {
      for (int n = 0; n < kPerNode; ++n) {
        auto status = nodes_[i]->TagResource(call_, key_id, {{StrCat("node", i, "-", n), "v"}});
        EXPECT_TRUE(status.ok()) << status;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  ASSERT_TRUE(Delivered());
  auto tags = B().ListResourceTags(call_, key_id, 50, "");
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(tags->tags.size(), 2u * kPerNode);
}

TEST_F(ServiceClusterTest, ReadersOnOneNodeFollowAnotherNodesChangesWhileTheyRun) {
  std::string key_id = NewKey(A());
  std::atomic<bool> done{false};
  std::atomic<int> unexpected{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto status = EncryptOn(B(), key_id);
      if (!status.ok() && TypeOf(status) != ErrorType::kDisabled) ++unexpected;
    }
  });
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(A().DisableKey(call_, key_id).ok());
    ASSERT_TRUE(A().EnableKey(call_, key_id).ok());
  }
  ASSERT_TRUE(A().DisableKey(call_, key_id).ok());
  ASSERT_TRUE(Delivered());
  done.store(true);
  reader.join();
  EXPECT_EQ(unexpected.load(), 0);
  // Whatever the reader cached on the way, the last change is what B serves.
  EXPECT_EQ(TypeOf(EncryptOn(B(), key_id)), ErrorType::kDisabled);
}

TEST_F(ServiceClusterTest, UpdateAliasRacingOnTwoNodesBothApplyInTurn) {
  std::string first = NewKey(A());
  std::string second = NewKey(A());
  std::string third = NewKey(A());
  ASSERT_TRUE(A().CreateAlias(call_, "alias/moving", first).ok());
  ASSERT_TRUE(Delivered());
  store_.BeforeNextCommit(0,
                          [&] { ASSERT_TRUE(B().UpdateAlias(call_, "alias/moving", third).ok()); });
  ASSERT_TRUE(A().UpdateAlias(call_, "alias/moving", second).ok());  // retried after B's
  ASSERT_TRUE(Delivered());
  for (KmsService* node : {&A(), &B()}) {
    auto described = node->DescribeKey(call_, "alias/moving", {});
    ASSERT_TRUE(described.ok());
    EXPECT_EQ(described->key_id, second);
    auto listed = node->ListAliases(call_, third, 50, "");
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->aliases.empty());
  }
}

TEST_F(ServiceClusterTest, AliasMovedOnOneNodeIsFollowedOnTheOtherAfterTheWatchEvent) {
  std::string first = NewKey(A());
  std::string second = NewKey(A());
  ASSERT_TRUE(A().CreateAlias(call_, "alias/follow", first).ok());
  auto before = B().Encrypt(call_, "alias/follow", SecretBytes::FromString("x"), {}, {});
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->key_arn, KeyArn(first));
  ASSERT_TRUE(A().UpdateAlias(call_, "alias/follow", second).ok());
  ASSERT_TRUE(Delivered());
  auto after = B().Encrypt(call_, "alias/follow", SecretBytes::FromString("x"), {}, {});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->key_arn, KeyArn(second));
  ASSERT_TRUE(A().DeleteAlias(call_, "alias/follow").ok());
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(EncryptOn(B(), "alias/follow")), ErrorType::kNotFound);
}

TEST_F(ServiceClusterTest, RotationOnOneNodeDecryptsOnANodeThatCachedTheKeyBefore) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());  // B caches version 1 only
  store_.HoldFeed(true);
  ASSERT_TRUE(A().RotateKeyOnDemand(call_, key_id).ok());
  auto encrypted = A().Encrypt(call_, key_id, SecretBytes::FromString("v2"), {}, {});
  ASSERT_TRUE(encrypted.ok());
  auto decrypted = B().Decrypt(call_, encrypted->ciphertext_blob, {}, "", {});
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(decrypted->plaintext.view(), "v2");
  store_.HoldFeed(false);
}

// Issue 13: imported key material changed on one node, used on another whose cache is behind.
TEST_F(ServiceClusterTest, ImportedMaterialChangedOnOneNodeIsRotatedAndImportedOnAnother) {
  auto key = A().CreateKey(call_, {.origin = "EXTERNAL"});
  ASSERT_TRUE(key.ok()) << key.status();
  auto import = [&](KmsService& node, std::string_view material,
                    std::optional<std::string> import_type) {
    auto parameters =
        node.GetParametersForImport(call_, key->key_id, "RSAES_OAEP_SHA_256", "RSA_2048");
    EXPECT_TRUE(parameters.ok()) << parameters.status();
    ImportKeyMaterialRequest request;
    request.key_id = key->key_id;
    request.import_token = parameters->import_token;
    request.encrypted_key_material =
        *crypto::RsaOaepEncrypt(parameters->public_key, "SHA256", material);
    request.expiration_model = "KEY_MATERIAL_DOES_NOT_EXPIRE";
    request.import_type = std::move(import_type);
    return node.ImportKeyMaterial(call_, request);
  };
  ASSERT_TRUE(import(A(), std::string(32, 'a'), std::nullopt).ok());
  ASSERT_TRUE(EncryptOn(B(), key->key_id).ok());  // B caches the key with one material
  store_.HoldFeed(true);                           // and hears nothing more
  auto added = import(A(), std::string(32, 'b'), "NEW_KEY_MATERIAL");
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_TRUE(B().RotateKeyOnDemand(call_, key->key_id).ok());
  auto described = B().DescribeKey(call_, key->key_id, {});
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->key_material_id, added->key_material_id);
  // A's cache is behind now: its next import reads the key again instead of failing.
  auto third = import(A(), std::string(32, 'c'), "NEW_KEY_MATERIAL");
  ASSERT_TRUE(third.ok()) << third.status();
  auto listed = A().ListKeyRotations(call_, key->key_id, 10, "", /*include_all=*/true);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->rotations.size(), 3u);
  EXPECT_EQ(listed->rotations[2].key_material_state, "PENDING_ROTATION");
  store_.HoldFeed(false);
}

TEST_F(ServiceClusterTest, GrantRevokedOnOneNodeNoLongerAllowsOnTheOther) {
  std::string key_id = NewKey(A());
  CallContext grantee = testing::AsUser("grantee");
  auto grant = A().CreateGrant(call_, {.key_id = key_id,
                                       .grantee_principal = testing::UserArn("grantee"),
                                       .operations = {"Encrypt"}});
  ASSERT_TRUE(grant.ok()) << grant.status();
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(B().Encrypt(grantee, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  ASSERT_TRUE(A().RevokeGrant(call_, key_id, grant->grant_id, false).ok());
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(B().Encrypt(grantee, key_id, SecretBytes::FromString("x"), {}, {}).status()),
            ErrorType::kAccessDenied);
  // Revoking it again on B finds it gone.
  EXPECT_EQ(TypeOf(B().RevokeGrant(call_, key_id, grant->grant_id, false)), ErrorType::kNotFound);
}

TEST_F(ServiceClusterTest, AliasAndGrantTokenMadeOnOneNodeWorkOnAnotherAtOnce) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());  // B caches the key without the grant
  store_.HoldFeed(true);                     // and hears of nothing below
  ASSERT_TRUE(A().CreateAlias(call_, "alias/fresh", key_id).ok());
  EXPECT_TRUE(EncryptOn(B(), "alias/fresh").ok());
  CallContext grantee = testing::AsUser("grantee");
  auto grant = A().CreateGrant(call_, {.key_id = key_id,
                                       .grantee_principal = testing::UserArn("grantee"),
                                       .operations = {"Encrypt"}});
  ASSERT_TRUE(grant.ok()) << grant.status();
  // AWS: with the grant token, a new grant is usable at once.
  auto with_token =
      B().Encrypt(grantee, key_id, SecretBytes::FromString("x"), {}, {grant->grant_token});
  EXPECT_TRUE(with_token.ok()) << with_token.status();
  store_.HoldFeed(false);
}

TEST_F(ServiceClusterTest, LastUsageIsTheLatestSavedByAnyNode) {
  std::string key_id = NewKey(A());
  CallContext first = call_;
  first.event_id = "first";
  CallContext second = call_;
  second.event_id = "second";
  ASSERT_TRUE(B().Encrypt(first, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  ASSERT_TRUE(B().SaveKeyUsage().ok());
  now_ += 60;
  ASSERT_TRUE(A().Encrypt(second, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  ASSERT_TRUE(A().SaveKeyUsage().ok());
  auto usage = B().GetKeyLastUsage(call_, key_id);  // B remembers its own, older use
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_TRUE(usage->last_use.has_value());
  EXPECT_EQ(usage->last_use->cloudtrail_event_id, "second");
}

TEST_F(ServiceClusterTest, StaleFeedServesFromStorageOnlyAndFailsClosedWhenItFails) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());  // cached on B
  store_.DeclareStale(1);
  ASSERT_TRUE(Delivered());
  // While stale, the events B would need are lost: B must read storage.
  store_.HoldFeed(true);
  ASSERT_TRUE(A().DisableKey(call_, key_id).ok());
  EXPECT_EQ(TypeOf(EncryptOn(B(), key_id)), ErrorType::kDisabled);
  ASSERT_TRUE(A().EnableKey(call_, key_id).ok());
  EXPECT_TRUE(EncryptOn(B(), key_id).ok());
  // Storage unreachable: no answer from the cache, a prompt error.
  store_.SetUnreachable(true);
  EXPECT_EQ(TypeOf(EncryptOn(B(), key_id)), ErrorType::kDependencyTimeout);
  EXPECT_EQ(TypeOf(B().DescribeKey(call_, key_id, {}).status()), ErrorType::kDependencyTimeout);
  // A, whose feed is current, still serves what it cached.
  EXPECT_TRUE(EncryptOn(A(), key_id).ok());
  store_.SetUnreachable(false);
  store_.HoldFeed(false);
  store_.DeclareCurrent(1);
  ASSERT_TRUE(Delivered());
  EXPECT_TRUE(EncryptOn(B(), key_id).ok());
  EXPECT_TRUE(EncryptOn(B(), key_id).ok());  // from the cache again
  store_.SetUnreachable(true);
  EXPECT_TRUE(EncryptOn(B(), key_id).ok());
  store_.SetUnreachable(false);
}

TEST_F(ServiceClusterTest, OnlyTheLeaderRunsDueTasks) {
  std::string key_id = NewKey(A());
  ASSERT_TRUE(A().ScheduleKeyDeletion(call_, key_id, 7).ok());
  now_ += 8 * kDay;
  store_.SetLeader(1);
  auto a_report = A().RunDueTasks();
  ASSERT_TRUE(a_report.ok()) << a_report.status();
  EXPECT_EQ(a_report->keys_deleted, 0);
  EXPECT_TRUE(B().DescribeKey(call_, key_id, {}).ok());
  auto b_report = B().RunDueTasks();
  ASSERT_TRUE(b_report.ok()) << b_report.status();
  EXPECT_EQ(b_report->keys_deleted, 1);
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(A().DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
}

TEST_F(ServiceClusterTest, DueTasksRunExactlyOnceWhenTheLeadershipMovesMidway) {
  std::vector<std::string> deleting;
  for (int i = 0; i < 4; ++i) {
    deleting.push_back(NewKey(A()));
    ASSERT_TRUE(A().CreateAlias(call_, StrCat("alias/doomed-", i), deleting.back()).ok());
    ASSERT_TRUE(A().ScheduleKeyDeletion(call_, deleting.back(), 7).ok());
  }
  std::string rotating = NewKey(A());
  ASSERT_TRUE(A().EnableKeyRotation(call_, rotating, 90).ok());
  ASSERT_TRUE(Delivered());
  now_ += 91 * kDay;
  store_.SetLeader(0);
  // A starts the pass; before its first task commits, it loses the leadership to B, which runs
  // the whole pass while A, a former leader that has not noticed yet, goes on.
  int b_deleted = -1;
  int b_rotated = -1;
  store_.BeforeNextCommit(0, [&] {
    store_.SetLeader(1);
    auto report = B().RunDueTasks();
    ASSERT_TRUE(report.ok()) << report.status();
    b_deleted = report->keys_deleted;
    b_rotated = report->keys_rotated;
  });
  auto a_report = A().RunDueTasks();
  ASSERT_TRUE(a_report.ok()) << a_report.status();
  EXPECT_EQ(a_report->keys_deleted + b_deleted, 4);
  EXPECT_EQ(a_report->keys_rotated + b_rotated, 1);
  EXPECT_EQ(b_deleted, 4);
  ASSERT_TRUE(Delivered());
  for (const std::string& key_id : deleting) {
    EXPECT_EQ(TypeOf(A().DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
    EXPECT_EQ(TypeOf(B().DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
  }
  auto aliases = A().ListAliases(call_, "", 50, "");
  ASSERT_TRUE(aliases.ok());
  EXPECT_TRUE(aliases->aliases.empty());
  auto rotations = B().ListKeyRotations(call_, rotating, 50, "");
  ASSERT_TRUE(rotations.ok()) << rotations.status();
  EXPECT_EQ(rotations->rotations.size(), 1u);
  // Nothing is left to do, on either node.
  for (int leader : {0, 1}) {
    store_.SetLeader(leader);
    auto again = nodes_[leader]->RunDueTasks();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->keys_deleted, 0);
    EXPECT_EQ(again->keys_rotated, 0);
  }
}

TEST_F(ServiceClusterTest, CachedKeyServesCryptoWithoutReadingTheSharedStore) {
  std::string key_id = NewKey(A());
  std::string alias_target = NewKey(A());
  ASSERT_TRUE(A().CreateAlias(call_, "alias/hot", alias_target).ok());
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());
  ASSERT_TRUE(EncryptOn(B(), "alias/hot").ok());
  int reads = store_.reads();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(EncryptOn(B(), key_id).ok());
    ASSERT_TRUE(EncryptOn(B(), "alias/hot").ok());
    ASSERT_TRUE(B().GenerateDataKey(call_, key_id, 32, {}, true, {}).ok());
  }
  EXPECT_EQ(store_.reads(), reads);
}

// One node's backend (not shared) that counts its reads.
class CountingBackend final : public Backend {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    ++reads;
    return inner_->Get(key);
  }
  absl::Status Put(std::string_view key, std::string_view value) override {
    return inner_->Put(key, value);
  }
  absl::Status Delete(std::string_view key) override { return inner_->Delete(key); }
  absl::Status Commit(const StorageBatch& batch) override { return inner_->Commit(batch); }
  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    ++reads;
    return inner_->List(prefix, start_after, limit);
  }
  absl::Status Compact() override { return inner_->Compact(); }

  std::atomic<int> reads{0};

 private:
  std::unique_ptr<Backend> inner_ = NewMemoryBackend();
};

TEST_F(ServiceClusterTest, OneNodeServesCryptoFromTheCacheWithoutReadingStorage) {
  CountingBackend backend;
  auto seal = OpenFileSeal((dir_ / "root.key").string());
  ASSERT_TRUE(seal.ok());
  auto keystore = OpenKeystore(&backend, seal->get());
  ASSERT_TRUE(keystore.ok());
  ServiceOptions options;
  options.backend = &backend;
  auto service = NewKmsService(options, keystore->get(), std::make_unique<FixedClock>(&now_));
  auto key = service->CreateKey(call_, {});
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(service->CreateAlias(call_, "alias/one", key->key_id).ok());
  ASSERT_TRUE(EncryptOn(*service, "alias/one").ok());
  int reads = backend.reads.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(EncryptOn(*service, key->key_id).ok());
    ASSERT_TRUE(EncryptOn(*service, "alias/one").ok());
  }
  EXPECT_EQ(backend.reads.load(), reads);
  // A change reads its key record once, to make its write conditional.
  ASSERT_TRUE(service->DisableKey(call_, key->key_id).ok());
  EXPECT_EQ(backend.reads.load(), reads + 1);
}

TEST_F(ServiceClusterTest, KeyUsageSavedByTwoNodesKeepsTheLatest) {
  std::string key_id = NewKey(A());
  CallContext early = call_;
  early.event_id = "early";
  CallContext late = call_;
  late.event_id = "late";
  ASSERT_TRUE(A().Encrypt(late, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  now_ -= 100;
  ASSERT_TRUE(B().Encrypt(early, key_id, SecretBytes::FromString("x"), {}, {}).ok());
  ASSERT_TRUE(A().SaveKeyUsage().ok());
  ASSERT_TRUE(B().SaveKeyUsage().ok());  // older than what A saved: A's stays
  KmsService& c = AddNode();
  auto usage = c.GetKeyLastUsage(call_, key_id);
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_TRUE(usage->last_use.has_value());
  EXPECT_EQ(usage->last_use->cloudtrail_event_id, "late");
}

// Issue 12: etcd takes at most 128 operations per transaction; a key with more records than that
// (here 130 rotations, 60 aliases, 80 grants) is destroyed in bounded batches.
TEST_F(ServiceClusterTest, KeyWithMoreRecordsThanOneTransactionTakesIsDestroyed) {
  store_.SetMaxBatchOperations(kEtcdMaxBatchOperations);
  std::string key_id = BigKeyScheduledForDeletion(130, 60, 80);
  ASSERT_GT(RecordsOfKey(key_id), 2 * kEtcdMaxBatchOperations);
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(B().DescribeKey(call_, key_id, {}).ok());  // cached on B
  now_ += 8 * kDay;
  auto report = A().RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->keys_deleted, 1);
  EXPECT_EQ(RecordsOfKey(key_id), 0u);
  ASSERT_TRUE(Delivered());
  for (KmsService* node : {&A(), &B()}) {
    EXPECT_EQ(TypeOf(node->DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
    auto aliases = node->ListAliases(call_, "", 100, "");
    ASSERT_TRUE(aliases.ok());
    EXPECT_TRUE(aliases->aliases.empty());
  }
  auto events = EventsNamed("DeleteKey");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].second.key_arn, KeyArn(key_id));
  EXPECT_EQ(EventsNamed("RotateKey").size(), 130u);
}

// A leader that dies (here: loses the store) after the first batch leaves a marked key: it
// answers NotFound on every node, never serves with part of its material gone, and the next
// leader finishes the destruction without reporting the deletion again.
TEST_F(ServiceClusterTest, DestructionCutShortIsFinishedByTheNextLeaderAndNeverServesMeanwhile) {
  store_.SetMaxBatchOperations(kEtcdMaxBatchOperations);
  std::string key_id = BigKeyScheduledForDeletion(130, 3, 0);
  ASSERT_TRUE(Delivered());
  now_ += 8 * kDay;
  // A's commits: the mark, the note that the deletion was reported, the first batch, then the
  // store is gone (a step runs once the commit it precedes was let through).
  store_.BeforeNextCommit(0, [&] {
    store_.BeforeNextCommit(
        0, [&] { store_.BeforeNextCommit(0, [&] { store_.SetUnreachable(true); }); });
  });
  auto cut = A().RunDueTasks();
  EXPECT_EQ(TypeOf(cut.status()), ErrorType::kDependencyTimeout) << cut.status();
  store_.SetUnreachable(false);
  size_t left = RecordsOfKey(key_id);
  EXPECT_GT(left, 30u);  // the key record and its schedule, 31 materials, the aliases
  ASSERT_TRUE(Delivered());
  for (KmsService* node : {&A(), &B()}) {
    EXPECT_EQ(TypeOf(node->DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
    EXPECT_EQ(TypeOf(EncryptOn(*node, key_id)), ErrorType::kNotFound);
    EXPECT_EQ(TypeOf(EncryptOn(*node, "alias/big-0")), ErrorType::kNotFound);
    EXPECT_EQ(TypeOf(node->CancelKeyDeletion(call_, key_id).status()), ErrorType::kNotFound);
    EXPECT_EQ(TypeOf(node->CreateAlias(call_, "alias/late", key_id)), ErrorType::kNotFound);
  }
  ASSERT_EQ(EventsNamed("DeleteKey").size(), 1u);
  store_.SetLeader(1);
  auto finished = B().RunDueTasks();
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->keys_deleted, 1);
  EXPECT_EQ(RecordsOfKey(key_id), 0u);
  auto events = EventsNamed("DeleteKey");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, 0);  // reported by A, before its first batch
  auto again = B().RunDueTasks();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->keys_deleted, 0);
}

// A deletion whose report fails (the audit trail cannot be written) deletes nothing more; the
// next pass reports it, under the same eventID, and finishes.
TEST_F(ServiceClusterTest, DeletionIsReportedBeforeItsRecordsGoAndUnderOneEventId) {
  std::string key_id = BigKeyScheduledForDeletion(2, 1, 0);
  now_ += 8 * kDay;
  {
    std::lock_guard lock(events_mutex_);
    fail_service_events_ = true;
  }
  size_t records = RecordsOfKey(key_id);
  auto failed = A().RunDueTasks();
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(RecordsOfKey(key_id), records);  // only marked
  EXPECT_EQ(TypeOf(A().DescribeKey(call_, key_id, {}).status()), ErrorType::kNotFound);
  {
    std::lock_guard lock(events_mutex_);
    fail_service_events_ = false;
  }
  store_.SetLeader(1);
  auto report = B().RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->keys_deleted, 1);
  EXPECT_EQ(RecordsOfKey(key_id), 0u);
  auto events = EventsNamed("DeleteKey");
  ASSERT_EQ(events.size(), 1u);
  // The id is the event's, not the node's: A would have reported the same.
  std::string first_id = events[0].second.event_id;
  EXPECT_EQ(first_id.size(), 36u);
  auto other = BigKeyScheduledForDeletion(0, 0, 0);
  now_ += 8 * kDay;
  ASSERT_TRUE(B().RunDueTasks().ok());
  events = EventsNamed("DeleteKey");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].second.event_id, first_id);
}

// Issue 12: two nodes racing the last grant under a quota: the count is part of the conditional
// write (the key record, which each CreateGrant rewrites), so one of them is refused.
TEST_F(ServiceClusterTest, GrantQuotaRacedOnTwoNodesIsNeverExceeded) {
  std::string key_id = NewKey(A());
  CreateGrantRequest request{.key_id = key_id,
                             .grantee_principal = testing::UserArn("grantee"),
                             .operations = {"Encrypt"}};
  for (size_t i = 0; i + 1 < service_internal::kMaxGrantsPerGranteePerKey; ++i) {
    ASSERT_TRUE(A().CreateGrant(call_, request).ok()) << i;
  }
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(EncryptOn(B(), key_id).ok());  // B counts from its cached entry
  // A makes the last grant the quota allows between B's count and B's commit.
  absl::StatusOr<CreateGrantResult> on_a = absl::UnknownError("not run");
  store_.BeforeNextCommit(1, [&] { on_a = A().CreateGrant(call_, request); });
  auto on_b = B().CreateGrant(call_, request);
  ASSERT_TRUE(on_a.ok()) << on_a.status();
  EXPECT_EQ(TypeOf(on_b.status()), ErrorType::kLimitExceeded) << on_b.status();
  size_t total = 0;
  std::string marker;
  do {
    auto page = A().ListGrants(call_, key_id, "", "", 100, marker);
    ASSERT_TRUE(page.ok()) << page.status();
    total += page->grants.size();
    marker = page->next_marker;
  } while (!marker.empty());
  EXPECT_EQ(total, service_internal::kMaxGrantsPerGranteePerKey);
}

// Multi-Region keys on several nodes (issue 13): the release of a primary waiting in
// PendingReplicaDeletion happens once, in the commit that destroys its last replica.
class MultiRegionClusterTest : public testing::ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    for (int i = 0; i < 2; ++i) {
      testing::ClusterFixture::NodeParts& parts = OpenParts();
      ServiceOptions options;
      options.backend = parts.backend.get();
      auto list = ParseRegionList("us-east-1,eu-west-1");
      ASSERT_TRUE(list.ok());
      auto made = NewKmsRegions(*list, options, parts.keystore.get(), &clock_);
      ASSERT_TRUE(made.ok()) << made.status();
      nodes_.push_back(std::move(*made));
    }
    CreateKeyRequest request;
    request.multi_region = true;
    auto key = In(0, "us-east-1").CreateKey(call_, request);
    ASSERT_TRUE(key.ok()) << key.status();
    key_id_ = key->key_id;
    ASSERT_TRUE(In(0, "us-east-1").ReplicateKey(call_, {key_id_, "eu-west-1"}).ok());
    // One pass first, so that the pass under test commits nothing before its due tasks.
    ASSERT_TRUE(nodes_[0]->RunDueTasks().ok());
    ASSERT_TRUE(Delivered());
  }
  void TearDown() override {
    StopWatches();
    nodes_.clear();
    ClusterFixture::TearDown();
  }
  KmsService& In(int node, std::string_view region) {
    auto service = nodes_[node]->ForRegion(region);
    EXPECT_TRUE(service.ok());
    return **service;
  }
  KeyState PrimaryState(int node) {
    auto described = In(node, "us-east-1").DescribeKey(call_, key_id_, {});
    EXPECT_TRUE(described.ok()) << described.status();
    return described.ok() ? described->state : KeyState::kEnabled;
  }

  FixedClock clock_{&now_};
  std::vector<std::unique_ptr<KmsRegions>> nodes_;
  std::string key_id_;
  CallContext call_{
      std::make_shared<const Principal>(RootPrincipal(testing::kAccount, "AKIAROOT"))};
};

TEST_F(MultiRegionClusterTest, TheLastReplicaReleasesThePrimaryOnceWhenTheLeadershipMoves) {
  ASSERT_TRUE(In(1, "us-east-1").ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(In(0, "eu-west-1").ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(Delivered());
  now_ += 8 * kDay;
  store_.SetLeader(0);
  // A starts the pass and loses the leadership before its first commit; B runs the whole pass.
  int b_deleted = -1;
  store_.BeforeNextCommit(0, [&] {
    store_.SetLeader(1);
    auto report = nodes_[1]->RunDueTasks();
    ASSERT_TRUE(report.ok()) << report.status();
    b_deleted = report->keys_deleted;
  });
  auto a_report = nodes_[0]->RunDueTasks();
  ASSERT_TRUE(a_report.ok()) << a_report.status();
  EXPECT_EQ(a_report->keys_deleted + b_deleted, 1);
  ASSERT_TRUE(Delivered());
  for (int node : {0, 1}) {
    EXPECT_EQ(PrimaryState(node), KeyState::kPendingDeletion) << node;
    auto described = In(node, "us-east-1").DescribeKey(call_, key_id_, {});
    ASSERT_TRUE(described.ok());
    EXPECT_EQ(described->deletion_date, now_ + 7 * kDay);
  }
  // Its own seven days, then one deletion whichever node leads.
  now_ += 7 * kDay;
  int deleted = 0;
  for (int leader : {1, 0}) {
    store_.SetLeader(leader);
    auto report = nodes_[leader]->RunDueTasks();
    ASSERT_TRUE(report.ok()) << report.status();
    deleted += report->keys_deleted;
  }
  EXPECT_EQ(deleted, 1);
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(In(0, "us-east-1").DescribeKey(call_, key_id_, {}).status()),
            ErrorType::kNotFound);
}

TEST_F(MultiRegionClusterTest, ACancelBetweenTheReleasesReadAndItsCommitWins) {
  ASSERT_TRUE(In(0, "us-east-1").ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(In(0, "eu-west-1").ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(Delivered());
  now_ += 8 * kDay;
  store_.SetLeader(0);
  // B cancels the primary's deletion after A read the primary (PendingReplicaDeletion) and
  // before A commits the replica's destruction with the primary's release: A's fourth commit
  // (issue 12: the replica is marked, its report noted, its material deleted, then its record
  // goes with the release).
  absl::Status cancelled;
  store_.BeforeNextCommit(0, [&] {
    store_.BeforeNextCommit(0, [&] {
      store_.BeforeNextCommit(0, [&] {
        store_.BeforeNextCommit(
            0, [&] { cancelled = In(1, "us-east-1").CancelKeyDeletion(call_, key_id_).status(); });
      });
    });
  });
  auto report = nodes_[0]->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(cancelled.ok()) << cancelled;
  EXPECT_EQ(report->keys_deleted, 1);  // the replica, after a retry
  EXPECT_GT(store_.conflicts(), 0);
  ASSERT_TRUE(Delivered());
  for (int node : {0, 1}) EXPECT_EQ(PrimaryState(node), KeyState::kDisabled) << node;
  EXPECT_EQ(TypeOf(In(1, "eu-west-1").DescribeKey(call_, key_id_, {}).status()),
            ErrorType::kNotFound);
}

TEST_F(MultiRegionClusterTest, AScheduleRacingTheLastReplicasDestructionStillWaitsForIt) {
  // B schedules the primary while A destroys the last replica: the schedule touches the shared
  // record A's commit expects, so A retries and releases the primary it now finds waiting.
  ASSERT_TRUE(In(0, "eu-west-1").ScheduleKeyDeletion(call_, key_id_, 7).ok());
  ASSERT_TRUE(Delivered());
  now_ += 8 * kDay;
  store_.SetLeader(0);
  absl::StatusOr<ScheduleDeletionResult> scheduled;
  store_.BeforeNextCommit(0, [&] {
    scheduled = In(1, "us-east-1").ScheduleKeyDeletion(call_, key_id_, 9);
  });
  auto report = nodes_[0]->RunDueTasks();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  EXPECT_EQ(scheduled->key_state, KeyState::kPendingReplicaDeletion);
  EXPECT_EQ(report->keys_deleted, 1);
  ASSERT_TRUE(Delivered());
  auto described = In(1, "us-east-1").DescribeKey(call_, key_id_, {});
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->state, KeyState::kPendingDeletion);
  EXPECT_EQ(described->deletion_date, now_ + 9 * kDay);
}

}  // namespace
}  // namespace kmsd
