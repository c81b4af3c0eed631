// The account root's access key: from the environment, or sealed in the keystore (made on the
// first start and shown once). It is never kept on disk in the clear: whoever holds it can call
// the running server as root, so a copy of the data dir or a backup must not hold it readable.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/keystore.h"

namespace kmsd::cmd {

// The plaintext file older kmsd versions kept the credentials in; a start moves it into the
// keystore and removes it.
inline constexpr char kCredentialsFile[] = "root-credentials";
// The sealed record holding "ACCESS_KEY_ID\nSECRET\n" (the keystore seals every record).
inline constexpr std::string_view kRootCredentialsRecordId = "core/root-credentials";
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
  bool generated = false;        // made by this start (to be shown once, when the server listens)
  bool from_environment = false;
  bool moved_from_file = false;  // this start sealed DATA_DIR/root-credentials and removed it
  // The environment's credentials replaced other ones sealed by an earlier start (deleted).
  bool replaced_sealed = false;
  std::string replaced_access_key_id;
};

// KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY (both or neither; other credentials
// sealed by an earlier start are then deleted, so that lost or stolen ones never come back, and
// the data dir's file is not read), else the keystore's sealed record, else DATA_DIR/root-credentials
// (a data dir of an older kmsd, or restored from an older backup: sealed into the keystore, then
// the file is removed), else new random ones sealed into the keystore. A secret shorter than 16
// characters is refused. The record is created only if absent, so that nodes sharing one
// keystore (etcd) agree on one root credential. A credentials file that differs from the sealed
// record is refused (kValidation): kmsd cannot tell which one the operator means. The secret's
// environment variable is wiped and removed once read, so that neither /proc/PID/environ nor a
// core holds it.
absl::StatusOr<RootCredentials> LoadOrCreateRootCredentials(const std::filesystem::path& data_dir,
                                                            Keystore& keystore);

}  // namespace kmsd::cmd
