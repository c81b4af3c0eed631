// A region's view of the keystore: record ids under the region's prefix.
#include "service/regional_keystore.h"

#include "kmsd/strings.h"

namespace kmsd::service_internal {
namespace {

constexpr std::string_view kRegionRecordsPrefix = "region/";
constexpr std::string_view kSharedPrefix = "mrk/";

class RegionalKeystore final : public Keystore {
 public:
  RegionalKeystore(Keystore* base, std::string prefix) : base_(base), prefix_(std::move(prefix)) {}

  absl::StatusOr<std::optional<SecretBytes>> Get(std::string_view id) override {
    return base_->Get(Id(id));
  }
  absl::StatusOr<VersionedRecord> GetVersioned(std::string_view id) override {
    return base_->GetVersioned(Id(id));
  }
  absl::Status Put(std::string_view id, std::string_view plaintext) override {
    return base_->Put(Id(id), plaintext);
  }
  absl::Status Delete(std::string_view id) override { return base_->Delete(Id(id)); }
  absl::Status Commit(const KeystoreBatch& batch) override {
    KeystoreBatch prefixed;
    prefixed.puts.reserve(batch.puts.size());
    for (const auto& [id, value] : batch.puts) prefixed.puts.emplace_back(Id(id), value);
    for (const std::string& id : batch.deletes) prefixed.deletes.push_back(Id(id));
    for (const auto& [id, version] : batch.expect) prefixed.expect.emplace_back(Id(id), version);
    return base_->Commit(prefixed);
  }
  absl::StatusOr<std::vector<KeystoreRecord>> List(std::string_view prefix,
                                                   std::string_view start_after,
                                                   size_t limit) override {
    auto listed = base_->List(Id(prefix), start_after.empty() ? "" : Id(start_after), limit);
    if (!listed.ok() || IsSharedRecordId(prefix)) return listed;
    for (KeystoreRecord& record : *listed) record.id.erase(0, prefix_.size());
    return listed;
  }
  absl::Status Compact() override { return base_->Compact(); }

 private:
  std::string Id(std::string_view id) const {
    return IsSharedRecordId(id) ? std::string(id) : StrCat(prefix_, id);
  }

  Keystore* const base_;
  const std::string prefix_;
};

}  // namespace

std::string RegionRecordPrefix(std::string_view region, bool is_default) {
  return is_default ? std::string() : StrCat(kRegionRecordsPrefix, region, "/");
}

bool IsSharedRecordId(std::string_view id) { return id.starts_with(kSharedPrefix); }

std::unique_ptr<Keystore> NewRegionalKeystore(Keystore* base, std::string prefix) {
  return std::make_unique<RegionalKeystore>(base, std::move(prefix));
}

}  // namespace kmsd::service_internal
