// IAM and STS calls in the audit trail: their eventSource, what their codecs hand over instead of
// form bodies and XML answers, the secrets that must never reach a record, reads, denials.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "audit/event.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::Call;
using testing::MakeQueryCall;

const EventSettings kSettings{"us-east-1", "111122223333"};
constexpr char kRoleArn[] = "arn:aws:iam::111122223333:role/ci/deployer";
constexpr char kSecretAccessKey[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY";
constexpr char kSessionToken[] = "FwoGZXIvYXdzEBYaDSESSIONTOKENxyzzy";
// The caller's own session token, when a Query request carries it as a form parameter.
constexpr char kCallerToken[] = "IQoJb3JpZ2luX2VjCALLERTOKEN";

std::string Text(const Call& call) {
  return BuildEvent(call.Outcome(), kSettings, 1714557600, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
}

json Build(const Call& call) { return json::parse(Text(call)); }

Call CreateUser() {
  return MakeQueryCall(
      "iam", "CreateUser", "Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2Fteam%2F",
      R"({"UserName":"bob","Path":"/team/"})",
      "<CreateUserResponse><CreateUserResult><User>...</User></CreateUserResult></"
      "CreateUserResponse>",
      R"({"User":{"Path":"/team/","UserName":"bob","UserId":"AIDAEXAMPLEBOB000001",)"
      R"("Arn":"arn:aws:iam::111122223333:user/team/bob","CreateDate":"2024-05-01T10:00:00Z"}})");
}

// CreateAccessKey: the new secret is in the XML answer the client gets; a careless codec might
// also put it in the elements it hands to the audit.
Call CreateAccessKey() {
  return MakeQueryCall(
      "iam", "CreateAccessKey", "Action=CreateAccessKey&Version=2010-05-08&UserName=bob",
      R"({"UserName":"bob"})",
      StrCat("<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>bob</UserName>"
             "<AccessKeyId>AKIAEXAMPLEBOBKEY001</AccessKeyId><Status>Active</Status>"
             "<SecretAccessKey>",
             kSecretAccessKey,
             "</SecretAccessKey></AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>"),
      StrCat(R"({"AccessKey":{"UserName":"bob","AccessKeyId":"AKIAEXAMPLEBOBKEY001",)",
             R"("Status":"Active","SecretAccessKey":")", kSecretAccessKey,
             R"(","CreateDate":"2024-05-01T10:00:00Z"}})"));
}

// AssumeRole: the session's secret and token are in the XML answer; the caller's own token rode
// in the form body; a careless codec passes all three on.
Call AssumeRole() {
  return MakeQueryCall(
      "sts", "AssumeRole",
      StrCat("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole"
             "%2Fci%2Fdeployer&RoleSessionName=build-42&X-Amz-Security-Token=",
             kCallerToken),
      StrCat(R"({"RoleArn":")", kRoleArn,
             R"(","RoleSessionName":"build-42","DurationSeconds":3600,"SessionToken":")",
             kCallerToken, R"("})"),
      StrCat("<AssumeRoleResponse><AssumeRoleResult><Credentials><SecretAccessKey>",
             kSecretAccessKey, "</SecretAccessKey><SessionToken>", kSessionToken,
             "</SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>"),
      StrCat(R"({"Credentials":{"AccessKeyId":"ASIAEXAMPLESESSION01","SecretAccessKey":")",
             kSecretAccessKey, R"(","SessionToken":")", kSessionToken,
             R"(","Expiration":"2024-05-01T11:00:00Z"},"AssumedRoleUser":{"AssumedRoleId":)",
             R"("AROAEXAMPLEDEPLOYER1:build-42","Arn":)",
             R"("arn:aws:sts::111122223333:assumed-role/deployer/build-42"}})"));
}

TEST(AuditIamStsEvent, EventSourceIsTheServiceCalled) {
  EXPECT_EQ(Build(CreateUser())["eventSource"], "iam.amazonaws.com");
  EXPECT_EQ(Build(AssumeRole())["eventSource"], "sts.amazonaws.com");
}

TEST(AuditIamStsEvent, RequestParametersAreTheCodecsJsonInCloudTrailStyle) {
  Call call = CreateUser();
  json event = Build(call);
  EXPECT_EQ(event["requestParameters"], json({{"userName", "bob"}, {"path", "/team/"}}));
  EXPECT_EQ(event["eventName"], "CreateUser");
  EXPECT_EQ(Text(call).find("Action="), std::string::npos);
}

TEST(AuditIamStsEvent, ResponseElementsAreTheCodecsJsonInCloudTrailStyle) {
  json user = Build(CreateUser())["responseElements"]["user"];
  EXPECT_EQ(user["userName"], "bob");
  EXPECT_EQ(user["userId"], "AIDAEXAMPLEBOB000001");
  EXPECT_EQ(user["arn"], "arn:aws:iam::111122223333:user/team/bob");
  EXPECT_EQ(user["path"], "/team/");
  EXPECT_EQ(user["createDate"], "2024-05-01T10:00:00Z");
}

TEST(AuditIamStsEvent, WithoutTheCodecsJsonParametersAndElementsAreNull) {
  Call call = CreateUser();
  call.request_parameters_json.clear();
  call.response_elements_json.clear();
  json event = Build(call);
  EXPECT_TRUE(event["requestParameters"].is_null());  // the form body is not JSON
  EXPECT_TRUE(event["responseElements"].is_null());   // the XML answer is never read
}

TEST(AuditIamStsEvent, CreateAccessKeySecretLeavesNoTrace) {
  std::string text = Text(CreateAccessKey());
  EXPECT_EQ(text.find(kSecretAccessKey), std::string::npos);
  EXPECT_EQ(text.find("ecretAccessKey"), std::string::npos);
  json access_key = json::parse(text)["responseElements"]["accessKey"];
  EXPECT_EQ(access_key["accessKeyId"], "AKIAEXAMPLEBOBKEY001");
  EXPECT_EQ(access_key["userName"], "bob");
  EXPECT_EQ(access_key["status"], "Active");
}

TEST(AuditIamStsEvent, AssumeRoleSecretAndTokensLeaveNoTrace) {
  std::string text = Text(AssumeRole());
  for (std::string_view secret :
       {std::string_view(kSecretAccessKey), std::string_view(kSessionToken),
        std::string_view(kCallerToken)}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
  json event = json::parse(text);
  EXPECT_EQ(
      event["requestParameters"],
      json({{"roleArn", kRoleArn}, {"roleSessionName", "build-42"}, {"durationSeconds", 3600}}));
  EXPECT_EQ(
      event["responseElements"]["credentials"],
      json({{"accessKeyId", "ASIAEXAMPLESESSION01"}, {"expiration", "2024-05-01T11:00:00Z"}}));
  EXPECT_EQ(event["responseElements"]["assumedRoleUser"]["assumedRoleId"],
            "AROAEXAMPLEDEPLOYER1:build-42");
}

TEST(AuditIamStsEvent, SecretNamesAreDroppedInAnyLetterCaseAtAnyDepth) {
  Call call = MakeQueryCall(
      "iam", "UpdateThing", "",
      R"({"A":[{"B":{"SECRETACCESSKEY":"s1","sessiontoken":"s2"}}],)"
      R"("Password":"s3","NewPassword":"s4","PrivateKey":"s5","Secret\u0041ccessKey":"s6","Keep":1})");
  std::string text = Text(call);
  for (std::string_view secret : {"s1", "s2", "s3", "s4", "s5", "s6"}) {
    EXPECT_EQ(text.find(StrCat("\"", secret, "\"")), std::string::npos) << secret;
  }
  EXPECT_EQ(json::parse(text)["requestParameters"], json::parse(R"({"a":[{"b":{}}],"keep":1})"));
}

TEST(AuditIamStsEvent, AJsonBodySentToIamIsReadThroughTheKmsAllowlistOnly) {
  Call call = MakeQueryCall("iam", "CreateAccessKey",
                            StrCat(R"({"UserName":"bob","SecretAccessKey":")", kSecretAccessKey,
                                   R"(","Description":"kept"})"),
                            "");
  std::string text = Text(call);
  EXPECT_EQ(text.find(kSecretAccessKey), std::string::npos);
  EXPECT_EQ(json::parse(text)["requestParameters"], json({{"description", "kept"}}));
}

TEST(AuditIamStsEvent, ReadOnlyForIamAndStsReads) {
  for (std::string_view name :
       {"GetUser", "ListUsers", "ListAccessKeys", "GetUserPolicy", "ListUserPolicies", "GetRole",
        "ListRoles", "GetRolePolicy", "ListRolePolicies"}) {
    EXPECT_EQ(Build(MakeQueryCall("iam", std::string(name), "", "{}"))["readOnly"], true) << name;
  }
  EXPECT_EQ(Build(MakeQueryCall("sts", "GetCallerIdentity", "", ""))["readOnly"], true);
  for (std::string_view name : {"CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey",
                                "PutUserPolicy", "CreateRole", "UpdateAssumeRolePolicy"}) {
    EXPECT_EQ(Build(MakeQueryCall("iam", std::string(name), "", "{}"))["readOnly"], false) << name;
  }
  EXPECT_EQ(Build(AssumeRole())["readOnly"], false);
}

TEST(AuditIamStsEvent, ReadsRecordNoResponseElements) {
  Call call = MakeQueryCall("sts", "GetCallerIdentity", "Action=GetCallerIdentity", "", "<xml/>",
                            R"({"Account":"111122223333","UserId":"AIDAEXAMPLEALICE0001",)"
                            R"("Arn":"arn:aws:iam::111122223333:user/team/alice"})");
  json event = Build(call);
  EXPECT_TRUE(event["responseElements"].is_null());
  EXPECT_TRUE(event["requestParameters"].is_null());
}

TEST(AuditIamStsEvent, DeniedIamCallIsRecordedAsAccessDenied) {
  constexpr char kMessage[] =
      "User: arn:aws:iam::111122223333:user/team/alice is not authorized to perform: "
      "iam:CreateUser on resource: arn:aws:iam::111122223333:user/team/bob because no "
      "identity-based policy allows the iam:CreateUser action";
  Call call = CreateUser();
  call.principal = testing::IamUser();
  call.status = Error(ErrorType::kAccessDenied, kMessage);
  call.response.clear();
  call.response_elements_json.clear();
  json event = Build(call);
  EXPECT_EQ(event["errorCode"], "AccessDenied");
  EXPECT_EQ(event["errorMessage"], kMessage);
  EXPECT_EQ(event["requestParameters"]["userName"], "bob");
  EXPECT_TRUE(event["responseElements"].is_null());
}

TEST(AuditIamStsEvent, DeniedAssumeRoleIsRecordedAsAccessDenied) {
  Call call = AssumeRole();
  call.status = Error(ErrorType::kAccessDenied,
                      StrCat("User: arn:aws:iam::111122223333:user/team/alice is not authorized to "
                             "perform: sts:AssumeRole on resource: ",
                             kRoleArn));
  json event = Build(call);
  EXPECT_EQ(event["errorCode"], "AccessDenied");
  EXPECT_TRUE(event["responseElements"].is_null());
}

// A failed answer's elements are never recorded, even when a codec hands them over.
TEST(AuditIamStsEvent, FailedCallRecordsNoResponseElements) {
  Call call = CreateUser();
  call.status = Error(ErrorType::kAlreadyExists, "User with name bob already exists.");
  EXPECT_TRUE(Build(call)["responseElements"].is_null());
}

TEST(AuditIamStsEvent, IamAndStsErrorsHaveCloudTrailsNames) {
  const std::vector<std::pair<ErrorType, std::string_view>> names = {
      {ErrorType::kAccessDenied, "AccessDenied"},
      {ErrorType::kNotFound, "NoSuchEntityException"},
      {ErrorType::kAlreadyExists, "EntityAlreadyExistsException"},
      {ErrorType::kDeleteConflict, "DeleteConflictException"},
      {ErrorType::kLimitExceeded, "LimitExceededException"},
      {ErrorType::kMalformedPolicyDocument, "MalformedPolicyDocumentException"},
      {ErrorType::kValidation, "ValidationException"},
      {ErrorType::kExpiredToken, "ExpiredTokenException"},
      {ErrorType::kInvalidClientTokenId, "InvalidClientTokenId"},
      {ErrorType::kUnrecognizedClient, "InvalidClientTokenId"},
      {ErrorType::kInvalidSignature, "SignatureDoesNotMatch"},
  };
  for (const auto& [type, name] : names) {
    for (std::string_view service : {"iam", "sts"}) {
      Call call =
          MakeQueryCall(std::string(service), "GetUser", "", "{}", "", "", Error(type, "failed"));
      EXPECT_EQ(Build(call)["errorCode"], name) << service;
    }
  }
}

TEST(AuditIamStsEvent, AssumeRoleNamesTheRoleAsItsResource) {
  json resources = Build(AssumeRole())["resources"];
  EXPECT_EQ(resources,
            json::array(
                {{{"accountId", "111122223333"}, {"type", "AWS::IAM::Role"}, {"ARN", kRoleArn}}}));
}

TEST(AuditIamStsEvent, IamCallsNameNoKeysAsResources) {
  Call call = MakeQueryCall(
      "iam", "TagUser", "",
      R"({"UserName":"bob","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"})");
  EXPECT_TRUE(Build(call)["resources"].empty());
}

TEST(AuditIamStsEvent, UnauthenticatedParametersAreCapped) {
  std::string tags = R"({"UserName":"bob","Tags":[)";
  for (int i = 0; i < 300; ++i)
    tags += StrCat(i ? "," : "", R"({"Key":"k)", i, R"(","Value":"v"})");
  tags += "]}";
  Call call = MakeQueryCall("iam", "TagUser", "", tags, "", "",
                            Error(ErrorType::kUnrecognizedClient, "no such key"));
  call.principal.reset();
  json event = Build(call);
  EXPECT_TRUE(event["requestParameters"].is_null());
  EXPECT_GT(event["requestParametersOmitted"].get<int>(), 4096);
  EXPECT_EQ(event["userIdentity"], json({{"type", "Unknown"}}));
}

TEST(AuditIamStsEvent, CodecJsonThatIsNotAnObjectIsRecordedAsNull) {
  for (std::string_view text : {"not json", "[1,2]", "\"UserName\"", "{\"UserName\":"}) {
    Call call = MakeQueryCall("iam", "CreateUser", "", std::string(text), "", std::string(text));
    json event = Build(call);
    EXPECT_TRUE(event["requestParameters"].is_null()) << text;
    EXPECT_TRUE(event["responseElements"].is_null()) << text;
  }
}

TEST(AuditIamStsEvent, CodecJsonIsWrittenOnOneLine) {
  Call call =
      MakeQueryCall("iam", "CreateUser", "", "{\n  \"UserName\" : \"bob\",\n  \"Path\":\"/\"\n}",
                    "", "{\r\n\t\"User\": {\"UserName\": \"bob\"}\n}");
  std::string text = Text(call);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(json::parse(text)["responseElements"]["user"]["userName"], "bob");
}

}  // namespace
}  // namespace kmsd::audit
