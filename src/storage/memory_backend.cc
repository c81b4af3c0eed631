// An in-memory Backend for tests: a sorted map behind a reader/writer lock.
#include <map>
#include <mutex>
#include <shared_mutex>

#include "kmsd/storage.h"

namespace kmsd {
namespace {

class MemoryBackend final : public Backend {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  absl::Status Put(std::string_view key, std::string_view value) override {
    std::unique_lock lock(mutex_);
    entries_.insert_or_assign(std::string(key), std::string(value));
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view key) override {
    std::unique_lock lock(mutex_);
    entries_.erase(std::string(key));
    return absl::OkStatus();
  }

  absl::Status Commit(const StorageBatch& batch) override {
    std::unique_lock lock(mutex_);
    for (const StorageCondition& condition : batch.conditions) {
      auto it = entries_.find(condition.key);
      bool holds = condition.value ? it != entries_.end() && it->second == *condition.value
                                   : it == entries_.end();
      if (!holds) return StorageConflict(condition.key);
    }
    for (const std::string& key : batch.deletes) entries_.erase(key);
    for (const StorageEntry& entry : batch.puts) entries_.insert_or_assign(entry.key, entry.value);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    std::shared_lock lock(mutex_);
    std::vector<StorageEntry> out;
    auto it = start_after.empty() || start_after < prefix ? entries_.lower_bound(prefix)
                                                          : entries_.upper_bound(start_after);
    for (; it != entries_.end() && it->first.starts_with(prefix); ++it) {
      if (limit && out.size() == limit) break;
      out.push_back({it->first, it->second});
    }
    return out;
  }

  absl::Status Compact() override { return absl::OkStatus(); }

 private:
  std::shared_mutex mutex_;
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace

std::unique_ptr<Backend> NewMemoryBackend() { return std::make_unique<MemoryBackend>(); }

}  // namespace kmsd
