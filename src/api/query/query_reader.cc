// Query-protocol request members and the model's constraints. See query_reader.h.
#include "api/query/query_reader.h"

#include <map>

#include "api/query/node.h"
#include "api/query/utf8.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::query {
namespace {

constexpr size_t kMaxListIndex = 1000;

// Decodes text as UTF-8, calling accept(code point) for each; false when the text is not valid
// UTF-8 or accept refuses a code point.
template <typename Accept>
bool EachCodepoint(std::string_view text, Accept accept) {
  while (!text.empty()) {
    uint32_t codepoint = 0;
    size_t length = DecodeUtf8(text, codepoint);
    if (length == 0 || !accept(codepoint)) return false;
    text.remove_prefix(length);
  }
  return true;
}

// Characters, as the model counts lengths; SIZE_MAX for text that is not UTF-8.
size_t Characters(std::string_view text) {
  size_t count = 0;
  bool valid = EachCodepoint(text, [&](uint32_t) { return ++count, true; });
  return valid ? count : SIZE_MAX;
}

bool IsWord(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsOneOf(uint32_t c, std::string_view set) {
  return c < 0x80 && set.find(static_cast<char>(c)) != std::string_view::npos;
}

// "Tags.member.3.Key" -> "tags.3.member.key": how AWS names a list element's member in messages.
std::string MessagePath(std::string_view list, size_t index, std::string_view field) {
  return StrCat(LowerCamel(list), ".", index, ".member.", LowerCamel(field));
}

}  // namespace

bool IsIamNameText(std::string_view text) {
  return EachCodepoint(text, [](uint32_t c) { return IsWord(c) || IsOneOf(c, "+=,.@-"); });
}

bool IsPathText(std::string_view text) {
  if (text == "/") return true;
  return text.size() >= 3 && text.front() == '/' && text.back() == '/' &&
         EachCodepoint(text, [](uint32_t c) { return c >= 0x21 && c <= 0x7E; });
}

bool IsPathPrefixText(std::string_view text) {
  return !text.empty() && text.front() == '/' &&
         EachCodepoint(text, [](uint32_t c) { return c >= 0x21 && c <= 0x7F; });
}

bool IsPolicyDocumentText(std::string_view text) {
  return EachCodepoint(text, [](uint32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0xFF);
  });
}

bool IsDescriptionText(std::string_view text) {
  return EachCodepoint(text, [](uint32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) ||
           (c >= 0xA1 && c <= 0xFF);
  });
}

bool IsTagText(std::string_view text) {
  // \p{L}, \p{Z} and \p{N} beyond ASCII are taken as every printable code point from U+00A0
  // (no Unicode tables here); ASCII is exact.
  return EachCodepoint(text, [](uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           IsOneOf(c, " _.:/=+-@") || c >= 0xA0;
  });
}

bool IsExternalIdText(std::string_view text) {
  return EachCodepoint(text, [](uint32_t c) { return IsWord(c) || IsOneOf(c, "+=,.@:/-"); });
}

bool IsAccessKeyIdText(std::string_view text) {
  return EachCodepoint(text, [](uint32_t c) { return IsWord(c); });
}

absl::StatusOr<QueryReader> QueryReader::Parse(const HttpRequest& http) {
  FormParameters parameters;
  size_t question = http.target.find('?');
  if (question != std::string::npos) {
    auto status = ParseForm(std::string_view(http.target).substr(question + 1), parameters);
    if (!status.ok()) return status;
  }
  if (auto status = ParseForm(http.body, parameters); !status.ok()) return status;
  return QueryReader(std::move(parameters));
}

bool QueryReader::Has(std::string_view member) const { return parameters_.count(member) != 0; }

bool QueryReader::HasAny(std::string_view member) const {
  if (Has(member)) return true;
  std::string prefix = StrCat(member, ".");
  auto it = parameters_.lower_bound(prefix);
  return it != parameters_.end() && it->first.starts_with(prefix);
}

void QueryReader::CheckText(std::string_view member_path, std::string_view value,
                            const StringRule& rule) {
  std::string prefix = StrCat("Value '", EchoValue(value), "' at '", member_path,
                              "' failed to satisfy constraint: Member must ");
  size_t length = Characters(value);
  if (length == SIZE_MAX) {
    violations_.push_back(StrCat(prefix, "be valid UTF-8"));
  } else if (length < rule.min) {
    violations_.push_back(StrCat(prefix, "have length greater than or equal to ", rule.min));
  } else if (length > rule.max) {
    violations_.push_back(StrCat(prefix, "have length less than or equal to ", rule.max));
  } else if (rule.matches && !rule.matches(value)) {
    violations_.push_back(StrCat(prefix, "satisfy regular expression pattern: ", rule.pattern));
  }
}

std::optional<std::string> QueryReader::String(std::string_view member, const StringRule& rule,
                                               bool required) {
  auto it = parameters_.find(member);
  if (it == parameters_.end()) {
    if (required) {
      violations_.push_back(StrCat("Value null at '", LowerCamel(member),
                                   "' failed to satisfy constraint: Member must not be null"));
    }
    return std::nullopt;
  }
  size_t before = violations_.size();
  CheckText(LowerCamel(member), it->second, rule);
  if (violations_.size() != before) return std::nullopt;
  return it->second;
}

std::optional<std::string> QueryReader::Enum(std::string_view member,
                                             const std::vector<std::string_view>& values,
                                             bool required) {
  return OneOf(member, String(member, StringRule{}, required), values, violations_);
}

std::optional<int64_t> QueryReader::Integer(std::string_view member, int64_t min, int64_t max,
                                            bool required) {
  auto text = String(member, StringRule{}, required);
  if (!text) return std::nullopt;
  std::string prefix = StrCat("Value '", EchoValue(*text), "' at '", LowerCamel(member),
                              "' failed to satisfy constraint: Member must ");
  // Digits only, optionally signed; more than 18 digits is out of any range we accept.
  std::string_view digits = *text;
  bool negative = digits.starts_with('-');
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 18 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    violations_.push_back(StrCat(prefix, "be an integer"));
    return std::nullopt;
  }
  int64_t number = 0;
  for (char c : digits) number = number * 10 + (c - '0');
  if (negative) number = -number;
  if (number < min) {
    violations_.push_back(StrCat(prefix, "have value greater than or equal to ", min));
    return std::nullopt;
  }
  if (number > max) {
    violations_.push_back(StrCat(prefix, "have value less than or equal to ", max));
    return std::nullopt;
  }
  return number;
}

std::vector<Tag> QueryReader::Tags(std::string_view member, size_t max_tags) {
  // Gather Tags.member.N.{Key,Value} by index; anything else under Tags. is malformed.
  std::map<size_t, std::pair<const std::string*, const std::string*>> by_index;
  std::string prefix = StrCat(member, ".member.");
  for (auto it = parameters_.lower_bound(prefix);
       it != parameters_.end() && it->first.starts_with(prefix); ++it) {
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    size_t dot = rest.find('.');
    std::string_view index_text = rest.substr(0, dot);
    std::string_view field = dot == std::string_view::npos ? "" : rest.substr(dot + 1);
    size_t index = 0;
    bool numeric = !index_text.empty() && index_text.size() <= 4 &&
                   index_text.find_first_not_of("0123456789") == std::string_view::npos;
    if (numeric) index = std::stoul(std::string(index_text));
    if (!numeric || index == 0 || index > kMaxListIndex || (field != "Key" && field != "Value")) {
      violations_.push_back(
          StrCat("Parameter '", EchoValue(it->first), "' is not a member of ", LowerCamel(member)));
      continue;
    }
    auto& slot = by_index[index];
    (field == "Key" ? slot.first : slot.second) = &it->second;
  }
  std::vector<Tag> tags;
  if (by_index.size() > max_tags) {
    violations_.push_back(StrCat("Value at '", LowerCamel(member),
                                 "' failed to satisfy constraint: Member must have length less "
                                 "than or equal to ",
                                 max_tags));
    return tags;
  }
  static constexpr StringRule kTagKeyRule{1, 128, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+", IsTagText};
  static constexpr StringRule kTagValueRule{0, 256, "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*", IsTagText};
  for (const auto& [index, fields] : by_index) {
    for (auto [field, value, rule] : {std::tuple{"Key", fields.first, &kTagKeyRule},
                                      std::tuple{"Value", fields.second, &kTagValueRule}}) {
      if (!value) {
        violations_.push_back(StrCat("Value null at '", MessagePath(member, index, field),
                                     "' failed to satisfy constraint: Member must not be null"));
      } else {
        CheckText(MessagePath(member, index, field), *value, *rule);
      }
    }
    if (fields.first && fields.second) tags.push_back({*fields.first, *fields.second});
  }
  return tags;
}

absl::Status QueryReader::Finish() const {
  if (violations_.empty()) return absl::OkStatus();
  return Validation(StrCat(violations_.size(), " validation error",
                           violations_.size() == 1 ? "" : "s",
                           " detected: ", StrJoin(violations_, "; ")));
}

}  // namespace kmsd::api::query
