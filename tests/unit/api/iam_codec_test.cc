// The IAM and STS codecs over a real identity service: answers in IAM's and STS's exact XML
// shapes, errors with AWS's codes and statuses, and what the audit is given (never a secret).
#include <gtest/gtest.h>

#include "api/query/codecs.h"
#include "api/query/form.h"
#include "unit/iam/iam_test_util.h"

namespace kmsd::testing {
namespace {

constexpr std::string_view kIamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/";
constexpr std::string_view kStsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/";

HttpRequest Post(std::string body) {
  HttpRequest http;
  http.method = "POST";
  http.target = "/";
  http.body = std::move(body);
  http.request_id = "request-1";
  return http;
}

// The text of the first <name> element in xml, or nullopt.
std::optional<std::string> ElementText(std::string_view xml, std::string_view name) {
  std::string open = StrCat("<", name, ">");
  size_t start = xml.find(open);
  if (start == std::string_view::npos) return std::nullopt;
  start += open.size();
  size_t end = xml.find(StrCat("</", name, ">"), start);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(xml.substr(start, end - start));
}

class IamCodecTest : public IamFixture {
 protected:
  void SetUp() override {
    IamFixture::SetUp();
    iam_ = api::NewIamCodec(service_.get());
    sts_ = api::NewStsCodec(service_.get());
  }

  absl::StatusOr<api::ServedAnswer> Serve(const api::ServiceCodec& codec, std::string body,
                                          const CallContext& call) {
    HttpRequest http = Post(std::move(body));
    return codec.Serve(http, codec.OperationName(http), call);
  }
  absl::StatusOr<api::ServedAnswer> Iam(std::string body) {
    return Serve(*iam_, StrCat(body, "&Version=2010-05-08"), root_);
  }
  // The error answer for a failed call, as the client reads it.
  HttpResponse IamFailure(std::string body) {
    auto served = Iam(std::move(body));
    EXPECT_FALSE(served.ok());
    return iam_->Failure(served.status(), "request-1");
  }

  std::unique_ptr<api::ServiceCodec> iam_;
  std::unique_ptr<api::ServiceCodec> sts_;
};

TEST_F(IamCodecTest, CreateUserAnswersInIamsShape) {
  auto served =
      Iam("Action=CreateUser&UserName=bob&Path=%2Fops%2F&Tags.member.1.Key=team"
          "&Tags.member.1.Value=blue");
  ASSERT_TRUE(served.ok()) << served.status();
  auto user = service_->GetUser(root_, std::string("bob"));
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(served->body,
            StrCat("<CreateUserResponse xmlns=\"", kIamNamespace,
                   "\"><CreateUserResult><User><Path>/ops/</Path><UserName>bob</UserName><UserId>",
                   user->user_id,
                   "</UserId><Arn>arn:aws:iam::111122223333:user/ops/bob</Arn><CreateDate>"
                   "2023-11-14T22:13:20Z</CreateDate><Tags><member><Key>team</Key><Value>blue"
                   "</Value></member></Tags></User></CreateUserResult><ResponseMetadata>"
                   "<RequestId>request-1</RequestId></ResponseMetadata></CreateUserResponse>"));
  EXPECT_EQ(served->audit_response_elements,
            StrCat(R"({"user":{"arn":"arn:aws:iam::111122223333:user/ops/bob",)",
                   R"("createDate":"2023-11-14T22:13:20Z","path":"/ops/",)",
                   R"("tags":[{"key":"team","value":"blue"}],"userId":")", user->user_id,
                   R"(","userName":"bob"}})"));
}

TEST_F(IamCodecTest, OperationsWithoutAResultAnswerOnlyTheMetadata) {
  MakeUser("bob");
  auto served = Iam("Action=DeleteUser&UserName=bob");
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->body, StrCat("<DeleteUserResponse xmlns=\"", kIamNamespace,
                                 "\"><ResponseMetadata><RequestId>request-1</RequestId>"
                                 "</ResponseMetadata></DeleteUserResponse>"));
  EXPECT_TRUE(served->audit_response_elements.empty());
}

TEST_F(IamCodecTest, ListUsersPagesWithIsTruncatedAndMarker) {
  for (std::string_view name : {"a", "b", "c"}) MakeUser(name);
  auto first = Iam("Action=ListUsers&MaxItems=2");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(ElementText(first->body, "IsTruncated"), "true");
  auto marker = ElementText(first->body, "Marker");
  ASSERT_TRUE(marker);
  EXPECT_EQ(first->body.find("<Tags>"), std::string::npos);
  auto second = Iam(StrCat("Action=ListUsers&MaxItems=2&Marker=", *marker));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(ElementText(second->body, "IsTruncated"), "false");
  EXPECT_EQ(ElementText(second->body, "Marker"), std::nullopt);
  EXPECT_EQ(ElementText(second->body, "UserName"), "c");
}

TEST_F(IamCodecTest, CreateAccessKeyShowsTheSecretOnceAndNeverToTheAudit) {
  MakeUser("bob");
  auto served = Iam("Action=CreateAccessKey&UserName=bob");
  ASSERT_TRUE(served.ok()) << served.status();
  auto secret = ElementText(served->body, "SecretAccessKey");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->size(), 40u);
  auto id = ElementText(served->body, "AccessKeyId");
  ASSERT_TRUE(id);
  EXPECT_EQ(ElementText(served->body, "Status"), "Active");
  EXPECT_EQ(served->audit_response_elements.find(*secret), std::string::npos);
  EXPECT_EQ(served->audit_response_elements.find("ecretAccessKey"), std::string::npos);
  EXPECT_NE(served->audit_response_elements.find(*id), std::string::npos);
  auto listed = Iam("Action=ListAccessKeys&UserName=bob");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->body.find(*secret), std::string::npos);
  EXPECT_EQ(ElementText(listed->body, "AccessKeyId"), *id);
}

TEST_F(IamCodecTest, UpdateAccessKeyReadsTheStatusEnum) {
  MakeUser("bob");
  auto key = service_->CreateAccessKey(root_, std::string("bob"));
  ASSERT_TRUE(Iam(StrCat("Action=UpdateAccessKey&UserName=bob&Status=Inactive&AccessKeyId=",
                         key->metadata.access_key_id))
                  .ok());
  EXPECT_EQ(TypeOf(service_->Find(key->metadata.access_key_id, "", now_).status()),
            ErrorType::kUnrecognizedClient);
  HttpResponse bad =
      IamFailure(StrCat("Action=UpdateAccessKey&UserName=bob&Status=Off"
                        "&AccessKeyId=",
                        key->metadata.access_key_id));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ElementText(bad.body, "Code"), "ValidationError");
}

TEST_F(IamCodecTest, PolicyDocumentsGoBackUrlEncoded) {
  MakeUser("bob");
  std::string document = IdentityPolicy("Allow", "kms:Encrypt");
  ASSERT_TRUE(Iam(StrCat("Action=PutUserPolicy&UserName=bob&PolicyName=p&PolicyDocument=",
                         api::query::PercentEncode(document)))
                  .ok());
  auto served = Iam("Action=GetUserPolicy&UserName=bob&PolicyName=p");
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(ElementText(served->body, "PolicyDocument"), api::query::PercentEncode(document));
  EXPECT_EQ(ElementText(served->body, "UserName"), "bob");
  auto names = Iam("Action=ListUserPolicies&UserName=bob");
  ASSERT_TRUE(names.ok());
  EXPECT_NE(names->body.find("<PolicyNames><member>p</member></PolicyNames>"), std::string::npos);
}

TEST_F(IamCodecTest, RoleAnswersCarryTheTrustPolicyAndMaxSessionDuration) {
  std::string trust = TrustPolicy("arn:aws:iam::111122223333:root");
  auto served =
      Iam(StrCat("Action=CreateRole&RoleName=app&MaxSessionDuration=7200"
                 "&Description=for+app&AssumeRolePolicyDocument=",
                 api::query::PercentEncode(trust)));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(ElementText(served->body, "AssumeRolePolicyDocument"),
            api::query::PercentEncode(trust));
  EXPECT_EQ(ElementText(served->body, "MaxSessionDuration"), "7200");
  EXPECT_EQ(ElementText(served->body, "Description"), "for app");
  EXPECT_EQ(ElementText(served->body, "Arn"), RoleArnOf("app"));
  auto listed = Iam("Action=ListRoles");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(ElementText(listed->body, "RoleName"), "app");
  HttpResponse short_session = IamFailure(
      StrCat("Action=CreateRole&RoleName=x&MaxSessionDuration=60&AssumeRolePolicyDocument=",
             api::query::PercentEncode(trust)));
  EXPECT_EQ(ElementText(short_session.body, "Code"), "ValidationError");
}

TEST_F(IamCodecTest, ErrorsAnswerInIamsShapeWithItsCodesAndStatuses) {
  HttpResponse missing = IamFailure("Action=GetUser&UserName=nobody");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body,
            StrCat("<ErrorResponse xmlns=\"", kIamNamespace,
                   "\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user "
                   "with name nobody cannot be found.</Message></Error><RequestId>request-1"
                   "</RequestId></ErrorResponse>"));
  const std::pair<std::string, std::string>* content_type = nullptr;
  for (const auto& header : missing.headers) {
    if (header.first == "Content-Type") content_type = &header;
  }
  ASSERT_NE(content_type, nullptr);
  EXPECT_EQ(content_type->second, "text/xml");
}

TEST_F(IamCodecTest, EachErrorTypeHasAwsCodeAndStatus) {
  struct Case {
    ErrorType type;
    std::string_view code;
    int status;
  };
  for (Case c : {Case{ErrorType::kNotFound, "NoSuchEntity", 404},
                 Case{ErrorType::kAlreadyExists, "EntityAlreadyExists", 409},
                 Case{ErrorType::kDeleteConflict, "DeleteConflict", 409},
                 Case{ErrorType::kLimitExceeded, "LimitExceeded", 409},
                 Case{ErrorType::kMalformedPolicyDocument, "MalformedPolicyDocument", 400},
                 Case{ErrorType::kValidation, "ValidationError", 400},
                 Case{ErrorType::kAccessDenied, "AccessDenied", 403},
                 Case{ErrorType::kUnrecognizedClient, "InvalidClientTokenId", 403},
                 Case{ErrorType::kInvalidClientTokenId, "InvalidClientTokenId", 403},
                 Case{ErrorType::kInvalidSignature, "SignatureDoesNotMatch", 403},
                 Case{ErrorType::kExpiredToken, "ExpiredToken", 403},
                 Case{ErrorType::kMissingAuthenticationToken, "MissingAuthenticationToken", 403},
                 Case{ErrorType::kIncompleteSignature, "IncompleteSignature", 400},
                 Case{ErrorType::kUnknownOperation, "InvalidAction", 400},
                 Case{ErrorType::kSerialization, "MalformedQueryString", 404},
                 Case{ErrorType::kThrottling, "Throttling", 400},
                 Case{ErrorType::kKmsInternal, "ServiceFailure", 500}}) {
    HttpResponse response = iam_->Failure(Error(c.type, "m"), "r");
    EXPECT_EQ(response.status, c.status) << c.code;
    EXPECT_EQ(ElementText(response.body, "Code"), c.code);
    EXPECT_EQ(ElementText(response.body, "Type"), c.status >= 500 ? "Receiver" : "Sender");
  }
  HttpResponse internal = sts_->Failure(Internal("disk on fire"), "r");
  EXPECT_EQ(ElementText(internal.body, "Code"), "InternalFailure");
  EXPECT_EQ(internal.body.find("disk on fire"), std::string::npos);
}

TEST_F(IamCodecTest, ErrorMessagesAreEscaped) {
  HttpResponse response = iam_->Failure(Validation("Value '<x>&' is bad"), "r");
  EXPECT_EQ(ElementText(response.body, "Message"), "Value &apos;&lt;x&gt;&amp;&apos; is bad");
}

TEST_F(IamCodecTest, ValidationErrorsNameTheMemberAndPattern) {
  HttpResponse response = IamFailure("Action=CreateUser&UserName=bad%2Fname");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(ElementText(response.body, "Code"), "ValidationError");
  EXPECT_EQ(ElementText(response.body, "Message"),
            "1 validation error detected: Value &apos;bad/name&apos; at &apos;userName&apos; "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "[\\w+=,.@-]+");
}

TEST_F(IamCodecTest, UnknownActionsAndVersionsAreInvalidAction) {
  HttpResponse unknown = IamFailure("Action=CreateGroup&GroupName=g");
  EXPECT_EQ(ElementText(unknown.body, "Code"), "InvalidAction");
  EXPECT_EQ(ElementText(unknown.body, "Message"),
            "Could not find operation CreateGroup for version 2010-05-08");
  auto wrong_version = Serve(*iam_, "Action=GetUser&Version=2009-01-01", root_);
  EXPECT_EQ(TypeOf(wrong_version.status()), ErrorType::kUnknownOperation);
  auto none = Serve(*iam_, "Version=2010-05-08", root_);
  EXPECT_EQ(TypeOf(none.status()), ErrorType::kUnknownOperation);
}

TEST_F(IamCodecTest, MalformedFormsAreMalformedQueryString) {
  HttpResponse response = IamFailure("Action=GetUser&UserName=%ZZ");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ElementText(response.body, "Code"), "MalformedQueryString");
}

TEST_F(IamCodecTest, UnsupportedMembersAreRefusedNotIgnored) {
  HttpResponse response =
      IamFailure("Action=CreateUser&UserName=bob&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3Ax");
  EXPECT_EQ(ElementText(response.body, "Code"), "UnsupportedOperation");
  EXPECT_EQ(TypeOf(service_->GetUser(root_, std::string("bob")).status()), ErrorType::kNotFound);
}

TEST_F(IamCodecTest, OperationNameIsAPlainNameOrNothing) {
  EXPECT_EQ(iam_->OperationName(Post("Action=CreateUser&Version=2010-05-08")), "CreateUser");
  EXPECT_EQ(iam_->OperationName(Post("Action=Create%3CUser%3E")), "");
  EXPECT_EQ(iam_->OperationName(Post(StrCat("Action=", std::string(100, 'A')))), "");
  EXPECT_EQ(iam_->OperationName(Post("Version=2010-05-08")), "");
  HttpRequest get = Post("");
  get.method = "GET";
  get.target = "/?Action=ListUsers&Version=2010-05-08";
  EXPECT_EQ(iam_->OperationName(get), "ListUsers");
}

TEST_F(IamCodecTest, WritesMayBlockAndReadsDoNot) {
  for (std::string_view write : {"CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey",
                                 "PutUserPolicy", "CreateRole", "UpdateAssumeRolePolicy"}) {
    EXPECT_TRUE(iam_->MayBlock(write)) << write;
  }
  for (std::string_view read : {"GetUser", "ListUsers", "ListAccessKeys", "GetRolePolicy"}) {
    EXPECT_FALSE(iam_->MayBlock(read)) << read;
  }
  EXPECT_TRUE(iam_->MayBlock("NoSuchOperation"));
  EXPECT_FALSE(sts_->MayBlock("AssumeRole"));
  EXPECT_FALSE(sts_->MayBlock("GetCallerIdentity"));
}

TEST_F(IamCodecTest, AuditParametersAreTheOperationsMembersOnly) {
  HttpRequest http =
      Post(StrCat("Action=PutUserPolicy&Version=2010-05-08&UserName=bob"
                  "&PolicyName=p&Extra=ignored&PolicyDocument=",
                  api::query::PercentEncode(R"({"a":1})")));
  EXPECT_EQ(iam_->AuditRequestParameters(http),
            R"({"policyDocument":"{\"a\":1}","policyName":"p","userName":"bob"})");
  EXPECT_EQ(iam_->AuditRequestParameters(Post("Action=Nope&X=1")), "null");
  EXPECT_EQ(iam_->AuditRequestParameters(Post("Action=GetUser&X=%ZZ")), "null");
  EXPECT_EQ(iam_->SigningName(), "iam");
  EXPECT_EQ(iam_->EventSource(), "iam.amazonaws.com");
}

TEST_F(IamCodecTest, AuthorizationFailuresAnswerAccessDenied) {
  CallContext alice = MakeUserCall("alice");
  auto served = Serve(*iam_, "Action=CreateUser&UserName=bob&Version=2010-05-08", alice);
  HttpResponse response = iam_->Failure(served.status(), "request-1");
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(ElementText(response.body, "Code"), "AccessDenied");
}

class StsCodecTest : public IamCodecTest {};

TEST_F(StsCodecTest, GetCallerIdentityAnswersInStsShape) {
  auto served = Serve(*sts_, "Action=GetCallerIdentity&Version=2011-06-15", root_);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->body,
            StrCat("<GetCallerIdentityResponse xmlns=\"", kStsNamespace,
                   "\"><GetCallerIdentityResult><UserId>111122223333</UserId><Account>"
                   "111122223333</Account><Arn>arn:aws:iam::111122223333:root</Arn>"
                   "</GetCallerIdentityResult><ResponseMetadata><RequestId>request-1</RequestId>"
                   "</ResponseMetadata></GetCallerIdentityResponse>"));
  EXPECT_TRUE(served->audit_response_elements.empty());
  EXPECT_EQ(sts_->AuditRequestParameters(Post("Action=GetCallerIdentity&Version=2011-06-15")),
            "null");
  EXPECT_EQ(sts_->EventSource(), "sts.amazonaws.com");
}

TEST_F(StsCodecTest, AssumeRoleAnswersCredentialsThatTheAuditNeverSees) {
  CallContext alice = MakeUserCall("alice");
  MakeRole("app", TrustPolicy("arn:aws:iam::111122223333:user/alice"));
  std::string body = StrCat(
      "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1"
      "&DurationSeconds=900&ExternalId=ext-1&RoleArn=",
      api::query::PercentEncode(RoleArnOf("app")));
  auto served = Serve(*sts_, body, alice);
  ASSERT_TRUE(served.ok()) << served.status();
  auto secret = ElementText(served->body, "SecretAccessKey");
  auto token = ElementText(served->body, "SessionToken");
  auto id = ElementText(served->body, "AccessKeyId");
  ASSERT_TRUE(secret && token && id);
  EXPECT_EQ(ElementText(served->body, "Expiration"), "2023-11-14T22:28:20Z");
  EXPECT_EQ(ElementText(served->body, "Arn"), "arn:aws:sts::111122223333:assumed-role/app/s1");
  EXPECT_TRUE(served->body.starts_with(
      StrCat("<AssumeRoleResponse xmlns=\"", kStsNamespace, "\"><AssumeRoleResult><Credentials>")));
  // The token works, as the client will present it (XML-unescaped).
  EXPECT_TRUE(service_->Find(*id, *token, now_).ok());

  const std::string& audit = served->audit_response_elements;
  EXPECT_EQ(audit.find(*secret), std::string::npos);
  EXPECT_EQ(audit.find(*token), std::string::npos);
  EXPECT_EQ(audit.find("essionToken"), std::string::npos);
  EXPECT_NE(audit.find(*id), std::string::npos);
  EXPECT_NE(audit.find("assumedRoleUser"), std::string::npos);
  HttpRequest http = Post(body);
  EXPECT_EQ(sts_->AuditRequestParameters(http),
            StrCat(R"({"durationSeconds":900,"externalId":"ext-1","roleArn":")", RoleArnOf("app"),
                   R"(","roleSessionName":"s1"})"));
}

TEST_F(StsCodecTest, AssumeRoleRefusesSessionPolicies) {
  CallContext alice = MakeUserCall("alice");
  MakeRole("app", TrustPolicy("arn:aws:iam::111122223333:user/alice"));
  auto served = Serve(*sts_,
                      StrCat("Action=AssumeRole&RoleSessionName=s1&Policy=%7B%7D&RoleArn=",
                             api::query::PercentEncode(RoleArnOf("app"))),
                      alice);
  EXPECT_EQ(TypeOf(served.status()), ErrorType::kUnsupportedOperation);
}

TEST_F(StsCodecTest, AssumeRoleDurationOutsideTheModelIsValidationError) {
  CallContext alice = MakeUserCall("alice");
  auto served = Serve(*sts_,
                      StrCat("Action=AssumeRole&RoleSessionName=s1&DurationSeconds=60&RoleArn=",
                             api::query::PercentEncode(RoleArnOf("app"))),
                      alice);
  HttpResponse response = sts_->Failure(served.status(), "r");
  EXPECT_EQ(ElementText(response.body, "Code"), "ValidationError");
  EXPECT_NE(response.body.find(kStsNamespace), std::string::npos);
}

}  // namespace
}  // namespace kmsd::testing
