// The trail writer: Record() builds its event on the caller's thread, then one writer thread
// chains, appends and fdatasyncs whatever records are waiting (group commit), acknowledges them,
// rotates files and writes signed digests. The first write failure latches: fail closed.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
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
};

// Reads the last record of the newest trail file. A torn last line (a write that crashed before
// its fdatasync, so never acknowledged) is cut off so the chain continues from a whole record.
absl::Status FindLastRecord(const std::string& dir, TrailEnd& end) {
  auto files = ListTrailFiles(dir);
  if (!files.ok()) return files.status();
  for (auto file = files->rbegin(); file != files->rend(); ++file) {
    std::string path = StrCat(dir, "/", *file);
    auto content = ReadWholeFile(path);
    if (!content.ok()) return content.status();
    if (content->empty()) continue;
    size_t complete = content->rfind('\n');
    size_t whole = complete == std::string::npos ? 0 : complete + 1;
    if (whole != content->size()) {
      if (truncate(path.c_str(), static_cast<off_t>(whole)) != 0) {
        return Internal(StrCat("cannot cut the torn last line of ", path));
      }
      content->resize(whole);
      if (content->empty()) continue;
    }
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
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status FindLastDigest(const std::string& dir, TrailEnd& end) {
  std::string path = StrCat(dir, "/", kDigestFile);
  if (access(path.c_str(), F_OK) != 0) return absl::OkStatus();
  auto content = ReadWholeFile(path);
  if (!content.ok()) return content.status();
  size_t whole = content->rfind('\n');
  whole = whole == std::string::npos ? 0 : whole + 1;
  if (whole != content->size()) {
    if (truncate(path.c_str(), static_cast<off_t>(whole)) != 0) {
      return Internal(StrCat("cannot cut the torn last line of ", path));
    }
    content->resize(whole);
  }
  if (content->empty()) return absl::OkStatus();
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
        last_sequence_(end.last_sequence),
        last_hash_(end.last_hash),
        last_signed_sequence_(end.last_signed_sequence),
        last_digest_hash_(end.last_digest_hash),
        last_digest_time_(Now()) {
    current_file_name_ = end.last_file;
    writer_ = std::thread([this] { WriterLoop(); });
  }

  ~FileAuditLog() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_one();
    writer_.join();
  }

  void RecordAsync(const RequestOutcome& outcome,
                   std::function<void(absl::Status)> done) override {
    Pending pending{BuildEvent(outcome, settings_, Now(), NewUuid()), std::move(done)};
    std::unique_lock lock(mutex_);
    if (!failure_.ok()) {
      absl::Status failure = failure_;
      lock.unlock();
      pending.done(std::move(failure));
      return;
    }
    queue_.push_back(std::move(pending));
    // The writer sleeps only when it found nothing to do; while it writes or syncs, records
    // just queue up for its next batch, with no wake-up.
    if (writer_idle_) work_.notify_one();
  }

  absl::Status WriteDigest() override {
    std::unique_lock lock(mutex_);
    if (!failure_.ok()) return failure_;
    digest_requested_ = true;
    work_.notify_one();
    done_.wait(lock, [this] { return !digest_requested_; });
    return failure_;
  }

 private:
  struct Pending {
    std::string event;
    // Called once the record is durable (or failed), on the writer thread, outside the lock.
    std::function<void(absl::Status)> done;
  };

  int64_t Now() const { return options_.clock ? options_.clock->NowSeconds() : SystemNow(); }

  void WriterLoop() {
    std::unique_lock lock(mutex_);
    while (true) {
      auto digest_due = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      writer_idle_ = true;
      work_.wait_until(lock, digest_due,
                       [this] { return stopping_ || digest_requested_ || !queue_.empty(); });
      writer_idle_ = false;
      std::vector<Pending> batch;
      batch.swap(queue_);
      bool stopping = stopping_;
      bool digest_requested = digest_requested_;
      lock.unlock();

      absl::Status status = failed_ ? Failure() : WriteBatch(batch);
      bool unsigned_records = last_sequence_ > last_signed_sequence_;
      bool digest_due_now =
          unsigned_records &&
          (digest_requested || stopping ||
           last_sequence_ - last_signed_sequence_ >= options_.digest_every_records ||
           Now() - last_digest_time_ >= options_.digest_every_seconds);

      // Acknowledge before the digest: a digest only adds proof to records already durable.
      // Outside the lock, so that requests keep queueing meanwhile. The failure is latched
      // first: a record queued after this batch failed must not be written after it.
      if (!status.ok()) {
        lock.lock();
        failure_ = status;
        lock.unlock();
      }
      for (Pending& pending : batch) {
        pending.done(status);
      }
      batch.clear();
      lock.lock();
      if (digest_due_now && !failed_) {
        lock.unlock();
        absl::Status digest = SignDigest();
        lock.lock();
        if (!digest.ok()) failure_ = digest;
      }
      if (digest_requested) {
        digest_requested_ = false;
        done_.notify_all();
      }
      if (stopping && queue_.empty()) {
        current_file_.reset();
        return;
      }
    }
  }

  absl::Status Failure() const {
    return Internal(StrCat("the audit log failed earlier (", failure_reason_,
                           "); kmsd refuses requests it cannot audit until restarted"));
  }

  // Latches the failure: once a write failed, what reached the disk is unknown, so nothing more
  // is served until an operator has looked.
  absl::Status Fail(const absl::Status& cause) {
    failed_ = true;
    failure_reason_ = std::string(ToStd(cause.message()));
    return Internal(StrCat("cannot write the audit log: ", failure_reason_));
  }

  absl::Status WriteBatch(const std::vector<Pending>& batch) {
    if (batch.empty()) return absl::OkStatus();
    int64_t now = Now();
    if (current_file_ && (current_file_bytes_ >= options_.max_file_bytes ||
                          now - current_file_started_ >= options_.max_file_age_seconds)) {
      if (last_sequence_ > last_signed_sequence_) {
        if (auto status = SignDigest(); !status.ok()) return status;
      }
      current_file_.reset();
    }
    if (!current_file_) {
      current_file_name_ = TrailFileName(last_sequence_ + 1, now);
      auto file = file_system_->OpenAppend(StrCat(dir_, "/", current_file_name_));
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
      buffer.append(",\"").append(kSequenceMember).append("\":").append(std::to_string(sequence));
      buffer.append(",\"").append(kPreviousHashMember).append("\":\"");
      buffer.append(crypto::HexEncode(hash)).append("\"}");
      hash = ChainHash(hash, std::string_view(buffer).substr(line_start));
      buffer.push_back('\n');
    }
    if (auto status = current_file_->Append(buffer); !status.ok()) return Fail(status);
    if (auto status = current_file_->Sync(); !status.ok()) return Fail(status);
    current_file_bytes_ += buffer.size();
    if (buffer.capacity() > (1 << 20)) std::string().swap(buffer);  // after a burst, let it go
    last_sequence_ = sequence;
    last_hash_ = std::move(hash);
    return absl::OkStatus();
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
    last_signed_sequence_ = last_sequence_;
    last_digest_hash_ = crypto::Sha256(line);
    last_digest_time_ = now;
    return absl::OkStatus();
  }

  const AuditOptions options_;
  const std::string dir_;
  FileSystem* const file_system_;
  const std::unique_ptr<SigningKey> key_;
  const std::string key_fingerprint_;
  const EventSettings settings_;

  std::mutex mutex_;
  std::condition_variable work_;   // the writer waits here for records
  std::condition_variable done_;   // WriteDigest callers wait here for the digest
  std::vector<Pending> queue_;     // guarded by mutex_
  bool writer_idle_ = false;       // guarded by mutex_: the writer waits on work_
  bool stopping_ = false;          // guarded by mutex_
  bool digest_requested_ = false;  // guarded by mutex_
  absl::Status failure_;           // guarded by mutex_; set once, never cleared

  // Owned by the writer thread (and read by the constructor before it starts).
  bool failed_ = false;
  std::string failure_reason_;
  std::unique_ptr<AppendFile> current_file_;
  std::string current_file_name_;
  uint64_t current_file_bytes_ = 0;
  int64_t current_file_started_ = 0;
  std::unique_ptr<AppendFile> digest_file_;
  std::string batch_buffer_;
  uint64_t last_sequence_;
  std::string last_hash_;
  uint64_t last_signed_sequence_;
  std::string last_digest_hash_;
  int64_t last_digest_time_;

  std::thread writer_;  // last: starts after everything it reads is built
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

absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(AuditOptions options) {
  if (options.data_dir.empty()) return Validation("the audit log needs a data dir");
  std::string dir =
      options.audit_dir.empty() ? StrCat(options.data_dir, "/audit") : options.audit_dir;
  if (auto status = MakePrivateDirectory(options.data_dir); !status.ok()) return status;
  if (auto status = MakePrivateDirectory(dir); !status.ok()) return status;
  auto key = SigningKey::LoadOrCreate(StrCat(options.data_dir, "/", kSigningKeyFile));
  if (!key.ok()) return key.status();
  auto fingerprint = PublicKeyFingerprint((*key)->PublicKeyPem());
  if (!fingerprint.ok()) return fingerprint.status();
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
