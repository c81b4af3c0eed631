// `kmsd serve`'s first act: keep secrets out of core files and other processes' reach
// (docs/SECURITY.md, "Memory and core dumps").
#pragma once

#include "absl/status/status.h"

namespace CLI {
class App;
}

namespace kmsd::cmd {

struct ProcessHardeningOptions {
  // For debugging a crash: the process stays dumpable and core files are allowed (up to the hard
  // RLIMIT_CORE). Pages of the secure arena and OpenSSL's secure heap are left out of cores anyway.
  bool allow_core_dumps = false;
};

// Adds --allow-core-dumps to `kmsd serve`.
void AddProcessHardeningFlags(CLI::App& serve, ProcessHardeningOptions& options);

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
