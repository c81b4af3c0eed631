// `kmsd audit verify|query|summary|public-key`: the audit trail's reading tools on the kmsd
// command line.
#pragma once

#include <CLI/CLI.hpp>

namespace kmsd::cmd {

// Adds the `audit` subcommand (and its verify, query, summary and public-key subcommands) to app.
void AddAuditCommands(CLI::App& app);

// Runs the audit subcommand that was parsed and returns the exit status: 0 success (verify: the
// trail is intact), 1 verify found tampering, 2 the command could not run. Returns 2 with a usage
// hint if `audit` was not given.
int RunAuditCommands();

}  // namespace kmsd::cmd
