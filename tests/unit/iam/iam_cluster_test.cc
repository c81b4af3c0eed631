// Several identity service instances ("nodes") over one shared store: credentials made or removed
// on one node are honoured on the others, races on names and quotas have AWS's one answer, and a
// stale feed makes a node read credentials from storage (failing closed when it cannot).
#include <gtest/gtest.h>

#include "kmsd/errors.h"
#include "kmsd/iam.h"
#include "unit/cluster_fixture.h"
#include "unit/iam/iam_test_util.h"

namespace kmsd {
namespace {

using testing::FixedClock;
using testing::kAccountId;
using testing::kRootKeyId;
using testing::kRootSecret;

class IamClusterTest : public testing::ClusterFixture {
 protected:
  void SetUp() override {
    ClusterFixture::SetUp();
    for (int i = 0; i < 2; ++i) AddNode();
  }

  void AddNode() {
    testing::ClusterFixture::NodeParts& parts = OpenParts();
    IamOptions options;
    options.account_id = kAccountId;
    options.root_access_key_id = kRootKeyId;
    options.root_secret_access_key = SecretBytes::FromString(kRootSecret);
    options.backend = parts.backend.get();
    auto service = OpenIamService(std::move(options), parts.keystore.get(),
                                  std::make_unique<FixedClock>(&now_));
    ASSERT_TRUE(service.ok()) << service.status();
    nodes_.push_back(std::move(*service));
  }

  IamService& A() { return *nodes_[0]; }
  IamService& B() { return *nodes_[1]; }

  void MakeUser(IamService& node, const std::string& name) {
    auto user = node.CreateUser(root_, {.user_name = name});
    ASSERT_TRUE(user.ok()) << user.status();
  }

  std::string MakeKey(IamService& node, const std::string& user) {
    auto key = node.CreateAccessKey(root_, user);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? key->metadata.access_key_id : "";
  }

  absl::Status FindOn(IamService& node, const std::string& access_key_id) {
    return node.Find(access_key_id, "", now_.load()).status();
  }

  std::vector<std::unique_ptr<IamService>> nodes_;
  CallContext root_{std::make_shared<const Principal>(RootPrincipal(kAccountId, kRootKeyId)),
                    "request-1"};
};

TEST_F(IamClusterTest, AccessKeyCreatedOnOneNodeAuthenticatesOnAnotherAtOnce) {
  store_.HoldFeed(true);  // B hears nothing: it must look in storage
  MakeUser(A(), "alice");
  std::string key_id = MakeKey(A(), "alice");
  auto found = B().Find(key_id, "", now_.load());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ((*found)->principal->user_name, "alice");
  store_.HoldFeed(false);
  ASSERT_TRUE(Delivered());
  EXPECT_TRUE(FindOn(B(), key_id).ok());
  auto user = B().GetUser(root_, std::string("alice"));
  ASSERT_TRUE(user.ok()) << user.status();
}

TEST_F(IamClusterTest, AccessKeyDeletedOrDeactivatedOnOneNodeIsRefusedOnTheOther) {
  MakeUser(A(), "bob");
  std::string deleted = MakeKey(A(), "bob");
  std::string deactivated = MakeKey(A(), "bob");
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(FindOn(B(), deleted).ok());
  ASSERT_TRUE(FindOn(B(), deactivated).ok());
  ASSERT_TRUE(A().DeleteAccessKey(root_, std::string("bob"), deleted).ok());
  ASSERT_TRUE(
      A().UpdateAccessKey(root_, std::string("bob"), deactivated, AccessKeyStatus::kInactive).ok());
  ASSERT_TRUE(Delivered());
  EXPECT_EQ(TypeOf(FindOn(B(), deleted)), ErrorType::kUnrecognizedClient);
  EXPECT_EQ(TypeOf(FindOn(B(), deactivated)), ErrorType::kUnrecognizedClient);
}

TEST_F(IamClusterTest, InlinePolicyPutOnOneNodeBindsTheUsersKeyOnTheOther) {
  MakeUser(A(), "carol");
  std::string key_id = MakeKey(A(), "carol");
  ASSERT_TRUE(Delivered());
  auto before = B().Find(key_id, "", now_.load());
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE((*before)->principal->identity_policies.empty());
  ASSERT_TRUE(A().PutInlinePolicy(root_, {IamEntityKind::kUser, "carol"}, "p",
                                  testing::IdentityPolicy("Allow", "kms:*"))
                  .ok());
  ASSERT_TRUE(Delivered());
  auto after = B().Find(key_id, "", now_.load());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->principal->identity_policies.size(), 1u);
}

TEST_F(IamClusterTest, UserCreatedOnTwoNodesAtOnceHasOneWinner) {
  absl::Status b_status;
  store_.BeforeNextCommit(
      0, [&] { b_status = B().CreateUser(root_, {.user_name = "Dave"}).status(); });
  auto a_user = A().CreateUser(root_, {.user_name = "dave"});  // IAM names ignore case
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(TypeOf(a_user.status()), ErrorType::kAlreadyExists) << a_user.status();
}

TEST_F(IamClusterTest, AccessKeysCreatedOnTwoNodesAtOnceKeepTheQuota) {
  MakeUser(A(), "erin");
  MakeKey(A(), "erin");  // one of two
  absl::Status b_status;
  store_.BeforeNextCommit(
      0, [&] { b_status = B().CreateAccessKey(root_, std::string("erin")).status(); });
  auto a_key = A().CreateAccessKey(root_, std::string("erin"));
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(TypeOf(a_key.status()), ErrorType::kLimitExceeded) << a_key.status();
  ASSERT_TRUE(Delivered());
  auto listed = A().ListAccessKeys(root_, std::string("erin"), {});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->keys.size(), 2u);
}

TEST_F(IamClusterTest, UserDeletedWhileAnotherNodeAddsAKeyIsRefused) {
  MakeUser(A(), "frank");
  ASSERT_TRUE(Delivered());
  store_.BeforeNextCommit(0, [&] { MakeKey(B(), "frank"); });
  EXPECT_EQ(TypeOf(A().DeleteUser(root_, "frank")), ErrorType::kDeleteConflict);
  ASSERT_TRUE(Delivered());
  EXPECT_TRUE(A().GetUser(root_, std::string("frank")).ok());
}

TEST_F(IamClusterTest, SessionIssuedOnOneNodeIsHonouredOnAnother) {
  MakeUser(A(), "gina");
  std::string key_id = MakeKey(A(), "gina");
  ASSERT_TRUE(A().CreateRole(root_, {.role_name = "reader",
                                     .assume_role_policy_document = testing::TrustPolicy(
                                         StrCat("arn:aws:iam::", kAccountId, ":user/gina"))})
                  .ok());
  auto gina = A().Find(key_id, "", now_.load());
  ASSERT_TRUE(gina.ok());
  auto session = A().AssumeRole(CallContext{(*gina)->principal, "request-2"},
                                {.role_arn = StrCat("arn:aws:iam::", kAccountId, ":role/reader"),
                                 .role_session_name = "session-1"});
  ASSERT_TRUE(session.ok()) << session.status();
  auto on_b = B().Find(session->access_key_id, session->session_token, now_.load());
  ASSERT_TRUE(on_b.ok()) << on_b.status();
  EXPECT_EQ((*on_b)->principal->role_name, "reader");
  ASSERT_TRUE(A().DeleteRole(root_, "reader").ok());
  ASSERT_TRUE(Delivered());
  EXPECT_FALSE(B().Find(session->access_key_id, session->session_token, now_.load()).ok());
}

TEST_F(IamClusterTest, StaleFeedReadsCredentialsFromStorageAndFailsClosed) {
  MakeUser(A(), "hank");
  std::string key_id = MakeKey(A(), "hank");
  ASSERT_TRUE(Delivered());
  ASSERT_TRUE(FindOn(B(), key_id).ok());
  store_.DeclareStale(1);
  ASSERT_TRUE(Delivered());
  store_.HoldFeed(true);  // the deletion's event is lost to B
  ASSERT_TRUE(A().DeleteAccessKey(root_, std::string("hank"), key_id).ok());
  EXPECT_EQ(TypeOf(FindOn(B(), key_id)), ErrorType::kUnrecognizedClient);
  std::string second = MakeKey(A(), "hank");
  EXPECT_TRUE(FindOn(B(), second).ok());
  store_.SetUnreachable(true);
  EXPECT_EQ(TypeOf(FindOn(B(), second)), ErrorType::kDependencyTimeout);
  EXPECT_TRUE(FindOn(A(), second).ok());  // A's feed is current: its index serves
  store_.SetUnreachable(false);
  store_.HoldFeed(false);
  store_.DeclareCurrent(1);
  ASSERT_TRUE(Delivered());
  EXPECT_TRUE(FindOn(B(), second).ok());
  EXPECT_EQ(TypeOf(FindOn(B(), key_id)), ErrorType::kUnrecognizedClient);
  store_.SetUnreachable(true);
  EXPECT_TRUE(FindOn(B(), second).ok());  // current again: from memory
  store_.SetUnreachable(false);
}

TEST_F(IamClusterTest, EveryNodeSharesOneSessionKeyAndAccount) {
  // The third node opens after the first two created both records: it reads theirs.
  AddNode();
  auto a = A().GetUser(root_, std::nullopt);
  auto c = nodes_[2]->GetUser(root_, std::nullopt);
  ASSERT_TRUE(a.ok() && c.ok());
  EXPECT_EQ(a->create_date, c->create_date);
}

}  // namespace
}  // namespace kmsd
