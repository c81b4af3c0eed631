// Retrying a read-modify-write that lost a race: on a store several nodes share, a conditional
// commit (StorageBatch::conditions, KeystoreBatch::expect) answers StorageConflict when another
// writer changed what it read. Used by the KMS and IAM services.
#pragma once

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
// SDKs retry.
template <typename Attempt>
auto RetryConflicts(Attempt attempt) -> decltype(attempt()) {
  for (int tries = 1;; ++tries) {
    auto result = attempt();
    if (!IsStorageConflict(StatusOf(result))) return result;
    if (tries == kMaxConflictAttempts) {
      return Error(ErrorType::kKmsInternal,
                   "The request conflicted with concurrent changes to the same resource; retry it");
    }
  }
}

}  // namespace kmsd
