// Identifiers and ARNs as AWS shapes them: unique ids "AIDA..." (users) and "AROA..." (roles),
// access key ids "AKIA..." (long-term) and "ASIA..." (sessions), each a prefix and characters of
// AWS's id alphabet (A-Z, 2-7) from the OS CSPRNG; secrets of 40 base64-alphabet characters.
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::iam {

inline constexpr std::string_view kUserIdPrefix = "AIDA";
inline constexpr std::string_view kRoleIdPrefix = "AROA";
inline constexpr std::string_view kAccessKeyIdPrefix = "AKIA";
inline constexpr std::string_view kSessionAccessKeyIdPrefix = "ASIA";
inline constexpr size_t kSecretAccessKeyLength = 40;

// A unique id (21 characters) or an access key id (20 characters) with the given prefix.
absl::StatusOr<std::string> NewUniqueId(std::string_view prefix);
absl::StatusOr<std::string> NewAccessKeyId(std::string_view prefix);
absl::StatusOr<SecretBytes> NewSecretAccessKey();

std::string UserArn(std::string_view account_id, std::string_view path, std::string_view name);
std::string RoleArn(std::string_view account_id, std::string_view path, std::string_view name);
// Sessions are named without the role's path, as AWS names them.
std::string AssumedRoleArn(std::string_view account_id, std::string_view role_name,
                           std::string_view session_name);

}  // namespace kmsd::iam
