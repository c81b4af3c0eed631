// Reads one Query-protocol request with the service model's shapes and constraints, as IAM and
// STS check them: lengths in characters, patterns, ranges, required members. Violations are
// collected and reported together as one ValidationError in AWS's words ("2 validation errors
// detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular
// expression pattern: [\w+=,.@-]+; ..."). Lists use the Query encoding: Tags.member.1.Key.
// StringRule lengths are counted here in characters (code points), as IAM and STS count them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/query/form.h"
#include "api/request_reader.h"  // StringRule
#include "kmsd/http.h"
#include "kmsd/service.h"

namespace kmsd::api::query {

class QueryReader {
 public:
  // The parameters of the query string and the body together (kSerialization when malformed).
  static absl::StatusOr<QueryReader> Parse(const HttpRequest& http);
  explicit QueryReader(FormParameters parameters) : parameters_(std::move(parameters)) {}

  bool Has(std::string_view member) const;
  // True when any parameter is member or within it (member.…): for lists and structures.
  bool HasAny(std::string_view member) const;

  std::optional<std::string> String(std::string_view member, const StringRule& rule,
                                    bool required = false);
  std::optional<std::string> Enum(std::string_view member,
                                  const std::vector<std::string_view>& values,
                                  bool required = false);
  std::optional<int64_t> Integer(std::string_view member, int64_t min, int64_t max,
                                 bool required = false);
  // Tags.member.N.Key / .Value, N from 1: the model's Tag shapes, at most max_tags.
  std::vector<Tag> Tags(std::string_view member, size_t max_tags);

  void AddViolation(std::string message) { violations_.push_back(std::move(message)); }
  // Every violation as one ValidationError, or OK.
  absl::Status Finish() const;

  const FormParameters& parameters() const { return parameters_; }

 private:
  void CheckText(std::string_view member_path, std::string_view value, const StringRule& rule);

  FormParameters parameters_;
  std::vector<std::string> violations_;
};

// The model's patterns used by IAM and STS shapes.
bool IsIamNameText(std::string_view text);         // [\w+=,.@-]+
bool IsPathText(std::string_view text);            // (\u002F)|(\u002F[\u0021-\u007E]+\u002F)
bool IsPathPrefixText(std::string_view text);      // \u002F[\u0021-\u007F]*
bool IsPolicyDocumentText(std::string_view text);  // [\u0009\u000A\u000D\u0020-\u00FF]+
bool IsDescriptionText(std::string_view text);  // [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*
bool IsTagText(std::string_view text);          // [\p{L}\p{Z}\p{N}_.:/=+\-@]*
bool IsExternalIdText(std::string_view text);   // [\w+=,.@:\/-]*
bool IsAccessKeyIdText(std::string_view text);  // [\w]+

inline constexpr StringRule kUserNameRule{1, 64, "[\\w+=,.@-]+", IsIamNameText};
inline constexpr StringRule kExistingUserNameRule{1, 128, "[\\w+=,.@-]+", IsIamNameText};
inline constexpr StringRule kRoleNameRule{1, 64, "[\\w+=,.@-]+", IsIamNameText};
inline constexpr StringRule kPolicyNameRule{1, 128, "[\\w+=,.@-]+", IsIamNameText};
inline constexpr StringRule kPathRule{1, 512, "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
                                      IsPathText};
inline constexpr StringRule kPathPrefixRule{1, 512, "\\u002F[\\u0021-\\u007F]*", IsPathPrefixText};
inline constexpr StringRule kPolicyDocumentRule{
    1, 131072, "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+", IsPolicyDocumentText};
inline constexpr StringRule kRoleDescriptionRule{
    0, 1000, "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*", IsDescriptionText};
// IAM's markerType (KMS's is longer; the characters are the same).
inline constexpr StringRule kIamMarkerRule{1, 320, "[\\u0020-\\u00FF]+", api::IsMarkerText};
inline constexpr StringRule kAccessKeyIdRule{16, 128, "[\\w]+", IsAccessKeyIdText};
inline constexpr StringRule kArnRule{20, 2048};
inline constexpr StringRule kRoleSessionNameRule{2, 64, "[\\w+=,.@-]*", IsIamNameText};
inline constexpr StringRule kExternalIdRule{2, 1224, "[\\w+=,.@:\\/-]*", IsExternalIdText};
inline constexpr int64_t kMaxItemsLimit = 1000;

}  // namespace kmsd::api::query
