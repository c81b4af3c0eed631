// SQLite result codes as kmsd statuses, for the storage layer's connections.
#pragma once

#include <errno.h>
#include <sqlite3.h>

#include <string_view>

#include "absl/status/status.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {

// The message that starts every full-disk failure (IsStorageFull recognizes it). It reaches
// clients as written (DependencyTimeoutException), so it names no path.
inline constexpr std::string_view kStorageFullPrefix =
    "storage full: the data dir's file system has no space; kmsd refuses changes until space is "
    "freed";

// True when the connection's last error means the file system (or the user's quota) is full:
// SQLITE_FULL, or an I/O error whose system errno is ENOSPC or EDQUOT (a failed fsync, say).
inline bool IsSqliteDiskFull(sqlite3* db) {
  if (!db) return false;
  int code = sqlite3_errcode(db);
  if (code == SQLITE_FULL) return true;
  int system_errno = sqlite3_system_errno(db);
  return code == SQLITE_IOERR && (system_errno == ENOSPC || system_errno == EDQUOT);
}

// The connection's last error, with what failed: kDependencyTimeout (HTTP 503, which clients
// retry) when the database is busy or locked or its file system is full, kKmsInternal otherwise.
// db may be null (it did not open).
inline absl::Status SqliteFailure(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_CANTOPEN;
  std::string message = StrCat("sqlite: ", what, ": ", db ? sqlite3_errmsg(db) : "");
  if (IsSqliteDiskFull(db)) {
    return Error(ErrorType::kDependencyTimeout, StrCat(kStorageFullPrefix, " (", message, ")"));
  }
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return Error(ErrorType::kDependencyTimeout, message);
  }
  return Internal(message);
}

// True for the status SqliteFailure answers on a full file system.
inline bool IsStorageFull(const absl::Status& status) {
  return TypeOf(status) == ErrorType::kDependencyTimeout &&
         ToStd(status.message()).starts_with(kStorageFullPrefix);
}

}  // namespace kmsd
