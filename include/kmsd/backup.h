// Online backup and restore of a kmsd data dir (`kmsd backup`, `kmsd restore`).
//
// A backup is one file of our own format (docs/OPERATIONS.md, "Backup file format"):
//
//   offset   size  field
//   0        8     magic "KMSDBKUP"
//   8        4     format version, big-endian (1)
//   12       4     manifest length M, big-endian (at most 1 MiB)
//   16       M     manifest: a JSON object (format version, kmsd version, time, source host and
//                  data dir, and the files: name, size, hex SHA-256, in the order they follow)
//   16+M     ...   the files' contents, back to back, in manifest order
//   end-32   32    SHA-256 of every byte before it
//
// It holds a consistent snapshot of kmsd.db (SQLite's online backup, taken beside a running
// server; the root credentials are a sealed record in it), the audit signing key, and, when
// present, seal.json and an older kmsd's plaintext root-credentials (sealed by the next start):
// everything a restore needs except the root key (root.key), which is kept apart so that the
// backup alone opens nothing, and the audit trail, which is append-only and backed up as files.
//
// The functions are safe to call from any thread; CreateBackup may run while a server uses the
// data dir (it only reads it), Restore only into a dir that no server uses (it refuses any dir
// holding more than a root.key).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::backup {

inline constexpr uint32_t kFormatVersion = 1;

// The files of a data dir that a backup knows (src/cmd/kmsd_main.cc and src/audit name them).
inline constexpr char kDatabaseFile[] = "kmsd.db";
inline constexpr char kRootKeyFile[] = "root.key";
inline constexpr char kCredentialsFile[] = "root-credentials";
inline constexpr char kAuditSigningKeyFile[] = "audit-signing-key.pem";

struct FileEntry {
  std::string name;
  uint64_t size = 0;
  std::string sha256_hex;
};

struct Manifest {
  uint32_t format_version = kFormatVersion;
  std::string kmsd_version;
  std::string created_at;  // RFC 3339, UTC
  std::string source_host;
  std::string source_data_dir;
  std::vector<FileEntry> files;  // filled by EncodeArchive
};

// A file's contents may be secret (root-credentials, the signing key): SecretBytes wipes them.
struct ArchiveFile {
  std::string name;
  SecretBytes content;
};

struct Archive {
  Manifest manifest;
  std::vector<ArchiveFile> files;
};

// The backup file's bytes: manifest (its `files` replaced by those given, sizes and digests
// computed here), then the files, then the trailing digest. File names are plain names (no '/'),
// unique; anything else is a kValidation error.
absl::StatusOr<SecretBytes> EncodeArchive(Manifest manifest, const std::vector<ArchiveFile>& files);

// Parses and verifies a backup file: magic, format version, manifest, that the sizes add up to
// the file's length (truncated or padded files are refused), every file's SHA-256 and the
// trailing digest. Any failure is kValidation naming what is wrong; nothing is returned unless
// all of it holds.
absl::StatusOr<Archive> DecodeArchive(std::string_view bytes);

struct BackupOptions {
  std::string data_dir;
  std::string out;  // the backup file; replaced atomically if it exists
  std::string kmsd_version;
};

// Writes a backup of data_dir to out: temp file beside it (mode 0600), fsync, rename, fsync of
// the directory. Needs kmsd.db in data_dir; reads nothing else but the other files named above,
// and writes nothing in data_dir. Returns the manifest written.
absl::StatusOr<Manifest> CreateBackup(const BackupOptions& options);

struct RestoreOptions {
  std::string in;
  std::string data_dir;
};

struct RestoreReport {
  Manifest manifest;
  bool root_key_checked = false;  // root.key was in data_dir and opened the keystore
  size_t records_unsealed = 0;    // keystore records read back under it
};

// Restores the backup file `in` into data_dir, which must be missing, empty, or hold only
// root.key (put there first so that the restore can check it). Verifies the whole file before
// writing anything; writes into a staging dir inside data_dir (files 0600, dirs 0700), runs
// SQLite's integrity check and, when root.key is there, opens the keystore with it and unseals
// every record; only then moves the files into place. On failure data_dir is left as it was.
absl::StatusOr<RestoreReport> Restore(const RestoreOptions& options);

}  // namespace kmsd::backup
