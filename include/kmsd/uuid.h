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

// --- KMS key ids (issue 13: multi-Region keys) ---
// A multi-Region key's id is "mrk-" and 32 hex digits (AWS's format), 16 random bytes like a UUID.
std::string NewMultiRegionKeyId();
// "mrk-" (any case) and 32 hex digits (any case).
bool IsMultiRegionKeyId(std::string_view text);
// Either form of key id: a UUID or a multi-Region key id.
bool IsKeyId(std::string_view text);
// The 16 raw bytes of either form; kValidation error otherwise.
absl::StatusOr<std::string> KeyIdToBytes(std::string_view text);
// The text form (lower case) of 16 raw bytes: "mrk-..." when multi_region, else a UUID.
std::string KeyIdFromBytes(std::string_view bytes16, bool multi_region);

}  // namespace kmsd
