// The barrier: records are sealed, bound to their ids, and need the right root key.
#include "kmsd/keystore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "kmsd/errors.h"

namespace kmsd {
namespace {

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kmsd-keystore-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
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
  EXPECT_EQ(stored.find("metadata"), std::string::npos);
  auto listed = keystore_->List("key/", "", 0);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].value.view(), "metadata in the clear");
}

TEST_F(KeystoreTest, FlippingAnyByteOfAStoredRecordIsRefused) {
  ASSERT_TRUE(keystore_->Put("key/1", "record").ok());
  std::string stored = **backend_->Get("key/1");
  for (size_t i = 0; i < stored.size(); ++i) {
    std::string tampered = stored;
    tampered[i] ^= 0x40;
    ASSERT_TRUE(backend_->Put("key/1", tampered).ok());
    EXPECT_FALSE(keystore_->Get("key/1").ok()) << i;
    EXPECT_FALSE(keystore_->List("key/", "", 0).ok()) << i;
  }
}

TEST_F(KeystoreTest, ARecordMovedToAnotherIdIsRefused) {
  ASSERT_TRUE(keystore_->Put("key/1", "one").ok());
  ASSERT_TRUE(backend_->Put("key/2", **backend_->Get("key/1")).ok());
  EXPECT_EQ(TypeOf(keystore_->Get("key/2").status()), ErrorType::kKmsInternal);
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
  auto other_seal = OpenFileSeal((dir_ / "other.key").string());
  ASSERT_TRUE(other_seal.ok());
  EXPECT_FALSE(OpenKeystore(backend_.get(), other_seal->get()).ok());
}

TEST_F(KeystoreTest, RootKeyFileIsCreatedPrivate) {
  struct stat st;
  ASSERT_EQ(stat(RootKeyPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
}

TEST_F(KeystoreTest, RootKeyFileReadableByOthersIsRefused) {
  std::filesystem::permissions(RootKeyPath(), std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  EXPECT_FALSE(OpenFileSeal(RootKeyPath()).ok());
}

TEST_F(KeystoreTest, RootKeyFileOfTheWrongSizeIsRefused) {
  std::string path = (dir_ / "short.key").string();
  std::ofstream(path) << "too short";
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  EXPECT_FALSE(OpenFileSeal(path).ok());
}

TEST_F(KeystoreTest, CommitIsAtomicAcrossPutsAndDeletes) {
  ASSERT_TRUE(keystore_->Put("a", "1").ok());
  KeystoreBatch batch;
  batch.puts.emplace_back("b", "2");
  batch.deletes.push_back("a");
  ASSERT_TRUE(keystore_->Commit(batch).ok());
  EXPECT_FALSE((*keystore_->Get("a")).has_value());
  EXPECT_EQ((*keystore_->Get("b"))->view(), "2");
}

}  // namespace
}  // namespace kmsd
