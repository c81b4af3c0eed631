// The web console's static files: read once into memory, answered by exact path with strict
// security headers (include/kmsd/console.h).
#include "kmsd/console.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>

#include "kmsd/strings.h"

namespace kmsd {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kConsoleRoot = "/console";

// The console loads only its own scripts and styles and talks only to this origin (the KMS, IAM
// and CloudTrail APIs); nothing inline, nothing framed, no forms posted elsewhere.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

struct ConsoleFile {
  std::string content_type;
  std::string body;
};

std::string_view ContentTypeOf(const std::string& path) {
  static const std::map<std::string, std::string_view, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
      {".webmanifest", "application/manifest+json"},
  };
  size_t dot = path.rfind('.');
  if (dot != std::string::npos) {
    auto found = kTypes.find(std::string_view(path).substr(dot));
    if (found != kTypes.end()) return found->second;
  }
  return "application/octet-stream";
}

void AddSecurityHeaders(HttpResponse& response) {
  response.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  response.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
}

HttpResponse PlainAnswer(int status, std::string_view text) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  response.headers.emplace_back("Cache-Control", "no-store");
  AddSecurityHeaders(response);
  response.body = std::string(text);
  return response;
}

// The path without its query string, or nullopt when it is not the console's.
std::optional<std::string_view> ConsolePathOf(const HttpRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find_first_of("?#"));
  if (path == kConsoleRoot || path.starts_with(kConsolePath)) return path;
  return std::nullopt;
}

class ConsoleFilesImpl : public ConsoleFiles {
 public:
  explicit ConsoleFilesImpl(std::map<std::string, ConsoleFile, std::less<>> files)
      : files_(std::move(files)) {}

  std::optional<HttpResponse> Serve(const HttpRequest& request) const override {
    std::optional<std::string_view> path = ConsolePathOf(request);
    if (!path) return std::nullopt;
    if (request.method != "GET" && request.method != "HEAD") {
      HttpResponse refused = PlainAnswer(405, "method not allowed\n");
      refused.headers.emplace_back("Allow", "GET, HEAD");
      return refused;
    }
    HttpResponse response;
    if (*path == kConsoleRoot) {
      response = PlainAnswer(301, "");
      response.headers.emplace_back("Location", std::string(kConsolePath));
    } else {
      std::string_view relative = path->substr(kConsolePath.size());
      if (relative.empty()) relative = "index.html";
      // Exact look-up in what was loaded: "..", "%2e" or a directory name match no entry.
      auto found = files_.find(relative);
      if (found == files_.end()) {
        response = PlainAnswer(404, "not found\n");
      } else {
        response.status = 200;
        response.headers.emplace_back("Content-Type", found->second.content_type);
        // Vite names assets by their content's hash: they never change. The page that names
        // them must be fetched again whenever kmsd is upgraded.
        response.headers.emplace_back("Cache-Control", relative.starts_with("assets/")
                                                           ? "public, max-age=31536000, immutable"
                                                           : "no-cache");
        AddSecurityHeaders(response);
        response.body = found->second.body;
      }
    }
    if (request.method == "HEAD") response.body.clear();
    return response;
  }

  size_t FileCount() const override { return files_.size(); }

 private:
  const std::map<std::string, ConsoleFile, std::less<>> files_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleFiles>> LoadConsoleFiles(const std::string& directory,
                                                               ConsoleLimits limits) {
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    return absl::NotFoundError(StrCat("console directory ", directory, " does not exist"));
  }
  std::map<std::string, ConsoleFile, std::less<>> files;
  size_t total = 0;
  fs::recursive_directory_iterator walk(directory, fs::directory_options::none, error);
  if (error) {
    return absl::FailedPreconditionError(
        StrCat("cannot read console directory ", directory, ": ", error.message()));
  }
  for (; walk != fs::recursive_directory_iterator(); walk.increment(error)) {
    if (error) break;
    const fs::directory_entry& entry = *walk;
    std::string name = entry.path().filename().string();
    // Hidden files are no part of a build; a symlink could lead out of the directory.
    if (name.starts_with(".") || entry.is_symlink(error)) {
      if (entry.is_directory(error)) walk.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file(error)) continue;
    if (files.size() >= limits.max_files) {
      return absl::FailedPreconditionError(
          StrCat("console directory ", directory, " has over ", limits.max_files, " files"));
    }
    size_t size = entry.file_size(error);
    if (error || size > limits.max_file_bytes || total + size > limits.max_total_bytes) {
      return absl::FailedPreconditionError(
          StrCat("console file ", entry.path().string(), " is too large or unreadable"));
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::FailedPreconditionError(StrCat("cannot read ", entry.path().string()));
    }
    total += body.size();
    std::string relative = fs::relative(entry.path(), directory, error).generic_string();
    if (error || relative.empty() || relative.starts_with("..")) continue;
    files.emplace(relative, ConsoleFile{std::string(ContentTypeOf(relative)), std::move(body)});
  }
  if (error) {
    return absl::FailedPreconditionError(
        StrCat("cannot read console directory ", directory, ": ", error.message()));
  }
  if (!files.contains("index.html")) {
    return absl::NotFoundError(StrCat("console directory ", directory, " has no index.html"));
  }
  return std::make_unique<ConsoleFilesImpl>(std::move(files));
}

AsyncHttpHandler WithConsole(std::shared_ptr<const ConsoleFiles> files, AsyncHttpHandler next) {
  return
      [files = std::move(files), next = std::move(next)](std::shared_ptr<HttpExchange> exchange) {
        std::optional<HttpResponse> answer = files->Serve(exchange->Request());
        if (answer) {
          exchange->Reply(std::move(*answer));
          return;
        }
        next(std::move(exchange));
      };
}

}  // namespace kmsd
