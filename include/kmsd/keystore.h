// The barrier: the one place that encrypts what kmsd stores. Every record is sealed with
// AES-256-GCM under the keyring key, with the record id as associated data, so a record cannot be
// read, altered or moved to another id without detection. The keyring key itself is stored wrapped
// by the Seal (root key). Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"

namespace kmsd {

// The reserved record holding the keyring key wrapped by the Seal (what `kmsd seal migrate`
// rewraps; no other record depends on the seal).
inline constexpr std::string_view kKeyringRecordId = "core/keyring";

struct KeystoreRecord {
  std::string id;
  SecretBytes value;
};

// A record with its version: an opaque token naming exactly this stored state ("" when absent).
struct VersionedRecord {
  std::optional<SecretBytes> value;
  std::string version;
};

struct KeystoreBatch {
  std::vector<std::pair<std::string, std::string_view>> puts;  // id, plaintext record
  std::vector<std::string> deletes;
  // Preconditions: each record id must still be at the version read (GetVersioned), "" = absent.
  // Otherwise nothing is written and Commit answers StorageConflict (kmsd/storage.h).
  std::vector<std::pair<std::string, std::string>> expect;
};

class Keystore {
 public:
  virtual ~Keystore() = default;
  virtual absl::StatusOr<std::optional<SecretBytes>> Get(std::string_view id) = 0;
  // As Get, with the version to put in KeystoreBatch::expect for a read-modify-write.
  virtual absl::StatusOr<VersionedRecord> GetVersioned(std::string_view id) = 0;
  virtual absl::Status Put(std::string_view id, std::string_view plaintext) = 0;
  virtual absl::Status Delete(std::string_view id) = 0;
  // Atomic and durable, as Backend::Commit.
  virtual absl::Status Commit(const KeystoreBatch& batch) = 0;
  // As Backend::List, records unsealed. A record that fails to unseal is an error (kKmsInternal),
  // never skipped.
  virtual absl::StatusOr<std::vector<KeystoreRecord>> List(std::string_view prefix,
                                                           std::string_view start_after,
                                                           size_t limit) = 0;
  // As Backend::Compact: deleted records leave nothing behind on disk.
  virtual absl::Status Compact() = 0;
};

// Opens the barrier over backend. On first use creates a random keyring key and stores it wrapped
// by seal under the reserved id "core/keyring"; afterwards unwraps it (failure = refuse to open).
// The keystore does not own backend or seal; both must outlive it.
absl::StatusOr<std::unique_ptr<Keystore>> OpenKeystore(Backend* backend, Seal* seal);

// For seals whose root key can be wrong (the shares seal, recombined from operators' shares): OK
// when seal unwraps the stored keyring key; kNotFound when none is stored (nothing to check
// against), kKmsInternal when it does not unwrap. Creates nothing.
absl::Status CheckKeyringUnwraps(Backend* backend, Seal* seal);

// Moves a data dir to another seal without re-encrypting any record: unwraps the stored keyring
// key with `from` and stores it wrapped by `to`, in one write. kNotFound when none is stored.
absl::Status RewrapKeyring(Backend* backend, Seal* from, Seal* to);

}  // namespace kmsd
