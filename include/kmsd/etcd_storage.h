// The etcd backend: kmsd's storage on an etcd v3 cluster (etcd 3.4's gRPC API), for several kmsd
// nodes sharing one store (docs/HA.md). Like SQLite it only ever sees sealed records. Thread-safe:
// any number of threads may call one backend; Watch and Elect run threads of their own, stopped
// when the backend (or the Leadership) is destroyed.
//
// Layout under the prefix P (default "kmsd/"): each record under P + "kv/" + id, election keys
// under P + "election/" + name. Every call carries gRPC metadata `hasleader: true` and a short
// deadline, so that with quorum lost it fails at once (kDependencyTimeout) rather than hang.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/storage.h"

namespace kmsd {

struct EtcdOptions {
  // Client URLs of the members: http://HOST:PORT or https://HOST:PORT (a bare HOST:PORT is
  // http, or https when ca_file is given). Calls go to one member and move to the next when it
  // fails, so a dead member does not stall requests.
  std::vector<std::string> endpoints;
  std::string prefix = "kmsd/";
  // TLS: PEM files of the CA that signed the members' certificates, and this client's
  // certificate and key when the members require client certificates. Empty: no such file.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Deadline of one call (a read, a transaction, a lease keep-alive), retries on other members
  // included.
  std::chrono::milliseconds request_timeout{1500};
  // Deadline of Compact's compaction and of each member's defragmentation (which rewrites the
  // member's whole database file).
  std::chrono::milliseconds compact_timeout{60000};
  // Lifetime of the election lease: a leader that cannot renew it stops leading within this
  // long, and another node takes over shortly after it expires.
  int election_ttl_seconds = 5;
};

// Checks the options and opens channels to the members; does not wait for any member to answer
// (the first call does). kValidation for malformed endpoints, prefix or options; kKmsInternal
// when a TLS file cannot be read.
absl::StatusOr<std::unique_ptr<Backend>> OpenEtcdBackend(const EtcdOptions& options);

// The limits of one etcd transaction (etcd's defaults --max-txn-ops and --max-request-bytes):
// Commit refuses a larger batch with kLimitExceeded, writing nothing.
inline constexpr size_t kEtcdMaxBatchOperations = 128;
inline constexpr size_t kEtcdMaxBatchBytes = 1536 * 1024;

}  // namespace kmsd
