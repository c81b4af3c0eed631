// The progress line kms draws on a terminal while it encrypts or decrypts: a pure function of the
// bytes done, the total when known and the time spent, so it can be tested without a terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kmsd::client {

// At least this much input (or an input of unknown size) earns a progress line by default.
constexpr uint64_t kProgressThreshold = uint64_t{8} << 20;

// One line without a line end, e.g.
//   "[##########----------]  50%  12.0 MiB / 24.0 MiB  6.0 MiB/s" (total known), or
//   "12.0 MiB  6.0 MiB/s" (unknown total, e.g. a pipe).
// done beyond total (a file that grew) shows as 100%.
std::string RenderProgress(uint64_t done, std::optional<uint64_t> total, double seconds);

// "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB".
std::string HumanBytes(double bytes);

}  // namespace kmsd::client
