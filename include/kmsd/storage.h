// The physical backend: an untrusted, ordered key-value store. Everything kmsd stores goes through
// the keystore barrier first, so a backend only ever sees sealed bytes. Implementations are safe
// for concurrent use from many threads. A write returns only once it is durable.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kmsd {

struct StorageEntry {
  std::string key;
  std::string value;
};

// A precondition of a batch, checked atomically with its writes: the key must hold exactly
// `value` (the stored bytes as read), or be absent when value is nullopt.
struct StorageCondition {
  std::string key;
  std::optional<std::string> value;
};

// One atomic batch of writes: all apply or none. When a condition does not hold, nothing is
// written and Commit answers StorageConflict (absl kAborted), which callers may retry after
// reading again. This is how several writers (kmsd nodes on one etcd) never lose each other's
// updates.
struct StorageBatch {
  std::vector<StorageEntry> puts;
  std::vector<std::string> deletes;
  std::vector<StorageCondition> conditions;
};

// The status Commit answers when a condition fails; IsStorageConflict recognizes it.
absl::Status StorageConflict(std::string_view key);
bool IsStorageConflict(const absl::Status& status);

// Receives what other writers do to a shared backend (Backend::Watch). Called from the backend's
// own thread; implementations must be quick and thread-safe.
class StorageWatcher {
 public:
  virtual ~StorageWatcher() = default;
  // The key was written or deleted, by any node (this one included).
  virtual void OnChange(std::string_view key) = 0;
  // The feed lost continuity (a reconnect, a compaction, quorum lost): anything derived from
  // storage may be stale. Until OnCurrent, do not serve from caches.
  virtual void OnStale() = 0;
  // The feed is continuous again from a known revision; caches dropped at OnStale may refill.
  virtual void OnCurrent() = 0;
};

// Whether this node runs the cluster's background work now (Backend::Elect).
class Leadership {
 public:
  virtual ~Leadership() = default;
  // True only while this node holds the lease; may turn false at any moment (a task that checks
  // it must still make its writes conditional, so an overlapping former leader changes nothing).
  virtual bool IsLeader() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The value under key, or nullopt when absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  // Put and Delete default to a batch of one write (Commit).
  virtual absl::Status Put(std::string_view key, std::string_view value);
  // Deleting an absent key is not an error.
  virtual absl::Status Delete(std::string_view key);
  // Applies every put and delete atomically and durably.
  virtual absl::Status Commit(const StorageBatch& batch) = 0;
  // Entries whose key starts with prefix and sorts strictly after start_after, in key order, at
  // most limit of them (0 = no limit).
  virtual absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                         std::string_view start_after,
                                                         size_t limit) = 0;
  // Makes deletions final on disk: no journal or log keeps the deleted values (SQLite: a
  // truncating WAL checkpoint; with secure_delete the freed pages are already zeroed).
  virtual absl::Status Compact() = 0;

  // True when other processes write to the same store (etcd), so caches need Watch.
  virtual bool Shared() const { return false; }
  // Reports changes under prefix to watcher until the backend is destroyed (watcher must outlive
  // it). A backend with one writer (SQLite, behind the data-dir lock) reports nothing: this
  // process already knows every change it makes.
  virtual absl::Status Watch(std::string_view /*prefix*/, StorageWatcher* /*watcher*/) {
    return absl::OkStatus();
  }
  // Campaigns for the leadership named `name` among the nodes sharing this store. A backend with
  // one writer makes this node the leader at once and for good.
  virtual std::unique_ptr<Leadership> Elect(std::string_view name);
};

// What a SQLite backend reports beyond its answers.
struct SqliteOptions {
  // A full file system (SQLITE_FULL, ENOSPC, EDQUOT): the Commit that meets it answers
  // kDependencyTimeout "storage full: ..." (HTTP 503, which clients retry) and this is called
  // with that status; every second the backend then writes and deletes a 1 MiB probe file beside
  // the database, and once one fits (or a Commit succeeds) it is called with OK. Called on the
  // thread that saw the change, in order, once per change; must be quick. Nothing is corrupted
  // meanwhile: a failed commit rolls back whole, and reads go on.
  std::function<void(const absl::Status&)> on_writable_change;
  int probe_interval_ms = 1000;
};

// SQLite in WAL mode with synchronous=FULL and secure_delete on, in file `path`.
absl::StatusOr<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path,
                                                           SqliteOptions options = {});
// In memory, for tests.
std::unique_ptr<Backend> NewMemoryBackend();

// Online backup of the SQLite database at `source` into `destination` (a new or empty file),
// through SQLite's backup API from a read-only connection of its own: safe while a server writes to
// source. Every page comes from one read transaction, so the copy holds each commit (WAL
// included) wholly or not at all, and the server's writers are never blocked (WAL readers do not
// block writers). The copy is a self-contained file: rollback-journal mode, nothing beside it;
// the server switches it back to WAL when it opens it. Gives up with kDependencyTimeout if the
// source stays locked (a WAL recovery, say) for longer than a few seconds.
absl::Status SnapshotSqliteDatabase(const std::string& source, const std::string& destination);

// SQLite's integrity check (PRAGMA integrity_check) of the database file at path, opened
// read-only: OK, or kKmsInternal with SQLite's first complaint. Also fails when the file is not a
// SQLite database or lacks kmsd's kv table.
absl::Status CheckSqliteIntegrity(const std::string& path);

}  // namespace kmsd
