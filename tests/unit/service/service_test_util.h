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
#include "unit/policy/policy_test_util.h"

namespace kmsd::testing {

inline constexpr int64_t kDay = 86400;
inline constexpr char kAccount[] = "111122223333";

class FixedClock : public Clock {
 public:
  explicit FixedClock(std::atomic<int64_t>* now = nullptr) : now_(now) {}
  int64_t NowSeconds() const override { return now_ ? now_->load() : 1'700'000'000; }

 private:
  std::atomic<int64_t>* now_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           StrCat("kmsd-service-test-", ::testing::UnitTest::GetInstance()->random_seed(), "-",
                  reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    backend_ = NewMemoryBackend();
    auto seal = OpenFileSeal((dir_ / "root.key").string());
    ASSERT_TRUE(seal.ok()) << seal.status();
    seal_ = std::move(*seal);
    auto keystore = OpenKeystore(backend_.get(), seal_.get());
    ASSERT_TRUE(keystore.ok()) << keystore.status();
    keystore_ = std::move(*keystore);
    service_ = NewKmsService({}, keystore_.get(), std::make_unique<FixedClock>(&now_));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

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

  std::filesystem::path dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Seal> seal_;
  std::unique_ptr<Keystore> keystore_;
  std::unique_ptr<KmsService> service_;
  CallContext call_{std::make_shared<const Principal>(RootPrincipal(kAccount, "AKIAROOT"))};
  std::atomic<int64_t> now_{1'700'000'000};
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
