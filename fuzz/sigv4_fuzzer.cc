// SigV4 verification (src/auth/sigv4.cc): the Authorization header (algorithm, Credential scope,
// SignedHeaders, Signature), X-Amz-Date and Date, the canonical URI and query string of the
// target, and the header values of every request before it is authenticated. Input: a request as
// text, "METHOD TARGET" then "name: value" lines, an empty line and the body. It is verified under
// a fixed secret and clock; then signed with that secret and verified again, which must succeed
// whenever its headers are what an HTTP parser delivers: Sign and Verify canonicalize alike.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/errors.h"
#include "kmsd/sigv4.h"
#include "kmsd/strings.h"

namespace {

constexpr int64_t kNow = 1714557600;  // 2024-05-01T10:00:00Z, the seeds' date
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

bool IsTokenText(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsFieldValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  std::string_view text = fuzz::AsText(data, size);
  sigv4::SignableRequest request;
  size_t head_end = text.find("\n\n");
  std::string_view head = text.substr(0, head_end);
  if (head_end != std::string_view::npos) request.body = std::string(text.substr(head_end + 2));
  size_t line_end = head.find('\n');
  std::string_view request_line = head.substr(0, line_end);
  head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 1);
  size_t space = request_line.find(' ');
  request.method = std::string(request_line.substr(0, space));
  if (space != std::string_view::npos) request.target = std::string(request_line.substr(space + 1));
  bool well_formed = IsTokenText(AsciiLower(request.method)) && !request.target.empty() &&
                     request.target[0] == '/' && IsFieldValue(request.target) &&
                     request.target.find(' ') == std::string::npos;
  while (!head.empty()) {
    line_end = head.find('\n');
    std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 1);
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::string lower = AsciiLower(name);
    if (!IsTokenText(lower) || !IsFieldValue(value) || lower == "x-amz-content-sha256") {
      well_formed = false;
    }
    request.headers.emplace_back(std::string(name), std::string(value));
  }

  sigv4::SecretLookup lookup = [](std::string_view) -> std::optional<std::string> {
    return std::string(kSecret);
  };
  sigv4::VerifyOptions options;
  options.region = "us-east-1";
  options.service = "kms";
  options.now = kNow;
  sigv4::Verify(request, lookup, options).IgnoreError();

  if (!well_formed || request.headers.size() > 32) return 0;
  sigv4::Sign(request, {"AKIAIOSFODNN7EXAMPLE", std::string(kSecret), ""}, "us-east-1", "kms",
              kNow);
  auto verified = sigv4::Verify(request, lookup, options);
  if (!verified.ok() && TypeOf(verified.status()) == ErrorType::kInvalidSignature) {
    std::fprintf(stderr, "%s\n", std::string(verified.status().message()).c_str());
    fuzz::Check(false, "a request kmsd signed failed its own verification");
  }
  return 0;
}
