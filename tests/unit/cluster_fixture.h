// Several kmsd "nodes" over one shared test store (unit/shared_memory_backend.h): each node has
// its own backend view, keystore and services, as separate processes would; they share the store
// and the root key (one file seal), so they share the keyring key.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <memory>

#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "unit/shared_memory_backend.h"

namespace kmsd::testing {

class ClusterFixture : public ::testing::Test {
 protected:
  // What each node has of its own. The backend goes first: its watch must stop before the
  // services it reports to are destroyed (ServiceOptions::backend).
  struct NodeParts {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Seal> seal;
    std::unique_ptr<Keystore> keystore;
  };

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           StrCat("kmsd-cluster-test-", ::testing::UnitTest::GetInstance()->random_seed(), "-",
                  reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    StopWatches();
    std::filesystem::remove_all(dir_);
  }

  // Opens the next node's backend, seal and keystore (the services are the test's).
  NodeParts& OpenParts() {
    NodeParts parts;
    parts.backend = store_.OpenNode();
    auto seal = OpenFileSeal((dir_ / "root.key").string());
    EXPECT_TRUE(seal.ok()) << seal.status();
    if (!seal.ok()) return parts_.emplace_back(std::move(parts));
    parts.seal = std::move(*seal);
    auto keystore = OpenKeystore(parts.backend.get(), parts.seal.get());
    EXPECT_TRUE(keystore.ok()) << keystore.status();
    if (keystore.ok()) parts.keystore = std::move(*keystore);
    return parts_.emplace_back(std::move(parts));
  }

  // Destroys every node's backend (no event is delivered after), before the services go.
  void StopWatches() {
    for (NodeParts& parts : parts_) parts.backend.reset();
  }

  bool Delivered() { return store_.WaitDelivered(); }

  std::filesystem::path dir_;
  std::atomic<int64_t> now_{1'700'000'000};
  SharedMemoryStore store_;
  std::deque<NodeParts> parts_;  // deque: references stay valid
};

}  // namespace kmsd::testing
