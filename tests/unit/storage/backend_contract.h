// The contract every Backend keeps, as parameterized tests: each backend's test instantiates
// BackendContract with a BackendMaker that opens a fresh, empty backend (SQLite and memory in
// sqlite_backend_test.cc, etcd in tests/unit/storage_etcd/etcd_backend_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "kmsd/storage.h"

namespace kmsd {

struct BackendMaker {
  std::string name;
  // Opens a new, empty backend; dir is a fresh directory it may use.
  std::function<std::unique_ptr<Backend>(const std::filesystem::path& dir)> open;
};

inline void PrintTo(const BackendMaker& maker, std::ostream* out) { *out << maker.name; }

inline std::string BackendMakerName(const ::testing::TestParamInfo<BackendMaker>& info) {
  return info.param.name;
}

class BackendContract : public ::testing::TestWithParam<BackendMaker> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kmsd-storage-" + std::to_string(getpid()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
    backend_ = GetParam().open(dir_);
    ASSERT_NE(backend_, nullptr);
  }
  void TearDown() override {
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(BackendContract, PutGetDelete) {
  EXPECT_FALSE(backend_->Get("a")->has_value());
  ASSERT_TRUE(backend_->Put("a", std::string("v\0w", 3)).ok());
  EXPECT_EQ(**backend_->Get("a"), std::string("v\0w", 3));
  ASSERT_TRUE(backend_->Put("a", "x").ok());
  EXPECT_EQ(**backend_->Get("a"), "x");
  ASSERT_TRUE(backend_->Delete("a").ok());
  EXPECT_FALSE(backend_->Get("a")->has_value());
  EXPECT_TRUE(backend_->Delete("never").ok());
}

TEST_P(BackendContract, ListHonoursPrefixStartAfterAndLimit) {
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

TEST_P(BackendContract, CommitAppliesPutsAndDeletesTogether) {
  ASSERT_TRUE(backend_->Put("old", "1").ok());
  StorageBatch batch;
  batch.puts = {{"n1", "a"}, {"n2", "b"}};
  batch.deletes = {"old"};
  ASSERT_TRUE(backend_->Commit(batch).ok());
  EXPECT_FALSE(backend_->Get("old")->has_value());
  EXPECT_EQ(**backend_->Get("n2"), "b");
  EXPECT_TRUE(backend_->Compact().ok());
}

TEST_P(BackendContract, ConcurrentReadersAndWriters) {
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

TEST_P(BackendContract, EmptyValuesAndEmptyViewsAreStoredAsEmpty) {
  ASSERT_TRUE(backend_->Put("empty", std::string_view()).ok());
  auto value = backend_->Get("empty");
  ASSERT_TRUE(value.ok()) << value.status();
  ASSERT_TRUE(value->has_value());
  EXPECT_EQ(**value, "");
  EXPECT_EQ((*backend_->List("empty", "", 0))[0].value, "");
}

TEST_P(BackendContract, ListIsInByteOrder) {
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

TEST_P(BackendContract, ListPagesThroughEverythingExactlyOnce) {
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

TEST_P(BackendContract, ListStartAfterOutsideThePrefix) {
  for (std::string key : {"a", "b/1", "b/2", "c"}) ASSERT_TRUE(backend_->Put(key, "v").ok());
  EXPECT_EQ(backend_->List("b/", "a", 0)->size(), 2u);   // before the prefix: from its start
  EXPECT_EQ(backend_->List("b/", "b/", 0)->size(), 2u);  // the prefix itself: strictly after
  EXPECT_EQ(backend_->List("b/", "b/1", 0)->size(), 1u);
  EXPECT_TRUE(backend_->List("b/", "b/2", 0)->empty());
  EXPECT_TRUE(backend_->List("b/", "c", 0)->empty());  // after the prefix: nothing
  EXPECT_EQ(backend_->List("", "", 0)->size(), 4u);    // empty prefix: everything
  EXPECT_EQ(backend_->List("b/", "", 1)->size(), 1u);
}

TEST_P(BackendContract, ABatchDeletingAndPuttingOneKeyKeepsThePut) {
  StorageBatch batch;
  batch.puts = {{"k", "new"}};
  batch.deletes = {"k"};
  ASSERT_TRUE(backend_->Commit(batch).ok());
  EXPECT_EQ(**backend_->Get("k"), "new");
}

TEST_P(BackendContract, ConditionsHoldOrNothingIsWritten) {
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

TEST_P(BackendContract, RacingCreatorsOfOneKeyHaveExactlyOneWinner) {
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

}  // namespace kmsd
