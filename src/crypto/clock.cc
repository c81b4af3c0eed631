// The system clock, and the test clock that runs ahead of it (see clock.h).
#include "kmsd/clock.h"

#include <ctime>

namespace kmsd {
namespace {

class SystemClock final : public Clock {
 public:
  int64_t NowSeconds() const override { return static_cast<int64_t>(std::time(nullptr)); }
};

}  // namespace

std::unique_ptr<Clock> NewSystemClock() { return std::make_unique<SystemClock>(); }

std::string Iso8601(int64_t unix_seconds) {
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  size_t size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text, size);
}

int64_t AdvancingClock::NowSeconds() const {
  return static_cast<int64_t>(std::time(nullptr)) + offset_.load(std::memory_order_relaxed);
}

void AdvancingClock::Advance(int64_t seconds) {
  if (seconds > 0) offset_.fetch_add(seconds, std::memory_order_relaxed);
}

}  // namespace kmsd
