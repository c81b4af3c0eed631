// Key usage tracking: each key's last successful cryptographic operation, recorded in memory by
// the operations and saved by the scheduler's passes and at shutdown (GetKeyLastUsage).
#include "service/service_impl.h"

namespace kmsd::service_internal {
namespace {

// Uses saved per keystore commit: a pass after a busy spell writes several bounded batches.
constexpr size_t kUsesPerCommit = 256;

}  // namespace

void KmsServiceImpl::RecordKeyUse(const CallContext& call, const KeyEntry& entry,
                                  std::string_view operation) {
  if (call.dry_run) return;
  key_usage_.Record(
      entry.record.metadata.key_id,
      KeyUse{std::string(operation), clock_->NowSeconds(), call.event_id, call.request_id});
}

absl::StatusOr<int64_t> KmsServiceImpl::TrackingStart() {
  std::lock_guard lock(tracking_start_mutex_);
  if (tracking_start_) return *tracking_start_;
  auto stored = keystore_->Get(key_usage::kTrackingStartId);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    auto start = key_usage::DecodeTrackingStart((*stored)->view());
    if (!start.ok()) return start.status();
    tracking_start_ = *start;
  } else {
    // The first kmsd that tracks key usage on this data: it has tracked since it started. Of
    // nodes sharing a store, the first to write it; the others read theirs.
    std::string encoded = key_usage::EncodeTrackingStart(started_at_);
    KeystoreBatch batch;
    batch.puts.emplace_back(std::string(key_usage::kTrackingStartId), encoded);
    batch.expect.emplace_back(std::string(key_usage::kTrackingStartId), "");
    auto status = keystore_->Commit(batch);
    if (IsStorageConflict(status)) {
      auto written = keystore_->Get(key_usage::kTrackingStartId);
      if (!written.ok()) return written.status();
      if (!written->has_value()) return Internal("usage-start disappeared");
      auto start = key_usage::DecodeTrackingStart((*written)->view());
      if (!start.ok()) return start.status();
      tracking_start_ = *start;
      return *tracking_start_;
    }
    if (!status.ok()) return status;
    tracking_start_ = started_at_;
  }
  return *tracking_start_;
}

absl::StatusOr<KeyLastUsage> KmsServiceImpl::GetKeyLastUsage(const CallContext& call,
                                                             const std::string& key_id) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  if (auto status = AuthorizeKey(call, **entry, {.action = "kms:GetKeyLastUsage"}); !status.ok()) {
    return status;
  }
  auto start = TrackingStart();
  if (!start.ok()) return start.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  KeyLastUsage usage;
  usage.key_id = m.key_id;
  usage.key_creation_date = m.creation_date;
  usage.tracking_start_date = std::max(*start, m.creation_date);
  usage.last_use = key_usage_.Find(m.key_id);
  // On a shared store another node may have saved a later use than this node knows of.
  if (!usage.last_use || shared_) {
    auto stored = keystore_->Get(key_usage::UsageRecordId(m.key_id));
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      auto use = key_usage::DecodeUse((*stored)->view());
      if (!use.ok()) return use.status();
      if (!usage.last_use || use->timestamp > usage.last_use->timestamp) {
        key_usage_.Remember(m.key_id, *use);
        usage.last_use = std::move(*use);
      }
    }
  }
  return usage;
}

absl::StatusOr<int> KmsServiceImpl::SaveKeyUsage() {
  std::lock_guard save_lock(save_usage_mutex_);
  if (auto start = TrackingStart(); !start.ok()) return start.status();
  auto changed = key_usage_.TakeChanged();
  if (shared_) return SaveKeyUsageShared(changed);
  int saved = 0;
  for (size_t first = 0; first < changed.size(); first += kUsesPerCommit) {
    size_t last = std::min(changed.size(), first + kUsesPerCommit);
    // Under write_mutex_, as DestroyKey: a key destroyed since its use gets no usage record.
    std::lock_guard write_lock(write_mutex_);
    KeystoreBatch batch;
    std::vector<std::string> encoded;  // the batch views them
    encoded.reserve(last - first);
    absl::Status status;
    for (size_t i = first; i < last && status.ok(); ++i) {
      const std::string& key_id = changed[i].first;
    const KeyUse& use = changed[i].second;
      auto entry = Load(key_id);
      if (!entry.ok()) {
        if (TypeOf(entry.status()) == ErrorType::kNotFound) {
          key_usage_.Forget(key_id);
        } else {
          status = entry.status();
        }
        continue;
      }
      encoded.push_back(key_usage::EncodeUse(use));
      batch.puts.emplace_back(key_usage::UsageRecordId(key_id), encoded.back());
    }
    if (status.ok() && !batch.puts.empty()) status = keystore_->Commit(batch);
    if (!status.ok()) {
      key_usage_.Unsaved({changed.begin() + static_cast<ptrdiff_t>(first), changed.end()});
      return status;
    }
    saved += static_cast<int>(batch.puts.size());
  }
  return saved;
}

absl::StatusOr<int> KmsServiceImpl::SaveKeyUsageShared(
    const std::vector<std::pair<std::string, KeyUse>>& changed) {
  int saved = 0;
  std::lock_guard write_lock(write_mutex_);
  for (size_t i = 0; i < changed.size(); ++i) {
    const std::string& key_id = changed[i].first;
    const KeyUse& use = changed[i].second;
    auto status = RetryConflicts([&]() -> absl::Status {
      auto entry = Load(key_id);
      if (!entry.ok()) return entry.status();
      // The key must still exist (no usage record outlives a key another node destroyed), and a
      // newer use saved by another node stays.
      auto key_version = StoredKeyVersion(**entry);
      if (!key_version.ok()) return key_version.status();
      std::string record_id = key_usage::UsageRecordId(key_id);
      auto stored = keystore_->GetVersioned(record_id);
      if (!stored.ok()) return stored.status();
      if (stored->value) {
        auto other = key_usage::DecodeUse(stored->value->view());
        if (other.ok() && other->timestamp > use.timestamp) return absl::OkStatus();
      }
      std::string encoded = key_usage::EncodeUse(use);
      KeystoreBatch batch;
      batch.puts.emplace_back(record_id, encoded);
      batch.expect.emplace_back(record_id, std::move(stored->version));
      batch.expect.emplace_back(records::KeyRecordId(key_id), std::move(*key_version));
      if (auto committed = keystore_->Commit(batch); !committed.ok()) return committed;
      ++saved;
      return absl::OkStatus();
    });
    if (TypeOf(status) == ErrorType::kNotFound) {
      key_usage_.Forget(key_id);
    } else if (!status.ok()) {
      key_usage_.Unsaved({changed.begin() + static_cast<ptrdiff_t>(i), changed.end()});
      return status;
    }
  }
  return saved;
}

absl::StatusOr<DueTaskReport> KmsServiceImpl::RunDueTasks() {
  // Deletions and rotations are the leader's; every node saves the key usage it recorded.
  bool led = leadership_->IsLeader();
  auto report = led ? RunScheduledTasks() : DueTaskReport{};
  if (report.ok()) report->led = led;
  // Multi-Region primaries the pass rotated: their replicas take the new material (issue 13).
  std::vector<std::string> syncs;
  {
    std::lock_guard write_lock(write_mutex_);
    syncs.swap(replica_syncs_);
  }
  for (const std::string& key_id : syncs) {
    if (auto status = SyncReplicas(key_id); !status.ok() && report.ok()) report = status;
  }
  // Usage is saved even when a task failed: the two are independent.
  auto saved = SaveKeyUsage();
  if (!report.ok()) return report.status();
  if (!saved.ok()) return saved.status();
  report->key_usages_saved = *saved;
  return report;
}

}  // namespace kmsd::service_internal
