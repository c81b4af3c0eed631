// The KMS codec (AWS JSON 1.1) for the router.
#pragma once

#include <functional>
#include <memory>

#include "api/codec.h"
#include "kmsd/clock.h"
#include "kmsd/regions.h"
#include "kmsd/service.h"

namespace kmsd::api {

// Test mode only (kmsd serve --enable-test-clock): a request by the root with X-Amz-Target
// "KmsdTest.AdvanceClock" and body {"Seconds": N} moves `clock` forward, then runs
// after_clock_advance (the scheduler) before answering. Both unset in every normal start.
struct KmsTestHooks {
  AdvancingClock* clock = nullptr;
  std::function<absl::Status()> after_clock_advance;
};

std::unique_ptr<ServiceCodec> NewKmsCodec(KmsService* service, KmsTestHooks test_hooks = {});

// Several regions (issue 13): each request is served by the service of CallContext::region.
std::unique_ptr<ServiceCodec> NewKmsCodec(KmsRegions* regions, KmsTestHooks test_hooks = {});

}  // namespace kmsd::api
