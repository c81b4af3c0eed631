// The physical backend: an untrusted, ordered key-value store. Everything kmsd stores goes through
// the keystore barrier first, so a backend only ever sees sealed bytes. Implementations are safe
// for concurrent use from many threads. A write returns only once it is durable.
#pragma once

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

// One atomic batch of writes: all apply or none.
struct StorageBatch {
  std::vector<StorageEntry> puts;
  std::vector<std::string> deletes;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The value under key, or nullopt when absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual absl::Status Put(std::string_view key, std::string_view value) = 0;
  // Deleting an absent key is not an error.
  virtual absl::Status Delete(std::string_view key) = 0;
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
};

// SQLite in WAL mode with synchronous=FULL and secure_delete on, in file `path`.
absl::StatusOr<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path);
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
