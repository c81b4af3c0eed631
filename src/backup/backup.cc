// `kmsd backup` and `kmsd restore`: the data dir's files in and out of a backup file, with the
// checks that make a restore safe (whole file verified first, staging, integrity, root key).
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include "kmsd/backup.h"
#include "kmsd/errors.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::backup {
namespace {

namespace fs = std::filesystem;

// Files a backup may hold, in the order it holds them; kmsd.db is required.
// seal.json names the seal (pkcs11, shares) that opens the database; without it a restored dir
// would look file-sealed. It holds no secret (include/kmsd/seal_config.h).
constexpr const char* kBackedUpFiles[] = {kDatabaseFile, kCredentialsFile, kAuditSigningKeyFile,
                                          kSealConfigFile};
// The keyring record (include/kmsd/keystore.h): present in every database a server has opened.
constexpr char kKeyringRecord[] = "core/keyring";

absl::Status SystemError(std::string_view what, const std::string& path) {
  return Internal(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Removes a path (file or tree) when it goes out of scope, unless released.
class Cleanup {
 public:
  explicit Cleanup(std::string path) : path_(std::move(path)) {}
  ~Cleanup() {
    if (path_.empty()) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

// The whole file, or nullopt when it does not exist.
absl::StatusOr<std::optional<SecretBytes>> ReadFileIfPresent(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return SystemError("cannot open", path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Internal(StrCat(path, " is not a regular file"));
  }
  SecretBytes content(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = read(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return Internal(StrCat("cannot read ", path, n == 0 ? ": it shrank while being read" : ""));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return std::optional<SecretBytes>(std::move(content));
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SystemError("cannot write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError("cannot open directory", dir);
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return SystemError("cannot fsync directory", dir);
  return absl::OkStatus();
}

// A new file, mode 0600, written and fsynced.
absl::Status WriteNewFile(const std::string& path, std::string_view bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return SystemError("cannot create", path);
  absl::Status status = WriteAll(fd, bytes, path);
  if (status.ok() && fsync(fd) != 0) status = SystemError("cannot fsync", path);
  close(fd);
  return status;
}

// Replaces path with bytes atomically: a reader sees the old file or the whole new one, and after
// a crash one of them is there, never a part.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  fs::path parent = fs::path(path).parent_path();
  std::string dir = parent.empty() ? std::string(".") : parent.string();
  std::string temp_template = StrCat(path, ".tmp-XXXXXX");
  int fd = mkstemp(temp_template.data());  // mode 0600
  if (fd < 0) return SystemError("cannot create a temporary file beside", path);
  Cleanup remove_temp(temp_template);
  absl::Status status = WriteAll(fd, bytes, temp_template);
  if (status.ok() && fchmod(fd, 0600) != 0) status = SystemError("cannot chmod", temp_template);
  if (status.ok() && fsync(fd) != 0) status = SystemError("cannot fsync", temp_template);
  close(fd);
  if (!status.ok()) return status;
  if (rename(temp_template.c_str(), path.c_str()) != 0) return SystemError("cannot rename to", path);
  remove_temp.Release();
  return SyncDirectory(dir);
}

std::string NowRfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// What a data dir holds that a restore must not overwrite: every entry but a root.key file.
absl::StatusOr<std::vector<std::string>> Occupants(const std::string& data_dir) {
  std::vector<std::string> occupants;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(data_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name == kRootKeyFile && entry.is_regular_file()) continue;
    occupants.push_back(name);
  }
  if (ec) return Internal(StrCat("cannot list ", data_dir, ": ", ec.message()));
  std::sort(occupants.begin(), occupants.end());
  return occupants;
}

absl::Status CheckRestorable(const Archive& archive) {
  bool has_database = false;
  for (const ArchiveFile& file : archive.files) {
    bool known = false;
    for (const char* name : kBackedUpFiles) known = known || file.name == name;
    if (!known) {
      return Validation(StrCat("the backup holds ", file.name,
                               ", which this kmsd does not know; restore it with the kmsd "
                               "version that made it (",
                               archive.manifest.kmsd_version, ") or newer"));
    }
    has_database = has_database || file.name == kDatabaseFile;
  }
  if (!has_database) return Validation("the backup holds no kmsd.db");
  return absl::OkStatus();
}

// Opens the staged database's keystore with the root key and unseals every record; returns how
// many. The backend is closed before returning (so its -wal and -shm are gone).
absl::StatusOr<size_t> CheckRootKey(const std::string& database, const std::string& root_key) {
  auto seal = OpenFileSeal(root_key);
  if (!seal.ok()) {
    return Validation(StrCat("root key ", root_key, ": ", ToStd(seal.status().message())));
  }
  auto backend = OpenSqliteBackend(database);
  if (!backend.ok()) return backend.status();
  // OpenKeystore would make a new keyring in a database without one; a restore writes nothing.
  auto keyring = (*backend)->Get(kKeyringRecord);
  if (!keyring.ok()) return keyring.status();
  if (!keyring->has_value()) {
    return Validation("the backup's database has no keyring record: it is not a kmsd data dir's");
  }
  auto keystore = OpenKeystore(backend->get(), seal->get());
  if (!keystore.ok()) {
    return Validation(StrCat(root_key,
                             " is not the root key this backup was made under: it cannot unwrap "
                             "the keyring (",
                             ToStd(keystore.status().message()),
                             "). Put the data dir's own root.key there, or restore without one "
                             "and copy it in before starting kmsd"));
  }
  auto records = (*keystore)->List("", "", 0);
  if (!records.ok()) {
    return Internal(StrCat("the keyring opened but a record does not unseal: ",
                           ToStd(records.status().message())));
  }
  return records->size();
}

}  // namespace

absl::StatusOr<Manifest> CreateBackup(const BackupOptions& options) {
  std::error_code ec;
  fs::path data_dir = fs::absolute(options.data_dir, ec);
  if (ec) return Validation(StrCat("bad --data-dir ", options.data_dir));
  std::string database = (data_dir / kDatabaseFile).string();
  if (!fs::is_regular_file(database, ec)) {
    return Validation(StrCat("no ", kDatabaseFile, " in ", data_dir.string(),
                             ": is it kmsd's data dir?"));
  }
  if (options.out.empty()) return Validation("give the backup file with --out");
  fs::path out = fs::absolute(options.out, ec);
  if (ec || !fs::is_directory(out.parent_path(), ec)) {
    return Validation(StrCat("the directory of --out ", options.out, " does not exist"));
  }

  // The snapshot goes beside the output (same file system, private name, 0600) and is removed
  // once read. Its records are all sealed, as in kmsd.db.
  std::string snapshot = StrCat(out.string(), ".db-XXXXXX");
  int fd = mkstemp(snapshot.data());
  if (fd < 0) return SystemError("cannot create a temporary file beside", out.string());
  close(fd);
  Cleanup remove_snapshot(snapshot);
  Cleanup remove_snapshot_journal(StrCat(snapshot, "-journal"));
  if (auto status = SnapshotSqliteDatabase(database, snapshot); !status.ok()) return status;
  if (auto status = CheckSqliteIntegrity(snapshot); !status.ok()) return status;

  std::vector<ArchiveFile> files;
  auto snapshot_bytes = ReadFileIfPresent(snapshot);
  if (!snapshot_bytes.ok()) return snapshot_bytes.status();
  if (!snapshot_bytes->has_value()) return Internal("the database snapshot vanished");
  files.push_back({kDatabaseFile, std::move(**snapshot_bytes)});
  for (const char* name : kBackedUpFiles) {
    if (std::string_view(name) == kDatabaseFile) continue;
    auto content = ReadFileIfPresent((data_dir / name).string());
    if (!content.ok()) return content.status();
    if (content->has_value()) files.push_back({name, std::move(**content)});
  }

  Manifest manifest;
  manifest.kmsd_version = options.kmsd_version;
  manifest.created_at = NowRfc3339();
  manifest.source_host = HostName();
  manifest.source_data_dir = data_dir.lexically_normal().string();
  auto encoded = EncodeArchive(manifest, files);
  if (!encoded.ok()) return encoded.status();
  if (auto status = WriteFileAtomically(out.string(), encoded->view()); !status.ok()) {
    return status;
  }
  // The manifest as written (with the file list), read back from what was encoded.
  auto written = DecodeArchive(encoded->view());
  if (!written.ok()) return written.status();
  return std::move(written->manifest);
}

absl::StatusOr<RestoreReport> Restore(const RestoreOptions& options) {
  if (options.in.empty()) return Validation("give the backup file with --in");
  if (options.data_dir.empty()) return Validation("give the data dir to restore into with --data-dir");
  // 1. The whole backup file, verified, before anything is written.
  auto bytes = ReadFileIfPresent(options.in);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return Validation(StrCat("no backup file at ", options.in));
  auto archive = DecodeArchive((*bytes)->view());
  if (!archive.ok()) return archive.status();
  if (auto status = CheckRestorable(*archive); !status.ok()) return status;

  // 2. The data dir: missing, empty, or only a root.key.
  std::error_code ec;
  fs::path data_dir = fs::absolute(options.data_dir, ec);
  bool created = false;
  if (fs::exists(data_dir, ec)) {
    if (!fs::is_directory(data_dir, ec)) {
      return Validation(StrCat(data_dir.string(), " exists and is not a directory"));
    }
    auto occupants = Occupants(data_dir.string());
    if (!occupants.ok()) return occupants.status();
    if (!occupants->empty()) {
      return Validation(StrCat(
          "refusing to restore into ", data_dir.string(), ": it is not empty (it holds ",
          StrJoin(*occupants, ", "),
          "). Restore into a new or empty data dir (one holding only root.key is allowed); a "
          "data dir in use is never overwritten"));
    }
  } else {
    fs::create_directories(data_dir, ec);
    if (ec) return Internal(StrCat("cannot create ", data_dir.string(), ": ", ec.message()));
    created = true;
  }
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Internal(StrCat("cannot chmod 0700 ", data_dir.string(), ": ", ec.message()));
  Cleanup remove_created_dir(created ? data_dir.string() : "");

  // 3. Staged inside the data dir (same file system, so the moves below are renames).
  std::string staging = (data_dir / ".restore-XXXXXX").string();
  if (!mkdtemp(staging.data())) return SystemError("cannot create a staging dir in", data_dir.string());
  Cleanup remove_staging(staging);
  for (const ArchiveFile& file : archive->files) {
    if (auto status = WriteNewFile(StrCat(staging, "/", file.name), file.content.view());
        !status.ok()) {
      return status;
    }
  }
  std::string staged_database = StrCat(staging, "/", kDatabaseFile);
  if (auto status = CheckSqliteIntegrity(staged_database); !status.ok()) return status;

  RestoreReport report;
  std::string root_key = (data_dir / kRootKeyFile).string();
  if (fs::is_regular_file(root_key, ec)) {
    auto records = CheckRootKey(staged_database, root_key);
    if (!records.ok()) return records.status();
    report.root_key_checked = true;
    report.records_unsealed = *records;
  }

  // 4. Into place. Nothing else may have appeared meanwhile (a server started on the dir, say).
  auto occupants = Occupants(data_dir.string());
  if (!occupants.ok()) return occupants.status();
  if (occupants->size() != 1) {
    return Validation(StrCat("something else wrote into ", data_dir.string(),
                             " during the restore; nothing was restored"));
  }
  // Every file the staging dir holds: the backed-up files (and a -wal, should the root-key
  // check's connection have left one).
  for (const fs::directory_entry& entry : fs::directory_iterator(staging, ec)) {
    fs::path target = data_dir / entry.path().filename();
    if (rename(entry.path().c_str(), target.c_str()) != 0) {
      return SystemError("cannot move into place", target.string());
    }
  }
  if (ec) return Internal(StrCat("cannot list ", staging, ": ", ec.message()));
  if (rmdir(staging.c_str()) != 0) return SystemError("cannot remove", staging);
  remove_staging.Release();
  if (auto status = SyncDirectory(data_dir.string()); !status.ok()) return status;
  remove_created_dir.Release();
  report.manifest = std::move(archive->manifest);
  return report;
}

}  // namespace kmsd::backup
