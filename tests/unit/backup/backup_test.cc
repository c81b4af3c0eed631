// CreateBackup and Restore on real data dirs: what a backup holds, how a restore checks and
// places it, and what it refuses (leaving the target as it was).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kmsd/backup.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::backup {
namespace {

namespace fs = std::filesystem;

constexpr int kRecords = 20;

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/kmsd-backup-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    source_ = root_ / "source";
    fs::create_directories(source_);
    // A data dir as a server leaves it: sealed records, credentials, a signing key, an audit dir.
    auto seal = OpenFileSeal((source_ / kRootKeyFile).string());
    ASSERT_TRUE(seal.ok()) << seal.status();
    seal_ = std::move(*seal);
    auto backend = OpenSqliteBackend((source_ / kDatabaseFile).string());
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    auto keystore = OpenKeystore(backend_.get(), seal_.get());
    ASSERT_TRUE(keystore.ok()) << keystore.status();
    keystore_ = std::move(*keystore);
    for (int i = 0; i < kRecords; ++i) {
      ASSERT_TRUE(keystore_->Put(StrCat("key/", i), StrCat("record ", i)).ok());
    }
    WriteFile(source_ / kCredentialsFile, "AKIAEXAMPLEEXAMPLE12\nsecretsecretsecret\n");
    WriteFile(source_ / kAuditSigningKeyFile, "-----BEGIN PRIVATE KEY-----\n...\n");
    fs::create_directories(source_ / "audit");
    WriteFile(source_ / "audit" / "digests.jsonl", "{}\n");
  }
  void TearDown() override {
    keystore_.reset();
    backend_.reset();
    fs::remove_all(root_);
  }

  static void WriteFile(const fs::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
  }
  static std::string ReadFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }
  static std::set<std::string> Names(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
    return names;
  }
  static unsigned Mode(const fs::path& path) {
    struct stat st;
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  fs::path Backup() {
    fs::path out = root_ / "kmsd.backup";
    auto manifest = CreateBackup({source_.string(), out.string(), "0.1.0-test"});
    EXPECT_TRUE(manifest.ok()) << manifest.status();
    return out;
  }

  absl::StatusOr<RestoreReport> RestoreInto(const fs::path& backup, const fs::path& dir) {
    return Restore({backup.string(), dir.string()});
  }

  fs::path root_, source_;
  std::unique_ptr<Seal> seal_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Keystore> keystore_;
};

TEST_F(BackupTest, HoldsTheDatabaseCredentialsAndSigningKeyButNotTheRootKeyOrTheAudit) {
  auto archive = DecodeArchive(ReadFile(Backup()));
  ASSERT_TRUE(archive.ok()) << archive.status();
  std::set<std::string> names;
  for (const ArchiveFile& file : archive->files) names.insert(file.name);
  EXPECT_EQ(names, (std::set<std::string>{kDatabaseFile, kCredentialsFile, kAuditSigningKeyFile}));
  EXPECT_EQ(archive->manifest.kmsd_version, "0.1.0-test");
  EXPECT_EQ(archive->manifest.source_data_dir, source_.string());
  std::string root_key = ReadFile(source_ / kRootKeyFile);
  for (const ArchiveFile& file : archive->files) {
    EXPECT_EQ(file.content.view().find(root_key), std::string_view::npos) << file.name;
  }
}

TEST_F(BackupTest, IsOnePrivateFileWithNothingLeftBeside) {
  fs::path out = Backup();
  EXPECT_EQ(Mode(out), 0600u);
  EXPECT_EQ(Names(root_), (std::set<std::string>{"source", "kmsd.backup"}));
}

TEST_F(BackupTest, WritesNothingIntoTheDataDir) {
  std::set<std::string> before = Names(source_);
  Backup();
  EXPECT_EQ(Names(source_), before);
}

TEST_F(BackupTest, ReplacingAnExistingBackupLeavesTheNewOne) {
  WriteFile(root_ / "kmsd.backup", "an older backup");
  fs::path out = Backup();
  EXPECT_TRUE(DecodeArchive(ReadFile(out)).ok());
}

TEST_F(BackupTest, OmitsCredentialsThatAreNotThere) {
  fs::remove(source_ / kCredentialsFile);
  auto archive = DecodeArchive(ReadFile(Backup()));
  ASSERT_TRUE(archive.ok());
  for (const ArchiveFile& file : archive->files) EXPECT_NE(file.name, kCredentialsFile);
}

TEST_F(BackupTest, RefusesADirWithoutADatabase) {
  auto manifest = CreateBackup({(root_ / "nothing").string(), (root_ / "b").string(), "0"});
  ASSERT_FALSE(manifest.ok());
  EXPECT_NE(manifest.status().message().find("no kmsd.db"), std::string::npos);
}

TEST_F(BackupTest, RestoresEveryRecordUnderTheSameRootKey) {
  fs::path backup = Backup();
  fs::path target = root_ / "restored";
  fs::create_directories(target);
  fs::copy_file(source_ / kRootKeyFile, target / kRootKeyFile);
  auto report = RestoreInto(backup, target);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->root_key_checked);
  EXPECT_EQ(report->records_unsealed, static_cast<size_t>(kRecords));
  EXPECT_EQ(Names(target), (std::set<std::string>{kRootKeyFile, kDatabaseFile, kCredentialsFile,
                                                  kAuditSigningKeyFile}));
  EXPECT_EQ(ReadFile(target / kCredentialsFile), ReadFile(source_ / kCredentialsFile));
  EXPECT_EQ(Mode(target), 0700u);
  for (const char* name : {kDatabaseFile, kCredentialsFile, kAuditSigningKeyFile}) {
    EXPECT_EQ(Mode(target / name), 0600u) << name;
  }

  auto seal = OpenFileSeal((target / kRootKeyFile).string());
  auto backend = OpenSqliteBackend((target / kDatabaseFile).string());
  ASSERT_TRUE(seal.ok() && backend.ok());
  auto keystore = OpenKeystore(backend->get(), seal->get());
  ASSERT_TRUE(keystore.ok()) << keystore.status();
  for (int i = 0; i < kRecords; ++i) {
    auto record = (*keystore)->Get(StrCat("key/", i));
    ASSERT_TRUE(record.ok() && record->has_value()) << i;
    EXPECT_EQ((*record)->view(), StrCat("record ", i));
  }
}

TEST_F(BackupTest, RestoresIntoAMissingDirWithoutARootKey) {
  fs::path target = root_ / "new" / "data";
  auto report = RestoreInto(Backup(), target);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->root_key_checked);
  EXPECT_TRUE(fs::exists(target / kDatabaseFile));
  EXPECT_EQ(Mode(target), 0700u);
}

TEST_F(BackupTest, RefusesADirThatHoldsAnythingButARootKey) {
  fs::path backup = Backup();
  fs::path target = root_ / "busy";
  fs::create_directories(target / "audit");
  auto report = RestoreInto(backup, target);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("not empty (it holds audit)"), std::string::npos)
      << report.status();
  EXPECT_EQ(Names(target), (std::set<std::string>{"audit"}));
  // The source itself, a server's dir, above all.
  std::set<std::string> before = Names(source_);
  EXPECT_FALSE(RestoreInto(backup, source_).ok());
  EXPECT_EQ(Names(source_), before);
}

TEST_F(BackupTest, RefusesTheWrongRootKeyAndLeavesTheDirAsItWas) {
  fs::path backup = Backup();
  fs::path target = root_ / "wrong";
  fs::create_directories(target);
  ASSERT_TRUE(OpenFileSeal((target / kRootKeyFile).string()).ok());  // another random root key
  std::string other_key = ReadFile(target / kRootKeyFile);
  auto report = RestoreInto(backup, target);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("is not the root key this backup was made under"),
            std::string::npos)
      << report.status();
  EXPECT_EQ(Names(target), (std::set<std::string>{kRootKeyFile}));
  EXPECT_EQ(ReadFile(target / kRootKeyFile), other_key);
}

TEST_F(BackupTest, RefusesADamagedBackupBeforeWritingAnything) {
  fs::path backup = Backup();
  std::string bytes = ReadFile(backup);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(backup, bytes);
  fs::path target = root_ / "never";
  auto report = RestoreInto(backup, target);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("not a usable kmsd backup"), std::string::npos)
      << report.status();
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(BackupTest, RefusesAVerifiedBackupWhoseDatabaseIsCorrupt) {
  // A backup whose checksums hold but whose database does not: the integrity check catches it.
  auto archive = DecodeArchive(ReadFile(Backup()));
  ASSERT_TRUE(archive.ok());
  for (ArchiveFile& file : archive->files) {
    if (file.name != kDatabaseFile) continue;
    ASSERT_GE(file.content.size(), 2 * 4096u);  // page 2 holds the kv table
    for (size_t i = 4096 + 8; i < 4096 + 200; ++i) file.content.data()[i] ^= 0x5A;
  }
  auto encoded = EncodeArchive(archive->manifest, archive->files);
  ASSERT_TRUE(encoded.ok());
  fs::path backup = root_ / "corrupt.backup";
  WriteFile(backup, std::string(encoded->view()));
  fs::path target = root_ / "corrupt";
  auto report = RestoreInto(backup, target);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("sqlite"), std::string::npos) << report.status();
  EXPECT_FALSE(fs::exists(target));
}

}  // namespace
}  // namespace kmsd::backup
