// Builds one CloudTrail-shaped event from a request's outcome. Only allowlisted members of the
// request and the answer are copied, so plaintext, data keys, ciphertext blobs, grant tokens and
// signatures never reach the trail.
#pragma once

#include <cstdint>
#include <string>

#include "kmsd/api.h"

namespace kmsd::audit {

struct EventSettings {
  std::string region;
  std::string account_id;
};

// The event's JSON object text, without the sequence number and previous hash the writer adds.
std::string BuildEvent(const RequestOutcome& outcome, const EventSettings& settings,
                       int64_t now_seconds, const std::string& event_id);

}  // namespace kmsd::audit
