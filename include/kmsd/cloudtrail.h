// CloudTrail over kmsd's own audit trail (issue 15): LookupEvents searches this node's trail,
// newest first, by one lookup attribute and a time range, in pages bounded in the reading they
// cost; GetTrailStatus says whether the trail is being written and whether it verifies (its
// signed digests and hash chain, checked in the background and cached, so a call costs little).
//
// Who may call: the account root always; anyone else when an identity policy allows
// cloudtrail:LookupEvents (resource "*", as in AWS) or cloudtrail:GetTrailStatus (resource the
// trail's ARN). The calls themselves are audited by the router like any other, with eventSource
// cloudtrail.amazonaws.com.
//
// Errors carry kmsd's ErrorType: kInvalidLookupAttributes, kInvalidTimeRange, kInvalidMaxResults,
// kInvalidNextToken, kInvalidEventCategory, kTrailNotFound, kAccessDenied.
//
// Thread-safety: every method may be called concurrently, also while the audit log writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/clock.h"
#include "kmsd/principal.h"

namespace kmsd::cloudtrail {

// The one trail kmsd keeps per node, as GetTrailStatus names it.
inline constexpr std::string_view kTrailName = "kmsd";

struct LookupAttribute {
  std::string key;  // EventId, EventName, ReadOnly, Username, ResourceType, ResourceName,
                    // EventSource or AccessKeyId
  std::string value;
};

struct LookupEventsRequest {
  std::vector<LookupAttribute> attributes;    // CloudTrail takes at most one
  std::optional<int64_t> start_time;          // seconds, inclusive
  std::optional<int64_t> end_time;            // seconds, inclusive
  std::optional<std::string> event_category;  // "insight": kmsd records none
  int max_results = 50;                       // 1..50
  std::string next_token;                     // from the previous page; empty = the newest
};

struct Resource {
  std::string type;  // AWS::KMS::Key, AWS::IAM::Role
  std::string name;  // its ARN
};

struct Event {
  std::string event_id;
  std::string event_name;
  std::string read_only;  // "true" / "false"
  std::string access_key_id;
  int64_t event_time = 0;
  std::string event_source;
  std::string username;
  std::vector<Resource> resources;
  std::string cloud_trail_event;  // the record's JSON, as stored
};

struct LookupEventsResult {
  std::vector<Event> events;  // newest first
  // Opaque and MAC'd; empty when nothing older can match. A page may hold fewer than MaxResults
  // events (none, even) and a token: the reading per call is bounded.
  std::string next_token;
};

struct TrailStatus {
  bool is_logging = false;                             // the trail can be written now
  std::string latest_delivery_error;                   // why not, when it cannot
  std::optional<int64_t> latest_delivery_time;         // the newest record's eventTime
  std::optional<int64_t> latest_digest_delivery_time;  // the newest signed digest's time
  // Empty when the last verification passed; else what it found (or that none finished yet).
  std::string latest_digest_delivery_error;
  bool verified = false;
  std::optional<int64_t> verified_at;  // when the cached verification ran
  int64_t start_logging_time = 0;      // when this kmsd started
};

class CloudTrailService {
 public:
  virtual ~CloudTrailService() = default;
  virtual absl::StatusOr<LookupEventsResult> LookupEvents(const CallContext& call,
                                                          const LookupEventsRequest& request) = 0;
  // name: kTrailName or the trail's ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/kmsd).
  virtual absl::StatusOr<TrailStatus> GetTrailStatus(const CallContext& call,
                                                     std::string_view name) = 0;
};

struct CloudTrailOptions {
  std::string region = "us-east-1";
  std::string account_id = "111122223333";
  std::string audit_dir;  // the trail this node writes
  // The audit public key (PEM) digests are verified with.
  std::string public_key_pem;
  // OK while the trail can be written, else why not (AuditLog::Failure). May be empty.
  std::function<absl::Status()> trail_failure;
  // A cached verification older than this is redone in the background when asked for.
  std::chrono::seconds verify_interval{30};
  // How long GetTrailStatus waits for a verification when none has finished yet.
  std::chrono::milliseconds first_verify_wait{2000};
  // Bytes of trail LookupEvents reads per call at most.
  uint64_t max_scan_bytes_per_call = 16 << 20;
  const Clock* clock = nullptr;  // nullptr = the system clock
};

// A random key made here MACs the NextTokens: tokens do not survive a restart, and one node's
// are refused by another (whose trail is another).
absl::StatusOr<std::unique_ptr<CloudTrailService>> NewCloudTrailService(CloudTrailOptions options);

}  // namespace kmsd::cloudtrail
