// Shared by the service tests: the service over a real keystore (memory backend, file seal in a
// temp dir) with a clock the test moves, and calls made as the root, an IAM user or a role session.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/keystore.h"
#include "kmsd/policy.h"
#include "kmsd/seal.h"
#include "kmsd/service.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "unit/keystore_fixture.h"
#include "unit/policy/policy_test_util.h"

namespace kmsd::testing {

inline constexpr int64_t kDay = 86400;
inline constexpr char kAccount[] = "111122223333";

class ServiceTest : public KeystoreFixture {
 protected:
  void SetUp() override {
    KeystoreFixture::SetUp();
    if (HasFatalFailure()) return;
    service_ = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  }
  // A new key made by the root, with the default key policy or the one given.
  std::string NewKey(std::optional<std::string> policy = std::nullopt) {
    CreateKeyRequest request;
    request.policy = std::move(policy);
    auto key = service_->CreateKey(call_, request);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? key->key_id : "";
  }

  static std::string KeyArn(const std::string& key_id) {
    return StrCat("arn:aws:kms:us-east-1:", kAccount, ":key/", key_id);
  }

  std::unique_ptr<KmsService> service_;
  CallContext call_{std::make_shared<const Principal>(RootPrincipal(kAccount, "AKIAROOT"))};
};

// A compiled identity policy, for Principal::identity_policies.
inline policy::PolicyPtr IdentityPolicy(const std::string& document) {
  auto parsed = policy::Parse(document, policy::PolicyKind::kIdentity);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : nullptr;
}

// A call by an IAM user of the account with these identity policies.
inline CallContext AsUser(const std::string& name, const std::vector<std::string>& policies = {}) {
  auto user = policy::testing::User(name, kAccount);
  for (const std::string& document : policies) {
    user->identity_policies.push_back(IdentityPolicy(document));
  }
  return CallContext{std::move(user)};
}

// A call by a session of a role of the account, with the role's identity policies.
inline CallContext AsSession(const std::string& role, const std::string& session,
                             const std::vector<std::string>& policies = {}) {
  auto caller = policy::testing::Session(role, session, kAccount);
  for (const std::string& document : policies) {
    caller->identity_policies.push_back(IdentityPolicy(document));
  }
  return CallContext{std::move(caller)};
}

inline std::string UserArn(const std::string& name) {
  return StrCat("arn:aws:iam::", kAccount, ":user/", name);
}
inline std::string RoleArn(const std::string& name) {
  return StrCat("arn:aws:iam::", kAccount, ":role/", name);
}

// AWS's AccessDenied message, and its reasons.
inline std::string Denial(const std::string& caller_arn, const std::string& action,
                          const std::string& resource, const std::string& reason) {
  return StrCat("User: ", caller_arn, " is not authorized to perform: ", action,
                " on resource: ", resource, " ", reason);
}
inline std::string NoIdentityPolicyAllows(const std::string& action) {
  return StrCat("because no identity-based policy allows the ", action, " action");
}
inline std::string NoResourcePolicyAllows(const std::string& action) {
  return StrCat("because no resource-based policy allows the ", action, " action");
}
inline constexpr char kResourcePolicyDenies[] = "with an explicit deny in a resource-based policy";
inline constexpr char kIdentityPolicyDenies[] = "with an explicit deny in an identity-based policy";

// An identity policy allowing actions (a JSON array or string) on a resource.
inline std::string Allow(const std::string& actions, const std::string& resource) {
  return StrCat(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":)", actions,
                R"(,"Resource":")", resource, R"("}]})");
}

}  // namespace kmsd::testing
