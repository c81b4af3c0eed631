// The router's request metrics: kmsd_requests_total{service,operation,error} and
// kmsd_request_duration_seconds{service,operation}. Counting takes no lock: a request finds its
// (service, operation) series in a fixed table with atomic slots, and the series keeps one
// resolved counter per error type. Only operations a codec serves are named (a bounded set);
// anything else a client sends counts as "Unknown", so hostile names cannot grow the metrics.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "api/codec.h"
#include "kmsd/metrics.h"

namespace kmsd::api {

class RequestMetrics {
 public:
  explicit RequestMetrics(metrics::Registry& registry);
  ~RequestMetrics();

  // One answered request: its outcome (the status the client saw) and its latency.
  void Record(const ServiceCodec& codec, std::string_view operation, const absl::Status& status,
              double seconds);

 private:
  static constexpr size_t kSlots = 512;      // > every operation of every codec, twice over
  static constexpr size_t kErrorSlots = 64;  // > every ErrorType

  struct Series {
    std::string service;
    std::string operation;
    metrics::Histogram* latency = nullptr;
    std::array<std::atomic<metrics::Counter*>, kErrorSlots> requests{};
  };

  Series& Find(std::string_view service, std::string_view operation);

  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  std::array<std::atomic<Series*>, kSlots> slots_{};  // written once each, under mutex_
  std::mutex mutex_;
  std::vector<std::unique_ptr<Series>> owned_;  // GUARDED_BY(mutex_)
  std::unique_ptr<Series> overflow_;            // GUARDED_BY(mutex_)
};

}  // namespace kmsd::api
