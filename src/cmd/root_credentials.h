// The account root's access key: from the environment, from DATA_DIR/root-credentials, or made on
// the first start and kept there (mode 0600).
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace kmsd::cmd {

inline constexpr char kCredentialsFile[] = "root-credentials";
inline constexpr size_t kMinimumRootSecretLength = 16;

struct RootCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  bool generated = false;     // made by this start (to be shown once, when the server listens)
  bool from_environment = false;
};

// KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY (both or neither), else the file,
// else new random ones written to the file. A secret shorter than 16 characters is refused.
absl::StatusOr<RootCredentials> LoadOrCreateRootCredentials(const std::filesystem::path& data_dir);

}  // namespace kmsd::cmd
