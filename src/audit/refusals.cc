// Refused HTTP requests in the audit trail: a rate limit per client and in total, then one
// record built like any other (audit/event.cc) from a synthetic request that carries only what
// is safe and small.
#include <chrono>
#include <utility>

#include "audit/event.h"
#include "kmsd/audit_refusals.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

constexpr size_t kMaxRecordedFieldBytes = 256;

std::string_view Cut(std::string_view text) { return text.substr(0, kMaxRecordedFieldBytes); }

}  // namespace

RefusalAudit::RefusalAudit(AuditLog* log, RefusalAuditOptions options)
    : log_(log), options_(std::move(options)) {
  window_ = Now();
}

RefusalAudit::~RefusalAudit() {
  if (unrecorded_unreported_ > 0 && options_.on_unrecorded) {
    options_.on_unrecorded(unrecorded_unreported_);
  }
}

int64_t RefusalAudit::Now() const {
  if (options_.now_seconds) return options_.now_seconds();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t RefusalAudit::UnrecordedTotal() const {
  std::lock_guard lock(mutex_);
  return unrecorded_total_;
}

void RefusalAudit::Record(const HttpRefusal& refusal) {
  const HttpRequest& seen = refusal.request;
  uint64_t report = 0;
  uint64_t unrecorded_before = 0;
  bool record = false;
  {
    std::lock_guard lock(mutex_);
    int64_t now = Now();
    if (now != window_) {
      window_ = now;
      recorded_in_window_ = 0;
      per_client_.clear();  // holds at most total_per_second addresses
      report = std::exchange(unrecorded_unreported_, 0);
    }
    if (recorded_in_window_ < options_.total_per_second) {
      auto [client, inserted] = per_client_.try_emplace(seen.remote_address, 0);
      if (client->second < options_.per_client_per_second) {
        ++client->second;
        ++recorded_in_window_;
        record = true;
        unrecorded_before = std::exchange(unrecorded_since_record_, 0);
      } else if (inserted) {
        per_client_.erase(client);
      }
    }
    if (!record) {
      ++unrecorded_since_record_;
      ++unrecorded_unreported_;
      ++unrecorded_total_;
    }
  }
  if (report > 0 && options_.on_unrecorded) options_.on_unrecorded(report);
  if (!record) return;

  // Only what identifies the attempt, each bounded: the trail must not become a way to store
  // an attacker's bytes.
  HttpRequest request;
  request.remote_address = seen.remote_address;
  request.request_id = seen.request_id;
  request.secure = seen.secure;
  for (const auto& [name, value] : seen.headers) {
    if (name != "user-agent") continue;
    request.headers.emplace_back("user-agent", std::string(Cut(value)));
    break;
  }
  std::string parameters = "{";
  auto member = [&parameters](std::string_view name) {
    if (parameters.size() > 1) parameters += ',';
    AppendJsonString(parameters, name);
    parameters += ':';
  };
  if (!seen.method.empty()) {
    member("httpMethod");
    AppendJsonString(parameters, Cut(seen.method));
  }
  if (!seen.target.empty()) {
    std::string_view path = seen.target;
    path = path.substr(0, path.find('?'));  // a query string may carry a presigned signature
    member("path");
    AppendJsonString(parameters, Cut(path));
  }
  member("httpStatus");
  parameters += std::to_string(refusal.http_status);
  if (unrecorded_before > 0) {
    member("refusalsNotRecordedBefore");
    parameters += std::to_string(unrecorded_before);
  }
  parameters += '}';

  RequestOutcome outcome{.operation = kInvalidHttpRequestEvent,
                         .http = request,
                         .principal = nullptr,
                         .status = refusal.status,
                         .request_parameters_json = parameters};
  // Nothing waits for the record: the refusal has been answered (or the connection closed). A
  // trail that cannot be written refuses every later request anyway.
  log_->RecordAsync(outcome, [](absl::Status) {});
}

}  // namespace kmsd::audit
