// Microbenchmark (not a test): nanoseconds per audit::BuildEvent, the CloudTrail-shaped record
// kmsd writes for every request, for typical outcomes (Encrypt, Decrypt, GenerateDataKey,
// DescribeKey, CreateKey, a failed authentication; Encrypt by an IAM user and by a role session;
// IAM CreateUser and STS AssumeRole). Each is also measured on the reference copy
// of the nlohmann-based implementation the differential test compares with (Reference/...), so
// one run on a loaded machine shows both.
// Usage: audit_event_bench [Google Benchmark flags, e.g. --benchmark_repetitions=5].
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "audit/event.h"
#include "kmsd/api.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "unit/audit/audit_test_util.h"
#include "unit/audit/event_reference.h"

namespace {

using kmsd::StrCat;
using kmsd::audit::EventSettings;

constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kBlob[] =
    "AQICAHhvbGQgbWFzdGVyIGtleSBpZCBnb2VzIGhlcmUgYW5kIHRoZW4gc29tZSBub25jZSBieXRlcyBhbmQgdGhlIGN"
    "pcGhlcnRleHQgaXRzZWxmIHdpdGggYSB0YWcgYXQgdGhlIGVuZCBvZiBpdCBhbGwgYmFzZTY0IGVuY29kZWQgZm9yIGpz"
    "b24gdHJhbnNwb3J0IHRvIHRoZSBjbGllbnQ=";

// One request as the API layer reports it to the audit trail, as a boto3 client sends it.
struct BotoCall : kmsd::audit::testing::Call {
  BotoCall(std::string name, std::string body, std::string answer) {
    operation = std::move(name);
    response = std::move(answer);
    http.method = "POST";
    http.headers = {{"host", "127.0.0.1:7600"},
                    {"user-agent", "Boto3/1.26.27 Python/3.11.2 Linux/6.1.0 Botocore/1.29.27"},
                    {"x-amz-target", StrCat("TrentService.", operation)}};
    http.body = std::move(body);
    http.remote_address = "127.0.0.1";
    http.request_id = "11111111-2222-4333-8444-555555555555";
  }
};

BotoCall Encrypt() {
  return BotoCall(
      "Encrypt",
      R"({"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"tenant":"acme","purpose":"bench"}})",
      StrCat(R"({"CiphertextBlob":")", kBlob, R"(","KeyId":")", kKeyArn,
             R"(","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})"));
}

BotoCall Decrypt() {
  return BotoCall(
      "Decrypt",
      StrCat(R"({"CiphertextBlob":")", kBlob,
             R"(","EncryptionContext":{"tenant":"acme","purpose":"bench"}})"),
      StrCat(R"({"KeyId":")", kKeyArn,
             R"(","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})"));
}

BotoCall GenerateDataKey() {
  return BotoCall(
      "GenerateDataKey", R"({"KeyId":"alias/app","KeySpec":"AES_256"})",
      StrCat(R"({"CiphertextBlob":")", kBlob,
             R"(","Plaintext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","KeyId":")", kKeyArn,
             R"("})"));
}

std::string KeyMetadataAnswer() {
  return StrCat(
      R"({"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","Arn":")",
      kKeyArn,
      R"(","CreationDate":1714557600,"Enabled":true,"Description":"app key","KeyUsage":"ENCRYPT_DECRYPT","KeyState":"Enabled","Origin":"AWS_KMS","KeyManager":"CUSTOMER","CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","KeySpec":"SYMMETRIC_DEFAULT","EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegion":false}})");
}

BotoCall DescribeKey() {
  return BotoCall("DescribeKey", R"({"KeyId":"alias/app"})", KeyMetadataAnswer());
}

BotoCall CreateKey() {
  return BotoCall(
      "CreateKey",
      R"({"Description":"app key","KeyUsage":"ENCRYPT_DECRYPT","Tags":[{"TagKey":"team","TagValue":"payments"}]})",
      KeyMetadataAnswer());
}

BotoCall FailedAuthentication() {
  BotoCall outcome("Encrypt", R"({"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ="})", "");
  outcome.principal.reset();
  outcome.status =
      kmsd::Error(kmsd::ErrorType::kUnrecognizedClient, "The security token is invalid");
  outcome.claimed_access_key_id = "AKIAWHOEVER";
  return outcome;
}

BotoCall EncryptByIamUser() {
  BotoCall outcome = Encrypt();
  outcome.principal = kmsd::audit::testing::IamUser();
  return outcome;
}

BotoCall EncryptByRoleSession() {
  BotoCall outcome = Encrypt();
  outcome.principal = kmsd::audit::testing::AssumedRole();
  return outcome;
}

BotoCall IamCreateUser() {
  BotoCall outcome("CreateUser", "Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2F",
                   "<CreateUserResponse>...</CreateUserResponse>");
  outcome.event_source = "iam.amazonaws.com";
  outcome.request_parameters_json = R"({"UserName":"bob","Path":"/"})";
  outcome.response_elements_json =
      R"({"User":{"Path":"/","UserName":"bob","UserId":"AIDAEXAMPLEBOB000001","Arn":"arn:aws:iam::111122223333:user/bob","CreateDate":"2024-05-01T10:00:00Z"}})";
  return outcome;
}

BotoCall StsAssumeRole() {
  BotoCall outcome("AssumeRole", "Action=AssumeRole&Version=2011-06-15&RoleSessionName=build-42",
                   "<AssumeRoleResponse>...</AssumeRoleResponse>");
  outcome.principal = kmsd::audit::testing::IamUser();
  outcome.event_source = "sts.amazonaws.com";
  outcome.request_parameters_json =
      R"({"RoleArn":"arn:aws:iam::111122223333:role/deployer","RoleSessionName":"build-42","DurationSeconds":3600})";
  outcome.response_elements_json =
      R"({"Credentials":{"AccessKeyId":"ASIAEXAMPLESESSION01","Expiration":"2024-05-01T11:00:00Z"},"AssumedRoleUser":{"AssumedRoleId":"AROAEXAMPLEDEPLOYER1:build-42","Arn":"arn:aws:sts::111122223333:assumed-role/deployer/build-42"}})";
  return outcome;
}

const EventSettings kSettings{"us-east-1", "111122223333"};
constexpr int64_t kNow = 1714557600;
const std::string kEventId = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

template <BotoCall (*Make)()>
void BM_BuildEvent(benchmark::State& state) {
  BotoCall outcome = Make();
  for (auto _ : state) {
    std::string event = kmsd::audit::BuildEvent(outcome.Outcome(), kSettings, kNow, kEventId);
    benchmark::DoNotOptimize(event);
  }
}

template <BotoCall (*Make)()>
void BM_ReferenceBuildEvent(benchmark::State& state) {
  BotoCall outcome = Make();
  for (auto _ : state) {
    std::string event =
        kmsd::audit::reference::BuildEvent(outcome.Outcome(), kSettings, kNow, kEventId);
    benchmark::DoNotOptimize(event);
  }
}

#define KMSD_EVENT_BENCHMARKS(name)                          \
  BENCHMARK(BM_BuildEvent<name>)->Name("BuildEvent/" #name); \
  BENCHMARK(BM_ReferenceBuildEvent<name>)->Name("Reference/" #name)

KMSD_EVENT_BENCHMARKS(Encrypt);
KMSD_EVENT_BENCHMARKS(Decrypt);
KMSD_EVENT_BENCHMARKS(GenerateDataKey);
KMSD_EVENT_BENCHMARKS(DescribeKey);
KMSD_EVENT_BENCHMARKS(CreateKey);
KMSD_EVENT_BENCHMARKS(FailedAuthentication);
KMSD_EVENT_BENCHMARKS(EncryptByIamUser);
KMSD_EVENT_BENCHMARKS(EncryptByRoleSession);
KMSD_EVENT_BENCHMARKS(IamCreateUser);
KMSD_EVENT_BENCHMARKS(StsAssumeRole);

}  // namespace

BENCHMARK_MAIN();
