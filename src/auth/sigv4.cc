// AWS Signature Version 4: the signer our clients use and the verifier in front of every request.
// Everything the verifier reads is hostile input: it is bounded and checked before it is used, and
// error messages never carry secrets (nor, beyond validated fields, what the caller sent).

#include "kmsd/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kAmzDateHeader = "x-amz-date";
constexpr std::string_view kSecurityTokenHeader = "x-amz-security-token";
constexpr std::string_view kContentSha256Header = "x-amz-content-sha256";

// Far above anything a real SDK sends (about 200 bytes and a dozen signed headers), yet small
// enough that parsing cost stays trivial whatever the caller sends.
constexpr size_t kMaxAuthorizationLength = 4096;
constexpr size_t kMaxSignedHeaders = 64;
constexpr size_t kMaxHeaderNameLength = 128;
constexpr size_t kMaxAccessKeyIdLength = 128;
constexpr size_t kMaxScopeElementLength = 64;
constexpr size_t kSignatureHexLength = 64;

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants the date formats can express.
constexpr int64_t kEarliestUnixSeconds = -62167219200;
constexpr int64_t kLatestUnixSeconds = 253402300799;

constexpr std::string_view kSignatureMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

absl::Status IncompleteSignature(std::string_view message) {
  return Error(ErrorType::kIncompleteSignature, message);
}
absl::Status InvalidSignature(std::string_view message) {
  return Error(ErrorType::kInvalidSignature, message);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }
bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
// The characters RFC 9110 allows in a header name ("tchar"), lower case only.
bool IsLowerCaseTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || IsDigit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
// Access key ids are alphanumeric at AWS; a little slack for operator-chosen ids, but nothing
// that could confuse a log line or the scope syntax.
bool IsAccessKeyIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-' ||
         c == '.';
}

char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return LowerAscii(x) == LowerAscii(y); });
}

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && IsWhitespace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsWhitespace(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      pieces.push_back(text.substr(start));
      return pieces;
    }
    pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

// RFC 3986 percent-encoding of every byte but the unreserved characters, upper-case hex, as
// SigV4 requires for path segments and query names and values.
void AppendUriEncoded(std::string_view text, std::string& out) {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  for (char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHexDigits[byte >> 4]);
      out.push_back(kHexDigits[byte & 0xF]);
    }
  }
}

std::string UriEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendUriEncoded(text, out);
  return out;
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes. A '%' that does not start a valid escape stays literal (and is signed as
// %25) rather than failing the request: the signature still covers exactly what was sent.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// The path with dot segments removed and empty segments dropped (AWS services other than S3 sign
// the normalized path), each segment URI-encoded. The path arrives as sent on the wire, so an
// already-escaped segment is escaped again: that is the double encoding the SDKs apply for every
// service but S3.
void AppendCanonicalUri(std::string_view path, std::string& out) {
  out.push_back('/');
  if (path == "/") return;  // what every KMS request has, without the vectors below
  std::vector<std::string_view> segments;
  for (std::string_view segment : Split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    AppendUriEncoded(segments[i], out);
  }
  if (!segments.empty() && !path.empty() && path.back() == '/') out.push_back('/');
}

// Parameters decoded and re-encoded the one RFC 3986 way, then sorted by name and value, so the
// canonical form does not depend on how the client chose to escape them.
void AppendCanonicalQueryString(std::string_view query, std::string& out) {
  if (query.empty()) return;
  std::vector<std::pair<std::string, std::string>> parameters;
  for (std::string_view parameter : Split(query, '&')) {
    if (parameter.empty()) continue;
    size_t equals = parameter.find('=');
    std::string_view name = parameter.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? std::string_view() : parameter.substr(equals + 1);
    parameters.emplace_back(UriEncode(PercentDecode(name)), UriEncode(PercentDecode(value)));
  }
  std::sort(parameters.begin(), parameters.end());
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (i > 0) out.push_back('&');
    out.append(parameters[i].first).append("=").append(parameters[i].second);
  }
}

// Trimmed, with every run of whitespace (folded lines included) collapsed to one space.
void AppendCanonicalHeaderValue(std::string_view value, std::string& out) {
  value = TrimWhitespace(value);
  if (std::none_of(value.begin(), value.end(), IsWhitespace)) {
    out.append(value);  // the common case: nothing to collapse
    return;
  }
  bool in_whitespace = false;
  for (char c : value) {
    if (IsWhitespace(c)) {
      in_whitespace = true;
      continue;
    }
    if (in_whitespace) out.push_back(' ');
    in_whitespace = false;
    out.push_back(c);
  }
}

// The values of every header named lower_case_name (any case), in arrival order, joined by commas.
void AppendCanonicalHeaderValues(const SignableRequestView& request,
                                 std::string_view lower_case_name, std::string& out) {
  bool first = true;
  for (const auto& [name, value] : request.headers) {
    if (!EqualsIgnoringAsciiCase(name, lower_case_name)) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendCanonicalHeaderValue(value, out);
  }
}

// How many headers are named lower_case_name (any case), and the first one's value.
struct HeaderMatches {
  size_t count = 0;
  std::string_view first_value;
};

HeaderMatches FindHeaders(const SignableRequestView& request, std::string_view lower_case_name) {
  HeaderMatches matches;
  for (const auto& [name, value] : request.headers) {
    if (!EqualsIgnoringAsciiCase(name, lower_case_name)) continue;
    if (matches.count++ == 0) matches.first_value = value;
  }
  return matches;
}

void RemoveHeader(SignableRequest& request, std::string_view lower_case_name) {
  std::erase_if(request.headers, [&](const auto& header) {
    return EqualsIgnoringAsciiCase(header.first, lower_case_name);
  });
}

// Unix seconds as ISO 8601 basic format, 20150830T123600Z.
std::string FormatAmzDate(int64_t unix_seconds) {
  using namespace std::chrono;
  // Clamped, which also keeps the calendar arithmetic in range.
  unix_seconds = std::clamp(unix_seconds, kEarliestUnixSeconds, kLatestUnixSeconds);
  sys_seconds time{seconds(unix_seconds)};
  sys_days day = floor<days>(time);
  year_month_day date(day);
  hh_mm_ss time_of_day(time - day);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%04d%02u%02uT%02ld%02ld%02ldZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<long>(time_of_day.hours().count()),
                static_cast<long>(time_of_day.minutes().count()),
                static_cast<long>(time_of_day.seconds().count()));
  return buffer;
}

std::optional<int> ParseDigits(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// Unix seconds of a calendar date and time, or nullopt if the fields name no such instant.
std::optional<int64_t> ToUnixSeconds(int year, int month, int day, int hour, int minute,
                                     int second) {
  using namespace std::chrono;
  year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                      std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return sys_days(date).time_since_epoch() / std::chrono::seconds(1) + hour * 3600 + minute * 60 +
         second;
}

// Strict ISO 8601 basic format: YYYYMMDD'T'HHMMSS'Z'.
std::optional<int64_t> ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  auto year = ParseDigits(text.substr(0, 4));
  auto month = ParseDigits(text.substr(4, 2));
  auto day = ParseDigits(text.substr(6, 2));
  auto hour = ParseDigits(text.substr(9, 2));
  auto minute = ParseDigits(text.substr(11, 2));
  auto second = ParseDigits(text.substr(13, 2));
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  return ToUnixSeconds(*year, *month, *day, *hour, *minute, *second);
}

// The HTTP Date header in its one current form (RFC 9110 IMF-fixdate):
// "Sun, 30 Aug 2015 12:36:00 GMT". The weekday is not checked against the date.
std::optional<int64_t> ParseHttpDate(std::string_view text) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (text.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  auto day = ParseDigits(text.substr(5, 2));
  auto year = ParseDigits(text.substr(12, 4));
  auto hour = ParseDigits(text.substr(17, 2));
  auto minute = ParseDigits(text.substr(20, 2));
  auto second = ParseDigits(text.substr(23, 2));
  if (month == 0 || !day || !year || !hour || !minute || !second) return std::nullopt;
  return ToUnixSeconds(*year, month, *day, *hour, *minute, *second);
}

std::string SkewDescription(int64_t seconds) {
  if (seconds % 60 == 0) return StrCat(seconds / 60, " min.");
  return StrCat(seconds, " sec.");
}

// The fields of "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b;c, Signature=hex", each checked for shape but not yet for meaning.
struct ParsedAuthorization {
  std::string_view access_key_id;
  std::string_view date;
  std::string_view region;
  std::string_view service;
  std::string_view terminator;
  std::vector<std::string> signed_headers;
  std::string_view signature;
};

absl::Status ParseCredential(std::string_view credential, ParsedAuthorization& parsed) {
  std::vector<std::string_view> scope = Split(credential, '/');
  if (scope.size() != 5) {
    return IncompleteSignature(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term");
  }
  parsed.access_key_id = scope[0];
  parsed.date = scope[1];
  parsed.region = scope[2];
  parsed.service = scope[3];
  parsed.terminator = scope[4];
  if (parsed.access_key_id.empty() || parsed.access_key_id.size() > kMaxAccessKeyIdLength ||
      !std::all_of(parsed.access_key_id.begin(), parsed.access_key_id.end(), IsAccessKeyIdChar)) {
    return IncompleteSignature(
        "Credential must begin with an access key id of letters, digits, '_', '-' or '.'");
  }
  if (parsed.date.size() != 8 || !std::all_of(parsed.date.begin(), parsed.date.end(), IsDigit)) {
    return IncompleteSignature("Credential scope date must be in the form YYYYMMDD");
  }
  for (std::string_view element : {parsed.region, parsed.service, parsed.terminator}) {
    if (element.empty() || element.size() > kMaxScopeElementLength) {
      return IncompleteSignature(
          "Credential scope elements (region, service, terminator) must be non-empty and short");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseSignedHeaders(std::string_view text, ParsedAuthorization& parsed) {
  std::vector<std::string_view> names = Split(text, ';');
  if (names.size() > kMaxSignedHeaders) {
    return IncompleteSignature(
        StrCat("SignedHeaders may list at most ", kMaxSignedHeaders, " headers"));
  }
  parsed.signed_headers.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    std::string_view name = names[i];
    if (name.empty() || name.size() > kMaxHeaderNameLength ||
        !std::all_of(name.begin(), name.end(), IsLowerCaseTokenChar) ||
        (i > 0 && !(names[i - 1] < name))) {
      return IncompleteSignature(
          "SignedHeaders must be a sorted, semicolon-separated list of distinct lower-case "
          "header names");
    }
    parsed.signed_headers.emplace_back(name);
  }
  if (!std::binary_search(names.begin(), names.end(), std::string_view("host"))) {
    return IncompleteSignature(
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
        "Authorization.");
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedAuthorization> ParseAuthorization(std::string_view header) {
  if (header.size() > kMaxAuthorizationLength) {
    return IncompleteSignature(
        StrCat("Authorization header is longer than ", kMaxAuthorizationLength, " bytes"));
  }
  header = TrimWhitespace(header);
  size_t space = header.find(' ');
  std::string_view algorithm = header.substr(0, space);
  if (algorithm != kAlgorithm) {
    if (algorithm.find('=') == std::string_view::npos) {
      return IncompleteSignature(
          StrCat("Unsupported AWS 'algorithm': the Authorization header must begin with '",
                 kAlgorithm, "'"));
    }
    // No algorithm at all: report the parameters as missing, the way AWS does.
    space = std::string_view::npos;
  }
  std::string_view parameters =
      space == std::string_view::npos ? std::string_view() : TrimWhitespace(header.substr(space));

  std::optional<std::string_view> credential, signed_headers, signature;
  if (!parameters.empty()) {
    for (std::string_view parameter : Split(parameters, ',')) {
      parameter = TrimWhitespace(parameter);
      size_t equals = parameter.find('=');
      if (equals == std::string_view::npos) {
        return IncompleteSignature(
            "Authorization header parameters must be of the form name=value, separated by "
            "commas");
      }
      std::string_view name = parameter.substr(0, equals);
      std::string_view value = parameter.substr(equals + 1);
      std::optional<std::string_view>* slot = nullptr;
      if (name == "Credential") slot = &credential;
      if (name == "SignedHeaders") slot = &signed_headers;
      if (name == "Signature") slot = &signature;
      if (slot == nullptr) {
        return IncompleteSignature(
            "Authorization header accepts only the 'Credential', 'SignedHeaders' and "
            "'Signature' parameters");
      }
      if (slot->has_value()) {
        return IncompleteSignature("Authorization header repeats a parameter");
      }
      *slot = value;
    }
  }
  std::string missing;
  if (!credential) missing += "Authorization header requires 'Credential' parameter. ";
  if (!signature) missing += "Authorization header requires 'Signature' parameter. ";
  if (!signed_headers) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (!missing.empty()) {
    missing.pop_back();
    return IncompleteSignature(missing);
  }

  ParsedAuthorization parsed;
  if (absl::Status status = ParseCredential(*credential, parsed); !status.ok()) return status;
  if (absl::Status status = ParseSignedHeaders(*signed_headers, parsed); !status.ok()) {
    return status;
  }
  if (signature->size() != kSignatureHexLength ||
      !std::all_of(signature->begin(), signature->end(), IsLowerHex)) {
    return IncompleteSignature("Signature must be 64 lower-case hexadecimal characters");
  }
  parsed.signature = *signature;
  return parsed;
}

// The request's time as ISO 8601 basic format and Unix seconds, from X-Amz-Date, else Date.
struct RequestTime {
  std::string amz_date;
  int64_t unix_seconds = 0;
};

absl::StatusOr<RequestTime> ReadRequestTime(const SignableRequestView& request) {
  HeaderMatches amz_dates = FindHeaders(request, kAmzDateHeader);
  if (amz_dates.count > 1) return IncompleteSignature("Only one X-Amz-Date header is allowed");
  if (amz_dates.count == 1) {
    std::string_view text = TrimWhitespace(amz_dates.first_value);
    std::optional<int64_t> seconds = ParseAmzDate(text);
    if (!seconds) {
      return IncompleteSignature(
          "Date must be in ISO-8601 'basic format', e.g. 20150830T123600Z. See "
          "http://en.wikipedia.org/wiki/ISO_8601");
    }
    return RequestTime{std::string(text), *seconds};
  }
  HeaderMatches dates = FindHeaders(request, "date");
  if (dates.count > 1) return IncompleteSignature("Only one Date header is allowed");
  if (dates.count == 0) {
    return IncompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  std::optional<int64_t> seconds = ParseHttpDate(TrimWhitespace(dates.first_value));
  if (!seconds) {
    return IncompleteSignature(
        "Date header must be an HTTP date, e.g. 'Sun, 30 Aug 2015 12:36:00 GMT'");
  }
  return RequestTime{FormatAmzDate(*seconds), *seconds};
}

absl::Status CheckScope(const ParsedAuthorization& parsed, const RequestTime& time,
                        const VerifyOptions& options) {
  std::string_view request_day = std::string_view(time.amz_date).substr(0, 8);
  if (parsed.date != request_day) {
    // Both dates passed strict digit checks, so echoing them is safe.
    return InvalidSignature(
        StrCat("Date in Credential scope does not match YYYYMMDD from "
               "ISO-8601 version of date from HTTP: '",
               parsed.date, "' != '", request_day, "', from '", time.amz_date, "'."));
  }
  if (parsed.region != options.region) {
    // AWS's words, then the fix: the region this server signs for (its own setting, safe to
    // show); the claimed one is echoed only when it looks like a region name.
    bool region_like = std::all_of(parsed.region.begin(), parsed.region.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
    return InvalidSignature(StrCat(
        "Credential should be scoped to a valid region. This endpoint serves region '",
        options.region, "'", region_like ? StrCat(", not '", parsed.region, "'") : "",
        ": sign for it (e.g. --region ", options.region, " or AWS_REGION=", options.region, ")."));
  }
  if (parsed.service != options.service) {
    return InvalidSignature(
        StrCat("Credential should be scoped to correct service: '", options.service, "'."));
  }
  if (parsed.terminator != kTerminator) {
    return InvalidSignature(
        StrCat("Credential should be scoped with a valid terminator: '", kTerminator, "'."));
  }
  return absl::OkStatus();
}

absl::Status CheckClockSkew(const RequestTime& time, const VerifyOptions& options) {
  int64_t skew = std::max<int64_t>(options.max_clock_skew_seconds, 0);
  // Differences of bounded times, not now +- skew, so no setting can overflow.
  int64_t now = std::clamp(options.now, kEarliestUnixSeconds, kLatestUnixSeconds);
  if (now - time.unix_seconds > skew) {
    return InvalidSignature(StrCat("Signature expired: ", time.amz_date, " is now earlier than ",
                                   FormatAmzDate(now - skew), " (", FormatAmzDate(now), " - ",
                                   SkewDescription(skew), ")"));
  }
  if (time.unix_seconds - now > skew) {
    return InvalidSignature(StrCat("Signature not yet current: ", time.amz_date,
                                   " is still later than ", FormatAmzDate(now + skew), " (",
                                   FormatAmzDate(now), " + ", SkewDescription(skew), ")"));
  }
  return absl::OkStatus();
}

// The signed x-amz-content-sha256, when there is one, must be the body's hash: a client that
// names a hash promises that body, and UNSIGNED-PAYLOAD has no place in KMS.
absl::Status CheckContentSha256(const SignableRequestView& request,
                                const ParsedAuthorization& parsed,
                                std::string_view payload_hash_hex) {
  if (!std::binary_search(parsed.signed_headers.begin(), parsed.signed_headers.end(),
                          kContentSha256Header)) {
    return absl::OkStatus();
  }
  HeaderMatches values = FindHeaders(request, kContentSha256Header);
  if (values.count != 1 || TrimWhitespace(values.first_value) != payload_hash_hex) {
    return InvalidSignature(
        "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  return absl::OkStatus();
}

std::string Scope(std::string_view date, std::string_view region, std::string_view service) {
  return StrCat(date, "/", region, "/", service, "/", kTerminator);
}

using Digest = std::array<uint8_t, crypto::kSha256Size>;

std::string_view AsText(const Digest& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string Sha256Hex(std::string_view data) {
  Digest digest;
  crypto::Sha256(data, digest);
  return crypto::HexEncode(AsText(digest));
}

// The SigV4 derivation: HMACs over the date, region, service and terminator, starting from
// "AWS4" + secret. Every intermediate key is wiped.
void DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, Digest& signing_key) {
  std::string seed;
  seed.reserve(4 + secret.size());
  seed.append("AWS4").append(secret);
  Digest date_key, region_key, service_key;
  crypto::HmacSha256(seed, date, date_key);
  crypto::HmacSha256(AsText(date_key), region, region_key);
  crypto::HmacSha256(AsText(region_key), service, service_key);
  crypto::HmacSha256(AsText(service_key), kTerminator, signing_key);
  OPENSSL_cleanse(seed.data(), seed.size());
  for (Digest* intermediate : {&date_key, &region_key, &service_key}) {
    OPENSSL_cleanse(intermediate->data(), intermediate->size());
  }
}

// This thread's signing keys: a signer or verifier at work sees the same few again and again.
SigningKeyCache& ThreadSigningKeys() {
  thread_local SigningKeyCache cache;
  return cache;
}

std::string Signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view string_to_sign) {
  Digest signature;
  crypto::HmacSha256(ThreadSigningKeys().Get(secret, date, region, service), string_to_sign,
                     signature);
  return crypto::HexEncode(AsText(signature));
}

void AppendCanonicalRequest(const SignableRequestView& request,
                            const std::vector<std::string>& signed_headers_lower_case,
                            std::string_view payload_hash_hex, std::string& out) {
  std::string_view target = request.target;
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  out.append(request.method).push_back('\n');
  AppendCanonicalUri(path, out);
  out.push_back('\n');
  AppendCanonicalQueryString(query, out);
  out.push_back('\n');
  for (const std::string& name : signed_headers_lower_case) {
    out.append(name).push_back(':');
    AppendCanonicalHeaderValues(request, name, out);
    out.push_back('\n');
  }
  out.push_back('\n');
  for (size_t i = 0; i < signed_headers_lower_case.size(); ++i) {
    if (i > 0) out.push_back(';');
    out.append(signed_headers_lower_case[i]);
  }
  out.push_back('\n');
  out.append(payload_hash_hex);
}

}  // namespace

SigningKeyCache::SigningKeyCache(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
  entries_.reserve(capacity_);
}

std::string_view SigningKeyCache::Get(std::string_view secret, std::string_view date,
                                      std::string_view region, std::string_view service) {
  ++uses_;
  for (Entry& entry : entries_) {
    if (entry.date == date && entry.region == region && entry.service == service &&
        crypto::ConstantTimeEquals(entry.secret.view(), secret)) {
      entry.last_use = uses_;
      return entry.key.view();
    }
  }
  ++derivations_;
  Digest key;
  DeriveSigningKey(secret, date, region, service, key);
  Entry fresh{SecretBytes::FromString(secret),
              std::string(date),
              std::string(region),
              std::string(service),
              SecretBytes(key.data(), key.size()),
              uses_};
  OPENSSL_cleanse(key.data(), key.size());
  // Whole entries go in by (noexcept) move, so no entry is ever half replaced.
  if (entries_.size() < capacity_) {
    entries_.push_back(std::move(fresh));  // within the reserved capacity
    return entries_.back().key.view();
  }
  Entry& least_recently_used =
      *std::min_element(entries_.begin(), entries_.end(),
                        [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
  least_recently_used = std::move(fresh);  // SecretBytes wipe the secret and key they held
  return least_recently_used.key.view();
}

std::string CanonicalRequest(const SignableRequestView& request,
                             const std::vector<std::string>& signed_headers_lower_case,
                             std::string_view payload_hash_hex) {
  // Room for everything but a query that grows in re-encoding or a path with dot segments.
  size_t size = request.method.size() + request.target.size() + payload_hash_hex.size() + 8;
  for (const std::string& name : signed_headers_lower_case) size += 2 * name.size() + 3;
  for (const auto& [name, value] : request.headers) size += value.size() + 1;
  std::string out;
  out.reserve(size);
  AppendCanonicalRequest(request, signed_headers_lower_case, payload_hash_hex, out);
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 2 * crypto::kSha256Size + 3);
  out.append(kAlgorithm).append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(Sha256Hex(canonical_request));
  return out;
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  Digest key;
  DeriveSigningKey(secret, date, region, service, key);
  std::string signing_key(AsText(key));
  OPENSSL_cleanse(key.data(), key.size());
  return signing_key;
}

void Sign(SignableRequest& request, const Credentials& credentials, std::string_view region,
          std::string_view service, int64_t now) {
  // A request signed again (a retry) must not carry the previous attempt's headers.
  for (std::string_view name :
       {std::string_view("authorization"), kAmzDateHeader, kSecurityTokenHeader}) {
    RemoveHeader(request, name);
  }
  std::string amz_date = FormatAmzDate(now);
  request.headers.emplace_back(kAmzDateHeader, amz_date);
  if (!credentials.session_token.empty()) {
    request.headers.emplace_back(kSecurityTokenHeader, credentials.session_token);
  }

  std::vector<std::string> signed_headers;
  for (const auto& header : request.headers) signed_headers.push_back(AsciiLower(header.first));
  std::sort(signed_headers.begin(), signed_headers.end());
  signed_headers.erase(std::unique(signed_headers.begin(), signed_headers.end()),
                       signed_headers.end());

  std::string_view date = std::string_view(amz_date).substr(0, 8);
  std::string scope = Scope(date, region, service);
  std::string canonical_request =
      CanonicalRequest(request, signed_headers, Sha256Hex(request.body));
  std::string signature = Signature(credentials.secret_access_key, date, region, service,
                                    StringToSign(amz_date, scope, canonical_request));
  request.headers.emplace_back(
      "authorization",
      StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/", scope,
             ", SignedHeaders=", StrJoin(signed_headers, ";"), ", Signature=", signature));
}

absl::StatusOr<std::string> Verify(const SignableRequestView& request, const SecretLookup& lookup,
                                   const VerifyOptions& options) {
  HeaderMatches authorizations = FindHeaders(request, "authorization");
  if (authorizations.count == 0) {
    return Error(ErrorType::kMissingAuthenticationToken, "Missing Authentication Token");
  }
  if (authorizations.count > 1) {
    return IncompleteSignature("Only one Authorization header is allowed");
  }
  absl::StatusOr<ParsedAuthorization> parsed = ParseAuthorization(authorizations.first_value);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<RequestTime> time = ReadRequestTime(request);
  if (!time.ok()) return time.status();
  if (absl::Status status = CheckScope(*parsed, *time, options); !status.ok()) return status;
  if (absl::Status status = CheckClockSkew(*time, options); !status.ok()) return status;

  for (const std::string& name : parsed->signed_headers) {
    bool present = std::any_of(
        request.headers.begin(), request.headers.end(),
        [&](const auto& header) { return EqualsIgnoringAsciiCase(header.first, name); });
    if (!present) {
      // The name passed the lower-case token check, so it is safe to show.
      return IncompleteSignature(StrCat("Authorization header lists signed header '", name,
                                        "' that is absent from the request."));
    }
  }
  std::string payload_hash = Sha256Hex(request.body);
  if (absl::Status status = CheckContentSha256(request, *parsed, payload_hash); !status.ok()) {
    return status;
  }

  std::optional<std::string> secret = lookup(parsed->access_key_id);
  if (!secret) {
    return Error(ErrorType::kUnrecognizedClient,
                 "The security token included in the request is invalid.");
  }
  std::string expected =
      Signature(*secret, parsed->date, parsed->region, parsed->service,
                StringToSign(time->amz_date, Scope(parsed->date, parsed->region, parsed->service),
                             CanonicalRequest(request, parsed->signed_headers, payload_hash)));
  OPENSSL_cleanse(secret->data(), secret->size());
  if (!crypto::ConstantTimeEquals(expected, parsed->signature)) {
    return InvalidSignature(kSignatureMismatch);
  }
  return std::string(parsed->access_key_id);
}

}  // namespace kmsd::sigv4
