// Which seal protects a data dir, for `kmsd serve` (the --seal flags, reconciled with
// DATA_DIR/seal.json) and `kmsd seal migrate` (moves the dir to another seal by rewrapping the
// keyring key only). docs/SEAL.md.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"

namespace kmsd::cmd {

// The seal flags shared by `kmsd serve` and `kmsd seal migrate`.
struct SealFlags {
  std::string seal;  // serve: "file" or "pkcs11"; empty = whatever seal.json says
  std::string pkcs11_module;
  std::string pkcs11_token_label;
  std::string pkcs11_key_label;  // empty = kDefaultPkcs11KeyLabel, created when absent
  std::string pkcs11_pin_file;
  bool pkcs11_create_key = false;  // create a named key that is absent (initialization only)

  bool AnyPkcs11() const;
};

// Adds --seal (when with_seal_type) and the --pkcs11-* flags to command.
void AddSealFlags(CLI::App& command, SealFlags& flags, bool with_seal_type);

// The extension point for every seal type: opens the seal that config names, with the secrets and
// choices from flags (a PIN file; whether a missing key may be created). `initializing` is true
// when the seal is about to protect a dir for the first time (a fresh dir, or a migration's
// target): only then may a seal create its root (a root.key, an HSM key). A type this kmsd
// cannot open is an error naming it.
absl::StatusOr<std::unique_ptr<Seal>> OpenSealOfType(const SealConfig& config,
                                                     const SealFlags& flags,
                                                     const std::string& data_dir,
                                                     bool initializing);

// The seal.json that flags describe for a new seal of type `type` (its non-secret parameters),
// or an error naming the missing flag.
absl::StatusOr<SealConfig> SealConfigFromFlags(const std::string& type, const SealFlags& flags);

// The seal of one `kmsd serve` start. On a fresh data dir with --seal pkcs11 it writes seal.json
// before the database is created; until Keep() is called (once the keystore holds the wrapped
// keyring key) destroying it removes that seal.json and any database files created since, so a
// refused start leaves the dir as it found it. Declare it before the backend.
class ServeSeal {
 public:
  ServeSeal(std::unique_ptr<Seal> seal, std::string data_dir, bool initialized_dir)
      : seal_(std::move(seal)), data_dir_(std::move(data_dir)), initialized_dir_(initialized_dir) {}
  ServeSeal(const ServeSeal&) = delete;
  ServeSeal& operator=(const ServeSeal&) = delete;
  ~ServeSeal();

  Seal* get() const { return seal_.get(); }
  void Keep() { initialized_dir_ = false; }

 private:
  std::unique_ptr<Seal> seal_;
  const std::string data_dir_;
  bool initialized_dir_;
};

// Reads seal.json, checks the flags against it (a flag that contradicts it is refused), and opens
// the seal; a fresh dir takes the seal the flags name. Nothing is written unless it succeeds.
absl::StatusOr<std::unique_ptr<ServeSeal>> OpenServeSeal(const std::string& data_dir,
                                                         const SealFlags& flags);

// `kmsd seal migrate`.
void AddSealCommands(CLI::App& app);
bool SealCommandParsed();
int RunSealCommands();

}  // namespace kmsd::cmd
