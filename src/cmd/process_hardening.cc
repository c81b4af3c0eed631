// Process-wide protections of secrets for `kmsd serve`: no core files, not dumpable, OpenSSL's
// secure heap, and the secure arena's warnings routed to the log.
#include "cmd/process_hardening.h"

#include <openssl/crypto.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/metrics.h"
#include "kmsd/secure_memory.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

// OpenSSL's secure heap (BN_secure_new) holds its DRBG seeds, the private key of --tls-key and
// those of asymmetric KMS keys; its size is --openssl-secure-heap-mib. Beyond it OpenSSL silently
// uses its ordinary heap.
constexpr size_t kOpenSslSecureHeapMinimumBlock = 16;
constexpr int kMaxOpenSslSecureHeapMib = 1024;

// The size set up, for the metric.
size_t& SecureHeapBytes() {
  static size_t bytes = 0;
  return bytes;
}

absl::Status SystemError(const char* what) {
  return Internal(StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

void AddProcessHardeningFlags(CLI::App& serve, ProcessHardeningOptions& options) {
  serve.add_flag("--allow-core-dumps", options.allow_core_dumps,
                 "DEBUGGING ONLY: keep the process dumpable and allow core files (up to the hard "
                 "RLIMIT_CORE). Key material stays out of cores; request and response buffers "
                 "may not (docs/SECURITY.md)");
  serve
      .add_option("--openssl-secure-heap-mib", options.openssl_secure_heap_mib,
                  "Size of OpenSSL's secure heap (locked, out of core dumps) in MiB, a power of "
                  "two: it holds asymmetric KMS keys' private keys while loaded (about 0.9 KiB per "
                  "RSA_2048 key); beyond it OpenSSL uses its ordinary heap (docs/SECURITY.md)")
      ->check([](const std::string& text) -> std::string {
        int mib = 0;
        try {
          mib = std::stoi(text);
        } catch (...) {
          return "must be a number of MiB";
        }
        if (mib < 1 || mib > kMaxOpenSslSecureHeapMib || (mib & (mib - 1)) != 0) {
          return StrCat("must be a power of two from 1 to ", kMaxOpenSslSecureHeapMib,
                        " (MiB), not ", text);
        }
        return "";
      });
}

void AddSecureHeapMetrics(metrics::Registry& registry) {
  registry.AddCollector(
      "kmsd_openssl_secure_heap_bytes",
      "OpenSSL's secure heap (--openssl-secure-heap-mib), by kind: size, used. Private keys that "
      "do not fit go to the ordinary heap.",
      metrics::MetricType::kGauge, {"kind"}, [](std::vector<metrics::Sample>& samples) {
        if (CRYPTO_secure_malloc_initialized() == 0) return false;
        samples.push_back({{"size"}, static_cast<double>(SecureHeapBytes())});
        samples.push_back({{"used"}, static_cast<double>(CRYPTO_secure_used())});
        return true;
      });
}

absl::Status HardenProcess(const ProcessHardeningOptions& options) {
  SecureArena::SetProcessWarningHandler(
      [](const std::string& message) { spdlog::warn("{}", message); });
  if (options.allow_core_dumps) {
    rlimit core{};
    if (getrlimit(RLIMIT_CORE, &core) != 0) return SystemError("getrlimit(RLIMIT_CORE)");
    core.rlim_cur = core.rlim_max;
    if (setrlimit(RLIMIT_CORE, &core) != 0) return SystemError("setrlimit(RLIMIT_CORE)");
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) return SystemError("prctl(PR_SET_DUMPABLE)");
    spdlog::warn(
        "core dumps allowed (--allow-core-dumps): key material is excluded from them, but a core "
        "may still hold request and response buffers with plaintext; for debugging only");
  } else {
    rlimit none{0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return SystemError("setrlimit(RLIMIT_CORE, 0)");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return SystemError("prctl(PR_SET_DUMPABLE, 0)");
  }
  int mib = options.openssl_secure_heap_mib;
  if (mib < 1 || mib > kMaxOpenSslSecureHeapMib || (mib & (mib - 1)) != 0) {
    // OpenSSL aborts the process on a size that is not a power of two.
    return absl::InvalidArgumentError(StrCat("--openssl-secure-heap-mib must be a power of two from 1 to ",
                                  kMaxOpenSslSecureHeapMib, ", not ", mib));
  }
  if (CRYPTO_secure_malloc_initialized() == 0) {
    size_t bytes = static_cast<size_t>(mib) << 20;
    int secure_heap = CRYPTO_secure_malloc_init(bytes, kOpenSslSecureHeapMinimumBlock);
    if (secure_heap != 0) SecureHeapBytes() = bytes;
    if (secure_heap == 0) {
      spdlog::warn("cannot set up OpenSSL's secure heap: its secrets use its ordinary heap");
    } else if (secure_heap == 2) {
      spdlog::warn("OpenSSL's secure heap could not be locked in memory (RLIMIT_MEMLOCK)");
    }
  }
  return absl::OkStatus();
}

bool HardenCommand(const char* command) {
  spdlog::set_default_logger(spdlog::stderr_color_st(StrCat("kmsd ", command)));
  absl::Status hardened = HardenProcess(ProcessHardeningOptions{});
  if (hardened.ok()) return true;
  std::cerr << "kmsd " << command << ": cannot protect secrets in memory: "
            << ToStd(hardened.message()) << "\n";
  return false;
}

}  // namespace kmsd::cmd
