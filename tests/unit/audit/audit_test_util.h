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
#include "kmsd/principal.h"
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
  std::string event_source = "kms.amazonaws.com";
  // What the IAM and STS codecs hand over instead of their form bodies and XML answers.
  std::string request_parameters_json;
  std::string response_elements_json;

  RequestOutcome Outcome() const {
    return {operation,
            http,
            principal ? &*principal : nullptr,
            status,
            response,
            claimed_access_key_id,
            event_source,
            request_parameters_json,
            response_elements_json};
  }
};

// The IAM user alice (path /team/) of account 111122223333, signing with her access key.
inline Principal IamUser() {
  Principal user;
  user.kind = PrincipalType::kIamUser;
  user.type = "IAMUser";
  user.principal_id = "AIDAEXAMPLEALICE0001";
  user.arn = "arn:aws:iam::111122223333:user/team/alice";
  user.account_id = "111122223333";
  user.access_key_id = "AKIAEXAMPLEALICE0001";
  user.user_name = "alice";
  return user;
}

// A session "build-42" of the role deployer, created 2024-05-01T09:30:00Z.
inline Principal AssumedRole() {
  Principal session;
  session.kind = PrincipalType::kAssumedRole;
  session.type = "AssumedRole";
  session.principal_id = "AROAEXAMPLEDEPLOYER1:build-42";
  session.arn = "arn:aws:sts::111122223333:assumed-role/deployer/build-42";
  session.account_id = "111122223333";
  session.access_key_id = "ASIAEXAMPLESESSION01";
  session.role_arn = "arn:aws:iam::111122223333:role/ci/deployer";
  session.role_id = "AROAEXAMPLEDEPLOYER1";
  session.role_name = "deployer";
  session.session_name = "build-42";
  session.session_created = 1714555800;
  session.session_expiration = 1714559400;
  return session;
}

// An IAM or STS request as its codec reports it: a form body, an XML answer, and the JSON the
// audit reads instead of them. Not inlined: inlined into a loop it trips GCC 12's -Wrestrict
// false positive on a std::string assignment.
[[gnu::noinline]] inline Call MakeQueryCall(std::string service, std::string operation,
                                            std::string form_body, std::string parameters_json,
                                            std::string xml_answer = "",
                                            std::string elements_json = "",
                                            absl::Status status = absl::OkStatus()) {
  Call call;
  call.operation = std::move(operation);
  call.http.method = "POST";
  call.http.target = "/";
  call.http.headers = {{"user-agent", "aws-cli/2.9 test"},
                       {"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  call.http.body = std::move(form_body);
  call.http.remote_address = "127.0.0.1";
  call.http.request_id = "11111111-2222-4333-8444-555555555555";
  call.event_source = StrCat(service, ".amazonaws.com");
  call.request_parameters_json = std::move(parameters_json);
  if (status.ok()) {
    call.response = std::move(xml_answer);
    call.response_elements_json = std::move(elements_json);
  }
  call.status = std::move(status);
  return call;
}

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
