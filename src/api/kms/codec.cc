// The KMS codec: AWS JSON 1.1 with X-Amz-Target "TrentService.<Operation>", answers and errors
// as KMS sends them ({"__type": ..., "message": ...}).
#include "api/kms/codec.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "api/json_writer.h"
#include "api/kms/operations.h"
#include "kmsd/api.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kTargetPrefix = "TrentService.";
constexpr std::string_view kJsonContentType = "application/x-amz-json-1.1";
constexpr std::string_view kAdvanceClockTarget = "KmsdTest.AdvanceClock";
constexpr int64_t kMaxClockAdvanceSeconds = 20LL * 365 * 86400;

class KmsCodec final : public ServiceCodec {
 public:
  KmsCodec(KmsService* service, KmsRegions* regions, KmsTestHooks test_hooks)
      : service_(service), regions_(regions), test_hooks_(std::move(test_hooks)) {}

  std::string_view SigningName() const override { return "kms"; }
  std::string_view EventSource() const override { return "kms.amazonaws.com"; }

  std::string OperationName(const HttpRequest& http) const override {
    const std::string* target = http.Header("x-amz-target");
    if (!target || !std::string_view(*target).starts_with(kTargetPrefix)) return {};
    return target->substr(kTargetPrefix.size());
  }

  bool MayBlock(std::string_view operation) const override { return api::MayBlock(operation); }
  // Encrypt, Decrypt and ReEncrypt run on the I/O thread for symmetric keys; with an RSA key
  // (issue 13) the private-key operation costs up to milliseconds (RSA_4096), which would hold up
  // every other connection of the thread, so a body that names an RSAES algorithm is offloaded
  // (a false alarm, say the word in an encryption context, merely offloads).
  bool MayBlockRequest(std::string_view operation, const HttpRequest& http) const override {
    if (MayBlock(operation)) return true;
    return (operation == "Decrypt" || operation == "ReEncrypt" || operation == "Encrypt") &&
           http.body.find("RSAES_") != std::string::npos;
  }
  // A key's private-key operations only compute (a miss in the key cache reads storage, as an
  // Encrypt on an I/O thread does), so they go to the compute pool: one thread per core.
  bool ComputeBoundRequest(std::string_view operation, const HttpRequest& http) const override {
    if (operation == "Sign" || operation == "Verify" || operation == "DeriveSharedSecret") {
      return true;
    }
    return !MayBlock(operation) && MayBlockRequest(operation, http);  // RSAES
  }
  bool Serves(std::string_view operation) const override {
    return FindOperation(operation) != nullptr;
  }

  absl::StatusOr<ServedAnswer> Serve(const HttpRequest& http, std::string_view operation_name,
                                     const CallContext& call) const override {
    if (http.method != "POST") {
      return Error(ErrorType::kUnknownOperation, "KMS requests must use POST");
    }
    if (test_hooks_.clock) {
      const std::string* target = http.Header("x-amz-target");
      if (target && *target == kAdvanceClockTarget) return AdvanceClock(http, call);
    }
    if (operation_name.empty()) {
      return Error(ErrorType::kUnknownOperation,
                   "The X-Amz-Target header must name a KMS operation: TrentService.<Operation>");
    }
    Operation operation = FindOperation(operation_name);
    if (!operation) {
      // Echo the name only when it is plainly a name: the header is hostile input.
      bool printable = operation_name.size() <= 64 &&
                       std::all_of(operation_name.begin(), operation_name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c));
                       });
      return Error(ErrorType::kUnknownOperation,
                   StrCat("Operation ", printable ? operation_name : "(unprintable)",
                          " is not supported by kmsd"));
    }
    auto request = RequestReader::Parse(http.body);
    if (!request.ok()) return request.status();
    // A DryRun is no use of a key: the service is told before it records one.
    std::optional<CallContext> dry_run_call;
    if (request->IsTrue("DryRun")) {
      dry_run_call = call;
      dry_run_call->dry_run = true;
    }
    KmsService* service = service_;
    if (regions_) {  // several regions: the scope's (issue 13)
      auto regional = regions_->ForRegion(call.region);
      if (!regional.ok()) return regional.status();
      service = *regional;
    }
    OperationContext context{*service, dry_run_call ? *dry_run_call : call};
    auto body = operation(context, *request);
    if (!body.ok()) return body.status();
    if (context.audit_key_arn.empty()) return ServedAnswer{std::move(*body), {}};
    // The audit then records these elements instead of reading the answer.
    return ServedAnswer{
        std::move(*body),
        JsonWriter().BeginObject().String("KeyId", context.audit_key_arn).EndObject().Take()};
  }

  HttpResponse Success(std::string body) const override {
    HttpResponse answer;
    answer.headers.emplace_back("Content-Type", kJsonContentType);
    answer.body = std::move(body);
    return answer;
  }

  HttpResponse Failure(const absl::Status& status, const std::string& request_id) const override {
    return ErrorResponse(status, request_id);
  }

 private:
  absl::StatusOr<ServedAnswer> AdvanceClock(const HttpRequest& http,
                                            const CallContext& call) const {
    // Moving the clock deletes and rotates keys at will: only the root may, even in test mode.
    if (!call.principal || !call.principal->IsRoot()) {
      return Error(ErrorType::kAccessDenied, "Only the account root may move the test clock");
    }
    auto request = RequestReader::Parse(http.body);
    if (!request.ok()) return request.status();
    auto seconds = request->Integer("Seconds", 1, kMaxClockAdvanceSeconds, /*required=*/true);
    if (auto status = request->Finish(); !status.ok()) return status;
    test_hooks_.clock->Advance(*seconds);
    if (test_hooks_.after_clock_advance) {
      if (auto status = test_hooks_.after_clock_advance(); !status.ok()) return status;
    }
    return ServedAnswer{JsonWriter()
                            .BeginObject()
                            .Integer("Now", test_hooks_.clock->NowSeconds())
                            .EndObject()
                            .Take(),
                        {}};
  }

  KmsService* const service_;
  KmsRegions* const regions_;  // when set, service_ is unused
  const KmsTestHooks test_hooks_;
};

}  // namespace

std::unique_ptr<ServiceCodec> NewKmsCodec(KmsService* service, KmsTestHooks test_hooks) {
  return std::make_unique<KmsCodec>(service, nullptr, std::move(test_hooks));
}

std::unique_ptr<ServiceCodec> NewKmsCodec(KmsRegions* regions, KmsTestHooks test_hooks) {
  return std::make_unique<KmsCodec>(nullptr, regions, std::move(test_hooks));
}

}  // namespace kmsd::api

namespace kmsd {

HttpResponse ErrorResponse(const absl::Status& status, const std::string& request_id) {
  ErrorType type = TypeOf(status);
  std::string_view message = ToStd(status.message());
  if (type == ErrorType::kKmsInternal) {
    message = "kmsd could not complete the request because of an internal error";
  }
  // AWS answers InvalidCiphertextException, KMSInvalidSignatureException and
  // KMSInvalidMacException with no message (it tells nothing of what is wrong with a ciphertext,
  // signature or MAC); kmsd's reason stays in the audit record's errorMessage.
  if (type == ErrorType::kInvalidCiphertext || type == ErrorType::kKmsInvalidSignature ||
      type == ErrorType::kKmsInvalidMac) {
    message = {};
  }
  HttpResponse response;
  response.status = HttpStatus(type);
  response.headers.emplace_back("Content-Type", api::kJsonContentType);
  response.headers.emplace_back("x-amzn-ErrorType", std::string(AwsName(type)));
  response.body = api::JsonWriter()
                      .BeginObject()
                      .String("__type", AwsName(type))
                      .String("message", message)
                      .EndObject()
                      .Take();
  (void)request_id;  // the net layer sends it as x-amzn-RequestId
  return response;
}

}  // namespace kmsd
