// What the libFuzzer targets in fuzz/ share: carving one input into the parts a parser takes, and
// checks that abort (so libFuzzer records the input) when a property the code promises fails.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kmsd/secret_bytes.h"

namespace kmsd::fuzz {

// The separator between the parts of a structured input (seeds in fuzz/corpus use it, and each
// target's dictionary offers it to the mutator).
inline constexpr std::string_view kPartSeparator = "\n--8<--\n";

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits text at kPartSeparator into exactly `count` parts: missing parts are empty, and the last
// part keeps any further separators.
inline std::vector<std::string_view> Parts(std::string_view text, size_t count) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < count) {
    size_t at = text.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(text);
  parts.resize(count);
  return parts;
}

// Aborts with a message when a promised property fails.
inline void Check(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property failed: %s\n", what);
  std::abort();
}

// A fixed 32-byte key, so that inputs sealed under it (the seeds) reach the parsing behind a MAC.
inline SecretBytes FixedKey(char fill = 'k') { return SecretBytes::FromString(std::string(32, fill)); }

}  // namespace kmsd::fuzz
