// Form decoding for the Query protocol. See form.h.
#include "api/query/form.h"

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api::query {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status Malformed(std::string_view why) {
  return Error(ErrorType::kSerialization, StrCat("The query string is malformed: ", why));
}

// Calls visit(name, value) for each "name=value" piece of text, undecoded; stops when it
// returns false.
template <typename Visit>
void ForEachPair(std::string_view text, Visit visit) {
  while (!text.empty()) {
    size_t end = text.find('&');
    std::string_view pair = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    std::string_view name = pair.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    if (!visit(name, value)) return;
  }
}

}  // namespace

std::optional<std::string> FormDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::Status ParseForm(std::string_view text, FormParameters& into) {
  if (text.size() > kMaxFormBytes) return Malformed("it is too long");
  absl::Status status;
  ForEachPair(text, [&](std::string_view raw_name, std::string_view raw_value) {
    auto name = FormDecode(raw_name);
    auto value = FormDecode(raw_value);
    if (!name || !value) {
      status = Malformed("a parameter has an invalid percent-encoding");
    } else if (name->empty() || name->size() > kMaxParameterNameLength) {
      status = Malformed("a parameter name is empty or too long");
    } else if (into.size() >= kMaxParameters) {
      status = Malformed(StrCat("it has more than ", kMaxParameters, " parameters"));
    } else if (!into.emplace(std::move(*name), std::move(*value)).second) {
      status = Malformed("a parameter is given more than once");
    }
    return status.ok();
  });
  return status;
}

std::optional<std::string> FindFormValue(std::string_view text, std::string_view name) {
  std::optional<std::string> found;
  if (text.size() > kMaxFormBytes) return found;
  ForEachPair(text, [&](std::string_view raw_name, std::string_view raw_value) {
    if (raw_name.size() > kMaxParameterNameLength * 3) return true;
    auto decoded = FormDecode(raw_name);
    if (!decoded || *decoded != name) return true;
    found = FormDecode(raw_value);
    return false;
  });
  return found;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      auto byte = static_cast<uint8_t>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    }
  }
  return out;
}

}  // namespace kmsd::api::query
