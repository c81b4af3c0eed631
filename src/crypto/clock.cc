// The system clock.
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

}  // namespace kmsd
