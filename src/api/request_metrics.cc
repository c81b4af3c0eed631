// Requests by service, operation and error type, and their latency, counted without a lock.
#include "api/request_metrics.h"

#include <functional>

#include "kmsd/errors.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kUnknownOperation = "Unknown";

}  // namespace

RequestMetrics::RequestMetrics(metrics::Registry& registry)
    : requests_(registry.AddCounter(
          "kmsd_requests_total",
          "API requests answered, by service (kms, iam, sts), operation and error type (none "
          "for success).",
          {"service", "operation", "error"})),
      latency_(registry.AddHistogram(
          "kmsd_request_duration_seconds",
          "Time from a request's arrival at the router to its answer (audit record durable "
          "included), by service and operation.",
          {"service", "operation"}, metrics::LatencyBounds())) {}

RequestMetrics::~RequestMetrics() = default;

RequestMetrics::Series& RequestMetrics::Find(std::string_view service,
                                             std::string_view operation) {
  size_t start = std::hash<std::string_view>()(operation) ^
                 (std::hash<std::string_view>()(service) * 31);
  // Lock-free look-up of a series made earlier; slots are filled once and never change.
  for (size_t probe = 0; probe < kSlots; ++probe) {
    Series* series = slots_[(start + probe) % kSlots].load(std::memory_order_acquire);
    if (!series) break;
    if (series->operation == operation && series->service == service) return *series;
  }
  std::lock_guard lock(mutex_);
  for (size_t probe = 0; probe < kSlots; ++probe) {
    std::atomic<Series*>& slot = slots_[(start + probe) % kSlots];
    Series* series = slot.load(std::memory_order_acquire);
    if (series && series->operation == operation && series->service == service) return *series;
    if (series) continue;
    auto made = std::make_unique<Series>();
    made->service = std::string(service);
    made->operation = std::string(operation);
    made->latency = &latency_.WithLabels({service, operation});
    slot.store(made.get(), std::memory_order_release);
    owned_.push_back(std::move(made));
    return *owned_.back();
  }
  // Full: cannot happen with the bounded names Record passes; fail safe onto one series.
  if (!overflow_) {
    overflow_ = std::make_unique<Series>();
    overflow_->service = overflow_->operation = std::string(kUnknownOperation);
    overflow_->latency = &latency_.WithLabels({kUnknownOperation, kUnknownOperation});
  }
  return *overflow_;
}

void RequestMetrics::Record(const ServiceCodec& codec, std::string_view operation,
                            const absl::Status& status, double seconds) {
  if (operation.empty() || !codec.Serves(operation)) operation = kUnknownOperation;
  Series& series = Find(codec.SigningName(), operation);
  series.latency->Observe(seconds);
  ErrorType type = TypeOf(status);
  size_t index = static_cast<size_t>(type);
  std::string_view error = type == ErrorType::kNone ? std::string_view("none") : AwsName(type);
  if (index >= kErrorSlots) {
    requests_.WithLabels({series.service, series.operation, error}).Increment();
    return;
  }
  metrics::Counter* counter = series.requests[index].load(std::memory_order_acquire);
  if (!counter) {
    // Racing threads resolve the same child (the family keeps one per label set).
    counter = &requests_.WithLabels({series.service, series.operation, error});
    series.requests[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

}  // namespace kmsd::api
