// Time as an interface, so tests can move it. Thread-safe.
#pragma once

#include <atomic>
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

// The system clock plus an offset that only moves forward: for tests that must see days pass
// (scheduled deletion, rotation). kmsd uses it only when started in its guarded test mode.
class AdvancingClock : public Clock {
 public:
  int64_t NowSeconds() const override;
  void Advance(int64_t seconds);

 private:
  std::atomic<int64_t> offset_{0};
};

}  // namespace kmsd
