// `kmsd serve`'s first act: keep secrets out of core files and other processes' reach
// (docs/SECURITY.md, "Memory and core dumps").
#pragma once

#include "absl/status/status.h"

namespace CLI {
class App;
}
namespace kmsd::metrics {
class Registry;
}

namespace kmsd::cmd {

struct ProcessHardeningOptions {
  // For debugging a crash: the process stays dumpable and core files are allowed (up to the hard
  // RLIMIT_CORE). Pages of the secure arena and OpenSSL's secure heap are left out of cores anyway.
  bool allow_core_dumps = false;
  // The size of OpenSSL's secure heap, in MiB (a power of two). It holds the private keys of
  // asymmetric KMS keys while they are loaded (about 0.9 KiB per RSA_2048 key, 2.3 KiB per
  // RSA_4096, 32 bytes per ECC or Ed25519 key), OpenSSL's generator states and the TLS key; beyond
  // it OpenSSL silently uses its ordinary heap (kmsd_openssl_secure_heap_bytes shows the use).
  int openssl_secure_heap_mib = 4;
};

// Adds --allow-core-dumps and --openssl-secure-heap-mib to `kmsd serve`.
void AddProcessHardeningFlags(CLI::App& serve, ProcessHardeningOptions& options);

// kmsd_openssl_secure_heap_bytes{kind="size"|"used"}: how full OpenSSL's secure heap is.
void AddSecureHeapMetrics(metrics::Registry& registry);

// Call before any secret is read, after logging is configured. By default: RLIMIT_CORE 0 (soft
// and hard, so no core file is written) and PR_SET_DUMPABLE 0 (no core either, and other
// processes of the same user cannot ptrace kmsd or read /proc/PID/mem). Always: OpenSSL's secure
// heap (locked, out of dumps) for its own secrets, and the secure arena's warnings to the log.
// An error means the process could not be hardened; kmsd then refuses to start.
absl::Status HardenProcess(const ProcessHardeningOptions& options);

// HardenProcess with the defaults, for the subcommands that hold secrets (init and its shares,
// unseal and the share it reads, seal migrate and the root keys it moves), with their warnings on
// stderr (stdout carries what the command prints). On failure it prints why and answers false:
// the command must stop before it reads or makes a secret.
bool HardenCommand(const char* command);

}  // namespace kmsd::cmd
