// `kmsd seal migrate`: moves a stopped data dir from one seal to another without re-encrypting a
// record (only the wrapped keyring key changes). Here: --to shares (file -> shares).
#pragma once

#include <CLI/CLI.hpp>

namespace kmsd::cmd {

// Adds the `seal` subcommand (with `migrate`) to app.
void AddSealCommands(CLI::App& app);

// True when `seal migrate` was the subcommand parsed.
bool SealCommandParsed();

// Runs it: 0 done, 1 failed (the message says why; nothing changed unless it says so), 2 for
// wrong flags.
int RunSealCommands();

}  // namespace kmsd::cmd
