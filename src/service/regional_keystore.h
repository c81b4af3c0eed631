// The keystore as one region sees it (several regions in one kmsd, issue 13). The first region
// served keeps the record ids it always had, so existing data dirs work unchanged; every other
// region's records live under "region/<name>/" in the same keystore. Records that every region
// shares (the multi-Region key registry, "mrk/<id>") pass through unprefixed. Thread-safe as the
// keystore below it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kmsd/keystore.h"

namespace kmsd::service_internal {

// The prefix of a region's records: "" for the default region, else "region/<name>/".
std::string RegionRecordPrefix(std::string_view region, bool is_default);

// Record ids every region shares; never prefixed.
bool IsSharedRecordId(std::string_view id);

// A view of `base` (not owned) with every record id under `prefix` (may be empty: then every call
// goes straight through).
std::unique_ptr<Keystore> NewRegionalKeystore(Keystore* base, std::string prefix);

}  // namespace kmsd::service_internal
