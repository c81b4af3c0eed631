// Requests the net layer refused before any handler saw them (malformed, too large, too slow:
// kmsd::HttpRefusal) recorded in the audit trail, bounded so that a flood of them cannot fill
// the disk. Thread-safe; Record never blocks.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kmsd/audit.h"
#include "kmsd/http.h"

namespace kmsd::audit {

// The eventName of such a record; its errorCode says why (SerializationException,
// RequestEntityTooLargeException, RequestHeaderFieldsTooLargeException, RequestTimeoutException).
inline constexpr std::string_view kInvalidHttpRequestEvent = "InvalidHttpRequest";

struct RefusalAuditOptions {
  // Records at most, per one-second window, from one client address and from all together.
  // What is over either is counted, not recorded.
  int per_client_per_second = 5;
  int total_per_second = 50;
  // Told how many refusals went unrecorded, at most once a window (when a refusal arrives in a
  // later window) and at destruction. Must not block. Unset: not told.
  std::function<void(uint64_t unrecorded)> on_unrecorded;
  // Seconds on a monotonic clock; unset = std::chrono::steady_clock. Tests move it.
  std::function<int64_t()> now_seconds;
};

class RefusalAudit {
 public:
  // log is not owned and must outlive this.
  RefusalAudit(AuditLog* log, RefusalAuditOptions options);
  ~RefusalAudit();
  RefusalAudit(const RefusalAudit&) = delete;
  RefusalAudit& operator=(const RefusalAudit&) = delete;

  // Records the refusal (asynchronously: the answer, if any, has gone already) unless its
  // window's budget is spent. The record holds the client's address, its User-Agent (cut to 256
  // bytes), the method and path (no query string, cut to 256 bytes), the HTTP status answered
  // (0: none) and, after a suppression, how many refusals before it went unrecorded; never a
  // body or any other header.
  void Record(const HttpRefusal& refusal);

  // Refusals not recorded since this began.
  uint64_t UnrecordedTotal() const;

 private:
  int64_t Now() const;

  AuditLog* const log_;
  const RefusalAuditOptions options_;
  mutable std::mutex mutex_;
  int64_t window_ = 0;                               // guarded by mutex_
  int recorded_in_window_ = 0;                       // guarded by mutex_
  std::unordered_map<std::string, int> per_client_;  // guarded by mutex_; this window's
  uint64_t unrecorded_since_record_ = 0;             // guarded by mutex_
  uint64_t unrecorded_unreported_ = 0;               // guarded by mutex_
  uint64_t unrecorded_total_ = 0;                    // guarded by mutex_
};

}  // namespace kmsd::audit
