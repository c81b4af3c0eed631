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

int64_t AdvancingClock::NowSeconds() const {
  return static_cast<int64_t>(std::time(nullptr)) + offset_.load(std::memory_order_relaxed);
}

void AdvancingClock::Advance(int64_t seconds) {
  if (seconds > 0) offset_.fetch_add(seconds, std::memory_order_relaxed);
}

}  // namespace kmsd
