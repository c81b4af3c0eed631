// Key usage tracking (GetKeyLastUsage): each key's last successful cryptographic operation, kept
// in memory on the hot path and saved to the keystore in batches, and the records it is saved as:
//   usage/<uuid>    the key's last use (JSON: operation, timestamp, eventID, request id)
//   usage-start     when kmsd began tracking key usage (JSON: seconds)
// Thread-safe: Record takes one of several shard locks for a few assignments; it never waits on
// storage. Private to src/service/.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/service.h"

namespace kmsd::key_usage {

inline constexpr std::string_view kUsagePrefix = "usage/";
inline constexpr std::string_view kTrackingStartId = "usage-start";

std::string UsageRecordId(std::string_view key_id);
std::string EncodeUse(const KeyUse& use);
absl::StatusOr<KeyUse> DecodeUse(std::string_view text);
std::string EncodeTrackingStart(int64_t seconds);
absl::StatusOr<int64_t> DecodeTrackingStart(std::string_view text);

class KeyUsageTracker {
 public:
  // The key's newest use. Later than anything saved, so it replaces what Remember put there.
  void Record(const std::string& key_id, KeyUse use);

  // What memory knows of the key's last use (recorded, or remembered from storage).
  std::optional<KeyUse> Find(const std::string& key_id) const;

  // A use read from storage, kept so the next question is answered from memory; ignored when a
  // newer use was recorded meanwhile.
  void Remember(const std::string& key_id, KeyUse use);

  // The uses recorded since the last TakeChanged, now counted as saved. Give them back with
  // Unsaved if saving fails.
  std::vector<std::pair<std::string, KeyUse>> TakeChanged();

  // Marks uses again as not saved, unless a newer use of the key has been recorded since.
  void Unsaved(const std::vector<std::pair<std::string, KeyUse>>& uses);

  // The key is gone: its use is dropped.
  void Forget(const std::string& key_id);

 private:
  struct Slot {
    KeyUse use;
    bool changed = false;  // recorded since the last TakeChanged
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Slot> slots;  // GUARDED_BY(mutex)
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(const std::string& key_id) const;

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace kmsd::key_usage
