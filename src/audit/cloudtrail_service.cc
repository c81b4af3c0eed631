// CloudTrail over the audit trail: authorizes each call by identity policy, pages LookupEvents
// with MAC'd tokens, and keeps the trail's verification cached, redone by a background thread.
#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "audit/lookup.h"
#include "audit/trail_format.h"
#include "kmsd/audit.h"
#include "kmsd/cloudtrail.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/policy.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/strings.h"

namespace kmsd::cloudtrail {
namespace {

using nlohmann::json;

constexpr uint8_t kTokenVersion = 1;
constexpr size_t kTokenMacBytes = 16;
constexpr size_t kTokenQueryBytes = 16;
constexpr size_t kMaxTokenLength = 256;

void PutUint64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

uint64_t GetUint64(std::string_view in) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

// The parameters a token must be used with again (CloudTrail: "This token must be passed in
// with the same parameters that were specified in the original call"); MaxResults may change.
std::string QueryDigest(const audit::LookupQuery& query) {
  auto time = [](const std::optional<int64_t>& seconds) {
    return seconds ? std::to_string(*seconds) : std::string("-");
  };
  return crypto::Sha256({query.attribute_key, std::string_view("\0", 1), query.attribute_value,
                         std::string_view("\0", 1), time(query.start_seconds),
                         std::string_view("\0", 1), time(query.end_seconds)})
      .substr(0, kTokenQueryBytes);
}

// The last line of a file, reading at most its last 64 KiB; empty if none.
std::string LastLine(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = lseek(fd, 0, SEEK_END);
  std::string tail;
  if (size > 0) {
    size_t take = static_cast<size_t>(std::min<off_t>(size, 64 << 10));
    tail.resize(take);
    ssize_t got = pread(fd, tail.data(), take, size - static_cast<off_t>(take));
    tail.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  close(fd);
  // Only whole lines: a digest being written has no newline yet.
  size_t last_newline = tail.rfind('\n');
  if (last_newline == std::string::npos) return "";
  tail.resize(last_newline);
  size_t start = tail.rfind('\n');
  return start == std::string::npos ? tail : tail.substr(start + 1);
}

class CloudTrailServiceImpl final : public CloudTrailService {
 public:
  CloudTrailServiceImpl(CloudTrailOptions options, SecretBytes token_key,
                        std::unique_ptr<Clock> own_clock)
      : options_(std::move(options)),
        token_key_(std::move(token_key)),
        own_clock_(std::move(own_clock)),
        clock_(options_.clock ? options_.clock : own_clock_.get()),
        started_(clock_->NowSeconds()),
        trail_arn_(StrCat("arn:aws:cloudtrail:", options_.region, ":", options_.account_id,
                          ":trail/", kTrailName)) {}

  ~CloudTrailServiceImpl() override {
    std::thread verifier;
    {
      std::lock_guard lock(mutex_);
      verifier = std::move(verifier_);
    }
    if (verifier.joinable()) verifier.join();
  }

  absl::StatusOr<LookupEventsResult> LookupEvents(const CallContext& call,
                                                  const LookupEventsRequest& request) override {
    if (auto allowed = Authorize(call, "cloudtrail:LookupEvents", "*"); !allowed.ok()) {
      return allowed;
    }
    auto query = QueryOf(request);
    if (!query.ok()) return query.status();
    std::optional<audit::LookupPosition> from;
    if (!request.next_token.empty()) {
      auto position = OpenToken(request.next_token, *query);
      if (!position.ok()) return position.status();
      from = *position;
    }
    LookupEventsResult result;
    // CloudTrail Insights events: kmsd records none.
    if (request.event_category) return result;
    audit::LookupLimits limits;
    limits.max_scan_bytes = options_.max_scan_bytes_per_call;
    auto page = audit::LookupTrail(options_.audit_dir, *query, from, limits);
    if (!page.ok()) return page.status();
    result.events.reserve(page->lines.size());
    for (std::string& line : page->lines) {
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      audit::LookupEventFields fields = audit::EventFieldsOf(record);
      Event event{std::move(fields.event_id),
                  std::move(fields.event_name),
                  std::move(fields.read_only),
                  std::move(fields.access_key_id),
                  fields.event_time,
                  std::move(fields.event_source),
                  std::move(fields.username),
                  {},
                  std::move(line)};
      for (auto& [type, name] : fields.resources) {
        event.resources.push_back({std::move(type), std::move(name)});
      }
      result.events.push_back(std::move(event));
    }
    if (page->next) result.next_token = MakeToken(*page->next, *query);
    return result;
  }

  absl::StatusOr<TrailStatus> GetTrailStatus(const CallContext& call,
                                             std::string_view name) override {
    if (name != kTrailName && name != trail_arn_) {
      return Error(ErrorType::kTrailNotFound,
                   StrCat("Unknown trail: ", EchoName(name), " for the user: ", options_.account_id,
                          " (kmsd's trail is named ", kTrailName, ")"));
    }
    if (auto allowed = Authorize(call, "cloudtrail:GetTrailStatus", trail_arn_); !allowed.ok()) {
      return allowed;
    }
    TrailStatus status;
    status.start_logging_time = started_;
    absl::Status failure = options_.trail_failure ? options_.trail_failure() : absl::OkStatus();
    status.is_logging = failure.ok();
    if (!failure.ok()) {
      // The cause (file, system error) is for the server log; this says what it means.
      status.latest_delivery_error = "kmsd cannot write its audit trail";
    }
    audit::LookupQuery newest;
    newest.max_results = 1;
    audit::LookupLimits limits;
    limits.max_scan_bytes = 1 << 20;
    if (auto page = audit::LookupTrail(options_.audit_dir, newest, std::nullopt, limits);
        page.ok() && !page->lines.empty()) {
      json record = json::parse(page->lines[0], nullptr, /*allow_exceptions=*/false);
      if (record.is_object()) status.latest_delivery_time = audit::EventFieldsOf(record).event_time;
    }
    json digest = json::parse(LastLine(StrCat(options_.audit_dir, "/", audit::kDigestFile)),
                              nullptr, /*allow_exceptions=*/false);
    if (digest.is_object() && digest.value("time", json()).is_string()) {
      status.latest_digest_delivery_time = audit::ParseIsoTime(digest["time"].get<std::string>());
    }
    Verification verification = CurrentVerification();
    if (!verification.done) {
      status.latest_digest_delivery_error = "the trail has not been verified yet (in progress)";
    } else if (!verification.error.empty()) {
      status.latest_digest_delivery_error = verification.error;
    } else {
      status.verified = true;
    }
    if (verification.done) status.verified_at = verification.at;
    return status;
  }

 private:
  struct Verification {
    bool done = false;
    int64_t at = 0;
    std::string error;  // empty: verified
  };

  static std::string EchoName(std::string_view name) {
    bool plain = name.size() <= 128 &&
                 std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    return plain ? std::string(name) : std::string("(unprintable)");
  }

  absl::Status Authorize(const CallContext& call, std::string_view action,
                         std::string_view resource) const {
    const Principal& caller = *call.principal;
    if (caller.IsRoot()) return absl::OkStatus();
    policy::RequestContext context =
        policy::RequestContext::ForCall(call, action, resource, clock_->NowSeconds());
    policy::Decision decision = policy::Authorize({&context, nullptr, {}});
    if (decision.allowed) return absl::OkStatus();
    return Error(ErrorType::kAccessDenied,
                 decision.message.empty()
                     ? StrCat("User: ", caller.arn, " is not authorized to perform: ", action,
                              " on resource: ", resource)
                     : decision.message);
  }

  static absl::StatusOr<audit::LookupQuery> QueryOf(const LookupEventsRequest& request) {
    audit::LookupQuery query;
    if (request.attributes.size() > 1) {
      return Error(ErrorType::kInvalidLookupAttributes,
                   "You cannot specify more than one lookup attribute");
    }
    if (!request.attributes.empty()) {
      const LookupAttribute& attribute = request.attributes[0];
      bool known =
          std::find(std::begin(audit::kLookupAttributeKeys), std::end(audit::kLookupAttributeKeys),
                    attribute.key) != std::end(audit::kLookupAttributeKeys);
      if (!known) {
        return Error(ErrorType::kInvalidLookupAttributes,
                     StrCat("Invalid attribute key: ", EchoName(attribute.key),
                            ". Valid keys: ", StrJoin(audit::kLookupAttributeKeys, ", ")));
      }
      if (attribute.value.empty() || attribute.value.size() > 2000) {
        return Error(ErrorType::kInvalidLookupAttributes,
                     "An attribute value must be 1 to 2000 characters long");
      }
      if (attribute.key == "ReadOnly" && attribute.value != "true" && attribute.value != "false") {
        return Error(ErrorType::kInvalidLookupAttributes,
                     "The ReadOnly attribute's value must be true or false");
      }
      query.attribute_key = attribute.key;
      query.attribute_value = attribute.value;
    }
    if (request.start_time && request.end_time && *request.start_time > *request.end_time) {
      return Error(ErrorType::kInvalidTimeRange, "Start time must be before end time");
    }
    if (request.event_category && *request.event_category != "insight") {
      return Error(ErrorType::kInvalidEventCategory,
                   "The event category is not valid: the only value is insight");
    }
    if (request.max_results < 1 || request.max_results > 50) {
      return Error(ErrorType::kInvalidMaxResults, "MaxResults must be between 1 and 50");
    }
    query.start_seconds = request.start_time;
    query.end_seconds = request.end_time;
    query.max_results = static_cast<size_t>(request.max_results);
    return query;
  }

  std::string MakeToken(const audit::LookupPosition& position,
                        const audit::LookupQuery& query) const {
    std::string body(1, static_cast<char>(kTokenVersion));
    PutUint64(body, position.file_first_sequence);
    PutUint64(body, position.end_offset);
    std::string signed_bytes = body + QueryDigest(query);
    body += crypto::HmacSha256(token_key_.view(), signed_bytes).substr(0, kTokenMacBytes);
    return crypto::Base64Encode(body);
  }

  absl::StatusOr<audit::LookupPosition> OpenToken(std::string_view token,
                                                  const audit::LookupQuery& query) const {
    auto invalid = [] {
      return Error(ErrorType::kInvalidNextToken,
                   "The NextToken is not valid: it was not issued by this kmsd for a lookup with "
                   "these parameters, or kmsd restarted since");
    };
    if (token.size() > kMaxTokenLength) return invalid();
    auto bytes = crypto::Base64Decode(token);
    if (!bytes.ok() || bytes->size() != 1 + 16 + kTokenMacBytes ||
        static_cast<uint8_t>((*bytes)[0]) != kTokenVersion) {
      return invalid();
    }
    std::string_view view = *bytes;
    std::string signed_bytes = StrCat(view.substr(0, 17), QueryDigest(query));
    std::string mac = crypto::HmacSha256(token_key_.view(), signed_bytes).substr(0, kTokenMacBytes);
    if (!crypto::ConstantTimeEquals(mac, view.substr(17))) return invalid();
    return audit::LookupPosition{GetUint64(view.substr(1, 8)), GetUint64(view.substr(9, 8))};
  }

  // The cached verification; starts a new one in the background when it is older than the
  // interval, and waits (bounded) for the first.
  Verification CurrentVerification() {
    std::unique_lock lock(mutex_);
    int64_t now = clock_->NowSeconds();
    bool stale = !verification_.done || now - verification_.at >= options_.verify_interval.count();
    if (stale && !verifying_) {
      if (verifier_.joinable()) verifier_.join();  // finished: verifying_ is false
      verifying_ = true;
      verifier_ = std::thread([this] { Verify(); });
    }
    if (!verification_.done) {
      verified_.wait_for(lock, options_.first_verify_wait, [this] { return verification_.done; });
    }
    return verification_;
  }

  void Verify() {
    Verification result;
    result.at = clock_->NowSeconds();
    auto report = audit::VerifyTrail(options_.audit_dir, options_.public_key_pem);
    if (!report.ok()) {
      result.error = StrCat("the trail could not be verified: ", ToStd(report.status().message()));
    } else if (!report->ok) {
      result.error = audit::FormatVerifyReport(*report);
    }
    result.done = true;
    {
      std::lock_guard lock(mutex_);
      verification_ = std::move(result);
      verifying_ = false;
    }
    verified_.notify_all();
  }

  const CloudTrailOptions options_;
  const SecretBytes token_key_;  // MACs NextTokens
  const std::unique_ptr<Clock> own_clock_;
  const Clock* const clock_;
  const int64_t started_;
  const std::string trail_arn_;

  std::mutex mutex_;
  std::condition_variable verified_;
  Verification verification_;  // guarded by mutex_
  bool verifying_ = false;     // guarded by mutex_
  std::thread verifier_;       // guarded by mutex_
};

}  // namespace

absl::StatusOr<std::unique_ptr<CloudTrailService>> NewCloudTrailService(CloudTrailOptions options) {
  auto key = crypto::RandomSecret(32);
  if (!key.ok()) return key.status();
  std::unique_ptr<Clock> own_clock = options.clock ? nullptr : NewSystemClock();
  return std::make_unique<CloudTrailServiceImpl>(std::move(options), std::move(*key),
                                                 std::move(own_clock));
}

}  // namespace kmsd::cloudtrail
