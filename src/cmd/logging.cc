#include "cmd/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

// "2026-12-01T03:12:40.123Z"
std::string UtcTime(std::chrono::system_clock::time_point time) {
  auto since_epoch = time.time_since_epoch();
  std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000);
  std::tm tm;
  gmtime_r(&seconds, &tm);
  char text[40];
  size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof(text) - n, ".%03dZ", millis);
  return text;
}

std::string Dump(const nlohmann::ordered_json& object) {
  // Invalid UTF-8 in a message (a client's header, say) is replaced, never a crash or bad JSON.
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// One JSON object per line. Messages written as JSON objects already (the access log's) are
// merged into the line rather than quoted.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    nlohmann::ordered_json line;
    line["time"] = UtcTime(msg.time);
    line["level"] = std::string_view(spdlog::level::to_string_view(msg.level).data(),
                                     spdlog::level::to_string_view(msg.level).size());
    if (msg.logger_name.size() > 0) {
      line["logger"] = std::string_view(msg.logger_name.data(), msg.logger_name.size());
    }
    nlohmann::ordered_json fields;
    if (!payload.empty() && payload.front() == '{') {
      fields = nlohmann::ordered_json::parse(payload, nullptr, /*allow_exceptions=*/false);
    }
    if (fields.is_object()) {
      for (auto& [key, value] : fields.items()) line[key] = std::move(value);
    } else {
      line["message"] = payload;
    }
    std::string text = Dump(line);
    text.push_back('\n');
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

void SetFormat(spdlog::logger& logger, LogFormat format) {
  if (format == LogFormat::kJson) {
    logger.set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger.set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
  }
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Validation(StrCat("--log-format must be text or json, not \"", name, "\""));
}

absl::Status ConfigureLogging(LogFormat format, std::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know: a typo must not silence the log.
  if (parsed == spdlog::level::off && level != "off") {
    return Validation(StrCat("--log-level must be one of trace, debug, info, warn, error, "
                             "critical, off; not \"",
                             level, "\""));
  }
  spdlog::set_level(parsed);
  SetFormat(*spdlog::default_logger(), format);
  return absl::OkStatus();
}

AccessLog::AccessLog(LogFormat format) : format_(format) {
  auto& sinks = spdlog::default_logger()->sinks();
  logger_ = std::make_shared<spdlog::logger>("access", sinks.begin(), sinks.end());
  logger_->set_level(spdlog::default_logger()->level());
  if (format == LogFormat::kJson) {
    logger_->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger_->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %n %v", spdlog::pattern_time_type::utc));
  }
}

AccessLog::Entry AccessLog::Begin(const RequestOutcome& outcome) const {
  Entry entry;
  entry.request_id = outcome.http.request_id;
  entry.principal = outcome.principal ? outcome.principal->arn
                    : outcome.claimed_access_key_id.empty()
                        ? std::string("-")
                        : StrCat("unauthenticated:", outcome.claimed_access_key_id);
  entry.operation = outcome.operation.empty() ? "-" : std::string(outcome.operation);
  entry.remote_address = outcome.http.remote_address;
  entry.received_at = outcome.http.received_at;
  return entry;
}

void AccessLog::Write(const Entry& entry, const absl::Status& final_status) const {
  if (!logger_->should_log(spdlog::level::info)) return;
  ErrorType error = final_status.ok() ? ErrorType::kNone : TypeOf(final_status);
  int http_status = final_status.ok() ? 200 : HttpStatus(error);
  double latency_ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - entry.received_at)
                          .count();
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json line = {{"request_id", entry.request_id},
                           {"principal", entry.principal},
                           {"operation", entry.operation},
                           {"status", http_status},
                           {"error", final_status.ok() ? std::string_view() : AwsName(error)},
                           {"latency_ms", std::round(latency_ms * 1000) / 1000},
                           {"remote", entry.remote_address}};
    logger_->info(Dump(line));
    return;
  }
  logger_->info("{} {} {} {} {} {:.3f}ms {}", entry.request_id, entry.principal, entry.operation,
                http_status, final_status.ok() ? std::string_view("-") : AwsName(error),
                latency_ms, entry.remote_address);
}

}  // namespace kmsd::cmd
