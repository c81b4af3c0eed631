// Key policies and the authorization of KMS operations, as AWS documents them: the default key
// policy, users named in a key policy, identity policies, conditions, explicit denies, the
// lockout safety check, and AWS's words when access is denied.
#include <gtest/gtest.h>

#include "kmsd/errors.h"
#include "kmsd/service.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::Allow;
using testing::AsSession;
using testing::AsUser;
using testing::kAccount;
using testing::RoleArn;
using testing::UserArn;

class KeyPolicyTest : public testing::ServiceTest {
 protected:
  absl::Status EncryptAs(const CallContext& call, const std::string& key_id,
                         const EncryptionContext& context = {}) {
    return service_->Encrypt(call, key_id, SecretBytes::FromString("x"), context, {}).status();
  }

  // A key policy: the account root may do anything (so the root keeps control), plus statements.
  static std::string PolicyWith(const std::string& statements) {
    return StrCat(R"({"Version":"2012-10-17","Statement":[)",
                  R"({"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::)", kAccount,
                  R"(:root"},"Action":"kms:*","Resource":"*"})", statements.empty() ? "" : ",",
                  statements, "]}");
  }
};

TEST_F(KeyPolicyTest, KeyWithoutPolicyHasAwsDefaultKeyPolicyWordForWord) {
  std::string key_id = NewKey();
  auto policy = service_->GetKeyPolicy(call_, key_id, "default");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(*policy,
            "{\n"
            "  \"Version\" : \"2012-10-17\",\n"
            "  \"Id\" : \"key-default-1\",\n"
            "  \"Statement\" : [ {\n"
            "    \"Sid\" : \"Enable IAM User Permissions\",\n"
            "    \"Effect\" : \"Allow\",\n"
            "    \"Principal\" : {\n"
            "      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n"
            "    },\n"
            "    \"Action\" : \"kms:*\",\n"
            "    \"Resource\" : \"*\"\n"
            "  } ]\n"
            "}");
  EXPECT_EQ(*service_->ListKeyPolicies(call_, key_id), std::vector<std::string>{"default"});
}

TEST_F(KeyPolicyTest, DefaultPolicyLetsTheRootIn) {
  std::string key_id = NewKey();
  EXPECT_TRUE(EncryptAs(call_, key_id).ok());
}

TEST_F(KeyPolicyTest, DefaultPolicyLetsUsersInThroughTheirIdentityPolicies) {
  std::string key_id = NewKey();
  CallContext alice = AsUser("alice", {Allow(R"("kms:Encrypt")", KeyArn(key_id))});
  EXPECT_TRUE(EncryptAs(alice, key_id).ok());
  auto blob = service_->Encrypt(call_, key_id, SecretBytes::FromString("x"), {}, {});
  auto decrypted = service_->Decrypt(alice, blob->ciphertext_blob, {}, "", {});
  EXPECT_EQ(TypeOf(decrypted.status()), ErrorType::kAccessDenied);
  EXPECT_EQ(decrypted.status().message(),
            testing::Denial(UserArn("alice"), "kms:Decrypt", KeyArn(key_id),
                            testing::NoIdentityPolicyAllows("kms:Decrypt")));
}

TEST_F(KeyPolicyTest, UserWithoutIdentityPoliciesIsDenied) {
  std::string key_id = NewKey();
  EXPECT_EQ(TypeOf(EncryptAs(AsUser("bob"), key_id)), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->DescribeKey(AsUser("bob"), key_id, {}).status()),
            ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, UnknownKeyStaysNotFoundForAnyCaller) {
  EXPECT_EQ(TypeOf(EncryptAs(AsUser("bob"), "00000000-0000-4000-8000-000000000000")),
            ErrorType::kNotFound);
}

TEST_F(KeyPolicyTest, UserNamedInTheKeyPolicyNeedsNoIdentityPolicy) {
  std::string key_id = NewKey(
      PolicyWith(StrCat(R"({"Effect":"Allow","Principal":{"AWS":")", UserArn("alice"),
                        R"("},"Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"})")));
  EXPECT_TRUE(EncryptAs(AsUser("alice"), key_id).ok());
  absl::Status bob = EncryptAs(AsUser("bob"), key_id);
  EXPECT_EQ(TypeOf(bob), ErrorType::kAccessDenied);
  auto data_key = service_->GenerateDataKey(AsUser("alice"), key_id, 32, {}, true, {});
  EXPECT_EQ(data_key.status().message(),
            testing::Denial(UserArn("alice"), "kms:GenerateDataKey", KeyArn(key_id),
                            testing::NoIdentityPolicyAllows("kms:GenerateDataKey")));
}

TEST_F(KeyPolicyTest, RoleNamedInTheKeyPolicyLetsItsSessionsIn) {
  std::string key_id =
      NewKey(PolicyWith(StrCat(R"({"Effect":"Allow","Principal":{"AWS":")", RoleArn("app"),
                               R"("},"Action":"kms:Encrypt","Resource":"*"})")));
  EXPECT_TRUE(EncryptAs(AsSession("app", "s1"), key_id).ok());
  EXPECT_EQ(TypeOf(EncryptAs(AsSession("other", "s1"), key_id)), ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, EncryptionContextConditionInTheKeyPolicy) {
  std::string key_id = NewKey(PolicyWith(
      StrCat(R"({"Effect":"Allow","Principal":{"AWS":")", UserArn("alice"),
             R"("},"Action":["kms:Encrypt","kms:GenerateDataKey"],"Resource":"*",)",
             R"("Condition":{"StringEquals":{"kms:EncryptionContext:app":"payroll"}}})")));
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(EncryptAs(alice, key_id, {{"app", "payroll"}}).ok());
  EXPECT_TRUE(
      service_->GenerateDataKey(alice, key_id, 32, {{"app", "payroll"}, {"x", "y"}}, true, {})
          .ok());
  EXPECT_EQ(TypeOf(EncryptAs(alice, key_id, {{"app", "hr"}})), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(EncryptAs(alice, key_id)), ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, ExplicitDenyInTheKeyPolicyBeatsTheUsersAllow) {
  std::string key_id =
      NewKey(PolicyWith(StrCat(R"({"Effect":"Deny","Principal":{"AWS":")", UserArn("alice"),
                               R"("},"Action":"kms:Encrypt","Resource":"*"})")));
  absl::Status denied = EncryptAs(AsUser("alice", {Allow(R"("kms:*")", "*")}), key_id);
  EXPECT_EQ(TypeOf(denied), ErrorType::kAccessDenied);
  EXPECT_EQ(denied.message(), testing::Denial(UserArn("alice"), "kms:Encrypt", KeyArn(key_id),
                                              testing::kResourcePolicyDenies));
}

TEST_F(KeyPolicyTest, ExplicitDenyInAnIdentityPolicy) {
  std::string key_id = NewKey();
  CallContext alice = AsUser(
      "alice", {Allow(R"("kms:*")", "*"),
                R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt",)"
                R"("Resource":"*"}]})"});
  absl::Status denied = EncryptAs(alice, key_id);
  EXPECT_EQ(denied.message(), testing::Denial(UserArn("alice"), "kms:Encrypt", KeyArn(key_id),
                                              testing::kIdentityPolicyDenies));
  EXPECT_TRUE(service_->DescribeKey(alice, key_id, {}).ok());
}

TEST_F(KeyPolicyTest, CreateKeyRunsTheLockoutCheckAndTheRootIsBoundByTheKeyPolicyToo) {
  CreateKeyRequest request;
  request.policy =
      StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")",
             UserArn("admin"), R"("},"Action":"kms:*","Resource":"*"}]})");
  EXPECT_EQ(TypeOf(service_->CreateKey(call_, request).status()),
            ErrorType::kMalformedPolicyDocument);
  request.bypass_policy_lockout_safety_check = true;
  auto key = service_->CreateKey(call_, request);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(TypeOf(EncryptAs(call_, key->key_id)), ErrorType::kAccessDenied);
  EXPECT_TRUE(EncryptAs(AsUser("admin"), key->key_id).ok());
}

TEST_F(KeyPolicyTest, LockoutCheckRefusesAPolicyTheCallerCouldNotChangeThenBypassAllows) {
  std::string key_id = NewKey();
  std::string locked =
      StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")",
             UserArn("alice"), R"("},"Action":"kms:Encrypt","Resource":"*"}]})");
  absl::Status refused = service_->PutKeyPolicy(call_, key_id, "default", locked, false);
  EXPECT_EQ(TypeOf(refused), ErrorType::kMalformedPolicyDocument);
  EXPECT_EQ(refused.message(),
            "The new key policy will not allow you to update the key policy in the future.");
  EXPECT_TRUE(EncryptAs(call_, key_id).ok());  // nothing changed

  ASSERT_TRUE(service_->PutKeyPolicy(call_, key_id, "", locked, true).ok());
  EXPECT_EQ(TypeOf(service_->GetKeyPolicy(call_, key_id, "").status()), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->PutKeyPolicy(call_, key_id, "default", PolicyWith(""), true)),
            ErrorType::kAccessDenied);
  EXPECT_TRUE(EncryptAs(AsUser("alice"), key_id).ok());
}

TEST_F(KeyPolicyTest, LockoutCheckCountsTheCallersIdentityPolicies) {
  std::string key_id = NewKey();
  CallContext admin = AsUser("admin", {Allow(R"("kms:*")", "*")});
  // Delegating to the account lets the admin in through its identity policy.
  EXPECT_TRUE(service_->PutKeyPolicy(admin, key_id, "default", PolicyWith(""), false).ok());
  CallContext limited = AsUser("limited", {Allow(R"(["kms:PutKeyPolicy"])", "*")});
  std::string without_account =
      StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")",
             UserArn("admin"), R"("},"Action":"kms:*","Resource":"*"}]})");
  EXPECT_EQ(TypeOf(service_->PutKeyPolicy(limited, key_id, "default", without_account, false)),
            ErrorType::kMalformedPolicyDocument);
}

TEST_F(KeyPolicyTest, PolicyIsKeptByteForByteAndOutlivesTheService) {
  std::string key_id = NewKey();
  std::string document = PolicyWith("") + "\n\t ";
  ASSERT_TRUE(service_->PutKeyPolicy(call_, key_id, "default", document, false).ok());
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<testing::FixedClock>(&now_));
  EXPECT_EQ(*fresh->GetKeyPolicy(call_, key_id, "default"), document);
}

TEST_F(KeyPolicyTest, NewPolicyTakesEffectAtOnce) {
  std::string key_id = NewKey();
  CallContext alice = AsUser("alice");
  EXPECT_EQ(TypeOf(EncryptAs(alice, key_id)), ErrorType::kAccessDenied);
  ASSERT_TRUE(service_
                  ->PutKeyPolicy(call_, key_id, "default",
                                 PolicyWith(StrCat(R"({"Effect":"Allow","Principal":{"AWS":")",
                                                   UserArn("alice"),
                                                   R"("},"Action":"kms:Encrypt","Resource":"*"})")),
                                 false)
                  .ok());
  EXPECT_TRUE(EncryptAs(alice, key_id).ok());
}

TEST_F(KeyPolicyTest, MalformedPolicyIsRefusedNamingTheProblemAndChangesNothing) {
  std::string key_id = NewKey();
  std::string before = *service_->GetKeyPolicy(call_, key_id, "default");
  absl::Status refused = service_->PutKeyPolicy(call_, key_id, "default", "{", false);
  EXPECT_EQ(TypeOf(refused), ErrorType::kMalformedPolicyDocument);
  EXPECT_FALSE(refused.message().empty());
  EXPECT_EQ(*service_->GetKeyPolicy(call_, key_id, "default"), before);
  CreateKeyRequest request;
  request.policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]})";
  EXPECT_EQ(TypeOf(service_->CreateKey(call_, request).status()),
            ErrorType::kMalformedPolicyDocument);
}

TEST_F(KeyPolicyTest, PolicyOver32KiBIsLimitExceeded) {
  std::string key_id = NewKey();
  std::string big = PolicyWith("") + std::string(policy::kMaxKeyPolicyBytes, ' ');
  absl::Status refused = service_->PutKeyPolicy(call_, key_id, "default", big, false);
  EXPECT_EQ(TypeOf(refused), ErrorType::kLimitExceeded);
  EXPECT_NE(refused.message().find("32768"), std::string_view::npos);
}

TEST_F(KeyPolicyTest, PolicyNamingAUserThatDoesNotExistIsRefusedWhenIamCanTell) {
  ServiceOptions options;
  options.principal_exists = [](std::string_view arn) { return arn == UserArn("alice"); };
  auto service = NewKmsService(options, keystore_.get(), std::make_unique<testing::FixedClock>());
  auto key = service->CreateKey(call_, {});
  ASSERT_TRUE(key.ok());
  auto naming = [](const std::string& principal) {
    return PolicyWith(StrCat(R"({"Effect":"Allow","Principal":{"AWS":")", principal,
                             R"("},"Action":"kms:Encrypt","Resource":"*"})"));
  };
  EXPECT_TRUE(
      service->PutKeyPolicy(call_, key->key_id, "default", naming(UserArn("alice")), false).ok());
  absl::Status refused =
      service->PutKeyPolicy(call_, key->key_id, "default", naming(UserArn("ghost")), false);
  EXPECT_EQ(TypeOf(refused), ErrorType::kMalformedPolicyDocument);
  EXPECT_EQ(refused.message(), "Policy contains a statement with one or more invalid principals.");
  // Principals of other accounts cannot be checked here, and are not refused.
  EXPECT_TRUE(service
                  ->PutKeyPolicy(call_, key->key_id, "default",
                                 naming("arn:aws:iam::444455556666:user/ghost"), false)
                  .ok());
}

TEST_F(KeyPolicyTest, PolicyNameOtherThanDefaultIsNotFound) {
  std::string key_id = NewKey();
  EXPECT_EQ(TypeOf(service_->GetKeyPolicy(call_, key_id, "other").status()), ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->PutKeyPolicy(call_, key_id, "other", PolicyWith(""), false)),
            ErrorType::kNotFound);
}

TEST_F(KeyPolicyTest, KeyPolicyOperationsNeedTheirPermissions) {
  std::string key_id = NewKey();
  CallContext reader = AsUser("reader", {Allow(R"("kms:GetKeyPolicy")", KeyArn(key_id))});
  EXPECT_TRUE(service_->GetKeyPolicy(reader, key_id, "default").ok());
  EXPECT_EQ(TypeOf(service_->ListKeyPolicies(reader, key_id).status()), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->PutKeyPolicy(reader, key_id, "default", PolicyWith(""), false)),
            ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, IamOnlyOperationsAreJudgedByIdentityPolicies) {
  CallContext nobody = AsUser("nobody");
  auto created = service_->CreateKey(nobody, {});
  EXPECT_EQ(created.status().message(),
            StrCat("User: ", UserArn("nobody"),
                   " is not authorized to perform: kms:CreateKey on "
                   "resource: * because no identity-based policy allows the kms:CreateKey action"));
  EXPECT_EQ(TypeOf(service_->ListKeys(nobody, 10, "").status()), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->ListAliases(nobody, "", 10, "").status()), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->GenerateRandom(nobody, 16).status()), ErrorType::kAccessDenied);
  CallContext creator =
      AsUser("creator", {Allow(R"(["kms:CreateKey","kms:ListKeys","kms:GenerateRandom"])", "*")});
  EXPECT_TRUE(service_->CreateKey(creator, {}).ok());
  EXPECT_TRUE(service_->ListKeys(creator, 10, "").ok());
  EXPECT_TRUE(service_->GenerateRandom(creator, 16).ok());
}

TEST_F(KeyPolicyTest, CreateKeyConditionsSeeTheRequestedKeySpec) {
  CallContext creator =
      AsUser("creator",
             {R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey",)"
              R"("Resource":"*","Condition":{"StringEquals":{"kms:KeySpec":"RSA_2048"}}}]})"});
  EXPECT_EQ(TypeOf(service_->CreateKey(creator, {}).status()), ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, AliasOperationsNeedPermissionOnTheAliasAndTheKey) {
  std::string key_id = NewKey();
  std::string alias_arn = StrCat("arn:aws:kms:us-east-1:", kAccount, ":alias/app");
  CallContext alias_only = AsUser("a", {Allow(R"("kms:CreateAlias")", alias_arn)});
  absl::Status denied = service_->CreateAlias(alias_only, "alias/app", key_id);
  EXPECT_EQ(denied.message(), testing::Denial(UserArn("a"), "kms:CreateAlias", KeyArn(key_id),
                                              testing::NoIdentityPolicyAllows("kms:CreateAlias")));
  CallContext key_only = AsUser("k", {Allow(R"("kms:CreateAlias")", KeyArn(key_id))});
  EXPECT_EQ(TypeOf(service_->CreateAlias(key_only, "alias/app", key_id)), ErrorType::kAccessDenied);
  CallContext both = AsUser("b", {Allow(R"(["kms:CreateAlias","kms:DeleteAlias"])", "*")});
  EXPECT_TRUE(service_->CreateAlias(both, "alias/app", key_id).ok());
  std::string other = NewKey();
  CallContext update_old_only = AsUser("u", {Allow(R"("kms:UpdateAlias")", alias_arn),
                                             Allow(R"("kms:UpdateAlias")", KeyArn(key_id))});
  EXPECT_EQ(TypeOf(service_->UpdateAlias(update_old_only, "alias/app", other)),
            ErrorType::kAccessDenied);
  EXPECT_TRUE(service_->DeleteAlias(both, "alias/app").ok());
}

TEST_F(KeyPolicyTest, RequestAliasAndResourceAliasesConditions) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/finance", key_id).ok());
  CallContext by_alias = AsUser(
      "a",
      {R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt",)"
       R"("Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance"}}}]})"});
  EXPECT_TRUE(EncryptAs(by_alias, "alias/finance").ok());
  EXPECT_EQ(TypeOf(EncryptAs(by_alias, key_id)), ErrorType::kAccessDenied);

  CallContext by_resource_alias = AsUser(
      "r", {R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt",)"
            R"("Resource":"*","Condition":{"ForAnyValue:StringEquals":)"
            R"({"kms:ResourceAliases":"alias/finance"}}}]})"});
  EXPECT_TRUE(EncryptAs(by_resource_alias, key_id).ok());
  ASSERT_TRUE(service_->DeleteAlias(call_, "alias/finance").ok());
  EXPECT_EQ(TypeOf(EncryptAs(by_resource_alias, key_id)), ErrorType::kAccessDenied);
  ASSERT_TRUE(service_->CreateAlias(call_, "alias/finance", key_id).ok());
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<testing::FixedClock>(&now_));
  EXPECT_TRUE(fresh->Encrypt(by_resource_alias, key_id, SecretBytes::FromString("x"), {}, {}).ok());
}

TEST_F(KeyPolicyTest, SourceIpAndSecureTransportConditions) {
  std::string key_id = NewKey();
  CallContext alice = AsUser(
      "alice", {R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt",)"
                R"("Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},)"
                R"("Bool":{"aws:SecureTransport":"true"}}}]})"});
  alice.source_ip = "10.1.2.3";
  alice.secure_transport = true;
  EXPECT_TRUE(EncryptAs(alice, key_id).ok());
  alice.secure_transport = false;
  EXPECT_EQ(TypeOf(EncryptAs(alice, key_id)), ErrorType::kAccessDenied);
  alice.secure_transport = true;
  alice.source_ip = "192.0.2.1";
  EXPECT_EQ(TypeOf(EncryptAs(alice, key_id)), ErrorType::kAccessDenied);
}

TEST_F(KeyPolicyTest, ReEncryptNeedsReEncryptFromOnTheSourceAndReEncryptToOnTheDestination) {
  std::string source = NewKey();
  std::string destination = NewKey();
  auto blob = service_->Encrypt(call_, source, SecretBytes::FromString("x"), {}, {});
  CallContext from_only = AsUser("f", {Allow(R"("kms:ReEncryptFrom")", KeyArn(source))});
  auto denied = service_->ReEncrypt(from_only, blob->ciphertext_blob, {}, "", destination, {}, {});
  EXPECT_EQ(denied.status().message(),
            testing::Denial(UserArn("f"), "kms:ReEncryptTo", KeyArn(destination),
                            testing::NoIdentityPolicyAllows("kms:ReEncryptTo")));
  CallContext both = AsUser("b", {Allow(R"("kms:ReEncrypt*")", "*")});
  EXPECT_TRUE(service_->ReEncrypt(both, blob->ciphertext_blob, {}, "", destination, {}, {}).ok());
}

TEST_F(KeyPolicyTest, KeyStateIsCheckedOnlyAfterAuthorization) {
  std::string key_id = NewKey();
  ASSERT_TRUE(service_->DisableKey(call_, key_id).ok());
  EXPECT_EQ(TypeOf(EncryptAs(AsUser("bob"), key_id)), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(EncryptAs(call_, key_id)), ErrorType::kDisabled);
}

TEST_F(KeyPolicyTest, CallWithoutPrincipalIsDenied) {
  std::string key_id = NewKey();
  CallContext anonymous;
  EXPECT_EQ(TypeOf(EncryptAs(anonymous, key_id)), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->ListKeys(anonymous, 10, "").status()), ErrorType::kAccessDenied);
}

}  // namespace
}  // namespace kmsd
