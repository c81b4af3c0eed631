// The query tool: reads the trail files in order and prints the records that match a filter, as
// JSON lines or as a table for people, or counts them by who, what and outcome (the summary).
#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <span>

#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;

constexpr std::string_view kKmsEventSource = "kms.amazonaws.com";
constexpr std::string_view kKeyParameters[] = {"keyId", "targetKeyId", "sourceKeyId",
                                               "destinationKeyId"};
constexpr std::string_view kAliasParameters[] = {"keyId", "aliasName", "sourceKeyId",
                                                 "destinationKeyId"};
// Parameters through which a successful call's answer names the key an alias resolved to, as
// the record's first resource (the answer's KeyId or KeyMetadata.Arn comes first).
constexpr std::string_view kResolvedAliasParameters[] = {"keyId", "destinationKeyId"};

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

// "ID" or "arn:aws:kms:REGION:ACCOUNT:key/ID" -> "id" (lower case); "" for an alias.
std::string KeyIdOf(std::string_view text) {
  if (text.starts_with("arn:")) {
    size_t key = text.find(":key/");
    return key == std::string_view::npos ? "" : AsciiLower(text.substr(key + 5));
  }
  return text.starts_with("alias/") ? "" : AsciiLower(text);
}

// "alias/NAME" or "arn:aws:kms:REGION:ACCOUNT:alias/NAME" -> "alias/NAME"; "" for a key.
std::string AliasNameOf(std::string_view text) {
  if (text.starts_with("arn:")) {
    size_t alias = text.find(":alias/");
    return alias == std::string_view::npos ? "" : std::string(text.substr(alias + 1));
  }
  return text.starts_with("alias/") ? std::string(text) : "";
}

// A parameter value names the key if it is its id or an ARN that ends with it.
bool NamesKey(const std::string& value, const std::string& key_id) {
  std::string lower = AsciiLower(value);
  return lower == key_id || lower.ends_with(StrCat(":key/", key_id));
}

// Alias names are case-sensitive; an alias ARN ends with ":alias/NAME".
bool NamesAlias(const std::string& value, const std::string& alias) {
  return value == alias || value.ends_with(StrCat(":", alias));
}

std::string FirstKeyResource(const json& record) {
  auto resources = record.find("resources");
  if (resources == record.end() || !resources->is_array() || resources->empty()) return "";
  const json& first = (*resources)[0];
  return first.is_object() && StringAt(first, "type") == "AWS::KMS::Key" ? StringAt(first, "ARN")
                                                                         : "";
}

// The record names the key in a key parameter or a resource.
bool RecordNamesKey(const json& record, const std::string& key_id) {
  if (const json* parameters = ObjectAt(record, "requestParameters")) {
    for (std::string_view member : kKeyParameters) {
      auto it = parameters->find(member);
      if (it != parameters->end() && it->is_string() && NamesKey(it->get<std::string>(), key_id)) {
        return true;
      }
    }
  }
  auto resources = record.find("resources");
  if (resources == record.end() || !resources->is_array()) return false;
  for (const json& resource : *resources) {
    if (!resource.is_object()) continue;
    auto arn = resource.find("ARN");
    if (arn != resource.end() && arn->is_string() && NamesKey(arn->get<std::string>(), key_id)) {
      return true;
    }
  }
  return false;
}

// The record names the alias in a parameter (keyId, aliasName, sourceKeyId, destinationKeyId).
bool RecordNamesAlias(const json& record, const std::string& alias) {
  const json* parameters = ObjectAt(record, "requestParameters");
  if (parameters == nullptr) return false;
  for (std::string_view member : kAliasParameters) {
    auto it = parameters->find(member);
    if (it != parameters->end() && it->is_string() && NamesAlias(it->get<std::string>(), alias)) {
      return true;
    }
  }
  return false;
}

// Where one alias pointed, at each place in the trail, as the trail itself shows it (no keystore
// needed). Its successful CreateAlias, UpdateAlias and DeleteAlias records are authoritative.
// Until the first of them, the alias may be older than the trail: then the successful calls that
// used the alias (keyId or destinationKeyId) and name the key it resolved to tell where it
// pointed, and the first of them counts from the trail's beginning. docs/AUDIT.md explains.
class AliasTimeline {
 public:
  explicit AliasTimeline(std::string alias) : alias_(std::move(alias)) {}

  // Called with every record in trail order; position counts records from 0.
  void Observe(const json& record, int64_t position) {
    if (record.contains("errorCode") || StringAt(record, "eventSource") != kKmsEventSource) return;
    const json* parameters = ObjectAt(record, "requestParameters");
    if (parameters == nullptr) return;
    std::string event = StringAt(record, "eventName");
    if (NamesAlias(StringAt(*parameters, "aliasName"), alias_)) {
      if (event == "CreateAlias" || event == "UpdateAlias") {
        std::string key = KeyIdOf(FirstKeyResource(record));
        if (key.empty()) key = KeyIdOf(StringAt(*parameters, "targetKeyId"));
        PointAt(position, std::move(key));
        changes_seen_ = true;
        return;
      }
      if (event == "DeleteAlias") {
        PointAt(position, "");
        changes_seen_ = true;
        return;
      }
    }
    // After a recorded change, a call may still have resolved the alias just before it (the two
    // raced): only the changes count.
    if (changes_seen_) return;
    for (std::string_view member : kResolvedAliasParameters) {
      if (!NamesAlias(StringAt(*parameters, member), alias_)) continue;
      std::string key = KeyIdOf(FirstKeyResource(record));
      if (key.empty()) return;
      if (points_.empty()) {
        PointAt(std::numeric_limits<int64_t>::min(), std::move(key));  // since before the trail
      } else if (points_.back().key != key) {
        PointAt(position, std::move(key));  // changed where the trail does not show it
      }
      return;
    }
  }

  // The key id (lower case) the alias pointed to at that position; "" if none or not known.
  const std::string& KeyAt(int64_t position) const {
    auto after = std::upper_bound(
        points_.begin(), points_.end(), position,
        [](int64_t position, const Point& point) { return position < point.position; });
    static const std::string* const kNone = new std::string();
    return after == points_.begin() ? *kNone : std::prev(after)->key;
  }

 private:
  // From this position on (until the next point), the alias named this key ("" = none).
  struct Point {
    int64_t position;
    std::string key;
  };

  void PointAt(int64_t position, std::string key) { points_.push_back({position, std::move(key)}); }

  std::string alias_;
  std::vector<Point> points_;  // in position order
  bool changes_seen_ = false;
};

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

// A QueryFilter made ready to compare records with. An alias filter needs a first pass over the
// trail (Observe) before Matches.
class RecordMatcher {
 public:
  explicit RecordMatcher(const QueryFilter& filter)
      : filter_(filter),
        event_name_(AsciiLower(filter.event_name)),
        event_source_(FullEventSource(filter.event_source)) {
    if (filter.key.empty()) return;
    std::string alias = AliasNameOf(filter.key);
    if (alias.empty()) {
      key_id_ = KeyIdOf(filter.key);
    } else {
      alias_ = alias;
      timeline_.emplace(std::move(alias));
    }
  }

  bool NeedsFirstPass() const { return timeline_.has_value(); }
  void Observe(const json& record, int64_t position) { timeline_->Observe(record, position); }

  bool Matches(const json& record, int64_t position) const {
    if (!event_name_.empty() && AsciiLower(StringAt(record, "eventName")) != event_name_) {
      return false;
    }
    if (!event_source_.empty() && StringAt(record, "eventSource") != event_source_) return false;
    if (filter_.errors_only && !record.contains("errorCode")) return false;
    if (!filter_.principal.empty() && !MatchesPrincipal(record, filter_.principal)) return false;
    if (filter_.start_seconds || filter_.end_seconds) {
      std::optional<int64_t> time = ParseIsoTime(StringAt(record, "eventTime"));
      if (!time) return false;
      if (filter_.start_seconds && *time < *filter_.start_seconds) return false;
      if (filter_.end_seconds && *time >= *filter_.end_seconds) return false;
    }
    if (!key_id_.empty()) return RecordNamesKey(record, key_id_);
    if (!timeline_) return filter_.key.empty();
    if (RecordNamesAlias(record, alias_)) return true;
    const std::string& key = timeline_->KeyAt(position);
    return !key.empty() && RecordNamesKey(record, key);
  }

 private:
  const QueryFilter& filter_;
  std::string event_name_;    // lower case
  std::string event_source_;  // full
  std::string key_id_;        // lower case, when the filter names a key
  std::string alias_;         // when the filter names an alias
  std::optional<AliasTimeline> timeline_;
};

// Calls visit(record, line, position) for every readable record, in trail order.
absl::Status ForEachRecord(
    const std::string& audit_dir,
    const std::function<void(const json&, std::string_view, int64_t)>& visit) {
  auto files = ListTrailFiles(audit_dir);
  if (!files.ok()) return files.status();
  int64_t position = 0;
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
      if (!record.is_object()) continue;
      visit(record, line, position++);
    }
  }
  return absl::OkStatus();
}

// Calls visit(record, line) for every record that matches, in trail order; returns how many.
absl::StatusOr<int64_t> ForEachMatch(
    const std::string& audit_dir, const QueryFilter& filter,
    const std::function<void(const json&, std::string_view)>& visit) {
  RecordMatcher matcher(filter);
  if (matcher.NeedsFirstPass()) {
    auto status =
        ForEachRecord(audit_dir, [&](const json& record, std::string_view, int64_t position) {
          matcher.Observe(record, position);
        });
    if (!status.ok()) return status;
  }
  int64_t matched = 0;
  auto status =
      ForEachRecord(audit_dir, [&](const json& record, std::string_view line, int64_t position) {
        if (!matcher.Matches(record, position)) return;
        ++matched;
        visit(record, line);
      });
  if (!status.ok()) return status;
  return matched;
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
  if (const json* parameters = ObjectAt(record, "requestParameters")) {
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

std::string OutcomeColumn(const json& record) {
  std::string error = StringAt(record, "errorCode");
  return error.empty() ? "OK" : error;
}

void PrintTableRow(std::ostream& out, const json& record) {
  auto sequence = record.find(kSequenceMember);
  PrintRow(out, sequence != record.end() ? sequence->dump() : "?", StringAt(record, "eventTime"),
           StringAt(record, "eventName"), PrincipalColumn(record), KeyColumn(record),
           StringAt(record, "sourceIPAddress"), OutcomeColumn(record));
}

// Who called, for a summary, where a row must say who without the rest of the record: an IAM
// user's name (unique in the account), else the ARN (the root's, or a role session's, which
// names the role), else the access key id that a caller who failed authentication claimed.
std::string SummaryPrincipal(const json& record) {
  const json* identity = ObjectAt(record, "userIdentity");
  if (identity == nullptr) return "-";
  if (StringAt(*identity, "type") == "IAMUser") {
    std::string user = StringAt(*identity, "userName");
    if (!user.empty()) return user;
  }
  std::string arn = StringAt(*identity, "arn");
  if (!arn.empty()) return arn;
  std::string access_key = StringAt(*identity, "accessKeyId");
  return access_key.empty() ? "unauthenticated" : StrCat("unauthenticated ", access_key);
}

std::string SummaryValue(const json& record, SummaryColumn column) {
  switch (column) {
    case SummaryColumn::kKey:
      return KeyColumn(record);
    case SummaryColumn::kPrincipal:
      return SummaryPrincipal(record);
    case SummaryColumn::kEvent: {
      std::string event = StringAt(record, "eventName");
      return event.empty() ? "-" : event;
    }
    case SummaryColumn::kOutcome:
      return OutcomeColumn(record);
  }
  return "-";
}

// Each column's name (for --by and as a JSON member) and table header.
struct SummaryColumnName {
  SummaryColumn column;
  std::string_view name;
  std::string_view header;
};
constexpr SummaryColumnName kSummaryColumnNames[] = {
    {SummaryColumn::kKey, "key", "KEY"},
    {SummaryColumn::kPrincipal, "principal", "PRINCIPAL"},
    {SummaryColumn::kEvent, "event", "EVENT"},
    {SummaryColumn::kOutcome, "outcome", "RESULT"},
};

const SummaryColumnName& NameOf(SummaryColumn column) {
  for (const SummaryColumnName& name : kSummaryColumnNames) {
    if (name.column == column) return name;
  }
  return kSummaryColumnNames[0];  // unreachable: every column is in the table
}

struct SummaryGroup {
  std::vector<std::string> values;  // one per group_by column
  int64_t count = 0;
  int64_t errors = 0;
  std::string first_time;
  std::string last_time;
};

void WriteSummaryTable(std::ostream& out, const std::vector<SummaryColumn>& group_by,
                       const std::vector<const SummaryGroup*>& rows) {
  bool errors_column =
      std::find(group_by.begin(), group_by.end(), SummaryColumn::kOutcome) == group_by.end();
  std::vector<std::string> headers;
  for (SummaryColumn column : group_by) headers.emplace_back(NameOf(column).header);
  headers.emplace_back("COUNT");
  if (errors_column) headers.emplace_back("ERRORS");
  headers.emplace_back("FIRST");
  headers.emplace_back("LAST");
  std::vector<std::vector<std::string>> cells{headers};
  for (const SummaryGroup* group : rows) {
    std::vector<std::string> row = group->values;
    row.push_back(std::to_string(group->count));
    if (errors_column) row.push_back(std::to_string(group->errors));
    row.push_back(group->first_time);
    row.push_back(group->last_time);
    cells.push_back(std::move(row));
  }
  // Columns as wide as their widest cell: a summary is read whole, nothing is cut.
  std::vector<size_t> widths(headers.size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        line += row[i];
      } else {
        line += Cell(row[i], widths[i]);
        line += "  ";
      }
    }
    out << line << '\n';
  }
}

void WriteSummaryJsonLines(std::ostream& out, const std::vector<SummaryColumn>& group_by,
                           const std::vector<const SummaryGroup*>& rows) {
  for (const SummaryGroup* group : rows) {
    nlohmann::ordered_json row;
    for (size_t i = 0; i < group_by.size(); ++i) {
      row[std::string(NameOf(group_by[i]).name)] = group->values[i];
    }
    row["count"] = group->count;
    row["errors"] = group->errors;
    row["firstTime"] = group->first_time;
    row["lastTime"] = group->last_time;
    out << DumpJson(row) << '\n';
  }
}

}  // namespace

absl::StatusOr<int64_t> ParseTime(std::string_view text, int64_t now_seconds) {
  size_t digits = text.find_first_not_of("0123456789");
  if (!text.empty() && digits == std::string_view::npos && text.size() <= 12) {
    return std::stoll(std::string(text));
  }
  if (text == "now") return now_seconds;
  // A time ago: digits and one unit.
  if (digits > 0 && digits <= 9 && digits + 1 == text.size()) {
    int64_t amount = std::stoll(std::string(text.substr(0, digits)));
    int64_t unit = 0;
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
    }
    if (unit != 0) return now_seconds - amount * unit;
  }
  std::optional<int64_t> seconds = ParseIsoTime(text);
  if (!seconds) {
    return Validation(StrCat("cannot read the time \"", text,
                             "\": use 2024-05-01, 2024-05-01T10:00:00Z, seconds since 1970, or "
                             "a time ago such as 90s, 30m, 1h, 2d, 1w"));
  }
  return *seconds;
}

absl::StatusOr<int64_t> QueryTrail(const std::string& audit_dir, const QueryFilter& filter,
                                   QueryFormat format, std::ostream& out) {
  return QueryTrails({audit_dir}, filter, format, out);
}

absl::StatusOr<int64_t> QueryTrails(const std::vector<std::string>& audit_dirs,
                                    const QueryFilter& filter, QueryFormat format,
                                    std::ostream& out) {
  bool merged = audit_dirs.size() > 1;
  if (format == QueryFormat::kTable) {
    if (merged) out << Cell("NODE", 16) << ' ';
    PrintRow(out, "SEQ", "TIME", "EVENT", "PRINCIPAL", "KEY", "SOURCE IP", "RESULT");
  }
  auto write = [&](const json& record, std::string_view line, size_t dir) {
    if (format == QueryFormat::kJsonLines) {
      out << line << '\n';
      return;
    }
    if (merged) {
      std::string node = StringAt(record, kNodeMember);
      out << Cell(node.empty() ? StrCat("trail ", dir + 1) : node, 16) << ' ';
    }
    PrintTableRow(out, record);
  };
  if (!merged) {
    if (audit_dirs.empty()) return 0;
    return ForEachMatch(audit_dirs[0], filter,
                        [&](const json& record, std::string_view line) { write(record, line, 0); });
  }
  // Several nodes' trails (issue 12): each is read in its own order (an alias's history is per
  // trail), then all are merged by eventTime; records of one second keep their trail's order,
  // the first trail's first.
  struct Match {
    std::string time;  // ISO 8601 in UTC: sorts as text
    size_t dir;
    std::string line;
  };
  std::vector<Match> matches;
  for (size_t dir = 0; dir < audit_dirs.size(); ++dir) {
    auto status =
        ForEachMatch(audit_dirs[dir], filter, [&](const json& record, std::string_view line) {
          matches.push_back({StringAt(record, "eventTime"), dir, std::string(line)});
        });
    if (!status.ok()) return status.status();
  }
  std::stable_sort(matches.begin(), matches.end(),
                   [](const Match& a, const Match& b) { return a.time < b.time; });
  for (const Match& match : matches) {
    json record = json::parse(match.line, nullptr, /*allow_exceptions=*/false);
    write(record, match.line, match.dir);
  }
  return static_cast<int64_t>(matches.size());
}

std::optional<SummaryColumn> ParseSummaryColumn(std::string_view name) {
  for (const SummaryColumnName& column : kSummaryColumnNames) {
    if (name == column.name) return column.column;
  }
  return std::nullopt;
}

std::vector<SummaryColumn> DefaultSummaryColumns(const QueryFilter& filter) {
  if (filter.key.empty()) return {SummaryColumn::kKey};
  return {SummaryColumn::kPrincipal, SummaryColumn::kEvent, SummaryColumn::kOutcome};
}

absl::StatusOr<int64_t> SummarizeTrail(const std::string& audit_dir, const QueryFilter& filter,
                                       const std::vector<SummaryColumn>& group_by,
                                       QueryFormat format, std::ostream& out) {
  return SummarizeTrails({audit_dir}, filter, group_by, format, out);
}

absl::StatusOr<int64_t> SummarizeTrails(const std::vector<std::string>& audit_dirs,
                                        const QueryFilter& filter,
                                        const std::vector<SummaryColumn>& group_by,
                                        QueryFormat format, std::ostream& out) {
  std::map<std::vector<std::string>, SummaryGroup> groups;
  int64_t matched = 0;
  for (const std::string& audit_dir : audit_dirs) {
    auto counted = ForEachMatch(audit_dir, filter, [&](const json& record, std::string_view) {
      std::vector<std::string> values;
      values.reserve(group_by.size());
      for (SummaryColumn column : group_by) values.push_back(SummaryValue(record, column));
      SummaryGroup& group = groups[values];
      if (group.count == 0) group.values = std::move(values);
      ++group.count;
      if (record.contains("errorCode")) ++group.errors;
      std::string time = StringAt(record, "eventTime");
      if (group.first_time.empty() || time < group.first_time) group.first_time = time;
      if (time > group.last_time) group.last_time = time;
    });
    if (!counted.ok()) return counted.status();
    matched += *counted;
  }
  std::vector<const SummaryGroup*> rows;
  rows.reserve(groups.size());
  for (const auto& [values, group] : groups) rows.push_back(&group);
  // The most frequent first; ties in the order of their values (the map's order).
  std::stable_sort(rows.begin(), rows.end(), [](const SummaryGroup* a, const SummaryGroup* b) {
    return a->count > b->count;
  });
  if (format == QueryFormat::kTable) {
    WriteSummaryTable(out, group_by, rows);
  } else {
    WriteSummaryJsonLines(out, group_by, rows);
  }
  return matched;
}

}  // namespace kmsd::audit
