// The identity service's insides, shared by its files: iam_service.cc (opening, loading, the
// helpers), users.cc (users and access keys), roles.cc, inline_policies.cc, sts.cc and
// credentials.cc (Find).
//
// Concurrency, as in the KMS service: published entries are immutable and shared
// (shared_ptr<const ...>); readers copy a pointer under index_mutex_ (shared) and work without
// locks. Mutations are serialized by write_mutex_: read the current entries, build changed
// copies, commit them to the keystore, then publish them under index_mutex_ (exclusive). A
// writer holding write_mutex_ may read the maps without index_mutex_, since only writers change
// them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/iam.h"
#include "kmsd/policy.h"

namespace kmsd::iam {

// The service model's bound on a policy document (policyDocumentType); the quotas on what counts
// (kMax...PolicyCharacters) are checked after parsing.
inline constexpr size_t kMaxPolicyDocumentLength = 131072;

struct PolicyEntry {
  std::string name;  // as given
  std::string document;
  policy::PolicyPtr compiled;
};
using PolicyMap = std::map<std::string, PolicyEntry>;  // by lower-cased name

struct UserEntry {
  IamUser user;
  PolicyMap policies;
  std::vector<std::string> access_key_ids;  // sorted
};
using UserPtr = std::shared_ptr<const UserEntry>;

struct RoleEntry {
  IamRole role;
  policy::PolicyPtr trust;
  PolicyMap policies;
};
using RolePtr = std::shared_ptr<const RoleEntry>;

struct AccessKeyEntry {
  std::string user_key;  // the user's lower-cased name
  AccessKeyMetadata metadata;
  // Built whatever the status (so that reactivating needs no storage); Find refuses inactive keys.
  std::shared_ptr<const Credential> credential;
};
using AccessKeyPtr = std::shared_ptr<const AccessKeyEntry>;

// The user or the role that owns inline policies (one of the two is set).
struct PolicyOwner {
  UserPtr user;
  RolePtr role;
  const PolicyMap& policies() const { return user ? user->policies : role->policies; }
  const std::string& name() const { return user ? user->user.user_name : role->role.role_name; }
};

// A session seen before: its token, and the credential built for it from the role as it was.
struct SessionEntry {
  std::string token;
  RolePtr role;
  int64_t expiration = 0;
  std::shared_ptr<const Credential> credential;
};

// Lets the maps that Find reads be searched with the string_view a request carries, without
// building a std::string per request.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

class IamServiceImpl final : public IamService {
 public:
  IamServiceImpl(IamOptions options, Keystore* keystore, std::unique_ptr<Clock> clock);

  // Loads every record (called once, by OpenIamService).
  absl::Status Load();

  // CredentialStore (credentials.cc).
  absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view access_key_id,
                                                         std::string_view session_token,
                                                         int64_t now_seconds) const override;

  // Users and access keys (users.cc).
  absl::StatusOr<IamUser> CreateUser(const CallContext& call,
                                     const CreateUserRequest& request) override;
  absl::StatusOr<IamUser> GetUser(const CallContext& call,
                                  const std::optional<std::string>& user_name) override;
  absl::StatusOr<UserList> ListUsers(const CallContext& call, const PageRequest& page) override;
  absl::Status DeleteUser(const CallContext& call, const std::string& user_name) override;
  absl::StatusOr<CreatedAccessKey> CreateAccessKey(
      const CallContext& call, const std::optional<std::string>& user_name) override;
  absl::StatusOr<AccessKeyList> ListAccessKeys(const CallContext& call,
                                               const std::optional<std::string>& user_name,
                                               const PageRequest& page) override;
  absl::Status UpdateAccessKey(const CallContext& call, const std::optional<std::string>& user_name,
                               const std::string& access_key_id, AccessKeyStatus status) override;
  absl::Status DeleteAccessKey(const CallContext& call, const std::optional<std::string>& user_name,
                               const std::string& access_key_id) override;

  // Roles (roles.cc).
  absl::StatusOr<IamRole> CreateRole(const CallContext& call,
                                     const CreateRoleRequest& request) override;
  absl::StatusOr<IamRole> GetRole(const CallContext& call, const std::string& role_name) override;
  absl::StatusOr<RoleList> ListRoles(const CallContext& call, const PageRequest& page) override;
  absl::Status DeleteRole(const CallContext& call, const std::string& role_name) override;
  absl::Status UpdateAssumeRolePolicy(const CallContext& call, const std::string& role_name,
                                      const std::string& document) override;

  // Inline policies (inline_policies.cc).
  absl::Status PutInlinePolicy(const CallContext& call, const IamEntity& entity,
                               const std::string& policy_name,
                               const std::string& document) override;
  absl::StatusOr<InlinePolicy> GetInlinePolicy(const CallContext& call, const IamEntity& entity,
                                               const std::string& policy_name) override;
  absl::StatusOr<PolicyNameList> ListInlinePolicies(const CallContext& call,
                                                    const IamEntity& entity,
                                                    const PageRequest& page) override;
  absl::Status DeleteInlinePolicy(const CallContext& call, const IamEntity& entity,
                                  const std::string& policy_name) override;

  bool PrincipalExists(std::string_view arn) const override;  // roles.cc

  // STS (sts.cc).
  CallerIdentity GetCallerIdentity(const CallContext& call) const override;
  absl::StatusOr<SessionCredentials> AssumeRole(const CallContext& call,
                                                const AssumeRoleRequest& request) override;

 private:
  // Helpers (iam_service.cc).

  // The request context of an action by the call's caller, with the global condition keys.
  policy::RequestContext ContextFor(const CallContext& call, std::string_view action,
                                    std::string_view resource) const;
  // Allows the call if the caller's identity policies allow action on resource (the root always).
  absl::Status Authorize(const CallContext& call, std::string_view action,
                         std::string_view resource) const;
  // The user or role named (any case), or kNotFound in AWS's words. Writers call these holding
  // write_mutex_; readers take index_mutex_ inside.
  absl::StatusOr<UserPtr> FindUser(std::string_view user_name) const;
  absl::StatusOr<RolePtr> FindRole(std::string_view role_name) const;
  // The ARN an action on the user or role addresses: the entity's own when it exists, else the
  // one it would have at the root path (what AWS names in a denial for a missing entity).
  std::string UserResource(std::string_view user_name) const;
  std::string RoleResource(std::string_view role_name) const;
  // "arn:aws:iam::ACCOUNT:user/" + path prefix: what ListUsers and ListRoles address.
  std::string ListResource(std::string_view kind, std::string_view path_prefix) const;

  // Principals and credentials built from the entries, with their compiled inline policies.
  std::shared_ptr<const Credential> UserCredential(const UserEntry& user,
                                                   const AccessKeyMetadata& key,
                                                   const SecretBytes& secret) const;
  std::shared_ptr<const Credential> SessionCredential(const RoleEntry& role,
                                                      std::string_view access_key_id,
                                                      const SecretBytes& secret,
                                                      std::string_view session_name,
                                                      int64_t created, int64_t expiration) const;

  // Publishing (under index_mutex_, exclusive; the caller holds write_mutex_). A user's access
  // keys are rebuilt with it, so that their principal carries the user's current policies;
  // `added` (built from `user` already) joins them, `removed` leaves.
  void PublishUser(UserPtr user, AccessKeyPtr added = nullptr, std::string_view removed = {});
  void PublishRole(RolePtr role);

  // Roles (roles.cc): AWS refuses a trust policy that names a user or role of the account that
  // does not exist (kMalformedPolicyDocument, "Invalid principal in policy").
  absl::Status CheckTrustPrincipals(const policy::Policy& trust) const;

  // Users (users.cc): the user a call's optional UserName means (the calling user when absent).
  absl::StatusOr<std::string> TargetUserName(const CallContext& call,
                                             const std::optional<std::string>& user_name) const;
  // The user whose access key a call changes, authorized for action; the root's own key is
  // refused (it is kmsd's configuration), any other key of "the root" is not found.
  absl::StatusOr<std::string> KeyOwnerName(const CallContext& call,
                                           const std::optional<std::string>& user_name,
                                           std::string_view access_key_id,
                                           std::string_view action) const;
  absl::StatusOr<AccessKeyPtr> FindUsersAccessKey(const UserEntry& user,
                                                  std::string_view access_key_id) const;

  // Inline policies (inline_policies.cc).
  absl::StatusOr<PolicyOwner> FindPolicyOwner(const IamEntity& entity) const;
  // Allows iam:<verb>UserPolicy (or RolePolicy, or <verb>UserPolicies with noun "Policies") on
  // the entity's ARN.
  absl::Status AuthorizePolicyAction(const CallContext& call, const IamEntity& entity,
                                     std::string_view verb, std::string_view noun) const;
  // Publishes the owner with its policies changed.
  void PublishPolicies(const PolicyOwner& owner, PolicyMap policies);

  // Sessions (credentials.cc).
  absl::StatusOr<std::shared_ptr<const Credential>> FindSession(std::string_view access_key_id,
                                                                std::string_view session_token,
                                                                int64_t now_seconds) const;

  const IamOptions options_;
  Keystore* const keystore_;
  const std::unique_ptr<Clock> clock_;
  std::shared_ptr<const Credential> root_credential_;
  int64_t account_create_date_ = 0;
  SecretBytes session_key_;  // set by Load, then read-only

  std::mutex write_mutex_;
  mutable std::shared_mutex index_mutex_;
  std::map<std::string, UserPtr> users_;  // by lower-cased name
  std::map<std::string, RolePtr> roles_;  // by lower-cased name
  StringMap<AccessKeyPtr> access_keys_;

  // Sessions are not stored; this only saves opening a token on every request. Bounded.
  mutable std::shared_mutex sessions_mutex_;
  mutable StringMap<std::shared_ptr<const SessionEntry>> sessions_;
};

// A new user's or role's name and path, defensively (the codec checks the model's patterns), and
// tags: at most one per key regardless of case, none in the aws: namespace.
absl::Status ValidateNewEntity(std::string_view name, std::string_view path,
                               const std::vector<Tag>& tags);

// What IAM's policy quotas count: the characters of a document that are not white space.
size_t PolicyCharacters(std::string_view document);

// A role's trust policy, parsed (kMalformedPolicyDocument) and within its quota (kLimitExceeded).
absl::StatusOr<policy::PolicyPtr> ParseTrustPolicy(std::string_view document);

// Paging over a sorted map: up to max_items entries that pass `keep`, starting at the marker (the
// key of the first entry of the page, as the previous page returned it).
template <typename Map, typename Keep, typename Add>
Page PageOf(const Map& map, const PageRequest& page, Keep keep, Add add) {
  Page result;
  size_t taken = 0;
  for (auto it = page.marker.empty() ? map.begin() : map.lower_bound(page.marker); it != map.end();
       ++it) {
    if (!keep(it->second)) continue;
    if (taken == page.max_items) {
      result.next_marker = it->first;
      break;
    }
    add(it->second);
    ++taken;
  }
  return result;
}

// AWS's AccessDenied wording when no policy decides (missing entities are denied, not revealed).
std::string NotAuthorizedMessage(const Principal& caller, std::string_view action,
                                 std::string_view resource);

}  // namespace kmsd::iam
