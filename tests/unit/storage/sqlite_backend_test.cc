// The SQLite backend and the memory backend share one contract; SQLite also survives reopening.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <cstdio>
#include <thread>

#include "kmsd/storage.h"

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
  for (std::string key : {"a/1", "a/2", "a/3", "b/1", "a0"}) ASSERT_TRUE(backend_->Put(key, key).ok());
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

}  // namespace
}  // namespace kmsd
