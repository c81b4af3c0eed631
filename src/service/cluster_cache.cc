// Several nodes on one store: the service's construction (watch and election), what the watch
// reports (drop the cached entries a record id maps to), and the coherence of the key cache.
#include "service/key_usage_tracker.h"
#include "service/service_impl.h"

namespace kmsd::service_internal {
namespace {

// The key id a record id belongs to, for the records a key's cache entry is built from:
// key/<uuid>, material/<uuid>/<version>, grant/<uuid>/<grant id>. Empty for any other record.
std::string_view KeyIdOfRecord(std::string_view record_id) {
  for (std::string_view prefix :
       {records::kKeyPrefix, records::kMaterialPrefix, records::kGrantPrefix}) {
    if (!record_id.starts_with(prefix)) continue;
    std::string_view rest = record_id.substr(prefix.size());
    return rest.substr(0, rest.find('/'));
  }
  return {};
}

// Where the records of every region but the default one live (service/regional_keystore.h).
constexpr std::string_view kOtherRegionsPrefix = "region/";

// No backend given: this node is the only one, and leads for good.
class SoleLeadership final : public Leadership {
 public:
  bool IsLeader() const override { return true; }
};

}  // namespace

KmsServiceImpl::KmsServiceImpl(ServiceOptions options, Keystore* keystore,
                               std::unique_ptr<Clock> clock)
    : options_(std::move(options)),
      keystore_(keystore),
      clock_(std::move(clock)),
      default_policy_document_(authorization::DefaultKeyPolicy(options_.account_id)),
      default_policy_(policy::Parse(default_policy_document_, policy::PolicyKind::kResource)) {
  arn_prefix_ = StrCat("arn:aws:kms:", options_.region, ":", options_.account_id, ":");
  started_at_ = clock_->NowSeconds();
  record_prefix_ = options_.record_prefix;
  Backend* backend = options_.backend;
  // One leader per region: each region's service runs its own due tasks.
  leadership_ = backend ? backend->Elect(record_prefix_.empty() ? std::string("scheduler")
                                                                 : StrCat("scheduler/", Region()))
                        : std::make_unique<SoleLeadership>();
  shared_ = backend && backend->Shared();
  // A node that cannot watch cannot tell whether its caches are current: it never serves from
  // them (every read goes to storage) rather than fail to start.
  if (shared_ && !backend->Watch("", &watcher_).ok()) stale_.store(true);
}

void KmsServiceImpl::OnStoredChange(std::string_view record_id) {
  // Several regions share the store (issue 13): only this region's records concern its caches.
  if (record_prefix_.empty()) {
    if (record_id.starts_with(kOtherRegionsPrefix)) return;
  } else {
    if (!record_id.starts_with(record_prefix_)) return;
    record_id.remove_prefix(record_prefix_.size());
  }
  std::string_view key_id = KeyIdOfRecord(record_id);
  if (!key_id.empty()) {
    Forget(key_id);
    return;
  }
  if (record_id.starts_with(records::kAliasPrefix)) {
    // The old target's entry lists the alias: drop it now. The new target is known only once the
    // record is read again, which EnsureAliasIndex does before the next look-up.
    std::unique_lock cache_lock(cache_mutex_);
    auto target = alias_targets_.find(std::string(record_id));
    if (target != alias_targets_.end()) ForgetLocked(target->second);
    changed_aliases_.emplace(record_id);
    aliases_changed_.store(true, std::memory_order_release);
  }
  // due/ and usage/ records are not cached; iam/ is the identity service's.
}

void KmsServiceImpl::OnFeedStale() {
  stale_.store(true, std::memory_order_release);
  std::unique_lock cache_lock(cache_mutex_);
  key_cache_.clear();
  for (uint64_t& count : invalidations_) ++count;
}

void KmsServiceImpl::OnFeedCurrent() {
  {
    // What was read while stale may predate the feed's new start: read everything again.
    std::unique_lock cache_lock(cache_mutex_);
    key_cache_.clear();
    for (uint64_t& count : invalidations_) ++count;
  }
  alias_index_loaded_.store(false, std::memory_order_release);
  stale_.store(false, std::memory_order_release);
}

size_t KmsServiceImpl::StripeOf(std::string_view key_id) const {
  return std::hash<std::string_view>{}(key_id) % kInvalidationStripes;
}

uint64_t KmsServiceImpl::InvalidationsOf(std::string_view key_id) {
  std::shared_lock cache_lock(cache_mutex_);
  return invalidations_[StripeOf(key_id)];
}

void KmsServiceImpl::PublishIfCurrent(EntryPtr entry, uint64_t seen) {
  const std::string& key_id = entry->record.metadata.key_id;
  std::unique_lock cache_lock(cache_mutex_);
  if (stale_.load(std::memory_order_acquire) || invalidations_[StripeOf(key_id)] != seen) {
    ForgetLocked(key_id);
    return;
  }
  key_cache_[key_id] = std::move(entry);
}

void KmsServiceImpl::ForgetLocked(std::string_view key_id) {
  if (auto it = key_cache_.find(std::string(key_id)); it != key_cache_.end()) key_cache_.erase(it);
  ++invalidations_[StripeOf(key_id)];
}

void KmsServiceImpl::Forget(std::string_view key_id) {
  std::unique_lock cache_lock(cache_mutex_);
  ForgetLocked(key_id);
}

absl::StatusOr<std::string> KmsServiceImpl::StoredKeyVersion(const KeyEntry& entry) {
  const std::string& key_id = entry.record.metadata.key_id;
  auto stored = keystore_->GetVersioned(records::KeyRecordId(key_id));
  if (!stored.ok()) return stored.status();
  if (!stored->value) {
    Forget(key_id);
    return NotFound(StrCat("Key '", KeyArn(key_id), "' does not exist"));
  }
  if (stored->value->view() != entry.stored_record) {
    Forget(key_id);  // another node changed it: the retry reads it again
    return StorageConflict(records::KeyRecordId(key_id));
  }
  return std::move(stored->version);
}

}  // namespace kmsd::service_internal
