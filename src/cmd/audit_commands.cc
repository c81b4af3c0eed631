// The audit subcommands: flags in, calls into kmsd::audit, report out.
#include "cmd/audit_commands.h"

#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/status/statusor.h"
#include "kmsd/audit.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

struct AuditFlags {
  // Several of each for the trails of several nodes (issue 12), one data (or audit) dir each.
  std::vector<std::string> data_dirs{"./var/kmsd"};
  std::vector<std::string> audit_dirs;
  std::vector<std::string> public_key_files;
  std::string public_key_data_dir = "./var/kmsd";  // kmsd audit public-key
  std::string key;
  std::string event_name;
  std::string event_source;
  std::string principal;
  std::string start;
  std::string end;
  bool errors_only = false;
  std::string format = "json";
  std::string summary_format = "table";
  std::vector<std::string> group_by;
};

AuditFlags& Flags() {
  static auto* const flags = new AuditFlags();
  return *flags;
}

struct Subcommands {
  CLI::App* audit = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* query = nullptr;
  CLI::App* summary = nullptr;
  CLI::App* public_key = nullptr;
};

Subcommands& Commands() {
  static auto* const commands = new Subcommands();
  return *commands;
}

// The trails to read: the --audit-dir given, else each data dir's audit dir.
std::vector<std::string> AuditDirs() {
  const AuditFlags& flags = Flags();
  if (!flags.audit_dirs.empty()) return flags.audit_dirs;
  std::vector<std::string> dirs;
  for (const std::string& data_dir : flags.data_dirs) dirs.push_back(StrCat(data_dir, "/audit"));
  return dirs;
}

// Exit codes: 1 when the work failed (a trail that cannot be read), 2 for a usage error (a filter
// that cannot be parsed), as CLI users expect.
int Fail(const absl::Status& status) {
  std::cerr << "kmsd audit: " << ToStd(status.message()) << "\n";
  return 1;
}

int Usage(const absl::Status& status) {
  std::cerr << "kmsd audit: " << ToStd(status.message()) << "\n";
  return 2;
}

absl::StatusOr<std::string> ReadPublicKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot read the --public-key file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Each trail is one node's chain, verified on its own with its own key: the --public-key given
// for it (in the order of the trails), else the signing key in its data dir.
int Verify() {
  const AuditFlags& flags = Flags();
  std::vector<std::string> dirs = AuditDirs();
  if (!flags.public_key_files.empty() && flags.public_key_files.size() != dirs.size()) {
    return Usage(absl::InvalidArgumentError(StrCat("give one --public-key per trail (", dirs.size(),
                                                   " trail(s), ", flags.public_key_files.size(),
                                                   " key(s))")));
  }
  if (flags.public_key_files.empty() && flags.data_dirs.size() != dirs.size()) {
    return Usage(absl::InvalidArgumentError(
        "give one --data-dir per --audit-dir (their signing keys verify them), or --public-key"));
  }
  bool all_ok = true;
  for (size_t i = 0; i < dirs.size(); ++i) {
    auto public_key = flags.public_key_files.empty() ? audit::AuditPublicKeyPem(flags.data_dirs[i])
                                                     : ReadPublicKey(flags.public_key_files[i]);
    if (!public_key.ok()) return Fail(public_key.status());
    auto report = audit::VerifyTrail(dirs[i], *public_key);
    if (!report.ok()) return Fail(report.status());
    if (dirs.size() > 1) std::cout << dirs[i] << ": ";
    std::cout << audit::FormatVerifyReport(*report) << "\n";
    all_ok = all_ok && report->ok;
  }
  return all_ok ? 0 : 1;
}

// The filter the query and summary flags describe; relative times count back from now.
absl::StatusOr<audit::QueryFilter> Filter() {
  const AuditFlags& flags = Flags();
  audit::QueryFilter filter;
  filter.key = flags.key;
  filter.event_name = flags.event_name;
  filter.principal = flags.principal;
  filter.errors_only = flags.errors_only;
  filter.event_source = flags.event_source;
  int64_t now = std::time(nullptr);
  if (!flags.start.empty()) {
    auto start = audit::ParseTime(flags.start, now);
    if (!start.ok()) return start.status();
    filter.start_seconds = *start;
  }
  if (!flags.end.empty()) {
    auto end = audit::ParseTime(flags.end, now);
    if (!end.ok()) return end.status();
    filter.end_seconds = *end;
  }
  return filter;
}

int Query() {
  auto filter = Filter();
  if (!filter.ok()) return Usage(filter.status());
  auto format =
      Flags().format == "table" ? audit::QueryFormat::kTable : audit::QueryFormat::kJsonLines;
  auto matched = audit::QueryTrails(AuditDirs(), *filter, format, std::cout);
  if (!matched.ok()) return Fail(matched.status());
  if (format == audit::QueryFormat::kTable) std::cout << *matched << " record(s)\n";
  return 0;
}

int Summary() {
  auto filter = Filter();
  if (!filter.ok()) return Usage(filter.status());
  std::vector<audit::SummaryColumn> group_by;
  for (const std::string& name : Flags().group_by) {
    group_by.push_back(*audit::ParseSummaryColumn(name));  // CLI11 checked the names
  }
  if (group_by.empty()) group_by = audit::DefaultSummaryColumns(*filter);
  auto format = Flags().summary_format == "json" ? audit::QueryFormat::kJsonLines
                                                 : audit::QueryFormat::kTable;
  auto matched = audit::SummarizeTrails(AuditDirs(), *filter, group_by, format, std::cout);
  if (!matched.ok()) return Fail(matched.status());
  if (format == audit::QueryFormat::kTable) std::cout << *matched << " record(s)\n";
  return 0;
}

int PublicKey() {
  auto pem = audit::AuditPublicKeyPem(Flags().public_key_data_dir);
  if (!pem.ok()) return Fail(pem.status());
  std::cout << *pem;
  return 0;
}

void AddDirectoryFlags(CLI::App* command) {
  command
      ->add_option("--data-dir", Flags().data_dirs,
                   "kmsd's data dir; repeat it for the trails of several nodes")
      ->capture_default_str()
      ->allow_extra_args(false);
  command
      ->add_option("--audit-dir", Flags().audit_dirs,
                   "Audit trail dir (default DATA_DIR/audit); repeat it for several nodes")
      ->allow_extra_args(false);
}

// The filter flags that query and summary share.
void AddFilterFlags(CLI::App* command) {
  AuditFlags& flags = Flags();
  command->add_option("--key", flags.key,
                      "Key id, key ARN, alias name or alias ARN (an alias also finds the records "
                      "of the key it pointed to at the time, as the trail shows)");
  command->add_option("--event", flags.event_name, "Event name in any case, e.g. Decrypt");
  command->add_option("--event-source", flags.event_source,
                      "Service: kms, iam, sts, or a full eventSource (iam.amazonaws.com)");
  command->add_option("--principal", flags.principal,
                      "Access key id, principal id, ARN or user name of the caller, or the ARN or "
                      "name of the role whose sessions called");
  command->add_option("--since,--start", flags.start,
                      "From this time on: 2024-05-01, 2024-05-01T10:00:00Z, epoch seconds, or a "
                      "time ago such as 30m, 1h, 2d (units s, m, h, d, w)");
  command->add_option("--until,--end", flags.end, "Before this time (same forms as --since)");
  command->add_flag("--errors-only", flags.errors_only, "Only failed requests");
}

}  // namespace

void AddAuditCommands(CLI::App& app) {
  Subcommands& commands = Commands();
  AuditFlags& flags = Flags();
  commands.audit = app.add_subcommand("audit", "Read, verify and export the audit trail");
  commands.audit->require_subcommand(1);

  commands.verify = commands.audit->add_subcommand(
      "verify",
      "Check the whole trail (chain, digests, signatures); exit 1 naming the first "
      "place that was modified, deleted, inserted, reordered or truncated");
  AddDirectoryFlags(commands.verify);
  commands.verify
      ->add_option("--public-key", flags.public_key_files,
                   "Trusted audit public key (PEM), one per trail in their order; default: "
                   "derived from the signing key in each data dir")
      ->allow_extra_args(false);

  commands.query = commands.audit->add_subcommand("query", "Print the records that match");
  AddDirectoryFlags(commands.query);
  AddFilterFlags(commands.query);
  commands.query->add_option("--format", flags.format, "json (JSON lines) or table")
      ->check(CLI::IsMember({"json", "table"}))
      ->capture_default_str();

  commands.summary = commands.audit->add_subcommand(
      "summary",
      "Count the records that match: who used a key, how often, with what outcome (with --key), "
      "or how much each key was used");
  AddDirectoryFlags(commands.summary);
  AddFilterFlags(commands.summary);
  commands.summary
      ->add_option("--by", flags.group_by,
                   "Group by these, comma-separated: key, principal, event, outcome (default: "
                   "principal,event,outcome with --key, else key)")
      ->delimiter(',')
      ->check(CLI::IsMember({"key", "principal", "event", "outcome"}));
  commands.summary->add_option("--format", flags.summary_format, "table or json (JSON lines)")
      ->check(CLI::IsMember({"json", "table"}))
      ->capture_default_str();

  commands.public_key =
      commands.audit->add_subcommand("public-key", "Print the audit public key (PEM)");
  commands.public_key->add_option("--data-dir", flags.public_key_data_dir, "kmsd's data dir")
      ->capture_default_str();
}

int RunAuditCommands() {
  const Subcommands& commands = Commands();
  if (!commands.audit || !commands.audit->parsed()) {
    std::cerr << "kmsd: give a subcommand (see --help)\n";
    return 2;
  }
  if (commands.verify->parsed()) return Verify();
  if (commands.query->parsed()) return Query();
  if (commands.summary->parsed()) return Summary();
  return PublicKey();
}

}  // namespace kmsd::cmd
