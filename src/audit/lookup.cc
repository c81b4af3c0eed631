// LookupEvents' reading of the trail: newest first, a chunk at a time from the end of each file,
// a cheap text test before any line is parsed, and a bound on the bytes read per page.
#include "audit/lookup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "audit/event.h"
#include "audit/trail_format.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, std::string_view member) {
  auto it = object.find(member);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// trail-<first sequence, 20 digits>-<YYYYMMDDTHHMMSSZ>.jsonl
struct TrailFile {
  std::string name;
  uint64_t first_sequence = 0;
  std::optional<int64_t> started;  // seconds
};

TrailFile DescribeTrailFile(const std::string& name) {
  TrailFile file{name};
  std::string_view rest = std::string_view(name).substr(kTrailPrefix.size());
  std::string_view digits = rest.substr(0, rest.find('-'));
  for (char c : digits) file.first_sequence = file.first_sequence * 10 + (c - '0');
  if (rest.size() > digits.size() + 16) {
    std::string_view stamp = rest.substr(digits.size() + 1, 16);  // 20240501T100000Z
    std::string iso =
        StrCat(stamp.substr(0, 4), "-", stamp.substr(4, 2), "-", stamp.substr(6, 2), "T",
               stamp.substr(9, 2), ":", stamp.substr(11, 2), ":", stamp.substr(13, 2), "Z");
    file.started = ParseIsoTime(iso);
  }
  return file;
}

// An open trail file read from its end.
class FileReader {
 public:
  ~FileReader() {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Open(const std::string& path) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return Internal(StrCat("cannot open ", path));
    off_t size = lseek(fd_, 0, SEEK_END);
    if (size < 0) return Internal(StrCat("cannot read ", path));
    size_ = static_cast<uint64_t>(size);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Read(uint64_t offset, size_t bytes) const {
    std::string out(bytes, '\0');
    size_t done = 0;
    while (done < bytes) {
      ssize_t got = pread(fd_, out.data() + done, bytes - done, static_cast<off_t>(offset + done));
      if (got < 0) return Internal("cannot read a trail file");
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    out.resize(done);
    return out;
  }

  // Where the records end: the file's size, or the first NUL of a file begun from a spare (its
  // zero padding; records never hold a NUL), found by bisection; then back to the last newline,
  // so that a line being written (or torn by a crash) is not read.
  absl::StatusOr<uint64_t> RecordsEnd() const {
    uint64_t low = 0, high = size_;  // the first NUL is in [low, high]; high = none
    while (low < high) {
      uint64_t middle = low + (high - low) / 2;
      auto byte = Read(middle, 1);
      if (!byte.ok()) return byte.status();
      if (!byte->empty() && (*byte)[0] == '\0') {
        high = middle;
      } else {
        low = middle + 1;
      }
    }
    uint64_t end = high;
    // Back to just after the last newline.
    while (end > 0) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(end, 64 << 10));
      auto tail = Read(end - take, take);
      if (!tail.ok()) return tail.status();
      size_t newline = tail->rfind('\n');
      if (newline != std::string::npos) return end - take + newline + 1;
      end -= take;
    }
    return 0;
  }

  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// The text a matching record must contain, found before the line is parsed: most lines of a
// large trail are ruled out without a parse.
std::string Needle(const LookupQuery& query) {
  const std::string& key = query.attribute_key;
  std::string quoted;
  AppendJsonString(quoted, query.attribute_value);
  if (key == "EventName") return StrCat("\"eventName\":", quoted);
  if (key == "EventSource") return StrCat("\"eventSource\":", quoted);
  if (key == "EventId") return StrCat("\"eventID\":", quoted);
  if (key == "AccessKeyId") return StrCat("\"accessKeyId\":", quoted);
  if (key == "ReadOnly") return StrCat("\"readOnly\":", query.attribute_value);
  if (key == "Username" && query.attribute_value == "root") return "\"type\":\"Root\"";
  if (key.empty()) return "";
  // ResourceType: the value as a string. Username (a role session's name is the end of its
  // principalId) and ResourceName (a key id is the end of its ARN): within one.
  return key == "ResourceType" ? quoted : quoted.substr(1, quoted.size() - 2);
}

std::optional<int64_t> EventTimeOf(std::string_view line) {
  constexpr std::string_view kMember = "\"eventTime\":\"";
  size_t at = line.find(kMember);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + kMember.size());
  return ParseIsoTime(rest.substr(0, rest.find('"')));
}

}  // namespace

bool MatchesLookupAttribute(const json& record, const LookupQuery& query) {
  const std::string& key = query.attribute_key;
  const std::string& value = query.attribute_value;
  if (key.empty()) return true;
  if (key == "EventId") return StringAt(record, "eventID") == value;
  if (key == "EventName") return StringAt(record, "eventName") == value;
  if (key == "EventSource") return StringAt(record, "eventSource") == value;
  if (key == "ReadOnly") {
    auto it = record.find("readOnly");
    return it != record.end() && it->is_boolean() && (it->get<bool>() ? "true" : "false") == value;
  }
  LookupEventFields fields = EventFieldsOf(record);
  if (key == "AccessKeyId") return !value.empty() && fields.access_key_id == value;
  if (key == "Username") return !value.empty() && fields.username == value;
  for (const auto& [type, name] : fields.resources) {
    if (key == "ResourceType" && type == value) return true;
    // A resource by its ARN, or a key by its id (the end of its ARN).
    if (key == "ResourceName" &&
        (name == value || (name.size() > value.size() && name.ends_with(value) &&
                           name[name.size() - value.size() - 1] == '/'))) {
      return true;
    }
  }
  return false;
}

LookupEventFields EventFieldsOf(const json& record) {
  LookupEventFields fields;
  fields.event_id = StringAt(record, "eventID");
  fields.event_name = StringAt(record, "eventName");
  auto read_only = record.find("readOnly");
  fields.read_only = read_only != record.end() && read_only->is_boolean() && read_only->get<bool>()
                         ? "true"
                         : "false";
  fields.event_time = ParseIsoTime(StringAt(record, "eventTime")).value_or(0);
  fields.event_source = StringAt(record, "eventSource");
  auto identity = record.find("userIdentity");
  if (identity != record.end() && identity->is_object()) {
    fields.access_key_id = StringAt(*identity, "accessKeyId");
    std::string type = StringAt(*identity, "type");
    if (type == "Root") {
      fields.username = "root";
    } else if (type == "IAMUser") {
      fields.username = StringAt(*identity, "userName");
    } else if (type == "AssumedRole") {
      std::string id = StringAt(*identity, "principalId");  // ROLE-ID:SESSION-NAME
      size_t colon = id.find(':');
      if (colon != std::string::npos) fields.username = id.substr(colon + 1);
    }
  }
  auto resources = record.find("resources");
  if (resources != record.end() && resources->is_array()) {
    for (const json& resource : *resources) {
      if (!resource.is_object()) continue;
      fields.resources.emplace_back(StringAt(resource, "type"), StringAt(resource, "ARN"));
    }
  }
  return fields;
}

absl::StatusOr<LookupPage> LookupTrail(const std::string& audit_dir, const LookupQuery& query,
                                       const std::optional<LookupPosition>& from,
                                       const LookupLimits& limits) {
  auto names = ListTrailFiles(audit_dir);
  if (!names.ok()) return names.status();
  std::vector<TrailFile> files;
  files.reserve(names->size());
  for (const std::string& name : *names) files.push_back(DescribeTrailFile(name));

  LookupPage page;
  if (files.empty()) return page;
  // The file to read from, and where in it.
  size_t index = files.size() - 1;
  uint64_t end = kFromFileEnd;  // from the file's last record
  if (from) {
    auto found = std::find_if(files.begin(), files.end(), [&](const TrailFile& file) {
      return file.first_sequence == from->file_first_sequence;
    });
    if (found == files.end()) {
      return Error(ErrorType::kInvalidNextToken,
                   "The trail file this token points into is no longer there");
    }
    index = static_cast<size_t>(found - files.begin());
    end = from->end_offset;
  }
  const std::string needle = Needle(query);
  bool progressed = false;  // a line was read
  const int64_t slack = limits.time_slack_seconds;
  while (true) {
    const TrailFile& file = files[index];
    // A file begun after the end of the range holds no record of it (but for the slack).
    bool after_range =
        query.end_seconds && file.started && *file.started - slack > *query.end_seconds;
    if (!after_range) {
      FileReader reader;
      if (auto status = reader.Open(StrCat(audit_dir, "/", file.name)); !status.ok()) {
        return status;
      }
      uint64_t position = 0;
      if (end != kFromFileEnd) {
        if (end > reader.size()) {
          return Error(ErrorType::kInvalidNextToken, "The token points past the trail's records");
        }
        position = end;
      } else {
        auto records_end = reader.RecordsEnd();
        if (!records_end.ok()) return records_end.status();
        position = *records_end;
      }
      // Chunks back from `position`, which is always the start of a line (or a file's end).
      size_t chunk = limits.chunk_bytes;
      while (position > 0) {
        // Over the budget, the page ends (but only once it has read a line: a page must move on).
        if (page.scanned_bytes >= limits.max_scan_bytes && progressed) {
          page.next = LookupPosition{file.first_sequence, position};
          return page;
        }
        uint64_t start = position > chunk ? position - chunk : 0;
        auto text = reader.Read(start, static_cast<size_t>(position - start));
        if (!text.ok()) return text.status();
        page.scanned_bytes += text->size();
        std::string_view view = *text;
        // The chunk's first line may begin before it: keep it for the next chunk unless the chunk
        // starts the file. A line longer than the chunk: read a larger chunk.
        size_t first_line = 0;
        if (start > 0) {
          size_t newline = view.find('\n');
          if (newline == std::string_view::npos || newline + 1 == view.size()) {
            chunk *= 2;
            continue;
          }
          first_line = newline + 1;
        }
        // Lines from the last to the first whole one.
        size_t line_end = view.size();  // just after the line's newline
        while (line_end > first_line) {
          size_t previous = line_end >= 2 ? view.rfind('\n', line_end - 2) : std::string_view::npos;
          size_t line_start = previous == std::string_view::npos || previous < first_line
                                  ? first_line
                                  : previous + 1;
          std::string_view line = view.substr(line_start, line_end - line_start);
          if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
          line_end = line_start;
          progressed = true;
          std::optional<int64_t> time = EventTimeOf(line);
          if (time && query.start_seconds && *time < *query.start_seconds - slack) {
            return page;  // older than the range, and so is everything before it
          }
          if (!time) continue;  // unreadable: the verifier's business
          if (query.start_seconds && *time < *query.start_seconds) continue;
          if (query.end_seconds && *time > *query.end_seconds) continue;
          if (!needle.empty() && line.find(needle) == std::string_view::npos) continue;
          json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
          if (!record.is_object() || !MatchesLookupAttribute(record, query)) continue;
          page.lines.emplace_back(line);
          if (page.lines.size() >= query.max_results) {
            uint64_t resume = start + line_start;
            if (resume > 0) {
              page.next = LookupPosition{file.first_sequence, resume};
            } else if (index > 0) {
              page.next = LookupPosition{files[index - 1].first_sequence, kFromFileEnd};
            }
            return page;
          }
        }
        position = start + first_line;
        chunk = limits.chunk_bytes;
      }
    }
    // The file before, from its end; none older than the range's start can match.
    if (index == 0) return page;
    if (query.start_seconds && file.started && *file.started + slack < *query.start_seconds) {
      return page;
    }
    --index;
    end = kFromFileEnd;
  }
}

}  // namespace kmsd::audit
