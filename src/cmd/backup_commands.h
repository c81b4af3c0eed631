// `kmsd backup` and `kmsd restore`: an online backup of a data dir into one file, and its restore
// into an empty data dir (include/kmsd/backup.h, docs/OPERATIONS.md).
#pragma once

#include <CLI/CLI.hpp>

namespace kmsd::cmd {

// Adds the `backup` and `restore` subcommands to app.
void AddBackupCommands(CLI::App& app);

// True when `backup` or `restore` was the subcommand parsed.
bool BackupCommandParsed();

// Runs the parsed one and returns the exit status: 0 done, 1 failed (the message says why).
int RunBackupCommands();

}  // namespace kmsd::cmd
