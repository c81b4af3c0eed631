// How the service's records look inside the keystore. Record ids:
//   key/<uuid>                      key metadata and tags (JSON)
//   material/<uuid>/<version:08x>   one backing-key version, raw bytes, never JSON, never copied:
//                                   32 (symmetric), the HMAC key, or PKCS#8 DER (asymmetric)
//   alias/<name>                    alias target and dates (JSON); the name keeps its "alias/"
//   due/<epoch:012d>/<task>/<uuid>  a scheduled deletion or rotation (empty); listing "due/" in
//                                   order gives the tasks in the order they fall due
//   grant/<uuid>/<grant id>         one grant of the key (JSON), with the secret its tokens are
//                                   made with; listing "grant/<uuid>/" gives the key's grants
//   import/<uuid>/<parameters id>   one GetParametersForImport's wrapping key and token key, raw
//                                   (service/import_token.h), until its token expires
// The keystore seals every record, so none of this is ever on disk in the clear.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/service.h"

namespace kmsd::records {

inline constexpr std::string_view kKeyPrefix = "key/";
inline constexpr std::string_view kMaterialPrefix = "material/";
inline constexpr std::string_view kAliasPrefix = "alias/";
inline constexpr std::string_view kDuePrefix = "due/";
inline constexpr std::string_view kGrantPrefix = "grant/";
inline constexpr std::string_view kDeleteTask = "delete";
inline constexpr std::string_view kRotateTask = "rotate";
// Imported key material (issue 13): the material's ValidTo, and the end of an import token's
// wrapping key (import/<uuid>/<parameters id> records).
inline constexpr std::string_view kExpireMaterialTask = "expire-material";
inline constexpr std::string_view kExpireImportParametersTask = "expire-import";
inline constexpr std::string_view kImportPrefix = "import/";

// Issue 13: one material of a symmetric key of Origin EXTERNAL. Its backing-key version is its
// material/ record while imported; the key's current_version names the current one.
struct ImportedMaterial {
  uint32_t version = 0;
  std::string id;  // KeyMaterialId: 64 hex digits, from the key id and the material
  std::string description;
  bool imported = false;  // false after DeleteImportedKeyMaterial or its expiry
  // Imported with NEW_KEY_MATERIAL and not yet made current by RotateKeyOnDemand: not permanently
  // the key's, never used for a cryptographic operation.
  bool pending_rotation = false;
  std::string expiration_model;  // while imported
  std::optional<int64_t> valid_to;
};

// What the service keeps for one KMS key besides its material.
struct KeyRecord {
  KeyMetadata metadata;
  std::vector<Tag> tags;
  uint32_t current_version = 1;
  bool rotation_enabled = false;
  int rotation_period_days = 0;
  int64_t next_rotation_date = 0;   // when rotation_enabled
  std::vector<Rotation> rotations;  // oldest first; the first material is not a rotation
  // The key policy document byte for byte as it was given; none = AWS's default key policy
  // (keys stored before key policies existed have none too).
  std::optional<std::string> policy;
  // Symmetric keys of Origin EXTERNAL (issue 13): every material the key has had, oldest first
  // (empty before the first import). metadata's key_material_id, expiration_model and valid_to
  // are the current material's; has_material is whether every material that is not pending
  // rotation is imported (else the key is PendingImport).
  std::vector<ImportedMaterial> materials;
  const ImportedMaterial* FindMaterial(std::string_view id) const;
  ImportedMaterial* FindMaterial(std::string_view id);
  const ImportedMaterial* PendingMaterial() const;  // the one pending rotation, if any
  bool IsPendingVersion(uint32_t version) const;
  // Origin EXTERNAL (issue 13): whether the imported material is present (false before the first
  // import, after DeleteImportedKeyMaterial and after it expired), and its description.
  bool has_material = true;
  std::string key_material_description;
  // Issue 12: the key's deletion fell due and its destruction has begun (DestroyKey): its
  // records go in bounded batches, the key record last. Such a key is gone for every caller.
  // deletion_recorded: the DeleteKey service event was reported (audited), before any record
  // went, so that a node resuming the destruction does not report it again.
  bool destroying = false;
  bool deletion_recorded = false;
  // Issue 12: grants ever created for the key. Each CreateGrant raises it, so that it rewrites the
  // key record it counted the grants of: two nodes racing past the grant quota conflict.
  uint64_t grants_created = 0;
};

// Issue 13: the shared registry record of a multi-Region key, "mrk/<id>" (not under any region's
// prefix): which region holds the primary and which hold replicas.
inline constexpr std::string_view kMultiRegionPrefix = "mrk/";
struct MultiRegionRecord {
  std::string primary_region;
  std::vector<std::string> replica_regions;  // in the order they were made
};
std::string MultiRegionRecordId(std::string_view key_id);
std::string EncodeMultiRegionRecord(const MultiRegionRecord& record);
absl::StatusOr<MultiRegionRecord> DecodeMultiRegionRecord(std::string_view bytes);

// A scheduled task, as its record id says.
struct DueTask {
  int64_t due = 0;
  std::string task;  // kDeleteTask or kRotateTask
  std::string key_id;
};

struct AliasRecord {
  std::string target_key_id;
  int64_t creation_date = 0;
  int64_t last_updated_date = 0;
};

// One grant. Its key ARN and issuing account are not stored; the service knows them.
struct GrantRecord {
  std::string key_id;
  std::string grant_id;
  std::string name;
  int64_t creation_date = 0;
  std::string grantee_principal;
  std::string retiring_principal;
  std::vector<std::string> operations;
  GrantConstraints constraints;
  SecretBytes token_secret;  // the HMAC key that makes and checks the grant's tokens
};

std::string KeyRecordId(std::string_view key_id);
std::string MaterialRecordId(std::string_view key_id, uint32_t version);
std::string MaterialPrefix(std::string_view key_id);
// "alias/foo" -> "alias/foo" record id is the alias name itself (it already has the prefix).
std::string AliasRecordId(std::string_view alias_name);

std::string GrantRecordId(std::string_view key_id, std::string_view grant_id);
std::string GrantPrefix(std::string_view key_id);

// import/<uuid>/ : the wrapping keys of the key's outstanding import tokens (issue 13).
std::string ImportPrefix(std::string_view key_id);
std::string ImportRecordId(std::string_view key_id, std::string_view parameters_id);

std::string DueRecordId(int64_t due, std::string_view task, std::string_view key_id);
// Parses a due record id; nullopt when malformed.
std::optional<DueTask> ParseDueRecordId(std::string_view record_id);

std::string EncodeKeyRecord(const KeyRecord& record);
// arn and account id are not stored; the caller fills them from its options.
absl::StatusOr<KeyRecord> DecodeKeyRecord(std::string_view bytes);
std::string EncodeAliasRecord(const AliasRecord& record);
absl::StatusOr<AliasRecord> DecodeAliasRecord(std::string_view bytes);
// The encoding holds the token secret, hence SecretBytes.
SecretBytes EncodeGrantRecord(const GrantRecord& record);
absl::StatusOr<GrantRecord> DecodeGrantRecord(std::string_view bytes);
// The version from a material record id; 0 when malformed.
uint32_t MaterialVersion(std::string_view record_id);

}  // namespace kmsd::records
