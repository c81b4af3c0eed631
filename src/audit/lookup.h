// Reads one node's trail newest first, for CloudTrail's LookupEvents: the records that match one
// lookup attribute and a time range, a page at a time, with a bounded amount of reading per page
// so that a lookup over a large trail never costs more than a few MiB of I/O per call. Pure
// functions over the audit dir; safe while kmsd writes (a line still being written is skipped).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kmsd::audit {

// CloudTrail's LookupAttributeKey values, as its model spells them.
inline constexpr std::string_view kLookupAttributeKeys[] = {
    "EventId",      "EventName",    "ReadOnly",    "Username",
    "ResourceType", "ResourceName", "EventSource", "AccessKeyId"};

struct LookupQuery {
  std::string attribute_key;  // one of kLookupAttributeKeys; empty = every record
  std::string attribute_value;
  std::optional<int64_t> start_seconds;  // inclusive (CloudTrail: "after or at")
  std::optional<int64_t> end_seconds;    // inclusive (CloudTrail: "before or at")
  size_t max_results = 50;
};

// Where a lookup goes on: the records before byte `end_offset` of the trail file whose first
// sequence is `file_first_sequence` (kFromFileEnd: all of its records).
inline constexpr uint64_t kFromFileEnd = UINT64_MAX;
struct LookupPosition {
  uint64_t file_first_sequence = 0;
  uint64_t end_offset = 0;
};

struct LookupLimits {
  // Bytes of trail read per call at most (the page then ends early, with a position to go on).
  uint64_t max_scan_bytes = 16 << 20;
  size_t chunk_bytes = 256 << 10;
  // Records are written nearly, not strictly, in eventTime order (a record is built before it
  // waits its turn), and a file's name carries the time it was begun: time bounds are applied to
  // whole files and to the end of the scan only this far beyond them.
  int64_t time_slack_seconds = 300;
};

struct LookupPage {
  std::vector<std::string> lines;      // the matching records' lines, newest first
  std::optional<LookupPosition> next;  // nullopt: nothing older can match
  uint64_t scanned_bytes = 0;
};

// One page of matches, from the newest record (`from` empty) or from a position a previous page
// returned. A position whose file is gone (or that lies past its records) is kInvalidNextToken.
absl::StatusOr<LookupPage> LookupTrail(const std::string& audit_dir, const LookupQuery& query,
                                       const std::optional<LookupPosition>& from,
                                       const LookupLimits& limits = {});

// Whether a parsed record matches the query's attribute (not its times).
bool MatchesLookupAttribute(const nlohmann::json& record, const LookupQuery& query);

// The fields CloudTrail's Event shape takes from a record.
struct LookupEventFields {
  std::string event_id;
  std::string event_name;
  std::string read_only;  // "true" or "false"
  std::string access_key_id;
  int64_t event_time = 0;
  std::string event_source;
  std::string username;  // IAM user name, "root", a role session's name; empty when unknown
  std::vector<std::pair<std::string, std::string>> resources;  // type, name (the ARN)
};
LookupEventFields EventFieldsOf(const nlohmann::json& record);

}  // namespace kmsd::audit
