// Nesting as deep as a request body allows (256 KiB) costs heap, not stack: the nlohmann-based
// implementation recursed once per level and overflowed an 8 MiB stack at about 20000 levels
// inside an allowlisted member, even for requests that failed authentication.
#include <gtest/gtest.h>

#include <string>

#include "audit/event.h"
#include "kmsd/strings.h"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

constexpr int kDepth = 128 * 1024;  // a 256 KiB body of brackets

// testing::MakeCall's inlining here trips GCC 12's -Wrestrict false positive; this needs less.
testing::Call MakeCall(std::string operation, std::string body,
                       absl::Status status = absl::OkStatus()) {
  testing::Call call;
  call.operation = std::move(operation);
  call.http.body = std::move(body);
  call.status = std::move(status);
  return call;
}

std::string Build(const testing::Call& call) {
  return BuildEvent(call.Outcome(), EventSettings{"us-east-1", "111122223333"}, 0, "e");
}

TEST(AuditEventDepth, DeepArraysInAnAllowlistedMemberAreRecorded) {
  std::string nested = StrCat(std::string(kDepth, '['), std::string(kDepth, ']'));
  auto call = MakeCall("TagResource", StrCat(R"({"Tags":)", nested, "}"),
                       Error(ErrorType::kValidation, "Tags must be a list of Tag structures"));
  std::string event = Build(call);
  EXPECT_NE(event.find(StrCat(R"("requestParameters":{"tags":)", nested, "},")), std::string::npos);
}

// The same from a caller who failed authentication is parsed (without overflowing the stack)
// but not recorded: it is over the 4096-byte limit for unauthenticated requests.
TEST(AuditEventDepth, DeepArraysFromAnUnauthenticatedCallerAreParsedButLeftOut) {
  std::string nested = StrCat(std::string(kDepth, '['), std::string(kDepth, ']'));
  auto call = MakeCall("TagResource", StrCat(R"({"Tags":)", nested, "}"),
                       Error(ErrorType::kUnrecognizedClient, "The security token is invalid"));
  call.principal.reset();
  std::string event = Build(call);
  EXPECT_NE(event.find(StrCat(R"("requestParameters":null,"requestParametersOmitted":)",
                              nested.size() + 9, ",")),
            std::string::npos)
      << event.substr(0, 600);
  EXPECT_LT(event.size(), 4096u);
}

TEST(AuditEventDepth, DeepObjectsAreRecordedRenamed) {
  std::string body = R"({"Tags":)";
  std::string expected = R"("requestParameters":{"tags":)";
  for (int i = 0; i < kDepth / 8; ++i) {
    body += R"({"A":)";
    expected += R"({"a":)";
  }
  body += StrCat("1", std::string(kDepth / 8 + 1, '}'));
  expected += StrCat("1", std::string(kDepth / 8 + 1, '}'), ",");
  EXPECT_NE(Build(MakeCall("TagResource", body)).find(expected), std::string::npos);
}

TEST(AuditEventDepth, DeepDroppedMembersAreValidatedAndLeftOut) {
  std::string nested = StrCat(std::string(kDepth, '['), std::string(kDepth, ']'));
  std::string event =
      Build(MakeCall("Encrypt", StrCat(R"({"Plaintext":)", nested, R"(,"KeyId":"k"})")));
  EXPECT_NE(event.find(R"("requestParameters":{"keyId":"k"})"), std::string::npos);
  // One bracket short: not JSON, so nothing is recorded.
  event =
      Build(MakeCall("Encrypt", StrCat(R"({"Plaintext":)", nested.substr(1), R"(,"KeyId":"k"})")));
  EXPECT_NE(event.find(R"("requestParameters":null)"), std::string::npos);
}

// IAM's and STS's codecs hand over JSON that the audit filters at every depth: as deep as that
// goes, it costs no stack either, and a secret at the bottom is still dropped.
TEST(AuditEventDepth, DeepCodecJsonIsFilteredAtEveryLevel) {
  std::string body;
  std::string expected = R"("requestParameters":)";
  for (int i = 0; i < kDepth / 8; ++i) {
    body += R"({"A":)";
    expected += R"({"a":)";
  }
  body += StrCat(R"({"SessionToken":"deep-secret","Kept":1})", std::string(kDepth / 8, '}'));
  expected += StrCat(R"({"kept":1})", std::string(kDepth / 8, '}'), ",");
  auto call = MakeCall("AssumeRole", "");
  call.event_source = "sts.amazonaws.com";
  call.request_parameters_json = body;
  std::string event = Build(call);
  EXPECT_NE(event.find(expected), std::string::npos);
  EXPECT_EQ(event.find("deep-secret"), std::string::npos);
}

}  // namespace
}  // namespace kmsd::audit
