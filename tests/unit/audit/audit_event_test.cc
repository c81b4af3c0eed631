// The shape and the allowlists of one audit event.
#include <gtest/gtest.h>

#include "audit/event.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::MakeCall;

constexpr char kKeyId[] = "1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const EventSettings kSettings{"us-east-1", "111122223333"};

json Build(const testing::Call& call) {
  std::string text =
      BuildEvent(call.Outcome(), kSettings, 1714557600, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  return json::parse(text);
}

TEST(AuditEvent, EncryptHasCloudTrailShape) {
  auto call =
      MakeCall("Encrypt",
               R"({"KeyId":"alias/app","Plaintext":"c2VjcmV0","EncryptionContext":{"Tenant":"a"}})",
               StrCat(R"({"CiphertextBlob":"AQID","KeyId":")", kKeyArn,
                      R"(","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})"));
  json event = Build(call);
  EXPECT_EQ(event["eventVersion"], "1.08");
  EXPECT_EQ(event["eventTime"], "2024-05-01T10:00:00Z");
  EXPECT_EQ(event["eventSource"], "kms.amazonaws.com");
  EXPECT_EQ(event["eventName"], "Encrypt");
  EXPECT_EQ(event["awsRegion"], "us-east-1");
  EXPECT_EQ(event["sourceIPAddress"], "127.0.0.1");
  EXPECT_EQ(event["userAgent"], "aws-cli/2.9 test");
  EXPECT_EQ(event["userIdentity"], json({{"type", "Root"},
                                         {"principalId", "111122223333"},
                                         {"arn", "arn:aws:iam::111122223333:root"},
                                         {"accountId", "111122223333"},
                                         {"accessKeyId", "AKIAEXAMPLEROOT00001"}}));
  EXPECT_EQ(event["requestParameters"],
            json({{"keyId", "alias/app"}, {"encryptionContext", {{"Tenant", "a"}}}}));
  EXPECT_TRUE(event["responseElements"].is_null());
  EXPECT_EQ(event["requestID"], "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(event["eventID"], "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  EXPECT_EQ(event["readOnly"], false);
  EXPECT_EQ(
      event["resources"],
      json::array({{{"accountId", "111122223333"}, {"type", "AWS::KMS::Key"}, {"ARN", kKeyArn}}}));
  EXPECT_EQ(event["eventType"], "AwsApiCall");
  EXPECT_EQ(event["recipientAccountId"], "111122223333");
  EXPECT_FALSE(event.contains("errorCode"));
}

// Issue 12: a deletion the scheduler made, as CloudTrail records AWS's own service events.
TEST(AuditEvent, ServiceEventHasAwsServiceEventShape) {
  HttpRequest none;
  absl::Status ok;
  RequestOutcome outcome{
      .operation = "DeleteKey", .http = none, .principal = nullptr, .status = ok};
  outcome.service_event = true;
  outcome.service_event_key_arn = kKeyArn;
  outcome.region = "eu-west-1";
  json event = json::parse(
      BuildEvent(outcome, kSettings, 1714557600, "aaaaaaaa-bbbb-5ccc-8ddd-eeeeeeeeeeee"));
  EXPECT_EQ(event["userIdentity"],
            json({{"accountId", "111122223333"}, {"invokedBy", "kms.amazonaws.com"}}));
  EXPECT_EQ(event["eventSource"], "kms.amazonaws.com");
  EXPECT_EQ(event["eventName"], "DeleteKey");
  EXPECT_EQ(event["awsRegion"], "eu-west-1");
  EXPECT_EQ(event["sourceIPAddress"], "kms.amazonaws.com");
  EXPECT_EQ(event["userAgent"], "kms.amazonaws.com");
  EXPECT_TRUE(event["requestParameters"].is_null());
  // AWS since December 2022: the key's ARN, although the event answers nobody.
  EXPECT_EQ(event["responseElements"], json({{"keyId", kKeyArn}}));
  EXPECT_FALSE(event.contains("requestID"));
  EXPECT_EQ(event["eventID"], "aaaaaaaa-bbbb-5ccc-8ddd-eeeeeeeeeeee");
  EXPECT_EQ(
      event["resources"],
      json::array({{{"accountId", "111122223333"}, {"type", "AWS::KMS::Key"}, {"ARN", kKeyArn}}}));
  EXPECT_EQ(event["eventType"], "AwsServiceEvent");
  EXPECT_EQ(event["managementEvent"], true);
  EXPECT_EQ(event["recipientAccountId"], "111122223333");
}

// AWS since December 2022: an answer that does not name the key has the key's ARN recorded as
// responseElements.keyId, after whatever the answer gave (CreateGrant: grantId, keyId).
TEST(AuditEvent, AnswerWithoutTheKeyRecordsItsArnAsKeyId) {
  for (std::string_view name : {"EnableKey", "DisableKey", "TagResource", "PutKeyPolicy",
                                "UpdateKeyDescription", "EnableKeyRotation"}) {
    json event = Build(MakeCall(std::string(name), StrCat(R"({"KeyId":")", kKeyId, R"("})"), "{}"));
    EXPECT_EQ(event["responseElements"], json({{"keyId", kKeyArn}})) << name;
  }
  json alias = Build(MakeCall(
      "CreateAlias", StrCat(R"({"AliasName":"alias/a","TargetKeyId":")", kKeyArn, R"("})"), "{}"));
  EXPECT_EQ(alias["responseElements"], json({{"keyId", kKeyArn}}));
  std::string grant_text =
      BuildEvent(MakeCall("CreateGrant",
                          StrCat(R"({"KeyId":")", kKeyId,
                                 R"(","GranteePrincipal":"arn:aws:iam::111122223333:root",)"
                                 R"("Operations":["Encrypt"]})"),
                          R"({"GrantId":"g1","GrantToken":"secret-token"})")
                     .Outcome(),
                 kSettings, 1714557600, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  EXPECT_NE(grant_text.find(StrCat(R"("responseElements":{"grantId":"g1","keyId":")", kKeyArn)),
            std::string::npos)
      << grant_text;
  EXPECT_EQ(grant_text.find("secret-token"), std::string::npos);
  // Not when the answer names the key, the request failed, it only read, it was a cryptographic
  // operation, or the key is known only by an alias.
  json scheduled = Build(MakeCall("CancelKeyDeletion", StrCat(R"({"KeyId":")", kKeyId, R"("})"),
                                  StrCat(R"({"KeyId":")", kKeyArn, R"("})")));
  EXPECT_EQ(scheduled["responseElements"], json({{"keyId", kKeyArn}}));
  EXPECT_TRUE(Build(MakeCall("EnableKey", StrCat(R"({"KeyId":")", kKeyId, R"("})"), "",
                             NotFound("Key not found")))["responseElements"]
                  .is_null());
  EXPECT_TRUE(Build(MakeCall("GetKeyPolicy", StrCat(R"({"KeyId":")", kKeyId, R"("})"),
                             R"({"Policy":"{}"})"))["responseElements"]
                  .is_null());
  EXPECT_TRUE(Build(MakeCall("Encrypt", StrCat(R"({"KeyId":")", kKeyId, R"("})"),
                             R"({"CiphertextBlob":"AQID"})"))["responseElements"]
                  .is_null());
  EXPECT_TRUE(
      Build(MakeCall("DeleteAlias", R"({"AliasName":"alias/a"})", "{}"))["responseElements"]
          .is_null());
}

// Issue 13: ReplicateKey's second record, a CreateKey in the replica's region, and
// UpdatePrimaryRegion's, in the new primary's region; both with the request's requestID.
TEST(AuditEvent, CompanionEventsOfMultiRegionChanges) {
  constexpr char kMrk[] = "mrk-1234abcd12ab34cd56ef1234567890ab";
  std::string replica_arn = StrCat("arn:aws:kms:eu-west-1:111122223333:key/", kMrk);
  auto replicate = MakeCall(
      "ReplicateKey", StrCat(R"({"KeyId":")", kMrk, R"(","ReplicaRegion":"eu-west-1"})"),
      StrCat(R"({"ReplicaKeyMetadata":{"KeyId":")", kMrk, R"(","Arn":")", replica_arn,
             R"("},"ReplicaPolicy":"{}"})"));
  json main = Build(replicate);
  EXPECT_EQ(main["responseElements"]["replicaKeyMetadata"]["arn"], replica_arn);
  EXPECT_FALSE(main["responseElements"].contains("keyId"));
  EXPECT_FALSE(main["responseElements"].contains("replicaPolicy"));
  json created = json::parse(BuildCompanionEvent(replicate.Outcome(), kSettings, 1714557600,
                                                 "aaaaaaaa-bbbb-4ccc-8ddd-000000000001"));
  EXPECT_EQ(created["eventName"], "CreateKey");
  EXPECT_EQ(created["awsRegion"], "eu-west-1");
  EXPECT_EQ(created["eventType"], "AwsServiceEvent");
  EXPECT_EQ(created["userIdentity"]["invokedBy"], "kms.amazonaws.com");
  EXPECT_EQ(created["requestID"], main["requestID"]);
  EXPECT_EQ(created["eventID"], "aaaaaaaa-bbbb-4ccc-8ddd-000000000001");
  EXPECT_EQ(created["responseElements"], json({{"keyId", replica_arn}}));
  EXPECT_EQ(created["resources"][0]["ARN"], replica_arn);

  auto update = MakeCall(
      "UpdatePrimaryRegion",
      StrCat(R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:key/)", kMrk,
             R"(","PrimaryRegion":"eu-west-1"})"),
      "{}");
  json moved = json::parse(BuildCompanionEvent(update.Outcome(), kSettings, 1714557600,
                                               "aaaaaaaa-bbbb-4ccc-8ddd-000000000002"));
  EXPECT_EQ(moved["eventName"], "UpdatePrimaryRegion");
  EXPECT_EQ(moved["awsRegion"], "eu-west-1");
  EXPECT_EQ(moved["resources"][0]["ARN"], replica_arn);
  // The caller's record names the old primary, in its own region.
  EXPECT_EQ(Build(update)["responseElements"]["keyId"],
            StrCat("arn:aws:kms:us-east-1:111122223333:key/", kMrk));

  auto by_id = MakeCall("UpdatePrimaryRegion",
                        StrCat(R"({"KeyId":")", kMrk, R"(","PrimaryRegion":"eu-west-1"})"), "{}");
  json by_id_event = Build(by_id);
  EXPECT_EQ(by_id_event["responseElements"]["keyId"],
            StrCat("arn:aws:kms:us-east-1:111122223333:key/", kMrk))
      << by_id_event.dump();

  // None for other operations or failures.
  EXPECT_EQ(BuildCompanionEvent(MakeCall("EnableKey", R"({"KeyId":"x"})", "{}").Outcome(),
                                kSettings, 1, "e"),
            "");
  auto failed = MakeCall("UpdatePrimaryRegion",
                         StrCat(R"({"KeyId":")", kMrk, R"(","PrimaryRegion":"eu-west-1"})"), "",
                         NotFound("no"));
  EXPECT_EQ(BuildCompanionEvent(failed.Outcome(), kSettings, 1, "e"), "");
}

TEST(AuditEvent, RootIdentityHasNoUserNameOrSessionContext) {
  json identity = Build(MakeCall("ListKeys", "{}"))["userIdentity"];
  EXPECT_EQ(identity.size(), 5u);
  EXPECT_EQ(identity["type"], "Root");
  EXPECT_EQ(identity["principalId"], "111122223333");
  EXPECT_EQ(identity["arn"], "arn:aws:iam::111122223333:root");
  EXPECT_EQ(identity["accountId"], "111122223333");
  EXPECT_EQ(identity["accessKeyId"], "AKIAEXAMPLEROOT00001");
}

TEST(AuditEvent, IamUserIdentityNamesTheUser) {
  auto call = MakeCall("ListKeys", "{}");
  call.principal = testing::IamUser();
  json identity = Build(call)["userIdentity"];
  EXPECT_EQ(identity.size(), 6u);
  EXPECT_EQ(identity["type"], "IAMUser");
  EXPECT_EQ(identity["principalId"], "AIDAEXAMPLEALICE0001");
  EXPECT_EQ(identity["arn"], "arn:aws:iam::111122223333:user/team/alice");
  EXPECT_EQ(identity["accountId"], "111122223333");
  EXPECT_EQ(identity["accessKeyId"], "AKIAEXAMPLEALICE0001");
  EXPECT_EQ(identity["userName"], "alice");
}

TEST(AuditEvent, AssumedRoleIdentityNamesTheSessionAndTheRoleThatIssuedIt) {
  auto call = MakeCall("ListKeys", "{}");
  call.principal = testing::AssumedRole();
  json identity = Build(call)["userIdentity"];
  EXPECT_EQ(identity.size(), 6u);
  EXPECT_EQ(identity["type"], "AssumedRole");
  EXPECT_EQ(identity["principalId"], "AROAEXAMPLEDEPLOYER1:build-42");
  EXPECT_EQ(identity["arn"], "arn:aws:sts::111122223333:assumed-role/deployer/build-42");
  EXPECT_EQ(identity["accountId"], "111122223333");
  EXPECT_EQ(identity["accessKeyId"], "ASIAEXAMPLESESSION01");
  EXPECT_FALSE(identity.contains("userName"));
  json context = identity["sessionContext"];
  EXPECT_EQ(context.size(), 2u);
  json issuer = context["sessionIssuer"];
  EXPECT_EQ(issuer.size(), 5u);
  EXPECT_EQ(issuer["type"], "Role");
  EXPECT_EQ(issuer["principalId"], "AROAEXAMPLEDEPLOYER1");
  EXPECT_EQ(issuer["arn"], "arn:aws:iam::111122223333:role/ci/deployer");
  EXPECT_EQ(issuer["accountId"], "111122223333");
  EXPECT_EQ(issuer["userName"], "deployer");
  json attributes = context["attributes"];
  EXPECT_EQ(attributes.size(), 2u);
  EXPECT_EQ(attributes["creationDate"], "2024-05-01T09:30:00Z");
  EXPECT_EQ(attributes["mfaAuthenticated"], "false");
}

TEST(AuditEvent, KmsIsTheEventSourceWhenTheOutcomeNamesNone) {
  auto call = MakeCall("Encrypt", R"({"KeyId":"alias/app"})");
  call.event_source = "";
  EXPECT_EQ(Build(call)["eventSource"], "kms.amazonaws.com");
}

TEST(AuditEvent, DeniedKmsCallIsRecordedAsAccessDeniedException) {
  constexpr char kMessage[] =
      "User: arn:aws:iam::111122223333:user/team/alice is not authorized to perform: kms:Decrypt "
      "on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab "
      "because no resource-based policy allows the kms:Decrypt action";
  auto call = MakeCall("Decrypt", StrCat(R"({"KeyId":")", kKeyId, R"(","CiphertextBlob":"AA=="})"),
                       "", Error(ErrorType::kAccessDenied, kMessage));
  call.principal = testing::IamUser();
  json event = Build(call);
  EXPECT_EQ(event["errorCode"], "AccessDeniedException");
  EXPECT_EQ(event["errorMessage"], kMessage);
  EXPECT_EQ(event["userIdentity"]["userName"], "alice");
  EXPECT_EQ(event["resources"][0]["ARN"], kKeyArn);
}

TEST(AuditEvent, NeverRecordsPlaintextBlobsGrantTokensOrSignatures) {
  const std::vector<testing::Call> calls = {
      MakeCall(
          "Encrypt",
          R"({"KeyId":"k","Plaintext":"UExBSU5URVhUU0VDUkVU","GrantTokens":["GRANTTOKENSECRET"]})",
          R"({"CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I=","KeyId":"arn:aws:kms:us-east-1:1:key/x"})"),
      MakeCall("Decrypt",
               R"({"CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I=","GrantTokens":["GRANTTOKENSECRET"]})",
               R"({"Plaintext":"UExBSU5URVhUU0VDUkVU","KeyId":"arn:aws:kms:us-east-1:1:key/x"})"),
      MakeCall(
          "GenerateDataKey", R"({"KeyId":"k","KeySpec":"AES_256"})",
          R"({"Plaintext":"UExBSU5URVhUU0VDUkVU","CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I=","KeyId":"k"})"),
      MakeCall("ReEncrypt", R"({"CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I=","DestinationKeyId":"k"})",
               R"({"CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I=","KeyId":"k","SourceKeyId":"k"})"),
      MakeCall("GenerateRandom", R"({"NumberOfBytes":16})",
               R"({"Plaintext":"UExBSU5URVhUU0VDUkVU"})"),
      // Members kmsd does not know yet are left out too.
      MakeCall("CreateKey", R"({"Policy":"POLICYSECRET","SecretAccessKey":"SECRETACCESSKEY"})",
               R"({"KeyMetadata":{"KeyId":"k"},"Plaintext":"UExBSU5URVhUU0VDUkVU"})"),
      MakeCall("Decrypt", R"({"CiphertextBlob":"Q0lQSEVSVEVYVEJMT0I="})", "",
               Error(ErrorType::kInvalidCiphertext, "bad blob")),
  };
  for (const auto& call : calls) {
    std::string text = BuildEvent(call.Outcome(), kSettings, 0, "e");
    for (std::string_view secret :
         {"UExBSU5URVhUU0VDUkVU", "Q0lQSEVSVEVYVEJMT0I", "GRANTTOKENSECRET", "POLICYSECRET",
          "SECRETACCESSKEY", "5ec12e7deadbeef", "Plaintext", "CiphertextBlob", "GrantTokens"}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << call.operation << " leaks " << secret;
    }
  }
}

TEST(AuditEvent, AuthenticationFailureRecordsTheClaimedAccessKey) {
  auto call = MakeCall("Encrypt", R"({"KeyId":"alias/app","Plaintext":"eA=="})", "",
                       Error(ErrorType::kUnrecognizedClient, "The security token is invalid"));
  call.principal.reset();
  call.claimed_access_key_id = "AKIAWHOEVER";
  json event = Build(call);
  EXPECT_EQ(event["userIdentity"], json({{"type", "Unknown"}, {"accessKeyId", "AKIAWHOEVER"}}));
  EXPECT_EQ(event["errorCode"], "UnrecognizedClientException");
  EXPECT_EQ(event["errorMessage"], "The security token is invalid");
  EXPECT_EQ(event["requestParameters"]["keyId"], "alias/app");
}

// Whoever reaches the port could otherwise write up to a whole request body (256 KiB) into the
// trail per request without any credential.
TEST(AuditEvent, UnauthenticatedRequestParametersAreCappedAuthenticatedOnesAreNot) {
  std::string context = R"({"KeyId":"alias/app","EncryptionContext":{)";
  for (int i = 0; i < 400; ++i) context += StrCat(i ? "," : "", "\"key", i, "\":\"value\"");
  context += "}}";
  auto call = MakeCall("Encrypt", context, "", Error(ErrorType::kUnrecognizedClient, "no"));
  json authenticated = Build(call);
  EXPECT_EQ(authenticated["requestParameters"]["encryptionContext"].size(), 400u);
  EXPECT_FALSE(authenticated.contains("requestParametersOmitted"));

  call.principal.reset();
  json stranger = Build(call);
  EXPECT_TRUE(stranger["requestParameters"].is_null());
  EXPECT_EQ(stranger["requestParametersOmitted"], authenticated["requestParameters"].dump().size());

  // Small ones are still recorded for a stranger (which key was tried, with what).
  auto small = MakeCall("Encrypt", R"({"KeyId":"alias/app"})", "",
                        Error(ErrorType::kUnrecognizedClient, "no"));
  small.principal.reset();
  EXPECT_EQ(Build(small)["requestParameters"]["keyId"], "alias/app");
}

TEST(AuditEvent, FailedRequestNamesTheKeyItAskedFor) {
  auto call = MakeCall("DescribeKey", StrCat(R"({"KeyId":")", kKeyId, R"("})"), "",
                       NotFound("Key not found"));
  json event = Build(call);
  EXPECT_EQ(event["errorCode"], "NotFoundException");
  ASSERT_EQ(event["resources"].size(), 1u);
  EXPECT_EQ(event["resources"][0]["ARN"], kKeyArn);
  EXPECT_TRUE(event["responseElements"].is_null());
}

TEST(AuditEvent, AliasRequestWithoutAnswerHasNoResource) {
  auto call = MakeCall("DescribeKey", R"({"KeyId":"alias/missing"})", "", NotFound("no alias"));
  json event = Build(call);
  EXPECT_TRUE(event["resources"].empty());
  EXPECT_EQ(event["requestParameters"]["keyId"], "alias/missing");
}

TEST(AuditEvent, CreateKeyRecordsKeyMetadataAndItsArn) {
  auto call = MakeCall(
      "CreateKey",
      R"({"Description":"app key","KeyUsage":"ENCRYPT_DECRYPT","Tags":[{"TagKey":"a","TagValue":"b"}]})",
      StrCat(R"({"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":")", kKeyId, R"(","Arn":")",
             kKeyArn, R"(","Enabled":true}})"));
  json event = Build(call);
  EXPECT_EQ(event["responseElements"]["keyMetadata"]["arn"], kKeyArn);
  EXPECT_EQ(event["responseElements"]["keyMetadata"]["keyId"], kKeyId);
  EXPECT_EQ(event["requestParameters"]["tags"], json::parse(R"([{"tagKey":"a","tagValue":"b"}])"));
  EXPECT_EQ(event["resources"][0]["ARN"], kKeyArn);
  EXPECT_EQ(event["readOnly"], false);
}

TEST(AuditEvent, ReEncryptNamesBothKeys) {
  std::string source =
      "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001";
  auto call = MakeCall("ReEncrypt", R"({"DestinationKeyId":"alias/b","CiphertextBlob":"AA=="})",
                       StrCat(R"({"SourceKeyId":")", source, R"(","KeyId":")", kKeyArn, R"("})"));
  json event = Build(call);
  ASSERT_EQ(event["resources"].size(), 2u);
  EXPECT_EQ(event["resources"][0]["ARN"], kKeyArn);
  EXPECT_EQ(event["resources"][1]["ARN"], source);
}

TEST(AuditEvent, ScheduleKeyDeletionRecordsTheAnswer) {
  auto call = MakeCall(
      "ScheduleKeyDeletion", StrCat(R"({"KeyId":")", kKeyId, R"(","PendingWindowInDays":7})"),
      StrCat(
          R"({"KeyId":")", kKeyArn,
          R"(","DeletionDate":1715162400,"KeyState":"PendingDeletion","PendingWindowInDays":7})"));
  json event = Build(call);
  EXPECT_EQ(event["responseElements"], json({{"keyId", kKeyArn},
                                             {"deletionDate", 1715162400},
                                             {"keyState", "PendingDeletion"},
                                             {"pendingWindowInDays", 7}}));
  EXPECT_EQ(event["requestParameters"]["pendingWindowInDays"], 7);
}

TEST(AuditEvent, ReadOnlyForDescribeListAndGet) {
  for (std::string_view name : {"DescribeKey", "ListKeys", "ListAliases", "GetKeyRotationStatus"}) {
    EXPECT_EQ(Build(MakeCall(std::string(name), "{}"))["readOnly"], true) << name;
  }
  for (std::string_view name : {"Encrypt", "CreateKey", "EnableKey", "TagResource"}) {
    EXPECT_EQ(Build(MakeCall(std::string(name), "{}"))["readOnly"], false) << name;
  }
}

TEST(AuditEvent, ListAnswersAreNotCopied) {
  auto call = MakeCall("ListKeys", "{}", StrCat(R"({"Keys":[{"KeyId":")", kKeyId, R"("}]})"));
  json event = Build(call);
  EXPECT_TRUE(event["responseElements"].is_null());
  EXPECT_TRUE(event["resources"].empty());
  EXPECT_TRUE(event["requestParameters"].is_null());
}

TEST(AuditEvent, HostileInputIsRecordedSafely) {
  auto call =
      MakeCall("Encrypt", "{\"KeyId\":\"a\xff\xfe\",\"EncryptionContext\":{\"\\u0000x\":\"\\\"\"}}",
               "", Validation("bad"));
  call.operation = "Bogus\xff";
  call.http.headers.push_back({"user-agent", "x"});
  json event = Build(call);  // parses: valid JSON despite invalid UTF-8 and control characters
  EXPECT_EQ(event["errorCode"], "ValidationException");
  auto unparsable = MakeCall("Encrypt", "{not json", "", Error(ErrorType::kSerialization, "bad"));
  EXPECT_TRUE(Build(unparsable)["requestParameters"].is_null());
  auto unnamed = MakeCall("", "", "", Error(ErrorType::kUnknownOperation, "no target"));
  EXPECT_EQ(Build(unnamed)["eventName"], "Unknown");
}

}  // namespace
}  // namespace kmsd::audit
