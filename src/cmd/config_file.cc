#include "cmd/config_file.h"

#include <CLI/CLI.hpp>
#include <fstream>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {

absl::Status ApplyConfigFile(CLI::App& command, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Validation(StrCat("cannot read the config file ", path));
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const CLI::Error& e) {
    return Validation(StrCat(path, ": ", e.what()));
  }
  for (const CLI::ConfigItem& item : items) {
    // CLI11 reports section headers as items of their own ("++" / "--" markers).
    if (item.name == "++" || item.name == "--") {
      return Validation(StrCat(path, ": sections are not used; write every key at the top level"));
    }
    std::string key = item.fullname();
    CLI::Option* option = key == "config" || key == "help"
                              ? nullptr
                              : command.get_option_no_throw(StrCat("--", key));
    if (option == nullptr) {
      return Validation(StrCat(path, ": unknown key \"", key, "\" (keys are the flags of `kmsd ",
                               command.get_name(), " --help` without their dashes)"));
    }
    if (option->count() > 0) continue;  // the command line wins
    try {
      option->add_result(item.inputs);
      option->run_callback();
    } catch (const CLI::Error& e) {
      return Validation(StrCat(path, ": ", key, ": ", e.what()));
    }
  }
  return absl::OkStatus();
}

}  // namespace kmsd::cmd
