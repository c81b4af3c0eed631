// How the identity service's records look inside the keystore. Record ids (names lower-cased,
// since IAM names are unique regardless of case; the record keeps the name as created):
//   iam/account                         the account's creation date (GetUser of the root)
//   iam/session-key                     32 random bytes: the key that seals STS session tokens
//   iam/user/<name>                     a user: path, name, id, creation date, tags (JSON)
//   iam/user-policy/<user>/<policy>     a user's inline policy: name and document (JSON)
//   iam/role/<name>                     a role: as a user, plus trust policy, description and
//                                       maximum session duration (JSON)
//   iam/role-policy/<role>/<policy>     a role's inline policy (JSON)
//   iam/accesskey/<id>                  an access key: its user, status, creation date (JSON)
//   iam/secret/<id>                     that access key's 40-character secret, raw, never JSON
// The keystore seals every record, so none of this is ever on disk in the clear.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/iam.h"

namespace kmsd::iam::records {

inline constexpr std::string_view kIamPrefix = "iam/";  // every record of the identity service
inline constexpr std::string_view kAccountRecord = "iam/account";
inline constexpr std::string_view kSessionKeyRecord = "iam/session-key";
inline constexpr std::string_view kUserPrefix = "iam/user/";
inline constexpr std::string_view kUserPolicyPrefix = "iam/user-policy/";
inline constexpr std::string_view kRolePrefix = "iam/role/";
inline constexpr std::string_view kRolePolicyPrefix = "iam/role-policy/";
inline constexpr std::string_view kAccessKeyPrefix = "iam/accesskey/";
inline constexpr std::string_view kSecretPrefix = "iam/secret/";

std::string UserRecordId(std::string_view user_name);
std::string RoleRecordId(std::string_view role_name);
std::string PolicyRecordId(IamEntityKind kind, std::string_view entity_name,
                           std::string_view policy_name);
std::string PolicyPrefix(IamEntityKind kind);
std::string AccessKeyRecordId(std::string_view access_key_id);
std::string SecretRecordId(std::string_view access_key_id);

// Access keys are stored with the key of their user (the lower-cased name).
struct AccessKeyRecord {
  std::string user_key;
  AccessKeyMetadata metadata;
};

// The ARN and the user name in an access key's metadata are not stored: they follow from the
// options and the user, so the loader fills them.
std::string EncodeUser(const IamUser& user);
absl::StatusOr<IamUser> DecodeUser(std::string_view bytes);
std::string EncodeRole(const IamRole& role);
absl::StatusOr<IamRole> DecodeRole(std::string_view bytes);
std::string EncodePolicy(const InlinePolicy& policy);  // entity_name is not stored
absl::StatusOr<InlinePolicy> DecodePolicy(std::string_view bytes);
std::string EncodeAccessKey(const AccessKeyRecord& record);
absl::StatusOr<AccessKeyRecord> DecodeAccessKey(std::string_view bytes);
std::string EncodeAccount(int64_t create_date);
absl::StatusOr<int64_t> DecodeAccount(std::string_view bytes);

}  // namespace kmsd::iam::records
