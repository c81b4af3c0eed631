// Evaluate against AWS's documented examples: one behaviour per row, the row's name its spec.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/policy/policy_test_util.h"

namespace kmsd::policy {
namespace {

using testing::ContextKeys;
using testing::kAccount;
using testing::kKeyArn;
using testing::kOtherAccount;
using testing::Root;
using testing::Session;
using testing::User;

enum class Outcome { kNoStatementApplies, kExplicitDeny, kAllow, kAllowForAccount };

struct EvaluateCase {
  std::string name;
  PolicyKind kind;
  std::string policy;
  std::shared_ptr<const Principal> caller;
  std::string action;
  ContextKeys keys;
  Outcome expected;
  std::string resource = kKeyArn;
  std::string deciding_statement = "";  // checked when not empty
};

// One statement of a key policy allowing `action` to bob in account 111122223333 under a
// condition, for the condition rows.
std::string BobMayIf(const std::string& condition, const std::string& action = "kms:Decrypt") {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":")",
                action, R"(","Resource":"*","Condition":)", condition, "}]}");
}

std::string IdentityAllowing(const std::string& action, const std::string& resource) {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":)", action,
                R"(,"Resource":)", resource, "}]}");
}

const PolicyKind kKey = PolicyKind::kResource;
const PolicyKind kIdentity = PolicyKind::kIdentity;
const PolicyKind kTrust = PolicyKind::kTrust;

// The KMS developer guide's statements for RoleForExampleApp: one requiring AppName=ExampleApp,
// one also forbidding other pairs, one also making the key's case count.
std::string ExampleAppStatement(const std::string& condition) {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:role/RoleForExampleApp"},
    "Action":"kms:GenerateDataKey","Resource":"*","Condition":)",
                condition, "}]}");
}
const std::string kExampleAppPair =
    ExampleAppStatement(R"({"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}})");
const std::string kOnlyExampleAppPair = ExampleAppStatement(
    R"({"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"},
        "ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]}})");
const std::string kCaseSensitiveExampleAppPair = ExampleAppStatement(
    R"({"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"},
        "StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}})");

// One row a line reads as a table; clang-format would put each field on a line of its own.
// clang-format off
std::vector<EvaluateCase> Cases() {
  auto example_app = Session("RoleForExampleApp", "app");
  auto bob = User("bob");
  auto alice = User("alice");
  auto stranger = User("mallory", kOtherAccount);
  auto admin_session = Session("KeyAdmin", "ops");
  auto root = Root();
  return {
      // --- The default key policy: the account, and so its identity policies ------------------
      {"DefaultKeyPolicyAllowsTheRootDirectly", kKey, testing::DefaultKeyPolicy(), root,
       "kms:Decrypt", {}, Outcome::kAllow, kKeyArn, "Enable IAM User Permissions"},
      {"DefaultKeyPolicyDelegatesAUserToItsIdentityPolicies", kKey, testing::DefaultKeyPolicy(),
       bob, "kms:Decrypt", {}, Outcome::kAllowForAccount, kKeyArn, "Enable IAM User Permissions"},
      {"DefaultKeyPolicyDelegatesARoleSessionToItsIdentityPolicies", kKey,
       testing::DefaultKeyPolicy(), admin_session, "kms:ScheduleKeyDeletion", {},
       Outcome::kAllowForAccount},
      {"DefaultKeyPolicyNamesNoOneInAnotherAccount", kKey, testing::DefaultKeyPolicy(), stranger,
       "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"BareAccountIdNamesTheAccountAsItsRootArnDoes", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kAllowForAccount},
      {"DefaultKeyPolicyGivesNothingButKmsActions", kKey, testing::DefaultKeyPolicy(), root,
       "iam:CreateUser", {}, Outcome::kNoStatementApplies},

      // --- Principal -----------------------------------------------------------------------
      {"UserArnAllowsThatUserDirectly", kKey, BobMayIf("{}"), bob, "kms:Decrypt", {},
       Outcome::kAllow},
      {"UserArnDoesNotNameAnotherUser", kKey, BobMayIf("{}"), alice, "kms:Decrypt", {},
       Outcome::kNoStatementApplies},
      {"UserArnDoesNotNameTheRoot", kKey, BobMayIf("{}"), root, "kms:Decrypt", {},
       Outcome::kNoStatementApplies},
      {"RoleArnNamesEverySessionOfTheRole", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},"Action":"kms:*","Resource":"*"}]})",
       admin_session, "kms:DisableKey", {}, Outcome::kAllow},
      {"SessionArnNamesThatSession", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops"},"Action":"kms:*","Resource":"*"}]})",
       admin_session, "kms:DisableKey", {}, Outcome::kAllow},
      {"SessionArnDoesNotNameAnotherSessionOfTheRole", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/KeyAdmin/other"},"Action":"kms:*","Resource":"*"}]})",
       admin_session, "kms:DisableKey", {}, Outcome::kNoStatementApplies},
      {"StarPrincipalNamesAnyone", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]})",
       stranger, "kms:Encrypt", {}, Outcome::kAllow},
      {"AwsStarPrincipalNamesAnyone", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*"}]})",
       stranger, "kms:Encrypt", {}, Outcome::kAllow},
      {"ServicePrincipalNamesNoKmsdCaller", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}]})",
       root, "kms:Encrypt", {}, Outcome::kNoStatementApplies},
      {"PrincipalListNamesEachOfItsMembers", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:user/bob"]},"Action":"kms:*","Resource":"*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kAllow},
      {"DenyNamingTheAccountDeniesEveryoneInIt", kKey,
       R"({"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}]})",
       bob, "kms:Decrypt", {}, Outcome::kExplicitDeny},
      {"TrustPolicyNamingTheAccountDelegatesToIdentityPolicies", kTrust,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]})",
       bob, "sts:AssumeRole", {}, Outcome::kAllowForAccount, "arn:aws:iam::111122223333:role/R"},
      {"TrustPolicyNamingAUserAllowsIt", kTrust,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"sts:AssumeRole"}]})",
       bob, "sts:AssumeRole", {}, Outcome::kAllow, "arn:aws:iam::111122223333:role/R"},

      // --- NotPrincipal (AWS: list the account's ARN too, or the account is denied) ---------
      {"NotPrincipalWithUserAndAccountExemptsTheUser", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/bob","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}]})",
       bob, "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"NotPrincipalWithUserAndAccountDeniesEveryoneElse", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/bob","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}]})",
       alice, "kms:Decrypt", {}, Outcome::kExplicitDeny},
      {"NotPrincipalWithoutTheAccountStillDeniesTheUser", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]})",
       bob, "kms:Decrypt", {}, Outcome::kExplicitDeny},
      {"NotPrincipalExemptsASessionListedWithItsRoleAndAccount", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops","arn:aws:iam::111122223333:role/KeyAdmin","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}]})",
       admin_session, "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"NotPrincipalWithoutTheRoleDeniesItsSession", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/KeyAdmin/ops","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}]})",
       admin_session, "kms:Decrypt", {}, Outcome::kExplicitDeny},
      {"NotPrincipalAccountExemptsTheRoot", kKey,
       R"({"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}]})",
       root, "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"NotPrincipalWithAllowAllowsEveryoneNotListed", kKey,
       R"({"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Encrypt","Resource":"*"}]})",
       stranger, "kms:Encrypt", {}, Outcome::kAllow},

      // --- Action and NotAction --------------------------------------------------------------
      {"ActionWildcardMatchesThePrefix", kIdentity, IdentityAllowing(R"("kms:Describe*")", R"("*")"),
       bob, "kms:DescribeKey", {}, Outcome::kAllow},
      {"ActionWildcardDoesNotMatchOtherActions", kIdentity,
       IdentityAllowing(R"("kms:Describe*")", R"("*")"), bob, "kms:Decrypt", {},
       Outcome::kNoStatementApplies},
      {"ActionIsCaseInsensitive", kIdentity, IdentityAllowing(R"("KMS:encrypt")", R"("*")"), bob,
       "kms:Encrypt", {}, Outcome::kAllow},
      {"ActionQuestionMarkMatchesOneCharacter", kIdentity,
       IdentityAllowing(R"("kms:?ncrypt")", R"("*")"), bob, "kms:Encrypt", {}, Outcome::kAllow},
      {"ActionWildcardInTheMiddleMatches", kIdentity,
       IdentityAllowing(R"("kms:Generate*Pair")", R"("*")"), bob, "kms:GenerateDataKeyPair", {},
       Outcome::kAllow},
      {"ActionStarMatchesEveryService", kIdentity, IdentityAllowing(R"("*")", R"("*")"), bob,
       "iam:CreateUser", {}, Outcome::kAllow, "*"},
      {"NotActionAppliesToActionsNotListed", kIdentity,
       R"({"Statement":[{"Effect":"Allow","NotAction":"kms:ScheduleKeyDeletion","Resource":"*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kAllow},
      {"NotActionDoesNotApplyToListedActions", kIdentity,
       R"({"Statement":[{"Effect":"Allow","NotAction":["kms:ScheduleKeyDeletion","kms:Disable*"],"Resource":"*"}]})",
       bob, "kms:DisableKeyRotation", {}, Outcome::kNoStatementApplies},
      {"DenyWithNotActionDeniesEverythingElse", kIdentity,
       R"({"Statement":[{"Effect":"Deny","NotAction":"kms:Encrypt","Resource":"*"}]})", bob,
       "kms:Decrypt", {}, Outcome::kExplicitDeny},

      // --- Resource and NotResource ----------------------------------------------------------
      {"ResourceArnMatchesThatKey", kIdentity, IdentityAllowing(R"("kms:*")", StrCat("\"", kKeyArn, "\"")),
       bob, "kms:Encrypt", {}, Outcome::kAllow},
      {"ResourceArnDoesNotMatchAnotherKey", kIdentity,
       IdentityAllowing(R"("kms:*")", R"("arn:aws:kms:us-east-1:111122223333:key/other")"), bob,
       "kms:Encrypt", {}, Outcome::kNoStatementApplies},
      {"ResourceWildcardMatchesKeysOfTheAccount", kIdentity,
       IdentityAllowing(R"("kms:*")", R"("arn:aws:kms:*:111122223333:key/*")"), bob,
       "kms:Encrypt", {}, Outcome::kAllow},
      {"ResourceIsCaseSensitive", kIdentity,
       IdentityAllowing(R"("kms:*")", R"("arn:aws:kms:*:111122223333:KEY/*")"), bob,
       "kms:Encrypt", {}, Outcome::kNoStatementApplies},
      {"NotResourceAppliesToOtherResources", kIdentity,
       R"({"Statement":[{"Effect":"Deny","Action":"kms:*","NotResource":"arn:aws:kms:*:111122223333:key/allowed"}]})",
       bob, "kms:Encrypt", {}, Outcome::kExplicitDeny},
      {"NotResourceDoesNotApplyToListedResources", kIdentity,
       R"({"Statement":[{"Effect":"Deny","Action":"kms:*","NotResource":"arn:aws:kms:*:111122223333:key/*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kNoStatementApplies},

      // --- Explicit deny beats allow ---------------------------------------------------------
      {"ExplicitDenyBeatsAnAllowInTheSamePolicy", kKey,
       R"({"Version":"2012-10-17","Statement":[
         {"Sid":"AllowAll","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"},
         {"Sid":"NoDeletion","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]})",
       bob, "kms:ScheduleKeyDeletion", {}, Outcome::kExplicitDeny, kKeyArn, "NoDeletion"},
      {"StatementWithoutSidIsNamedByItsIndex", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kAllow, kKeyArn, "Statement[0]"},

      // --- Conditions: strings and the encryption context -------------------------------------
      {"StringEqualsEncryptionContextAllowsTheMatchingPair", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kAllow},
      {"StringEqualsEncryptionContextRefusesAnotherValue", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"HR"}}}, Outcome::kNoStatementApplies},
      {"StringEqualsEncryptionContextValueIsCaseSensitive", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"it"}}}, Outcome::kNoStatementApplies},
      {"EncryptionContextKeyInTheConditionKeyIsCaseInsensitive", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kAllow},
      {"ConditionKeyNameIsCaseInsensitive", kKey,
       BobMayIf(R"({"StringEquals":{"KMS:ENCRYPTIONCONTEXT:Department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kAllow},
      {"StringEqualsWithoutTheContextKeyRefuses", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"StringEqualsListedValuesAreAlternatives", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":["IT","HR"]}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"HR"}}}, Outcome::kAllow},
      {"ConditionKeysInOneOperatorMustAllHold", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:EncryptionContext:Project":"Alpha"}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}},
       Outcome::kNoStatementApplies},
      {"ConditionOperatorsMustAllHold", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"IT"},"Bool":{"aws:SecureTransport":"true"}})"),
       bob, "kms:Decrypt",
       {{"kms:EncryptionContext:Department", {"IT"}}, {"aws:SecureTransport", {"false"}}},
       Outcome::kNoStatementApplies},
      {"StringNotEqualsHoldsForAnotherValue", kKey,
       BobMayIf(R"({"StringNotEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionAlgorithm", {"RSAES_OAEP_SHA_256"}}}, Outcome::kAllow},
      {"StringNotEqualsFailsWhenAnyListedValueMatches", kKey,
       BobMayIf(R"({"StringNotEquals":{"kms:EncryptionAlgorithm":["A","SYMMETRIC_DEFAULT"]}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionAlgorithm", {"SYMMETRIC_DEFAULT"}}},
       Outcome::kNoStatementApplies},
      {"StringNotEqualsHoldsWhenTheKeyIsAbsent", kKey,
       BobMayIf(R"({"StringNotEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},
      {"StringEqualsIgnoreCaseIgnoresCase", kKey,
       BobMayIf(R"({"StringEqualsIgnoreCase":{"kms:EncryptionContext:Department":"it"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kAllow},
      {"StringNotEqualsIgnoreCaseFailsOnADifferentCase", kKey,
       BobMayIf(R"({"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:Department":"it"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kNoStatementApplies},
      {"StringLikeMatchesAWildcard", kKey,
       BobMayIf(R"({"StringLike":{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::bucket/*"}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContext:aws:s3:arn", {"arn:aws:s3:::bucket/a/b"}}},
       Outcome::kAllow},
      {"StringLikeWildcardDoesNotMatchAnotherPrefix", kKey,
       BobMayIf(R"({"StringLike":{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::bucket/*"}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContext:aws:s3:arn", {"arn:aws:s3:::other/a"}}},
       Outcome::kNoStatementApplies},
      {"StringEqualsTreatsAStarAsText", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Department":"I*"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kNoStatementApplies},
      {"StringNotLikeHoldsForANonMatchingValue", kKey,
       BobMayIf(R"({"StringNotLike":{"kms:EncryptionContext:Department":"H*"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"IT"}}}, Outcome::kAllow},
      {"StringNotLikeHoldsWhenTheKeyIsAbsent", kKey,
       BobMayIf(R"({"StringNotLike":{"kms:EncryptionContext:Department":"H*"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},

      // The KMS developer guide's encryption context examples (role RoleForExampleApp).
      {"EncryptionContextPairIsRequired", kKey, kExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:AppName", {"ExampleApp"}}, {"kms:EncryptionContext:Stage", {"Test"}}, {"kms:EncryptionContextKeys", {"AppName", "Stage"}}},
       Outcome::kAllow},
      {"EncryptionContextPairAloneAllowsOtherPairs", kKey, kExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:AppName", {"ExampleApp"}}, {"kms:EncryptionContextKeys", {"AppName"}}},
       Outcome::kAllow},
      {"EncryptionContextKeysForbidOtherPairs", kKey, kOnlyExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:AppName", {"ExampleApp"}}, {"kms:EncryptionContext:Stage", {"Test"}}, {"kms:EncryptionContextKeys", {"AppName", "Stage"}}},
       Outcome::kNoStatementApplies},
      {"EncryptionContextKeysAllowTheOnlyPair", kKey, kOnlyExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:AppName", {"ExampleApp"}}, {"kms:EncryptionContextKeys", {"AppName"}}},
       Outcome::kAllow},
      {"EncryptionContextKeysWithThePairRequireSomeContext", kKey, kOnlyExampleAppPair, example_app, "kms:GenerateDataKey",
       {}, Outcome::kNoStatementApplies},
      {"EncryptionContextKeysMakeTheKeysCaseSensitive", kKey, kCaseSensitiveExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:appname", {"ExampleApp"}}, {"kms:EncryptionContextKeys", {"appname"}}},
       Outcome::kNoStatementApplies},
      {"EncryptionContextKeysAcceptTheKeyInItsCase", kKey, kCaseSensitiveExampleAppPair, example_app, "kms:GenerateDataKey",
       {{"kms:EncryptionContext:AppName", {"ExampleApp"}}, {"kms:EncryptionContextKeys", {"AppName"}}},
       Outcome::kAllow},
      {"TrustPolicyExternalIdMustMatch", kTrust,
       R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"Unique-1"}}}})",
       stranger, "sts:AssumeRole", {{"sts:ExternalId", {"Unique-2"}}}, Outcome::kNoStatementApplies, "arn:aws:iam::111122223333:role/R"},
      {"TrustPolicyExternalIdAllowsTheAccount", kTrust,
       R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"Unique-1"}}}})",
       stranger, "sts:AssumeRole", {{"sts:ExternalId", {"Unique-1"}}}, Outcome::kAllowForAccount, "arn:aws:iam::111122223333:role/R"},
      {"LockoutBypassIsRefusedWithTheNullCheck", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},"Action":["kms:CreateKey","kms:PutKeyPolicy"],"Resource":"*","Condition":{"Null":{"kms:BypassPolicyLockoutSafetyCheck":true}}}]})",
       admin_session, "kms:PutKeyPolicy", {{"kms:BypassPolicyLockoutSafetyCheck", {"true"}}}, Outcome::kNoStatementApplies},
      {"LockoutNullCheckAllowsARequestWithoutTheBypass", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},"Action":["kms:CreateKey","kms:PutKeyPolicy"],"Resource":"*","Condition":{"Null":{"kms:BypassPolicyLockoutSafetyCheck":true}}}]})",
       admin_session, "kms:PutKeyPolicy", {}, Outcome::kAllow},

      // --- IfExists -----------------------------------------------------------------------
      {"IfExistsHoldsWhenTheKeyIsAbsent", kKey,
       BobMayIf(R"({"StringEqualsIfExists":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},
      {"IfExistsStillComparesAPresentKey", kKey,
       BobMayIf(R"({"StringEqualsIfExists":{"kms:EncryptionContext:Department":"IT"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Department", {"HR"}}}, Outcome::kNoStatementApplies},
      {"NumericIfExistsHoldsWhenTheKeyIsAbsent", kKey,
       BobMayIf(R"({"NumericLessThanEqualsIfExists":{"kms:ValidTo":"1700000000"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},

      // --- ForAnyValue / ForAllValues -------------------------------------------------------
      {"ForAllValuesHoldsWhenEveryValueIsListed", kKey,
       BobMayIf(R"({"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContextKeys", {"Project", "Department"}}},
       Outcome::kAllow},
      {"ForAllValuesFailsWhenAValueIsNotListed", kKey,
       BobMayIf(R"({"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department"]}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContextKeys", {"Department", "Extra"}}},
       Outcome::kNoStatementApplies},
      {"ForAllValuesHoldsForAnEmptySet", kKey,
       BobMayIf(R"({"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department"]}})"),
       bob, "kms:Decrypt", {}, Outcome::kAllow},
      {"ForAnyValueHoldsWhenOneValueIsListed", kKey,
       BobMayIf(R"({"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"Department"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContextKeys", {"Project", "Department"}}}, Outcome::kAllow},
      {"ForAnyValueFailsForAnEmptySet", kKey,
       BobMayIf(R"({"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"Department"}})"), bob,
       "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"ForAnyValueNegatedHoldsWhenOneValueIsUnlisted", kKey,
       BobMayIf(R"({"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"Department"}})"),
       bob, "kms:Decrypt", {{"kms:EncryptionContextKeys", {"Department", "Other"}}},
       Outcome::kAllow},
      {"ForAllValuesNegatedFailsWhenOneValueIsListed", kKey,
       BobMayIf(R"({"ForAllValues:StringNotLike":{"kms:GrantOperations":"*Grant*"}})"), bob,
       "kms:CreateGrant", {{"kms:GrantOperations", {"Decrypt", "RetireGrant"}}},
       Outcome::kNoStatementApplies, kKeyArn, ""},
      {"ForAllValuesLimitsGrantOperations", kKey,
       BobMayIf(R"({"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}})",
                "kms:CreateGrant"),
       bob, "kms:CreateGrant", {{"kms:GrantOperations", {"Decrypt"}}}, Outcome::kAllow},

      // --- Numeric, Date, Bool, Binary, IP, Arn, Null ----------------------------------------
      {"NumericLessThanHoldsForASmallerNumber", kKey,
       BobMayIf(R"({"NumericLessThan":{"kms:NumberOfBytes":"64"}})", "kms:GenerateRandom"), bob,
       "kms:GenerateRandom", {{"kms:NumberOfBytes", {"32"}}}, Outcome::kAllow},
      {"NumericLessThanFailsForAnEqualNumber", kKey,
       BobMayIf(R"({"NumericLessThan":{"kms:NumberOfBytes":64}})", "kms:GenerateRandom"), bob,
       "kms:GenerateRandom", {{"kms:NumberOfBytes", {"64"}}}, Outcome::kNoStatementApplies},
      {"NumericEqualsComparesNumbersNotText", kKey,
       BobMayIf(R"({"NumericEquals":{"kms:NumberOfBytes":"32"}})", "kms:GenerateRandom"), bob,
       "kms:GenerateRandom", {{"kms:NumberOfBytes", {"32.0"}}}, Outcome::kAllow},
      {"NumericNotEqualsHoldsForAnotherNumber", kKey,
       BobMayIf(R"({"NumericNotEquals":{"kms:NumberOfBytes":"32"}})", "kms:GenerateRandom"), bob,
       "kms:GenerateRandom", {{"kms:NumberOfBytes", {"16"}}}, Outcome::kAllow},
      {"NumericOperatorFailsOnANonNumericRequestValue", kKey,
       BobMayIf(R"({"NumericGreaterThanEquals":{"kms:NumberOfBytes":"1"}})", "kms:GenerateRandom"),
       bob, "kms:GenerateRandom", {{"kms:NumberOfBytes", {"many"}}}, Outcome::kNoStatementApplies},
      {"DateLessThanHoldsBeforeTheDate", kKey,
       BobMayIf(R"({"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}})"), bob,
       "kms:Decrypt", {{"aws:CurrentTime", {"2024-05-01T12:00:00Z"}}}, Outcome::kAllow},
      {"DateGreaterThanFailsBeforeTheDate", kKey,
       BobMayIf(R"({"DateGreaterThan":{"aws:CurrentTime":"2030-01-01"}})"), bob, "kms:Decrypt",
       {{"aws:CurrentTime", {"2024-05-01T12:00:00Z"}}}, Outcome::kNoStatementApplies},
      {"DateComparesEpochSecondsWithIsoDates", kKey,
       BobMayIf(R"({"DateEquals":{"aws:EpochTime":"2024-05-01T12:00:00Z"}})"), bob,
       "kms:Decrypt", {{"aws:EpochTime", {"1714564800"}}}, Outcome::kAllow},
      {"DateHonoursTimeZoneOffsets", kKey,
       BobMayIf(R"({"DateEquals":{"aws:CurrentTime":"2024-05-01T14:00:00+02:00"}})"), bob,
       "kms:Decrypt", {{"aws:CurrentTime", {"2024-05-01T12:00:00Z"}}}, Outcome::kAllow},
      {"DateLessThanEqualsHoldsOnTheSameInstant", kKey,
       BobMayIf(R"({"DateLessThanEquals":{"aws:CurrentTime":"2024-05-01T12:00:00.000Z"}})"), bob,
       "kms:Decrypt", {{"aws:CurrentTime", {"2024-05-01T12:00:00Z"}}}, Outcome::kAllow},
      {"BoolTrueHoldsOverTls", kKey, BobMayIf(R"({"Bool":{"aws:SecureTransport":"true"}})"), bob,
       "kms:Decrypt", {{"aws:SecureTransport", {"true"}}}, Outcome::kAllow},
      {"BoolAcceptsAJsonBoolean", kKey, BobMayIf(R"({"Bool":{"aws:SecureTransport":false}})"), bob,
       "kms:Decrypt", {{"aws:SecureTransport", {"false"}}}, Outcome::kAllow},
      {"BoolTrueFailsWithoutTls", kKey, BobMayIf(R"({"Bool":{"aws:SecureTransport":"true"}})"),
       bob, "kms:Decrypt", {{"aws:SecureTransport", {"false"}}}, Outcome::kNoStatementApplies},
      {"BinaryEqualsComparesTheBytes", kKey,
       BobMayIf(R"({"BinaryEquals":{"kms:Example":"QmluYXJ5"}})"), bob, "kms:Decrypt",
       {{"kms:Example", {"QmluYXJ5"}}}, Outcome::kAllow},
      {"IpAddressHoldsInsideTheBlock", kKey,
       BobMayIf(R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"203.0.113.77"}}}, Outcome::kAllow},
      {"IpAddressFailsOutsideTheBlock", kKey,
       BobMayIf(R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"203.0.114.1"}}}, Outcome::kNoStatementApplies},
      {"IpAddressMatchesASingleAddress", kKey,
       BobMayIf(R"({"IpAddress":{"aws:SourceIp":"127.0.0.1"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"127.0.0.1"}}}, Outcome::kAllow},
      {"IpAddressHoldsInsideAnIpv6Block", kKey,
       BobMayIf(R"({"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}})"),
       bob, "kms:Decrypt", {{"aws:SourceIp", {"2001:db8:1234:5678::9"}}}, Outcome::kAllow},
      {"IpAddressNeverMatchesAcrossFamilies", kKey,
       BobMayIf(R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"::1"}}}, Outcome::kNoStatementApplies},
      {"IpAddressReadsAnIpv4MappedCallerAsIpv4", kKey, BobMayIf(R"({"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"::ffff:127.0.0.1"}}}, Outcome::kAllow},
      {"NotIpAddressHoldsOutsideTheBlock", kKey,
       BobMayIf(R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})"), bob, "kms:Decrypt",
       {{"aws:SourceIp", {"192.0.2.1"}}}, Outcome::kAllow},
      {"ArnLikeMatchesEachPartWithWildcards", kKey,
       BobMayIf(R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/b*"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},
      {"ArnEqualsFailsOnAnotherArn", kKey,
       BobMayIf(R"({"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}})"),
       bob, "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"ArnNotLikeHoldsForAnotherArn", kKey,
       BobMayIf(R"({"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}})"), bob,
       "kms:Decrypt", {}, Outcome::kAllow},
      {"ArnLikeComparesTheAccountPart", kKey,
       BobMayIf(R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::444455556666:user/*"}})"), bob,
       "kms:Decrypt", {}, Outcome::kNoStatementApplies},
      {"NullTrueHoldsWhenTheKeyIsAbsent", kKey,
       BobMayIf(R"({"Null":{"kms:EncryptionContextKeys":"true"}})"), bob, "kms:Decrypt", {},
       Outcome::kAllow},
      {"NullFalseRequiresTheKey", kKey,
       BobMayIf(R"({"Null":{"kms:EncryptionContextKeys":"false"}})"), bob, "kms:Decrypt", {},
       Outcome::kNoStatementApplies},
      {"NullFalseHoldsWhenTheKeyIsPresent", kKey,
       BobMayIf(R"({"Null":{"kms:EncryptionContextKeys":false}})"), bob, "kms:Decrypt",
       {{"kms:EncryptionContextKeys", {"Department"}}}, Outcome::kAllow},

      // --- Global keys from the caller -------------------------------------------------------
      {"CallerAccountKeyIsTheCallersAccount", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"}}}]})",
       bob, "kms:Decrypt", {}, Outcome::kAllow},
      {"PrincipalArnOfASessionIsItsRole", kKey,
       R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/KeyAdmin"}}}]})",
       admin_session, "kms:Decrypt", {}, Outcome::kAllow},
      {"PrincipalTypeOfTheRootIsAccount", kKey,
       R"({"Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"Account"}}}]})",
       root, "kms:Decrypt", {}, Outcome::kExplicitDeny},

      // --- Policy variables -----------------------------------------------------------------
      {"UsernameVariableMatchesTheCallersOwnResource", kIdentity,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}]})",
       bob, "iam:CreateAccessKey", {}, Outcome::kAllow, "arn:aws:iam::111122223333:user/bob"},
      {"UsernameVariableDoesNotMatchAnotherUsersResource", kIdentity,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}]})",
       bob, "iam:CreateAccessKey", {}, Outcome::kNoStatementApplies,
       "arn:aws:iam::111122223333:user/alice"},
      {"VariablesAreTextUnderTheOldVersion", kIdentity,
       R"({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}]})",
       bob, "iam:CreateAccessKey", {}, Outcome::kAllow,
       "arn:aws:iam::111122223333:user/${aws:username}"},
      {"VariablesAreTextWithoutAVersion", kIdentity,
       R"({"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}]})",
       bob, "iam:CreateAccessKey", {}, Outcome::kNoStatementApplies,
       "arn:aws:iam::111122223333:user/bob"},
      {"UnresolvedVariableMakesTheStatementNotApply", kIdentity,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","NotResource":"arn:aws:iam::111122223333:user/${aws:username}"}]})",
       admin_session, "iam:CreateAccessKey", {}, Outcome::kNoStatementApplies,
       "arn:aws:iam::111122223333:user/bob"},
      {"VariableDefaultStandsInForAnAbsentKey", kIdentity,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::111122223333:user/${aws:username, 'nobody'}"}]})",
       admin_session, "iam:GetUser", {}, Outcome::kAllow, "arn:aws:iam::111122223333:user/nobody"},
      {"VariableInAConditionValueIsSubstituted", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Owner":"${aws:username}"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Owner", {"bob"}}}, Outcome::kAllow},
      {"VariableNamesAreCaseInsensitive", kKey,
       BobMayIf(R"({"StringEquals":{"kms:EncryptionContext:Owner":"${AWS:UserName}"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Owner", {"bob"}}}, Outcome::kAllow},
      {"VariableCanNameAnyContextKey", kKey,
       BobMayIf(R"({"StringLike":{"kms:EncryptionContext:Path":"${kms:EncryptionContext:Owner}/*"}})"),
       bob, "kms:Decrypt",
       {{"kms:EncryptionContext:Owner", {"bob"}}, {"kms:EncryptionContext:Path", {"bob/x"}}},
       Outcome::kAllow},
      {"EscapedStarIsALiteralStar", kKey,
       BobMayIf(R"({"StringLike":{"kms:EncryptionContext:Tag":"a${*}"}})"), bob, "kms:Decrypt",
       {{"kms:EncryptionContext:Tag", {"abc"}}}, Outcome::kNoStatementApplies},
      {"EscapedStarMatchesAStar", kKey,
       BobMayIf(R"({"StringLike":{"kms:EncryptionContext:Tag":"a${*}${?}${$}"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:Tag", {"a*?$"}}}, Outcome::kAllow},
      {"UserIdVariableOfASessionIsRoleIdAndSessionName", kKey,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Who":"${aws:userid}"}}}]})",
       admin_session, "kms:Decrypt", {{"kms:EncryptionContext:Who", {"AROAKeyAdmin:ops"}}},
       Outcome::kAllow},
      {"PrincipalAccountVariableIsTheCallersAccount", kIdentity,
       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}]})",
       bob, "kms:Encrypt", {}, Outcome::kAllow},
      {"ArnOperatorAcceptsAVariableForTheWholeArn", kKey,
       BobMayIf(R"({"ArnEquals":{"kms:EncryptionContext:aws:arn":"${aws:PrincipalArn}"}})"), bob,
       "kms:Decrypt", {{"kms:EncryptionContext:aws:arn", {"arn:aws:iam::111122223333:user/bob"}}},
       Outcome::kAllow},
  };
}
// clang-format on

class EvaluateTest : public ::testing::TestWithParam<EvaluateCase> {};

TEST_P(EvaluateTest, Decides) {
  const EvaluateCase& row = GetParam();
  auto policy = Parse(row.policy, row.kind);
  ASSERT_TRUE(policy.ok()) << policy.status();
  RequestContext context = testing::Context(row.caller, row.action, row.resource, row.keys);
  Result result = Evaluate(**policy, context);
  Outcome outcome = result.explicit_deny       ? Outcome::kExplicitDeny
                    : result.allow             ? Outcome::kAllow
                    : result.allow_for_account ? Outcome::kAllowForAccount
                                               : Outcome::kNoStatementApplies;
  EXPECT_EQ(static_cast<int>(outcome), static_cast<int>(row.expected))
      << "deny=" << result.explicit_deny << " allow=" << result.allow
      << " account=" << result.allow_for_account << " by " << result.deciding_statement;
  if (!row.deciding_statement.empty()) {
    EXPECT_EQ(result.deciding_statement, row.deciding_statement);
  }
}

INSTANTIATE_TEST_SUITE_P(AwsExamples, EvaluateTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kmsd::policy

namespace kmsd::policy {
namespace {

std::string Value(const RequestContext& context, const std::string& key) {
  const std::vector<std::string>* values = context.Find(key);
  return values == nullptr ? "<absent>" : StrJoin(*values, ",");
}

TEST(RequestContext, FindsKeysInAnyCase) {
  RequestContext context;
  context.Set("kms:EncryptionContext:Department", "IT");
  EXPECT_EQ(Value(context, "KMS:encryptioncontext:department"), "IT");
  EXPECT_EQ(Value(context, "kms:EncryptionContext:Project"), "<absent>");
}

TEST(RequestContext, SetReplacesAndAddAppends) {
  RequestContext context;
  context.Add("kms:EncryptionContextKeys", "a");
  context.Add("KMS:EncryptionContextKeys", "b");
  EXPECT_EQ(Value(context, "kms:EncryptionContextKeys"), "a,b");
  context.Set("kms:encryptioncontextkeys", "c");
  EXPECT_EQ(Value(context, "kms:EncryptionContextKeys"), "c");
}

TEST(RequestContext, CallerKeysOfTheRoot) {
  RequestContext context;
  context.SetCaller(testing::Root());
  EXPECT_EQ(Value(context, "aws:PrincipalType"), "Account");
  EXPECT_EQ(Value(context, "aws:PrincipalArn"), "arn:aws:iam::111122223333:root");
  EXPECT_EQ(Value(context, "aws:userid"), "111122223333");
  EXPECT_EQ(Value(context, "aws:username"), "<absent>");
  EXPECT_EQ(Value(context, "aws:PrincipalAccount"), "111122223333");
  EXPECT_EQ(Value(context, "kms:CallerAccount"), "111122223333");
}

TEST(RequestContext, CallerKeysOfAUser) {
  RequestContext context;
  context.SetCaller(testing::User("bob"));
  EXPECT_EQ(Value(context, "aws:PrincipalType"), "User");
  EXPECT_EQ(Value(context, "aws:PrincipalArn"), "arn:aws:iam::111122223333:user/bob");
  EXPECT_EQ(Value(context, "aws:userid"), "AIDAbob");
  EXPECT_EQ(Value(context, "aws:username"), "bob");
}

TEST(RequestContext, CallerKeysOfARoleSession) {
  RequestContext context;
  context.SetCaller(testing::Session("KeyAdmin", "ops"));
  EXPECT_EQ(Value(context, "aws:PrincipalType"), "AssumedRole");
  EXPECT_EQ(Value(context, "aws:PrincipalArn"), "arn:aws:iam::111122223333:role/KeyAdmin");
  EXPECT_EQ(Value(context, "aws:userid"), "AROAKeyAdmin:ops");
  EXPECT_EQ(Value(context, "aws:username"), "<absent>");
}

}  // namespace
}  // namespace kmsd::policy
