// A real keystore for the tests of the services above the barrier (KMS, IAM): a memory backend,
// a file seal in a fresh temp dir that TearDown removes, and a clock the test moves.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "kmsd/clock.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::testing {

// Reads the time from a counter the test moves; without one, a fixed 2023-11-14T22:13:20Z.
class FixedClock : public Clock {
 public:
  explicit FixedClock(std::atomic<int64_t>* now = nullptr) : now_(now) {}
  int64_t NowSeconds() const override { return now_ ? now_->load() : 1'700'000'000; }

 private:
  std::atomic<int64_t>* now_;
};

class KeystoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           StrCat("kmsd-keystore-test-", ::testing::UnitTest::GetInstance()->random_seed(), "-",
                  reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    backend_ = NewMemoryBackend();
    auto seal = OpenFileSeal((dir_ / "root.key").string());
    ASSERT_TRUE(seal.ok()) << seal.status();
    seal_ = std::move(*seal);
    auto keystore = OpenKeystore(backend_.get(), seal_.get());
    ASSERT_TRUE(keystore.ok()) << keystore.status();
    keystore_ = std::move(*keystore);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Seal> seal_;
  std::unique_ptr<Keystore> keystore_;
  std::atomic<int64_t> now_{1'700'000'000};
};

}  // namespace kmsd::testing
