// The audit trail: one CloudTrail-shaped JSON record per request, durable before the answer is
// sent, hash-chained and periodically sealed by signed digests, plus the verifier and query tool
// that read it back. AuditLog is thread-safe; the reading functions may run while kmsd writes.
//
// On disk, under the audit dir (default DATA_DIR/audit, mode 0700, files 0600):
//   trail-<first sequence, 20 digits>-<UTC time>.jsonl   records, one JSON object per line
//   digests.jsonl                                        signed digests, one per line
// and the Ed25519 signing key in DATA_DIR/audit-signing-key.pem (0600). docs/AUDIT.md has details.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmsd/api.h"
#include "kmsd/clock.h"
#include "kmsd/metrics.h"

namespace kmsd::audit {

// An append-only file. Only what the trail needs, so tests can inject write and sync faults.
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  virtual absl::Status Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fdatasync). May run while Append runs on another
  // thread (Append itself is called by one thread at a time).
  virtual absl::Status Sync() = 0;
  // Ends the file for good: cuts the zero padding after the last append (a file adopted from a
  // spare) and makes that durable. Nothing may be appended after it.
  virtual absl::Status Close() = 0;
};

// Where trail files are opened. The default is the POSIX file system; tests wrap it to fail.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens (creating with mode 0600) a file for appending.
  virtual absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) = 0;
  // Makes new directory entries in the directory durable.
  virtual absl::Status SyncDirectory(const std::string& path) = 0;

  // Spares: a file of `bytes` zero bytes, written and fdatasynced ahead of need, later renamed
  // to a trail file's name and written in place from its start. An fdatasync then has only data
  // to write back, no size or extent change to commit through the file system's journal: on
  // ext4 that is one device flush instead of a journal commit (docs/BENCHMARKS.md). Readers of
  // the trail stop at the first NUL byte; Close cuts the padding off.
  //
  // Creates (replacing) `path` as a durable spare: a file of that name is always whole. Gives up,
  // removing what it wrote, with a kCancelled status as soon as `stop` is set. kUnimplemented where
  // spares do not pay: file systems that do not overwrite in place (btrfs, ZFS), tmpfs, network
  // file systems.
  virtual absl::Status CreateSpare(const std::string& path, uint64_t bytes,
                                   const std::atomic<bool>& stop) = 0;
  // Renames the spare to `path` and opens it for appending from its first byte; when the
  // appends outgrow the spare, the file grows as a plain one would. kNotFound, with nothing
  // changed, when the spare is gone (removed by hand, say). The caller syncs the directory.
  virtual absl::StatusOr<std::unique_ptr<AppendFile>> AdoptSpare(const std::string& spare,
                                                                 const std::string& path) = 0;
  // Removes the spare, and what an interrupted CreateSpare left, if they exist.
  virtual absl::Status RemoveSpare(const std::string& path) = 0;
};

// The POSIX file system. Thread-safe; never destroyed.
FileSystem* DefaultFileSystem();

struct AuditOptions {
  std::string data_dir;   // holds the signing key; the trail goes in data_dir/audit by default
  std::string audit_dir;  // empty = data_dir/audit
  std::string region = "us-east-1";
  std::string account_id = "111122223333";
  // The node that writes this trail (kmsd serve --node-id, default the host name): each record
  // and digest names it, so trails of several nodes can be merged (issue 12). 1..253 characters
  // of [A-Za-z0-9._:-]; empty = none.
  std::string node_id;
  // A file is closed and a new one started when it would pass this size or age.
  uint64_t max_file_bytes = 64 << 20;
  int64_t max_file_age_seconds = 24 * 3600;
  // A signed digest is written after this many records or seconds (whichever first, if any
  // record arrived since the last one), at each rotation and at shutdown.
  uint64_t digest_every_records = 1000;
  int64_t digest_every_seconds = 60;
  // Threads that write and fdatasync batches of records (1..8). More than one overlaps one
  // batch's fdatasync with the next one's: shorter waits where fdatasync is slow and the CPU is
  // not the limit, more syncs (and CPU) otherwise. On the 2-core VM of docs/BENCHMARKS.md one is
  // best.
  int committers = 1;
  // Keep a zero-filled spare file of max_file_bytes (plus 1 MiB) ready in the audit dir
  // (.trail-spare) and start each new trail file from it, so that the fdatasync behind every
  // answer commits no metadata (FileSystem::CreateSpare). Costs that much disk twice over (the
  // spare and the unused tail of the current file) and writes each byte of the trail twice. A
  // trade-off that depends on the disk (docs/AUDIT.md), so off unless asked for (kmsd serve
  // --audit-preallocate). Ignored where the file system does not gain from it.
  bool preallocate = false;
  const Clock* clock = nullptr;       // nullptr = the system clock
  FileSystem* file_system = nullptr;  // nullptr = DefaultFileSystem()
  // Where the committers report each trail fdatasync's latency (kmsd_audit_fsync_seconds) and
  // each batch's record count (kmsd_audit_batch_records). Not owned; must outlive the log.
  metrics::Registry* metrics = nullptr;
  // While the trail cannot be written (a full disk, say), how often the log tries again
  // (AuditLog::RecordAsync says how). Tests shorten it.
  std::chrono::milliseconds retry_interval{1000};
  // Told when writing fails (the cause, with the file and the system's reason: for the server
  // log, not for clients) and when it works again (OK). Called from a committer thread, with the
  // log's lock held: it must not block or call into the log. May be empty.
  std::function<void(const absl::Status&)> on_writable_change;
};

class AuditLog {
 public:
  // Writes the final digest and closes the files.
  virtual ~AuditLog() = default;

  // Records one request: builds its record from the outcome before returning (the outcome may go
  // once this returns), then calls `done` exactly once when the record is on disk, from the
  // writer thread (concurrent records share one write and one fdatasync), or at once from this
  // thread if the log cannot write. `done` must not block.
  //
  // Fail closed: once a write, fdatasync or file creation fails, this and every later record
  // fail with DependencyTimeout (HTTP 503, retryable: kmsd refuses to serve what it cannot audit)
  // until the log has recovered by itself. Every retry_interval it drops its open files, cuts the
  // trail and the digests back to what was acknowledged (a torn or unacknowledged tail goes),
  // checks that the trail on disk ends where the chain in memory does, proves with a test write
  // and fdatasync that the disk takes data again, signs the records not yet covered by a digest,
  // and continues the chain in a new file. Should the check find the trail on disk shorter or
  // other than what was acknowledged, the failure is KMSInternal and stays until a restart.
  virtual void RecordAsync(const RequestOutcome& outcome,
                           std::function<void(absl::Status)> done) = 0;

  // The same, waiting: returns once the record is on disk.
  absl::Status Record(const RequestOutcome& outcome);

  // Writes a signed digest now if any record arrived since the last one.
  virtual absl::Status WriteDigest() = 0;

  // OK while the trail can be written; after a write or sync failed, that failure (naming the
  // file and the system's reason) until the log has recovered (RecordAsync). For readiness
  // probes; cheap.
  virtual absl::Status Failure() = 0;
};

// A node id AuditOptions::node_id accepts.
bool IsNodeId(std::string_view text);

// Opens the trail (continuing an existing one) and creates the signing key on first start.
absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(AuditOptions options);

// The audit public key (PEM SubjectPublicKeyInfo) of the signing key in data_dir.
absl::StatusOr<std::string> AuditPublicKeyPem(const std::string& data_dir);

// What the verifier found. ok=false names the first place that was tampered with.
struct VerifyReport {
  bool ok = true;
  // "modified", "deleted", "inserted", "reordered", "truncated", "bad-signature", "unreadable".
  std::string problem;
  std::string file;                  // file name (within the audit dir) where it was found
  int64_t line = 0;                  // 1-based line in that file, 0 when not about one line
  int64_t sequence = 0;              // sequence number concerned, 0 when unknown
  std::string detail;                // one readable sentence
  int64_t records = 0;               // records checked
  int64_t digests = 0;               // digests checked
  int64_t last_signed_sequence = 0;  // records after this one are not yet covered by a digest
  // Not tampering: the newest trail file (or digests.jsonl) ends in a line without its newline,
  // what a crash leaves of a write it cut short (never acknowledged; kmsd cuts it off at its
  // next start). Names the file and the bytes; empty when there is none.
  std::string torn_tail;
};

// Checks every trail file, the chain and every digest's signature against public_key_pem.
// An error status means the check could not run (no such dir, bad key), not that it failed.
absl::StatusOr<VerifyReport> VerifyTrail(const std::string& audit_dir,
                                         const std::string& public_key_pem);
std::string FormatVerifyReport(const VerifyReport& report);

struct QueryFilter {
  // Key id, key ARN, alias name (alias/x) or alias ARN. A key id or ARN matches the records'
  // resources and key parameters. An alias matches the records that name it and, read from the
  // trail itself, the records of the key it pointed to at each record's place in the trail
  // (docs/AUDIT.md, "Aliases in queries"): no root key or database is needed.
  std::string key;
  std::string event_name;  // in any letter case
  // Access key id, principal id, ARN or user name; or the issuing role's ARN, id or name (all
  // of that role's sessions).
  std::string principal;
  std::optional<int64_t> start_seconds;  // inclusive, seconds since the epoch
  std::optional<int64_t> end_seconds;    // exclusive
  bool errors_only = false;
  // One service's records: its short name ("kms", "iam", "sts") or its full eventSource
  // ("iam.amazonaws.com"), in any letter case; empty = every service.
  std::string event_source;
};

enum class QueryFormat { kJsonLines, kTable };

// Writes the matching records in trail order; returns how many matched.
absl::StatusOr<int64_t> QueryTrail(const std::string& audit_dir, const QueryFilter& filter,
                                   QueryFormat format, std::ostream& out);

// The same over several nodes' trails (issue 12), one audit dir each: every trail is read (and
// an alias filter followed) in its own order, then the matches are merged by eventTime. The
// table gains a NODE column (the records' nodeId).
absl::StatusOr<int64_t> QueryTrails(const std::vector<std::string>& audit_dirs,
                                    const QueryFilter& filter, QueryFormat format,
                                    std::ostream& out);

// What `kmsd audit summary` groups the matching records by.
enum class SummaryColumn {
  kKey,        // the key a record is about (its first key resource, else the key it asked for)
  kPrincipal,  // an IAM user's name, else the caller's ARN, else the access key it claimed
  kEvent,      // eventName
  kOutcome,    // "OK" or the errorCode
};

// "key", "principal", "event", "outcome" -> the column; nullopt for anything else.
std::optional<SummaryColumn> ParseSummaryColumn(std::string_view name);

// The columns a summary groups by when none are given: who did what with what outcome when the
// filter names a key, else one row per key.
std::vector<SummaryColumn> DefaultSummaryColumns(const QueryFilter& filter);

// Counts the matching records by the values of `group_by` and writes one row per group, the
// most frequent first, with its count, errors, and first and last time: a table for people, or
// JSON lines ({"principal":…,"event":…,"count":…,"errors":…,"firstTime":…,"lastTime":…}).
// Returns how many records matched.
absl::StatusOr<int64_t> SummarizeTrail(const std::string& audit_dir, const QueryFilter& filter,
                                       const std::vector<SummaryColumn>& group_by,
                                       QueryFormat format, std::ostream& out);

// The same over several nodes' trails, their counts added up.
absl::StatusOr<int64_t> SummarizeTrails(const std::vector<std::string>& audit_dirs,
                                        const QueryFilter& filter,
                                        const std::vector<SummaryColumn>& group_by,
                                        QueryFormat format, std::ostream& out);

// A time for the filter, in seconds since the epoch: "2024-05-01", "2024-05-01T10:00:00Z",
// seconds since the epoch, or that long before now_seconds: "90s", "30m", "1h", "2d", "1w".
absl::StatusOr<int64_t> ParseTime(std::string_view text, int64_t now_seconds);

}  // namespace kmsd::audit
