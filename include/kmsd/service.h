// The KMS itself: keys, aliases, key states, key policies, grants and the cryptographic
// operations, as typed calls. Pure C++: it knows neither HTTP nor JSON. api/ validates shapes and
// lengths (the service model's constraints) and calls in here; the service enforces meaning
// (states, forms of key id, rules of aliases) and answers with the AWS error types.
//
// Every call is authorized as AWS KMS authorizes it: action "kms:<Operation>" on the key's ARN,
// judged by the key's policy, the caller's identity policies (call.principal) and the key's grants
// (include/kmsd/policy.h). The key is resolved first (an unknown key stays NotFoundException),
// then the call is authorized (AccessDeniedException in AWS's words), then the key's state is
// checked. A call without a principal is denied. Thread-safe: every method may be called
// concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/clock.h"
#include "kmsd/keystore.h"
#include "kmsd/principal.h"
#include "kmsd/secret_bytes.h"

namespace kmsd {

// kPendingImport: a key of Origin EXTERNAL without its key material (issue 13).
// kPendingReplicaDeletion: a multi-Region primary key scheduled for deletion while it still has
// replica keys; its waiting period begins when the last of them is deleted (issue 13).
enum class KeyState { kEnabled, kDisabled, kPendingDeletion, kPendingImport, kPendingReplicaDeletion };
std::string_view KeyStateName(KeyState state);
// Scheduled for deletion: PendingDeletion, or PendingReplicaDeletion (AWS's key state table puts
// them in one column: both refuse what a key pending deletion refuses).
inline bool IsPendingDeletion(KeyState state) {
  return state == KeyState::kPendingDeletion || state == KeyState::kPendingReplicaDeletion;
}

struct Tag {
  std::string key;
  std::string value;
};

enum class RotationType { kAutomatic, kOnDemand };
std::string_view RotationTypeName(RotationType type);

struct Rotation {
  uint32_t version = 0;  // the backing-key version the rotation made
  int64_t date = 0;
  RotationType type = RotationType::kAutomatic;
};

// --- Multi-Region keys (issue 13) ---
struct MultiRegionKey {
  std::string arn;
  std::string region;
};
// Every related multi-Region key, as DescribeKey shows it on any of them.
struct MultiRegionConfiguration {
  std::string key_type;  // "PRIMARY" or "REPLICA": this key's role
  MultiRegionKey primary_key;
  std::vector<MultiRegionKey> replica_keys;
};

struct KeyMetadata {
  std::string key_id;
  std::string arn;
  std::string account_id;
  int64_t creation_date = 0;
  std::string description;
  KeyState state = KeyState::kEnabled;
  std::string key_usage = "ENCRYPT_DECRYPT";
  std::string key_spec = "SYMMETRIC_DEFAULT";
  std::string origin = "AWS_KMS";
  std::string key_manager = "CUSTOMER";
  std::optional<int64_t> deletion_date;
  std::optional<int> pending_deletion_window_days;
  // Origin EXTERNAL (issue 13): whether the imported material expires ("KEY_MATERIAL_EXPIRES",
  // "KEY_MATERIAL_DOES_NOT_EXPIRE"; empty until material is imported), when (ValidTo), and the
  // id of the material (CurrentKeyMaterialId of a symmetric key; empty before the first import).
  std::string expiration_model;
  std::optional<int64_t> valid_to;
  std::string key_material_id;
  bool Enabled() const { return state == KeyState::kEnabled; }
  // Issue 13: a multi-Region key ("mrk-" id); its related keys when the answer shows them.
  bool multi_region = false;
  std::optional<MultiRegionConfiguration> multi_region_configuration;
};

struct AliasEntry {
  std::string name;  // "alias/..."
  std::string arn;
  std::string target_key_id;
  int64_t creation_date = 0;
  int64_t last_updated_date = 0;
};

struct Page {
  std::string next_marker;  // empty when not truncated
  bool truncated() const { return !next_marker.empty(); }
};

struct KeyListEntry {
  std::string key_id;
  std::string arn;
};
struct KeyList : Page {
  std::vector<KeyListEntry> keys;
};
struct AliasList : Page {
  std::vector<AliasEntry> aliases;
};

struct CreateKeyRequest {
  // The key policy document; none = AWS's default key policy, naming the account root.
  std::optional<std::string> policy;
  // Skips the check that the new policy lets the caller change it again (PutKeyPolicy).
  bool bypass_policy_lockout_safety_check = false;
  std::string description;
  std::string key_usage = "ENCRYPT_DECRYPT";
  std::string key_spec = "SYMMETRIC_DEFAULT";
  std::string origin = "AWS_KMS";
  bool multi_region = false;
  std::vector<Tag> tags;
};

struct EncryptResult {
  std::string ciphertext_blob;
  std::string key_arn;
  std::string encryption_algorithm = "SYMMETRIC_DEFAULT";
};
struct DecryptResult {
  SecretBytes plaintext;
  std::string key_arn;
  std::string encryption_algorithm = "SYMMETRIC_DEFAULT";
  std::string key_material_id;  // the material that opened a symmetric blob (issue 13)
};
struct DataKeyResult {
  SecretBytes plaintext;  // empty for GenerateDataKeyWithoutPlaintext
  std::string ciphertext_blob;
  std::string key_arn;
  std::string key_material_id;  // the material that sealed the data key (issue 13)
};
struct ScheduleDeletionResult {
  std::string key_arn;
  int64_t deletion_date = 0;  // none (0) while the key is PendingReplicaDeletion
  int pending_window_days = 0;
  KeyState key_state = KeyState::kPendingDeletion;  // or kPendingReplicaDeletion (issue 13)
};

struct RotationStatus {
  std::string key_arn;
  bool enabled = false;
  int period_days = 0;            // when enabled
  int64_t next_rotation_date = 0;  // when enabled
};

// One row of ListKeyRotations (issue 13: with IncludeKeyMaterial ALL_KEY_MATERIAL also the first
// material and material pending rotation, which have no date and type).
struct RotationListEntry {
  std::string key_material_id;
  std::optional<int64_t> date;
  std::optional<RotationType> type;
  // CURRENT, NON_CURRENT, PENDING_ROTATION or PENDING_MULTI_REGION_IMPORT_AND_ROTATION.
  std::string key_material_state;
  // Symmetric keys of Origin EXTERNAL only (imported set): ImportState IMPORTED or
  // PENDING_IMPORT, the material's description, ExpirationModel and ValidTo.
  bool imported_material = false;
  std::string import_state;
  std::string description;
  std::string expiration_model;
  std::optional<int64_t> valid_to;
};

struct RotationList : Page {
  std::string key_arn;
  std::vector<RotationListEntry> rotations;
};

struct TagList : Page {
  std::vector<Tag> tags;
};

// What one pass of the scheduler did.
struct DueTaskReport {
  int keys_deleted = 0;
  int keys_rotated = 0;
  int key_usages_saved = 0;  // keys whose last use was saved (KmsService::SaveKeyUsage)
  int key_materials_expired = 0;  // imported key material deleted at its ValidTo (issue 13)
  // Issue 12: this node held the scheduler's leadership (Backend::Elect) for the pass, so the
  // deletions and rotations were its to run.
  bool led = false;
};

// The last successful cryptographic operation with a key (GetKeyLastUsage).
struct KeyUse {
  std::string operation;  // "Encrypt", "Decrypt", ... (AWS's KeyLastUsageTrackingOperation)
  int64_t timestamp = 0;
  std::string cloudtrail_event_id;  // the eventID of the request's audit record
  std::string request_id;           // the request's x-amzn-RequestId
};

struct KeyLastUsage {
  std::string key_id;
  std::optional<KeyUse> last_use;  // none: not used since tracking began
  // When kmsd began tracking this key: the later of the feature's first start and the key's
  // creation.
  int64_t tracking_start_date = 0;
  int64_t key_creation_date = 0;
};

struct ReEncryptResult {
  std::string ciphertext_blob;
  std::string source_key_arn;
  std::string key_arn;
  std::string source_encryption_algorithm = "SYMMETRIC_DEFAULT";
  std::string destination_encryption_algorithm = "SYMMETRIC_DEFAULT";
  // Issue 13: the materials of symmetric keys (empty for an RSA side).
  std::string source_key_material_id;
  std::string destination_key_material_id;
};

// --- Asymmetric and HMAC keys (issue 13) ---

struct PublicKeyResult {
  std::string key_arn;
  std::string public_key;  // DER SubjectPublicKeyInfo
  std::string key_spec;
  std::string key_usage;
};

// MessageType of Sign and Verify: RAW is hashed by the signing algorithm; DIGEST already is one
// (its length must be the algorithm's digest length).
enum class MessageType { kRaw, kDigest };

struct SignResult {
  std::string key_arn;
  std::string signature;
  std::string signing_algorithm;
};

struct MacResult {
  std::string key_arn;
  std::string mac;
  std::string mac_algorithm;
};

// GenerateDataKeyPair[WithoutPlaintext]: a new key pair for use outside kmsd.
struct DataKeyPairResult {
  SecretBytes private_key_plaintext;        // PKCS#8 DER; empty for ...WithoutPlaintext
  std::string private_key_ciphertext_blob;  // a kmsd blob under the symmetric KMS key
  std::string public_key;                   // DER SubjectPublicKeyInfo
  std::string key_arn;
  std::string key_pair_spec;
  std::string key_material_id;  // the material that sealed the private key (issue 13)
};

struct SharedSecretResult {
  std::string key_arn;
  SecretBytes shared_secret;
  std::string key_agreement_algorithm;
  std::string key_origin;
};

// The GrantTokens member of the operations that accept it: each token must name a grant that
// exists, else the call fails with InvalidGrantTokenException.
using GrantTokens = std::vector<std::string>;

// Encryption-context constraints of a grant; either, both or neither may be set.
struct GrantConstraints {
  std::optional<EncryptionContext> encryption_context_equals;
  std::optional<EncryptionContext> encryption_context_subset;
};

struct CreateGrantRequest {
  std::string key_id;  // key id or key ARN
  std::string grantee_principal;
  std::string retiring_principal;       // empty = none
  std::vector<std::string> operations;  // grant operation names: "Encrypt", "ReEncryptFrom", ...
  GrantConstraints constraints;
  std::string name;  // empty = none; a retry with the same name and parameters finds the grant
  GrantTokens grant_tokens;
  bool dry_run = false;  // check everything, change nothing, answer DryRunOperationException
};

struct CreateGrantResult {
  std::string grant_id;
  std::string grant_token;
};

// A grant as ListGrants and ListRetirableGrants show it (never its token).
struct GrantEntry {
  std::string key_arn;
  std::string grant_id;
  std::string name;
  int64_t creation_date = 0;
  std::string grantee_principal;
  std::string retiring_principal;
  std::string issuing_account;  // arn:aws:iam::ACCOUNT:root
  std::vector<std::string> operations;
  GrantConstraints constraints;
};
struct GrantList : Page {
  std::vector<GrantEntry> grants;
};

// RetireGrant names its grant by token, or by key (id or ARN) and grant id.
struct RetireGrantRequest {
  std::string grant_token;
  std::string key_id;
  std::string grant_id;
  bool dry_run = false;
};

// ReplicateKey (issue 13): a replica of a multi-Region primary key in another served region,
// with the same key id and material; its policy, description and tags are its own.
struct ReplicateKeyRequest {
  std::string key_id;  // the primary key: key id or key ARN
  std::string replica_region;
  std::optional<std::string> policy;  // none: AWS's default key policy
  bool bypass_policy_lockout_safety_check = false;
  std::string description;
  std::vector<Tag> tags;
};
struct ReplicateKeyResult {
  KeyMetadata replica_key_metadata;
  std::string replica_policy;
  std::vector<Tag> replica_tags;
};

// --- Imported key material (issue 13) ---

// GetParametersForImport's answer: a wrapping public key and the token that goes with it, both
// valid until parameters_valid_to (24 hours).
struct ImportParameters {
  std::string key_arn;
  std::string import_token;
  std::string public_key;  // DER SubjectPublicKeyInfo of the RSA wrapping key
  int64_t parameters_valid_to = 0;
};

struct ImportKeyMaterialRequest {
  std::string key_id;  // key id or key ARN
  std::string import_token;
  std::string encrypted_key_material;
  // ExpirationModel: KEY_MATERIAL_EXPIRES (the default, then valid_to is required) or
  // KEY_MATERIAL_DOES_NOT_EXPIRE (then valid_to must be absent).
  std::string expiration_model = "KEY_MATERIAL_EXPIRES";
  std::optional<int64_t> valid_to;
  // Symmetric encryption keys only.
  std::optional<std::string> import_type;  // NEW_KEY_MATERIAL or EXISTING_KEY_MATERIAL
  std::optional<std::string> key_material_id;
  std::optional<std::string> key_material_description;
};

// ImportKeyMaterial's and DeleteImportedKeyMaterial's answer.
struct KeyMaterialResult {
  std::string key_arn;
  std::string key_material_id;  // symmetric encryption keys only; else empty
};

// The only key policy name AWS has.
inline constexpr std::string_view kDefaultKeyPolicyName = "default";

// Issue 12: an action the service took by itself (ServiceOptions::on_service_event).
struct ServiceEvent {
  std::string event_name;  // "DeleteKey", "RotateKey"
  std::string key_arn;
  std::string region;
  // The same on every node that reports the same event (derived from the event, key and due
  // date), so that a report repeated after a crash is recognizable.
  std::string event_id;
};

struct ServiceOptions {
  std::string region = "us-east-1";
  std::string account_id = "111122223333";
  // Whether an IAM user or role of this account exists, by ARN (the IAM service knows). When set,
  // a key policy naming a user or role of the account that does not exist is refused, as AWS
  // refuses it (MalformedPolicyDocumentException). Unset, such principals are not checked. Called
  // under the service's write lock: it must not call back into the service.
  std::function<bool(std::string_view arn)> principal_exists;
  // The store under the keystore (not owned). When other kmsd nodes share it
  // (Backend::Shared), the service watches it and drops from its caches what any node changes,
  // stops serving from caches while the feed is stale, and runs the scheduler's due tasks only
  // while this node leads (Backend::Elect("scheduler")). The backend must stop its watch (be
  // destroyed) before the service is. Unset: one node, as with SQLite.
  Backend* backend = nullptr;
  // Several regions (issue 13): this region's record ids in the keystore ("" for the default
  // region, else "region/<name>/"), so the watch knows which changes are this region's. Set by
  // KmsRegions.
  std::string record_prefix;
  // ---- issue 12: what the service does by itself, AWS's service events (a key deleted when its
  // waiting period ended, an automatic rotation), reported after they are committed; kmsd audits
  // each (eventType AwsServiceEvent). Called on the scheduler's thread, may block (an audit
  // write). A DeleteKey whose report fails is reported again by the next pass before the key's
  // records go. Unset: not reported.
  std::function<absl::Status(const ServiceEvent&)> on_service_event;
  // ---- end issue 12
};

// For metrics (not KMS operations: no caller, not authorized, not audited).
struct KeyStateCounts {
  int64_t enabled = 0;
  int64_t disabled = 0;
  int64_t pending_deletion = 0;
  int64_t pending_import = 0;
  int64_t pending_replica_deletion = 0;
};
struct KeyCacheStats {
  uint64_t hits = 0;    // look-ups of a key answered from memory
  uint64_t misses = 0;  // look-ups that read the key from the keystore
  size_t entries = 0;   // keys in memory now
};

class KmsService {
 public:
  virtual ~KmsService() = default;

  // Key ids below accept every form AWS accepts for the operation: key id, key ARN, and where AWS
  // allows it, alias name and alias ARN.
  virtual absl::StatusOr<KeyMetadata> CreateKey(const CallContext& call,
                                                const CreateKeyRequest& request) = 0;
  virtual absl::StatusOr<KeyMetadata> DescribeKey(const CallContext& call,
                                                  const std::string& key_id,
                                                  const GrantTokens& grant_tokens) = 0;
  virtual absl::StatusOr<KeyList> ListKeys(const CallContext& call, size_t limit,
                                           const std::string& marker) = 0;
  virtual absl::Status EnableKey(const CallContext& call, const std::string& key_id) = 0;
  virtual absl::Status DisableKey(const CallContext& call, const std::string& key_id) = 0;
  virtual absl::Status UpdateKeyDescription(const CallContext& call, const std::string& key_id,
                                            const std::string& description) = 0;

  virtual absl::Status CreateAlias(const CallContext& call, const std::string& alias_name,
                                   const std::string& target_key_id) = 0;
  virtual absl::Status UpdateAlias(const CallContext& call, const std::string& alias_name,
                                   const std::string& target_key_id) = 0;
  // Answers the ARN of the key the alias named (its audit record's responseElements.keyId).
  virtual absl::StatusOr<std::string> DeleteAlias(const CallContext& call,
                                                  const std::string& alias_name) = 0;
  // key_id empty = every alias.
  virtual absl::StatusOr<AliasList> ListAliases(const CallContext& call,
                                                const std::string& key_id, size_t limit,
                                                const std::string& marker) = 0;

  // encryption_algorithm (issue 13): SYMMETRIC_DEFAULT for symmetric keys; RSAES_OAEP_SHA_1 or
  // RSAES_OAEP_SHA_256 for RSA ENCRYPT_DECRYPT keys, whose ciphertext is the raw RSAES-OAEP output
  // (it names neither key nor algorithm, so Decrypt needs both). An algorithm the key does not
  // support is InvalidKeyUsageException; RSA keys take no encryption context (ValidationException)
  // and at most MaxRsaPlaintext bytes (ValidationException).
  virtual absl::StatusOr<EncryptResult> Encrypt(
      const CallContext& call, const std::string& key_id, const SecretBytes& plaintext,
      const EncryptionContext& context, const GrantTokens& grant_tokens,
      const std::string& encryption_algorithm = "SYMMETRIC_DEFAULT") = 0;
  // key_id empty = the key the blob names (symmetric blobs only: an RSA ciphertext needs key_id).
  virtual absl::StatusOr<DecryptResult> Decrypt(
      const CallContext& call, const std::string& blob, const EncryptionContext& context,
      const std::string& key_id, const GrantTokens& grant_tokens,
      const std::string& encryption_algorithm = "SYMMETRIC_DEFAULT") = 0;
  // Either side may be a symmetric or an RSA ENCRYPT_DECRYPT key, each with its own algorithm.
  virtual absl::StatusOr<ReEncryptResult> ReEncrypt(
      const CallContext& call, const std::string& blob, const EncryptionContext& source_context,
      const std::string& source_key_id, const std::string& destination_key_id,
      const EncryptionContext& destination_context, const GrantTokens& grant_tokens,
      const std::string& source_encryption_algorithm = "SYMMETRIC_DEFAULT",
      const std::string& destination_encryption_algorithm = "SYMMETRIC_DEFAULT") = 0;
  // number_of_bytes 1..1024; with_plaintext false = GenerateDataKeyWithoutPlaintext.
  virtual absl::StatusOr<DataKeyResult> GenerateDataKey(
      const CallContext& call, const std::string& key_id, size_t number_of_bytes,
      const EncryptionContext& context, bool with_plaintext, const GrantTokens& grant_tokens) = 0;
  virtual absl::StatusOr<SecretBytes> GenerateRandom(const CallContext& call,
                                                     size_t number_of_bytes) = 0;

  // Lifecycle. pending_window_days 7..30.
  virtual absl::StatusOr<ScheduleDeletionResult> ScheduleKeyDeletion(const CallContext& call,
                                                                     const std::string& key_id,
                                                                     int pending_window_days) = 0;
  // Returns the key ARN; the key is Disabled afterwards.
  virtual absl::StatusOr<std::string> CancelKeyDeletion(const CallContext& call,
                                                        const std::string& key_id) = 0;
  // period_days 90..2560.
  virtual absl::Status EnableKeyRotation(const CallContext& call, const std::string& key_id,
                                         int period_days) = 0;
  virtual absl::Status DisableKeyRotation(const CallContext& call, const std::string& key_id) = 0;
  virtual absl::StatusOr<RotationStatus> GetKeyRotationStatus(const CallContext& call,
                                                              const std::string& key_id) = 0;
  // Returns the key ARN.
  virtual absl::StatusOr<std::string> RotateKeyOnDemand(const CallContext& call,
                                                        const std::string& key_id) = 0;
  // include_all_key_material (IncludeKeyMaterial ALL_KEY_MATERIAL, issue 13): also the first
  // material and material pending rotation.
  virtual absl::StatusOr<RotationList> ListKeyRotations(const CallContext& call,
                                                        const std::string& key_id, size_t limit,
                                                        const std::string& marker,
                                                        bool include_all_key_material = false) = 0;

  // Tags (key id or key ARN only, as AWS).
  virtual absl::Status TagResource(const CallContext& call, const std::string& key_id,
                                   const std::vector<Tag>& tags) = 0;
  virtual absl::Status UntagResource(const CallContext& call, const std::string& key_id,
                                     const std::vector<std::string>& tag_keys) = 0;
  virtual absl::StatusOr<TagList> ListResourceTags(const CallContext& call,
                                                   const std::string& key_id, size_t limit,
                                                   const std::string& marker) = 0;

  // Key policies (key id or key ARN only, as AWS). policy_name empty = "default", the only name.
  // GetKeyPolicy returns the document byte for byte as it was put, or AWS's default key policy.
  virtual absl::StatusOr<std::string> GetKeyPolicy(const CallContext& call,
                                                   const std::string& key_id,
                                                   const std::string& policy_name) = 0;
  virtual absl::StatusOr<std::vector<std::string>> ListKeyPolicies(const CallContext& call,
                                                                   const std::string& key_id) = 0;
  // A malformed document is MalformedPolicyDocumentException naming the problem, one over 32 KB
  // LimitExceededException; unless bypass_lockout_check, so is a policy that would not let the
  // caller call PutKeyPolicy again. Nothing changes on any error.
  virtual absl::Status PutKeyPolicy(const CallContext& call, const std::string& key_id,
                                    const std::string& policy_name, const std::string& policy,
                                    bool bypass_lockout_check) = 0;

  // Grants. A grant allows its operations on its key to its grantee principal (a role ARN: every
  // session of the role), within its constraints; it never overrides an explicit deny.
  virtual absl::StatusOr<CreateGrantResult> CreateGrant(const CallContext& call,
                                                        const CreateGrantRequest& request) = 0;
  // grant_id and grantee_principal filter when not empty. limit 1..100.
  virtual absl::StatusOr<GrantList> ListGrants(const CallContext& call, const std::string& key_id,
                                               const std::string& grant_id,
                                               const std::string& grantee_principal, size_t limit,
                                               const std::string& marker) = 0;
  // Every grant of every key whose retiring principal is retiring_principal. limit 1..100.
  virtual absl::StatusOr<GrantList> ListRetirableGrants(const CallContext& call,
                                                        const std::string& retiring_principal,
                                                        size_t limit,
                                                        const std::string& marker) = 0;
  // By the retiring principal, the grantee when the grant allows RetireGrant, the account root,
  // or a principal of the account that an identity policy allows kms:RetireGrant.
  // Answers the ARN of the grant's key (its audit record's responseElements.keyId: a request with
  // a GrantToken alone does not name it).
  virtual absl::StatusOr<std::string> RetireGrant(const CallContext& call,
                                                  const RetireGrantRequest& request) = 0;
  virtual absl::Status RevokeGrant(const CallContext& call, const std::string& key_id,
                                   const std::string& grant_id, bool dry_run) = 0;

  // Asymmetric and HMAC keys (issue 13). Each resolves its key (any form of key id), checks grant
  // tokens, authorizes kms:<Operation>, checks the key's state, then its KeyUsage
  // (InvalidKeyUsageException naming it) and algorithm (InvalidKeyUsageException when the key does
  // not support it). Messages are 1..4096 bytes (api/ checks).
  virtual absl::StatusOr<PublicKeyResult> GetPublicKey(const CallContext& call,
                                                       const std::string& key_id,
                                                       const GrantTokens& grant_tokens) = 0;
  virtual absl::StatusOr<SignResult> Sign(const CallContext& call, const std::string& key_id,
                                          const SecretBytes& message, MessageType message_type,
                                          const std::string& signing_algorithm,
                                          const GrantTokens& grant_tokens) = 0;
  // A signature that does not verify is KMSInvalidSignatureException (AWS never answers false).
  virtual absl::StatusOr<SignResult> Verify(const CallContext& call, const std::string& key_id,
                                            const SecretBytes& message, MessageType message_type,
                                            const std::string& signature,
                                            const std::string& signing_algorithm,
                                            const GrantTokens& grant_tokens) = 0;
  virtual absl::StatusOr<MacResult> GenerateMac(const CallContext& call, const std::string& key_id,
                                                const SecretBytes& message,
                                                const std::string& mac_algorithm,
                                                const GrantTokens& grant_tokens) = 0;
  // Compares in constant time; a MAC that does not match is KMSInvalidMacException.
  virtual absl::StatusOr<MacResult> VerifyMac(const CallContext& call, const std::string& key_id,
                                              const SecretBytes& message,
                                              const std::string& mac,
                                              const std::string& mac_algorithm,
                                              const GrantTokens& grant_tokens) = 0;

  // --- Data key pairs and key agreement (issue 13) ---

  // A new key pair of key_pair_spec (a DataKeyPairSpec) whose private key is sealed under the
  // symmetric encryption KMS key key_id with context, as GenerateDataKey seals a data key (Decrypt
  // gives the PKCS#8 back). with_plaintext false = GenerateDataKeyPairWithoutPlaintext. SM2 is
  // UnsupportedOperationException (China Regions only), as AWS answers elsewhere.
  virtual absl::StatusOr<DataKeyPairResult> GenerateDataKeyPair(
      const CallContext& call, const std::string& key_id, const std::string& key_pair_spec,
      const EncryptionContext& context, bool with_plaintext, const GrantTokens& grant_tokens) = 0;
  // ECDH between the KEY_AGREEMENT key's private key and public_key, the peer's DER
  // SubjectPublicKeyInfo on the same curve (else ValidationException saying what is wrong).
  virtual absl::StatusOr<SharedSecretResult> DeriveSharedSecret(
      const CallContext& call, const std::string& key_id,
      const std::string& key_agreement_algorithm, const std::string& public_key,
      const GrantTokens& grant_tokens) = 0;

  // Destroys keys whose deletion date has passed and rotates keys whose rotation is due, by the
  // service's clock (a key goes with its material, aliases and grants in one commit). Each task
  // commits atomically with the removal of its schedule entry, so it runs exactly once, across
  // restarts too. Then saves the key usage recorded since the last pass (SaveKeyUsage). Safe to
  // call from any thread at any time.
  virtual absl::StatusOr<DueTaskReport> RunDueTasks() = 0;

  // --- Key usage tracking (GetKeyLastUsage) ---
  // Every successful cryptographic operation (not a DryRun) records, in memory, its operation,
  // time, audit eventID and request id as the key's last use; nothing is written on that path.
  // SaveKeyUsage writes what changed since the last save (one small record per key), and is run
  // by every scheduler pass and at shutdown: a crash loses at most the uses since the last pass.

  // By key id or key ARN (AWS: alias names are not supported), in any key state.
  virtual absl::StatusOr<KeyLastUsage> GetKeyLastUsage(const CallContext& call,
                                                       const std::string& key_id) = 0;
  // Returns how many keys' last uses it wrote. Any thread; concurrent saves are serialized.
  virtual absl::StatusOr<int> SaveKeyUsage() = 0;

  // --- Custom key stores ---
  // kmsd keeps every key in its own keystore and has no custom key stores (AWS CloudHSM or
  // external). The custom key store operations (operation: "CreateCustomKeyStore", ...) are
  // authorized as AWS authorizes them (kms:<operation> by identity policies; they name no key),
  // then refused with UnsupportedOperationException.
  virtual absl::Status CustomKeyStoreOperation(const CallContext& call,
                                               std::string_view operation) = 0;

  // --- Multi-Region keys (issue 13) ---
  // kms:ReplicateKey on the primary key in this region, kms:CreateKey in the replica's region.
  // A region not served, or a key that is not a multi-Region primary, is
  // UnsupportedOperationException; a replica already in that region AlreadyExistsException.
  virtual absl::StatusOr<ReplicateKeyResult> ReplicateKey(const CallContext& call,
                                                          const ReplicateKeyRequest& request) = 0;
  // Makes the related key in primary_region the primary; this region's key (the primary) becomes
  // a replica. kms:UpdatePrimaryRegion on both keys.
  virtual absl::Status UpdatePrimaryRegion(const CallContext& call, const std::string& key_id,
                                           const std::string& primary_region) = 0;

  // --- Imported key material (issue 13) ---
  // Keys of Origin EXTERNAL are created in PendingImport without material; every operation that
  // needs material answers KMSInvalidStateException "<arn> is pending import." until material is
  // imported. Key id or key ARN only (AWS: no aliases).

  // A fresh RSA wrapping key pair (sealed in the keystore until parameters_valid_to) and an import
  // token bound to the key, the wrapping key and the algorithm. wrapping_algorithm and
  // wrapping_key_spec are names of the model's enums; combinations AWS refuses are refused.
  virtual absl::StatusOr<ImportParameters> GetParametersForImport(
      const CallContext& call, const std::string& key_id, const std::string& wrapping_algorithm,
      const std::string& wrapping_key_spec) = 0;
  // Unwraps the material with the token's wrapping key, checks it against the key spec (and, once
  // material was imported, that it is the same material), stores it sealed, and enables the key.
  // A symmetric key also takes new material (ImportType NEW_KEY_MATERIAL, issue 13): it waits in
  // PENDING_ROTATION until RotateKeyOnDemand makes it current; one at a time.
  virtual absl::StatusOr<KeyMaterialResult> ImportKeyMaterial(
      const CallContext& call, const ImportKeyMaterialRequest& request) = 0;
  // Destroys the key's material (crypto-shredding); the key goes to PendingImport (a key pending
  // deletion stays so). key_material_id empty = the current material. Material pending rotation
  // is forgotten instead and the key's state does not change (issue 13).
  virtual absl::StatusOr<KeyMaterialResult> DeleteImportedKeyMaterial(
      const CallContext& call, const std::string& key_id, const std::string& key_material_id) = 0;

  // Every key by state, read from the keystore (complete whatever the cache holds; each key
  // record is unsealed, so a metrics scrape costs one List over the keys). Any thread.
  virtual absl::StatusOr<KeyStateCounts> CountKeysByState() = 0;
  // The key cache's counts so far. Cheap: atomic loads and a shared lock.
  virtual KeyCacheStats CacheStats() = 0;
};

// The service over a keystore (not owned; must outlive it) and a clock (owned).
std::unique_ptr<KmsService> NewKmsService(ServiceOptions options, Keystore* keystore,
                                          std::unique_ptr<Clock> clock);

}  // namespace kmsd
