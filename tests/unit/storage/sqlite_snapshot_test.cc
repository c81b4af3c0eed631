// The online backup of the SQLite database: consistent while writers commit, self-contained, and
// the integrity check that a restore runs on it.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kmsd/storage.h"

namespace kmsd {
namespace {

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/kmsd-snapshot-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::unique_ptr<Backend> Open(const std::string& name) {
    auto backend = OpenSqliteBackend(Path(name));
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(SnapshotTest, HoldsCommitsStillInTheWal) {
  auto source = Open("kmsd.db");
  ASSERT_TRUE(source->Put("key/1", "one").ok());
  ASSERT_TRUE(source->Put("key/2", "two").ok());
  // The commits are in the WAL only (no checkpoint yet): copying kmsd.db alone would lose them.
  ASSERT_TRUE(std::filesystem::exists(Path("kmsd.db-wal")));
  ASSERT_GT(std::filesystem::file_size(Path("kmsd.db-wal")), 0u);

  ASSERT_TRUE(SnapshotSqliteDatabase(Path("kmsd.db"), Path("copy.db")).ok());
  source.reset();
  auto copy = Open("copy.db");
  EXPECT_EQ(**copy->Get("key/1"), "one");
  EXPECT_EQ(**copy->Get("key/2"), "two");
}

TEST_F(SnapshotTest, IsOneSelfContainedFile) {
  auto source = Open("kmsd.db");
  ASSERT_TRUE(source->Put("key/1", "one").ok());
  ASSERT_TRUE(SnapshotSqliteDatabase(Path("kmsd.db"), Path("copy.db")).ok());
  EXPECT_FALSE(std::filesystem::exists(Path("copy.db-wal")));
  EXPECT_FALSE(std::filesystem::exists(Path("copy.db-journal")));
  // Moved alone to another directory, it still holds the record.
  std::filesystem::create_directory(dir_ / "elsewhere");
  std::filesystem::rename(Path("copy.db"), Path("elsewhere/moved.db"));
  auto moved = Open("elsewhere/moved.db");
  EXPECT_EQ(**moved->Get("key/1"), "one");
}

TEST_F(SnapshotTest, WorksWithNoServerRunning) {
  {
    auto source = Open("kmsd.db");
    ASSERT_TRUE(source->Put("key/1", "one").ok());
  }
  auto status = SnapshotSqliteDatabase(Path("kmsd.db"), Path("copy.db"));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(**Open("copy.db")->Get("key/1"), "one");
}

TEST_F(SnapshotTest, HoldsEachCommitWhollyOrNotAtAllWhileWritersCommit) {
  auto source = Open("kmsd.db");
  for (int i = 0; i < 50; ++i) {
    StorageBatch batch;
    batch.puts = {{"a/" + std::to_string(i), "x"}, {"b/" + std::to_string(i), "y"}};
    ASSERT_TRUE(source->Commit(batch).ok());
  }
  std::atomic<bool> stop = false;
  std::atomic<int> committed = 50;
  std::thread writer([&] {
    for (int i = 50; !stop && i < 100000; ++i) {
      StorageBatch batch;
      batch.puts = {{"a/" + std::to_string(i), std::string(300, 'x')},
                    {"b/" + std::to_string(i), std::string(300, 'y')}};
      if (!source->Commit(batch).ok()) break;
      committed = i + 1;
    }
  });
  int snapshots = 0;
  for (; snapshots < 5; ++snapshots) {
    int before = committed;
    std::string name = "copy" + std::to_string(snapshots) + ".db";
    auto status = SnapshotSqliteDatabase(Path("kmsd.db"), Path(name));
    ASSERT_TRUE(status.ok()) << status;
    auto copy = Open(name);
    auto a = copy->List("a/", "", 0);
    auto b = copy->List("b/", "", 0);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->size(), b->size()) << "a batch was torn";
    EXPECT_GE(static_cast<int>(a->size()), before) << "a commit made before the backup is missing";
    for (size_t i = 0; i < std::min(a->size(), b->size()); ++i) {
      EXPECT_EQ((*a)[i].key.substr(2), (*b)[i].key.substr(2));
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(committed.load(), 50) << "the writer never committed while snapshots ran";
}

TEST_F(SnapshotTest, RefusesAMissingSource) {
  EXPECT_FALSE(SnapshotSqliteDatabase(Path("absent.db"), Path("copy.db")).ok());
}

TEST_F(SnapshotTest, IntegrityCheckAcceptsASnapshot) {
  auto source = Open("kmsd.db");
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(source->Put("key/" + std::to_string(i), "v").ok());
  ASSERT_TRUE(SnapshotSqliteDatabase(Path("kmsd.db"), Path("copy.db")).ok());
  auto status = CheckSqliteIntegrity(Path("copy.db"));
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(SnapshotTest, IntegrityCheckRejectsADamagedPage) {
  {
    auto source = Open("kmsd.db");
    for (int i = 0; i < 400; ++i) {
      ASSERT_TRUE(source->Put("key/" + std::to_string(i), std::string(200, 'v')).ok());
    }
  }
  ASSERT_TRUE(SnapshotSqliteDatabase(Path("kmsd.db"), Path("copy.db")).ok());
  auto size = std::filesystem::file_size(Path("copy.db"));
  ASSERT_GT(size, 4u * 4096);
  // Scribble over the second page (a b-tree page, past the header on page 1).
  std::fstream file(Path("copy.db"), std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(4096 + 8);
  file.write(std::string(64, '\xA5').data(), 64);
  file.close();
  EXPECT_FALSE(CheckSqliteIntegrity(Path("copy.db")).ok());
}

TEST_F(SnapshotTest, IntegrityCheckRejectsAFileThatIsNotADatabase) {
  std::ofstream(Path("junk.db")) << std::string(8192, 'j');
  EXPECT_FALSE(CheckSqliteIntegrity(Path("junk.db")).ok());
}

TEST_F(SnapshotTest, IntegrityCheckRejectsADatabaseThatIsNotKmsds) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path("other.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto status = CheckSqliteIntegrity(Path("other.db"));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not kmsd's"), std::string::npos) << status;
}

}  // namespace
}  // namespace kmsd
