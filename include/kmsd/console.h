// The web console's static files (web/, built by `make build`), served at /console/ on the API
// port before authentication, like /health: they are public code, carry no key data, and are
// never audited. The console is just another KMS client: it signs every API call with SigV4 in
// the browser, so serving it adds no authentication path (docs/CONSOLE.md).
//
// The directory is read once, at start, into memory: only regular files (no symlinks followed),
// bounded in count and size. A request is answered from that table by its exact path, so no
// request can reach a file outside it (no "..", no percent-decoding, no directory listing).
// Thread-safe once built.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/http.h"

namespace kmsd {

inline constexpr std::string_view kConsolePath = "/console/";

struct ConsoleLimits {
  size_t max_files = 2000;
  size_t max_file_bytes = 8 * 1024 * 1024;
  size_t max_total_bytes = 32 * 1024 * 1024;
};

// The files of a built console, by their path under /console/.
class ConsoleFiles {
 public:
  virtual ~ConsoleFiles() = default;
  // The answer when `request` is for /console or a path under /console/, else nullopt (the
  // request takes the API's road). GET and HEAD only (405 otherwise); a path with no file is 404.
  virtual std::optional<HttpResponse> Serve(const HttpRequest& request) const = 0;
  virtual size_t FileCount() const = 0;
};

// Reads `directory` (its index.html is required). An error names what is wrong: missing
// directory, no index.html, over a limit.
absl::StatusOr<std::unique_ptr<ConsoleFiles>> LoadConsoleFiles(const std::string& directory,
                                                               ConsoleLimits limits = {});

// Answers /console/ from `files`, and hands every other request to `next`.
AsyncHttpHandler WithConsole(std::shared_ptr<const ConsoleFiles> files, AsyncHttpHandler next);

}  // namespace kmsd
