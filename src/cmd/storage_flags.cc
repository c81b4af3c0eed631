// The storage flags of `kmsd serve` and the data dir's record of its storage.
#include "cmd/storage_flags.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kmsd/backup.h"
#include "kmsd/errors.h"
#include "kmsd/etcd_storage.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

namespace fs = std::filesystem;

std::string RecordedStorage(const std::string& data_dir) {
  std::ifstream file(fs::path(data_dir) / kStorageConfigFile);
  if (!file) return "";
  auto parsed = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("storage") || !parsed["storage"].is_string()) {
    return "unreadable";
  }
  return parsed["storage"].get<std::string>();
}

absl::Status RecordStorage(const std::string& data_dir, const StorageFlags& flags) {
  nlohmann::json record = {{"storage", flags.storage}, {"etcd_prefix", flags.etcd_prefix}};
  fs::path path = fs::path(data_dir) / kStorageConfigFile;
  fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << record.dump(2) << "\n";
    if (!file.flush()) return Internal(StrCat("cannot write ", temporary.string()));
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return Internal(StrCat("cannot write ", path.string(), ": ", ec.message()));
  return absl::OkStatus();
}

std::vector<std::string> SplitEndpoints(const std::string& text) {
  std::vector<std::string> endpoints;
  std::stringstream stream(text);
  std::string endpoint;
  while (std::getline(stream, endpoint, ',')) {
    while (!endpoint.empty() && endpoint.front() == ' ') endpoint.erase(endpoint.begin());
    while (!endpoint.empty() && endpoint.back() == ' ') endpoint.pop_back();
    if (!endpoint.empty()) endpoints.push_back(endpoint);
  }
  return endpoints;
}

}  // namespace

void AddStorageFlags(CLI::App& serve, StorageFlags& flags) {
  serve
      .add_option("--storage", flags.storage,
                  "sqlite (DATA_DIR/kmsd.db, one node) or etcd (several nodes sharing an etcd "
                  "cluster; docs/HA.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sqlite", "etcd"}));
  serve.add_option("--etcd-endpoints", flags.etcd_endpoints,
                   "Comma-separated client URLs of the etcd members (http://H1:2379,...)");
  serve.add_option("--etcd-prefix", flags.etcd_prefix, "Key prefix of this kmsd cluster in etcd")
      ->capture_default_str();
  serve.add_option("--etcd-ca", flags.etcd_ca, "PEM CA certificate of the etcd members (TLS)");
  serve.add_option("--etcd-cert", flags.etcd_cert, "PEM client certificate for etcd (TLS)");
  serve.add_option("--etcd-key", flags.etcd_key, "PEM private key of --etcd-cert");
  serve
      .add_option("--etcd-timeout-ms", flags.etcd_timeout_ms,
                  "Deadline of each etcd call; with quorum lost requests fail after it with "
                  "DependencyTimeoutException")
      ->capture_default_str()
      ->check(CLI::Range(100, 60000));
}

absl::StatusOr<std::unique_ptr<Backend>> OpenServeBackend(const std::string& data_dir,
                                                          const StorageFlags& flags,
                                                          SqliteOptions sqlite_options) {
  const std::string recorded = RecordedStorage(data_dir);
  const fs::path database = fs::path(data_dir) / backup::kDatabaseFile;
  if (flags.storage == "sqlite") {
    if (!flags.etcd_endpoints.empty()) {
      return Validation("--etcd-endpoints needs --storage etcd");
    }
    if (recorded == "etcd") {
      return Validation(StrCat(data_dir, " is the data dir of an etcd cluster node (",
                               kStorageConfigFile,
                               "): start it with --storage etcd and "
                               "--etcd-endpoints"));
    }
    auto backend = OpenSqliteBackend(database.string(), std::move(sqlite_options));
    if (!backend.ok()) return backend.status();
    return std::move(*backend);
  }
  if (!recorded.empty() && recorded != "etcd") {
    return Validation(
        StrCat(data_dir, "/", kStorageConfigFile, " records storage '", recorded, "', not etcd"));
  }
  std::error_code ec;
  if (recorded.empty() && fs::exists(database, ec)) {
    return Validation(StrCat(data_dir, " holds a SQLite database (", backup::kDatabaseFile,
                             "): its keys would not be in etcd. Start an etcd node on a new "
                             "data dir (docs/HA.md)"));
  }
  EtcdOptions options;
  options.endpoints = SplitEndpoints(flags.etcd_endpoints);
  if (options.endpoints.empty()) {
    return Validation("--storage etcd needs --etcd-endpoints http://HOST:PORT[,...]");
  }
  options.prefix = flags.etcd_prefix;
  options.ca_file = flags.etcd_ca;
  options.cert_file = flags.etcd_cert;
  options.key_file = flags.etcd_key;
  options.request_timeout = std::chrono::milliseconds(flags.etcd_timeout_ms);
  auto backend = OpenEtcdBackend(options);
  if (!backend.ok()) return backend.status();
  if (recorded.empty()) {
    if (auto status = RecordStorage(data_dir, flags); !status.ok()) return status;
  }
  return std::move(*backend);
}

bool IsEtcdDataDir(const std::string& data_dir) { return RecordedStorage(data_dir) == "etcd"; }

std::string RootKeyMismatchAdvice(const std::string& data_dir) {
  return StrCat(
      "the keyring key in etcd was stored by another kmsd node with a different root key. Every "
      "node of a cluster uses the first node's root of trust: stop this node, copy root.key "
      "from the first node's data dir to ",
      (fs::path(data_dir) / "root.key").string(),
      " (mode 0600, replacing the one this start created), and start it again (docs/HA.md)");
}

}  // namespace kmsd::cmd
