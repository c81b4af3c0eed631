// Microbenchmark (not a test): nanoseconds, and heap allocations, per policy evaluation on the
// request path: AWS's default key policy for an IAM user (delegation to its identity policy), and
// a key policy allowing a user kms:GenerateDataKey under a StringEquals
// kms:EncryptionContext:<key> condition; Evaluate alone and the whole Authorize.
// Usage: policy_bench [Google Benchmark flags, e.g. --benchmark_repetitions=5].
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "kmsd/policy.h"
#include "kmsd/principal.h"
#include "unit/policy/policy_test_util.h"

// Counting every allocation of the process is the simplest way to show that evaluation makes
// none; the counter is read around the timed loop only.
namespace {
std::atomic<uint64_t> allocations{0};
}  // namespace

// GCC cannot see that this operator new's blocks come from malloc, and warns at the free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, size_t) noexcept { std::free(block); }
#pragma GCC diagnostic pop

namespace {

using kmsd::policy::AuthorizationRequest;
using kmsd::policy::PolicyKind;
using kmsd::policy::PolicyPtr;
using kmsd::policy::RequestContext;
namespace testing = kmsd::policy::testing;

// The default statement, then one for the application user, as an operator would write it.
constexpr char kEncryptionContextKeyPolicy[] = R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "AppMayMakeDataKeysForItsOwnRecords", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:user/app"},
     "Action": "kms:GenerateDataKey", "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "Records"}}}
  ]
})";

constexpr char kUserIdentityPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"arn:aws:kms:*:111122223333:key/*"}]})";

PolicyPtr MustParse(const std::string& document, PolicyKind kind) {
  auto policy = kmsd::policy::Parse(document, kind);
  if (!policy.ok()) std::abort();
  return *policy;
}

std::shared_ptr<kmsd::Principal> AppUser(bool with_identity_policy) {
  auto user = testing::User("app");
  if (with_identity_policy) {
    user->identity_policies.push_back(MustParse(kUserIdentityPolicy, PolicyKind::kIdentity));
  }
  return user;
}

// The context a GenerateDataKey request carries: the caller's keys, the request's.
RequestContext GenerateDataKeyContext(std::shared_ptr<const kmsd::Principal> caller) {
  return testing::Context(std::move(caller), "kms:GenerateDataKey", testing::kKeyArn,
                          {{"aws:SourceIp", {"127.0.0.1"}},
                           {"aws:SecureTransport", {"false"}},
                           {"aws:CurrentTime", {"2024-05-01T12:00:00Z"}},
                           {"aws:EpochTime", {"1714564800"}},
                           {"kms:EncryptionContext:Department", {"Records"}},
                           {"kms:EncryptionContextKeys", {"Department"}},
                           {"kms:KeySpec", {"SYMMETRIC_DEFAULT"}},
                           {"kms:KeyUsage", {"ENCRYPT_DECRYPT"}},
                           {"kms:KeyOrigin", {"AWS_KMS"}}});
}

void ReportAllocations(benchmark::State& state, uint64_t before) {
  state.counters["allocs/op"] = benchmark::Counter(
      static_cast<double>(allocations.load() - before) / static_cast<double>(state.iterations()));
}

void EvaluateLoop(benchmark::State& state, const std::string& document, bool expect_direct_allow) {
  PolicyPtr policy = MustParse(document, PolicyKind::kResource);
  RequestContext context = GenerateDataKeyContext(AppUser(false));
  uint64_t before = allocations.load();
  for (auto _ : state) {
    kmsd::policy::Result result = kmsd::policy::Evaluate(*policy, context);
    if (result.allow != expect_direct_allow || !result.allow_for_account) std::abort();
    benchmark::DoNotOptimize(result);
  }
  ReportAllocations(state, before);
}

void AuthorizeLoop(benchmark::State& state, const std::string& document,
                   bool with_identity_policy) {
  PolicyPtr policy = MustParse(document, PolicyKind::kResource);
  RequestContext context = GenerateDataKeyContext(AppUser(with_identity_policy));
  AuthorizationRequest request{&context, policy.get(), nullptr};
  uint64_t before = allocations.load();
  for (auto _ : state) {
    kmsd::policy::Decision decision = kmsd::policy::Authorize(request);
    if (!decision.allowed) std::abort();
    benchmark::DoNotOptimize(decision);
  }
  ReportAllocations(state, before);
}

// Evaluate alone. Its Result names the deciding statement, a string: one allocation when the Sid
// is longer than the small-string buffer (15 bytes), as both Sids here are.
void BM_EvaluateDefaultKeyPolicy(benchmark::State& state) {
  EvaluateLoop(state, testing::DefaultKeyPolicy(), false);
}
BENCHMARK(BM_EvaluateDefaultKeyPolicy);

void BM_EvaluateEncryptionContextCondition(benchmark::State& state) {
  EvaluateLoop(state, kEncryptionContextKeyPolicy, true);
}
BENCHMARK(BM_EvaluateEncryptionContextCondition);

// What the service calls per request: key policy, the caller's identity policies, the decision.
void BM_AuthorizeDefaultKeyPolicyWithIdentityPolicy(benchmark::State& state) {
  AuthorizeLoop(state, testing::DefaultKeyPolicy(), true);
}
BENCHMARK(BM_AuthorizeDefaultKeyPolicyWithIdentityPolicy);

void BM_AuthorizeEncryptionContextCondition(benchmark::State& state) {
  AuthorizeLoop(state, kEncryptionContextKeyPolicy, false);
}
BENCHMARK(BM_AuthorizeEncryptionContextCondition);

// What a PutKeyPolicy costs (not on the request path).
void BM_ParseEncryptionContextKeyPolicy(benchmark::State& state) {
  for (auto _ : state) {
    auto policy = kmsd::policy::Parse(kEncryptionContextKeyPolicy, PolicyKind::kResource);
    if (!policy.ok()) std::abort();
    benchmark::DoNotOptimize(policy);
  }
}
BENCHMARK(BM_ParseEncryptionContextKeyPolicy);

}  // namespace

BENCHMARK_MAIN();
