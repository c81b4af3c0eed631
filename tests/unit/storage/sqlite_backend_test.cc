// The SQLite and memory backends keep the Backend contract (backend_contract.h); SQLite also
// survives reopening, shreds on Compact and copes with other processes.
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
#include "unit/storage/backend_contract.h"
#include "kmsd/strings.h"
#include "storage/sqlite_status.h"

namespace kmsd {
namespace {

std::unique_ptr<Backend> OpenSqliteIn(const std::filesystem::path& dir) {
  auto backend = OpenSqliteBackend((dir / "kv.db").string());
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(
    SqliteAndMemory, BackendContract,
    ::testing::Values(BackendMaker{"Sqlite", OpenSqliteIn},
                      BackendMaker{"Memory",
                                   [](const std::filesystem::path&) { return NewMemoryBackend(); }}),
    BackendMakerName);

TEST(UnsharedBackends, LeadAtOnce) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kmsd-storage-lead-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::vector<std::unique_ptr<Backend>> backends;
  backends.push_back(OpenSqliteIn(dir));
  backends.push_back(NewMemoryBackend());
  for (auto& backend : backends) {
    EXPECT_FALSE(backend->Shared());
    auto leadership = backend->Elect("scheduler");
    ASSERT_NE(leadership, nullptr);
    EXPECT_TRUE(leadership->IsLeader());
  }
  std::filesystem::remove_all(dir);
}

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
