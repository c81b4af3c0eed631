// Shared by the audit tests: temporary data dirs, requests as the API layer reports them, a
// movable clock and file helpers for tampering.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kmsd/api.h"
#include "kmsd/audit.h"
#include "kmsd/clock.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "kmsd-audit-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string audit() const { return path_ + "/audit"; }

 private:
  std::string path_;
};

class FakeClock : public Clock {
 public:
  int64_t NowSeconds() const override { return now_; }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  std::atomic<int64_t> now_{1714557600};  // 2024-05-01T10:00:00Z
};

// One request as the API layer hands it to on_request.
struct Call {
  std::string operation;
  HttpRequest http;
  std::optional<Principal> principal = RootPrincipal("111122223333", "AKIAEXAMPLEROOT00001");
  absl::Status status;
  std::string response;
  std::string claimed_access_key_id;

  RequestOutcome Outcome() const {
    return {operation, http,     principal ? &*principal : nullptr,
            status,    response, claimed_access_key_id};
  }
};

inline Call MakeCall(std::string operation, std::string body, std::string response = "{}",
                     absl::Status status = absl::OkStatus()) {
  Call call;
  call.operation = std::move(operation);
  call.http.method = "POST";
  call.http.target = "/";
  call.http.headers = {{"user-agent", "aws-cli/2.9 test"},
                       {"x-amz-target", "TrentService." + call.operation},
                       {"authorization",
                        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEROOT00001/20240501/us-east-1/kms/"
                        "aws4_request, SignedHeaders=host, Signature=5ec12e7deadbeef"}};
  call.http.body = std::move(body);
  call.http.remote_address = "127.0.0.1";
  call.http.request_id = "11111111-2222-4333-8444-555555555555";
  call.response = status.ok() ? std::move(response) : "";
  call.status = std::move(status);
  return call;
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const std::string& line : lines) out << line << '\n';
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Trail file paths in order.
inline std::vector<std::string> TrailFiles(const std::string& audit_dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(audit_dir)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("trail-")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace kmsd::audit::testing
