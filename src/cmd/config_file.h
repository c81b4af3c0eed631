// `kmsd serve --config FILE`: the same settings as the flags, in a TOML file.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace CLI {
class App;
}

namespace kmsd::cmd {

// Reads FILE (TOML, as CLI11 parses it: `key = value` lines, `#` comments) after the command
// line was parsed. Each key is one of the command's long flag names without its dashes
// (`data-dir = "/var/lib/kmsd"`); flags given on the command line win. Each value passes the same
// checks as the flag's. An unknown key, a section, or a file that cannot be read is an error:
// a misspelt setting must not be ignored silently.
absl::Status ApplyConfigFile(CLI::App& command, const std::string& path);

}  // namespace kmsd::cmd
