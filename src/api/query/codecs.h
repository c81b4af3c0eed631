// The IAM and STS codecs (the Query protocol over the identity service), for the router: register
// both in ApiOptions::other_services. The service is not owned and must outlive the codecs.
#pragma once

#include <memory>

#include "api/codec.h"
#include "kmsd/iam.h"

namespace kmsd::api {

std::unique_ptr<ServiceCodec> NewIamCodec(IamService* service);
std::unique_ptr<ServiceCodec> NewStsCodec(IamService* service);

}  // namespace kmsd::api
