// Which seal protects a data dir: DATA_DIR/seal.json, written when the data dir is initialized
// with a seal other than the file seal (or migrated), read by every start and by the tools. It
// holds only non-secret parameters (a PKCS#11 module path, token and key labels; a share
// threshold), never a key or a PIN. No file means the file seal (root.key), as before it existed.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmsd {

inline constexpr char kSealConfigFile[] = "seal.json";

struct SealConfig {
  std::string type = "file";  // "file", "pkcs11", "shares"
  // The type's own non-secret parameters, e.g. {"module": ..., "token_label": ...,
  // "key_label": ...} for pkcs11 or {"shares": 5, "threshold": 3} for shares.
  nlohmann::json parameters = nlohmann::json::object();
};

// Reads DATA_DIR/seal.json; absent = the file seal. A malformed file or an unknown type is an
// error (fail closed: never fall back to creating a root.key for a dir sealed otherwise).
absl::StatusOr<SealConfig> ReadSealConfig(const std::string& data_dir);

// Writes DATA_DIR/seal.json atomically (temp file, fsync, rename, fsync of the dir), mode 0600.
absl::Status WriteSealConfig(const std::string& data_dir, const SealConfig& config);

}  // namespace kmsd
