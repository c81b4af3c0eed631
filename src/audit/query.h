// The query tool's filter on eventSource. QueryFilter (include/kmsd/audit.h) does not carry it
// yet; until it does, `kmsd audit query --event-source` comes through this overload.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/audit.h"

namespace kmsd::audit {

// QueryTrail, keeping only the records of one service: event_source is its short name ("kms",
// "iam", "sts") or its full eventSource ("iam.amazonaws.com"), in any letter case; empty = all.
absl::StatusOr<int64_t> QueryTrail(const std::string& audit_dir, const QueryFilter& filter,
                                   std::string_view event_source, QueryFormat format,
                                   std::ostream& out);

}  // namespace kmsd::audit
