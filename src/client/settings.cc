// Endpoint, region and credentials, found as the AWS CLI and SDKs find them.
#include <cstdlib>
#include <fstream>
#include <map>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"

namespace kmsd::client {
namespace {

using IniFile = std::map<std::string, std::map<std::string, std::string>>;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

// An INI file of the ~/.aws kind; a missing file is an empty one. A key with no value followed by
// indented lines is a sub-section, as in a [services NAME] section:
//   kms =
//     endpoint_url = http://127.0.0.1:7600
// whose settings are stored as "kms.endpoint_url".
IniFile ReadIni(const std::string& path) {
  IniFile sections;
  std::ifstream in(path);
  std::string line, section, parent;
  while (std::getline(in, line)) {
    std::string text = Trim(line);
    if (text.empty() || text[0] == '#' || text[0] == ';') continue;
    if (text.front() == '[' && text.back() == ']') {
      section = Trim(std::string_view(text).substr(1, text.size() - 2));
      parent.clear();
      continue;
    }
    size_t equals = text.find('=');
    if (equals == std::string::npos) continue;
    std::string key = Trim(std::string_view(text).substr(0, equals));
    std::string value = Trim(std::string_view(text).substr(equals + 1));
    bool indented = line[0] == ' ' || line[0] == '\t';
    if (indented && !parent.empty()) {
      sections[section][StrCat(parent, ".", key)] = value;
      continue;
    }
    parent = value.empty() ? key : "";
    sections[section][key] = value;
  }
  return sections;
}

std::string AwsFile(const char* variable, const char* name) {
  std::string path = Env(variable);
  if (!path.empty()) return path;
  return StrCat(Env("HOME"), "/.aws/", name);
}

std::string Lookup(const IniFile& file, const std::string& section, const std::string& key) {
  auto s = file.find(section);
  if (s == file.end()) return "";
  auto k = s->second.find(key);
  return k == s->second.end() ? "" : k->second;
}

bool IsTrue(const std::string& value) { return AsciiLower(value) == "true"; }

// The endpoint, in the order AWS documents for service-specific endpoints: the flag, the
// service's variable, the global variable, the profile's services section, the profile's own
// endpoint_url, then AWS's endpoint for the region. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the
// profile's ignore_configured_endpoint_urls) skips everything configured but the flag.
void ResolveEndpoint(const ClientFlags& flags, const IniFile& config,
                     const std::string& config_section, ClientSettings& settings) {
  std::string ignore = Env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (ignore.empty()) ignore = Lookup(config, config_section, "ignore_configured_endpoint_urls");
  std::vector<std::pair<std::string, std::string>> candidates = {
      {flags.endpoint_url, "--endpoint-url"}};
  if (!IsTrue(ignore)) {
    std::string services = Lookup(config, config_section, "services");
    candidates.insert(
        candidates.end(),
        {{Env("AWS_ENDPOINT_URL_KMS"), "AWS_ENDPOINT_URL_KMS"},
         {Env("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"},
         {services.empty() ? "" : Lookup(config, "services " + services, "kms.endpoint_url"),
          StrCat("kms endpoint_url in [services ", services, "]")},
         {Lookup(config, config_section, "endpoint_url"),
          StrCat("endpoint_url in [", config_section, "]")}});
  }
  candidates.push_back({StrCat("https://kms.", settings.region, ".amazonaws.com"),
                        StrCat("AWS's endpoint for region ", settings.region)});
  for (auto& [url, source] : candidates) {
    if (!url.empty()) {
      settings.endpoint_url = std::move(url);
      settings.endpoint_source = std::move(source);
      return;
    }
  }
}

}  // namespace

absl::StatusOr<ClientSettings> ResolveSettings(const ClientFlags& flags) {
  std::string profile = !flags.profile.empty()        ? flags.profile
                        : !Env("AWS_PROFILE").empty() ? Env("AWS_PROFILE")
                                                      : "default";
  IniFile config = ReadIni(AwsFile("AWS_CONFIG_FILE", "config"));
  std::string config_section = profile == "default" ? "default" : "profile " + profile;

  ClientSettings settings;
  for (const std::string& candidate : {flags.region, Env("AWS_REGION"), Env("AWS_DEFAULT_REGION"),
                                       Lookup(config, config_section, "region")}) {
    if (!candidate.empty()) {
      settings.region = candidate;
      break;
    }
  }
  if (settings.region.empty()) {
    return Validation("no region: give --region or set AWS_REGION");
  }
  ResolveEndpoint(flags, config, config_section, settings);

  // Environment credentials win unless a profile was asked for on the command line.
  if (flags.profile.empty() && !Env("AWS_ACCESS_KEY_ID").empty() &&
      !Env("AWS_SECRET_ACCESS_KEY").empty()) {
    settings.credentials = {Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
                            Env("AWS_SESSION_TOKEN")};
    return settings;
  }
  IniFile credentials = ReadIni(AwsFile("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
  settings.credentials = {Lookup(credentials, profile, "aws_access_key_id"),
                          Lookup(credentials, profile, "aws_secret_access_key"),
                          Lookup(credentials, profile, "aws_session_token")};
  if (settings.credentials.access_key_id.empty() ||
      settings.credentials.secret_access_key.empty()) {
    settings.credentials.access_key_id = Lookup(config, config_section, "aws_access_key_id");
    settings.credentials.secret_access_key =
        Lookup(config, config_section, "aws_secret_access_key");
  }
  if (settings.credentials.access_key_id.empty() ||
      settings.credentials.secret_access_key.empty()) {
    return Validation(
        StrCat("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
               "or add profile '",
               profile, "' to ~/.aws/credentials"));
  }
  return settings;
}

}  // namespace kmsd::client
