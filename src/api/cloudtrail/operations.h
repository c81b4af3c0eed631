// CloudTrail's operations at kmsd's endpoint, one file each, read like api/kms/encrypt.cc: the
// members in, one service call, the answer out.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "api/request_reader.h"
#include "kmsd/cloudtrail.h"

namespace kmsd::api::cloudtrail_operations {

struct OperationContext {
  cloudtrail::CloudTrailService& service;
  const CallContext& call;
};

absl::StatusOr<std::string> LookupEvents(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GetTrailStatus(OperationContext& context, RequestReader& request);

}  // namespace kmsd::api::cloudtrail_operations
