// Reads one operation's JSON request with the service model's shapes and constraints. Type
// mismatches are SerializationException; constraint violations are collected and reported together
// as one ValidationException in AWS's words ("2 validation errors detected: Value ... at 'keyId'
// failed to satisfy constraint: ..."). Values of sensitive members are never echoed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/service.h"

namespace kmsd::api {

struct StringRule {
  size_t min = 0;
  size_t max = SIZE_MAX;
  // Optional: the model's pattern, as text for the message, and a matcher.
  std::string_view pattern;
  bool (*matches)(std::string_view) = nullptr;
  // The model marks the member sensitive: its value is never echoed in a message.
  bool sensitive = false;
};

// Shapes used by several operations.
inline constexpr StringRule kKeyIdRule{1, 2048};
inline constexpr StringRule kDescriptionRule{0, 8192};
bool IsAliasNameText(std::string_view text);
inline constexpr StringRule kAliasNameRule{1, 256, "^[a-zA-Z0-9:/_-]+$", IsAliasNameText};
bool IsMarkerText(std::string_view text);
inline constexpr StringRule kMarkerRule{1, 1024, "[\\u0020-\\u00FF]*", IsMarkerText};
// PolicyType: U+0009, U+000A, U+000D and U+0020..U+00FF.
bool IsPolicyText(std::string_view text);
inline constexpr StringRule kPolicyRule{1, 131072, "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
                                        IsPolicyText};
bool IsPolicyNameText(std::string_view text);
inline constexpr StringRule kPolicyNameRule{1, 128, "[\\w]+", IsPolicyNameText};
// PrincipalIdType (GranteePrincipal, RetiringPrincipal).
bool IsPrincipalIdText(std::string_view text);
inline constexpr StringRule kPrincipalIdRule{1, 256, "^[\\w+=,.@:/-]+$", IsPrincipalIdText};
inline constexpr StringRule kGrantIdRule{1, 128};
inline constexpr StringRule kGrantTokenRule{1, 8192};
inline constexpr StringRule kGrantNameRule{1, 256, "^[a-zA-Z0-9:/_-]+$", IsAliasNameText};

// The words of validation messages, shared by the JSON and Query request readers.
// "KeyId" -> "keyId": how AWS names members in messages (and CloudTrail in its records).
std::string LowerCamel(std::string_view member);
// A value as a message shows it: at most 256 bytes, then "...".
std::string EchoValue(std::string_view value);
// The value read for an enum member when it is one of values (nullopt stays nullopt); else
// nullopt, with "Value 'x' at 'member' failed to satisfy constraint: Member must satisfy enum
// value set: [...]" added to violations.
std::optional<std::string> OneOf(std::string_view member, std::optional<std::string> value,
                                 const std::vector<std::string_view>& values,
                                 std::vector<std::string>& violations);

class RequestReader {
 public:
  // Parses the body (empty = {}); malformed JSON, a non-object, or nesting deeper than a KMS
  // request ever needs is a SerializationException.
  static absl::StatusOr<RequestReader> Parse(std::string_view body);

  bool Has(std::string_view member) const;
  // Whether the member is the boolean true. A peek: records no error whatever the member holds.
  bool IsTrue(std::string_view member) const;

  std::optional<std::string> String(std::string_view member, const StringRule& rule,
                                    bool required = false);
  std::optional<std::string> Enum(std::string_view member,
                                  const std::vector<std::string_view>& values,
                                  bool required = false);
  std::optional<int64_t> Integer(std::string_view member, int64_t min, int64_t max,
                                 bool required = false);
  std::optional<bool> Boolean(std::string_view member);
  // A base64 blob of min..max decoded bytes. The base64 text inside the parsed request is wiped
  // once decoded, so the secret lives only in the returned SecretBytes.
  std::optional<SecretBytes> Blob(std::string_view member, size_t min, size_t max,
                                  bool required = false);
  EncryptionContext Context(std::string_view member);
  std::vector<std::string> StringList(std::string_view member, const StringRule& item_rule,
                                      bool required = false);
  // A list of enum values; each one outside `values` is a violation.
  std::vector<std::string> EnumList(std::string_view member,
                                    const std::vector<std::string_view>& values,
                                    bool required = false);
  std::vector<Tag> Tags(std::string_view member);
  // GrantTokens: 0..10 tokens of 1..8192 characters (never echoed).
  kmsd::GrantTokens GrantTokens();
  // A GrantConstraints structure: EncryptionContextEquals and EncryptionContextSubset.
  GrantConstraints Constraints(std::string_view member);

  // Adds a violation found by the operation itself (e.g. "either KeySpec or NumberOfBytes").
  void AddViolation(std::string message);

  // ---- for codecs beside KMS's (CloudTrail)
  // A timestamp member (the model's DateType) as the JSON protocol sends it: seconds since 1970,
  // an integer or a fraction (taken down to the second), years 1 to 9999; anything else is a
  // SerializationException. KMS (ValidTo) and CloudTrail (StartTime, EndTime) read it.
  std::optional<int64_t> Timestamp(std::string_view member);
  // The member as parsed (nullptr when absent or null), for shapes read by the operation itself.
  const nlohmann::json* Peek(std::string_view member) const { return Member(member); }
  // A type mismatch found by the operation itself.
  void AddTypeError(std::string_view member, std::string_view expected) {
    TypeError(member, expected);
  }
  // ---- end for codecs beside KMS's

  // The first serialization error, else every validation error as one ValidationException.
  absl::Status Finish() const;

 private:
  explicit RequestReader(nlohmann::json body) : body_(std::move(body)) {}
  const nlohmann::json* Member(std::string_view member) const;
  nlohmann::json* MutableMember(std::string_view member);
  void TypeError(std::string_view member, std::string_view expected);
  void Missing(std::string_view member);
  void CheckString(std::string_view member, std::string_view value, const StringRule& rule,
                   bool sensitive);

  nlohmann::json body_;
  std::string serialization_error_;
  std::vector<std::string> violations_;
};

}  // namespace kmsd::api
