// Online backup and integrity check of the SQLite database, for `kmsd backup` and `kmsd restore`.
// Both open connections of their own, so they work beside a running server (or without one).
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "storage/sqlite_status.h"

namespace kmsd {
namespace {

constexpr int kBusyTimeoutMs = 5000;
// The backup step retries this long when the source is locked beyond the busy timeout.
constexpr auto kSnapshotDeadline = std::chrono::seconds(30);

// Owns one connection; closed on every path.
class Database {
 public:
  ~Database() { sqlite3_close_v2(db_); }

  absl::Status Open(const std::string& path, int flags) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      return Failure(StrCat("cannot open ", path));
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    return absl::OkStatus();
  }

  absl::Status Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Failure(sql);
    return absl::OkStatus();
  }

  absl::Status Failure(std::string_view what) const { return SqliteFailure(db_, what); }

  // The first column of the first row, as text.
  absl::StatusOr<std::string> QueryText(const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) return Failure(sql);
    int rc = sqlite3_step(statement);
    std::string text;
    if (rc == SQLITE_ROW && sqlite3_column_text(statement, 0)) {
      text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    sqlite3_finalize(statement);
    if (rc != SQLITE_ROW) return Failure(sql);
    return text;
  }

  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

absl::Status SnapshotSqliteDatabase(const std::string& source, const std::string& destination) {
  Database from;
  // Read-only: the backup never writes the server's files. SQLite still maps the -shm, which a
  // running server keeps; with no server, it opens the WAL index read-only or rebuilds it in heap.
  if (auto status = from.Open(source, SQLITE_OPEN_READONLY); !status.ok()) return status;
  Database to;
  if (auto status = to.Open(destination, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      !status.ok()) {
    return status;
  }
  sqlite3_backup* backup = sqlite3_backup_init(to.get(), "main", from.get(), "main");
  if (!backup) return to.Failure("cannot start the backup");
  // One step of every page (-1): the source's read transaction spans the whole copy, so no
  // commit that lands meanwhile can make it restart or tear it.
  int rc;
  auto deadline = std::chrono::steady_clock::now() + kSnapshotDeadline;
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // finish releases the source's read transaction; its result repeats step's error, if any.
  int finished = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE || finished != SQLITE_OK) {
    std::string message = StrCat("sqlite: the backup of ", source, " failed: ", sqlite3_errstr(rc));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      return Error(ErrorType::kDependencyTimeout, message);
    }
    return Internal(message);
  }
  // The copy's header says WAL (it is the source's page 1); make it one self-contained file.
  if (auto status = to.Exec("PRAGMA journal_mode=DELETE"); !status.ok()) return status;
  return absl::OkStatus();
}

absl::Status CheckSqliteIntegrity(const std::string& path) {
  Database db;
  if (auto status = db.Open(path, SQLITE_OPEN_READONLY); !status.ok()) return status;
  // quick_check would skip the index-versus-table comparison; a restore can afford the full one.
  auto verdict = db.QueryText("PRAGMA integrity_check");
  if (!verdict.ok()) return verdict.status();
  if (*verdict != "ok") {
    return Internal(StrCat("sqlite: ", path, " fails the integrity check: ", *verdict));
  }
  auto tables = db.QueryText("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'kv'");
  if (!tables.ok()) return tables.status();
  if (*tables != "1") {
    return Internal(StrCat(path, " is a SQLite database but not kmsd's (no kv table)"));
  }
  return absl::OkStatus();
}

}  // namespace kmsd
