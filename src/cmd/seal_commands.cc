// `kmsd seal migrate`: flags in, the keyring key rewrapped under the new seal, next steps out.
#include "cmd/seal_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include "cmd/data_dir_lock.h"
#include "cmd/shares_commands.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"
#include "kmsd/shares_seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

struct MigrateFlags {
  std::string data_dir;
  std::string to;
  int shares = 0;
  int threshold = 0;
};

struct Subcommands {
  CLI::App* seal = nullptr;
  CLI::App* migrate = nullptr;
  MigrateFlags migrate_flags;
};

Subcommands& Commands() {
  static auto* const commands = new Subcommands();
  return *commands;
}

int Fail(std::string_view message) {
  std::cerr << "kmsd seal migrate: " << message << "\n";
  return 1;
}

// file -> shares. Order, for a crash at any point: the shares are shown first (the new root key
// must never exist only in memory when the keyring depends on it); then seal.json, then the
// keyring rewrapped, then root.key moved aside. Until the keyring is rewritten, deleting
// seal.json gives back the file-seal dir as it was (docs/SEAL.md).
int MigrateFileToShares(const MigrateFlags& flags) {
  auto lock = DataDirLock::Acquire(flags.data_dir);
  if (!lock.ok()) return Fail(StrCat(lock.status().message(), " (stop kmsd first)"));
  auto config = ReadSealConfig(flags.data_dir);
  if (!config.ok()) return Fail(ToStd(config.status().message()));
  if (config->type != "file") {
    return Fail(StrCat(flags.data_dir, " is sealed by the ", config->type,
                       " seal; only the file seal migrates to shares here"));
  }
  std::string root_key_path = StrCat(flags.data_dir, "/root.key");
  std::string database_path = StrCat(flags.data_dir, "/kmsd.db");
  struct stat st;
  if (stat(root_key_path.c_str(), &st) != 0 || stat(database_path.c_str(), &st) != 0) {
    return Fail(StrCat(flags.data_dir, " has no root.key or no kmsd.db: nothing to migrate"));
  }
  auto file_seal = OpenFileSeal(root_key_path);
  if (!file_seal.ok()) return Fail(ToStd(file_seal.status().message()));
  auto backend = OpenSqliteBackend(database_path);
  if (!backend.ok()) return Fail(ToStd(backend.status().message()));
  absl::Status opens = CheckKeyringUnwraps(backend->get(), file_seal->get());
  if (!opens.ok()) return Fail(StrCat("root.key does not open this data dir: ", opens.message()));

  auto generated = GenerateShares(flags.shares, flags.threshold);
  if (!generated.ok()) return Fail(ToStd(generated.status().message()));
  std::unique_ptr<Seal> shares_seal = NewRootKeySeal("shares", std::move(generated->root_key));

  std::printf("kmsd seal migrate: moving %s from the file seal to %d shares (threshold %d).\n",
              flags.data_dir.c_str(), flags.shares, flags.threshold);
  std::vector<std::string_view> shares;
  for (const SecretBytes& text : generated->texts) shares.push_back(text.view());
  PrintShares(shares, flags.threshold, flags.data_dir);

  absl::Status written = WriteSealConfig(flags.data_dir, SharesSealConfig(generated->parameters));
  if (!written.ok()) {
    return Fail(StrCat(written.message(), ". Nothing changed: the shares above are void."));
  }
  absl::Status rewrapped = RewrapKeyring(backend->get(), file_seal->get(), shares_seal.get());
  if (!rewrapped.ok()) {
    std::string seal_json = StrCat(flags.data_dir, "/", kSealConfigFile);
    unlink(seal_json.c_str());
    return Fail(StrCat(rewrapped.message(),
                       ". The data dir stays under the file seal; the shares above are void."));
  }
  std::string aside = StrCat(root_key_path, ".replaced-by-shares-", std::time(nullptr));
  if (rename(root_key_path.c_str(), aside.c_str()) != 0) {
    return Fail(StrCat("the data dir is now sealed by the shares above, but root.key could not "
                       "be moved aside: destroy it yourself (shred -u ",
                       root_key_path, ")"));
  }
  std::printf(
      "\nDone: the keyring key is wrapped by the new root key; no record was re-encrypted.\n"
      "The old root key is now %s.\n"
      "It no longer opens this data dir, but it opens every backup made before now: destroy it\n"
      "(shred -u %s) once you hold the shares, and treat old backups as protected by it.\n",
      aside.c_str(), aside.c_str());
  return 0;
}

}  // namespace

void AddSealCommands(CLI::App& app) {
  Subcommands& commands = Commands();
  commands.seal = app.add_subcommand("seal", "Seal administration (docs/SEAL.md)");
  commands.seal->require_subcommand(1);
  commands.migrate = commands.seal->add_subcommand(
      "migrate",
      "Move a stopped data dir to another seal without re-encrypting records (file -> shares)");
  MigrateFlags& flags = commands.migrate_flags;
  commands.migrate->add_option("--data-dir", flags.data_dir, "kmsd's data dir")->required();
  commands.migrate->add_option("--to", flags.to, "The new seal: shares")
      ->required()
      ->check(CLI::IsMember({"shares"}));
  commands.migrate->add_option("--shares", flags.shares, "--to shares: number of shares (2..255)")
      ->check(CLI::Range(2, 255));
  commands.migrate
      ->add_option("--threshold", flags.threshold, "--to shares: shares needed to unseal")
      ->check(CLI::Range(2, 255));
}

bool SealCommandParsed() {
  const Subcommands& commands = Commands();
  return commands.migrate && commands.migrate->parsed();
}

int RunSealCommands() {
  const MigrateFlags& flags = Commands().migrate_flags;
  if (flags.to == "shares") {
    if (flags.shares == 0 || flags.threshold == 0 || flags.threshold > flags.shares) {
      std::cerr << "kmsd seal migrate: --to shares needs --shares N and --threshold T, "
                   "2 <= T <= N\n";
      return 2;
    }
    return MigrateFileToShares(flags);
  }
  std::cerr << "kmsd seal migrate: unknown --to " << flags.to << "\n";
  return 2;
}

}  // namespace kmsd::cmd
