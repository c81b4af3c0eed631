// The progress line's text for known and unknown totals.
#include <gtest/gtest.h>

#include "kmsd/client_progress.h"

namespace kmsd::client {
namespace {

constexpr uint64_t kMiB = 1 << 20;

TEST(HumanBytes, PicksTheLargestUnitBelowTheValue) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(12.0 * kMiB), "12.0 MiB");
  EXPECT_EQ(HumanBytes(3.25 * 1024 * kMiB), "3.2 GiB");
}

TEST(RenderProgress, KnownTotalDrawsABarPercentAndRate) {
  EXPECT_EQ(RenderProgress(12 * kMiB, 24 * kMiB, 2.0),
            "[##########----------]  50%  12.0 MiB / 24.0 MiB  6.0 MiB/s");
  EXPECT_EQ(RenderProgress(0, 24 * kMiB, 0.0), "[--------------------]   0%  0 B / 24.0 MiB");
  EXPECT_EQ(RenderProgress(24 * kMiB, 24 * kMiB, 1.0),
            "[####################] 100%  24.0 MiB / 24.0 MiB  24.0 MiB/s");
}

TEST(RenderProgress, AFileThatGrewStopsAtOneHundredPercent) {
  EXPECT_EQ(RenderProgress(30 * kMiB, 24 * kMiB, 0.0),
            "[####################] 100%  24.0 MiB / 24.0 MiB");
  EXPECT_EQ(RenderProgress(0, 0, 0.0), "[####################] 100%  0 B / 0 B");
}

TEST(RenderProgress, UnknownTotalShowsBytesDone) {
  EXPECT_EQ(RenderProgress(9 * kMiB, std::nullopt, 3.0), "9.0 MiB  3.0 MiB/s");
}

}  // namespace
}  // namespace kmsd::client
