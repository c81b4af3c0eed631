// The identity service over a real keystore (memory backend, file seal in a temp dir) with a
// clock the test moves, and the callers tests act as: the root, users with access keys, and
// sessions. Shared by the service's tests and the IAM/STS codec tests.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/iam.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "unit/keystore_fixture.h"

namespace kmsd::testing {

inline constexpr char kAccountId[] = "111122223333";
inline constexpr char kRootKeyId[] = "AKIAROOTROOTROOTROOT";
inline constexpr char kRootSecret[] = "root-secret-root-secret-root-secret-0000";

// A trust policy that lets `principal_arn` assume the role, with optional extra JSON members of
// the statement (e.g. a Condition).
inline std::string TrustPolicy(std::string_view principal_arn, std::string_view extra = "") {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":")",
                principal_arn, R"("},"Action":"sts:AssumeRole")", extra, "}]}");
}

// An identity policy with one statement.
inline std::string IdentityPolicy(std::string_view effect, std::string_view action,
                                  std::string_view resource = "*") {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":")", effect, R"(","Action":")",
                action, R"(","Resource":")", resource, R"("}]})");
}

class IamFixture : public KeystoreFixture {
 protected:
  void SetUp() override {
    KeystoreFixture::SetUp();
    if (HasFatalFailure()) return;
    Reopen();
  }

  // A new service over the same keystore, as after a restart.
  void Reopen() {
    service_.reset();
    IamOptions options;
    options.account_id = kAccountId;
    options.root_access_key_id = kRootKeyId;
    options.root_secret_access_key = SecretBytes::FromString(kRootSecret);
    auto service =
        OpenIamService(std::move(options), keystore_.get(), std::make_unique<FixedClock>(&now_));
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  // The call of whoever holds this credential.
  CallContext CallAs(std::string_view access_key_id, std::string_view token = "") {
    auto credential = service_->Find(access_key_id, token, now_.load());
    EXPECT_TRUE(credential.ok()) << credential.status();
    if (!credential.ok()) return root_;
    return CallContext{(*credential)->principal, "request-1"};
  }

  IamUser MakeUser(std::string_view name, std::string_view path = "/") {
    CreateUserRequest request;
    request.user_name = std::string(name);
    request.path = std::string(path);
    auto user = service_->CreateUser(root_, request);
    EXPECT_TRUE(user.ok()) << user.status();
    return user.ok() ? *user : IamUser{};
  }

  // A user with an access key and the given inline policy (none when empty); returns its call.
  CallContext MakeUserCall(std::string_view name, std::string_view policy = "") {
    MakeUser(name);
    if (!policy.empty()) {
      EXPECT_TRUE(service_
                      ->PutInlinePolicy(root_, {IamEntityKind::kUser, std::string(name)}, "policy",
                                        std::string(policy))
                      .ok());
    }
    auto key = service_->CreateAccessKey(root_, std::string(name));
    EXPECT_TRUE(key.ok()) << key.status();
    return CallAs(key->metadata.access_key_id);
  }

  IamRole MakeRole(std::string_view name, std::string_view trust,
                   int64_t max_session_duration = 3600) {
    CreateRoleRequest request;
    request.role_name = std::string(name);
    request.assume_role_policy_document = std::string(trust);
    request.max_session_duration = max_session_duration;
    auto role = service_->CreateRole(root_, request);
    EXPECT_TRUE(role.ok()) << role.status();
    return role.ok() ? *role : IamRole{};
  }

  std::string RoleArnOf(std::string_view name) {
    return StrCat("arn:aws:iam::", kAccountId, ":role/", name);
  }

  std::unique_ptr<IamService> service_;
  CallContext root_{std::make_shared<const Principal>(RootPrincipal(kAccountId, kRootKeyId)),
                    "request-1"};
};

}  // namespace kmsd::testing
