// UUIDs for key ids and request ids. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kmsd {

// A random (version 4) UUID in canonical lower-case text form, from the OS CSPRNG.
std::string NewUuid();
// True for the canonical 36-character form (hex digits any case, dashes at 8,13,18,23).
bool IsUuid(std::string_view text);
// 16 raw bytes from the text form; kValidation error when not a UUID.
absl::StatusOr<std::string> UuidToBytes(std::string_view text);
// Text form (lower case) from 16 raw bytes.
std::string UuidFromBytes(std::string_view bytes16);

}  // namespace kmsd
