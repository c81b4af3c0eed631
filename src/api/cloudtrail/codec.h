// The CloudTrail codec (AWS JSON 1.1, X-Amz-Target "com.amazonaws.cloudtrail.v20131101.
// CloudTrail_20131101.<Operation>", SigV4 service "cloudtrail") for the router: register it in
// ApiOptions::other_services. The service is not owned and must outlive the codec; nullptr makes
// a codec that only shapes refusals (a sealed kmsd).
#pragma once

#include <memory>

#include "api/codec.h"
#include "kmsd/cloudtrail.h"

namespace kmsd::api {

inline constexpr std::string_view kCloudTrailTargetPrefix =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

std::unique_ptr<ServiceCodec> NewCloudTrailCodec(cloudtrail::CloudTrailService* service);

}  // namespace kmsd::api
