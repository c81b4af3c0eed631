// The trail's on-disk conventions, shared by the writer, the verifier and the query tool: file
// names, the hash chain, the digest's signed bytes and timestamps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmsd::audit {

inline constexpr std::string_view kTrailPrefix = "trail-";
inline constexpr std::string_view kTrailSuffix = ".jsonl";
inline constexpr std::string_view kDigestFile = "digests.jsonl";
// A zero-filled file kept ready for the next trail file (AuditOptions::preallocate); readers of
// the trail never look at it (it is not named trail-*.jsonl).
inline constexpr std::string_view kSpareFile = ".trail-spare";
inline constexpr std::string_view kSigningKeyFile = "audit-signing-key.pem";
inline constexpr size_t kHashSize = 32;

// The members the writer appends to each event; the chain covers the whole line.
inline constexpr std::string_view kSequenceMember = "sequenceNumber";
inline constexpr std::string_view kPreviousHashMember = "previousHash";
// The node that wrote the record (AuditOptions::node_id), before the chain members; also in
// each digest. Absent when the log has no node id (and in trails older than issue 12).
inline constexpr std::string_view kNodeMember = "nodeId";

// The chain: hash(n) = SHA-256(hash(n-1) || bytes of line n without its newline); hash(0) is 32
// zero bytes, so the first record's previousHash is 64 zeros.
std::string ChainHash(std::string_view previous_hash, std::string_view line);
inline std::string GenesisHash() { return std::string(kHashSize, '\0'); }

// trail-00000000000000000042-20240501T100000Z.jsonl: the first sequence, zero-padded so names sort
// in trail order, then the time the file was started.
std::string TrailFileName(uint64_t first_sequence, int64_t now_seconds);
bool IsTrailFileName(std::string_view name);
// Trail file names in dir, in trail order.
absl::StatusOr<std::vector<std::string>> ListTrailFiles(const std::string& dir);

// "2024-05-01T10:00:00Z".
std::string FormatTime(int64_t seconds);
// The inverse of FormatTime (also takes fractional seconds, which it drops); nullopt if malformed.
std::optional<int64_t> ParseIsoTime(std::string_view text);

// The bytes a digest's signature covers: its JSON without "signature", keys sorted.
std::string DigestSignedBytes(const nlohmann::json& digest);

// Serializes JSON that may hold hostile strings: invalid UTF-8 is replaced, never thrown on.
std::string DumpJson(const nlohmann::ordered_json& value);
std::string DumpJson(const nlohmann::json& value);

// Lower- or upper-case hex -> bytes; nullopt if not hex.
std::optional<std::string> HexToBytes(std::string_view hex);

// A trail file's records: its bytes up to the first NUL. A file begun from a spare is zero-padded
// after its last record until it is closed; records never hold a NUL (JSON escapes it).
inline std::string_view RecordBytes(std::string_view content) {
  return content.substr(0, content.find('\0'));
}

// Reads a whole file; error if it cannot be opened.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace kmsd::audit
