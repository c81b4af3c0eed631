// The backup subcommands: flags in, calls into kmsd::backup, report and next steps out.
#include "cmd/backup_commands.h"

#include <cstdio>
#include <iostream>

#include "cmd/storage_flags.h"
#include "kmsd/backup.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "kmsd/version.h"

namespace kmsd::cmd {
namespace {

struct BackupFlags {
  std::string data_dir;
  std::string file;  // --out of backup, --in of restore
};

struct Subcommands {
  CLI::App* backup = nullptr;
  CLI::App* restore = nullptr;
  BackupFlags backup_flags;
  BackupFlags restore_flags;
};

Subcommands& Commands() {
  static auto* const commands = new Subcommands();
  return *commands;
}

int Fail(std::string_view command, const absl::Status& status) {
  std::cerr << "kmsd " << command << ": " << ToStd(status.message()) << "\n";
  return 1;
}

void PrintFiles(const backup::Manifest& manifest) {
  for (const backup::FileEntry& file : manifest.files) {
    std::printf("  %-22s %12llu bytes  sha256 %s\n", file.name.c_str(),
                static_cast<unsigned long long>(file.size), file.sha256_hex.c_str());
  }
}

int Backup() {
  const BackupFlags& flags = Commands().backup_flags;
  if (IsEtcdDataDir(flags.data_dir)) {  // docs/HA.md, "Backup and restore"
    return Fail("backup",
                Validation(StrCat(flags.data_dir,
                                  " is a node of an etcd cluster: its keys are in etcd, not in "
                                  "this data dir. Back up with `etcdctl snapshot save FILE` "
                                  "against one member, and keep root.key apart (docs/HA.md)")));
  }
  auto manifest = backup::CreateBackup({flags.data_dir, flags.file, kVersion});
  if (!manifest.ok()) return Fail("backup", manifest.status());
  std::printf("kmsd backup: wrote %s (format %u, kmsd %s, %s, from %s:%s)\n", flags.file.c_str(),
              manifest->format_version, manifest->kmsd_version.c_str(),
              manifest->created_at.c_str(), manifest->source_host.c_str(),
              manifest->source_data_dir.c_str());
  PrintFiles(*manifest);
  bool has_credentials = false;
  for (const backup::FileEntry& file : manifest->files) {
    has_credentials = has_credentials || file.name == backup::kCredentialsFile;
  }
  if (has_credentials) {
    std::printf(
        "  (%s is a plaintext copy of the root credentials, left by an older kmsd: this\n"
        "   backup holds it in the clear. Start the server once to seal it into the keystore,\n"
        "   which removes the file, then back up again and delete this backup.)\n",
        backup::kCredentialsFile);
  }
  std::printf(
      "\nNot in the backup:\n"
      "  %s   the root key. Without it this backup opens nothing; keep a copy of it apart from\n"
      "             the backups (another medium or place, or a safe), and never beside them.\n"
      "  audit/     the audit trail: append-only files, back them up as files\n"
      "             (docs/OPERATIONS.md, \"Backup and restore\").\n"
      "Root credentials kmsd made are in the database, sealed like every record (those given\n"
      "in KMSD_ROOT_ACCESS_KEY_ID/KMSD_ROOT_SECRET_ACCESS_KEY are nowhere in the data dir). The\n"
      "backup holds the audit signing key in the clear: keep it as private as the data dir\n"
      "(it is mode 0600).\n",
      backup::kRootKeyFile);
  return 0;
}

int Restore() {
  const BackupFlags& flags = Commands().restore_flags;
  auto report = backup::Restore({flags.file, flags.data_dir});
  if (!report.ok()) return Fail("restore", report.status());
  const backup::Manifest& manifest = report->manifest;
  std::printf("kmsd restore: restored %s (made %s by kmsd %s from %s:%s) into %s\n",
              flags.file.c_str(), manifest.created_at.c_str(), manifest.kmsd_version.c_str(),
              manifest.source_host.c_str(), manifest.source_data_dir.c_str(),
              flags.data_dir.c_str());
  PrintFiles(manifest);
  std::printf("Every checksum verified; SQLite integrity check: ok.\n");
  if (report->root_key_checked) {
    std::printf("root.key: checked, it opens the keystore (%zu records unsealed).\n",
                report->records_unsealed);
  }
  std::printf("\nNext:\n");
  int step = 1;
  if (!report->root_key_checked) {
    std::printf(
        "  %d. Copy the root key of the data dir this backup was made from (not in the backup):\n"
        "       install -m 0600 /path/to/root.key %s/root.key\n"
        "     (without it kmsd would create a new root key, which cannot open this database, and\n"
        "     refuse to start; restore into a dir holding only root.key to have it checked now).\n",
        step++, flags.data_dir.c_str());
  }
  std::printf("  %d. If you keep the audit trail, copy it to %s/audit/ (docs/OPERATIONS.md).\n",
              step++, flags.data_dir.c_str());
  std::printf("  %d. Start kmsd: kmsd serve --data-dir %s ...\n", step++, flags.data_dir.c_str());
  return 0;
}

}  // namespace

void AddBackupCommands(CLI::App& app) {
  Subcommands& commands = Commands();
  commands.backup = app.add_subcommand(
      "backup",
      "Back up a data dir into one file, consistently, while the server runs (SQLite online "
      "backup): the database (the root credentials sealed in it) and the audit signing key; not "
      "root.key, not audit/");
  commands.backup->add_option("--data-dir", commands.backup_flags.data_dir, "kmsd's data dir")
      ->required();
  commands.backup->add_option("--out", commands.backup_flags.file,
                              "The backup file to write (mode 0600; replaced atomically)")
      ->required();

  commands.restore = app.add_subcommand(
      "restore",
      "Restore a backup file into a new data dir (missing, empty, or holding only root.key, which "
      "is then checked against the backup)");
  commands.restore->add_option("--in", commands.restore_flags.file, "The backup file")
      ->required();
  commands.restore->add_option("--data-dir", commands.restore_flags.data_dir,
                               "The data dir to create")
      ->required();
}

bool BackupCommandParsed() {
  const Subcommands& commands = Commands();
  return (commands.backup && commands.backup->parsed()) ||
         (commands.restore && commands.restore->parsed());
}

int RunBackupCommands() {
  if (Commands().backup->parsed()) return Backup();
  return Restore();
}

}  // namespace kmsd::cmd
