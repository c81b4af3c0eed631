// The trail writer: Record() builds its event on the caller's thread, then one writer thread
// chains, appends and fdatasyncs whatever records are waiting (group commit), acknowledges them,
// rotates files and writes signed digests. A write failure refuses every record (fail closed)
// until the log has cut the trail back to what was acknowledged and can write again.
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "audit/event.h"
#include "audit/signing.h"
#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd::audit {
namespace {

constexpr int kMaxCommitters = 8;
constexpr uint64_t kMaxSpareBytes = 256 << 20;
// Recovery proves that the disk takes data again by writing and syncing this much (then removes
// it): room for a few batches, so that one freed block does not make kmsd flap.
constexpr size_t kProbeBytes = 1 << 20;
constexpr std::string_view kProbeFile = ".write-probe";
// What a client refused for want of an audit record is told (the cause, with paths, is for the
// server log: AuditOptions::on_writable_change).
constexpr std::string_view kRefusal =
    "kmsd cannot write its audit trail and refuses requests it cannot audit until it can; "
    "retry later";

using nlohmann::json;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Where an existing trail left off.
struct TrailEnd {
  uint64_t last_sequence = 0;
  std::string last_hash = GenesisHash();
  uint64_t last_signed_sequence = 0;
  std::string last_digest_hash = GenesisHash();
  std::string last_file;
  uint64_t last_file_bytes = 0;  // whole lines of last_file
  uint64_t digest_bytes = 0;     // whole lines of the digest file
};

// Cuts what follows the last whole line of a file, and `content` (its bytes) with it: a torn
// last line (a write that crashed before its fdatasync, so never acknowledged) and, in a trail
// file (`padded`), the zero padding of a file begun from a spare with whatever a crash left in
// it. Durably: what is cut must not come back after a second crash behind lines written since.
absl::Status KeepWholeLines(const std::string& path, std::string& content, bool padded) {
  std::string_view lines = padded ? RecordBytes(content) : std::string_view(content);
  size_t complete = lines.rfind('\n');
  size_t whole = complete == std::string::npos ? 0 : complete + 1;
  if (whole == content.size()) return absl::OkStatus();
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  bool cut = fd >= 0 && ftruncate(fd, static_cast<off_t>(whole)) == 0 && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!cut) return Internal(StrCat("cannot cut the unfinished end of ", path));
  content.resize(whole);
  return absl::OkStatus();
}

// Reads the last record of the newest trail file, after cutting what follows its last whole line
// (KeepWholeLines), so the chain continues from a whole record.
absl::Status FindLastRecord(const std::string& dir, TrailEnd& end) {
  auto files = ListTrailFiles(dir);
  if (!files.ok()) return files.status();
  for (auto file = files->rbegin(); file != files->rend(); ++file) {
    std::string path = StrCat(dir, "/", *file);
    auto content = ReadWholeFile(path);
    if (!content.ok()) return content.status();
    if (auto status = KeepWholeLines(path, *content, /*padded=*/true); !status.ok()) {
      return status;
    }
    if (content->empty()) continue;
    content->pop_back();  // the newline
    size_t start = content->rfind('\n');
    std::string_view line =
        std::string_view(*content).substr(start == std::string::npos ? 0 : start + 1);
    json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() ||
        !record.value(std::string(kSequenceMember), json()).is_number_unsigned() ||
        !record.value(std::string(kPreviousHashMember), json()).is_string()) {
      return Internal(StrCat("the last record of ", path,
                             " is unreadable; run `kmsd audit verify` and move the file aside"));
    }
    auto previous = HexToBytes(record[std::string(kPreviousHashMember)].get<std::string>());
    if (!previous || previous->size() != kHashSize) {
      return Internal(StrCat("the last record of ", path, " has a malformed previousHash"));
    }
    end.last_sequence = record[std::string(kSequenceMember)].get<uint64_t>();
    end.last_hash = ChainHash(*previous, line);
    end.last_file = *file;
    end.last_file_bytes = content->size() + 1;  // with the newline
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status FindLastDigest(const std::string& dir, TrailEnd& end) {
  std::string path = StrCat(dir, "/", kDigestFile);
  if (access(path.c_str(), F_OK) != 0) return absl::OkStatus();
  auto content = ReadWholeFile(path);
  if (!content.ok()) return content.status();
  if (auto status = KeepWholeLines(path, *content, /*padded=*/false); !status.ok()) {
    return status;
  }
  if (content->empty()) return absl::OkStatus();
  end.digest_bytes = content->size();
  content->pop_back();
  size_t start = content->rfind('\n');
  std::string_view line =
      std::string_view(*content).substr(start == std::string::npos ? 0 : start + 1);
  json digest = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!digest.is_object() || !digest.value("lastSequence", json()).is_number_unsigned()) {
    return Internal(StrCat("the last digest in ", path, " is unreadable; run `kmsd audit verify`"));
  }
  end.last_signed_sequence = digest["lastSequence"].get<uint64_t>();
  end.last_digest_hash = crypto::Sha256(line);
  return absl::OkStatus();
}

// Cuts a file the log was writing back to the `bytes` it had acknowledged (what a failed write or
// fdatasync left after them, torn or whole, was never acknowledged), durably. A file with nothing
// acknowledged is removed when `remove_if_empty`. kDataLoss when acknowledged bytes are missing.
absl::Status CutBack(const std::string& dir, const std::string& name, uint64_t bytes,
                     bool remove_if_empty) {
  std::string path = StrCat(dir, "/", name);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (bytes == 0) return absl::OkStatus();
    return absl::DataLossError(StrCat(path, " is gone"));
  }
  if (fd < 0) return Internal(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  struct stat info {};
  absl::Status status;
  if (fstat(fd, &info) != 0) {
    status = Internal(StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  } else if (static_cast<uint64_t>(info.st_size) < bytes) {
    status = absl::DataLossError(
        StrCat(path, " holds ", info.st_size, " bytes, ", bytes, " were acknowledged"));
  } else if (static_cast<uint64_t>(info.st_size) > bytes &&
             (ftruncate(fd, static_cast<off_t>(bytes)) != 0 || fsync(fd) != 0)) {
    status =
        Internal(StrCat("cannot cut the unacknowledged end of ", path, ": ", std::strerror(errno)));
  }
  close(fd);
  if (!status.ok() || bytes > 0 || !remove_if_empty) return status;
  if (unlink(path.c_str()) != 0) {
    return Internal(StrCat("cannot remove ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

class FileAuditLog : public AuditLog {
 public:
  FileAuditLog(AuditOptions options, std::string dir, std::unique_ptr<SigningKey> key,
               std::string key_fingerprint, const TrailEnd& end)
      : options_(std::move(options)),
        dir_(std::move(dir)),
        file_system_(options_.file_system ? options_.file_system : DefaultFileSystem()),
        key_(std::move(key)),
        key_fingerprint_(std::move(key_fingerprint)),
        settings_{options_.region, options_.account_id},
        acked_sequence_(end.last_sequence),
        acked_hash_(end.last_hash),
        acked_file_bytes_(end.last_file_bytes),
        last_sequence_(end.last_sequence),
        last_hash_(end.last_hash),
        last_signed_sequence_(end.last_signed_sequence),
        last_digest_hash_(end.last_digest_hash),
        last_digest_time_(Now()),
        digest_file_bytes_(end.digest_bytes),
        spare_path_(StrCat(dir_, "/", kSpareFile)) {
    current_file_name_ = end.last_file;
    if (!options_.node_id.empty()) {  // ,"nodeId":"NODE" in every record (issue 12)
      node_member_ = StrCat(",\"", kNodeMember, "\":");
      AppendJsonString(node_member_, options_.node_id);
    }
    if (options_.metrics) {
      fsync_seconds_ =
          &options_.metrics
               ->AddHistogram("kmsd_audit_fsync_seconds",
                              "Latency of each fdatasync of the audit trail (one per batch).", {},
                              metrics::LatencyBounds())
               .Get();
      batch_records_ =
          &options_.metrics
               ->AddHistogram("kmsd_audit_batch_records",
                              "Records per audit commit batch (written with one fdatasync).", {},
                              metrics::ExponentialBounds(1, 2, 11))
               .Get();
    }
    if (options_.preallocate) {
      spare_wanted_ = true;
      spare_thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "kmsd-audit-fill");
        SpareLoop();
      });
    }
    int committers = std::clamp(options_.committers, 1, kMaxCommitters);
    for (int i = 0; i < committers; ++i) {
      committers_.emplace_back([this, i] {
        pthread_setname_np(pthread_self(), StrCat("kmsd-audit-", i).c_str());
        CommitterLoop();
      });
    }
  }

  ~FileAuditLog() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    for (std::thread& committer : committers_) committer.join();
    if (spare_thread_.joinable()) {
      {
        std::lock_guard lock(spare_mutex_);
        spare_stop_ = true;
      }
      spare_work_.notify_all();
      spare_thread_.join();
      // Disk space is not kept while kmsd is down; the next start makes a new spare.
      (void)file_system_->RemoveSpare(spare_path_);
    }
  }

  void RecordAsync(const RequestOutcome& outcome,
                   std::function<void(absl::Status)> done) override {
    int64_t now = Now();
    Pending pending{BuildEvent(outcome, settings_, now,
                               outcome.event_id.empty() ? NewUuid() : std::string(outcome.event_id)),
                    std::move(done)};
    // Issue 13: ReplicateKey and UpdatePrimaryRegion leave a second record, in the other region.
    // Queued with the first under one lock, both go into the same batch (a committer takes the
    // whole queue), and the request's `done` rides on the second: the answer waits for both, and
    // a failure refuses it.
    std::optional<Pending> companion;
    if (std::string event = BuildCompanionEvent(outcome, settings_, now, NewUuid());
        !event.empty()) {
      companion.emplace(Pending{std::move(event), std::move(pending.done)});
      pending.done = [](absl::Status) {};
    }
    std::unique_lock lock(mutex_);
    if (!failure_.ok()) {
      absl::Status refusal = Refusal(failure_);
      lock.unlock();
      (companion ? companion->done : pending.done)(std::move(refusal));
      return;
    }
    queue_.push_back(std::move(pending));
    if (companion) queue_.push_back(std::move(*companion));
    // Committers sleep only when they found nothing to do; while they write or sync, records
    // just queue up for the next batch, with no wake-up.
    if (idle_committers_ > 0 && !writing_) work_.notify_one();
  }

  absl::Status Failure() override {
    std::lock_guard lock(mutex_);
    return failure_;
  }

  absl::Status WriteDigest() override {
    std::unique_lock lock(mutex_);
    if (!failure_.ok()) return failure_;
    uint64_t generation = ++digests_requested_;
    work_.notify_all();
    done_.wait(lock, [&] { return digests_written_ >= generation || !failure_.ok(); });
    return failure_;
  }

 private:
  struct Pending {
    std::string event;
    // Called once the record is durable (or failed), on a committer thread, outside the lock.
    std::function<void(absl::Status)> done;
  };

  int64_t Now() const { return options_.clock ? options_.clock->NowSeconds() : SystemNow(); }

  // With more than one committer (AuditOptions::committers) they take turns, so that one batch's
  // fdatasync overlaps the next batch's write and fdatasync: on a disk where concurrent
  // fdatasyncs complete faster than one after another, that shortens the wait; but each sync
  // costs CPU, so where the CPU is the limit one committer with larger batches does better
  // (docs/BENCHMARKS.md). With one, this is plain group commit. The write token (writing_)
  // serialises everything that touches the chain, the files and the digests; the fdatasync runs
  // without it. Batches get tickets in write order and are
  // acknowledged in that order: a batch is acknowledged only after its own fdatasync, which
  // began after its write, and after every earlier batch's; once any fails, it and every later
  // batch fail (a later fdatasync's success says nothing certain about pages an earlier failed
  // one lost).
  void CommitterLoop() {
    std::unique_lock lock(mutex_);
    while (true) {
      auto wake = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      if (RecoveryPending()) wake = std::min(wake, next_recovery_);
      ++idle_committers_;
      work_.wait_until(lock, wake, [this] {
        return stopped_ || (!writing_ && (stopping_ || digests_requested_ > digests_written_ ||
                                          !queue_.empty() || RecoveryDue()));
      });
      --idle_committers_;
      if (stopped_) return;
      if (writing_) continue;  // woke by the clock while the other committer holds the token
      writing_ = true;
      // Before the batch: records queued while the log could not write go into the trail as soon
      // as it can. And at shutdown one last try, so that what is left on disk verifies.
      if (RecoveryDue() || (stopping_ && RecoveryPending() && !tried_at_shutdown_)) {
        tried_at_shutdown_ = stopping_;
        synced_.wait(lock, [this] { return synced_through_ == tickets_issued_; });
        lock.unlock();
        absl::Status recovered = Recover();
        lock.lock();
        writing_ = false;
        Recovered(recovered);
        work_.notify_all();
        continue;
      }
      std::vector<Pending> batch;
      batch.swap(queue_);
      bool stopping = stopping_;
      uint64_t digest_generation = digests_requested_;
      absl::Status status = failure_;
      uint64_t ticket = batch.empty() ? 0 : ++tickets_issued_;
      uint64_t earlier = batch.empty() ? tickets_issued_ : ticket - 1;
      lock.unlock();

      // With the token. A digest (and a rotation, which signs one) vouches only for records
      // already durable: first wait for the earlier batches' fdatasyncs.
      std::shared_ptr<AppendFile> to_sync;
      bool sign = status.ok() && DigestDue(digest_generation > digests_written_ ||
                                           (stopping && batch.empty()));
      // Decided once: the clock must not make AppendBatch rotate (and sign) without the wait.
      bool rotate = !batch.empty() && RotationDue();
      if (status.ok() && (sign || rotate)) {
        lock.lock();
        synced_.wait(lock, [&] { return synced_through_ >= earlier; });
        if (!failure_.ok()) status = failure_;
        lock.unlock();
        if (status.ok() && sign) status = SignDigest();
      }
      if (status.ok() && !batch.empty()) status = AppendBatch(batch, rotate, to_sync);
      // Where the chain and the file will stand once this batch is acknowledged.
      const uint64_t batch_sequence = last_sequence_;
      const std::string batch_hash = status.ok() && !batch.empty() ? last_hash_ : std::string();
      const uint64_t batch_file_bytes = current_file_bytes_;

      lock.lock();
      writing_ = false;
      if (!status.ok() && batch.empty()) SetFailure(status);
      if (digest_generation > digests_written_ && (sign || !status.ok() || !DigestDue(true))) {
        digests_written_ = digest_generation;
        done_.notify_all();
      }
      if (!queue_.empty() || stopping_) work_.notify_all();  // the token is free
      if (batch.empty()) {
        if (stopping && queue_.empty()) {
          // Last round: what was written is signed (above); let the other committer's fdatasync
          // finish, then both go.
          synced_.wait(lock, [this] { return synced_through_ == tickets_issued_; });
          stopped_ = true;
          if (current_file_) {
            // Cuts a spare's padding. Should that fail, the next start cuts it.
            if (auto closed = current_file_->Close(); !closed.ok()) SetFailure(Fail(closed));
            current_file_.reset();
          }
          work_.notify_all();
          return;
        }
        continue;
      }
      lock.unlock();

      if (status.ok()) {
        auto sync_started = std::chrono::steady_clock::now();
        if (auto synced = to_sync->Sync(); !synced.ok()) status = Fail(synced);
        if (fsync_seconds_) {
          std::chrono::duration<double> took = std::chrono::steady_clock::now() - sync_started;
          fsync_seconds_->Observe(took.count());
          batch_records_->Observe(static_cast<double>(batch.size()));
        }
      }

      lock.lock();
      synced_.wait(lock, [&] { return synced_through_ == ticket - 1; });
      if (!failure_.ok()) {
        status = failure_;
      } else if (!status.ok()) {
        SetFailure(status);
      } else {
        acked_sequence_ = batch_sequence;
        acked_hash_ = batch_hash;
        acked_file_bytes_ = batch_file_bytes;
      }
      synced_through_ = ticket;
      synced_.notify_all();
      absl::Status answer = status.ok() ? status : Refusal(status);
      lock.unlock();
      for (Pending& pending : batch) pending.done(answer);
      batch.clear();
      lock.lock();
    }
  }

  // The write token's state below (chain, files, digests) is read and written only by the
  // committer holding it.
  bool DigestDue(bool asked) {
    if (last_sequence_ <= last_signed_sequence_) return false;
    return asked || last_sequence_ - last_signed_sequence_ >= options_.digest_every_records ||
           Now() - last_digest_time_ >= options_.digest_every_seconds;
  }

  // A plain file begun while no spare was ready (the first after a start) gives way to the
  // spare as soon as it is: otherwise a lightly loaded kmsd would append for a whole day.
  bool RotationDue() {
    return current_file_ && (current_file_bytes_ >= options_.max_file_bytes ||
                             Now() - current_file_started_ >= options_.max_file_age_seconds ||
                             (current_file_plain_ && SpareReady()));
  }

  // Once a write or sync failed, what reached the disk after the acknowledged records is
  // unknown: nothing more is served until Recover has cut it off and the disk takes data again
  // (the caller keeps the returned status in failure_). 503: the client may retry.
  absl::Status Fail(const absl::Status& cause) {
    return Error(ErrorType::kDependencyTimeout,
                 StrCat("cannot write the audit trail: ", ToStd(cause.message()),
                        "; refusing requests until it can (tried again every ",
                        options_.retry_interval.count(), " ms)"));
  }

  // What clients are told: no paths, no system detail.
  static absl::Status Refusal(const absl::Status& failure) {
    return Error(TypeOf(failure) == ErrorType::kDependencyTimeout ? ErrorType::kDependencyTimeout
                                                                  : ErrorType::kKmsInternal,
                 kRefusal);
  }

  // With mutex_. Keeps the first failure; the first try to recover comes one interval later.
  void SetFailure(const absl::Status& failure) {
    if (!failure_.ok()) return;
    failure_ = failure;
    next_recovery_ = std::chrono::steady_clock::now() + options_.retry_interval;
    if (options_.on_writable_change) options_.on_writable_change(failure_);
    done_.notify_all();
    work_.notify_all();
  }

  // With mutex_.
  bool RecoveryPending() const { return !failure_.ok() && !failure_permanent_; }
  bool RecoveryDue() const {
    return RecoveryPending() && std::chrono::steady_clock::now() >= next_recovery_;
  }

  // With mutex_: the outcome of Recover.
  void Recovered(const absl::Status& recovered) {
    if (recovered.ok()) {
      failure_ = absl::OkStatus();
      if (options_.on_writable_change) options_.on_writable_change(failure_);
    } else if (absl::IsDataLoss(recovered)) {
      failure_permanent_ = true;
      failure_ = Internal(StrCat("the audit trail on disk is not what kmsd acknowledged (",
                                 ToStd(recovered.message()),
                                 "); refusing every request until restarted: run `kmsd audit "
                                 "verify`, keep the trail as evidence"));
      if (options_.on_writable_change) options_.on_writable_change(failure_);
    } else {
      failure_ = recovered;  // the latest reason, still retried
      next_recovery_ = std::chrono::steady_clock::now() + options_.retry_interval;
    }
    done_.notify_all();
  }

  // With the write token, no batch in flight (every ticket acknowledged or failed). Brings the
  // trail back to a state a start would leave: the files cut back to what was acknowledged, the
  // disk shown to take data, the chain's end re-read from disk and checked against memory, the
  // unsigned records signed, the next batch in a new file. kDataLoss: acknowledged records are
  // not on disk as acknowledged (no retry); any other error: try again later (each step may be
  // repeated).
  absl::Status Recover() {
    // What a failed write or sync left behind the file offsets is unknown: let go of the files.
    current_file_.reset();
    digest_file_.reset();
    uint64_t acked_sequence;
    std::string acked_hash;
    uint64_t acked_file_bytes;
    {
      std::lock_guard lock(mutex_);
      acked_sequence = acked_sequence_;
      acked_hash = acked_hash_;
      acked_file_bytes = acked_file_bytes_;
    }
    // 1. Cut: needs no free space, so a torn tail goes at the first try, even on a full disk.
    if (!current_file_name_.empty()) {
      if (auto status = CutBack(dir_, current_file_name_, acked_file_bytes,
                                /*remove_if_empty=*/true);
          !status.ok()) {
        return absl::IsDataLoss(status) ? status : Fail(status);
      }
    }
    if (auto status = CutBack(dir_, std::string(kDigestFile), digest_file_bytes_,
                              /*remove_if_empty=*/false);
        !status.ok()) {
      return absl::IsDataLoss(status) ? status : Fail(status);
    }
    if (auto status = file_system_->SyncDirectory(dir_); !status.ok()) return Fail(status);
    // 2. Probe: the disk takes data again.
    if (auto status = ProbeWrite(); !status.ok()) return Fail(status);
    // 3. Check: the trail on disk ends with the last acknowledged record.
    TrailEnd end;
    if (auto status = FindLastRecord(dir_, end); !status.ok()) return Fail(status);
    if (end.last_sequence != acked_sequence || end.last_hash != acked_hash) {
      return absl::DataLossError(StrCat("it ends at record ", end.last_sequence,
                                        end.last_sequence == acked_sequence ? " (another one)" : "",
                                        ", the last acknowledged is ", acked_sequence));
    }
    current_file_name_ = end.last_file;
    {
      std::lock_guard lock(mutex_);
      acked_file_bytes_ = end.last_file_bytes;
    }
    last_sequence_ = acked_sequence;
    last_hash_ = std::move(acked_hash);
    // 4. Seal: a digest covers every record so far, so the file closed by the failure is signed
    // like any file before the next one (current_file_ stays empty: the next batch begins one).
    if (last_sequence_ > last_signed_sequence_) return SignDigest();
    return absl::OkStatus();
  }

  absl::Status ProbeWrite() {
    std::string path = StrCat(dir_, "/", kProbeFile);
    unlink(path.c_str());
    auto file = file_system_->OpenAppend(path);
    if (!file.ok()) return file.status();
    static const std::string zeros(kProbeBytes, '\0');
    absl::Status status = (*file)->Append(zeros);
    if (status.ok()) status = (*file)->Sync();
    file->reset();
    unlink(path.c_str());
    return status;
  }

  // Chains the batch and appends it to the current file, first starting a new file if rotate
  // (the caller has then already waited for earlier syncs). Sets to_sync to the file to
  // fdatasync.
  absl::Status AppendBatch(const std::vector<Pending>& batch, bool rotate,
                           std::shared_ptr<AppendFile>& to_sync) {
    int64_t now = Now();
    if (rotate) {
      if (last_sequence_ > last_signed_sequence_) {
        if (auto status = SignDigest(); !status.ok()) return status;
      }
      if (auto status = current_file_->Close(); !status.ok()) return Fail(status);
      current_file_.reset();
    }
    if (!current_file_) {
      current_file_name_ = TrailFileName(last_sequence_ + 1, now);
      {
        // Nothing is in flight (a first file, or a rotation after the earlier syncs).
        std::lock_guard lock(mutex_);
        acked_file_bytes_ = 0;
      }
      std::string path = StrCat(dir_, "/", current_file_name_);
      bool adopt = TakeSpare();
      auto file = adopt ? file_system_->AdoptSpare(spare_path_, path)
                        : file_system_->OpenAppend(path);
      if (adopt && absl::IsNotFound(file.status())) {
        // Someone removed the spare: it was only ever an optimisation.
        adopt = false;
        file = file_system_->OpenAppend(path);
      }
      current_file_plain_ = !adopt;
      WantSpare();
      if (!file.ok()) return Fail(file.status());
      if (auto status = file_system_->SyncDirectory(dir_); !status.ok()) return Fail(status);
      current_file_ = std::move(*file);
      current_file_bytes_ = 0;
      current_file_started_ = now;
    }
    std::string& buffer = batch_buffer_;  // reused: no reallocation once warm
    buffer.clear();
    uint64_t sequence = last_sequence_;
    std::string hash = last_hash_;
    for (const Pending& pending : batch) {
      ++sequence;
      // The event is a JSON object; the chain fields go in before its closing brace.
      size_t line_start = buffer.size();
      buffer.append(pending.event, 0, pending.event.empty() ? 0 : pending.event.size() - 1);
      if (!node_member_.empty()) buffer.append(node_member_);
      buffer.append(",\"").append(kSequenceMember).append("\":").append(std::to_string(sequence));
      buffer.append(",\"").append(kPreviousHashMember).append("\":\"");
      buffer.append(crypto::HexEncode(hash)).append("\"}");
      hash = ChainHash(hash, std::string_view(buffer).substr(line_start));
      buffer.push_back('\n');
    }
    if (auto status = current_file_->Append(buffer); !status.ok()) return Fail(status);
    current_file_bytes_ += buffer.size();
    if (buffer.capacity() > (1 << 20)) std::string().swap(buffer);  // after a burst, let it go
    last_sequence_ = sequence;
    last_hash_ = std::move(hash);
    to_sync = current_file_;
    return absl::OkStatus();
  }

  // The spare (AuditOptions::preallocate): one thread keeps a zero-filled file ready; a new trail
  // file takes it when it is ready and is created plain otherwise (never waits for it).
  void SpareLoop() {
    const uint64_t bytes = std::min<uint64_t>(options_.max_file_bytes, kMaxSpareBytes) + (1 << 20);
    std::unique_lock lock(spare_mutex_);
    while (true) {
      spare_work_.wait(lock, [this] { return spare_stop_ || (spare_wanted_ && !spare_ready_); });
      if (spare_stop_) return;
      lock.unlock();
      absl::Status status = file_system_->CreateSpare(spare_path_, bytes, spare_stop_);
      lock.lock();
      spare_wanted_ = false;
      spare_ready_ = status.ok();
      // Where spares do not pay, stop making them. Another failure (a full disk, say) is left
      // to the trail's own writes to report; the next new file asks again.
      if (absl::IsUnimplemented(status)) return;
    }
  }

  bool SpareReady() {
    if (!spare_thread_.joinable()) return false;
    std::lock_guard lock(spare_mutex_);
    return spare_ready_;
  }

  bool TakeSpare() {
    std::lock_guard lock(spare_mutex_);
    return std::exchange(spare_ready_, false);
  }

  void WantSpare() {
    if (!spare_thread_.joinable()) return;
    {
      std::lock_guard lock(spare_mutex_);
      spare_wanted_ = true;
    }
    spare_work_.notify_one();
  }

  absl::Status SignDigest() {
    int64_t now = Now();
    json digest = {
        {"digestVersion", 1},
        {"time", FormatTime(now)},
        {"firstSequence", last_signed_sequence_ + 1},
        {"lastSequence", last_sequence_},
        {"recordCount", last_sequence_ - last_signed_sequence_},
        {"lastHash", crypto::HexEncode(last_hash_)},
        {"lastFile", current_file_name_},
        {"previousDigestHash", crypto::HexEncode(last_digest_hash_)},
        {"publicKeyFingerprint", key_fingerprint_},
    };
    if (!options_.node_id.empty()) digest[std::string(kNodeMember)] = options_.node_id;
    auto signature = key_->Sign(DigestSignedBytes(digest));
    if (!signature.ok()) return Fail(signature.status());
    digest["signature"] = crypto::Base64Encode(*signature);
    std::string line = DumpJson(digest);
    if (!digest_file_) {
      auto file = file_system_->OpenAppend(StrCat(dir_, "/", kDigestFile));
      if (!file.ok()) return Fail(file.status());
      if (auto status = file_system_->SyncDirectory(dir_); !status.ok()) return Fail(status);
      digest_file_ = std::move(*file);
    }
    if (auto status = digest_file_->Append(StrCat(line, "\n")); !status.ok()) return Fail(status);
    if (auto status = digest_file_->Sync(); !status.ok()) return Fail(status);
    digest_file_bytes_ += line.size() + 1;
    last_signed_sequence_ = last_sequence_;
    last_digest_hash_ = crypto::Sha256(line);
    last_digest_time_ = now;
    return absl::OkStatus();
  }

  const AuditOptions options_;
  std::string node_member_;  // empty without a node id
  const std::string dir_;
  FileSystem* const file_system_;
  const std::unique_ptr<SigningKey> key_;
  const std::string key_fingerprint_;
  const EventSettings settings_;
  metrics::Histogram* fsync_seconds_ = nullptr;  // when options_.metrics
  metrics::Histogram* batch_records_ = nullptr;

  std::mutex mutex_;
  std::condition_variable work_;    // committers wait here for records (and the token)
  std::condition_variable synced_;  // committers wait here for earlier batches' fdatasyncs
  std::condition_variable done_;    // WriteDigest callers wait here for the digest
  // Guarded by mutex_:
  std::vector<Pending> queue_;
  int idle_committers_ = 0;
  bool writing_ = false;  // the write token
  uint64_t tickets_issued_ = 0;
  uint64_t synced_through_ = 0;  // batches acknowledged, in ticket order
  uint64_t digests_requested_ = 0;
  uint64_t digests_written_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  // A write failed: refusing records until Recover succeeds (tried at next_recovery_, and once
  // at shutdown), or for good when permanent.
  absl::Status failure_;
  bool failure_permanent_ = false;
  bool tried_at_shutdown_ = false;
  std::chrono::steady_clock::time_point next_recovery_;
  // The end of the acknowledged records: the last one's sequence and chain hash, and the bytes
  // of current_file_name_ up to it. Set in acknowledgment order.
  uint64_t acked_sequence_;
  std::string acked_hash_;
  uint64_t acked_file_bytes_;

  // Owned by the write token (and read by the constructor before the committers start).
  std::shared_ptr<AppendFile> current_file_;
  std::string current_file_name_;
  uint64_t current_file_bytes_ = 0;
  bool current_file_plain_ = false;  // not begun from a spare
  int64_t current_file_started_ = 0;
  std::unique_ptr<AppendFile> digest_file_;
  std::string batch_buffer_;
  uint64_t last_sequence_;
  std::string last_hash_;
  uint64_t last_signed_sequence_;
  std::string last_digest_hash_;
  int64_t last_digest_time_;
  uint64_t digest_file_bytes_;  // durable (synced) bytes of the digest file

  const std::string spare_path_;
  std::mutex spare_mutex_;
  std::condition_variable spare_work_;
  std::atomic<bool> spare_stop_{false};  // set under spare_mutex_; read by CreateSpare without it
  bool spare_wanted_ = false;  // guarded by spare_mutex_
  bool spare_ready_ = false;   // guarded by spare_mutex_; true: spare_path_ is whole, durable
  std::thread spare_thread_;

  std::vector<std::thread> committers_;  // last: they start after everything they read is built
};

absl::Status MakePrivateDirectory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return Internal(StrCat("cannot create ", path, ": ", error.message()));
  if (chmod(path.c_str(), 0700) != 0) return Internal(StrCat("cannot chmod 700 ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status AuditLog::Record(const RequestOutcome& outcome) {
  std::mutex mutex;
  std::condition_variable recorded;
  std::optional<absl::Status> result;
  RecordAsync(outcome, [&](absl::Status status) {
    std::lock_guard lock(mutex);
    result = std::move(status);
    recorded.notify_one();  // under the lock: this frame cannot go before the call returns
  });
  std::unique_lock lock(mutex);
  recorded.wait(lock, [&] { return result.has_value(); });
  return *result;
}

bool IsNodeId(std::string_view text) {
  return !text.empty() && text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(AuditOptions options) {
  if (options.data_dir.empty()) return Validation("the audit log needs a data dir");
  if (!IsNodeId(options.node_id) && !options.node_id.empty()) {
    return Validation(
        "the node id must be 1 to 253 characters of letters, digits, '.', '_', ':' and '-' (a "
        "host name)");
  }
  std::string dir =
      options.audit_dir.empty() ? StrCat(options.data_dir, "/audit") : options.audit_dir;
  if (auto status = MakePrivateDirectory(options.data_dir); !status.ok()) return status;
  if (auto status = MakePrivateDirectory(dir); !status.ok()) return status;
  auto key = SigningKey::LoadOrCreate(StrCat(options.data_dir, "/", kSigningKeyFile));
  if (!key.ok()) return key.status();
  auto fingerprint = PublicKeyFingerprint((*key)->PublicKeyPem());
  if (!fingerprint.ok()) return fingerprint.status();
  // A spare left by a crash may be partly written: the thread makes a new one.
  if (auto status = (options.file_system ? options.file_system : DefaultFileSystem())
                        ->RemoveSpare(StrCat(dir, "/", kSpareFile));
      !status.ok()) {
    return status;
  }
  TrailEnd end;
  if (auto status = FindLastRecord(dir, end); !status.ok()) return status;
  if (auto status = FindLastDigest(dir, end); !status.ok()) return status;
  if (end.last_signed_sequence > end.last_sequence) {
    return Internal(StrCat("the audit trail in ", dir, " ends at record ", end.last_sequence,
                           " but its digests cover up to ", end.last_signed_sequence,
                           ": it was truncated; run `kmsd audit verify`"));
  }
  auto log = std::make_unique<FileAuditLog>(std::move(options), std::move(dir), std::move(*key),
                                            std::move(*fingerprint), end);
  // Records a crash left unsigned are signed before anything new, so every closed file is covered
  // by a digest (the verifier relies on that to notice removed digests).
  if (end.last_sequence > end.last_signed_sequence) {
    if (auto status = log->WriteDigest(); !status.ok()) return status;
  }
  return std::unique_ptr<AuditLog>(std::move(log));
}

absl::StatusOr<std::string> AuditPublicKeyPem(const std::string& data_dir) {
  auto key = SigningKey::Load(StrCat(data_dir, "/", kSigningKeyFile));
  if (!key.ok()) return key.status();
  return (*key)->PublicKeyPem();
}

}  // namespace kmsd::audit
