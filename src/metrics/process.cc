// The process's own metrics: what build runs, and since when.
#include <chrono>

#include "kmsd/metrics.h"
#include "kmsd/version.h"

namespace kmsd::metrics {
namespace {

// Taken while the program loads, before main: as near the process's start as a library gets.
const double kStartSeconds =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

}  // namespace

std::string_view BuildVersion() { return kVersion; }

void AddProcessMetrics(Registry& registry) {
  registry.AddGauge("kmsd_build_info", "Always 1; the version label names the running build.",
                    {"version"})
      .WithLabels({BuildVersion()})
      .Set(1);
  registry.AddGauge("process_start_time_seconds",
                    "Start time of the process since the Unix epoch, in seconds.")
      .Get()
      .Set(kStartSeconds);
}

}  // namespace kmsd::metrics
