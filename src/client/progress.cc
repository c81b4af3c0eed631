// The text of kms's progress line (include/kmsd/client_progress.h).
#include <algorithm>
#include <cstdio>

#include "kmsd/client_progress.h"
#include "kmsd/strings.h"

namespace kmsd::client {

std::string HumanBytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%.0f B", bytes);
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s", bytes, kUnits[unit]);
  }
  return text;
}

std::string RenderProgress(uint64_t done, std::optional<uint64_t> total, double seconds) {
  std::string rate =
      seconds > 0 ? StrCat("  ", HumanBytes(static_cast<double>(done) / seconds), "/s") : "";
  if (!total) return StrCat(HumanBytes(static_cast<double>(done)), rate);
  constexpr int kWidth = 20;
  double fraction = *total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / *total);
  int filled = static_cast<int>(fraction * kWidth);
  char percent[8];
  std::snprintf(percent, sizeof(percent), "%3d%%", static_cast<int>(fraction * 100));
  return StrCat("[", std::string(filled, '#'), std::string(kWidth - filled, '-'), "] ", percent,
                "  ", HumanBytes(static_cast<double>(std::min(done, *total))), " / ",
                HumanBytes(static_cast<double>(*total)), rate);
}

}  // namespace kmsd::client
