// Small string helpers. Debian's abseil is built with its own absl::string_view (not an alias of
// std::string_view), so absl::StrCat and friends do not take std::string_view; these do.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace kmsd {

namespace strings_internal {
inline void Append(std::string& out, std::string_view piece) { out.append(piece); }
inline void Append(std::string& out, const std::string& piece) { out.append(piece); }
inline void Append(std::string& out, const char* piece) { out.append(piece); }
inline void Append(std::string& out, absl::string_view piece) {
  out.append(piece.data(), piece.size());
}
inline void Append(std::string& out, char c) { out.push_back(c); }
template <std::integral Integer>
  requires(!std::same_as<Integer, char> && !std::same_as<Integer, bool>)
void Append(std::string& out, Integer number) {
  out.append(std::to_string(number));
}
}  // namespace strings_internal

// Concatenates strings, string views, characters and integers.
template <typename... Pieces>
std::string StrCat(const Pieces&... pieces) {
  std::string out;
  (strings_internal::Append(out, pieces), ...);
  return out;
}

inline std::string_view ToStd(absl::string_view view) { return {view.data(), view.size()}; }

// ASCII lower case, leaving other bytes alone.
inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// pieces joined by separator; each piece must convert to std::string_view.
template <typename Container>
std::string StrJoin(const Container& pieces, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& piece : pieces) {
    if (!first) out.append(separator);
    first = false;
    out.append(std::string_view(piece));
  }
  return out;
}

// Appends the UTF-8 encoding of a Unicode code point (the caller has checked it: at most
// 0x10FFFF, no surrogate).
inline void AppendUtf8(std::string& out, uint32_t codepoint) {
  if (codepoint < 0x80) {
    out.push_back(static_cast<char>(codepoint));
  } else if (codepoint < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (codepoint >> 6)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else if (codepoint < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (codepoint >> 12)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (codepoint >> 18)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  }
}

}  // namespace kmsd
