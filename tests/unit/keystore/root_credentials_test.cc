// The root credentials (src/cmd/root_credentials.cc): sealed in the keystore, never in a data dir
// file in the clear; an older plaintext file is sealed and removed; nodes sharing a keystore agree.
#include "cmd/root_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "unit/keystore_fixture.h"
#include "kmsd/errors.h"

namespace kmsd::cmd {
namespace {

class RootCredentialsTest : public kmsd::testing::KeystoreFixture {
 protected:
  void SetUp() override {
    KeystoreFixture::SetUp();
    unsetenv("KMSD_ROOT_ACCESS_KEY_ID");
    unsetenv("KMSD_ROOT_SECRET_ACCESS_KEY");
  }

  std::filesystem::path FilePath() const { return dir_ / kCredentialsFile; }

  void WriteFile(const std::string& text, mode_t mode = 0600) {
    { std::ofstream(FilePath()) << text; }
    chmod(FilePath().c_str(), mode);
  }

  std::string Sealed() {
    auto stored = keystore_->Get(kRootCredentialsRecordId);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() && *stored ? std::string((*stored)->view()) : std::string();
  }
};

TEST_F(RootCredentialsTest, GeneratedOnceSealedAndTheSameOnTheNextStart) {
  auto first = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->generated);
  EXPECT_EQ(first->access_key_id.size(), 20u);
  EXPECT_EQ(first->access_key_id.substr(0, 4), "AKIA");
  EXPECT_EQ(first->secret_access_key.size(), 40u);
  EXPECT_FALSE(std::filesystem::exists(FilePath()));
  EXPECT_EQ(Sealed(), first->access_key_id + "\n" + first->secret_access_key + "\n");
  // The backend holds the record sealed: the secret is nowhere in it in the clear.
  auto raw = backend_->Get(kRootCredentialsRecordId);
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_EQ(raw->value().find(first->secret_access_key), std::string::npos);

  auto second = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->generated);
  EXPECT_FALSE(second->moved_from_file);
  EXPECT_EQ(second->access_key_id, first->access_key_id);
  EXPECT_EQ(second->secret_access_key, first->secret_access_key);
}

TEST_F(RootCredentialsTest, AnOlderPlaintextFileIsSealedAndRemoved) {
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length\n");
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->moved_from_file);
  EXPECT_FALSE(loaded->generated);
  EXPECT_EQ(loaded->access_key_id, "AKIAOLDFILE000000000");
  EXPECT_EQ(loaded->secret_access_key, "an-old-secret-of-some-length");
  EXPECT_FALSE(std::filesystem::exists(FilePath()));
  EXPECT_EQ(Sealed(), "AKIAOLDFILE000000000\nan-old-secret-of-some-length\n");
}

TEST_F(RootCredentialsTest, AFileWithoutItsLastNewlineIsRead) {
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length");
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->secret_access_key, "an-old-secret-of-some-length");
}

TEST_F(RootCredentialsTest, AFileLeftBesideTheSameSealedCredentialsIsRemoved) {
  // A start that sealed the file and stopped before removing it, or a restored older backup.
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length\n");
  ASSERT_TRUE(LoadOrCreateRootCredentials(dir_, *keystore_).ok());
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length\n");
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->moved_from_file);
  EXPECT_FALSE(std::filesystem::exists(FilePath()));
}

TEST_F(RootCredentialsTest, AFileThatDisagreesWithTheSealedOnesRefusesAndChangesNothing) {
  auto sealed = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(sealed.ok());
  WriteFile("AKIAOTHER00000000000\nanother-secret-of-some-length\n");
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(TypeOf(loaded.status()), ErrorType::kValidation);
  std::string message(loaded.status().message());
  EXPECT_NE(message.find("AKIAOTHER00000000000"), std::string::npos) << message;
  EXPECT_NE(message.find(sealed->access_key_id), std::string::npos) << message;
  EXPECT_EQ(message.find("another-secret"), std::string::npos) << message;
  EXPECT_TRUE(std::filesystem::exists(FilePath()));
  EXPECT_EQ(Sealed(), sealed->access_key_id + "\n" + sealed->secret_access_key + "\n");
}

TEST_F(RootCredentialsTest, AFileOthersCanReadOrWithAShortSecretOrMalformedIsRefused) {
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length\n", 0644);
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
  WriteFile("AKIAOLDFILE000000000\nshort\n");
  loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("at least 16"), std::string::npos);
  for (const char* text : {"", "AKIAONLYONELINE\n", "\nsecret-without-an-id-1234\n",
                           "AKIATHREELINES000000\nsecret-of-some-length-1\nthird\n"}) {
    WriteFile(text);
    loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_NE(loaded.status().message().find("malformed"), std::string::npos) << text;
  }
  // Nothing was sealed by any refused start.
  EXPECT_EQ(Sealed(), "");
}

// A keystore whose first Commit loses to another node that sealed its own credentials between
// this node's read and write.
class RacedKeystore final : public Keystore {
 public:
  explicit RacedKeystore(Keystore* base) : base_(base) {}
  absl::StatusOr<std::optional<SecretBytes>> Get(std::string_view id) override {
    return base_->Get(id);
  }
  absl::StatusOr<VersionedRecord> GetVersioned(std::string_view id) override {
    return base_->GetVersioned(id);
  }
  absl::Status Put(std::string_view id, std::string_view plaintext) override {
    return base_->Put(id, plaintext);
  }
  absl::Status Delete(std::string_view id) override { return base_->Delete(id); }
  absl::Status Commit(const KeystoreBatch& batch) override {
    if (!raced_) {
      raced_ = true;
      absl::Status other = base_->Put(kRootCredentialsRecordId,
                                      "AKIAOTHERNODE0000000\nthe-other-nodes-secret-123\n");
      if (!other.ok()) return other;
    }
    return base_->Commit(batch);
  }
  absl::StatusOr<std::vector<KeystoreRecord>> List(std::string_view prefix,
                                                   std::string_view start_after,
                                                   size_t limit) override {
    return base_->List(prefix, start_after, limit);
  }
  absl::Status Compact() override { return base_->Compact(); }

 private:
  Keystore* base_;
  bool raced_ = false;
};

TEST_F(RootCredentialsTest, NodesRacingOnOneKeystoreAgreeOnTheFirstSealed) {
  RacedKeystore raced(keystore_.get());
  auto loaded = LoadOrCreateRootCredentials(dir_, raced);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->generated);  // this node's would-be credentials were never used or shown
  EXPECT_EQ(loaded->access_key_id, "AKIAOTHERNODE0000000");
  EXPECT_EQ(loaded->secret_access_key, "the-other-nodes-secret-123");
}

TEST_F(RootCredentialsTest, TheEnvironmentWinsAndTouchesNeitherKeystoreNorFile) {
  WriteFile("AKIAOLDFILE000000000\nan-old-secret-of-some-length\n");
  setenv("KMSD_ROOT_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0", 1);
  setenv("KMSD_ROOT_SECRET_ACCESS_KEY", "a-secret-from-the-environment", 1);
  auto loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->from_environment);
  EXPECT_EQ(loaded->access_key_id, "AKIAFROMENVIRONMENT0");
  EXPECT_EQ(loaded->secret_access_key, "a-secret-from-the-environment");
  EXPECT_EQ(std::getenv("KMSD_ROOT_SECRET_ACCESS_KEY"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(FilePath()));
  EXPECT_EQ(Sealed(), "");
  unsetenv("KMSD_ROOT_ACCESS_KEY_ID");

  setenv("KMSD_ROOT_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0", 1);  // the secret missing
  loaded = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("or neither"), std::string::npos);
  unsetenv("KMSD_ROOT_ACCESS_KEY_ID");
}

TEST_F(RootCredentialsTest, TheEnvironmentReplacesOtherSealedCredentialsForGood) {
  auto generated = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(generated.ok());
  // The same credentials given in the environment (copied from the banner) leave the record.
  setenv("KMSD_ROOT_ACCESS_KEY_ID", generated->access_key_id.c_str(), 1);
  setenv("KMSD_ROOT_SECRET_ACCESS_KEY", generated->secret_access_key.c_str(), 1);
  auto same = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->replaced_sealed);
  EXPECT_NE(Sealed(), "");
  // Other ones (the sealed ones were lost or stolen) delete the record: they never come back.
  setenv("KMSD_ROOT_ACCESS_KEY_ID", "AKIAREPLACEMENT00000", 1);
  setenv("KMSD_ROOT_SECRET_ACCESS_KEY", "a-replacement-secret-12345", 1);
  auto replaced = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_TRUE(replaced->from_environment);
  EXPECT_TRUE(replaced->replaced_sealed);
  EXPECT_EQ(replaced->replaced_access_key_id, generated->access_key_id);
  EXPECT_EQ(Sealed(), "");
  unsetenv("KMSD_ROOT_ACCESS_KEY_ID");
  // Without the environment, new ones are made (and shown), not the old ones.
  auto next = LoadOrCreateRootCredentials(dir_, *keystore_);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->generated);
  EXPECT_NE(next->access_key_id, generated->access_key_id);
}

}  // namespace
}  // namespace kmsd::cmd
