// The barrier: records are sealed, bound to their ids, and need the right root key.
#include "kmsd/keystore.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "kmsd/errors.h"

namespace kmsd {
namespace {

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kmsd-keystore-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    backend_ = NewMemoryBackend();
    seal_ = std::move(*OpenFileSeal(RootKeyPath()));
    keystore_ = std::move(*OpenKeystore(backend_.get(), seal_.get()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string RootKeyPath() const { return (dir_ / "root.key").string(); }

  std::filesystem::path dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Seal> seal_;
  std::unique_ptr<Keystore> keystore_;
};

TEST_F(KeystoreTest, RecordsRoundTripAndAreSealedInTheBackend) {
  ASSERT_TRUE(keystore_->Put("key/1", "metadata in the clear").ok());
  EXPECT_EQ((*keystore_->Get("key/1"))->view(), "metadata in the clear");
  std::string stored = **backend_->Get("key/1");
  EXPECT_EQ(stored.size(), 1 + 12 + 21 + 16u);  // version, nonce, ciphertext, tag
  EXPECT_EQ(stored[0], 1);
  EXPECT_EQ(stored.find("metadata"), std::string::npos);
  auto listed = keystore_->List("key/", "", 0);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, "key/1");
  EXPECT_EQ((*listed)[0].value.view(), "metadata in the clear");
}

TEST_F(KeystoreTest, AReadModifyWriteLosesToAConcurrentWriteAndChangesNothing) {
  auto absent = keystore_->GetVersioned("alias/a");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->value.has_value());
  EXPECT_EQ(absent->version, "");
  KeystoreBatch create;
  create.puts.emplace_back("alias/a", "first");
  create.expect.emplace_back("alias/a", absent->version);
  ASSERT_TRUE(keystore_->Commit(create).ok());
  // A second creator that read before the first wrote loses.
  create.puts[0].second = "second";
  EXPECT_TRUE(IsStorageConflict(keystore_->Commit(create)));
  auto read = keystore_->GetVersioned("alias/a");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->value->view(), "first");
  EXPECT_NE(read->version, "");
  KeystoreBatch update;
  update.puts.emplace_back("alias/a", "updated");
  update.expect.emplace_back("alias/a", read->version);
  ASSERT_TRUE(keystore_->Commit(update).ok());
  // The version read before the update no longer matches, although the id holds a record.
  update.puts[0].second = "stale";
  EXPECT_TRUE(IsStorageConflict(keystore_->Commit(update)));
  EXPECT_EQ((*keystore_->Get("alias/a"))->view(), "updated");
}

TEST_F(KeystoreTest, TwoNodesOpeningOneEmptyStoreShareTheFirstKeyringKey) {
  auto backend = NewMemoryBackend();
  auto first = OpenKeystore(backend.get(), seal_.get());
  auto second = OpenKeystore(backend.get(), seal_.get());
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Put("k", "v").ok());
  EXPECT_EQ((*(*second)->Get("k"))->view(), "v");
}

TEST_F(KeystoreTest, AnAbsentRecordIsNulloptAndDeletingItIsFine) {
  auto absent = keystore_->Get("key/none");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  EXPECT_TRUE(keystore_->Delete("key/none").ok());
}

TEST_F(KeystoreTest, EmptyRecordsRoundTrip) {
  ASSERT_TRUE(keystore_->Put("key/empty", "").ok());
  auto value = keystore_->Get("key/empty");
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_TRUE((*value)->empty());
}

TEST_F(KeystoreTest, SealingTheSameRecordTwiceStoresDifferentBytes) {
  ASSERT_TRUE(keystore_->Put("key/1", "same").ok());
  std::string first = **backend_->Get("key/1");
  ASSERT_TRUE(keystore_->Put("key/1", "same").ok());
  EXPECT_NE(**backend_->Get("key/1"), first);
}

TEST_F(KeystoreTest, FlippingAnyBitOfAStoredRecordIsRefused) {
  ASSERT_TRUE(keystore_->Put("key/1", "record").ok());
  std::string stored = **backend_->Get("key/1");
  for (size_t i = 0; i < stored.size() * 8; ++i) {
    std::string tampered = stored;
    tampered[i / 8] = static_cast<char>(tampered[i / 8] ^ (1 << (i % 8)));
    ASSERT_TRUE(backend_->Put("key/1", tampered).ok());
    EXPECT_EQ(TypeOf(keystore_->Get("key/1").status()), ErrorType::kKmsInternal) << "bit " << i;
    EXPECT_EQ(TypeOf(keystore_->List("key/", "", 0).status()), ErrorType::kKmsInternal);
  }
}

TEST_F(KeystoreTest, ATruncatedOrExtendedRecordIsRefused) {
  ASSERT_TRUE(keystore_->Put("key/1", "record").ok());
  std::string stored = **backend_->Get("key/1");
  for (size_t size = 0; size < stored.size(); ++size) {
    ASSERT_TRUE(backend_->Put("key/1", stored.substr(0, size)).ok());
    EXPECT_FALSE(keystore_->Get("key/1").ok()) << size;
  }
  ASSERT_TRUE(backend_->Put("key/1", stored + "x").ok());
  EXPECT_FALSE(keystore_->Get("key/1").ok());
}

TEST_F(KeystoreTest, ARecordMovedToAnotherIdIsRefused) {
  ASSERT_TRUE(keystore_->Put("key/1", "one").ok());
  ASSERT_TRUE(backend_->Put("key/2", **backend_->Get("key/1")).ok());
  EXPECT_EQ(TypeOf(keystore_->Get("key/2").status()), ErrorType::kKmsInternal);
  EXPECT_EQ(TypeOf(keystore_->List("key/", "", 0).status()), ErrorType::kKmsInternal);
}

TEST_F(KeystoreTest, TheKeyringRecordIsWrappedAndReserved) {
  std::string wrapped = **backend_->Get("core/keyring");
  EXPECT_EQ(wrapped.size(), 1 + 12 + 32 + 16u);  // a wrapped 32-byte key, not the key itself
  EXPECT_FALSE(keystore_->Get("core/keyring").ok());
  EXPECT_FALSE(keystore_->Put("core/keyring", "x").ok());
  EXPECT_FALSE(keystore_->Delete("core/keyring").ok());
  KeystoreBatch batch;
  batch.puts.emplace_back("key/1", "x");
  batch.deletes.push_back("core/keyring");
  EXPECT_FALSE(keystore_->Commit(batch).ok());
  EXPECT_FALSE((*keystore_->Get("key/1")).has_value());  // nothing of the batch applied
  EXPECT_EQ(**backend_->Get("core/keyring"), wrapped);
}

TEST_F(KeystoreTest, ListingNeverShowsTheKeyringAndItsLimitCountsOnlyRecords) {
  for (std::string id : {"a", "core/a", "core/z", "z"}) ASSERT_TRUE(keystore_->Put(id, id).ok());
  auto all = keystore_->List("", "", 0);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> ids;
  for (const KeystoreRecord& record : *all) ids.push_back(record.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "core/a", "core/z", "z"}));
  auto page = keystore_->List("core/", "core/a", 1);  // the keyring sits right in this page
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "core/z");
  EXPECT_EQ(keystore_->List("", "", 2)->size(), 2u);
}

TEST_F(KeystoreTest, ReopeningWithTheSameRootKeyReadsRecords) {
  ASSERT_TRUE(keystore_->Put("key/1", "kept").ok());
  auto seal = OpenFileSeal(RootKeyPath());
  ASSERT_TRUE(seal.ok());
  auto reopened = OpenKeystore(backend_.get(), seal->get());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*(*reopened)->Get("key/1"))->view(), "kept");
}

TEST_F(KeystoreTest, ADifferentRootKeyCannotOpenTheKeystore) {
  std::string wrapped = **backend_->Get("core/keyring");
  auto other_seal = OpenFileSeal((dir_ / "other.key").string());
  ASSERT_TRUE(other_seal.ok());
  auto refused = OpenKeystore(backend_.get(), other_seal->get());
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kKmsInternal);
  EXPECT_EQ(**backend_->Get("core/keyring"), wrapped);  // and it did not replace the keyring
}

TEST_F(KeystoreTest, ATamperedKeyringRecordRefusesToOpen) {
  std::string wrapped = **backend_->Get("core/keyring");
  wrapped.back() ^= 1;
  ASSERT_TRUE(backend_->Put("core/keyring", wrapped).ok());
  EXPECT_FALSE(OpenKeystore(backend_.get(), seal_.get()).ok());
}

TEST_F(KeystoreTest, CommitIsAtomicAcrossPutsAndDeletes) {
  ASSERT_TRUE(keystore_->Put("a", "1").ok());
  KeystoreBatch batch;
  batch.puts.emplace_back("b", "2");
  batch.deletes.push_back("a");
  ASSERT_TRUE(keystore_->Commit(batch).ok());
  EXPECT_FALSE((*keystore_->Get("a")).has_value());
  EXPECT_EQ((*keystore_->Get("b"))->view(), "2");
  EXPECT_TRUE(keystore_->Compact().ok());
}

TEST(KeystoreOnSqlite, RecordsSurviveRestartAndNeverReachTheDiskInTheClear) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kmsd-keystore-sqlite-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string root = (dir / "root.key").string(), database = (dir / "kv.db").string();
  const std::string plaintext = "PLAINTEXT-RECORD-" + std::string(64, 'p');
  {
    auto seal = OpenFileSeal(root);
    auto backend = OpenSqliteBackend(database);
    ASSERT_TRUE(seal.ok() && backend.ok());
    auto keystore = OpenKeystore(backend->get(), seal->get());
    ASSERT_TRUE(keystore.ok());
    ASSERT_TRUE((*keystore)->Put("key/1", plaintext).ok());
    ASSERT_TRUE((*keystore)->Compact().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path() == root) continue;
    std::string content(std::filesystem::file_size(entry), '\0');
    FILE* file = fopen(entry.path().c_str(), "rb");
    ASSERT_NE(file, nullptr);
    ASSERT_EQ(fread(content.data(), 1, content.size(), file), content.size());
    fclose(file);
    EXPECT_EQ(content.find("PLAINTEXT-RECORD-"), std::string::npos) << entry.path();
  }
  auto seal = OpenFileSeal(root);
  auto backend = OpenSqliteBackend(database);
  ASSERT_TRUE(seal.ok() && backend.ok());
  auto keystore = OpenKeystore(backend->get(), seal->get());
  ASSERT_TRUE(keystore.ok()) << keystore.status();
  EXPECT_EQ((*(*keystore)->Get("key/1"))->view(), plaintext);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kmsd
