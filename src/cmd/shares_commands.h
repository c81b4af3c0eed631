// `kmsd init --shares N --threshold T` and `kmsd unseal`: a data dir under the shares seal, and
// giving a sealed kmsd one share (docs/SEAL.md, "Shamir shares").
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kmsd::cmd {

// Adds the `init` and `unseal` subcommands to app.
void AddSharesCommands(CLI::App& app);

// True when `init` or `unseal` was the subcommand parsed.
bool SharesCommandParsed();

// Runs the parsed one: 0 done, 1 failed (the message says why), 2 for wrong flags.
int RunSharesCommands();

// Reads one share: a line from stdin, prompted for and not echoed when stdin is a terminal.
// False when nothing was read (end of input). The caller wipes share.
bool ReadShare(std::string& share);

// Prints the shares of a new root key with what to do with them (init and seal migrate).
void PrintShares(const std::vector<std::string_view>& shares, int threshold,
                 const std::string& data_dir);

}  // namespace kmsd::cmd
