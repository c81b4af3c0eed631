// Grants as AWS documents them: a grant allows its operations to its grantee within its
// constraints, never past an explicit deny; it is retired by whom the grant says, revoked by
// whom the key policy lets; its tokens name it and only it; it goes with its key.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/service.h"
#include "unit/service/service_test_util.h"

namespace kmsd {
namespace {

using testing::Allow;
using testing::AsSession;
using testing::AsUser;
using testing::kAccount;
using testing::kDay;
using testing::RoleArn;
using testing::UserArn;

class GrantsTest : public testing::ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    key_id_ = NewKey();
  }

  absl::StatusOr<CreateGrantResult> Grant(const std::string& grantee,
                                          std::vector<std::string> operations,
                                          const std::string& retiring = "",
                                          GrantConstraints constraints = {},
                                          const CallContext* as = nullptr) {
    CreateGrantRequest request;
    request.key_id = key_id_;
    request.grantee_principal = grantee;
    request.retiring_principal = retiring;
    request.operations = std::move(operations);
    request.constraints = std::move(constraints);
    return service_->CreateGrant(as ? *as : call_, request);
  }

  absl::Status EncryptAs(const CallContext& call, const EncryptionContext& context = {},
                         const GrantTokens& tokens = {}) {
    return service_->Encrypt(call, key_id_, SecretBytes::FromString("x"), context, tokens).status();
  }

  std::string key_id_;
};

TEST_F(GrantsTest, GrantAllowsItsOperationsToItsGranteeOnly) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt", "DescribeKey"}).ok());
  EXPECT_TRUE(EncryptAs(AsUser("alice")).ok());
  EXPECT_TRUE(service_->DescribeKey(AsUser("alice"), key_id_, {}).ok());
  EXPECT_EQ(TypeOf(service_->GenerateDataKey(AsUser("alice"), key_id_, 32, {}, true, {}).status()),
            ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(EncryptAs(AsUser("bob"))), ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, UsedThenRetiredByTheRetiringPrincipal) {
  auto grant = Grant(UserArn("alice"), {"Encrypt", "Decrypt"}, UserArn("bob"));
  ASSERT_TRUE(grant.ok()) << grant.status();
  CallContext alice = AsUser("alice");
  ASSERT_TRUE(EncryptAs(alice, {}, {grant->grant_token}).ok());
  // Neither the grantee (the grant does not allow RetireGrant) nor a stranger may retire it.
  EXPECT_EQ(TypeOf(service_->RetireGrant(alice, {.grant_token = grant->grant_token}).status()),
            ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->RetireGrant(AsUser("carol"), {.grant_token = grant->grant_token})
                       .status()),
            ErrorType::kAccessDenied);
  // By its token alone; the answer names the grant's key (for the audit record).
  auto retired = service_->RetireGrant(AsUser("bob"), {.grant_token = grant->grant_token});
  ASSERT_TRUE(retired.ok()) << retired.status();
  EXPECT_EQ(*retired, KeyArn(key_id_));
  EXPECT_EQ(TypeOf(EncryptAs(alice)), ErrorType::kAccessDenied);
  EXPECT_TRUE(service_->ListGrants(call_, key_id_, "", "", 50, "")->grants.empty());
}

TEST_F(GrantsTest, GranteeMayRetireAGrantThatAllowsRetireGrant) {
  auto grant = Grant(UserArn("alice"), {"Encrypt", "RetireGrant"});
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(
      service_
          ->RetireGrant(AsUser("alice"), {.key_id = KeyArn(key_id_), .grant_id = grant->grant_id})
          .ok());
}

TEST_F(GrantsTest, AccountRootAndDelegatedUsersMayRetireButAnIdentityDenyWins) {
  auto first = Grant(UserArn("alice"), {"Encrypt"});
  auto second = Grant(UserArn("alice"), {"Decrypt"});
  auto third = Grant(UserArn("alice"), {"Decrypt"}, UserArn("denied"));
  EXPECT_TRUE(service_->RetireGrant(call_, {.key_id = key_id_, .grant_id = first->grant_id}).ok());
  CallContext delegated = AsUser("ops", {Allow(R"("kms:RetireGrant")", KeyArn(key_id_))});
  EXPECT_TRUE(
      service_->RetireGrant(delegated, {.key_id = key_id_, .grant_id = second->grant_id}).ok());
  CallContext denied = AsUser("denied", {R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny",)"
                                         R"("Action":"kms:RetireGrant","Resource":"*"}]})"});
  absl::Status refused =
      service_->RetireGrant(denied, {.key_id = key_id_, .grant_id = third->grant_id}).status();
  EXPECT_EQ(refused.message(), testing::Denial(UserArn("denied"), "kms:RetireGrant",
                                               KeyArn(key_id_), testing::kIdentityPolicyDenies));
}

TEST_F(GrantsTest, RevokedGrantStopsWorkingAndRevokingNeedsPermission) {
  auto grant = Grant(UserArn("alice"), {"Encrypt", "RetireGrant"});
  ASSERT_TRUE(grant.ok());
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(EncryptAs(alice).ok());
  absl::Status refused = service_->RevokeGrant(alice, key_id_, grant->grant_id, false);
  EXPECT_EQ(refused.message(), testing::Denial(UserArn("alice"), "kms:RevokeGrant", KeyArn(key_id_),
                                               testing::NoIdentityPolicyAllows("kms:RevokeGrant")));
  ASSERT_TRUE(service_->RevokeGrant(call_, key_id_, grant->grant_id, false).ok());
  EXPECT_EQ(TypeOf(EncryptAs(alice)), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(service_->RevokeGrant(call_, key_id_, grant->grant_id, false)),
            ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->RevokeGrant(call_, key_id_, "not-a-grant-id", false)),
            ErrorType::kInvalidGrantId);
}

TEST_F(GrantsTest, EncryptionContextSubsetConstraint) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt"}, "",
                    {.encryption_context_subset = EncryptionContext{{"Department", "Finance"}}})
                  .ok());
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(EncryptAs(alice, {{"Department", "Finance"}}).ok());
  EXPECT_TRUE(EncryptAs(alice, {{"Department", "Finance"}, {"Customer", "1"}}).ok());
  EXPECT_TRUE(EncryptAs(alice, {{"department", "Finance"}}).ok());  // keys ignore case
  EXPECT_EQ(TypeOf(EncryptAs(alice, {{"Department", "finance"}})), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(EncryptAs(alice)), ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, EncryptionContextEqualsConstraint) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt", "DescribeKey"}, "",
                    {.encryption_context_equals = EncryptionContext{{"app", "payroll"}}})
                  .ok());
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(EncryptAs(alice, {{"app", "payroll"}}).ok());
  EXPECT_EQ(TypeOf(EncryptAs(alice, {{"app", "payroll"}, {"x", "y"}})), ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(EncryptAs(alice)), ErrorType::kAccessDenied);
  // Constraints do not apply to DescribeKey.
  EXPECT_TRUE(service_->DescribeKey(alice, key_id_, {}).ok());
}

TEST_F(GrantsTest, GrantTokensMustNameAnExistingGrantAndCannotBeAltered) {
  auto grant = Grant(UserArn("alice"), {"Encrypt"}, UserArn("alice"));
  ASSERT_TRUE(grant.ok());
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(EncryptAs(alice, {}, {grant->grant_token}).ok());
  std::string altered = grant->grant_token;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(TypeOf(EncryptAs(alice, {}, {altered})), ErrorType::kInvalidGrantToken);
  EXPECT_EQ(TypeOf(EncryptAs(alice, {}, {"not a token"})), ErrorType::kInvalidGrantToken);
  EXPECT_EQ(TypeOf(service_->RetireGrant(alice, {.grant_token = altered}).status()),
            ErrorType::kInvalidGrantToken);
  auto other = Grant(UserArn("bob"), {"Encrypt"});
  ASSERT_TRUE(service_->RetireGrant(alice, {.grant_token = grant->grant_token}).ok());
  EXPECT_EQ(TypeOf(EncryptAs(alice, {}, {grant->grant_token})), ErrorType::kInvalidGrantToken);
  EXPECT_TRUE(EncryptAs(AsUser("bob"), {}, {other->grant_token}).ok());
}

TEST_F(GrantsTest, GrantToARoleCoversItsSessions) {
  ASSERT_TRUE(Grant(RoleArn("app"), {"GenerateDataKey"}).ok());
  EXPECT_TRUE(service_->GenerateDataKey(AsSession("app", "s1"), key_id_, 32, {}, true, {}).ok());
  EXPECT_EQ(
      TypeOf(service_->GenerateDataKey(AsSession("web", "s1"), key_id_, 32, {}, true, {}).status()),
      ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, GrantCannotOverrideAnExplicitDeny) {
  std::string deny_alice = StrCat(R"({"Version":"2012-10-17","Statement":[)",
                                  R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::)",
                                  kAccount, R"(:root"},"Action":"kms:*","Resource":"*"},)",
                                  R"({"Effect":"Deny","Principal":{"AWS":")", UserArn("alice"),
                                  R"("},"Action":"kms:Encrypt","Resource":"*"}]})");
  ASSERT_TRUE(service_->PutKeyPolicy(call_, key_id_, "default", deny_alice, false).ok());
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt"}).ok());
  EXPECT_EQ(EncryptAs(AsUser("alice")).message(),
            testing::Denial(UserArn("alice"), "kms:Encrypt", KeyArn(key_id_),
                            testing::kResourcePolicyDenies));
}

TEST_F(GrantsTest, GrantsGoWithTheirKey) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt"}, UserArn("bob")).ok());
  ASSERT_TRUE(service_->ScheduleKeyDeletion(call_, key_id_, 7).ok());
  now_ += 7 * kDay;
  EXPECT_EQ(service_->RunDueTasks()->keys_deleted, 1);
  EXPECT_TRUE(backend_->List("grant/", "", 0)->empty());
  EXPECT_TRUE(service_->ListRetirableGrants(call_, UserArn("bob"), 50, "")->grants.empty());
}

TEST_F(GrantsTest, GrantsOutliveTheServiceThatMadeThem) {
  auto grant = Grant(UserArn("alice"), {"Encrypt"});
  ASSERT_TRUE(grant.ok());
  auto fresh = NewKmsService({}, keystore_.get(), std::make_unique<testing::FixedClock>(&now_));
  EXPECT_TRUE(fresh
                  ->Encrypt(AsUser("alice"), key_id_, SecretBytes::FromString("x"), {},
                            {grant->grant_token})
                  .ok());
}

TEST_F(GrantsTest, NamedRetryFindsTheSameGrantWithANewToken) {
  CreateGrantRequest request;
  request.key_id = key_id_;
  request.grantee_principal = UserArn("alice");
  request.operations = {"Encrypt", "Decrypt"};
  request.name = "retry-me";
  auto first = service_->CreateGrant(call_, request);
  request.operations = {"Decrypt", "Encrypt"};
  auto second = service_->CreateGrant(call_, request);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->grant_id, second->grant_id);
  EXPECT_NE(first->grant_token, second->grant_token);
  EXPECT_TRUE(EncryptAs(AsUser("alice"), {}, {first->grant_token, second->grant_token}).ok());
  request.operations = {"Encrypt"};
  EXPECT_NE(service_->CreateGrant(call_, request)->grant_id, first->grant_id);
}

TEST_F(GrantsTest, GrantWithCreateGrantDelegatesOnlyWhatItHas) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"CreateGrant", "Encrypt", "Decrypt"}, "",
                    {.encryption_context_subset = EncryptionContext{{"team", "a"}}})
                  .ok());
  CallContext alice = AsUser("alice");
  EXPECT_TRUE(Grant(UserArn("bob"), {"Encrypt"}, "",
                    {.encryption_context_subset = EncryptionContext{{"team", "a"}, {"x", "1"}}},
                    &alice)
                  .ok());
  EXPECT_TRUE(Grant(UserArn("bob"), {"Decrypt"}, "",
                    {.encryption_context_equals = EncryptionContext{{"team", "a"}}}, &alice)
                  .ok());
  EXPECT_EQ(TypeOf(Grant(UserArn("bob"), {"Encrypt", "GenerateDataKey"}, "",
                         {.encryption_context_subset = EncryptionContext{{"team", "a"}}}, &alice)
                       .status()),
            ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(Grant(UserArn("bob"), {"Encrypt"}, "", {}, &alice).status()),
            ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, CreateGrantConditionKeys) {
  std::string policy = StrCat(
      R"({"Version":"2012-10-17","Statement":[)",
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::)", kAccount,
      R"(:root"},"Action":"kms:*","Resource":"*"},)", R"({"Effect":"Allow","Principal":{"AWS":")",
      UserArn("granter"), R"("},"Action":"kms:CreateGrant","Resource":"*","Condition":{)",
      R"("ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]},)",
      R"("StringEquals":{"kms:GranteePrincipal":")", UserArn("alice"), R"(",)",
      R"("kms:GrantConstraintType":"EncryptionContextSubset"}}}]})");
  ASSERT_TRUE(service_->PutKeyPolicy(call_, key_id_, "default", policy, false).ok());
  CallContext granter = AsUser("granter");
  GrantConstraints subset{.encryption_context_subset = EncryptionContext{{"a", "b"}}};
  EXPECT_TRUE(Grant(UserArn("alice"), {"Encrypt"}, "", subset, &granter).ok());
  EXPECT_EQ(
      TypeOf(Grant(UserArn("alice"), {"Encrypt", "CreateGrant"}, "", subset, &granter).status()),
      ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(Grant(UserArn("bob"), {"Encrypt"}, "", subset, &granter).status()),
            ErrorType::kAccessDenied);
  EXPECT_EQ(TypeOf(Grant(UserArn("alice"), {"Encrypt"}, "", {}, &granter).status()),
            ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, ListGrantsFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Grant(UserArn("alice"), {"Encrypt"})->grant_id);
  ids.push_back(Grant(UserArn("bob"), {"Decrypt"}, UserArn("carol"))->grant_id);
  std::set<std::string> seen;
  std::string marker;
  do {
    auto page = service_->ListGrants(call_, key_id_, "", "", 2, marker);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->grants.size(), 2u);
    for (const GrantEntry& grant : page->grants) {
      EXPECT_TRUE(seen.insert(grant.grant_id).second);
      EXPECT_EQ(grant.key_arn, KeyArn(key_id_));
      EXPECT_EQ(grant.issuing_account, StrCat("arn:aws:iam::", kAccount, ":root"));
    }
    marker = page->next_marker;
  } while (!marker.empty());
  EXPECT_EQ(seen, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(service_->ListGrants(call_, key_id_, "", UserArn("bob"), 50, "")->grants.size(), 1u);
  auto one = service_->ListGrants(call_, key_id_, ids[0], "", 50, "");
  ASSERT_EQ(one->grants.size(), 1u);
  EXPECT_EQ(one->grants[0].operations, std::vector<std::string>{"Encrypt"});
  EXPECT_EQ(TypeOf(service_->ListGrants(call_, key_id_, "", "", 50, "junk").status()),
            ErrorType::kInvalidMarker);
  EXPECT_EQ(TypeOf(service_->ListGrants(AsUser("alice"), key_id_, "", "", 50, "").status()),
            ErrorType::kAccessDenied);

  auto retirable = service_->ListRetirableGrants(call_, UserArn("carol"), 50, "");
  ASSERT_TRUE(retirable.ok());
  ASSERT_EQ(retirable->grants.size(), 1u);
  EXPECT_EQ(retirable->grants[0].grant_id, ids.back());
  EXPECT_EQ(
      TypeOf(service_->ListRetirableGrants(AsUser("carol"), UserArn("carol"), 50, "").status()),
      ErrorType::kAccessDenied);
}

TEST_F(GrantsTest, ListRetirableGrantsPagesAcrossKeys) {
  std::string other_key = NewKey();
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.insert(Grant(UserArn("a"), {"Encrypt"}, UserArn("r"))->grant_id);
  std::swap(key_id_, other_key);
  for (int i = 0; i < 3; ++i) ids.insert(Grant(UserArn("a"), {"Encrypt"}, UserArn("r"))->grant_id);
  ASSERT_TRUE(Grant(UserArn("a"), {"Encrypt"}, UserArn("someone-else")).ok());
  std::set<std::string> seen;
  std::string marker;
  do {
    auto page = service_->ListRetirableGrants(call_, UserArn("r"), 4, marker);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const GrantEntry& grant : page->grants) EXPECT_TRUE(seen.insert(grant.grant_id).second);
    marker = page->next_marker;
  } while (!marker.empty());
  EXPECT_EQ(seen, ids);
}

TEST_F(GrantsTest, AtMost500GrantsPerGranteePerKey) {
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt"}).ok()) << i;
  EXPECT_EQ(TypeOf(Grant(UserArn("alice"), {"Encrypt"}).status()), ErrorType::kLimitExceeded);
  EXPECT_TRUE(Grant(UserArn("bob"), {"Encrypt"}).ok());
}

TEST_F(GrantsTest, CreateGrantValidatesItsParameters) {
  EXPECT_EQ(TypeOf(Grant(UserArn("alice"), {"Sign"}).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Grant(UserArn("alice"), {}).status()), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Grant("alice", {"Encrypt"}).status()), ErrorType::kInvalidArn);
  EncryptionContext nine;
  for (int i = 0; i < 9; ++i) nine[std::to_string(i)] = "v";
  EXPECT_EQ(
      TypeOf(
          Grant(UserArn("alice"), {"Encrypt"}, "", {.encryption_context_subset = nine}).status()),
      ErrorType::kValidation);
}

TEST_F(GrantsTest, DryRunChecksEverythingAndChangesNothing) {
  CreateGrantRequest request;
  request.key_id = key_id_;
  request.grantee_principal = UserArn("alice");
  request.operations = {"Encrypt"};
  request.dry_run = true;
  EXPECT_EQ(TypeOf(service_->CreateGrant(call_, request).status()), ErrorType::kDryRunOperation);
  EXPECT_EQ(TypeOf(service_->CreateGrant(AsUser("x"), request).status()), ErrorType::kAccessDenied);
  EXPECT_TRUE(service_->ListGrants(call_, key_id_, "", "", 50, "")->grants.empty());
  auto grant = Grant(UserArn("alice"), {"Encrypt"});
  EXPECT_EQ(TypeOf(service_->RevokeGrant(call_, key_id_, grant->grant_id, /*dry_run=*/true)),
            ErrorType::kDryRunOperation);
  EXPECT_EQ(service_->ListGrants(call_, key_id_, "", "", 50, "")->grants.size(), 1u);
}

TEST_F(GrantsTest, CreateGrantOnADisabledKeyIsDisabled) {
  ASSERT_TRUE(service_->DisableKey(call_, key_id_).ok());
  EXPECT_EQ(TypeOf(Grant(UserArn("alice"), {"Encrypt"}).status()), ErrorType::kDisabled);
}

TEST_F(GrantsTest, GrantsChangeSafelyUnderConcurrentUse) {
  ASSERT_TRUE(Grant(UserArn("alice"), {"Encrypt"}).ok());
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> users;
  for (int t = 0; t < 3; ++t) {
    users.emplace_back([&] {
      CallContext alice = AsUser("alice");
      while (!done.load()) {
        if (!EncryptAs(alice).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    auto grant = Grant(UserArn("bob"), {"Encrypt"});
    ASSERT_TRUE(grant.ok());
    ASSERT_TRUE(service_->RetireGrant(call_, {.grant_token = grant->grant_token}).ok());
  }
  done = true;
  for (auto& user : users) user.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(service_->ListGrants(call_, key_id_, "", "", 50, "")->grants.size(), 1u);
}

}  // namespace
}  // namespace kmsd
