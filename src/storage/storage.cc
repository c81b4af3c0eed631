// What every Backend shares: the conflict status and the default (single-writer) leadership.
#include "kmsd/storage.h"

#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr std::string_view kConflictPrefix = "storage conflict: ";

// A store with one writer: this node leads from the start and for good.
class SoleLeadership final : public Leadership {
 public:
  bool IsLeader() const override { return true; }
};

}  // namespace

absl::Status StorageConflict(std::string_view key) {
  return absl::AbortedError(StrCat(kConflictPrefix, "the record ", key,
                                   " was changed by a concurrent write"));
}

bool IsStorageConflict(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted &&
         ToStd(status.message()).starts_with(kConflictPrefix);
}

absl::Status Backend::Put(std::string_view key, std::string_view value) {
  StorageBatch batch;
  batch.puts.push_back({std::string(key), std::string(value)});
  return Commit(batch);
}

absl::Status Backend::Delete(std::string_view key) {
  StorageBatch batch;
  batch.deletes.emplace_back(key);
  return Commit(batch);
}

std::unique_ptr<Leadership> Backend::Elect(std::string_view /*name*/) {
  return std::make_unique<SoleLeadership>();
}

}  // namespace kmsd
