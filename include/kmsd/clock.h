// Time as an interface, so tests can move it. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>

namespace kmsd {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() const = 0;
};

// The system clock.
std::unique_ptr<Clock> NewSystemClock();

}  // namespace kmsd
