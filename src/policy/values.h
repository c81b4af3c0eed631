// Typed values of the condition operators (numbers, dates, IP networks, ARNs), parsed from policy
// strings once at Parse and from request values at evaluation, without allocating.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kmsd::policy::internal {

// NumericEquals and friends: integers and decimals ("10", "-1.5").
std::optional<double> ParseNumber(std::string_view text);

// DateEquals and friends: ISO 8601 ("2024-05-01", "2024-05-01T12:00:00Z",
// "2024-05-01T12:00:00.250+02:00") or Unix epoch seconds ("1714564800"), as milliseconds since
// the epoch.
std::optional<int64_t> ParseDate(std::string_view text);

// IpAddress/NotIpAddress: an IPv4 or IPv6 address or CIDR block ("203.0.113.0/24",
// "2001:db8::/32").
struct IpNetwork {
  bool v6 = false;
  std::array<uint8_t, 16> address{};  // IPv4 uses the first 4 bytes
  int prefix_bits = 0;
  bool Contains(const IpNetwork& address) const;
  // An IPv4-mapped IPv6 address (::ffff:192.0.2.1, as a dual-stack socket reports an IPv4 peer)
  // as the IPv4 address it is; anything else unchanged.
  IpNetwork Unmapped() const;
};
std::optional<IpNetwork> ParseIpNetwork(std::string_view text);  // a bare address is /32 or /128

// An ARN's six colon-separated parts (arn, partition, service, region, account, resource); the
// resource part keeps any further colons. nullopt when there are fewer than six.
std::optional<std::array<std::string_view, 6>> SplitArn(std::string_view arn);

// "111122223333": twelve digits.
bool IsAccountId(std::string_view text);

}  // namespace kmsd::policy::internal
