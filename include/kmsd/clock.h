// Time as an interface, so tests can move it. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace kmsd {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() const = 0;
};

// The system clock.
std::unique_ptr<Clock> NewSystemClock();

// ISO 8601 in UTC, to the second, as AWS's XML APIs and condition keys write dates:
// "2024-05-01T12:00:00Z".
std::string Iso8601(int64_t unix_seconds);

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
