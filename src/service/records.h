// How the service's records look inside the keystore. Record ids:
//   key/<uuid>                      key metadata and tags (JSON)
//   material/<uuid>/<version:08x>   one backing-key version: 32 raw bytes, never JSON, never copied
//   alias/<name without "alias/">   alias target and dates (JSON)
// The keystore seals every record, so none of this is ever on disk in the clear.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/service.h"

namespace kmsd::records {

inline constexpr std::string_view kKeyPrefix = "key/";
inline constexpr std::string_view kMaterialPrefix = "material/";
inline constexpr std::string_view kAliasPrefix = "alias/";

// What the service keeps for one KMS key besides its material.
struct KeyRecord {
  KeyMetadata metadata;
  std::vector<Tag> tags;
  uint32_t current_version = 1;
};

struct AliasRecord {
  std::string target_key_id;
  int64_t creation_date = 0;
  int64_t last_updated_date = 0;
};

std::string KeyRecordId(std::string_view key_id);
std::string MaterialRecordId(std::string_view key_id, uint32_t version);
std::string MaterialPrefix(std::string_view key_id);
// "alias/foo" -> "alias/foo" record id is the alias name itself (it already has the prefix).
std::string AliasRecordId(std::string_view alias_name);

std::string EncodeKeyRecord(const KeyRecord& record);
// arn and account id are not stored; the caller fills them from its options.
absl::StatusOr<KeyRecord> DecodeKeyRecord(std::string_view bytes);
std::string EncodeAliasRecord(const AliasRecord& record);
absl::StatusOr<AliasRecord> DecodeAliasRecord(std::string_view bytes);
// The version from a material record id; 0 when malformed.
uint32_t MaterialVersion(std::string_view record_id);

}  // namespace kmsd::records
