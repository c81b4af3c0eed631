// Builds one CloudTrail-shaped event from a request's outcome, for KMS, IAM and STS calls. Only
// allowlisted members of a KMS request and answer are copied, so plaintext, data keys, ciphertext
// blobs, grant tokens and signatures never reach the trail; IAM's and STS's come as JSON from
// their codecs (RequestOutcome::request_parameters_json, response_elements_json), from which
// secret access keys, session tokens and passwords are dropped at any depth all the same.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kmsd/api.h"

namespace kmsd::audit {

struct EventSettings {
  std::string region;
  std::string account_id;
};

// The event's JSON object text, one line, without the sequence number and previous hash the writer
// adds. Its bytes are those the nlohmann-based reference implementation writes (the hash chain
// covers them): tests/unit/audit/event_reference.h keeps it, event_differential_test compares.
std::string BuildEvent(const RequestOutcome& outcome, const EventSettings& settings,
                       int64_t now_seconds, const std::string& event_id);

// Issue 13: the second record AWS writes for a request that changes a key in another region:
// ReplicateKey's CreateKey in the replica's region, UpdatePrimaryRegion's in the region of the new
// primary. kmsd writes it as a service event (invokedBy kms.amazonaws.com, like the scheduler's)
// about that key, with the request's requestID, so the two records can be joined. Empty when
// the outcome has none (another operation, or a failure).
std::string BuildCompanionEvent(const RequestOutcome& outcome, const EventSettings& settings,
                                int64_t now_seconds, const std::string& event_id);

// Appends text as a JSON string exactly as nlohmann's dump(-1, ' ', false,
// error_handler_t::replace) writes it: quote, backslash and control characters escaped (\b \t \n
// \f \r, else \u00xx), '/' and valid UTF-8 as they are, invalid UTF-8 replaced as nlohmann does.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace kmsd::audit
