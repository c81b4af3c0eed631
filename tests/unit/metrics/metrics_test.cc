// The metrics library: the Prometheus text format 0.0.4 exactly as scrapers parse it (HELP and
// TYPE lines, escaping, cumulative histogram buckets with +Inf, _sum and _count), and counting
// from many threads without losing an increment.
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kmsd/metrics.h"

namespace kmsd::metrics {
namespace {

TEST(MetricsFormat, ACounterHasHelpTypeAndOneLinePerChild) {
  Registry registry;
  auto& requests = registry.AddCounter("kmsd_requests_total", "Requests answered.",
                                       {"operation", "error"});
  requests.WithLabels({"Encrypt", "none"}).Increment(3);
  requests.WithLabels({"Decrypt", "AccessDeniedException"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP kmsd_requests_total Requests answered.\n"
            "# TYPE kmsd_requests_total counter\n"
            "kmsd_requests_total{operation=\"Decrypt\",error=\"AccessDeniedException\"} 1\n"
            "kmsd_requests_total{operation=\"Encrypt\",error=\"none\"} 3\n");
}

TEST(MetricsFormat, AFamilyWithoutLabelsWritesTheBareName) {
  Registry registry;
  registry.AddGauge("kmsd_up", "Always 1.").Get().Set(1);
  EXPECT_EQ(registry.Render(), "# HELP kmsd_up Always 1.\n# TYPE kmsd_up gauge\nkmsd_up 1\n");
}

TEST(MetricsFormat, AFamilyWithNoChildYetWritesOnlyItsHelpAndType) {
  Registry registry;
  registry.AddCounter("kmsd_things_total", "Things.", {"kind"});
  EXPECT_EQ(registry.Render(), "# HELP kmsd_things_total Things.\n# TYPE kmsd_things_total counter\n");
}

TEST(MetricsFormat, LabelValuesEscapeBackslashQuoteAndNewline) {
  Registry registry;
  registry.AddCounter("c_total", "c", {"v"}).WithLabels({"a\\b\"c\nd"}).Increment();
  EXPECT_NE(registry.Render().find("c_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"), std::string::npos)
      << registry.Render();
}

TEST(MetricsFormat, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("a\\b\n\"c\""), "a\\\\b\\n\"c\"");
}

TEST(MetricsFormat, ValuesAreIntegersInfinitiesNaNOrShortestDecimals) {
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(FormatValue(1714557600), "1714557600");
}

TEST(MetricsFormat, AHistogramHasCumulativeBucketsEndingInInfThenSumAndCount) {
  Registry registry;
  auto& latency = registry.AddHistogram("kmsd_latency_seconds", "Latency.", {"operation"},
                                        {0.1, 0.5, 1});
  Histogram& encrypt = latency.WithLabels({"Encrypt"});
  encrypt.Observe(0.05);
  encrypt.Observe(0.1);  // on a bound: counted in that bucket (le)
  encrypt.Observe(0.7);
  encrypt.Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP kmsd_latency_seconds Latency.\n"
            "# TYPE kmsd_latency_seconds histogram\n"
            "kmsd_latency_seconds_bucket{operation=\"Encrypt\",le=\"0.1\"} 2\n"
            "kmsd_latency_seconds_bucket{operation=\"Encrypt\",le=\"0.5\"} 2\n"
            "kmsd_latency_seconds_bucket{operation=\"Encrypt\",le=\"1\"} 3\n"
            "kmsd_latency_seconds_bucket{operation=\"Encrypt\",le=\"+Inf\"} 4\n"
            "kmsd_latency_seconds_sum{operation=\"Encrypt\"} 3.85\n"
            "kmsd_latency_seconds_count{operation=\"Encrypt\"} 4\n");
}

TEST(MetricsFormat, AHistogramWithoutLabelsHasOnlyLeOnItsBuckets) {
  Registry registry;
  registry.AddHistogram("batch", "Batch size.", {}, {1, 2}).Get().Observe(2);
  std::string text = registry.Render();
  EXPECT_NE(text.find("batch_bucket{le=\"1\"} 0\nbatch_bucket{le=\"2\"} 1\n"
                      "batch_bucket{le=\"+Inf\"} 1\nbatch_sum 2\nbatch_count 1\n"),
            std::string::npos)
      << text;
}

TEST(MetricsFormat, ACollectorIsAskedAtEachScrape) {
  Registry registry;
  int scrapes = 0;
  registry.AddCollector("kmsd_keys", "Keys by state.", MetricType::kGauge, {"state"},
                        [&](std::vector<Sample>& samples) {
                          ++scrapes;
                          samples.push_back({{"Enabled"}, static_cast<double>(scrapes)});
                          return true;
                        });
  EXPECT_NE(registry.Render().find("kmsd_keys{state=\"Enabled\"} 1\n"), std::string::npos);
  EXPECT_NE(registry.Render().find("kmsd_keys{state=\"Enabled\"} 2\n"), std::string::npos);
}

TEST(MetricsFormat, AFailingCollectorLeavesItsFamilyWithoutSamples) {
  Registry registry;
  registry.AddCollector("kmsd_keys", "Keys.", MetricType::kGauge, {"state"},
                        [](std::vector<Sample>& samples) {
                          samples.push_back({{"Enabled"}, 1});
                          return false;
                        });
  registry.AddGauge("after", "After.").Get().Set(2);
  EXPECT_EQ(registry.Render(),
            "# HELP kmsd_keys Keys.\n# TYPE kmsd_keys gauge\n"
            "# HELP after After.\n# TYPE after gauge\nafter 2\n");
}

TEST(MetricsFamily, TheSameLabelValuesGiveTheSameChild) {
  Registry registry;
  auto& family = registry.AddCounter("c_total", "c", {"a"});
  EXPECT_EQ(&family.WithLabels({"x"}), &family.WithLabels(std::vector<std::string>{"x"}));
  EXPECT_NE(&family.WithLabels({"x"}), &family.WithLabels({"y"}));
}

TEST(MetricsFamilyDeathTest, AWrongNumberOfLabelValuesIsAProgrammingError) {
  Registry registry;
  auto& family = registry.AddCounter("c_total", "c", {"a", "b"});
  EXPECT_DEATH(family.WithLabels({"only-one"}), "label values");
}

TEST(MetricsRegistryDeathTest, InvalidOrRepeatedNamesAreProgrammingErrors) {
  EXPECT_DEATH(Registry().AddCounter("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(Registry().AddCounter("ok", "x", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {"le"}, {1}), "invalid label name");
  EXPECT_DEATH(Registry().AddHistogram("h", "x", {}, {2, 1}), "increasing");
  EXPECT_DEATH(
      {
        Registry registry;
        registry.AddGauge("twice", "x");
        registry.AddCounter("twice", "x");
      },
      "registered twice");
}

TEST(MetricsConcurrency, CountersAndHistogramsLoseNoIncrementAcrossThreads) {
  Registry registry;
  Counter& counter = registry.AddCounter("c_total", "c").Get();
  Histogram& histogram = registry.AddHistogram("h", "h", {}, {0.5}).Get();
  constexpr int kThreads = 8;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        counter.Increment();
        histogram.Observe(i % 2 ? 1.0 : 0.25);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter.Value(), uint64_t{kThreads} * kEach);
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count, uint64_t{kThreads} * kEach);
  EXPECT_EQ(snapshot.cumulative[0], uint64_t{kThreads} * kEach / 2);
  EXPECT_DOUBLE_EQ(snapshot.sum, kThreads * (kEach / 2) * 1.25);
}

TEST(MetricsGauge, SetAndAddMoveTheValue) {
  Gauge gauge;
  gauge.Set(5);
  gauge.Add(-2);
  EXPECT_DOUBLE_EQ(gauge.Value(), 3);
}

}  // namespace
}  // namespace kmsd::metrics
