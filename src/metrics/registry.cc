// The registry and the Prometheus text exposition format 0.0.4: HELP and TYPE lines, label values
// escaped, histograms as cumulative _bucket lines ending in le="+Inf", then _sum and _count.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kmsd/metrics.h"

namespace kmsd::metrics {
namespace {

[[noreturn]] void Abort(const std::string& why) {
  std::fprintf(stderr, "kmsd metrics: %s\n", why.c_str());
  std::abort();
}

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (allow_colon && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}`, with one more pair when extra_name is set (a histogram's le); nothing when
// there are no labels at all.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out.push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(names[i]).append("=\"").append(EscapeLabelValue(values[i])).push_back('"');
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out.push_back(',');
    out.append(extra_name).append("=\"").append(extra_value).push_back('"');
  }
  out.push_back('}');
}

void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& names, const std::vector<std::string>& values,
                  double value, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  out.append(name).append(suffix);
  AppendLabels(out, names, values, extra_name, extra_value);
  out.push_back(' ');
  out.append(FormatValue(value)).push_back('\n');
}

}  // namespace

struct Registry::Entry {
  std::string name;
  std::string help;
  MetricType type;
  std::vector<std::string> label_names;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
  std::function<bool(std::vector<Sample>&)> collect;
};

Registry::Registry() = default;
Registry::~Registry() = default;

void CheckLabelCount(size_t names, size_t values) {
  if (names != values) {
    Abort("a metric child was asked for with " + std::to_string(values) +
          " label values; its family has " + std::to_string(names) + " label names");
  }
}

Registry::Entry& Registry::Register(std::string name, std::string help, MetricType type,
                                    std::vector<std::string> label_names) {
  if (!ValidName(name, /*allow_colon=*/true)) Abort("invalid metric name \"" + name + "\"");
  for (const std::string& label : label_names) {
    if (!ValidName(label, /*allow_colon=*/false) || label.starts_with("__") ||
        (type == MetricType::kHistogram && label == "le")) {
      Abort("invalid label name \"" + label + "\" in " + name);
    }
  }
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries_) {
    if (entry->name == name) Abort("metric " + name + " registered twice");
  }
  auto entry = std::make_unique<Entry>();
  entry->name = std::move(name);
  entry->help = std::move(help);
  entry->type = type;
  entry->label_names = std::move(label_names);
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  Entry& entry = Register(std::move(name), std::move(help), MetricType::kCounter, label_names);
  entry.counters.reset(new Family<Counter>(std::move(label_names),
                                           [] { return std::make_unique<Counter>(); }));
  return *entry.counters;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  Entry& entry = Register(std::move(name), std::move(help), MetricType::kGauge, label_names);
  entry.gauges.reset(
      new Family<Gauge>(std::move(label_names), [] { return std::make_unique<Gauge>(); }));
  return *entry.gauges;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      Abort("histogram " + name + " needs strictly increasing finite bounds");
    }
  }
  Entry& entry = Register(std::move(name), std::move(help), MetricType::kHistogram, label_names);
  entry.histograms.reset(new Family<Histogram>(
      std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *entry.histograms;
}

void Registry::AddCollector(std::string name, std::string help, MetricType type,
                            std::vector<std::string> label_names,
                            std::function<bool(std::vector<Sample>& samples)> collect) {
  if (type == MetricType::kHistogram) Abort("a collector reports counters or gauges");
  Entry& entry = Register(std::move(name), std::move(help), type, std::move(label_names));
  entry.collect = std::move(collect);
}

std::string Registry::Render() const {
  std::vector<const Entry*> entries;
  {
    std::lock_guard lock(mutex_);
    for (const auto& entry : entries_) entries.push_back(entry.get());
  }
  std::string out;
  for (const Entry* entry : entries) {
    out.append("# HELP ").append(entry->name).append(" ").append(EscapeHelp(entry->help));
    out.append("\n# TYPE ").append(entry->name).append(" ").append(TypeName(entry->type));
    out.push_back('\n');
    const std::vector<std::string>& names = entry->label_names;
    if (entry->collect) {
      std::vector<Sample> samples;
      if (!entry->collect(samples)) continue;
      for (const Sample& sample : samples) {
        CheckLabelCount(names.size(), sample.label_values.size());
        AppendSample(out, entry->name, "", names, sample.label_values, sample.value);
      }
    } else if (entry->counters) {
      std::lock_guard lock(entry->counters->mutex_);
      for (const auto& [values, counter] : entry->counters->children_) {
        AppendSample(out, entry->name, "", names, values, static_cast<double>(counter->Value()));
      }
    } else if (entry->gauges) {
      std::lock_guard lock(entry->gauges->mutex_);
      for (const auto& [values, gauge] : entry->gauges->children_) {
        AppendSample(out, entry->name, "", names, values, gauge->Value());
      }
    } else if (entry->histograms) {
      std::lock_guard lock(entry->histograms->mutex_);
      for (const auto& [values, histogram] : entry->histograms->children_) {
        Histogram::Snapshot snapshot = histogram->Read();
        for (size_t i = 0; i < snapshot.bounds.size(); ++i) {
          AppendSample(out, entry->name, "_bucket", names, values,
                       static_cast<double>(snapshot.cumulative[i]), "le",
                       FormatValue(snapshot.bounds[i]));
        }
        AppendSample(out, entry->name, "_bucket", names, values,
                     static_cast<double>(snapshot.count), "le", "+Inf");
        AppendSample(out, entry->name, "_sum", names, values, snapshot.sum);
        AppendSample(out, entry->name, "_count", names, values,
                     static_cast<double>(snapshot.count));
      }
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  // Integers (counts, times in seconds) as integers; others in the shortest form that reads back
  // as the same double.
  if (value == std::trunc(value) && std::fabs(value) < 9.007199254740992e15) {
    auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, static_cast<int64_t>(value));
    return std::string(buffer, end);
  }
  // General form, as Go's strconv 'g' writes it (Prometheus's own clients): 0.0001, 1e-05.
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  return std::string(buffer, end);
}

}  // namespace kmsd::metrics
