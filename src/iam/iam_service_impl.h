// The identity service's insides, shared by its files: iam_service.cc (opening, loading, the
// helpers), users.cc (users and access keys), roles.cc, inline_policies.cc, sts.cc and
// credentials.cc (Find).
//
// Concurrency, as in the KMS service: published entries are immutable and shared
// (shared_ptr<const ...>); readers copy a pointer under index_mutex_ (shared) and work without
// locks. Mutations are serialized by write_mutex_: read the current entries, build changed
// copies, commit them to the keystore, then publish them under index_mutex_ (exclusive). Every
// access to the maps takes index_mutex_: on a shared store a reload (LoadIndex, from any
// thread) replaces them.
//
// Several nodes on one store (IamOptions::backend Shared()): write_mutex_ serializes this node's
// writers only, so every write is also conditional (KeystoreBatch::expect): a new user or role on
// its record's absence, and anything that counts what an identity has (access keys, inline
// policies) on the owner's record, which each such write rewrites ("touches"), with the counts
// read from storage. A conflict is retried (RetryConflicts). The watch marks the index for a
// reload (IAM changes are rare; the index is small), which the next call does first; an access
// key the index does not know is looked for in storage, and while the feed is stale every
// credential comes from storage.
#pragma once

#include <atomic>
#include <functional>
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
#include "kmsd/retry_conflicts.h"

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

  // Loads every record (called once, by OpenIamService), and starts watching a shared store.
  absl::Status Load();

  // What the shared store's watch reports (IamWatcher forwards here). Quick: they only mark.
  void OnStoredChange(std::string_view record_id);
  void OnFeedStale();
  void OnFeedCurrent();

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
  // Put and Delete: edit changes the owner's policies (as stored) and adds its record to the
  // batch, committed with the owner's record touched and expected unchanged; then published.
  absl::Status ChangeInlinePolicies(
      const IamEntity& entity,
      const std::function<absl::Status(const PolicyOwner&, PolicyMap&, KeystoreBatch&)>& edit);
  // Publishes the owner with its policies changed.
  void PublishPolicies(const PolicyOwner& owner, PolicyMap policies);

  // Several nodes (iam_service.cc): reads the index again when the watch marked it (every time
  // while the feed is stale). Every call but Find's fast path starts with it.
  absl::Status EnsureCurrent() const;
  // On a shared store, when the record exists in storage (created on another node and not
  // reported yet): reads the index again and answers true.
  bool RefreshIfStored(const std::string& record_id) const;
  // Reads every user, role, policy and access key into fresh maps and publishes them.
  absl::Status LoadIndex();
  // A record created once by whichever node gets there first: creates it with `fresh` if absent,
  // and answers what is stored.
  absl::StatusOr<SecretBytes> CreateOnce(std::string_view id, std::string_view fresh);
  // The record of the user or role named (NotFound in AWS's words when absent), with its version.
  absl::StatusOr<VersionedRecord> ReadOwner(IamEntityKind kind, std::string_view name) const;
  // How many access keys the user (lower-cased name) has: from storage on a shared store (the
  // index may lag), else from the index.
  absl::StatusOr<size_t> AccessKeyCount(const UserEntry& user) const;
  // The inline policies of a user or role: from storage on a shared store, else from the index.
  absl::StatusOr<PolicyMap> CurrentPolicies(const PolicyOwner& owner, IamEntityKind kind) const;
  // An access key's credential read from storage (its record, secret, user and user's policies):
  // a key the index does not know yet, or any key while the feed is stale.
  absl::StatusOr<std::shared_ptr<const Credential>> CredentialFromStorage(
      std::string_view access_key_id) const;

  // Sessions (credentials.cc).
  absl::StatusOr<std::shared_ptr<const Credential>> FindSession(std::string_view access_key_id,
                                                                std::string_view session_token,
                                                                int64_t now_seconds) const;

  // Forwards the shared store's watch to the service.
  class IamWatcher final : public StorageWatcher {
   public:
    explicit IamWatcher(IamServiceImpl* service) : service_(service) {}
    void OnChange(std::string_view key) override { service_->OnStoredChange(key); }
    void OnStale() override { service_->OnFeedStale(); }
    void OnCurrent() override { service_->OnFeedCurrent(); }

   private:
    IamServiceImpl* const service_;
  };

  const IamOptions options_;
  Keystore* const keystore_;
  bool shared_ = false;  // IamOptions::backend is Shared()
  IamWatcher watcher_{this};
  mutable std::atomic<bool> reload_needed_{false};  // the watch reported a change
  std::atomic<bool> stale_{false};   // the feed is stale: credentials come from storage
  mutable std::mutex reload_mutex_;  // one reload at a time
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
