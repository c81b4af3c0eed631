// The query tool: reads the trail files in order and prints the records that match a filter, as
// JSON lines or as a table for people.
#include <cstdio>

#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;

constexpr std::string_view kKeyParameters[] = {"keyId", "targetKeyId", "sourceKeyId",
                                               "destinationKeyId"};
constexpr std::string_view kAliasParameters[] = {"keyId", "aliasName", "sourceKeyId",
                                                 "destinationKeyId"};

// The filter's key in the form records are compared with.
struct KeyMatcher {
  bool alias = false;
  std::string name;  // key id (lower case) or "alias/..."

  explicit KeyMatcher(std::string_view text) {
    size_t slash = text.find('/');
    if (text.starts_with("arn:") && slash != std::string_view::npos) {
      // arn:aws:kms:REGION:ACCOUNT:key/ID or ...:alias/NAME
      size_t colon = text.rfind(':', slash);
      std::string_view resource = text.substr(colon + 1);
      alias = resource.starts_with("alias/");
      name = alias ? std::string(resource) : AsciiLower(resource.substr(resource.find('/') + 1));
    } else {
      alias = text.starts_with("alias/");
      name = alias ? std::string(text) : AsciiLower(text);
    }
  }

  // A parameter value names our key if it is the id itself or an ARN that ends with it.
  bool NamesKey(const std::string& value) const {
    if (alias) return value == name || value.ends_with(StrCat(":", name));
    std::string lower = AsciiLower(value);
    return lower == name || lower.ends_with(StrCat(":key/", name));
  }

  bool Matches(const json& record) const {
    const json& parameters =
        record.contains("requestParameters") ? record["requestParameters"] : json();
    if (parameters.is_object()) {
      for (std::string_view member :
           alias ? std::span(kAliasParameters) : std::span(kKeyParameters)) {
        auto it = parameters.find(member);
        if (it != parameters.end() && it->is_string() && NamesKey(it->get<std::string>())) {
          return true;
        }
      }
    }
    if (alias) return false;
    auto resources = record.find("resources");
    if (resources == record.end() || !resources->is_array()) return false;
    for (const json& resource : *resources) {
      auto arn = resource.find("ARN");
      if (arn != resource.end() && arn->is_string() && NamesKey(arn->get<std::string>())) {
        return true;
      }
    }
    return false;
  }
};

std::string StringAt(const json& record, std::string_view member) {
  auto it = record.find(member);
  return it != record.end() && it->is_string() ? it->get<std::string>() : "";
}

// The object at record[outer][inner], or nullptr.
const json* ObjectAt(const json& record, std::string_view outer, std::string_view inner = "") {
  auto it = record.find(outer);
  if (it == record.end() || !it->is_object()) return nullptr;
  return inner.empty() ? &*it : ObjectAt(*it, inner);
}

// The caller by its access key id, principal id, ARN or user name; a role session also by the
// role that issued it (its ARN, id or name), so that one filter finds all a role's sessions did.
bool MatchesPrincipal(const json& record, const std::string& principal) {
  const json* identity = ObjectAt(record, "userIdentity");
  if (identity == nullptr) return false;
  for (std::string_view member : {"accessKeyId", "principalId", "arn", "userName"}) {
    if (StringAt(*identity, member) == principal) return true;
  }
  const json* issuer = ObjectAt(*identity, "sessionContext", "sessionIssuer");
  if (issuer == nullptr) return false;
  for (std::string_view member : {"principalId", "arn", "userName"}) {
    if (StringAt(*issuer, member) == principal) return true;
  }
  return false;
}

// "kms", "IAM", "sts.amazonaws.com" -> the eventSource records carry.
std::string FullEventSource(std::string_view name) {
  std::string source = AsciiLower(name);
  if (!source.empty() && source.find('.') == std::string::npos) source += ".amazonaws.com";
  return source;
}

bool Matches(const json& record, const QueryFilter& filter, const std::string& event_source,
             const std::optional<KeyMatcher>& key) {
  if (!filter.event_name.empty() && StringAt(record, "eventName") != filter.event_name) {
    return false;
  }
  if (!event_source.empty() && StringAt(record, "eventSource") != event_source) return false;
  if (filter.errors_only && !record.contains("errorCode")) return false;
  if (!filter.principal.empty() && !MatchesPrincipal(record, filter.principal)) return false;
  if (filter.start_seconds || filter.end_seconds) {
    std::optional<int64_t> time = ParseIsoTime(StringAt(record, "eventTime"));
    if (!time) return false;
    if (filter.start_seconds && *time < *filter.start_seconds) return false;
    if (filter.end_seconds && *time >= *filter.end_seconds) return false;
  }
  return !key || key->Matches(record);
}

// The key a record is about, short: the first key resource's key id, else the requested key.
std::string KeyColumn(const json& record) {
  auto resources = record.find("resources");
  if (resources != record.end() && resources->is_array() && !resources->empty() &&
      StringAt((*resources)[0], "type") == "AWS::KMS::Key") {
    std::string arn = StringAt((*resources)[0], "ARN");
    size_t slash = arn.rfind('/');
    return slash == std::string::npos ? arn : arn.substr(slash + 1);
  }
  auto parameters = record.find("requestParameters");
  if (parameters != record.end() && parameters->is_object()) {
    for (std::string_view member : kAliasParameters) {
      std::string value = StringAt(*parameters, member);
      if (!value.empty()) return value;
    }
  }
  return "-";
}

std::string Cell(std::string text, size_t width) {
  if (text.size() > width) text = text.substr(0, width - 1) + "~";
  text.resize(width, ' ');
  return text;
}

void PrintRow(std::ostream& out, const std::string& sequence, const std::string& time,
              const std::string& event, const std::string& principal, const std::string& key,
              const std::string& source, const std::string& result) {
  out << Cell(sequence, 8) << ' ' << Cell(time, 20) << ' ' << Cell(event, 31) << ' '
      << Cell(principal, 20) << ' ' << Cell(key, 36) << ' ' << Cell(source, 15) << ' ' << result
      << '\n';
}

// Who called, short: an IAM user's name, a role session's name, else the access key id (the
// root's, or the one a caller who failed authentication claimed) or ARN.
std::string PrincipalColumn(const json& record) {
  const json* identity = ObjectAt(record, "userIdentity");
  if (identity == nullptr) return "-";
  std::string type = StringAt(*identity, "type");
  if (type == "IAMUser") {
    std::string user = StringAt(*identity, "userName");
    if (!user.empty()) return user;
  } else if (type == "AssumedRole") {
    std::string id = StringAt(*identity, "principalId");  // ROLE-ID:SESSION-NAME
    size_t colon = id.find(':');
    if (colon != std::string::npos) return id.substr(colon + 1);
  }
  std::string principal = StringAt(*identity, "accessKeyId");
  if (principal.empty()) principal = StringAt(*identity, "arn");
  return principal.empty() ? "-" : principal;
}

void PrintTableRow(std::ostream& out, const json& record) {
  std::string principal = PrincipalColumn(record);
  auto sequence = record.find(kSequenceMember);
  std::string error = StringAt(record, "errorCode");
  PrintRow(out, sequence != record.end() ? sequence->dump() : "?", StringAt(record, "eventTime"),
           StringAt(record, "eventName"), principal, KeyColumn(record),
           StringAt(record, "sourceIPAddress"), error.empty() ? "OK" : error);
}

}  // namespace

absl::StatusOr<int64_t> ParseTime(std::string_view text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos &&
      text.size() <= 12) {
    return std::stoll(std::string(text));
  }
  std::optional<int64_t> seconds = ParseIsoTime(text);
  if (!seconds) {
    return Validation(StrCat("cannot read the time \"", text,
                             "\": use 2024-05-01, 2024-05-01T10:00:00Z or seconds since 1970"));
  }
  return *seconds;
}

absl::StatusOr<int64_t> QueryTrail(const std::string& audit_dir, const QueryFilter& filter,
                                   QueryFormat format, std::ostream& out) {
  std::string source = FullEventSource(filter.event_source);
  auto files = ListTrailFiles(audit_dir);
  if (!files.ok()) return files.status();
  std::optional<KeyMatcher> key;
  if (!filter.key.empty()) key.emplace(filter.key);
  if (format == QueryFormat::kTable) {
    PrintRow(out, "SEQ", "TIME", "EVENT", "PRINCIPAL", "KEY", "SOURCE IP", "RESULT");
  }
  int64_t matched = 0;
  for (const std::string& name : *files) {
    auto content = ReadWholeFile(StrCat(audit_dir, "/", name));
    if (!content.ok()) return content.status();
    std::string_view rest = RecordBytes(*content);  // without a live file's zero padding
    while (!rest.empty()) {
      size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      // Unreadable lines are the verifier's business; a query shows what it can read.
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || !Matches(record, filter, source, key)) continue;
      ++matched;
      if (format == QueryFormat::kJsonLines) {
        out << line << '\n';
      } else {
        PrintTableRow(out, record);
      }
    }
  }
  return matched;
}

}  // namespace kmsd::audit
