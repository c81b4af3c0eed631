// The test clock; see clock.h. (The system clock itself lives in src/crypto/clock.cc.)
#include <ctime>

#include "kmsd/clock.h"

namespace kmsd {

int64_t AdvancingClock::NowSeconds() const {
  return static_cast<int64_t>(std::time(nullptr)) + offset_.load(std::memory_order_relaxed);
}

void AdvancingClock::Advance(int64_t seconds) {
  if (seconds > 0) offset_.fetch_add(seconds, std::memory_order_relaxed);
}

}  // namespace kmsd
