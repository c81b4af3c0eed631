// Parsers for the typed condition values. Request values go through them on every evaluation, so
// none of them allocates.
#include "policy/values.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstring>

namespace kmsd::policy::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Exactly `count` digits at text[at...], as a number.
std::optional<int> Digits(std::string_view text, size_t at, size_t count) {
  if (at + count > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (!IsDigit(text[i])) return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  double value = 0;
  auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<int64_t> ParseDate(std::string_view text) {
  if (text.empty() || text.size() > 40) return std::nullopt;
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && IsDigit(c);
  if (all_digits) {  // epoch seconds
    int64_t seconds = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (error != std::errc() || seconds > 253402300799) return std::nullopt;  // 9999-12-31
    return seconds * 1000;
  }
  auto year = Digits(text, 0, 4);
  if (!year || text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto month = Digits(text, 5, 2);
  auto day = Digits(text, 8, 2);
  if (!month || !day || *month < 1 || *month > 12 || *day < 1 ||
      *day > DaysInMonth(*year, *month)) {
    return std::nullopt;
  }
  int64_t millis = DaysFromCivil(*year, *month, *day) * 86400000;
  size_t at = 10;
  if (at == text.size()) return millis;
  if (text[at] != 'T' && text[at] != 't') return std::nullopt;
  auto hour = Digits(text, at + 1, 2);
  if (!hour || at + 3 >= text.size() || text[at + 3] != ':') return std::nullopt;
  auto minute = Digits(text, at + 4, 2);
  if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
  millis += (*hour * 3600 + *minute * 60) * int64_t{1000};
  at += 6;
  if (at < text.size() && text[at] == ':') {
    auto second = Digits(text, at + 1, 2);
    if (!second || *second > 60) return std::nullopt;  // 60: a leap second
    millis += *second * int64_t{1000};
    at += 3;
    if (at < text.size() && (text[at] == '.' || text[at] == ',')) {
      ++at;
      int scale = 100;
      size_t digits = 0;
      while (at < text.size() && IsDigit(text[at])) {
        millis += (text[at] - '0') * scale;
        scale /= 10;
        ++at;
        ++digits;
      }
      if (digits == 0) return std::nullopt;
    }
  }
  if (at == text.size()) return millis;  // no zone: UTC, as AWS reads it
  if ((text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) return millis;
  if (text[at] != '+' && text[at] != '-') return std::nullopt;
  int sign = text[at] == '+' ? 1 : -1;
  auto offset_hours = Digits(text, at + 1, 2);
  size_t minutes_at = at + 3;
  if (minutes_at < text.size() && text[minutes_at] == ':') ++minutes_at;
  auto offset_minutes = Digits(text, minutes_at, 2);
  if (!offset_hours || !offset_minutes || minutes_at + 2 != text.size() || *offset_hours > 23 ||
      *offset_minutes > 59) {
    return std::nullopt;
  }
  return millis - sign * (*offset_hours * 60 + *offset_minutes) * int64_t{60000};
}

bool IpNetwork::Contains(const IpNetwork& other) const {
  if (v6 != other.v6) return false;
  int whole_bytes = prefix_bits / 8;
  if (std::memcmp(address.data(), other.address.data(), whole_bytes) != 0) return false;
  int rest = prefix_bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (address[whole_bytes] & mask) == (other.address[whole_bytes] & mask);
}

IpNetwork IpNetwork::Unmapped() const {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (!v6 || prefix_bits < 96 || std::memcmp(address.data(), kMappedPrefix, 12) != 0) return *this;
  IpNetwork ipv4;
  std::memcpy(ipv4.address.data(), address.data() + 12, 4);
  ipv4.prefix_bits = prefix_bits - 96;
  return ipv4;
}

std::optional<IpNetwork> ParseIpNetwork(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view host = text.substr(0, slash);
  char buffer[INET6_ADDRSTRLEN + 1];
  if (host.empty() || host.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, host.data(), host.size());
  buffer[host.size()] = '\0';
  IpNetwork network;
  network.v6 = host.find(':') != std::string_view::npos;
  if (inet_pton(network.v6 ? AF_INET6 : AF_INET, buffer, network.address.data()) != 1) {
    return std::nullopt;
  }
  const int max_bits = network.v6 ? 128 : 32;
  network.prefix_bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    int prefix = -1;
    auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || bits.size() > 3 || error != std::errc() ||
        end != bits.data() + bits.size() || prefix < 0 || prefix > max_bits) {
      return std::nullopt;
    }
    network.prefix_bits = prefix;
  }
  return network;
}

std::optional<std::array<std::string_view, 6>> SplitArn(std::string_view arn) {
  std::array<std::string_view, 6> parts;
  for (size_t i = 0; i < 5; ++i) {
    size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    parts[i] = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  parts[5] = arn;
  return parts;
}

bool IsAccountId(std::string_view text) {
  if (text.size() != 12) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace kmsd::policy::internal
