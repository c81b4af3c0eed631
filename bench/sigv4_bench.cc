// Microbenchmark (not a test): nanoseconds per SigV4 Sign and Verify of a KMS request as kms_load
// and the SDKs send it, for a small body (Encrypt of 32 bytes) and a large one (4 KiB of
// plaintext, base64 in JSON). Verify is measured alone, as kmsd's handler has called it (a copy of
// the request, body included, into a SignableRequest, then a wipe of that copy) and on a
// SignableRequestView of the request, which copies nothing.
// Usage: sigv4_bench [Google Benchmark flags, e.g. --benchmark_repetitions=5].
#include <benchmark/benchmark.h>
#include <openssl/crypto.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmsd/sigv4.h"

namespace {

using kmsd::sigv4::Credentials;
using kmsd::sigv4::SecretLookup;
using kmsd::sigv4::SignableRequest;
using kmsd::sigv4::VerifyOptions;

constexpr int64_t kNow = 1440938160;  // 2015-08-30T12:36:00Z
constexpr std::string_view kRegion = "us-east-1";

Credentials BenchCredentials() {
  return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
}

SecretLookup BenchLookup() {
  return [](std::string_view access_key_id) -> std::optional<std::string> {
    if (access_key_id != "AKIDEXAMPLE") return std::nullopt;
    return BenchCredentials().secret_access_key;
  };
}

VerifyOptions BenchOptions() {
  VerifyOptions options;
  options.region = std::string(kRegion);
  options.service = "kms";
  options.now = kNow;
  return options;
}

// An Encrypt call whose plaintext is plaintext_size bytes ('A's stand in for base64).
SignableRequest UnsignedRequest(size_t plaintext_size) {
  std::string body = R"({"KeyId":"alias/bench","Plaintext":")";
  body.append((plaintext_size + 2) / 3 * 4, 'A');
  body.append(R"("})");
  return {"POST",
          "/",
          {{"host", "127.0.0.1:7600"},
           {"content-type", "application/x-amz-json-1.1"},
           {"x-amz-target", "TrentService.Encrypt"}},
          std::move(body)};
}

// As the server sees it: names lower-cased, and headers the client did not sign.
SignableRequest ReceivedRequest(size_t plaintext_size) {
  SignableRequest request = UnsignedRequest(plaintext_size);
  kmsd::sigv4::Sign(request, BenchCredentials(), kRegion, "kms", kNow);
  request.headers.emplace_back("user-agent", "kms_load/1.0");
  request.headers.emplace_back("content-length", std::to_string(request.body.size()));
  request.headers.emplace_back("connection", "keep-alive");
  return request;
}

void BM_Sign(benchmark::State& state) {
  SignableRequest request = UnsignedRequest(static_cast<size_t>(state.range(0)));
  Credentials credentials = BenchCredentials();
  for (auto _ : state) {
    // Sign replaces the previous signature's headers, so signing the same request again costs
    // what signing a fresh one does.
    kmsd::sigv4::Sign(request, credentials, kRegion, "kms", kNow);
    benchmark::DoNotOptimize(request.headers.back());
  }
}
BENCHMARK(BM_Sign)->Arg(32)->Arg(4096);

void BM_Verify(benchmark::State& state) {
  const SignableRequest request = ReceivedRequest(static_cast<size_t>(state.range(0)));
  const SecretLookup lookup = BenchLookup();
  const VerifyOptions options = BenchOptions();
  for (auto _ : state) {
    auto verified = kmsd::sigv4::Verify(request, lookup, options);
    if (!verified.ok()) std::abort();
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_Verify)->Arg(32)->Arg(4096)->Threads(1)->Threads(2);

// What kmsd's handler does per request today: copy the request, verify, wipe the copied body.
void BM_VerifyWithCopy(benchmark::State& state) {
  const SignableRequest received = ReceivedRequest(static_cast<size_t>(state.range(0)));
  const SecretLookup lookup = BenchLookup();
  const VerifyOptions options = BenchOptions();
  for (auto _ : state) {
    SignableRequest signable{received.method, received.target, received.headers, received.body};
    auto verified = kmsd::sigv4::Verify(signable, lookup, options);
    OPENSSL_cleanse(signable.body.data(), signable.body.size());
    if (!verified.ok()) std::abort();
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_VerifyWithCopy)->Arg(32)->Arg(4096);

// What the handler does with a view of the request it received: nothing copied, nothing to wipe.
void BM_VerifyView(benchmark::State& state) {
  const SignableRequest received = ReceivedRequest(static_cast<size_t>(state.range(0)));
  const SecretLookup lookup = BenchLookup();
  const VerifyOptions options = BenchOptions();
  for (auto _ : state) {
    kmsd::sigv4::SignableRequestView signable{received.method, received.target, received.headers,
                                              received.body};
    auto verified = kmsd::sigv4::Verify(signable, lookup, options);
    if (!verified.ok()) std::abort();
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_VerifyView)->Arg(32)->Arg(4096);

// The derivation the per-thread cache saves: four HMACs.
void BM_SigningKey(benchmark::State& state) {
  const std::string secret = BenchCredentials().secret_access_key;
  for (auto _ : state) {
    std::string key = kmsd::sigv4::SigningKey(secret, "20150830", kRegion, "kms");
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_SigningKey);

}  // namespace

BENCHMARK_MAIN();
