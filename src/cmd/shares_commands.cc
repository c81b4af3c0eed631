// The shares seal's subcommands: init makes a sealed data dir and prints its shares once; unseal
// reads one share (no echo on a terminal) and gives it to the running kmsd.
#include "cmd/shares_commands.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cmd/data_dir_lock.h"
#include "cmd/process_hardening.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"
#include "kmsd/shares_seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "kmsd/unseal_channel.h"

namespace kmsd::cmd {
namespace {

struct InitFlags {
  std::string data_dir;
  int shares = 0;
  int threshold = 0;
};

struct UnsealFlags {
  std::string data_dir;
  bool status = false;
};

struct Subcommands {
  CLI::App* init = nullptr;
  CLI::App* unseal = nullptr;
  InitFlags init_flags;
  UnsealFlags unseal_flags;
};

Subcommands& Commands() {
  static auto* const commands = new Subcommands();
  return *commands;
}

int Fail(std::string_view command, std::string_view message) {
  std::cerr << "kmsd " << command << ": " << message << "\n";
  return 1;
}

int Init() {
  if (!HardenCommand("init")) return 1;
  const InitFlags& flags = Commands().init_flags;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(flags.data_dir, ec);
  if (ec) return Fail("init", StrCat("cannot create ", flags.data_dir, ": ", ec.message()));
  if (!fs::is_empty(flags.data_dir, ec) || ec) {
    return Fail("init", StrCat(flags.data_dir,
                               " is not empty: init makes a new data dir (to move an existing "
                               "one to shares: kmsd seal migrate --to shares)"));
  }
  fs::permissions(flags.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto lock = DataDirLock::Acquire(flags.data_dir);
  if (!lock.ok()) return Fail("init", ToStd(lock.status().message()));

  auto generated = GenerateShares(flags.shares, flags.threshold);
  if (!generated.ok()) return Fail("init", ToStd(generated.status().message()));
  // seal.json first: a data dir with a keyring never looks like a file-seal dir (whose start
  // would make a root.key).
  absl::Status written = WriteSealConfig(flags.data_dir, SharesSealConfig(generated->parameters));
  if (!written.ok()) return Fail("init", ToStd(written.message()));
  auto backend = OpenSqliteBackend(StrCat(flags.data_dir, "/kmsd.db"));
  if (!backend.ok()) return Fail("init", ToStd(backend.status().message()));
  std::unique_ptr<Seal> seal = NewRootKeySeal("shares", std::move(generated->root_key));
  auto keystore = OpenKeystore(backend->get(), seal.get());
  if (!keystore.ok()) return Fail("init", ToStd(keystore.status().message()));
  keystore->reset();
  seal.reset();  // the root key, wiped; it was never written

  std::printf("kmsd init: %s is sealed by %d shares, any %d of which unseal it.\n",
              flags.data_dir.c_str(), flags.shares, flags.threshold);
  std::vector<std::string_view> shares;
  for (const SecretBytes& text : generated->texts) shares.push_back(text.view());
  PrintShares(shares, flags.threshold, flags.data_dir);
  return 0;
}

int Unseal() {
  if (!HardenCommand("unseal")) return 1;
  const UnsealFlags& flags = Commands().unseal_flags;
  std::string path = StrCat(flags.data_dir, "/", kUnsealSocketFile);
  std::string share;
  if (!flags.status && !ReadShare(share)) {
    return Fail("unseal", "no share given (type it, or pipe it on stdin)");
  }
  auto reply = SendUnsealRequest(path, share);
  OPENSSL_cleanse(share.data(), share.size());
  if (!reply.ok()) return Fail("unseal", ToStd(reply.status().message()));
  if (!reply->error.empty()) return Fail("unseal", reply->error);
  const UnsealProgress& progress = reply->progress;
  if (progress.unsealed) {
    std::printf("kmsd is unsealed and serving.\n");
  } else {
    std::printf("kmsd is sealed: %d of %d shares given, %d more needed.\n", progress.given,
                progress.threshold, progress.threshold - progress.given);
  }
  return 0;
}

}  // namespace

bool ReadShare(std::string& share) {
  share.reserve(4096);  // never reallocated: no partial copy is left in freed memory
  bool terminal = isatty(STDIN_FILENO);
  termios saved{};
  if (terminal) {
    std::fprintf(stderr, "Unseal share: ");
    std::fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &saved) != 0) return false;
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  int c;
  while ((c = std::getchar()) != EOF && c != '\n') {
    if (share.size() < 4096) share.push_back(static_cast<char>(c));
  }
  if (terminal) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  }
  return !share.empty();
}

void PrintShares(const std::vector<std::string_view>& shares, int threshold,
                 const std::string& data_dir) {
  std::printf(
      "\nThe root key exists nowhere but in these shares. They are shown this once and never\n"
      "again; kmsd keeps no copy. Give each to a different keeper, to be stored apart (a safe, a\n"
      "password manager), never beside the data dir or its backups:\n\n");
  for (size_t i = 0; i < shares.size(); ++i) {
    std::printf("  share %zu: %.*s\n", i + 1, static_cast<int>(shares[i].size()),
                shares[i].data());
  }
  std::printf(
      "\nEvery start of kmsd serve is sealed until %d keepers each run\n"
      "  kmsd unseal --data-dir %s\n"
      "and type their share. Losing more than %zu shares loses every key for good.\n",
      threshold, data_dir.c_str(), shares.size() - static_cast<size_t>(threshold));
  std::fflush(stdout);
}

void AddSharesCommands(CLI::App& app) {
  Subcommands& commands = Commands();
  commands.init = app.add_subcommand(
      "init",
      "Make a new data dir sealed by Shamir shares: the root key is split into --shares shares, "
      "any --threshold of which unseal a start; printed once, never stored (docs/SEAL.md)");
  commands.init->add_option("--data-dir", commands.init_flags.data_dir,
                            "The data dir to create (missing or empty)")
      ->required();
  commands.init->add_option("--shares", commands.init_flags.shares, "Number of shares (2..255)")
      ->required()
      ->check(CLI::Range(2, 255));
  commands.init
      ->add_option("--threshold", commands.init_flags.threshold,
                   "Shares needed to unseal (2..shares)")
      ->required()
      ->check(CLI::Range(2, 255));

  commands.unseal = app.add_subcommand(
      "unseal",
      "Give a sealed kmsd one share: read from the terminal without echo, or from stdin, and sent "
      "over DATA_DIR/unseal.sock (as kmsd's user or root)");
  commands.unseal->add_option("--data-dir", commands.unseal_flags.data_dir, "kmsd's data dir")
      ->required();
  commands.unseal->add_flag("--status", commands.unseal_flags.status,
                            "Only show how many shares were given");
}

bool SharesCommandParsed() {
  const Subcommands& commands = Commands();
  return (commands.init && commands.init->parsed()) ||
         (commands.unseal && commands.unseal->parsed());
}

int RunSharesCommands() {
  if (Commands().init->parsed()) {
    const InitFlags& flags = Commands().init_flags;
    if (flags.threshold > flags.shares) {
      std::cerr << "kmsd init: --threshold must be at most --shares\n";
      return 2;
    }
    return Init();
  }
  return Unseal();
}

}  // namespace kmsd::cmd
