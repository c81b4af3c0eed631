// The verifier: walks the digests (signatures, their own chain), then every trail file (sequence
// numbers, the hash chain, the signed hashes) and names the first place the trail was changed.
#include <algorithm>
#include <map>
#include <sstream>

#include "audit/signing.h"
#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;

struct Digest {
  int64_t line = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  std::string last_hash;  // hex
};

// Splits a file into lines; `torn` is set when the last line has no newline (cut mid-write).
std::vector<std::string_view> Lines(std::string_view content, bool& torn) {
  std::vector<std::string_view> lines;
  torn = false;
  while (!content.empty()) {
    size_t end = content.find('\n');
    if (end == std::string_view::npos) {
      torn = true;
      lines.push_back(content);
      break;
    }
    lines.push_back(content.substr(0, end));
    content.remove_prefix(end + 1);
  }
  return lines;
}

std::optional<uint64_t> SequenceOf(const json& record) {
  auto it = record.find(kSequenceMember);
  if (it == record.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

class Verifier {
 public:
  Verifier(std::string dir, std::string public_key_pem)
      : dir_(std::move(dir)), public_key_pem_(std::move(public_key_pem)) {}

  absl::StatusOr<VerifyReport> Run() {
    auto fingerprint = PublicKeyFingerprint(public_key_pem_);
    if (!fingerprint.ok()) return fingerprint.status();
    fingerprint_ = *fingerprint;
    auto files = ListTrailFiles(dir_);
    if (!files.ok()) return files.status();
    files_ = std::move(*files);
    auto digests = CheckDigests();
    if (!digests.ok()) return digests.status();
    if (*digests) {
      auto records = CheckRecords();
      if (!records.ok()) return records.status();
    }
    return report_;
  }

 private:
  // Records the first problem found; returns false so callers can `return Problem(...)`.
  bool Problem(std::string kind, std::string file, int64_t line, int64_t sequence,
               std::string detail) {
    report_.ok = false;
    report_.problem = std::move(kind);
    report_.file = std::move(file);
    report_.line = line;
    report_.sequence = sequence;
    report_.detail = std::move(detail);
    return false;
  }

  absl::StatusOr<bool> CheckDigests() {
    std::string name(kDigestFile);
    auto content = ReadWholeFile(StrCat(dir_, "/", name));
    if (!content.ok()) return true;  // no digest written yet
    bool torn = false;
    std::vector<std::string_view> lines = Lines(*content, torn);
    std::string previous_hash = GenesisHash();
    // Hex hash of each digest line -> its line (0 = the start), to tell moves from removals.
    std::map<std::string, int64_t> line_of_hash{{crypto::HexEncode(GenesisHash()), 0}};
    for (size_t i = 0; i < lines.size(); ++i) {
      line_of_hash.emplace(crypto::HexEncode(crypto::Sha256(lines[i])),
                           static_cast<int64_t>(i) + 1);
    }
    uint64_t previous_last = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      int64_t line = static_cast<int64_t>(i) + 1;
      if (torn && i + 1 == lines.size()) {
        // What a crash leaves of a digest it was writing: as if it had never been written (its
        // records count as unsigned, and a closed file they end is still caught below).
        NoteTornTail(name, line, lines[i].size());
        break;
      }
      json digest = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
      if (!digest.is_object() || !digest.value("signature", json()).is_string() ||
          !digest.value("lastSequence", json()).is_number_unsigned() ||
          !digest.value("firstSequence", json()).is_number_unsigned() ||
          !digest.value("lastHash", json()).is_string() ||
          !digest.value("previousDigestHash", json()).is_string()) {
        return Problem("modified", name, line, 0, "the digest is not a well-formed digest");
      }
      auto signature = crypto::Base64Decode(digest["signature"].get<std::string>());
      if (!signature.ok()) {
        return Problem("bad-signature", name, line, 0, "the digest's signature is not base64");
      }
      auto valid = VerifySignature(public_key_pem_, DigestSignedBytes(digest), *signature);
      if (!valid.ok()) return valid.status();
      if (!*valid) {
        bool other_key = digest.value("publicKeyFingerprint", "") != fingerprint_;
        return Problem("bad-signature", name, line, 0,
                       other_key ? "the digest was signed by another key (or its key fingerprint "
                                   "was changed)"
                                 : "the digest's signature does not match: it was modified");
      }
      std::string claimed_previous = digest["previousDigestHash"].get<std::string>();
      if (claimed_previous != crypto::HexEncode(previous_hash)) {
        auto found = line_of_hash.find(claimed_previous);
        if (found == line_of_hash.end()) {
          return Problem("deleted", name, line, 0,
                         "the digest this one follows is missing: a digest was removed");
        }
        if (found->second > line) {
          return Problem("reordered", name, line, 0,
                         StrCat("this digest follows the one at line ", found->second,
                                ": digests were reordered"));
        }
        return Problem("inserted", name, line, 0,
                       StrCat("this digest claims to follow ",
                              found->second == 0 ? std::string("no digest (to be the first)")
                                                 : StrCat("the one at line ", found->second),
                              ": it was inserted or duplicated"));
      }
      uint64_t first = digest["firstSequence"].get<uint64_t>();
      uint64_t last = digest["lastSequence"].get<uint64_t>();
      if (first != previous_last + 1 || last < first) {
        return Problem("modified", name, line, 0,
                       StrCat("the digest covers sequences ", first, "..", last,
                              " but the previous one ended at ", previous_last));
      }
      previous_last = last;
      previous_hash = crypto::Sha256(lines[i]);
      digests_.push_back({line, first, last, digest["lastHash"].get<std::string>()});
    }
    report_.digests = static_cast<int64_t>(digests_.size());
    report_.last_signed_sequence = static_cast<int64_t>(previous_last);
    return true;
  }

  // True when `sequence` is at or after file index `from`: a missing record that turns up later
  // was moved, not removed.
  bool AppearsLater(size_t from, uint64_t sequence) {
    for (size_t f = from; f < files_.size(); ++f) {
      auto content = ReadWholeFile(StrCat(dir_, "/", files_[f]));
      if (!content.ok()) continue;
      bool torn = false;
      for (std::string_view text : Lines(RecordBytes(*content), torn)) {
        json record = json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (record.is_object() && SequenceOf(record) == sequence) return true;
      }
    }
    return false;
  }

  absl::StatusOr<bool> CheckRecords() {
    uint64_t expected = 1;
    std::string previous_hash = GenesisHash();
    std::string previous_file;
    int64_t previous_line = 0;
    size_t next_digest = 0;
    for (size_t f = 0; f < files_.size(); ++f) {
      const std::string& name = files_[f];
      auto content = ReadWholeFile(StrCat(dir_, "/", name));
      if (!content.ok()) return content.status();
      bool torn = false;
      std::string_view records = RecordBytes(*content);
      std::vector<std::string_view> lines = Lines(records, torn);
      for (size_t i = 0; i < lines.size(); ++i) {
        int64_t line = static_cast<int64_t>(i) + 1;
        if (torn && i + 1 == lines.size()) {
          // The end of the newest file, cut off mid-line: a write a crash cut short, never
          // acknowledged (kmsd cuts it at its next start), indistinguishable from unsigned
          // records cut off, which no verifier can detect; a signed record cut so is caught by
          // the digest check at the end. Anywhere else a line cannot have been left torn.
          bool newest = f + 1 == files_.size();
          if (newest && expected > static_cast<uint64_t>(report_.last_signed_sequence)) {
            NoteTornTail(name, line, lines[i].size());
            break;
          }
          return Problem("truncated", name, line, static_cast<int64_t>(expected),
                         newest ? "the record is cut off mid-line, though a signed digest covers it"
                                : "the record is cut off mid-line, in a file kmsd had closed");
        }
        json record = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
        std::optional<uint64_t> sequence = record.is_object() ? SequenceOf(record) : std::nullopt;
        auto claimed = record.is_object() ? record.find(kPreviousHashMember) : record.end();
        if (!sequence || claimed == record.end() || !claimed->is_string()) {
          return Problem("modified", name, line, static_cast<int64_t>(expected),
                         "the line is not a well-formed trail record");
        }
        if (*sequence != expected) {
          if (*sequence < expected) {
            return Problem("inserted", name, line, static_cast<int64_t>(*sequence),
                           StrCat("sequence ", *sequence, " appears again (expected ", expected,
                                  "): a record was inserted or duplicated"));
          }
          if (AppearsLater(f, expected)) {
            return Problem("reordered", name, line, static_cast<int64_t>(*sequence),
                           StrCat("expected sequence ", expected, " here but found ", *sequence,
                                  "; ", expected, " comes later: records were reordered"));
          }
          return Problem("deleted", name, line, static_cast<int64_t>(expected),
                         StrCat("sequence ", expected,
                                *sequence - expected > 1 ? StrCat("..", *sequence - 1) : "",
                                " is missing before this record: deleted"));
        }
        if (claimed->get<std::string>() != crypto::HexEncode(previous_hash)) {
          if (previous_line == 0) {
            return Problem("modified", name, line, static_cast<int64_t>(*sequence),
                           "the first record's previousHash was changed");
          }
          return Problem(
              "modified", previous_file, previous_line, static_cast<int64_t>(*sequence - 1),
              StrCat("this record's hash does not match the previousHash of sequence ", *sequence,
                     " (", name, " line ", line, "): one of the two was modified"));
        }
        previous_hash = ChainHash(previous_hash, lines[i]);
        while (next_digest < digests_.size() && digests_[next_digest].last_sequence == *sequence) {
          const Digest& digest = digests_[next_digest];
          if (digest.last_hash != crypto::HexEncode(previous_hash)) {
            return Problem(
                "modified", name, line, static_cast<int64_t>(*sequence),
                StrCat("the records from sequence ", digest.first_sequence, " to ", *sequence,
                       " do not match the signed digest at ", kDigestFile, " line ", digest.line,
                       ": records in that range were rewritten (chain recomputed)"));
          }
          ++next_digest;
        }
        previous_file = name;
        previous_line = line;
        ++expected;
        ++report_.records;
      }
      // The file kmsd writes is zero-padded after its last record when it began from a spare;
      // anything else after the padding is a batch a crash cut short (kmsd cuts it off when it
      // starts again) or a change to the file.
      if (std::string_view(*content).substr(records.size()).find_first_not_of('\0') !=
          std::string_view::npos) {
        return Problem("truncated", name, static_cast<int64_t>(lines.size()) + 1,
                       static_cast<int64_t>(expected),
                       "bytes follow the zero padding after the last record: a write cut short "
                       "by a crash (kmsd cuts them off at its next start), or the file was "
                       "changed");
      }
      // kmsd signs a file before it starts the next one (and signs a crash's leftovers at
      // restart), so a closed file beyond the digests means digests were removed.
      bool closed = f + 1 < files_.size();
      if (closed && previous_file == name &&
          expected - 1 > static_cast<uint64_t>(report_.last_signed_sequence)) {
        return Problem("deleted", std::string(kDigestFile), 0, static_cast<int64_t>(expected - 1),
                       StrCat("no digest covers ", name,
                              ", though a later file exists (its last "
                              "record, sequence ",
                              expected - 1,
                              ", would have been signed): "
                              "digests were removed"));
      }
    }
    if (next_digest < digests_.size()) {
      const Digest& digest = digests_[next_digest];
      return Problem(
          "truncated", previous_file, previous_line, static_cast<int64_t>(expected - 1),
          StrCat("the trail ends at sequence ", expected - 1, " but the signed digest at ",
                 kDigestFile, " line ", digest.line, " covers up to sequence ",
                 digest.last_sequence, ": records were cut off or files removed"));
    }
    return true;
  }

  void NoteTornTail(const std::string& file, int64_t line, size_t bytes) {
    if (!report_.torn_tail.empty()) report_.torn_tail += "; ";
    report_.torn_tail += StrCat(file, " line ", line, " (", bytes, " bytes, no newline)");
  }

  const std::string dir_;
  const std::string public_key_pem_;
  std::string fingerprint_;
  std::vector<std::string> files_;
  std::vector<Digest> digests_;
  VerifyReport report_;
};

}  // namespace

absl::StatusOr<VerifyReport> VerifyTrail(const std::string& audit_dir,
                                         const std::string& public_key_pem) {
  return Verifier(audit_dir, public_key_pem).Run();
}

std::string FormatVerifyReport(const VerifyReport& report) {
  if (report.ok) {
    std::string text = StrCat("audit trail OK: ", report.records, " record(s), ", report.digests,
                              " signed digest(s)");
    if (report.records > report.last_signed_sequence) {
      text += StrCat("; the last ", report.records - report.last_signed_sequence,
                     " record(s) are chained but not yet covered by a signed digest");
    }
    if (!report.torn_tail.empty()) {
      text += StrCat(
          "; ends in a torn line, a write cut short by a crash (not counted; kmsd cuts "
          "it off when it starts): ",
          report.torn_tail);
    }
    return text;
  }
  std::string where = report.file;
  if (report.line > 0) where += StrCat(" line ", report.line);
  if (report.sequence > 0) where += StrCat(" (sequence ", report.sequence, ")");
  return StrCat("audit trail FAILED verification: ", report.problem, " at ", where, ": ",
                report.detail);
}

}  // namespace kmsd::audit
