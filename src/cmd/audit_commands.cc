// The audit subcommands: flags in, calls into kmsd::audit, report out.
#include "cmd/audit_commands.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "kmsd/audit.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

struct AuditFlags {
  std::string data_dir = "./var/kmsd";
  std::string audit_dir;
  std::string public_key_file;
  std::string key;
  std::string event_name;
  std::string event_source;
  std::string principal;
  std::string start;
  std::string end;
  bool errors_only = false;
  std::string format = "json";
};

AuditFlags& Flags() {
  static auto* const flags = new AuditFlags();
  return *flags;
}

struct Subcommands {
  CLI::App* audit = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* query = nullptr;
  CLI::App* public_key = nullptr;
};

Subcommands& Commands() {
  static auto* const commands = new Subcommands();
  return *commands;
}

std::string AuditDir() {
  const AuditFlags& flags = Flags();
  return flags.audit_dir.empty() ? StrCat(flags.data_dir, "/audit") : flags.audit_dir;
}

int Fail(const absl::Status& status) {
  std::cerr << "kmsd audit: " << ToStd(status.message()) << "\n";
  return 2;
}

int Verify() {
  std::string public_key;
  if (!Flags().public_key_file.empty()) {
    std::ifstream in(Flags().public_key_file);
    if (!in) return Fail(absl::NotFoundError("cannot read the --public-key file"));
    std::ostringstream text;
    text << in.rdbuf();
    public_key = text.str();
  } else {
    auto pem = audit::AuditPublicKeyPem(Flags().data_dir);
    if (!pem.ok()) return Fail(pem.status());
    public_key = *pem;
  }
  auto report = audit::VerifyTrail(AuditDir(), public_key);
  if (!report.ok()) return Fail(report.status());
  std::cout << audit::FormatVerifyReport(*report) << "\n";
  return report->ok ? 0 : 1;
}

int Query() {
  const AuditFlags& flags = Flags();
  audit::QueryFilter filter;
  filter.key = flags.key;
  filter.event_name = flags.event_name;
  filter.principal = flags.principal;
  filter.errors_only = flags.errors_only;
  filter.event_source = flags.event_source;
  if (!flags.start.empty()) {
    auto start = audit::ParseTime(flags.start);
    if (!start.ok()) return Fail(start.status());
    filter.start_seconds = *start;
  }
  if (!flags.end.empty()) {
    auto end = audit::ParseTime(flags.end);
    if (!end.ok()) return Fail(end.status());
    filter.end_seconds = *end;
  }
  auto format =
      flags.format == "table" ? audit::QueryFormat::kTable : audit::QueryFormat::kJsonLines;
  auto matched = audit::QueryTrail(AuditDir(), filter, format, std::cout);
  if (!matched.ok()) return Fail(matched.status());
  if (format == audit::QueryFormat::kTable) std::cout << *matched << " record(s)\n";
  return 0;
}

int PublicKey() {
  auto pem = audit::AuditPublicKeyPem(Flags().data_dir);
  if (!pem.ok()) return Fail(pem.status());
  std::cout << *pem;
  return 0;
}

void AddDirectoryFlags(CLI::App* command) {
  command->add_option("--data-dir", Flags().data_dir, "kmsd's data dir")->capture_default_str();
  command->add_option("--audit-dir", Flags().audit_dir, "Audit trail dir (default DATA_DIR/audit)");
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
  commands.verify->add_option("--public-key", flags.public_key_file,
                              "Trusted audit public key (PEM); default: derived from the signing "
                              "key in the data dir");

  commands.query = commands.audit->add_subcommand("query", "Print the records that match");
  AddDirectoryFlags(commands.query);
  commands.query->add_option("--key", flags.key, "Key id, key ARN, alias name or alias ARN");
  commands.query->add_option("--event", flags.event_name, "Event name, e.g. Decrypt");
  commands.query->add_option("--event-source", flags.event_source,
                             "Service: kms, iam, sts, or a full eventSource (iam.amazonaws.com)");
  commands.query->add_option("--principal", flags.principal,
                             "Access key id, principal id, ARN or user name of the caller, or the "
                             "ARN or name of the role whose sessions called");
  commands.query->add_option("--start", flags.start,
                             "From this time (2024-05-01, 2024-05-01T10:00:00Z or epoch seconds)");
  commands.query->add_option("--end", flags.end, "Before this time");
  commands.query->add_flag("--errors-only", flags.errors_only, "Only failed requests");
  commands.query->add_option("--format", flags.format, "json (JSON lines) or table")
      ->check(CLI::IsMember({"json", "table"}))
      ->capture_default_str();

  commands.public_key =
      commands.audit->add_subcommand("public-key", "Print the audit public key (PEM)");
  commands.public_key->add_option("--data-dir", flags.data_dir, "kmsd's data dir")
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
  return PublicKey();
}

}  // namespace kmsd::cmd
