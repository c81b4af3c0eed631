// The identity service's users, access keys and inline policies, over a real keystore: their
// lifecycle, AWS's errors, paging, the credential store's view of keys, and IAM authorization.
#include <thread>

#include "iam_test_util.h"

namespace kmsd::testing {
namespace {

class IamServiceTest : public IamFixture {};

TEST_F(IamServiceTest, CreateUserShapesIdsAndArnsAsAws) {
  IamUser user = MakeUser("alice", "/engineering/");
  EXPECT_EQ(user.user_name, "alice");
  EXPECT_EQ(user.path, "/engineering/");
  EXPECT_EQ(user.arn, "arn:aws:iam::111122223333:user/engineering/alice");
  ASSERT_EQ(user.user_id.size(), 21u);
  EXPECT_TRUE(user.user_id.starts_with("AIDA"));
  EXPECT_EQ(user.user_id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), std::string::npos);
  EXPECT_EQ(user.create_date, now_.load());
}

TEST_F(IamServiceTest, GetUserFindsTheUserInAnyCase) {
  IamUser created = MakeUser("Alice");
  auto found = service_->GetUser(root_, std::string("ALICE"));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->user_name, "Alice");
  EXPECT_EQ(found->user_id, created.user_id);
}

TEST_F(IamServiceTest, UserNamesAreUniqueRegardlessOfCase) {
  MakeUser("alice");
  CreateUserRequest request;
  request.user_name = "ALICE";
  auto again = service_->CreateUser(root_, request);
  EXPECT_EQ(TypeOf(again.status()), ErrorType::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "User with name ALICE already exists.");
}

TEST_F(IamServiceTest, GetUserOfAMissingUserIsNoSuchEntity) {
  auto missing = service_->GetUser(root_, std::string("nobody"));
  EXPECT_EQ(TypeOf(missing.status()), ErrorType::kNotFound);
  EXPECT_EQ(missing.status().message(), "The user with name nobody cannot be found.");
}

TEST_F(IamServiceTest, GetUserWithoutANameDescribesTheRoot) {
  auto root = service_->GetUser(root_, std::nullopt);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->user_id, kAccountId);
  EXPECT_EQ(root->arn, "arn:aws:iam::111122223333:root");
  EXPECT_TRUE(root->user_name.empty());
}

TEST_F(IamServiceTest, GetUserWithoutANameDescribesTheCallingUser) {
  CallContext alice = MakeUserCall("alice", IdentityPolicy("Allow", "iam:GetUser"));
  auto user = service_->GetUser(alice, std::nullopt);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->user_name, "alice");
}

TEST_F(IamServiceTest, TagsWithTheSameKeyInAnyCaseAreRefused) {
  CreateUserRequest request;
  request.user_name = "alice";
  request.tags = {{"Team", "a"}, {"team", "b"}};
  EXPECT_EQ(TypeOf(service_->CreateUser(root_, request).status()), ErrorType::kValidation);
}

TEST_F(IamServiceTest, TagsInTheAwsNamespaceAreRefused) {
  CreateUserRequest request;
  request.user_name = "alice";
  request.tags = {{"aws:team", "a"}};
  EXPECT_EQ(TypeOf(service_->CreateUser(root_, request).status()), ErrorType::kValidation);
}

TEST_F(IamServiceTest, ListUsersFiltersByPathPrefix) {
  MakeUser("a", "/ops/");
  MakeUser("b", "/dev/");
  MakeUser("c", "/ops/night/");
  PageRequest page;
  page.path_prefix = "/ops/";
  auto list = service_->ListUsers(root_, page);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->users.size(), 2u);
  EXPECT_EQ(list->users[0].user_name, "a");
  EXPECT_EQ(list->users[1].user_name, "c");
  EXPECT_FALSE(list->truncated());
}

TEST_F(IamServiceTest, ListUsersPagesWithMarkers) {
  for (std::string_view name : {"u1", "u2", "u3", "u4", "u5"}) MakeUser(name);
  PageRequest page;
  page.max_items = 2;
  std::vector<std::string> seen;
  int pages = 0;
  do {
    auto list = service_->ListUsers(root_, page);
    ASSERT_TRUE(list.ok()) << list.status();
    for (const IamUser& user : list->users) seen.push_back(user.user_name);
    page.marker = list->next_marker;
    ++pages;
  } while (!page.marker.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"u1", "u2", "u3", "u4", "u5"}));
}

TEST_F(IamServiceTest, DeleteUserRemovesIt) {
  MakeUser("alice");
  ASSERT_TRUE(service_->DeleteUser(root_, "alice").ok());
  EXPECT_EQ(TypeOf(service_->GetUser(root_, std::string("alice")).status()), ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(service_->DeleteUser(root_, "alice")), ErrorType::kNotFound);
}

TEST_F(IamServiceTest, DeleteUserWithAccessKeysIsDeleteConflict) {
  MakeUser("alice");
  ASSERT_TRUE(service_->CreateAccessKey(root_, std::string("alice")).ok());
  absl::Status status = service_->DeleteUser(root_, "alice");
  EXPECT_EQ(TypeOf(status), ErrorType::kDeleteConflict);
  EXPECT_EQ(status.message(), "Cannot delete entity, must delete access keys first.");
}

TEST_F(IamServiceTest, DeleteUserWithInlinePoliciesIsDeleteConflict) {
  MakeUser("alice");
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p",
                                    IdentityPolicy("Allow", "kms:Encrypt"))
                  .ok());
  absl::Status status = service_->DeleteUser(root_, "alice");
  EXPECT_EQ(TypeOf(status), ErrorType::kDeleteConflict);
  EXPECT_EQ(status.message(), "Cannot delete entity, must delete policies first.");
}

TEST_F(IamServiceTest, CreateAccessKeyMakesAKeyFindAccepts) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->metadata.access_key_id.size(), 20u);
  EXPECT_TRUE(key->metadata.access_key_id.starts_with("AKIA"));
  EXPECT_EQ(key->metadata.status, AccessKeyStatus::kActive);
  ASSERT_EQ(key->secret_access_key.size(), 40u);
  auto credential = service_->Find(key->metadata.access_key_id, "", now_);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ((*credential)->secret_access_key.view(), key->secret_access_key.view());
  const Principal& principal = *(*credential)->principal;
  EXPECT_EQ(principal.kind, PrincipalType::kIamUser);
  EXPECT_EQ(principal.type, "IAMUser");
  EXPECT_EQ(principal.arn, "arn:aws:iam::111122223333:user/alice");
  EXPECT_EQ(principal.user_name, "alice");
  EXPECT_EQ(principal.access_key_id, key->metadata.access_key_id);
}

TEST_F(IamServiceTest, SecretsAreDifferentForEachKey) {
  MakeUser("alice");
  auto first = service_->CreateAccessKey(root_, std::string("alice"));
  auto second = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->secret_access_key.view(), second->secret_access_key.view());
  EXPECT_NE(first->metadata.access_key_id, second->metadata.access_key_id);
}

TEST_F(IamServiceTest, AThirdAccessKeyIsLimitExceeded) {
  MakeUser("alice");
  ASSERT_TRUE(service_->CreateAccessKey(root_, std::string("alice")).ok());
  ASSERT_TRUE(service_->CreateAccessKey(root_, std::string("alice")).ok());
  auto third = service_->CreateAccessKey(root_, std::string("alice"));
  EXPECT_EQ(TypeOf(third.status()), ErrorType::kLimitExceeded);
  EXPECT_EQ(third.status().message(), "Cannot exceed quota for AccessKeysPerUser: 2");
}

TEST_F(IamServiceTest, CreateAccessKeyWithoutANameIsForTheCallingUser) {
  CallContext alice = MakeUserCall("alice", IdentityPolicy("Allow", "iam:*AccessKey*"));
  auto key = service_->CreateAccessKey(alice, std::nullopt);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->metadata.user_name, "alice");
}

TEST_F(IamServiceTest, TheRootsKeyIsListedButNotChangedThroughIam) {
  auto list = service_->ListAccessKeys(root_, std::nullopt, {});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->keys.size(), 1u);
  EXPECT_EQ(list->keys[0].access_key_id, kRootKeyId);
  EXPECT_EQ(TypeOf(service_->CreateAccessKey(root_, std::nullopt).status()),
            ErrorType::kValidation);
  EXPECT_EQ(TypeOf(service_->DeleteAccessKey(root_, std::nullopt, kRootKeyId)),
            ErrorType::kValidation);
}

TEST_F(IamServiceTest, ListAccessKeysShowsTheUsersKeysWithoutSecrets) {
  MakeUser("alice");
  MakeUser("bob");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(service_->CreateAccessKey(root_, std::string("bob")).ok());
  auto list = service_->ListAccessKeys(root_, std::string("alice"), {});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->keys.size(), 1u);
  EXPECT_EQ(list->keys[0].access_key_id, key->metadata.access_key_id);
  EXPECT_EQ(list->keys[0].user_name, "alice");
}

TEST_F(IamServiceTest, ADeactivatedKeyIsRefusedByFindAtOnce) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(service_
                  ->UpdateAccessKey(root_, std::string("alice"), key->metadata.access_key_id,
                                    AccessKeyStatus::kInactive)
                  .ok());
  EXPECT_EQ(TypeOf(service_->Find(key->metadata.access_key_id, "", now_).status()),
            ErrorType::kUnrecognizedClient);
  ASSERT_TRUE(service_
                  ->UpdateAccessKey(root_, std::string("alice"), key->metadata.access_key_id,
                                    AccessKeyStatus::kActive)
                  .ok());
  EXPECT_TRUE(service_->Find(key->metadata.access_key_id, "", now_).ok());
}

TEST_F(IamServiceTest, ADeletedKeyIsRefusedByFindAtOnce) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(
      service_->DeleteAccessKey(root_, std::string("alice"), key->metadata.access_key_id).ok());
  EXPECT_EQ(TypeOf(service_->Find(key->metadata.access_key_id, "", now_).status()),
            ErrorType::kUnrecognizedClient);
  EXPECT_TRUE(service_->DeleteUser(root_, "alice").ok());
}

TEST_F(IamServiceTest, AnotherUsersKeyIsNoSuchEntity) {
  MakeUser("alice");
  MakeUser("bob");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  absl::Status status =
      service_->DeleteAccessKey(root_, std::string("bob"), key->metadata.access_key_id);
  EXPECT_EQ(TypeOf(status), ErrorType::kNotFound);
  EXPECT_EQ(status.message(),
            StrCat("The Access Key with id ", key->metadata.access_key_id, " cannot be found."));
}

TEST_F(IamServiceTest, FindRefusesAnUnknownKey) {
  EXPECT_EQ(TypeOf(service_->Find("AKIAUNKNOWNUNKNOWN00", "", now_).status()),
            ErrorType::kUnrecognizedClient);
}

TEST_F(IamServiceTest, FindRefusesATokenWithALongTermKey) {
  EXPECT_EQ(TypeOf(service_->Find(kRootKeyId, "some-token", now_).status()),
            ErrorType::kInvalidClientTokenId);
}

TEST_F(IamServiceTest, FindAnswersForTheRoot) {
  auto root = service_->Find(kRootKeyId, "", now_);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE((*root)->principal->IsRoot());
  EXPECT_EQ((*root)->secret_access_key.view(), kRootSecret);
}

TEST_F(IamServiceTest, InlinePolicyLifecycle) {
  MakeUser("alice");
  IamEntity alice{IamEntityKind::kUser, "alice"};
  std::string document = IdentityPolicy("Allow", "kms:Encrypt");
  ASSERT_TRUE(service_->PutInlinePolicy(root_, alice, "Encrypt", document).ok());
  auto got = service_->GetInlinePolicy(root_, alice, "encrypt");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->entity_name, "alice");
  EXPECT_EQ(got->policy_name, "Encrypt");
  EXPECT_EQ(got->document, document);
  auto names = service_->ListInlinePolicies(root_, alice, {});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->policy_names, std::vector<std::string>{"Encrypt"});
  ASSERT_TRUE(service_->DeleteInlinePolicy(root_, alice, "Encrypt").ok());
  auto gone = service_->GetInlinePolicy(root_, alice, "Encrypt");
  EXPECT_EQ(TypeOf(gone.status()), ErrorType::kNotFound);
  EXPECT_EQ(gone.status().message(), "The user policy with name Encrypt cannot be found.");
}

TEST_F(IamServiceTest, AMalformedPolicyIsRefusedAndChangesNothing) {
  MakeUser("alice");
  IamEntity alice{IamEntityKind::kUser, "alice"};
  absl::Status status = service_->PutInlinePolicy(root_, alice, "p", R"({"Statement":[]})");
  EXPECT_EQ(TypeOf(status), ErrorType::kMalformedPolicyDocument);
  EXPECT_TRUE(service_->ListInlinePolicies(root_, alice, {})->policy_names.empty());
}

TEST_F(IamServiceTest, AnInlinePolicyWithAPrincipalIsMalformed) {
  MakeUser("alice");
  absl::Status status = service_->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p",
                                                  TrustPolicy("arn:aws:iam::111122223333:root"));
  EXPECT_EQ(TypeOf(status), ErrorType::kMalformedPolicyDocument);
}

TEST_F(IamServiceTest, AUsersInlinePoliciesTogetherStayWithin2048Characters) {
  MakeUser("alice");
  IamEntity alice{IamEntityKind::kUser, "alice"};
  // About 1100 characters each: one fits, two do not.
  std::string resource = StrCat("arn:aws:kms:us-east-1:111122223333:key/", std::string(1000, 'a'));
  std::string document = IdentityPolicy("Allow", "kms:Encrypt", resource);
  ASSERT_TRUE(service_->PutInlinePolicy(root_, alice, "one", document).ok());
  absl::Status status = service_->PutInlinePolicy(root_, alice, "two", document);
  EXPECT_EQ(TypeOf(status), ErrorType::kLimitExceeded);
  EXPECT_EQ(status.message(), "Maximum policy size of 2048 bytes exceeded for user alice");
  // Replacing the one that is there is measured without its old version.
  EXPECT_TRUE(service_->PutInlinePolicy(root_, alice, "ONE", document).ok());
}

TEST_F(IamServiceTest, WhiteSpaceDoesNotCountTowardsThePolicyQuota) {
  MakeUser("alice");
  std::string document = IdentityPolicy("Allow", "kms:Encrypt");
  document.insert(1, std::string(5000, ' '));
  EXPECT_TRUE(
      service_->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p", document).ok());
}

TEST_F(IamServiceTest, APutPolicyBindsTheUsersKeysFromTheNextFind) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  auto before = service_->Find(key->metadata.access_key_id, "", now_);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE((*before)->principal->identity_policies.empty());
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p",
                                    IdentityPolicy("Allow", "kms:Encrypt"))
                  .ok());
  auto after = service_->Find(key->metadata.access_key_id, "", now_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->principal->identity_policies.size(), 1u);
  EXPECT_EQ((*after)->secret_access_key.view(), key->secret_access_key.view());
}

TEST_F(IamServiceTest, AUserWithoutPermissionIsDeniedInAwsWords) {
  CallContext alice = MakeUserCall("alice");
  CreateUserRequest request;
  request.user_name = "bob";
  auto denied = service_->CreateUser(alice, request);
  EXPECT_EQ(TypeOf(denied.status()), ErrorType::kAccessDenied);
  EXPECT_EQ(denied.status().message(),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "
            "iam:CreateUser on resource: arn:aws:iam::111122223333:user/bob because no "
            "identity-based policy allows the iam:CreateUser action");
}

TEST_F(IamServiceTest, AnAdminUserMayManageUsers) {
  CallContext admin = MakeUserCall("admin", IdentityPolicy("Allow", "iam:*"));
  CreateUserRequest request;
  request.user_name = "bob";
  EXPECT_TRUE(service_->CreateUser(admin, request).ok());
  EXPECT_TRUE(service_->CreateAccessKey(admin, std::string("bob")).ok());
  EXPECT_TRUE(service_->ListUsers(admin, {}).ok());
}

TEST_F(IamServiceTest, AuthorizationNamesTheUsersArnWithItsPath) {
  MakeUser("bob", "/ops/");
  CallContext alice = MakeUserCall(
      "alice", IdentityPolicy("Allow", "iam:GetUser", "arn:aws:iam::111122223333:user/ops/*"));
  EXPECT_TRUE(service_->GetUser(alice, std::string("bob")).ok());
  MakeUser("carol", "/dev/");
  EXPECT_EQ(TypeOf(service_->GetUser(alice, std::string("carol")).status()),
            ErrorType::kAccessDenied);
}

TEST_F(IamServiceTest, AnExplicitDenyWins) {
  std::string policy = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"iam:*","Resource":"*"},
      {"Effect":"Deny","Action":"iam:DeleteUser","Resource":"*"}]})";
  CallContext admin = MakeUserCall("admin", policy);
  MakeUser("bob");
  absl::Status status = service_->DeleteUser(admin, "bob");
  EXPECT_EQ(TypeOf(status), ErrorType::kAccessDenied);
  EXPECT_NE(status.message().find("explicit deny in an identity-based policy"),
            absl::string_view::npos);
}

TEST_F(IamServiceTest, AMissingUserIsDeniedBeforeItIsNotFound) {
  CallContext alice = MakeUserCall("alice");
  EXPECT_EQ(TypeOf(service_->GetUser(alice, std::string("nobody")).status()),
            ErrorType::kAccessDenied);
}

TEST_F(IamServiceTest, EverythingSurvivesARestart) {
  MakeUser("alice", "/ops/");
  ASSERT_TRUE(service_
                  ->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p",
                                    IdentityPolicy("Allow", "kms:Encrypt"))
                  .ok());
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  auto inactive = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(service_
                  ->UpdateAccessKey(root_, std::string("alice"), inactive->metadata.access_key_id,
                                    AccessKeyStatus::kInactive)
                  .ok());
  MakeRole("app", TrustPolicy("arn:aws:iam::111122223333:root"));
  Reopen();

  auto user = service_->GetUser(root_, std::string("alice"));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->arn, "arn:aws:iam::111122223333:user/ops/alice");
  auto credential = service_->Find(key->metadata.access_key_id, "", now_);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ((*credential)->secret_access_key.view(), key->secret_access_key.view());
  EXPECT_EQ((*credential)->principal->identity_policies.size(), 1u);
  EXPECT_EQ(TypeOf(service_->Find(inactive->metadata.access_key_id, "", now_).status()),
            ErrorType::kUnrecognizedClient);
  auto role = service_->GetRole(root_, "app");
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->arn, RoleArnOf("app"));
}

TEST_F(IamServiceTest, SecretsAreNeverStoredInTheClear) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  ASSERT_TRUE(key.ok());
  auto everything = backend_->List("", "", 0);
  ASSERT_TRUE(everything.ok());
  for (const StorageEntry& entry : *everything) {
    EXPECT_EQ(entry.value.find(key->secret_access_key.view()), std::string::npos) << entry.key;
  }
}

TEST_F(IamServiceTest, FindIsSafeWhilePoliciesChange) {
  MakeUser("alice");
  auto key = service_->CreateAccessKey(root_, std::string("alice"));
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    while (!stop) {
      if (!service_->Find(key->metadata.access_key_id, "", now_).ok()) ++failures;
    }
  });
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        service_
            ->PutInlinePolicy(root_, {IamEntityKind::kUser, "alice"}, "p",
                              IdentityPolicy("Allow", StrCat("kms:Encrypt", i % 2 ? "" : "*")))
            .ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace kmsd::testing
