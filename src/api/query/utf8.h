// UTF-8 decoding for the Query codec's checks (the model's patterns are on code points) and its
// XML escaping. Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace kmsd::api::query {

// The length of the valid UTF-8 sequence that begins text, with its code point; 0 when it is not
// one (truncated, overlong, a surrogate, above U+10FFFF) or text is empty.
inline size_t DecodeUtf8(std::string_view text, uint32_t& codepoint) {
  if (text.empty()) return 0;
  auto lead = static_cast<uint8_t>(text[0]);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || text.size() < length) return 0;
  static constexpr uint8_t kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  codepoint = lead & kLeadMask[length];
  for (size_t i = 1; i < length; ++i) {
    auto next = static_cast<uint8_t>(text[i]);
    if ((next & 0xC0) != 0x80) return 0;
    codepoint = (codepoint << 6) | (next & 0x3F);
  }
  if (codepoint < kMinimum[length] || codepoint > 0x10FFFF ||
      (codepoint >= 0xD800 && codepoint <= 0xDFFF)) {
    return 0;
  }
  return length;
}

}  // namespace kmsd::api::query
