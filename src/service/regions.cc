// Several regions in one kmsd: one KmsServiceImpl per region over one keystore, each with its own
// record-id namespace (service/regional_keystore.h). See include/kmsd/regions.h.
#include "kmsd/regions.h"

#include <map>
#include <mutex>
#include <shared_mutex>

#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "service/regional_keystore.h"
#include "service/service_impl.h"

namespace kmsd {
namespace {

constexpr std::string_view kAnyRegion = "*";
constexpr std::string_view kDefaultWithAny = "us-east-1";
// Which region owns the unprefixed records; a later start with another first region is refused
// (its keys would silently vanish from view).
constexpr std::string_view kDefaultRegionRecordId = "core/default-region";
constexpr std::string_view kRegionRecordsPrefix = "region/";

// The service clock is shared by every region (the test clock moves them all).
class BorrowedClock final : public Clock {
 public:
  explicit BorrowedClock(const Clock* clock) : clock_(clock) {}
  int64_t NowSeconds() const override { return clock_->NowSeconds(); }

 private:
  const Clock* const clock_;
};

struct Region {
  std::unique_ptr<Keystore> keystore;
  std::unique_ptr<service_internal::KmsServiceImpl> service;
};

class Regions final : public KmsRegions, public service_internal::RegionPeers {
 public:
  Regions(RegionList served, ServiceOptions options, Keystore* keystore, const Clock* clock)
      : served_(std::move(served)),
        options_(std::move(options)),
        keystore_(keystore),
        clock_(clock) {}

  absl::Status Start() {
    if (auto status = CheckDefaultRegion(); !status.ok()) return status;
    for (const std::string& region : served_.regions) {
      if (auto made = Make(region); !made.ok()) return made.status();
    }
    if (served_.any) {
      // Regions that have records from an earlier run: the scheduler must reach their keys.
      std::string start_after;
      for (size_t found = 0; found < kMaxRegions; ++found) {
        auto listed = keystore_->List(kRegionRecordsPrefix, start_after, 1);
        if (!listed.ok()) return listed.status();
        if (listed->empty()) break;
        std::string_view id = listed->front().id;
        id.remove_prefix(kRegionRecordsPrefix.size());
        std::string region(id.substr(0, id.find('/')));
        if (IsRegionName(region)) {
          if (auto made = Make(region); !made.ok()) return made.status();
        }
        start_after = StrCat(kRegionRecordsPrefix, region, "/\x7f");
      }
    }
    return absl::OkStatus();
  }

  const RegionList& Served() const override { return served_; }

  KmsService* Default() override { return Find(served_.Default()); }

  bool Serves(std::string_view region) const override {
    if (served_.any) return IsRegionName(region);
    return std::find(served_.regions.begin(), served_.regions.end(), region) !=
           served_.regions.end();
  }

  absl::StatusOr<KmsService*> ForRegion(std::string_view region) override {
    if (region.empty()) return Default();
    if (!Serves(region)) {
      bool region_like = IsRegionName(region);
      return Error(ErrorType::kInvalidSignature,
                   StrCat("Credential should be scoped to a valid region. This endpoint serves ",
                          served_.Describe(), region_like ? StrCat(", not '", region, "'") : "",
                          ": sign for one of them (e.g. --region ", served_.Default(),
                          " or AWS_REGION=", served_.Default(), ")."));
    }
    if (KmsService* found = Find(region)) return found;
    auto made = Make(std::string(region));
    if (!made.ok()) return made.status();
    return *made;
  }

  absl::StatusOr<DueTaskReport> RunDueTasks() override {
    DueTaskReport total;
    absl::Status first_error;
    for (service_internal::KmsServiceImpl* service : All()) {
      auto report = service->RunDueTasks();
      if (!report.ok()) {
        if (first_error.ok()) first_error = report.status();
        continue;  // one region's trouble does not stop the others' deletions and rotations
      }
      total.key_materials_expired += report->key_materials_expired;  // issue 13
      total.keys_deleted += report->keys_deleted;
      total.keys_rotated += report->keys_rotated;
      total.key_usages_saved += report->key_usages_saved;
      total.led = total.led || report->led;  // issue 12
    }
    if (!first_error.ok()) return first_error;
    return total;
  }

  absl::StatusOr<int> SaveKeyUsage() override {
    int saved = 0;
    for (service_internal::KmsServiceImpl* service : All()) {
      auto count = service->SaveKeyUsage();
      if (!count.ok()) return count.status();
      saved += *count;
    }
    return saved;
  }

  absl::StatusOr<KeyStateCounts> CountKeysByState() override {
    KeyStateCounts total;
    for (service_internal::KmsServiceImpl* service : All()) {
      auto counts = static_cast<KmsService*>(service)->CountKeysByState();
      if (!counts.ok()) return counts.status();
      total.enabled += counts->enabled;
      total.disabled += counts->disabled;
      total.pending_deletion += counts->pending_deletion;
      total.pending_import += counts->pending_import;
      total.pending_replica_deletion += counts->pending_replica_deletion;
    }
    return total;
  }

  KeyCacheStats CacheStats() override {
    KeyCacheStats total;
    for (service_internal::KmsServiceImpl* service : All()) {
      KeyCacheStats stats = static_cast<KmsService*>(service)->CacheStats();
      total.hits += stats.hits;
      total.misses += stats.misses;
      total.entries += stats.entries;
    }
    return total;
  }

  // --- RegionPeers (multi-Region keys) ---

  service_internal::KmsServiceImpl* Peer(std::string_view region) override {
    if (!Serves(region)) return nullptr;
    if (auto* found = Find(region)) return found;
    auto made = Make(std::string(region));
    return made.ok() ? *made : nullptr;
  }
  Keystore* SharedKeystore() override { return keystore_; }
  std::mutex& MultiRegionMutex() override { return multi_region_mutex_; }
  std::string ServedText() const override { return served_.Describe(); }

 private:
  absl::Status CheckDefaultRegion() {
    auto stored = keystore_->Get(kDefaultRegionRecordId);
    if (!stored.ok()) return stored.status();
    const std::string& wanted = served_.Default();
    if (!stored->has_value()) return keystore_->Put(kDefaultRegionRecordId, wanted);
    std::string owner((*stored)->view());
    if (owner != wanted) {
      return absl::FailedPreconditionError(
          StrCat("this data dir's default region is ", owner, ", but --region names ", wanted,
                 " first: list ", owner,
                 " first (the first region owns the keys made before "
                 "several regions were served)"));
    }
    return absl::OkStatus();
  }

  service_internal::KmsServiceImpl* Find(std::string_view region) {
    std::shared_lock lock(mutex_);
    auto it = regions_.find(std::string(region));
    return it == regions_.end() ? nullptr : it->second.service.get();
  }

  std::vector<service_internal::KmsServiceImpl*> All() {
    std::shared_lock lock(mutex_);
    std::vector<service_internal::KmsServiceImpl*> all;
    for (auto& [name, region] : regions_) all.push_back(region.service.get());
    return all;
  }

  absl::StatusOr<service_internal::KmsServiceImpl*> Make(const std::string& name) {
    std::unique_lock lock(mutex_);
    if (auto it = regions_.find(name); it != regions_.end()) return it->second.service.get();
    if (regions_.size() >= kMaxRegions) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat("kmsd serves at most ", kMaxRegions, " regions at once"));
    }
    Region region;
    bool is_default = name == served_.Default();
    region.keystore = service_internal::NewRegionalKeystore(
        keystore_, service_internal::RegionRecordPrefix(name, is_default));
    ServiceOptions options = options_;
    options.region = name;
    options.record_prefix = service_internal::RegionRecordPrefix(name, is_default);
    region.service = std::make_unique<service_internal::KmsServiceImpl>(
        std::move(options), region.keystore.get(), std::make_unique<BorrowedClock>(clock_));
    region.service->JoinRegions(this);
    auto* service = region.service.get();
    regions_.emplace(name, std::move(region));
    return service;
  }

  const RegionList served_;
  const ServiceOptions options_;
  Keystore* const keystore_;
  const Clock* const clock_;
  std::shared_mutex mutex_;
  std::map<std::string, Region> regions_;  // GUARDED_BY(mutex_); entries never removed
  std::mutex multi_region_mutex_;
};

}  // namespace

bool IsRegionName(std::string_view text) {
  // Lower-case words joined by '-', ending in a number: us-east-1, us-gov-west-1, eu-south-2.
  if (text.empty() || text.size() > 32) return false;
  size_t words = 0;
  size_t start = 0;
  while (true) {
    size_t end = text.find('-', start);
    std::string_view word =
        text.substr(start, end == std::string_view::npos ? text.size() - start : end - start);
    if (word.empty()) return false;
    bool last = end == std::string_view::npos;
    for (char c : word) {
      bool ok = last ? (c >= '0' && c <= '9') : (c >= 'a' && c <= 'z');
      if (!ok) return false;
    }
    ++words;
    if (last) break;
    start = end + 1;
  }
  return words >= 3;
}

std::string RegionList::Describe() const {
  std::string text = regions.size() == 1 ? "region '" : "regions '";
  text += StrJoin(regions, "', '");
  text += "'";
  if (any) text += " and any other region";
  return text;
}

absl::StatusOr<RegionList> ParseRegionList(std::string_view text) {
  RegionList list;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == kAnyRegion) {
      list.any = true;
    } else if (!IsRegionName(item)) {
      return absl::InvalidArgumentError(
          StrCat("--region: '", item, "' is not a region name (e.g. us-east-1) or '*'"));
    } else if (std::find(list.regions.begin(), list.regions.end(), item) != list.regions.end()) {
      return absl::InvalidArgumentError(StrCat("--region: '", item, "' is listed twice"));
    } else {
      list.regions.emplace_back(item);
    }
    start = end + 1;
  }
  if (list.regions.empty()) list.regions.emplace_back(kDefaultWithAny);
  return list;
}

absl::StatusOr<std::unique_ptr<KmsRegions>> NewKmsRegions(RegionList regions,
                                                          ServiceOptions options,
                                                          Keystore* keystore, const Clock* clock) {
  if (regions.regions.empty()) return absl::InvalidArgumentError("no region to serve");
  auto made = std::make_unique<Regions>(std::move(regions), std::move(options), keystore, clock);
  if (auto status = made->Start(); !status.ok()) return status;
  return made;
}

}  // namespace kmsd
