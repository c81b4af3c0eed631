// Metrics for operators: counters, gauges and histograms, with labels, written in the Prometheus
// text exposition format 0.0.4 (docs/METRICS.md lists what kmsd exports).
//
// Thread-safety: everything here may be used from any thread. The hot path is lock-free: a
// Counter, Gauge or Histogram child is a few atomics; resolving a child by its label values takes
// its family's mutex, so callers on the request path resolve a child once and keep the reference
// (children live as long as their registry, never move and are never removed). Values that are
// cheaper to read than to keep (keys by state, open connections) are Collectors, asked at scrape
// time. Registration happens at start-up; the names and label names are checked then, and a
// programming error (a bad or repeated name) aborts.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kmsd::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// Monotonic count of events. Padded to a cache line so that hot counters do not share one.
class alignas(64) Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class alignas(64) Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (le), plus their sum and count. A
// scrape reads the buckets one by one, so it may see an observation in a bucket and not yet in
// the sum; the count is the sum of the buckets, so buckets and count always agree.
class Histogram {
 public:
  // `bounds`: strictly increasing, finite upper bounds; +Inf is implicit.
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds, 100 µs to 10 s (audit fdatasync, requests).
std::vector<double> LatencyBounds();
// `count` bounds start, start*factor, ...
std::vector<double> ExponentialBounds(double start, double factor, int count);

// One metric name with its label names; one child per combination of label values.
template <typename Child>
class Family {
 public:
  // The child for these label values (one per label name, in order), made on first use.
  Child& WithLabels(std::initializer_list<std::string_view> values);
  Child& WithLabels(const std::vector<std::string>& values);
  // The child of a family without labels.
  Child& Get() { return WithLabels(std::vector<std::string>{}); }

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Child>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Child>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>> children_;  // GUARDED_BY(mutex_)
};

// What a Collector reports: one sample per combination of label values.
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;
};

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  // A counter or gauge whose samples `collect` computes at each scrape (it runs on the scraping
  // thread, may block briefly, and must be thread-safe). Should it fail, it returns false and the
  // family is written with no samples.
  void AddCollector(std::string name, std::string help, MetricType type,
                    std::vector<std::string> label_names,
                    std::function<bool(std::vector<Sample>& samples)> collect);

  // Every family in registration order, children in label order, as the text format 0.0.4.
  std::string Render() const;

 private:
  struct Entry;
  Entry& Register(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;  // GUARDED_BY(mutex_)
};

// kmsd_build_info{version="<CMake project version>"} 1 and process_start_time_seconds.
void AddProcessMetrics(Registry& registry);
// The CMake project version kmsd was built as.
std::string_view BuildVersion();

// The Content-Type of Render()'s output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// Text-format pieces, exposed for tests: a label value with \ " and newline escaped; a HELP text
// with \ and newline escaped; a sample value (integers without a fraction, +Inf, -Inf, NaN).
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
std::string FormatValue(double value);

// --- Implementation of the templates ---

template <typename Child>
Child& Family<Child>::WithLabels(std::initializer_list<std::string_view> values) {
  std::vector<std::string> copied;
  copied.reserve(values.size());
  for (std::string_view value : values) copied.emplace_back(value);
  return WithLabels(copied);
}

void CheckLabelCount(size_t names, size_t values);  // aborts on a mismatch

template <typename Child>
Child& Family<Child>::WithLabels(const std::vector<std::string>& values) {
  CheckLabelCount(label_names_.size(), values.size());
  std::lock_guard lock(mutex_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(values, make_()).first;
  return *it->second;
}

}  // namespace kmsd::metrics
