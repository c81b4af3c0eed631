// `kmsd serve --storage sqlite|etcd` and the etcd flags (docs/HA.md): which backend a data dir
// serves from, recorded in DATA_DIR/storage.json so that a node never switches by accident.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/storage.h"

namespace CLI {
class App;
}

namespace kmsd::cmd {

inline constexpr char kStorageConfigFile[] = "storage.json";

struct StorageFlags {
  std::string storage = "sqlite";
  std::string etcd_endpoints;  // comma-separated client URLs
  std::string etcd_prefix = "kmsd/";
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
  int etcd_timeout_ms = 1500;
};

// Adds --storage, --etcd-endpoints, --etcd-prefix, --etcd-ca, --etcd-cert, --etcd-key and
// --etcd-timeout-ms to `kmsd serve`.
void AddStorageFlags(CLI::App& serve, StorageFlags& flags);

// Opens the backend the flags name for data_dir: SQLite in DATA_DIR/kmsd.db, or etcd (recording
// it in DATA_DIR/storage.json). Refuses (kValidation) a data dir that already serves the other
// storage, and etcd flags without --storage etcd.
absl::StatusOr<std::unique_ptr<Backend>> OpenServeBackend(const std::string& data_dir,
                                                          const StorageFlags& flags,
                                                          SqliteOptions sqlite_options = {});

// True when data_dir is (was started as) a node of an etcd cluster.
bool IsEtcdDataDir(const std::string& data_dir);

// What the operator must do when this node's root key does not open the keyring key another node
// stored in etcd.
std::string RootKeyMismatchAdvice(const std::string& data_dir);

}  // namespace kmsd::cmd
