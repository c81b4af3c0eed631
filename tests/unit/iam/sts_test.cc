// Roles, AssumeRole and the sessions it issues: trust policies, ExternalId, durations, and the
// credential store's refusals of tampered, expired and orphaned session tokens.
#include "iam/session_token.h"
#include "iam_test_util.h"

namespace kmsd::testing {
namespace {

constexpr char kAccountRoot[] = "arn:aws:iam::111122223333:root";
constexpr char kAlice[] = "arn:aws:iam::111122223333:user/alice";

class StsTest : public IamFixture {
 protected:
  // Alice may assume roles as far as her own policies go (trust policies decide the rest).
  void SetUp() override {
    IamFixture::SetUp();
    alice_ = MakeUserCall("alice", IdentityPolicy("Allow", "sts:AssumeRole"));
  }

  absl::StatusOr<SessionCredentials> Assume(const CallContext& call, std::string_view role,
                                            std::optional<int64_t> duration = std::nullopt,
                                            std::optional<std::string> external_id = {}) {
    AssumeRoleRequest request;
    request.role_arn = RoleArnOf(role);
    request.role_session_name = "session";
    request.duration_seconds = duration;
    request.external_id = std::move(external_id);
    return service_->AssumeRole(call, request);
  }

  CallContext alice_;
};

TEST_F(StsTest, RoleLifecycle) {
  IamRole role = MakeRole("app", TrustPolicy(kAlice), 7200);
  EXPECT_TRUE(role.role_id.starts_with("AROA"));
  EXPECT_EQ(role.role_id.size(), 21u);
  EXPECT_EQ(role.arn, RoleArnOf("app"));
  EXPECT_EQ(role.max_session_duration, 7200);
  auto got = service_->GetRole(root_, "APP");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->assume_role_policy_document, TrustPolicy(kAlice));
  EXPECT_EQ(service_->ListRoles(root_, {})->roles.size(), 1u);
  ASSERT_TRUE(service_->DeleteRole(root_, "app").ok());
  auto gone = service_->GetRole(root_, "app");
  EXPECT_EQ(TypeOf(gone.status()), ErrorType::kNotFound);
  EXPECT_EQ(gone.status().message(), "The role with name app cannot be found.");
}

TEST_F(StsTest, RoleNamesAreUniqueRegardlessOfCase) {
  MakeRole("app", TrustPolicy(kAlice));
  CreateRoleRequest request;
  request.role_name = "APP";
  request.assume_role_policy_document = TrustPolicy(kAlice);
  auto again = service_->CreateRole(root_, request);
  EXPECT_EQ(TypeOf(again.status()), ErrorType::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "Role with name APP already exists.");
}

TEST_F(StsTest, ATrustPolicyWithoutAPrincipalIsMalformed) {
  CreateRoleRequest request;
  request.role_name = "app";
  request.assume_role_policy_document = IdentityPolicy("Allow", "sts:AssumeRole");
  EXPECT_EQ(TypeOf(service_->CreateRole(root_, request).status()),
            ErrorType::kMalformedPolicyDocument);
  EXPECT_EQ(TypeOf(service_->GetRole(root_, "app").status()), ErrorType::kNotFound);
}

TEST_F(StsTest, ATrustPolicyNamingAMissingUserOrRoleIsMalformed) {
  for (std::string_view missing :
       {"arn:aws:iam::111122223333:user/nobody", "arn:aws:iam::111122223333:role/nothing"}) {
    CreateRoleRequest request;
    request.role_name = "app";
    request.assume_role_policy_document = TrustPolicy(missing);
    auto role = service_->CreateRole(root_, request);
    EXPECT_EQ(TypeOf(role.status()), ErrorType::kMalformedPolicyDocument) << missing;
    EXPECT_EQ(role.status().message(),
              StrCat("Invalid principal in policy: \"AWS\":\"", missing, "\""));
  }
  MakeRole("other", TrustPolicy(kAlice));
  MakeRole("app", TrustPolicy(RoleArnOf("other")));
  EXPECT_EQ(TypeOf(service_->UpdateAssumeRolePolicy(root_, "app", TrustPolicy(RoleArnOf("gone")))),
            ErrorType::kMalformedPolicyDocument);
}

TEST_F(StsTest, PrincipalExistsKnowsTheAccountsUsersAndRoles) {
  MakeUser("ops-user", "/ops/");
  MakeRole("app", TrustPolicy(kAlice));
  EXPECT_TRUE(service_->PrincipalExists(kAlice));
  EXPECT_TRUE(service_->PrincipalExists("arn:aws:iam::111122223333:user/ALICE"));
  EXPECT_TRUE(service_->PrincipalExists("arn:aws:iam::111122223333:user/ops/ops-user"));
  EXPECT_FALSE(service_->PrincipalExists("arn:aws:iam::111122223333:user/ops-user"));
  EXPECT_TRUE(service_->PrincipalExists(RoleArnOf("app")));
  EXPECT_FALSE(service_->PrincipalExists(RoleArnOf("nothing")));
  EXPECT_FALSE(service_->PrincipalExists("arn:aws:iam::444455556666:user/alice"));
  EXPECT_FALSE(service_->PrincipalExists(kAccountRoot));
}

TEST_F(StsTest, ATrustPolicyOver2048CharactersIsLimitExceeded) {
  CreateRoleRequest request;
  request.role_name = "app";
  request.assume_role_policy_document =
      TrustPolicy(kAlice, StrCat(R"(,"Sid":")", std::string(2100, 'a'), R"(")"));
  auto role = service_->CreateRole(root_, request);
  EXPECT_EQ(TypeOf(role.status()), ErrorType::kLimitExceeded);
  EXPECT_EQ(role.status().message(), "Cannot exceed quota for ACLSizePerRole: 2048");
}

TEST_F(StsTest, MaxSessionDurationMustBeBetweenOneAndTwelveHours) {
  CreateRoleRequest request;
  request.role_name = "app";
  request.assume_role_policy_document = TrustPolicy(kAlice);
  for (int64_t duration : {3599, 43201}) {
    request.max_session_duration = duration;
    EXPECT_EQ(TypeOf(service_->CreateRole(root_, request).status()), ErrorType::kValidation)
        << duration;
  }
}

TEST_F(StsTest, DeleteRoleWithInlinePoliciesIsDeleteConflict) {
  MakeRole("app", TrustPolicy(kAlice));
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kRole, "app"}, "p",
                                    IdentityPolicy("Allow", "kms:Encrypt"))
                  .ok());
  absl::Status status = service_->DeleteRole(root_, "app");
  EXPECT_EQ(TypeOf(status), ErrorType::kDeleteConflict);
  EXPECT_EQ(status.message(), "Cannot delete entity, must delete policies first.");
  auto missing = service_->GetInlinePolicy(root_, {IamEntityKind::kRole, "app"}, "nope");
  EXPECT_EQ(missing.status().message(), "The role policy with name nope cannot be found.");
}

TEST_F(StsTest, ARolesInlinePoliciesMayReach10240Characters) {
  MakeRole("app", TrustPolicy(kAlice));
  std::string resource = StrCat("arn:aws:kms:us-east-1:111122223333:key/", std::string(3000, 'a'));
  std::string document = IdentityPolicy("Allow", "kms:Encrypt", resource);
  IamEntity app{IamEntityKind::kRole, "app"};
  for (std::string_view name : {"one", "two", "three"}) {
    EXPECT_TRUE(service_->PutInlinePolicy(root_, app, std::string(name), document).ok()) << name;
  }
  absl::Status status = service_->PutInlinePolicy(root_, app, "four", document);
  EXPECT_EQ(TypeOf(status), ErrorType::kLimitExceeded);
  EXPECT_EQ(status.message(), "Maximum policy size of 10240 bytes exceeded for role app");
}

TEST_F(StsTest, AssumeRoleAllowedByTheTrustPolicyIssuesASession) {
  IamRole role = MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_TRUE(session->access_key_id.starts_with("ASIA"));
  EXPECT_EQ(session->access_key_id.size(), 20u);
  EXPECT_EQ(session->secret_access_key.size(), 40u);
  EXPECT_EQ(session->expiration, now_.load() + 3600);
  EXPECT_EQ(session->assumed_role_id, StrCat(role.role_id, ":session"));
  EXPECT_EQ(session->assumed_role_arn, "arn:aws:sts::111122223333:assumed-role/app/session");

  auto credential = service_->Find(session->access_key_id, session->session_token, now_);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ((*credential)->secret_access_key.view(), session->secret_access_key.view());
  const Principal& principal = *(*credential)->principal;
  EXPECT_EQ(principal.kind, PrincipalType::kAssumedRole);
  EXPECT_EQ(principal.type, "AssumedRole");
  EXPECT_EQ(principal.arn, session->assumed_role_arn);
  EXPECT_EQ(principal.principal_id, session->assumed_role_id);
  EXPECT_EQ(principal.role_arn, role.arn);
  EXPECT_EQ(principal.role_name, "app");
  EXPECT_EQ(principal.session_name, "session");
  EXPECT_EQ(principal.session_expiration, session->expiration);
}

TEST_F(StsTest, ATrustPolicyNamingTheAccountDelegatesToIdentityPolicies) {
  MakeRole("app", TrustPolicy(kAccountRoot));
  EXPECT_TRUE(Assume(alice_, "app").ok());
  CallContext bob = MakeUserCall("bob");  // no identity policy allows sts:AssumeRole
  auto denied = Assume(bob, "app");
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
}

TEST_F(StsTest, AssumeRoleDeniedByTheTrustPolicyIsAccessDenied) {
  MakeUser("bob");
  MakeRole("app", TrustPolicy("arn:aws:iam::111122223333:user/bob"));
  auto denied = Assume(alice_, "app");
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
  EXPECT_TRUE(ToStd(denied.status().message())
                  .starts_with(StrCat("User: ", kAlice,
                                      " is not authorized to perform: sts:AssumeRole on resource: ",
                                      RoleArnOf("app"))))
      << denied.status();
}

TEST_F(StsTest, AMissingRoleIsDeniedNotRevealed) {
  auto denied = Assume(alice_, "nothere");
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
  EXPECT_EQ(denied.status().message(),
            StrCat("User: ", kAlice, " is not authorized to perform: sts:AssumeRole on resource: ",
                   RoleArnOf("nothere")));
}

TEST_F(StsTest, TheRootMayNotAssumeRoles) {
  MakeRole("app", TrustPolicy(kAccountRoot));
  auto denied = Assume(root_, "app");
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
  EXPECT_EQ(denied.status().message(), "Roles may not be assumed by root accounts.");
}

TEST_F(StsTest, ExternalIdIsCheckedByTheTrustPolicy) {
  MakeRole("app",
           TrustPolicy(kAlice, R"(,"Condition":{"StringEquals":{"sts:ExternalId":"x-42"}})"));
  EXPECT_EQ(TypeOf(Assume(alice_, "app").status()), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(Assume(alice_, "app", std::nullopt, "x-41").status()), ErrorType::kAccessDenied);
  EXPECT_TRUE(Assume(alice_, "app", std::nullopt, "x-42").ok());
}

TEST_F(StsTest, DurationMayReachTheRolesMaximumAndNoFurther) {
  MakeRole("app", TrustPolicy(kAlice), 7200);
  auto longest = Assume(alice_, "app", 7200);
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_EQ(longest->expiration, now_.load() + 7200);
  auto shortest = Assume(alice_, "app", 900);
  ASSERT_TRUE(shortest.ok()) << shortest.status();
  EXPECT_EQ(shortest->expiration, now_.load() + 900);
  auto too_long = Assume(alice_, "app", 7201);
  EXPECT_EQ(TypeOf(too_long.status()), ErrorType::kValidation);
  EXPECT_EQ(too_long.status().message(),
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  EXPECT_EQ(TypeOf(Assume(alice_, "app", 899).status()), ErrorType::kValidation);
}

TEST_F(StsTest, ASessionAssumingARoleGetsAtMostAnHour) {
  MakeRole("first", TrustPolicy(kAlice));
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kRole, "first"}, "p",
                                    IdentityPolicy("Allow", "sts:AssumeRole"))
                  .ok());
  MakeRole("second", TrustPolicy(kAccountRoot), 43200);
  auto first = Assume(alice_, "first");
  ASSERT_TRUE(first.ok()) << first.status();
  CallContext session = CallAs(first->access_key_id, first->session_token);
  auto chained = Assume(session, "second", 7200);
  EXPECT_EQ(TypeOf(chained.status()), ErrorType::kValidation);
  EXPECT_TRUE(Assume(session, "second", 3600).ok());
}

TEST_F(StsTest, AnExpiredSessionIsExpiredToken) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app", 900);
  ASSERT_TRUE(session.ok());
  EXPECT_TRUE(service_->Find(session->access_key_id, session->session_token, now_ + 899).ok());
  auto expired = service_->Find(session->access_key_id, session->session_token, now_ + 900);
  EXPECT_EQ(TypeOf(expired.status()), ErrorType::kExpiredToken);
}

TEST_F(StsTest, EveryAlteredCharacterOfATokenIsRefused) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  const std::string& token = session->session_token;
  for (size_t i = 0; i < token.size(); ++i) {
    std::string altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    auto found = service_->Find(session->access_key_id, altered, now_);
    EXPECT_EQ(TypeOf(found.status()), ErrorType::kInvalidClientTokenId) << i;
  }
  EXPECT_TRUE(service_->Find(session->access_key_id, token, now_).ok());
}

TEST_F(StsTest, ATokenIsRefusedWithAnotherAccessKeyId) {
  MakeRole("app", TrustPolicy(kAlice));
  auto first = Assume(alice_, "app");
  auto second = Assume(alice_, "app");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(TypeOf(service_->Find(first->access_key_id, second->session_token, now_).status()),
            ErrorType::kInvalidClientTokenId);
}

TEST_F(StsTest, ASessionKeyWithoutItsTokenIsUnrecognized) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(TypeOf(service_->Find(session->access_key_id, "", now_).status()),
            ErrorType::kUnrecognizedClient);
}

TEST_F(StsTest, GarbageTokensAreRefused) {
  for (std::string_view token : {"x", "AAAA", "not base64 at all!", "AQ==", ""}) {
    auto found = service_->Find("ASIAAAAAAAAAAAAAAAAA", token, now_);
    EXPECT_FALSE(found.ok()) << token;
  }
  std::string huge(iam::kMaxSessionTokenLength + 1, 'A');
  EXPECT_EQ(TypeOf(service_->Find("ASIAAAAAAAAAAAAAAAAA", huge, now_).status()),
            ErrorType::kInvalidClientTokenId);
}

TEST_F(StsTest, DeletingTheRoleEndsItsSessionsAtOnce) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(service_->Find(session->access_key_id, session->session_token, now_).ok());
  ASSERT_TRUE(service_->DeleteRole(root_, "app").ok());
  EXPECT_EQ(TypeOf(service_->Find(session->access_key_id, session->session_token, now_).status()),
            ErrorType::kInvalidClientTokenId);
  // A new role of the same name is another role: the old sessions stay dead.
  MakeRole("app", TrustPolicy(kAlice));
  EXPECT_EQ(TypeOf(service_->Find(session->access_key_id, session->session_token, now_).status()),
            ErrorType::kInvalidClientTokenId);
}

TEST_F(StsTest, ARolePolicyChangeReachesItsSessions) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  auto before = service_->Find(session->access_key_id, session->session_token, now_);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE((*before)->principal->identity_policies.empty());
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kRole, "app"}, "p",
                                    IdentityPolicy("Allow", "kms:Encrypt"))
                  .ok());
  auto after = service_->Find(session->access_key_id, session->session_token, now_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->principal->identity_policies.size(), 1u);
  EXPECT_EQ((*after)->principal->session_name, "session");
  EXPECT_EQ((*after)->secret_access_key.view(), session->secret_access_key.view());
}

TEST_F(StsTest, UpdateAssumeRolePolicyChangesWhoMayAssume) {
  MakeUser("bob");
  MakeRole("app", TrustPolicy("arn:aws:iam::111122223333:user/bob"));
  EXPECT_EQ(TypeOf(Assume(alice_, "app").status()), ErrorType::kAccessDenied);
  ASSERT_TRUE(service_->UpdateAssumeRolePolicy(root_, "app", TrustPolicy(kAlice)).ok());
  EXPECT_TRUE(Assume(alice_, "app").ok());
  EXPECT_EQ(TypeOf(service_->UpdateAssumeRolePolicy(root_, "app", "{}")),
            ErrorType::kMalformedPolicyDocument);
  EXPECT_EQ(service_->GetRole(root_, "app")->assume_role_policy_document, TrustPolicy(kAlice));
}

TEST_F(StsTest, SessionsSurviveARestart) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  Reopen();
  EXPECT_TRUE(service_->Find(session->access_key_id, session->session_token, now_).ok());
}

TEST_F(StsTest, GetCallerIdentityNamesEachKindOfCaller) {
  MakeRole("app", TrustPolicy(kAlice));
  CallerIdentity root = service_->GetCallerIdentity(root_);
  EXPECT_EQ(root.user_id, kAccountId);
  EXPECT_EQ(root.arn, kAccountRoot);
  CallerIdentity alice = service_->GetCallerIdentity(alice_);
  EXPECT_EQ(alice.arn, kAlice);
  EXPECT_TRUE(alice.user_id.starts_with("AIDA"));
  auto session = Assume(alice_, "app");
  ASSERT_TRUE(session.ok());
  CallerIdentity assumed =
      service_->GetCallerIdentity(CallAs(session->access_key_id, session->session_token));
  EXPECT_EQ(assumed.arn, session->assumed_role_arn);
  EXPECT_EQ(assumed.user_id, session->assumed_role_id);
  EXPECT_EQ(assumed.account, kAccountId);
}

TEST_F(StsTest, ErrorsNeverCarryTheSecret) {
  MakeRole("app", TrustPolicy(kAlice));
  auto session = Assume(alice_, "app", 900);
  ASSERT_TRUE(session.ok());
  std::string secret(session->secret_access_key.view());
  for (int64_t at : {now_.load() + 1000}) {
    auto found = service_->Find(session->access_key_id, session->session_token, at);
    EXPECT_EQ(found.status().message().find(secret), absl::string_view::npos);
  }
  EXPECT_EQ(session->session_token.find(secret), std::string::npos);
}

}  // namespace
}  // namespace kmsd::testing
