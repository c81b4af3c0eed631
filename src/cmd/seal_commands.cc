// The seal of a data dir: --seal flags against seal.json for `kmsd serve`, and `kmsd seal
// migrate`, which rewraps the keyring key with another seal (no record is re-encrypted).
#include "cmd/seal_commands.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <tuple>

#include "cmd/data_dir_lock.h"
#include "cmd/process_hardening.h"
#include "cmd/shares_commands.h"
#include "kmsd/clock.h"
#include "kmsd/errors.h"
#include "kmsd/keystore.h"
#include "kmsd/pkcs11_seal.h"
#include "kmsd/seal.h"
#include "kmsd/shares_seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

namespace fs = std::filesystem;

constexpr char kRootKeyFile[] = "root.key";
constexpr char kDatabaseFile[] = "kmsd.db";

bool Exists(const std::string& data_dir, std::string_view name) {
  std::error_code ec;
  return fs::exists(fs::path(data_dir) / name, ec);
}

// A dir nothing has been sealed in yet: no seal.json, no root.key, no database.
bool IsFresh(const std::string& data_dir) {
  return !Exists(data_dir, kSealConfigFile) && !Exists(data_dir, kRootKeyFile) &&
         !Exists(data_dir, kDatabaseFile);
}

std::string Parameter(const SealConfig& config, const char* name) {
  auto it = config.parameters.find(name);
  return it != config.parameters.end() && it->is_string() ? it->get<std::string>() : "";
}

// A flag may repeat what seal.json says, never contradict it.
absl::Status CheckFlagMatches(const std::string& flag_value, const SealConfig& config,
                              const char* parameter, const char* flag) {
  std::string recorded = Parameter(config, parameter);
  if (flag_value.empty() || flag_value == recorded) return absl::OkStatus();
  return Validation(StrCat(flag, " is \"", flag_value, "\" but seal.json records \"", recorded,
                           "\" for this data dir; fix the flag (or the config file), or move the "
                           "dir with kmsd seal migrate"));
}

absl::Status CheckFlagsMatch(const SealConfig& recorded, const SealFlags& flags) {
  if (recorded.type != "pkcs11") return absl::OkStatus();
  for (auto [value, parameter, flag] :
       {std::tuple{&flags.pkcs11_module, "module", "--pkcs11-module"},
        std::tuple{&flags.pkcs11_token_label, "token_label", "--pkcs11-token-label"},
        std::tuple{&flags.pkcs11_key_label, "key_label", "--pkcs11-key-label"}}) {
    if (auto matches = CheckFlagMatches(*value, recorded, parameter, flag); !matches.ok()) {
      return matches;
    }
  }
  return absl::OkStatus();
}

std::string SealedBy(const SealConfig& config) {
  return config.type == "file" ? std::string("the file seal (root.key)")
                               : StrCat("the ", config.type, " seal (seal.json)");
}

}  // namespace

bool SealFlags::AnyPkcs11() const {
  return !pkcs11_module.empty() || !pkcs11_token_label.empty() || !pkcs11_key_label.empty() ||
         !pkcs11_pin_file.empty() || pkcs11_create_key;
}

void AddSealFlags(CLI::App& command, SealFlags& flags, bool with_seal_type) {
  if (with_seal_type) {
    command
        .add_option("--seal", flags.seal,
                    "What protects the root key: file (DATA_DIR/root.key) or pkcs11 (an HSM). "
                    "Chosen when the data dir is initialized and recorded in DATA_DIR/seal.json; "
                    "later starts follow seal.json (docs/SEAL.md)")
        ->check(CLI::IsMember({"file", "pkcs11"}));
  }
  command.add_option("--pkcs11-module", flags.pkcs11_module,
                     "PKCS#11 module (.so) of the HSM, e.g. /usr/lib/softhsm/libsofthsm2.so");
  command.add_option("--pkcs11-token-label", flags.pkcs11_token_label,
                     "Label of the PKCS#11 token holding the root key");
  command.add_option(
      "--pkcs11-key-label", flags.pkcs11_key_label,
      kmsd::StrCat("Label of the AES-256 root key in the token. Default \"", kDefaultPkcs11KeyLabel,
                   "\", generated in the token when absent; a label given here "
                   "must name an existing key unless --pkcs11-create-key"));
  command.add_option("--pkcs11-pin-file", flags.pkcs11_pin_file,
                     "File holding the token's user PIN (mode 0600 or stricter; one trailing "
                     "newline ignored)");
  command.add_flag("--pkcs11-create-key", flags.pkcs11_create_key,
                   "Generate the key named by --pkcs11-key-label in the token if it is absent "
                   "(when the data dir is initialized or migrated only)");
}

absl::StatusOr<SealConfig> SealConfigFromFlags(const std::string& type, const SealFlags& flags) {
  SealConfig config;
  config.type = type;
  if (type == "file") {
    if (flags.AnyPkcs11()) return Validation("the --pkcs11-* flags belong to the pkcs11 seal");
    return config;
  }
  if (type == "pkcs11") {
    if (flags.pkcs11_module.empty()) return Validation("the pkcs11 seal needs --pkcs11-module");
    if (flags.pkcs11_token_label.empty()) {
      return Validation("the pkcs11 seal needs --pkcs11-token-label");
    }
    config.parameters = {
        {"module", flags.pkcs11_module},
        {"token_label", flags.pkcs11_token_label},
        {"key_label",
         flags.pkcs11_key_label.empty() ? kDefaultPkcs11KeyLabel : flags.pkcs11_key_label},
    };
    return config;
  }
  return Validation(StrCat("this kmsd cannot create a data dir sealed by \"", type, "\""));
}

absl::StatusOr<std::unique_ptr<Seal>> OpenSealOfType(const SealConfig& config,
                                                     const SealFlags& flags,
                                                     const std::string& data_dir,
                                                     bool initializing) {
  if (config.type == "file") {
    std::string path = (fs::path(data_dir) / kRootKeyFile).string();
    // Never make a root.key for a dir that has data: it could not open the database.
    if (!initializing && !Exists(data_dir, kRootKeyFile)) {
      return NotFound(StrCat(path, " is missing: the file seal cannot open this data dir"));
    }
    return OpenFileSeal(path);
  }
  if (config.type == "pkcs11") {
    for (auto [parameter, flag] :
         {std::pair{"module", "--pkcs11-module"}, std::pair{"token_label", "--pkcs11-token-label"},
          std::pair{"key_label", "--pkcs11-key-label"}}) {
      if (Parameter(config, parameter).empty()) {
        return Validation(StrCat("the pkcs11 seal has no ", parameter, " (", flag, ")"));
      }
    }
    Pkcs11SealOptions options;
    options.module_path = Parameter(config, "module");
    options.token_label = Parameter(config, "token_label");
    options.key_label = Parameter(config, "key_label");
    options.pin_file = flags.pkcs11_pin_file;
    // A key is created only for a dir being sealed now, under the default label or when asked:
    // a later start that made a new key could never open the keyring.
    options.create_key =
        initializing && (flags.pkcs11_key_label.empty() || flags.pkcs11_create_key);
    auto seal = OpenPkcs11Seal(options);
    if (!seal.ok() && TypeOf(seal.status()) == ErrorType::kNotFound && initializing &&
        seal.status().message().find("no key labeled") != absl::string_view::npos) {
      return Error(ErrorType::kNotFound,
                   StrCat(ToStd(seal.status().message()),
                          " (to generate it there, add --pkcs11-create-key)"));
    }
    return seal;
  }
  // `shares` and later types plug in here.
  return Error(ErrorType::kUnsupportedOperation,
               StrCat("this kmsd cannot open a data dir sealed by \"", config.type, "\""));
}

ServeSeal::~ServeSeal() {
  seal_.reset();
  if (!initialized_dir_) return;
  // The start that initialized this dir was refused before its keyring was stored.
  std::error_code ec;
  for (std::string name : {std::string(kSealConfigFile), std::string(kDatabaseFile),
                           StrCat(kDatabaseFile, "-wal"), StrCat(kDatabaseFile, "-shm")}) {
    fs::path path = fs::path(data_dir_) / name;
    if (fs::is_regular_file(path, ec)) fs::remove(path, ec);
  }
}

absl::StatusOr<std::unique_ptr<ServeSeal>> OpenServeSeal(const std::string& data_dir,
                                                         const SealFlags& flags) {
  auto recorded = ReadSealConfig(data_dir);
  if (!recorded.ok()) return recorded.status();
  bool fresh = IsFresh(data_dir);
  std::string wanted = flags.seal.empty() ? recorded->type : flags.seal;
  if (fresh && wanted != "file") {
    auto config = SealConfigFromFlags(wanted, flags);
    if (!config.ok()) return config.status();
    auto seal = OpenSealOfType(*config, flags, data_dir, /*initializing=*/true);
    if (!seal.ok()) return seal.status();
    if (auto written = WriteSealConfig(data_dir, *config); !written.ok()) {
      std::error_code ec;
      fs::remove(fs::path(data_dir) / kSealConfigFile, ec);
      return written;
    }
    return std::make_unique<ServeSeal>(std::move(*seal), data_dir, /*initialized_dir=*/true);
  }
  if (wanted != recorded->type) {
    return Validation(StrCat(data_dir, " is sealed by ", SealedBy(*recorded), ", not by the ",
                             wanted,
                             " seal; to change it, stop kmsd and run kmsd seal migrate "
                             "(docs/SEAL.md)"));
  }
  if (recorded->type == "file" && flags.AnyPkcs11()) {
    return Validation(StrCat("the --pkcs11-* flags need --seal pkcs11, but ", data_dir,
                             " is sealed by the file seal (root.key)"));
  }
  if (auto matches = CheckFlagsMatch(*recorded, flags); !matches.ok()) return matches;
  // A file-sealed dir without its root.key is initialized now, as kmsd always did.
  auto seal = OpenSealOfType(*recorded, flags, data_dir, /*initializing=*/recorded->type == "file");
  if (!seal.ok()) return seal.status();
  return std::make_unique<ServeSeal>(std::move(*seal), data_dir, /*initialized_dir=*/false);
}

// ---- kmsd seal migrate

namespace {

struct MigrateFlags {
  std::string data_dir;
  std::string to;
  bool remove_old_root_key = false;
  SealFlags seal;
  int shares = 0;     // --to shares
  int threshold = 0;  // --to shares
  std::string from_pkcs11_pin_file;  // pkcs11 -> pkcs11: the current token's PIN
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

// Now in UTC for a file name: 20240501T120000Z.
std::string UtcStamp() {
  std::string stamp = Iso8601(std::time(nullptr));
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  return stamp;
}

std::string Describe(const SealConfig& config) {
  if (config.type != "pkcs11") return SealedBy(config);
  return StrCat("the pkcs11 seal (key \"", Parameter(config, "key_label"), "\" in token \"",
                Parameter(config, "token_label"), "\")");
}

// The seal that protects the dir now. The file and pkcs11 seals open with the flags (the current
// token's PIN: --from-pkcs11-pin-file, else --pkcs11-pin-file); a shares dir takes its threshold
// of shares from stdin, one a line (prompted for, without echo, on a terminal). Not yet checked
// against the keyring: the caller does that (a resumed migration expects it to fail).
absl::StatusOr<std::unique_ptr<Seal>> OpenCurrentSeal(const SealConfig& current,
                                                      const MigrateFlags& flags) {
  if (current.type != "shares") {
    SealFlags current_side = flags.seal;
    if (!flags.from_pkcs11_pin_file.empty()) {
      current_side.pkcs11_pin_file = flags.from_pkcs11_pin_file;
    }
    return OpenSealOfType(current, current_side, flags.data_dir, /*initializing=*/false);
  }
  auto parameters = ReadSharesParameters(current);
  if (!parameters.ok()) return parameters.status();
  std::unique_ptr<Seal> seal;
  Unsealer unsealer(*parameters, [&seal](SecretBytes root_key) {
    seal = NewRootKeySeal("shares", std::move(root_key));
    return absl::OkStatus();
  });
  std::fprintf(stderr, "kmsd seal migrate: %s is sealed by shares: give %d of them, one a line.\n",
               flags.data_dir.c_str(), parameters->threshold);
  const bool terminal = isatty(STDIN_FILENO);
  while (!seal) {
    std::string share;
    if (!ReadShare(share)) {
      return Validation(StrCat("stdin ended after ", unsealer.Progress().given, " of the ",
                               parameters->threshold, " shares needed"));
    }
    auto progress = unsealer.Submit(share);
    OPENSSL_cleanse(share.data(), share.size());
    if (!progress.ok()) {
      if (!terminal) return progress.status();
      std::cerr << ToStd(progress.status().message()) << "\n";
    }
  }
  return seal;
}

// The new seal's seal.json (file or pkcs11) and the flags that open it. From pkcs11 to pkcs11 the
// --pkcs11-* flags describe the new side, and the module and token default to the current ones
// (a new key in the same token: --pkcs11-key-label K --pkcs11-create-key).
absl::StatusOr<SealConfig> TargetConfig(const SealConfig& current, const MigrateFlags& flags,
                                        SealFlags& target_flags) {
  if (flags.to == "file") return SealConfigFromFlags("file", SealFlags{});
  target_flags = flags.seal;
  if (current.type == "pkcs11") {
    if (target_flags.pkcs11_module.empty()) target_flags.pkcs11_module = Parameter(current, "module");
    if (target_flags.pkcs11_token_label.empty()) {
      target_flags.pkcs11_token_label = Parameter(current, "token_label");
    }
  }
  return SealConfigFromFlags("pkcs11", target_flags);
}

// What becomes of the old seal once the dir has left it: a root.key is kept aside (or removed),
// an HSM key and old shares are the operator's to destroy.
void ReportOldSeal(const MigrateFlags& flags, const SealConfig& old_config) {
  const std::string& dir = flags.data_dir;
  std::string root_key = (fs::path(dir) / kRootKeyFile).string();
  if (old_config.type == "file" && Exists(dir, kRootKeyFile)) {
    if (flags.remove_old_root_key) {
      if (unlink(root_key.c_str()) != 0) {
        std::printf("WARNING: could not remove the old %s; remove it by hand.\n", root_key.c_str());
      } else {
        std::printf("The old root.key was removed (--remove-old-root-key).\n");
      }
    } else {
      std::string kept = StrCat(root_key, ".migrated-", UtcStamp());
      if (rename(root_key.c_str(), kept.c_str()) != 0) {
        std::printf("WARNING: could not rename the old %s; move it away by hand.\n",
                    root_key.c_str());
      } else {
        std::printf(
            "The old root key was kept as %s. It still opens the database as it was before this\n"
            "migration (and any backup of it): once kmsd has started with the new seal and old\n"
            "ciphertexts decrypt, destroy it (shred -u %s) and every copy of it.\n",
            kept.c_str(), kept.c_str());
      }
    }
  }
  if (old_config.type == "pkcs11") {
    std::printf(
        "The key \"%s\" in token \"%s\" no longer protects this dir. Once kmsd has started with\n"
        "the new seal and old ciphertexts decrypt, you may destroy it in the token (unless "
        "another\n"
        "data dir or a backup still needs it).\n",
        Parameter(old_config, "key_label").c_str(),
        Parameter(old_config, "token_label").c_str());
  }
  if (old_config.type == "shares") {
    std::printf(
        "The old shares no longer open this dir, but they open every backup made before now:\n"
        "keep them as long as those backups, or destroy them with the backups.\n");
  }
}

// To the shares seal, from any seal (shares -> shares makes a new set: a rekey). Order, for a
// crash at any point: the shares are shown first (the keyring never depends on a root key that
// exists only in memory); then seal.json (the old one kept as seal.json.previous), then the
// keyring rewrapped in one conditional write, then the old seal's leftovers. A failure puts the
// old seal.json back: nothing changed and the shares shown are void.
absl::Status MigrateToShares(const MigrateFlags& flags, const SealConfig& current_config,
                             Seal* current, Backend* backend, const std::string& old_wrapped) {
  const std::string& dir = flags.data_dir;
  auto keyring = current->Unwrap(old_wrapped, kKeyringRecordId);
  if (!keyring.ok()) {
    return Internal(StrCat("the current seal, ", Describe(current_config),
                           ", cannot unwrap the keyring key: wrong root key or shares, or the "
                           "database was tampered with"));
  }
  auto generated = GenerateShares(flags.shares, flags.threshold);
  if (!generated.ok()) return generated.status();
  std::unique_ptr<Seal> shares_seal = NewRootKeySeal("shares", std::move(generated->root_key));
  auto new_wrapped = shares_seal->Wrap(*keyring, kKeyringRecordId);
  if (!new_wrapped.ok()) return new_wrapped.status();
  auto check = shares_seal->Unwrap(*new_wrapped, kKeyringRecordId);
  if (!check.ok() || check->view() != keyring->view()) {
    return Internal("the new root key does not unwrap the keyring key it wrapped; nothing changed");
  }

  std::printf("kmsd seal migrate: moving %s from %s to %d shares (threshold %d).\n", dir.c_str(),
              Describe(current_config).c_str(), flags.shares, flags.threshold);
  std::vector<std::string_view> shares;
  for (const SecretBytes& text : generated->texts) shares.push_back(text.view());
  PrintShares(shares, flags.threshold, dir);

  fs::path config_path = fs::path(dir) / kSealConfigFile;
  fs::path previous_path = fs::path(dir) / StrCat(kSealConfigFile, ".previous");
  std::error_code ec;
  const bool had_config = Exists(dir, kSealConfigFile);
  if (had_config) {
    fs::copy_file(config_path, previous_path, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return Internal(StrCat("cannot keep the old seal.json: ", ec.message(),
                             "; nothing changed: the shares above are void"));
    }
  }
  auto put_back_config = [&] {
    if (had_config) {
      fs::rename(previous_path, config_path, ec);
    } else {
      fs::remove(config_path, ec);
    }
  };
  if (absl::Status written = WriteSealConfig(dir, SharesSealConfig(generated->parameters));
      !written.ok()) {
    put_back_config();
    return Internal(StrCat("cannot write seal.json: ", ToStd(written.message()),
                           "; nothing changed: the shares above are void"));
  }
  StorageBatch batch;
  batch.puts.push_back({std::string(kKeyringRecordId), *new_wrapped});
  batch.conditions.push_back({std::string(kKeyringRecordId), old_wrapped});
  if (absl::Status committed = backend->Commit(batch); !committed.ok()) {
    put_back_config();
    return Internal(StrCat("cannot store the rewrapped keyring key: ", ToStd(committed.message()),
                           "; nothing changed: the shares above are void"));
  }
  fs::remove(previous_path, ec);
  std::printf(
      "\nDone: %s is now sealed by the %d shares above (was %s). Only the keyring key was\n"
      "rewrapped; no record was re-encrypted.\n",
      dir.c_str(), flags.shares, Describe(current_config).c_str());
  ReportOldSeal(flags, current_config);
  return absl::OkStatus();
}

// Moves the dir from the seal seal.json names to the one flags name, between any two of file,
// pkcs11 and shares (and pkcs11 to another token or key, shares to a new set). To file or pkcs11:
// every step before the database commit writes nothing but a new root.key (to the file seal),
// which is removed again on failure; after the commit, a failure to write seal.json puts the old
// wrapped keyring back. To shares: MigrateToShares.
absl::Status Migrate(const MigrateFlags& flags) {
  const std::string& dir = flags.data_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(StrCat(dir, " is not a directory"));
  auto lock = DataDirLock::Acquire(dir);
  if (!lock.ok()) return lock.status();
  auto current_config = ReadSealConfig(dir);
  if (!current_config.ok()) return current_config.status();
  if (!Exists(dir, kDatabaseFile)) {
    return NotFound(StrCat(dir, " has no ", kDatabaseFile,
                           ": nothing to migrate (a new data dir "
                           "takes its seal from kmsd serve --seal)"));
  }
  SealFlags target_flags;
  std::optional<SealConfig> target_config;
  if (flags.to != "shares") {
    auto config = TargetConfig(*current_config, flags, target_flags);
    if (!config.ok()) return config.status();
    if (config->type == current_config->type && config->parameters == current_config->parameters) {
      return Validation(StrCat(dir, " is already sealed by ", Describe(*current_config)));
    }
    target_config = std::move(*config);
  }
  // The --pkcs11-* flags describe the current side unless the new seal is pkcs11 too.
  if (flags.to != "pkcs11") {
    if (auto matches = CheckFlagsMatch(*current_config, flags.seal); !matches.ok()) return matches;
  }

  std::string root_key = (fs::path(dir) / kRootKeyFile).string();
  bool root_key_existed = Exists(dir, kRootKeyFile);
  auto current = OpenCurrentSeal(*current_config, flags);
  if (!current.ok()) return current.status();
  auto backend = OpenSqliteBackend((fs::path(dir) / kDatabaseFile).string());
  if (!backend.ok()) return backend.status();
  auto stored = (*backend)->Get(kKeyringRecordId);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return NotFound(StrCat(dir, "'s database holds no keyring key: nothing to migrate"));
  }
  const std::string old_wrapped = **stored;
  if (flags.to == "shares") {
    return MigrateToShares(flags, *current_config, current->get(), backend->get(), old_wrapped);
  }

  // A root.key in a dir sealed otherwise is left from an interrupted migration to the file seal
  // (or put there by hand): it is used only if it opens the keyring.
  auto target = OpenSealOfType(*target_config, target_flags, dir, /*initializing=*/true);
  bool created_root_key = flags.to == "file" && !root_key_existed && Exists(dir, kRootKeyFile);
  auto undo_root_key = [&] {
    if (created_root_key) fs::remove(root_key, ec);
  };
  if (!target.ok()) {
    undo_root_key();
    return target.status();
  }
  bool resumed = false;
  auto keyring = (*current)->Unwrap(old_wrapped, kKeyringRecordId);
  if (!keyring.ok()) {
    // Interrupted after the commit last time: the target already opens the keyring.
    keyring = (*target)->Unwrap(old_wrapped, kKeyringRecordId);
    if (!keyring.ok()) {
      undo_root_key();
      return Internal(StrCat("the current seal, ", Describe(*current_config),
                             ", cannot unwrap the keyring key: wrong root key or shares, or the "
                             "database was tampered with"));
    }
    resumed = true;
  } else if (flags.to == "file" && root_key_existed) {
    return Validation(StrCat(root_key, " exists although the dir is sealed by ",
                             SealedBy(*current_config), "; move it away first"));
  }
  if (!resumed) {
    auto new_wrapped = (*target)->Wrap(*keyring, kKeyringRecordId);
    if (!new_wrapped.ok()) {
      undo_root_key();
      return new_wrapped.status();
    }
    // Proof before commitment: the new seal opens what it wrapped.
    auto check = (*target)->Unwrap(*new_wrapped, kKeyringRecordId);
    if (!check.ok() || check->view() != keyring->view()) {
      undo_root_key();
      return Internal("the new seal does not unwrap the keyring key it wrapped; nothing changed");
    }
    StorageBatch batch;
    batch.puts.push_back({std::string(kKeyringRecordId), *new_wrapped});
    batch.conditions.push_back({std::string(kKeyringRecordId), old_wrapped});
    if (auto committed = (*backend)->Commit(batch); !committed.ok()) {
      undo_root_key();
      return committed;
    }
  }
  if (auto written = WriteSealConfig(dir, *target_config); !written.ok()) {
    StorageBatch undo;
    undo.puts.push_back({std::string(kKeyringRecordId), old_wrapped});
    absl::Status restored = resumed ? absl::OkStatus() : (*backend)->Commit(undo);
    if (restored.ok()) undo_root_key();
    return Internal(
        StrCat("cannot write seal.json: ", ToStd(written.message()),
               restored.ok() ? "; the keyring key was put back: nothing changed"
                             : StrCat("; and putting the old keyring key back failed too (",
                                      ToStd(restored.message()), "): run the same command again")));
  }

  std::printf("kmsd seal migrate: %s is now sealed by %s (was %s)%s.\n", dir.c_str(),
              Describe(*target_config).c_str(), Describe(*current_config).c_str(),
              resumed ? "; an interrupted migration was completed" : "");
  std::printf("Only the keyring key was rewrapped; no record was re-encrypted.\n");
  ReportOldSeal(flags, *current_config);
  std::printf("Next: kmsd serve --data-dir %s%s\n", dir.c_str(),
              flags.to == "pkcs11" ? " --pkcs11-pin-file PIN_FILE" : "");
  return absl::OkStatus();
}

}  // namespace

void AddSealCommands(CLI::App& app) {
  Subcommands& commands = Commands();
  commands.seal = app.add_subcommand("seal", "Manage the seal that protects a data dir's root key");
  commands.seal->require_subcommand(1);
  commands.migrate = commands.seal->add_subcommand(
      "migrate",
      "Move a data dir to another seal, with kmsd stopped: the keyring key is unwrapped with the "
      "current seal and rewrapped with the new one (no record is re-encrypted); seal.json is "
      "updated. From file, pkcs11 or shares to any of them (pkcs11 to another token or key, shares "
      "to a new set); a shares dir reads its shares from stdin. The --pkcs11-* flags describe the "
      "pkcs11 side, old or new (the new one when both are pkcs11) (docs/SEAL.md)");
  MigrateFlags& flags = commands.migrate_flags;
  commands.migrate->add_option("--data-dir", flags.data_dir, "kmsd's data dir")->required();
  commands.migrate->add_option("--to", flags.to, "The new seal: file, pkcs11 or shares")
      ->required()
      ->check(CLI::IsMember({"file", "pkcs11", "shares"}));
  commands.migrate->add_option("--shares", flags.shares, "--to shares: number of shares (2..255)")
      ->check(CLI::Range(2, 255));
  commands.migrate
      ->add_option("--threshold", flags.threshold, "--to shares: shares needed to unseal")
      ->check(CLI::Range(2, 255));
  commands.migrate->add_flag("--remove-old-root-key", flags.remove_old_root_key,
                             "Delete the old root.key instead of keeping it as "
                             "root.key.migrated-TIME");
  AddSealFlags(*commands.migrate, flags.seal, /*with_seal_type=*/false);
  commands.migrate->add_option("--from-pkcs11-pin-file", flags.from_pkcs11_pin_file,
                               "pkcs11 to pkcs11: the PIN file of the current token (default: "
                               "--pkcs11-pin-file, when both tokens share a PIN)");
}

bool SealCommandParsed() { return Commands().seal && Commands().seal->parsed(); }

int RunSealCommands() {
  const MigrateFlags& flags = Commands().migrate_flags;
  if (!HardenCommand("seal migrate")) return 1;
  if (flags.to == "shares" &&
      (flags.shares == 0 || flags.threshold == 0 || flags.threshold > flags.shares)) {
    std::cerr << "kmsd seal migrate: --to shares needs --shares N and --threshold T, "
                 "2 <= T <= N\n";
    return 2;
  }
  absl::Status migrated = Migrate(flags);
  if (!migrated.ok()) {
    std::cerr << "kmsd seal migrate: " << ToStd(migrated.message())
              << "\nThe data dir was left as it was.\n";
    return 1;
  }
  return 0;
}

}  // namespace kmsd::cmd
