#include "kmsd/seal_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr const char* kKnownTypes[] = {"file", "pkcs11", "shares"};

absl::Status SystemError(std::string_view what, const std::string& path) {
  return Internal(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<SealConfig> ReadSealConfig(const std::string& data_dir) {
  std::string path = StrCat(data_dir, "/", kSealConfigFile);
  std::ifstream in(path);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return SealConfig{};
    return SystemError("cannot read", path);
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("seal") || !json["seal"].is_string() ||
      (json.contains("parameters") && !json["parameters"].is_object())) {
    return Internal(StrCat(path, " is malformed: it must be {\"seal\": TYPE, \"parameters\": {...}}"));
  }
  SealConfig config;
  config.type = json["seal"].get<std::string>();
  bool known = false;
  for (const char* type : kKnownTypes) known = known || config.type == type;
  if (!known) {
    return Internal(StrCat(path, " names an unknown seal \"", config.type,
                           "\" (known: file, pkcs11, shares)"));
  }
  if (json.contains("parameters")) config.parameters = json["parameters"];
  return config;
}

absl::Status WriteSealConfig(const std::string& data_dir, const SealConfig& config) {
  std::string path = StrCat(data_dir, "/", kSealConfigFile);
  std::string temporary = StrCat(path, ".tmp");
  std::string text =
      nlohmann::json{{"seal", config.type}, {"parameters", config.parameters}}.dump(2) + "\n";
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return SystemError("cannot create", temporary);
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = fsync(fd) == 0 && written;
  close(fd);
  if (!written) return SystemError("cannot write", temporary);
  if (rename(temporary.c_str(), path.c_str()) != 0) return SystemError("cannot rename", temporary);
  int dir = open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return SystemError("cannot open", data_dir);
  bool synced = fsync(dir) == 0;
  close(dir);
  if (!synced) return SystemError("cannot sync", data_dir);
  return absl::OkStatus();
}

}  // namespace kmsd
