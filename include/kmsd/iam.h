// The identity service: IAM users, their access keys and inline policies, roles with their trust
// and inline policies, and STS sessions (AssumeRole, GetCallerIdentity), as typed calls over the
// keystore. It is also kmsd's CredentialStore: the root credential, users' active access keys and
// the sessions it issued all answer Find, from memory.
//
// Pure C++, like the KMS service: api/iam and api/sts check the service model's shapes and
// lengths; this service enforces meaning (names unique regardless of case, the access-key quota,
// what may be deleted, policy grammar and IAM's size quotas, trust policies) and authorizes every
// IAM action by the caller's identity policies (the account root always allowed; GetCallerIdentity
// needs no permission). Errors carry kmsd's ErrorType: kNotFound, kAlreadyExists, kDeleteConflict,
// kLimitExceeded, kMalformedPolicyDocument, kValidation, kAccessDenied.
//
// Secrets: access-key secrets live only in SecretBytes and sealed keystore records; the one answer
// that carries a secret (CreateAccessKey, AssumeRole) hands it over as SecretBytes. Session tokens
// are sealed (AES-256-GCM under a key kept in the keystore) and name the access key they belong
// to, so a token kmsd did not issue, or altered, is refused.
//
// Thread-safety: every method may be called concurrently. Reads and Find take a shared lock on an
// in-memory index loaded at start; writes are serialized, committed to the keystore, then
// published.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/clock.h"
#include "kmsd/credentials.h"
#include "kmsd/keystore.h"
#include "kmsd/principal.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/service.h"  // Tag, Page

namespace kmsd {

// IAM's quotas and bounds that the service (not the wire shape) enforces.
inline constexpr size_t kMaxAccessKeysPerUser = 2;
inline constexpr size_t kMaxUserInlinePolicyCharacters = 2048;   // all of a user's, sans spaces
inline constexpr size_t kMaxRoleInlinePolicyCharacters = 10240;  // all of a role's, sans spaces
inline constexpr size_t kMaxTrustPolicyCharacters = 2048;        // sans spaces
inline constexpr int64_t kMinSessionDurationSeconds = 900;
inline constexpr int64_t kDefaultSessionDurationSeconds = 3600;
inline constexpr int64_t kMinRoleMaxSessionDuration = 3600;
inline constexpr int64_t kMaxRoleMaxSessionDuration = 43200;
// A session used to assume another role ("role chaining") gets at most an hour.
inline constexpr int64_t kMaxChainedSessionDurationSeconds = 3600;

struct IamUser {
  std::string path = "/";
  std::string user_name;  // empty for the account root (GetUser by the root)
  std::string user_id;    // AIDA...; the account id for the root
  std::string arn;
  int64_t create_date = 0;
  std::vector<Tag> tags;
};

struct CreateUserRequest {
  std::string user_name;
  std::string path = "/";
  std::vector<Tag> tags;
};

// Marker/MaxItems paging, with ListUsers' and ListRoles' PathPrefix. The marker is the one a
// previous page returned.
struct PageRequest {
  std::string path_prefix = "/";
  std::string marker;
  size_t max_items = 100;
};

struct UserList : Page {
  std::vector<IamUser> users;
};

// IAM's name characters ([\w+=,.@-]: users, roles, policies, session names), non-empty.
bool IsIamName(std::string_view text);

enum class AccessKeyStatus { kActive, kInactive };
std::string_view AccessKeyStatusName(AccessKeyStatus status);  // "Active", "Inactive"

struct AccessKeyMetadata {
  std::string user_name;  // empty for the root's key
  std::string access_key_id;
  AccessKeyStatus status = AccessKeyStatus::kActive;
  int64_t create_date = 0;
};

struct CreatedAccessKey {
  AccessKeyMetadata metadata;
  SecretBytes secret_access_key;  // 40 characters; shown to the caller once, never again
};

struct AccessKeyList : Page {
  std::vector<AccessKeyMetadata> keys;
};

struct IamRole {
  std::string path = "/";
  std::string role_name;
  std::string role_id;  // AROA...
  std::string arn;
  int64_t create_date = 0;
  std::string assume_role_policy_document;
  std::string description;
  int64_t max_session_duration = 3600;
  std::vector<Tag> tags;
};

struct CreateRoleRequest {
  std::string role_name;
  std::string path = "/";
  std::string assume_role_policy_document;
  std::string description;
  int64_t max_session_duration = 3600;
  std::vector<Tag> tags;
};

struct RoleList : Page {
  std::vector<IamRole> roles;
};

// The owner of inline policies: a user or a role, by name.
enum class IamEntityKind { kUser, kRole };
struct IamEntity {
  IamEntityKind kind = IamEntityKind::kUser;
  std::string name;
};

struct InlinePolicy {
  std::string entity_name;  // the user's or role's name, as created
  std::string policy_name;
  std::string document;  // as given
};

struct PolicyNameList : Page {
  std::vector<std::string> policy_names;
};

struct CallerIdentity {
  std::string user_id;  // account id, AIDA..., or AROA...:session-name
  std::string account;
  std::string arn;
};

struct AssumeRoleRequest {
  std::string role_arn;
  std::string role_session_name;
  std::optional<int64_t> duration_seconds;  // 900..the role's MaxSessionDuration; 3600 if unset
  std::optional<std::string> external_id;
};

struct SessionCredentials {
  std::string access_key_id;  // ASIA...
  SecretBytes secret_access_key;
  std::string session_token;
  int64_t expiration = 0;        // Unix seconds
  std::string assumed_role_id;   // AROA...:session-name
  std::string assumed_role_arn;  // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
};

struct IamOptions {
  std::string account_id = "111122223333";
  // The account root's one credential (kmsd's configured access key).
  std::string root_access_key_id;
  SecretBytes root_secret_access_key;
  // The store under the keystore (not owned), as ServiceOptions::backend: when other nodes share
  // it, the index is read again after any node changes an identity, a key unknown here is looked
  // for in storage, and while the feed is stale credentials are read from storage. The backend
  // must stop its watch (be destroyed) before the service is.
  Backend* backend = nullptr;
};

class IamService : public CredentialStore {
 public:
  // Users. GetUser with no name answers for the caller: its user, or the root (no name, the
  // account id as its id); a session must name a user.
  virtual absl::StatusOr<IamUser> CreateUser(const CallContext& call,
                                             const CreateUserRequest& request) = 0;
  virtual absl::StatusOr<IamUser> GetUser(const CallContext& call,
                                          const std::optional<std::string>& user_name) = 0;
  virtual absl::StatusOr<UserList> ListUsers(const CallContext& call, const PageRequest& page) = 0;
  // kDeleteConflict while the user has access keys or inline policies.
  virtual absl::Status DeleteUser(const CallContext& call, const std::string& user_name) = 0;

  // Access keys. No user name = the calling user's (for the root: the root's own key, which the
  // list shows and the other calls refuse to change).
  virtual absl::StatusOr<CreatedAccessKey> CreateAccessKey(
      const CallContext& call, const std::optional<std::string>& user_name) = 0;
  virtual absl::StatusOr<AccessKeyList> ListAccessKeys(const CallContext& call,
                                                       const std::optional<std::string>& user_name,
                                                       const PageRequest& page) = 0;
  virtual absl::Status UpdateAccessKey(const CallContext& call,
                                       const std::optional<std::string>& user_name,
                                       const std::string& access_key_id,
                                       AccessKeyStatus status) = 0;
  virtual absl::Status DeleteAccessKey(const CallContext& call,
                                       const std::optional<std::string>& user_name,
                                       const std::string& access_key_id) = 0;

  // Roles. The trust policy (AssumeRolePolicyDocument) is a policy of kind kTrust.
  virtual absl::StatusOr<IamRole> CreateRole(const CallContext& call,
                                             const CreateRoleRequest& request) = 0;
  virtual absl::StatusOr<IamRole> GetRole(const CallContext& call,
                                          const std::string& role_name) = 0;
  virtual absl::StatusOr<RoleList> ListRoles(const CallContext& call, const PageRequest& page) = 0;
  // kDeleteConflict while the role has inline policies. Its sessions stop working at once.
  virtual absl::Status DeleteRole(const CallContext& call, const std::string& role_name) = 0;
  virtual absl::Status UpdateAssumeRolePolicy(const CallContext& call, const std::string& role_name,
                                              const std::string& document) = 0;

  // Inline policies of a user or a role (PutUserPolicy, PutRolePolicy, ...). A new or replaced
  // policy binds the entity's credentials and sessions from the next request on.
  virtual absl::Status PutInlinePolicy(const CallContext& call, const IamEntity& entity,
                                       const std::string& policy_name,
                                       const std::string& document) = 0;
  virtual absl::StatusOr<InlinePolicy> GetInlinePolicy(const CallContext& call,
                                                       const IamEntity& entity,
                                                       const std::string& policy_name) = 0;
  virtual absl::StatusOr<PolicyNameList> ListInlinePolicies(const CallContext& call,
                                                            const IamEntity& entity,
                                                            const PageRequest& page) = 0;
  virtual absl::Status DeleteInlinePolicy(const CallContext& call, const IamEntity& entity,
                                          const std::string& policy_name) = 0;

  // Whether arn names an IAM user or role of this account that exists (the name in any case, the
  // path as created). For the checks AWS makes when a policy names principals (trust policies
  // here; key policies in KMS: ServiceOptions::principal_exists). Takes only the index's shared
  // lock: safe to call from under another service's lock.
  virtual bool PrincipalExists(std::string_view arn) const = 0;

  // STS.
  virtual CallerIdentity GetCallerIdentity(const CallContext& call) const = 0;
  // Issues temporary credentials for the role if its trust policy (with the caller's identity
  // policies, as AWS combines them) allows the caller sts:AssumeRole; an ExternalId is matched by
  // the trust policy's sts:ExternalId condition. Denied, or no such role: kAccessDenied in AWS's
  // words. The root may not assume roles, as in AWS.
  virtual absl::StatusOr<SessionCredentials> AssumeRole(const CallContext& call,
                                                        const AssumeRoleRequest& request) = 0;
};

// Opens the service over keystore (not owned; must outlive it): loads every IAM record into
// memory, creating the session-token key on first use. clock is owned.
absl::StatusOr<std::unique_ptr<IamService>> OpenIamService(IamOptions options, Keystore* keystore,
                                                           std::unique_ptr<Clock> clock);

}  // namespace kmsd
