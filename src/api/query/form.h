// The AWS Query protocol's request encoding: application/x-www-form-urlencoded parameters
// ("Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=team"), in the body of a
// POST or the query string of a GET. Hostile input: bounded in size, count and name length,
// percent-decoding strict (a malformed escape is refused, never guessed at). Values are bytes;
// the reader checks them against the service model. Thread-safe: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kmsd::api::query {

inline constexpr size_t kMaxFormBytes = 1024 * 1024;
inline constexpr size_t kMaxParameters = 1000;
inline constexpr size_t kMaxParameterNameLength = 256;

// Parameters by name (percent-decoded). Each name at most once.
using FormParameters = std::map<std::string, std::string, std::less<>>;

// Parses one urlencoded text into parameters, adding to `into`. Errors are kSerialization
// (AWS's MalformedQueryString): a bad escape, a name too long or empty, too many parameters, a
// name given twice.
absl::Status ParseForm(std::string_view text, FormParameters& into);

// The decoded value of one parameter, found without parsing the rest (for the router, before
// authentication): nullopt when absent or not decodable.
std::optional<std::string> FindFormValue(std::string_view text, std::string_view name);

// Percent-decoding as forms use it ('+' is a space); nullopt for a malformed escape.
std::optional<std::string> FormDecode(std::string_view text);

// RFC 3986 percent-encoding of everything but unreserved characters: how IAM answers policy
// documents (clients URL-decode them).
std::string PercentEncode(std::string_view text);

}  // namespace kmsd::api::query
