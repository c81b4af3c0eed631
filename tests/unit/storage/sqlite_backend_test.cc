// The SQLite backend and the memory backend share one contract; SQLite also survives reopening.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "storage/sqlite_status.h"

namespace kmsd {
namespace {

class BackendTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kmsd-storage-" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
    backend_ = Open();
  }
  void TearDown() override {
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Backend> Open() {
    if (!GetParam()) return NewMemoryBackend();
    auto backend = OpenSqliteBackend((dir_ / "kv.db").string());
    EXPECT_TRUE(backend.ok()) << backend.status();
    return std::move(*backend);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(BackendTest, PutGetDelete) {
  EXPECT_FALSE(backend_->Get("a")->has_value());
  ASSERT_TRUE(backend_->Put("a", std::string("v\0w", 3)).ok());
  EXPECT_EQ(**backend_->Get("a"), std::string("v\0w", 3));
  ASSERT_TRUE(backend_->Put("a", "x").ok());
  EXPECT_EQ(**backend_->Get("a"), "x");
  ASSERT_TRUE(backend_->Delete("a").ok());
  EXPECT_FALSE(backend_->Get("a")->has_value());
  EXPECT_TRUE(backend_->Delete("never").ok());
}

TEST_P(BackendTest, ListHonoursPrefixStartAfterAndLimit) {
  for (std::string key : {"a/1", "a/2", "a/3", "b/1", "a0"})
    ASSERT_TRUE(backend_->Put(key, key).ok());
  auto all = backend_->List("a/", "", 0);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].key, "a/1");
  EXPECT_EQ((*all)[2].value, "a/3");
  auto after = backend_->List("a/", "a/1", 1);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].key, "a/2");
  EXPECT_TRUE(backend_->List("c/", "", 0)->empty());
}

TEST_P(BackendTest, CommitAppliesPutsAndDeletesTogether) {
  ASSERT_TRUE(backend_->Put("old", "1").ok());
  StorageBatch batch;
  batch.puts = {{"n1", "a"}, {"n2", "b"}};
  batch.deletes = {"old"};
  ASSERT_TRUE(backend_->Commit(batch).ok());
  EXPECT_FALSE(backend_->Get("old")->has_value());
  EXPECT_EQ(**backend_->Get("n2"), "b");
  EXPECT_TRUE(backend_->Compact().ok());
}

TEST_P(BackendTest, ConcurrentReadersAndWriters) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        char key_text[32];
        std::snprintf(key_text, sizeof(key_text), "k%d/%d", t, i);
        std::string key = key_text;
        EXPECT_TRUE(backend_->Put(key, key).ok());
        EXPECT_EQ(**backend_->Get(key), key);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(backend_->List("k", "", 0)->size(), 400u);
}

TEST_P(BackendTest, EmptyValuesAndEmptyViewsAreStoredAsEmpty) {
  ASSERT_TRUE(backend_->Put("empty", std::string_view()).ok());
  auto value = backend_->Get("empty");
  ASSERT_TRUE(value.ok()) << value.status();
  ASSERT_TRUE(value->has_value());
  EXPECT_EQ(**value, "");
  EXPECT_EQ((*backend_->List("empty", "", 0))[0].value, "");
}

TEST_P(BackendTest, ListIsInByteOrder) {
  for (std::string key : {"k/b", "k/a", "k/\x7f", "k/B", "k/", "k/a/1", "k/\xc3\xa9"}) {
    ASSERT_TRUE(backend_->Put(key, "v").ok());
  }
  auto listed = backend_->List("k/", "", 0);
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> keys;
  for (const StorageEntry& entry : *listed) keys.push_back(entry.key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"k/", "k/B", "k/a", "k/a/1", "k/b", "k/\x7f", "k/\xc3\xa9"}));
}

TEST_P(BackendTest, ListPagesThroughEverythingExactlyOnce) {
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(backend_->Put("p/" + std::to_string(100 + i), "v").ok());
  ASSERT_TRUE(backend_->Put("q/0", "v").ok());
  std::vector<std::string> seen;
  std::string start_after;
  while (true) {
    auto page = backend_->List("p/", start_after, 7);
    ASSERT_TRUE(page.ok());
    ASSERT_LE(page->size(), 7u);
    for (const StorageEntry& entry : *page) seen.push_back(entry.key);
    if (page->size() < 7) break;
    start_after = page->back().key;
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.front(), "p/100");
  EXPECT_EQ(seen.back(), "p/124");
}

TEST_P(BackendTest, ListStartAfterOutsideThePrefix) {
  for (std::string key : {"a", "b/1", "b/2", "c"}) ASSERT_TRUE(backend_->Put(key, "v").ok());
  EXPECT_EQ(backend_->List("b/", "a", 0)->size(), 2u);   // before the prefix: from its start
  EXPECT_EQ(backend_->List("b/", "b/", 0)->size(), 2u);  // the prefix itself: strictly after
  EXPECT_EQ(backend_->List("b/", "b/1", 0)->size(), 1u);
  EXPECT_TRUE(backend_->List("b/", "b/2", 0)->empty());
  EXPECT_TRUE(backend_->List("b/", "c", 0)->empty());  // after the prefix: nothing
  EXPECT_EQ(backend_->List("", "", 0)->size(), 4u);    // empty prefix: everything
  EXPECT_EQ(backend_->List("b/", "", 1)->size(), 1u);
}

TEST_P(BackendTest, ABatchDeletingAndPuttingOneKeyKeepsThePut) {
  StorageBatch batch;
  batch.puts = {{"k", "new"}};
  batch.deletes = {"k"};
  ASSERT_TRUE(backend_->Commit(batch).ok());
  EXPECT_EQ(**backend_->Get("k"), "new");
}

TEST_P(BackendTest, ConditionsHoldOrNothingIsWritten) {
  ASSERT_TRUE(backend_->Put("held", "v1").ok());
  StorageBatch batch;
  batch.puts = {{"held", "v2"}, {"new", "n"}};
  batch.deletes = {"other"};
  batch.conditions = {{"held", "v1"}, {"new", std::nullopt}};
  ASSERT_TRUE(backend_->Commit(batch).ok());
  EXPECT_EQ(**backend_->Get("held"), "v2");
  // The same batch again: "held" is no longer v1 and "new" exists, so nothing changes.
  ASSERT_TRUE(backend_->Put("other", "o").ok());
  batch.puts = {{"held", "v3"}};
  batch.conditions = {{"held", "v1"}};
  auto status = backend_->Commit(batch);
  EXPECT_TRUE(IsStorageConflict(status)) << status;
  EXPECT_EQ(**backend_->Get("held"), "v2");
  EXPECT_EQ(**backend_->Get("other"), "o");
  batch.conditions = {{"held", "v2"}, {"new", std::nullopt}};
  EXPECT_TRUE(IsStorageConflict(backend_->Commit(batch)));
  EXPECT_EQ(**backend_->Get("held"), "v2");
  // A condition on an absent key that is absent holds; one expecting a value does not.
  batch.conditions = {{"missing", "x"}};
  EXPECT_TRUE(IsStorageConflict(backend_->Commit(batch)));
  EXPECT_FALSE(IsStorageConflict(absl::AbortedError("some other abort")));
}

TEST_P(BackendTest, RacingCreatorsOfOneKeyHaveExactlyOneWinner) {
  std::atomic<int> winners{0}, losers{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      StorageBatch batch;
      batch.puts = {{"alias/race", std::to_string(t)}};
      batch.conditions = {{"alias/race", std::nullopt}};
      auto status = backend_->Commit(batch);
      if (status.ok()) {
        ++winners;
      } else {
        EXPECT_TRUE(IsStorageConflict(status)) << status;
        ++losers;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(losers.load(), 7);
}

TEST_P(BackendTest, AnUnsharedBackendLeadsAtOnce) {
  EXPECT_FALSE(backend_->Shared());
  auto leadership = backend_->Elect("scheduler");
  ASSERT_NE(leadership, nullptr);
  EXPECT_TRUE(leadership->IsLeader());
}

INSTANTIATE_TEST_SUITE_P(SqliteAndMemory, BackendTest, ::testing::Values(true, false));

TEST(SqliteBackend, DataSurvivesReopeningAndTheFileIsPrivate) {
  auto dir = std::filesystem::temp_directory_path() / "kmsd-storage-reopen";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "kv.db").string();
  {
    auto backend = OpenSqliteBackend(path);
    ASSERT_TRUE(backend.ok());
    ASSERT_TRUE((*backend)->Put("kept", "yes").ok());
  }
  auto backend = OpenSqliteBackend(path);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(**(*backend)->Get("kept"), "yes");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  std::filesystem::remove_all(dir);
}

TEST(SqliteBackend, DeletedValuesLeaveNoTraceAfterCompact) {
  auto dir = std::filesystem::temp_directory_path() / "kmsd-storage-shred";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string secret = "SHRED-ME-" + std::string(200, 'Z');
  {
    auto backend = OpenSqliteBackend((dir / "kv.db").string());
    ASSERT_TRUE(backend.ok());
    ASSERT_TRUE((*backend)->Put("doomed", secret).ok());
    ASSERT_TRUE((*backend)->Put("other", "stays").ok());
    ASSERT_TRUE((*backend)->Delete("doomed").ok());
    ASSERT_TRUE((*backend)->Compact().ok());
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::string content(std::filesystem::file_size(entry), '\0');
      FILE* f = fopen(entry.path().c_str(), "rb");
      ASSERT_EQ(fread(content.data(), 1, content.size(), f), content.size());
      fclose(f);
      EXPECT_EQ(content.find("SHRED-ME-"), std::string::npos) << entry.path();
    }
  }
  std::filesystem::remove_all(dir);
}

// A second, raw SQLite connection to the same file, for making the backend's life hard.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~RawConnection() { sqlite3_close(db_); }
  int Exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kmsd-sqlite-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path() const { return (dir_ / "kv.db").string(); }

  std::filesystem::path dir_;
};

TEST_F(SqliteBackendTest, AFailingCommitAppliesNothing) {
  auto backend = OpenSqliteBackend(Path());
  ASSERT_TRUE(backend.ok());
  ASSERT_TRUE((*backend)->Put("old", "1").ok());
  RawConnection raw(Path());
  ASSERT_EQ(raw.Exec("CREATE TRIGGER poison BEFORE INSERT ON kv WHEN NEW.key = 'poison' "
                     "BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"),
            SQLITE_OK);
  StorageBatch batch;
  batch.puts = {{"first", "a"}, {"poison", "b"}, {"last", "c"}};
  batch.deletes = {"old"};
  absl::Status status = (*backend)->Commit(batch);
  EXPECT_EQ(TypeOf(status), ErrorType::kKmsInternal);
  EXPECT_EQ(**(*backend)->Get("old"), "1");
  EXPECT_FALSE((*backend)->Get("first")->has_value());
  EXPECT_FALSE((*backend)->Get("last")->has_value());
  // The connection is still usable afterwards.
  ASSERT_TRUE((*backend)->Put("after", "ok").ok());
  EXPECT_EQ(**(*backend)->Get("after"), "ok");
}

TEST_F(SqliteBackendTest, AWriterHeldOffByAnotherProcessIsADependencyTimeout) {
  auto backend = OpenSqliteBackend(Path());
  ASSERT_TRUE(backend.ok());
  ASSERT_TRUE((*backend)->Put("k", "before").ok());
  RawConnection raw(Path());
  ASSERT_EQ(raw.Exec("BEGIN IMMEDIATE"), SQLITE_OK);
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(TypeOf((*backend)->Put("k", "blocked")), ErrorType::kDependencyTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));  // it waited
  EXPECT_EQ(**(*backend)->Get("k"), "before");  // readers are not blocked by a writer
  ASSERT_EQ(raw.Exec("ROLLBACK"), SQLITE_OK);
  EXPECT_TRUE((*backend)->Put("k", "after").ok());
  EXPECT_EQ(**(*backend)->Get("k"), "after");
}

TEST_F(SqliteBackendTest, CommittedBatchesSurviveReopening) {
  {
    auto backend = OpenSqliteBackend(Path());
    ASSERT_TRUE(backend.ok());
    StorageBatch batch;
    for (int i = 0; i < 50; ++i) batch.puts.push_back({"r/" + std::to_string(i), "v"});
    ASSERT_TRUE((*backend)->Commit(batch).ok());
    ASSERT_TRUE((*backend)->Delete("r/7").ok());
  }
  auto backend = OpenSqliteBackend(Path());
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ((*backend)->List("r/", "", 0)->size(), 49u);
  EXPECT_FALSE((*backend)->Get("r/7")->has_value());
}

TEST_F(SqliteBackendTest, FilesArePrivateEvenUnderAPermissiveUmask) {
  mode_t old_umask = umask(0);
  {
    auto backend = OpenSqliteBackend(Path());
    umask(old_umask);
    ASSERT_TRUE(backend.ok());
    ASSERT_TRUE((*backend)->Put("k", "v").ok());
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      struct stat st;
      ASSERT_EQ(stat(entry.path().c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 077, 0u) << entry.path();  // the database, its WAL and shm
    }
  }
  umask(old_umask);
}

TEST_F(SqliteBackendTest, OpeningInAMissingDirectoryFailsCleanly) {
  auto backend = OpenSqliteBackend((dir_ / "missing" / "kv.db").string());
  EXPECT_EQ(TypeOf(backend.status()), ErrorType::kKmsInternal);
}

TEST_F(SqliteBackendTest, ManyThreadsReadWhileOneWrites) {
  auto opened = OpenSqliteBackend(Path());
  ASSERT_TRUE(opened.ok());
  Backend* backend = opened->get();
  ASSERT_TRUE(backend->Put("fixed", "value").ok());
  std::atomic<bool> done = false;
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(backend->Put("w/" + std::to_string(i), "v").ok());
    done = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        auto value = backend->Get("fixed");
        ASSERT_TRUE(value.ok()) << value.status();
        EXPECT_EQ(**value, "value");
        EXPECT_TRUE(backend->List("w/", "", 0).ok());
      }
    });
  }
  writer.join();
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(backend->List("w/", "", 0)->size(), 200u);
}

// A database at its page limit answers SQLITE_FULL, as a full file system does.
TEST_F(SqliteBackendTest, AFullDatabaseIsARetryableStorageFullErrorNamingNoPath) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE t (v BLOB); PRAGMA max_page_count = 8; "
                         "INSERT INTO t VALUES (zeroblob(100000));",
                         nullptr, nullptr, nullptr),
            SQLITE_FULL);
  EXPECT_TRUE(IsSqliteDiskFull(db));
  absl::Status status = SqliteFailure(db, "write failed");
  sqlite3_close(db);
  EXPECT_EQ(TypeOf(status), ErrorType::kDependencyTimeout);  // HTTP 503: clients retry
  EXPECT_TRUE(IsStorageFull(status)) << status;
  EXPECT_EQ(ToStd(status.message()).find(dir_.string()), std::string::npos) << status;
}

TEST_F(SqliteBackendTest, OtherFailuresAreNotStorageFull) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path().c_str(), &db), SQLITE_OK);
  ASSERT_NE(sqlite3_exec(db, "SELECT * FROM missing", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_FALSE(IsSqliteDiskFull(db));
  absl::Status status = SqliteFailure(db, "read failed");
  sqlite3_close(db);
  EXPECT_EQ(TypeOf(status), ErrorType::kKmsInternal);
  EXPECT_FALSE(IsStorageFull(status));
}

}  // namespace
}  // namespace kmsd
