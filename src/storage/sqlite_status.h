// SQLite result codes as kmsd statuses, for the storage layer's connections.
#pragma once

#include <sqlite3.h>

#include <string_view>

#include "absl/status/status.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {

// The connection's last error, with what failed: kDependencyTimeout when the database is busy or
// locked (the client may retry), kKmsInternal otherwise. db may be null (it did not open).
inline absl::Status SqliteFailure(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_CANTOPEN;
  std::string message = StrCat("sqlite: ", what, ": ", db ? sqlite3_errmsg(db) : "");
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return Error(ErrorType::kDependencyTimeout, message);
  }
  return Internal(message);
}

}  // namespace kmsd
