// Retrying a read-modify-write that lost a race: on a store several nodes share, a conditional
// commit (StorageBatch::conditions, KeystoreBatch::expect) answers StorageConflict when another
// writer changed what it read. Used by the KMS and IAM services.
#pragma once

#include <chrono>
#include <random>
#include <thread>

#include "absl/status/statusor.h"
#include "kmsd/errors.h"
#include "kmsd/storage.h"

namespace kmsd {

// Attempts of one read-modify-write that other writers keep changing under it.
inline constexpr int kMaxConflictAttempts = 8;

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs attempt (which must read what it changes afresh each time) until it answers anything but
// a StorageConflict, at most kMaxConflictAttempts times; then KMSInternalException, which AWS
// SDKs retry. Between attempts it waits a random while that grows with each try (up to 1, 2, ...
// 7 ms), so writers racing on one record from several nodes fall out of step instead of
// colliding again at once.
template <typename Attempt>
auto RetryConflicts(Attempt attempt) -> decltype(attempt()) {
  for (int tries = 1;; ++tries) {
    auto result = attempt();
    if (!IsStorageConflict(StatusOf(result))) return result;
    if (tries == kMaxConflictAttempts) {
      return Error(ErrorType::kKmsInternal,
                   "The request conflicted with concurrent changes to the same resource; retry it");
    }
    // Timing jitter only: no secret depends on it, so a seeded PRNG is enough.
    thread_local std::minstd_rand jitter{std::random_device{}()};
    std::uniform_int_distribution<int> wait_us(0, tries * 1000);
    std::this_thread::sleep_for(std::chrono::microseconds(wait_us(jitter)));
  }
}

}  // namespace kmsd
