// kmsd's server log: text or JSON lines on stdout, and the access log (one line per request).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmsd/api.h"

namespace spdlog {
class logger;
}

namespace kmsd::cmd {

enum class LogFormat { kText, kJson };

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);

// Sets the default logger's level and line format. Text lines: "<UTC time> <level> <message>";
// JSON lines: {"time": ..., "level": ..., "message": ...}. Times are UTC with milliseconds.
absl::Status ConfigureLogging(LogFormat format, std::string_view level);

// The access log: one line per request, at info level, through the default logger's sinks.
// Fields: request id, principal (ARN, or the claimed access key id when authentication failed),
// operation, HTTP status, error type, latency, client address. Never the request's body.
class AccessLog {
 public:
  // What a line needs from a request, taken while its outcome is valid (RequestOutcome lives
  // only during the on_request call; the line is written when the audit has recorded it).
  struct Entry {
    std::string request_id;
    std::string principal;
    std::string operation;
    std::string remote_address;
    std::chrono::steady_clock::time_point received_at;
  };

  explicit AccessLog(LogFormat format);
  Entry Begin(const RequestOutcome& outcome) const;
  // Writes the line; the latency runs from the request's arrival until now.
  void Write(const Entry& entry, const absl::Status& final_status) const;

 private:
  LogFormat format_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kmsd::cmd
