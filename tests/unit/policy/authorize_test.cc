// Authorize: AWS's combination of key (resource) policies, identity policies and grants, and its
// wording of each denial. One behaviour per row, the row's name its spec.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "unit/policy/policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::kKeyArn;
using testing::kOtherAccount;
using testing::Root;
using testing::Session;
using testing::User;

struct AuthorizeCase {
  std::string name;
  std::optional<std::string> key_policy;  // nullopt: an action authorized by identity alone
  std::vector<std::string> identity_policies;
  std::shared_ptr<Principal> caller;  // identity policies are attached to it
  std::string action;
  bool expected_allowed;
  std::string expected_message;  // the whole message, when denied
  std::optional<bool> grant;     // what the grant callback answers; nullopt: no callback
  std::string resource = kKeyArn;
};

const std::string kBobArn = "arn:aws:iam::111122223333:user/bob";

std::string Denial(const std::string& who, const std::string& action, const std::string& reason,
                   const std::string& resource = kKeyArn) {
  return StrCat("User: ", who, " is not authorized to perform: ", action,
                " on resource: ", resource, " ", reason);
}

std::string NoResourcePolicyAllows(const std::string& action) {
  return StrCat("because no resource-based policy allows the ", action, " action");
}
std::string NoIdentityPolicyAllows(const std::string& action) {
  return StrCat("because no identity-based policy allows the ", action, " action");
}

// AWS's "Allows key users to use the KMS key" and "key administrators" statements.
const std::string kKeyUsersAndAdministrators = R"({
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyUser"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyUser"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
})";

const std::string kOnlyBob =
    R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]})";
const std::string kOnlyAlice =
    R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}]})";
const std::string kAllowKmsEverywhere =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})";
const std::string kAllowEncryptOnThisKey = StrCat(
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":")",
    kKeyArn, R"("}]})");
const std::string kDenyDecrypt =
    R"({"Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]})";
const std::string kKeyPolicyDenyingDecrypt = StrCat(
    R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
                     {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]})");

// One row a line reads as a table; clang-format would put each field on a line of its own.
// clang-format off
std::vector<AuthorizeCase> Cases() {
  auto bob = [] { return User("bob"); };
  auto mallory = [] { return User("mallory", kOtherAccount); };
  auto root = [] { return std::const_pointer_cast<Principal>(Root()); };
  const std::string default_policy = testing::DefaultKeyPolicy();
  return {
      {"RootIsAllowedByTheDefaultKeyPolicy", default_policy, {}, root(), "kms:Decrypt", true, ""},
      {"UserNeedsAnIdentityPolicyUnderTheDefaultKeyPolicy", default_policy, {}, bob(),
       "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", NoIdentityPolicyAllows("kms:Decrypt"))},
      {"IdentityPolicyAllowsAUserTheDefaultKeyPolicyDelegates", default_policy,
       {kAllowKmsEverywhere}, bob(), "kms:Decrypt", true, ""},
      {"IdentityPolicyForAnotherActionDoesNotHelp", default_policy, {kAllowEncryptOnThisKey},
       bob(), "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", NoIdentityPolicyAllows("kms:Decrypt"))},
      {"KeyPolicyNamingTheUserNeedsNoIdentityPolicy", kOnlyBob, {}, bob(), "kms:Decrypt", true,
       ""},
      {"IdentityPolicyAloneCannotUseAKeyWhosePolicyIgnoresTheAccount", kOnlyAlice,
       {kAllowKmsEverywhere}, bob(), "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", NoResourcePolicyAllows("kms:Decrypt"))},
      {"RootIsBoundByTheKeyPolicy", kOnlyAlice, {}, root(), "kms:Decrypt", false,
       Denial("arn:aws:iam::111122223333:root", "kms:Decrypt",
              NoResourcePolicyAllows("kms:Decrypt"))},
      {"ExplicitDenyInTheKeyPolicyBeatsItsAllow", kKeyPolicyDenyingDecrypt, {}, root(),
       "kms:Decrypt", false,
       Denial("arn:aws:iam::111122223333:root", "kms:Decrypt",
              "with an explicit deny in a resource-based policy")},
      {"ExplicitDenyInAnIdentityPolicyBeatsTheKeyPolicysAllow", kOnlyBob,
       {kAllowKmsEverywhere, kDenyDecrypt}, bob(), "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", "with an explicit deny in an identity-based policy")},
      {"ExplicitDenyInAnIdentityPolicyBeatsAGrant", default_policy, {kDenyDecrypt}, bob(),
       "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", "with an explicit deny in an identity-based policy"), true},
      {"GrantAllowsWhatNoPolicyAllows", kOnlyAlice, {}, bob(), "kms:Decrypt", true, "", true},
      {"RefusedGrantLeavesTheDenial", kOnlyAlice, {}, bob(), "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", NoResourcePolicyAllows("kms:Decrypt")), false},
      {"KeyUserRoleSessionMayEncrypt", kKeyUsersAndAdministrators, {}, Session("KeyUser", "app"),
       "kms:GenerateDataKeyWithoutPlaintext", true, ""},
      {"KeyUserRoleSessionMayNotScheduleDeletion", kKeyUsersAndAdministrators, {},
       Session("KeyUser", "app"), "kms:ScheduleKeyDeletion", false,
       Denial("arn:aws:sts::111122223333:assumed-role/KeyUser/app", "kms:ScheduleKeyDeletion",
              NoIdentityPolicyAllows("kms:ScheduleKeyDeletion"))},
      {"KeyAdministratorMayScheduleDeletion", kKeyUsersAndAdministrators, {},
       Session("KeyAdmin", "ops"), "kms:ScheduleKeyDeletion", true, ""},
      {"KeyAdministratorMayNotDecrypt", kKeyUsersAndAdministrators, {}, Session("KeyAdmin", "ops"),
       "kms:Decrypt", false,
       Denial("arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops", "kms:Decrypt",
              NoIdentityPolicyAllows("kms:Decrypt"))},
      {"GrantsForAwsResourcesNeedTheirCondition", kKeyUsersAndAdministrators, {},
       Session("KeyUser", "app"), "kms:CreateGrant", false,
       Denial("arn:aws:sts::111122223333:assumed-role/KeyUser/app", "kms:CreateGrant",
              NoIdentityPolicyAllows("kms:CreateGrant"))},
      {"OtherAccountNamedByTheKeyPolicyNeedsItsIdentityPolicy",
       testing::DefaultKeyPolicy(kOtherAccount), {kAllowKmsEverywhere}, mallory(), "kms:Encrypt",
       true, ""},
      {"OtherAccountNotNamedByTheKeyPolicyIsRefused", default_policy, {kAllowKmsEverywhere},
       mallory(), "kms:Encrypt", false,
       Denial("arn:aws:iam::444455556666:user/mallory", "kms:Encrypt",
              NoResourcePolicyAllows("kms:Encrypt"))},
      {"WithoutAResourcePolicyTheRootIsAllowed", std::nullopt, {}, root(), "kms:CreateKey", true,
       "", std::nullopt, "*"},
      {"WithoutAResourcePolicyAUserNeedsAnIdentityPolicy", std::nullopt, {}, bob(),
       "iam:CreateUser", false,
       Denial(kBobArn, "iam:CreateUser", NoIdentityPolicyAllows("iam:CreateUser"),
              "arn:aws:iam::111122223333:user/carol"),
       std::nullopt, "arn:aws:iam::111122223333:user/carol"},
      {"WithoutAResourcePolicyAnIdentityPolicyAllows", std::nullopt, {kAllowKmsEverywhere}, bob(),
       "kms:ListKeys", true, "", std::nullopt, "*"},
      {"WithoutAResourcePolicyAnIdentityDenyWins", std::nullopt, {kAllowKmsEverywhere, kDenyDecrypt},
       bob(), "kms:Decrypt", false,
       Denial(kBobArn, "kms:Decrypt", "with an explicit deny in an identity-based policy")},
  };
}
// clang-format on

class AuthorizeTest : public ::testing::TestWithParam<AuthorizeCase> {};

TEST_P(AuthorizeTest, Decides) {
  const AuthorizeCase& row = GetParam();
  auto caller = std::make_shared<Principal>(*row.caller);
  for (const std::string& document : row.identity_policies) {
    auto policy = Parse(document, PolicyKind::kIdentity);
    ASSERT_TRUE(policy.ok()) << policy.status();
    caller->identity_policies.push_back(*policy);
  }
  PolicyPtr key_policy;
  if (row.key_policy) {
    auto parsed = Parse(*row.key_policy, PolicyKind::kResource);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    key_policy = *parsed;
  }
  RequestContext context = testing::Context(caller, row.action, row.resource);
  AuthorizationRequest request;
  request.context = &context;
  request.resource_policy = key_policy.get();
  if (row.grant) request.granted = [answer = *row.grant] { return answer; };

  Decision decision = Authorize(request);
  EXPECT_EQ(decision.allowed, row.expected_allowed) << decision.message;
  if (!row.expected_allowed) {
    EXPECT_EQ(decision.message, row.expected_message);
  }
}

INSTANTIATE_TEST_SUITE_P(AwsEvaluationLogic, AuthorizeTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Authorize, AsksForAGrantOnlyWhenNoPolicyDecided) {
  auto policy = Parse(testing::DefaultKeyPolicy(), PolicyKind::kResource);
  ASSERT_TRUE(policy.ok());
  RequestContext context = testing::Context(Root(), "kms:Decrypt");
  bool asked = false;
  AuthorizationRequest request{&context, policy->get(), [&asked] {
                                 asked = true;
                                 return true;
                               }};
  EXPECT_TRUE(Authorize(request).allowed);
  EXPECT_FALSE(asked);
}

TEST(Authorize, OmitsTheResourceFromTheMessageWhenThereIsNone) {
  RequestContext context = testing::Context(User("bob"), "iam:ListUsers", "");
  AuthorizationRequest request{&context, nullptr, nullptr};
  EXPECT_EQ(Authorize(request).message,
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: "
            "iam:ListUsers because no identity-based policy allows the iam:ListUsers action");
}

}  // namespace
}  // namespace kmsd::policy
