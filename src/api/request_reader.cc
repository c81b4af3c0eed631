// Request parsing and the service model's constraints. See request_reader.h.
#include "api/request_reader.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api {
namespace {

using nlohmann::json;

// No KMS request nests deeper than a few levels (Tags: object > array > object). Checking before
// parsing keeps hostile nesting from costing anything.
constexpr int kMaxNestingDepth = 16;
constexpr size_t kMaxEchoedValue = 256;
constexpr size_t kMaxGrantTokens = 10;

bool NestingWithinLimit(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxNestingDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// A JSON object of strings as a map; nullopt when it is not one.
std::optional<EncryptionContext> StringMap(const json& value) {
  if (!value.is_object()) return std::nullopt;
  EncryptionContext map;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) return std::nullopt;
    map.emplace(key, item.get<std::string>());
  }
  return map;
}

std::string_view JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "null";
  }
}

}  // namespace

std::string LowerCamel(std::string_view member) {
  std::string name(member);
  if (!name.empty()) name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
  return name;
}

std::string EchoValue(std::string_view value) {
  if (value.size() > kMaxEchoedValue) return StrCat(value.substr(0, kMaxEchoedValue), "...");
  return std::string(value);
}

std::optional<std::string> OneOf(std::string_view member, std::optional<std::string> value,
                                 const std::vector<std::string_view>& values,
                                 std::vector<std::string>& violations) {
  if (!value) return std::nullopt;
  for (std::string_view allowed : values) {
    if (*value == allowed) return value;
  }
  violations.push_back(StrCat("Value '", EchoValue(*value), "' at '", LowerCamel(member),
                              "' failed to satisfy constraint: Member must satisfy enum value set: [",
                              StrJoin(values, ", "), "]"));
  return std::nullopt;
}

bool IsAliasNameText(std::string_view text) {
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != ':' && c != '/' && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool IsMarkerText(std::string_view text) {
  // The model allows U+0020..U+00FF; in UTF-8 that is ASCII 0x20..0x7E plus C2/C3 sequences.
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80) continue;
    if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size()) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool IsPolicyText(std::string_view text) {
  // As IsMarkerText, plus tab, line feed and carriage return.
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c >= 0x20 && c < 0x80) || c == '\t' || c == '\n' || c == '\r') continue;
    if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size()) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool IsPolicyNameText(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool IsPrincipalIdText(std::string_view text) {
  static constexpr std::string_view kPunctuation = "_+=,.@:/-";
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kPunctuation.find(c) != std::string_view::npos;
  });
}

absl::StatusOr<RequestReader> RequestReader::Parse(std::string_view body) {
  if (body.empty()) return RequestReader(json::object());
  if (!NestingWithinLimit(body)) {
    return Error(ErrorType::kSerialization, "The request body nests too deeply");
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Error(ErrorType::kSerialization, "The request body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return Error(ErrorType::kSerialization, "The request body must be a JSON object");
  }
  return RequestReader(std::move(parsed));
}

const json* RequestReader::Member(std::string_view member) const {
  auto it = body_.find(member);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

json* RequestReader::MutableMember(std::string_view member) {
  auto it = body_.find(member);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool RequestReader::Has(std::string_view member) const { return Member(member) != nullptr; }

bool RequestReader::IsTrue(std::string_view member) const {
  const json* value = Member(member);
  return value && value->is_boolean() && value->get<bool>();
}

void RequestReader::TypeError(std::string_view member, std::string_view expected) {
  if (!serialization_error_.empty()) return;
  const json* value = Member(member);
  serialization_error_ = StrCat("Member '", member, "' must be ", expected, ", not ",
                                      value ? JsonTypeName(*value) : "null");
}

void RequestReader::Missing(std::string_view member) {
  violations_.push_back(StrCat("Value null at '", LowerCamel(member),
                                     "' failed to satisfy constraint: Member must not be null"));
}

void RequestReader::AddViolation(std::string message) { violations_.push_back(std::move(message)); }

void RequestReader::CheckString(std::string_view member, std::string_view value,
                                const StringRule& rule, bool sensitive) {
  std::string shown = sensitive ? "" : StrCat("'", EchoValue(value), "' ");
  std::string prefix = StrCat("Value ", shown, "at '", LowerCamel(member),
                                    "' failed to satisfy constraint: Member must ");
  if (value.size() < rule.min) {
    violations_.push_back(
        StrCat(prefix, "have length greater than or equal to ", rule.min));
  } else if (value.size() > rule.max) {
    violations_.push_back(StrCat(prefix, "have length less than or equal to ", rule.max));
  } else if (rule.matches && !rule.matches(value)) {
    violations_.push_back(
        StrCat(prefix, "satisfy regular expression pattern: ", rule.pattern));
  }
}

std::optional<std::string> RequestReader::String(std::string_view member, const StringRule& rule,
                                                 bool required) {
  const json* value = Member(member);
  if (!value) {
    if (required) Missing(member);
    return std::nullopt;
  }
  if (!value->is_string()) {
    TypeError(member, "a string");
    return std::nullopt;
  }
  const std::string& text = value->get_ref<const std::string&>();
  CheckString(member, text, rule, rule.sensitive);
  return text;
}

std::optional<std::string> RequestReader::Enum(std::string_view member,
                                               const std::vector<std::string_view>& values,
                                               bool required) {
  return OneOf(member, String(member, StringRule{}, required), values, violations_);
}

std::optional<int64_t> RequestReader::Integer(std::string_view member, int64_t min, int64_t max,
                                              bool required) {
  const json* value = Member(member);
  if (!value) {
    if (required) Missing(member);
    return std::nullopt;
  }
  if (!value->is_number_integer()) {
    TypeError(member, "an integer");
    return std::nullopt;
  }
  // Out-of-range unsigned values would wrap in int64; treat them as too large.
  int64_t number = value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX
                       ? INT64_MAX
                       : value->get<int64_t>();
  std::string prefix = StrCat("Value '", number, "' at '", LowerCamel(member),
                                    "' failed to satisfy constraint: Member must have value ");
  if (number < min) {
    violations_.push_back(StrCat(prefix, "greater than or equal to ", min));
    return std::nullopt;
  }
  if (number > max) {
    violations_.push_back(StrCat(prefix, "less than or equal to ", max));
    return std::nullopt;
  }
  return number;
}

std::optional<bool> RequestReader::Boolean(std::string_view member) {
  const json* value = Member(member);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) {
    TypeError(member, "a boolean");
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<SecretBytes> RequestReader::Blob(std::string_view member, size_t min, size_t max,
                                               bool required) {
  json* value = MutableMember(member);
  if (!value) {
    if (required) Missing(member);
    return std::nullopt;
  }
  if (!value->is_string()) {
    TypeError(member, "a base64-encoded string");
    return std::nullopt;
  }
  std::string& text = value->get_ref<std::string&>();
  auto decoded = crypto::Base64DecodeSecret(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!decoded.ok()) {
    if (serialization_error_.empty()) {
      serialization_error_ = StrCat("Member '", member, "' is not valid base64");
    }
    return std::nullopt;
  }
  size_t before = violations_.size();
  CheckString(member, decoded->view(), StringRule{min, max}, /*sensitive=*/true);
  if (violations_.size() != before) return std::nullopt;
  return std::move(*decoded);
}

EncryptionContext RequestReader::Context(std::string_view member) {
  const json* value = Member(member);
  if (!value) return {};
  auto context = StringMap(*value);
  if (!context) {
    TypeError(member, "a map of strings");
    return {};
  }
  return std::move(*context);
}

std::vector<std::string> RequestReader::StringList(std::string_view member,
                                                   const StringRule& item_rule, bool required) {
  std::vector<std::string> items;
  const json* value = Member(member);
  if (!value) {
    if (required) Missing(member);
    return items;
  }
  if (!value->is_array()) {
    TypeError(member, "a list of strings");
    return items;
  }
  for (const json& item : *value) {
    if (!item.is_string()) {
      TypeError(member, "a list of strings");
      return {};
    }
    items.push_back(item.get<std::string>());
    CheckString(StrCat(member, ".member"), items.back(), item_rule, /*sensitive=*/false);
  }
  return items;
}

std::vector<std::string> RequestReader::EnumList(std::string_view member,
                                                 const std::vector<std::string_view>& values,
                                                 bool required) {
  std::vector<std::string> items = StringList(member, StringRule{}, required);
  for (const std::string& item : items) {
    if (std::find(values.begin(), values.end(), item) == values.end()) {
      violations_.push_back(StrCat("Value '", EchoValue(item), "' at '", LowerCamel(member),
                                   "' failed to satisfy constraint: Member must satisfy enum "
                                   "value set: [",
                                   StrJoin(values, ", "), "]"));
    }
  }
  return items;
}

GrantConstraints RequestReader::Constraints(std::string_view member) {
  GrantConstraints constraints;
  const json* value = Member(member);
  if (!value) return constraints;
  if (!value->is_object()) {
    TypeError(member, "a GrantConstraints structure");
    return constraints;
  }
  for (auto [name, field] :
       {std::pair{"EncryptionContextEquals", &constraints.encryption_context_equals},
        std::pair{"EncryptionContextSubset", &constraints.encryption_context_subset}}) {
    auto found = value->find(name);
    if (found == value->end() || found->is_null()) continue;
    *field = StringMap(*found);
    if (!*field) {
      TypeError(member, "a GrantConstraints structure of string maps");
      return {};
    }
  }
  return constraints;
}

std::vector<Tag> RequestReader::Tags(std::string_view member) {
  std::vector<Tag> tags;
  const json* value = Member(member);
  if (!value) return tags;
  if (!value->is_array()) {
    TypeError(member, "a list of tags");
    return tags;
  }
  for (const json& item : *value) {
    auto key = item.is_object() ? item.find("TagKey") : item.end();
    auto val = item.is_object() ? item.find("TagValue") : item.end();
    if (!item.is_object() || key == item.end() || val == item.end() || !key->is_string() ||
        !val->is_string()) {
      TypeError(member, "a list of {\"TagKey\": string, \"TagValue\": string}");
      return {};
    }
    tags.push_back({key->get<std::string>(), val->get<std::string>()});
    // AWS names a list member by its 1-based position: tags.1.member.tagKey.
    std::string path = StrCat(LowerCamel(member), ".", tags.size(), ".member.");
    CheckString(StrCat(path, "tagKey"), tags.back().key, StringRule{1, 128}, false);
    CheckString(StrCat(path, "tagValue"), tags.back().value, StringRule{0, 256}, false);
  }
  return tags;
}

kmsd::GrantTokens RequestReader::GrantTokens() {
  kmsd::GrantTokens tokens;
  const json* value = Member("GrantTokens");
  if (!value) return tokens;
  if (!value->is_array()) {
    TypeError("GrantTokens", "a list of strings");
    return tokens;
  }
  if (value->size() > kMaxGrantTokens) {
    violations_.push_back(StrCat(
        "Value at 'grantTokens' failed to satisfy constraint: Member must have length less than "
        "or equal to ",
        kMaxGrantTokens));
  }
  for (const json& token : *value) {
    if (!token.is_string()) {
      TypeError("GrantTokens", "a list of strings");
      return {};
    }
    tokens.push_back(token.get<std::string>());
    CheckString("GrantTokens.member", tokens.back(), kGrantTokenRule, /*sensitive=*/true);
  }
  return tokens;
}

absl::Status RequestReader::Finish() const {
  if (!serialization_error_.empty()) {
    return Error(ErrorType::kSerialization, serialization_error_);
  }
  if (violations_.empty()) return absl::OkStatus();
  return Validation(StrCat(violations_.size(), " validation error",
                                 violations_.size() == 1 ? "" : "s",
                                 " detected: ", StrJoin(violations_, "; ")));
}

}  // namespace kmsd::api

namespace kmsd::api {

std::optional<int64_t> RequestReader::Timestamp(std::string_view member) {
  const json* value = Member(member);
  if (!value) return std::nullopt;
  if (!value->is_number()) {
    TypeError(member, "a timestamp (seconds since 1970)");
    return std::nullopt;
  }
  if (value->is_number_float()) {
    double seconds = value->get<double>();
    // Years 0001 to 9999, as the protocol's timestamps go; beyond, a serialization error.
    if (!(seconds >= -62135596800.0 && seconds <= 253402300799.0)) {
      TypeError(member, "a timestamp between the years 1 and 9999");
      return std::nullopt;
    }
    return static_cast<int64_t>(std::floor(seconds));
  }
  if (value->is_number_unsigned() && value->get<uint64_t>() > 253402300799ULL) {
    TypeError(member, "a timestamp between the years 1 and 9999");
    return std::nullopt;
  }
  int64_t seconds = value->get<int64_t>();
  if (seconds < -62135596800LL || seconds > 253402300799LL) {
    TypeError(member, "a timestamp between the years 1 and 9999");
    return std::nullopt;
  }
  return seconds;
}

}  // namespace kmsd::api
