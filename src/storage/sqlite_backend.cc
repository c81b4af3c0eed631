// The embedded SQLite backend: one table kv(key, value), WAL, synchronous=FULL (durable on
// commit), secure_delete (freed pages are zeroed). One writer connection and a small pool of
// reader connections, so reads run in parallel with each other and with a write. A full file
// system refuses writes with a 503 and is probed until space returns (SqliteOptions).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "storage/sqlite_status.h"

namespace kmsd {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kReaderConnections = 4;
// What the full-disk probe writes: room for a few commits and their WAL frames.
constexpr size_t kProbeBytes = 1 << 20;

struct Statement {
  sqlite3_stmt* statement = nullptr;
  ~Statement() { sqlite3_finalize(statement); }
};

// sqlite3_bind_* with a null pointer binds SQL NULL, which an empty std::string_view may carry.
void BindText(sqlite3_stmt* s, int index, std::string_view text) {
  sqlite3_bind_text(s, index, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                    SQLITE_STATIC);
}

void BindBlob(sqlite3_stmt* s, int index, std::string_view bytes) {
  if (bytes.empty()) {
    sqlite3_bind_zeroblob(s, index, 0);
  } else {
    sqlite3_bind_blob(s, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }
}

std::string ColumnBytes(sqlite3_stmt* s, int column) {
  const void* data = sqlite3_column_blob(s, column);
  auto size = static_cast<size_t>(sqlite3_column_bytes(s, column));
  return data ? std::string(static_cast<const char*>(data), size) : std::string();
}

class Connection {
 public:
  ~Connection() {
    for (Statement* statement :
         {&get_, &list_from_, &list_after_, &put_, &delete_, &writer_get_}) {
      sqlite3_finalize(statement->statement);
      statement->statement = nullptr;
    }
    sqlite3_close_v2(db_);
  }

  absl::Status Open(const std::string& path, bool writer) {
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      return Failure("cannot open database");
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    const char* setup = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "PRAGMA secure_delete=ON; "
                                 "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB "
                                 "NOT NULL) WITHOUT ROWID;"
                               : "PRAGMA secure_delete=ON;";
    if (auto status = Exec(setup); !status.ok()) return status;
    return Prepare(writer);
  }

  absl::Status Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Failure(sql);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) {
    return Get(key, get_.statement);
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key, sqlite3_stmt* s) {
    sqlite3_reset(s);
    BindText(s, 1, key);
    int rc = sqlite3_step(s);
    std::optional<std::string> value;
    if (rc == SQLITE_ROW) {
      value = ColumnBytes(s, 0);
      rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return Failure("read failed");
    return value;
  }

  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after, size_t limit) {
    // Start at whichever bound is later: strictly after start_after, or at the prefix itself.
    // A plain range on the primary key lets SQLite seek instead of scanning.
    bool after = start_after >= prefix && !start_after.empty();
    sqlite3_stmt* s = after ? list_after_.statement : list_from_.statement;
    sqlite3_reset(s);
    BindText(s, 1, after ? start_after : prefix);
    std::vector<StorageEntry> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::string key = ColumnBytes(s, 0);
      if (!key.starts_with(prefix)) {
        rc = SQLITE_DONE;
        break;
      }
      if (limit && out.size() == limit) {
        rc = SQLITE_DONE;
        break;
      }
      out.push_back({std::move(key), ColumnBytes(s, 1)});
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return Failure("list failed");
    return out;
  }

  absl::Status Commit(const StorageBatch& batch) {
    if (auto status = Exec("BEGIN IMMEDIATE"); !status.ok()) return status;
    absl::Status status = absl::OkStatus();
    // The writer connection reads inside its own IMMEDIATE transaction: no other write can come
    // between the check and the writes.
    for (const StorageCondition& condition : batch.conditions) {
      auto current = Get(condition.key, writer_get_.statement);
      if (!current.ok()) {
        status = current.status();
        break;
      }
      if (*current != condition.value) {
        status = StorageConflict(condition.key);
        break;
      }
    }
    for (const std::string& key : batch.deletes) {
      if (!status.ok()) break;
      if (!(status = Step(delete_.statement, key, {}, false)).ok()) break;
    }
    if (status.ok()) {
      for (const StorageEntry& entry : batch.puts) {
        if (!(status = Step(put_.statement, entry.key, entry.value, true)).ok()) break;
      }
    }
    if (status.ok()) status = Exec("COMMIT");
    // A failed COMMIT (busy, I/O) leaves the transaction open; close it so nothing half-applies
    // later and the connection stays usable.
    if (!status.ok() && !sqlite3_get_autocommit(db_)) Exec("ROLLBACK").IgnoreError();
    return status;
  }

  // Copies the WAL into the database and truncates it, so deleted values survive in neither.
  absl::Status Checkpoint() {
    int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    if (rc != SQLITE_OK) return Failure("checkpoint failed");
    return absl::OkStatus();
  }

 private:
  absl::Status Prepare(bool writer) {
    struct {
      Statement* target;
      const char* sql;
    } readers[] =
        {
            {&get_, "SELECT value FROM kv WHERE key = ?1"},
            // Keys compare as bytes (BINARY collation), the same order as std::string.
            {&list_from_, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key"},
            {&list_after_, "SELECT key, value FROM kv WHERE key > ?1 ORDER BY key"},
        },
      writers[] = {
          {&put_,
           "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET "
           "value = excluded.value"},
          {&delete_, "DELETE FROM kv WHERE key = ?1"},
          {&writer_get_, "SELECT value FROM kv WHERE key = ?1"},
      };
    auto prepare = [&](auto& statements) {
      for (auto& [target, sql] : statements) {
        if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &target->statement,
                               nullptr) != SQLITE_OK) {
          return false;
        }
      }
      return true;
    };
    if (!(writer ? prepare(writers) : prepare(readers))) return Failure("prepare failed");
    return absl::OkStatus();
  }

  absl::Status Step(sqlite3_stmt* s, std::string_view key, std::string_view value,
                    bool with_value) {
    sqlite3_reset(s);
    BindText(s, 1, key);
    if (with_value) BindBlob(s, 2, value);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return Failure("write failed");
    return absl::OkStatus();
  }

  absl::Status Failure(std::string_view what) const { return SqliteFailure(db_, what); }

  sqlite3* db_ = nullptr;
  Statement get_, list_from_, list_after_;  // readers
  Statement put_, delete_, writer_get_;     // the writer
};

// Writes and deletes `bytes` zero bytes in a file at path, synced: whether that much fits now.
bool SpaceFor(const std::string& path, size_t bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  static const char kZeros[64 << 10] = {};
  bool fits = true;
  for (size_t written = 0; fits && written < bytes;) {
    ssize_t n = write(fd, kZeros, std::min(sizeof kZeros, bytes - written));
    if (n <= 0) fits = false;
    else written += static_cast<size_t>(n);
  }
  if (fits && fdatasync(fd) != 0) fits = false;
  close(fd);
  unlink(path.c_str());
  return fits;
}

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(SqliteOptions options) : options_(std::move(options)) {}

  ~SqliteBackend() override {
    {
      std::lock_guard lock(state_mutex_);
      stopping_ = true;
    }
    state_changed_.notify_all();
    if (probe_thread_.joinable()) probe_thread_.join();
  }

  absl::Status Open(const std::string& path) {
    // Create the file 0600 before SQLite does, so it never exists with wider permissions.
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Internal(StrCat("cannot create ", path));
    close(fd);
    if (auto status = writer_.Open(path, /*writer=*/true); !status.ok()) return status;
    for (int i = 0; i < kReaderConnections; ++i) {
      auto reader = std::make_unique<Connection>();
      if (auto status = reader->Open(path, /*writer=*/false); !status.ok()) return status;
      idle_readers_.push_back(std::move(reader));
    }
    probe_path_ = path + ".space-probe";
    unlink(probe_path_.c_str());  // left by a crash mid-probe
    if (options_.on_writable_change) probe_thread_ = std::thread([this] { ProbeWhileFull(); });
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    Reader reader(*this);
    return reader->Get(key);
  }

  absl::Status Commit(const StorageBatch& batch) override {
    std::lock_guard lock(writer_mutex_);
    absl::Status status = writer_.Commit(batch);
    if (IsStorageFull(status)) {
      SetFull(status);
    } else if (status.ok()) {
      SetFull(absl::OkStatus());
    }
    return status;
  }

  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    Reader reader(*this);
    return reader->List(prefix, start_after, limit);
  }

  absl::Status Compact() override {
    std::lock_guard lock(writer_mutex_);
    return writer_.Checkpoint();
  }

 private:
  // Records whether the file system is full (failure) or has room (OK); tells the owner of each
  // change. The probe thread wakes when it fills.
  void SetFull(const absl::Status& failure) {
    if (!options_.on_writable_change) return;
    std::lock_guard lock(state_mutex_);
    if (full_ == !failure.ok()) return;
    full_ = !failure.ok();
    options_.on_writable_change(failure);
    state_changed_.notify_all();
  }

  // While full, tries every probe interval whether 1 MiB fits beside the database.
  void ProbeWhileFull() {
    std::unique_lock lock(state_mutex_);
    while (!stopping_) {
      if (!full_) {
        state_changed_.wait(lock, [this] { return stopping_ || full_; });
        continue;
      }
      if (state_changed_.wait_for(lock, std::chrono::milliseconds(options_.probe_interval_ms),
                                  [this] { return stopping_ || !full_; })) {
        continue;
      }
      lock.unlock();
      bool fits = SpaceFor(probe_path_, kProbeBytes);
      lock.lock();
      if (fits && full_ && !stopping_) {
        full_ = false;
        options_.on_writable_change(absl::OkStatus());
      }
    }
  }

  // Borrows a reader connection for one call.
  class Reader {
   public:
    explicit Reader(SqliteBackend& backend) : backend_(backend) {
      std::unique_lock lock(backend_.readers_mutex_);
      backend_.reader_available_.wait(lock, [&] { return !backend_.idle_readers_.empty(); });
      connection_ = std::move(backend_.idle_readers_.back());
      backend_.idle_readers_.pop_back();
    }
    ~Reader() {
      {
        std::lock_guard lock(backend_.readers_mutex_);
        backend_.idle_readers_.push_back(std::move(connection_));
      }
      backend_.reader_available_.notify_one();
    }
    Connection* operator->() { return connection_.get(); }

   private:
    SqliteBackend& backend_;
    std::unique_ptr<Connection> connection_;
  };

  std::mutex writer_mutex_;
  Connection writer_;  // GUARDED_BY(writer_mutex_)
  std::mutex readers_mutex_;
  std::condition_variable reader_available_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // GUARDED_BY(readers_mutex_)

  const SqliteOptions options_;
  std::string probe_path_;
  std::mutex state_mutex_;
  std::condition_variable state_changed_;
  bool full_ = false;      // GUARDED_BY(state_mutex_)
  bool stopping_ = false;  // GUARDED_BY(state_mutex_)
  std::thread probe_thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenSqliteBackend(const std::string& path,
                                                           SqliteOptions options) {
  auto backend = std::make_unique<SqliteBackend>(std::move(options));
  if (auto status = backend->Open(path); !status.ok()) return status;
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace kmsd
