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
  RootCredentials() = default;
  RootCredentials(RootCredentials&&) = default;
  RootCredentials& operator=(RootCredentials&&) = default;
  ~RootCredentials() { WipeSecret(); }
  // Once the secret is in the credential store (SecretBytes) and shown: it then lives only there.
  void WipeSecret();

  std::string access_key_id;
  std::string secret_access_key;
  bool generated = false;     // made by this start (to be shown once, when the server listens)
  bool from_environment = false;
};

// KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY (both or neither), else the file,
// else new random ones written to the file. A secret shorter than 16 characters is refused. The
// secret's environment variable is wiped and removed once read, so that neither
// /proc/PID/environ nor a core holds it.
absl::StatusOr<RootCredentials> LoadOrCreateRootCredentials(const std::filesystem::path& data_dir);

}  // namespace kmsd::cmd
