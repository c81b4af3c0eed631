// File names, the hash chain and timestamps of the audit trail.
#include "audit/trail_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {

std::string ChainHash(std::string_view previous_hash, std::string_view line) {
  // In parts, so the line (up to a request body's size) is not copied to be hashed; on the
  // thread's own digest context, so no allocation or algorithm lookup per record.
  return crypto::Sha256({previous_hash, line});
}

std::string TrailFileName(uint64_t first_sequence, int64_t now_seconds) {
  std::time_t time = static_cast<std::time_t>(now_seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  char sequence[24];
  std::snprintf(sequence, sizeof sequence, "%020llu",
                static_cast<unsigned long long>(first_sequence));
  return StrCat(kTrailPrefix, sequence, "-", stamp, kTrailSuffix);
}

bool IsTrailFileName(std::string_view name) {
  if (!name.starts_with(kTrailPrefix) || !name.ends_with(kTrailSuffix)) return false;
  std::string_view middle = name.substr(kTrailPrefix.size());
  return middle.size() > 20 && std::all_of(middle.begin(), middle.begin() + 20,
                                           [](char c) { return c >= '0' && c <= '9'; });
}

absl::StatusOr<std::vector<std::string>> ListTrailFiles(const std::string& dir) {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) return Internal(StrCat("cannot read audit dir ", dir, ": ", error.message()));
  std::vector<std::string> names;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (IsTrailFileName(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FormatTime(int64_t seconds) {
  std::time_t time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::optional<int64_t> ParseIsoTime(std::string_view text) {
  int year, month, day, hour = 0, minute = 0, second = 0;
  std::string copy(text);
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(copy).substr(consumed);
  if (!rest.empty()) {
    int more = 0;
    if (rest[0] != 'T' && rest[0] != ' ') return std::nullopt;
    std::string time_part(rest.substr(1));
    if (std::sscanf(time_part.c_str(), "%2d:%2d:%2d%n", &hour, &minute, &second, &more) != 3) {
      return std::nullopt;
    }
    std::string_view tail = std::string_view(time_part).substr(more);
    if (!tail.empty() && tail[0] == '.') {
      tail.remove_prefix(1);
      while (!tail.empty() && tail[0] >= '0' && tail[0] <= '9') tail.remove_prefix(1);
    }
    if (tail != "Z" && tail != "" && tail != "+00:00") return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  return static_cast<int64_t>(timegm(&utc));
}

std::string DigestSignedBytes(const nlohmann::json& digest) {
  nlohmann::json copy = digest;
  copy.erase("signature");
  return DumpJson(copy);
}

std::string DumpJson(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> HexToBytes(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = nibble(hex[i]);
    int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high << 4 | low));
  }
  return bytes;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Internal(StrCat("cannot open ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

}  // namespace kmsd::audit
