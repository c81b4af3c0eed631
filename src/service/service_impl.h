// The KMS service's implementation class, shared by the files that define its parts:
//   kms_service.cc               key entries: loading, caching, publishing, resolving references
//   keys.cc                      key lifecycle and tags
//   aliases.cc                   aliases and the alias index
//   cryptographic_operations.cc  Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateRandom
//   rotation_and_due_tasks.cc    rotation and the scheduler's due tasks (deletions, rotations)
//   key_access.cc                key policies, grants, and the authorization of every call
//   signing_and_mac.cc           asymmetric and HMAC keys: key usage checks, GetPublicKey, Sign,
//                                Verify, GenerateMac, VerifyMac
//   key_pairs_and_agreement.cc   GenerateDataKeyPair[WithoutPlaintext], DeriveSharedSecret
//   key_last_usage.cc            key usage tracking (GetKeyLastUsage) and its saving
//   custom_key_stores.cc         the custom key store operations (kmsd has none)
//   imported_key_material.cc     Origin EXTERNAL: GetParametersForImport, ImportKeyMaterial,
//                                DeleteImportedKeyMaterial, the expiry of imported material
//   cluster_cache.cc             construction; several nodes on one store: the watch, the
//                                scheduler's leadership, the coherence of the key cache
// Private to src/service/: callers see only include/kmsd/service.h.
//
// Concurrency: published key entries are immutable and shared (shared_ptr<const KeyEntry>); a
// reader takes the cache lock briefly to copy the pointer, then works without locks. An entry
// carries everything a call on its key is judged on (the compiled key policy, the key's aliases,
// its grants), so authorizing a call on a cached key reads no storage. Mutations are serialized by
// write_mutex_: read the current entry, build a changed copy, commit it to the keystore, then
// publish it. Key material is loaded once per key and shared between versions of the entry, never
// copied.
//
// Several nodes on one store (ServiceOptions::backend Shared()): write_mutex_ still serializes
// this node's writers, and every read-modify-write is also conditional on the records it read
// (KeystoreBatch::expect), retried on a StorageConflict (RetryConflicts), so two nodes never
// lose each other's updates. The watch (ClusterWatcher) drops cache entries that any node
// changed; a load that raced a drop is not cached (invalidations_). While the feed is stale
// every read goes to storage. Due tasks run only on the leader, each conditional on its
// schedule record, so each runs once across nodes.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "kmsd/asymmetric.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/key_specs.h"
#include "kmsd/policy.h"
#include "kmsd/retry_conflicts.h"
#include "kmsd/service.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"
#include "service/authorization.h"
#include "service/grants.h"
#include "service/key_usage_tracker.h"
#include "service/records.h"

namespace kmsd::service_internal {

using records::AliasRecord;
using records::GrantRecord;
using records::KeyRecord;

inline constexpr size_t kMaxTags = 50;
inline constexpr int64_t kSecondsPerDay = 86400;
inline constexpr int kMinPendingWindowDays = 7;
inline constexpr int kMaxPendingWindowDays = 30;
// AWS's on-demand rotation quota per KMS key (not adjustable).
inline constexpr size_t kMaxOnDemandRotations = 25;
inline constexpr size_t kDueTasksPerPage = 64;
// Records deleted per commit while a key is destroyed (issue 12): with the key record's put and
// the aliases' conditions, within etcd's 128 operations per transaction.
inline constexpr size_t kMaxDestroyBatchRecords = 100;
inline constexpr std::string_view kReservedAliasPrefix = "alias/aws/";
// AWS's grant quotas.
inline constexpr size_t kMaxGrantsPerKey = 50000;
inline constexpr size_t kMaxGrantsPerGranteePerKey = 500;
inline constexpr size_t kMaxGrantsPerPage = 100;
inline constexpr size_t kRetirableGrantsPerRead = 256;
// Cache invalidations are counted per stripe of key ids (see KmsServiceImpl::invalidations_).
inline constexpr size_t kInvalidationStripes = 64;

// Issue 13: the KeyMaterialIds of generated symmetric versions, derived once (an HMAC each) and
// shared by every entry of the key (a version's material never changes).
struct MaterialIdCache {
  std::mutex mutex;
  std::map<uint32_t, std::string> ids;  // GUARDED_BY(mutex)
};

struct KeyEntry {
  KeyRecord record;
  // Backing-key versions; shared between successive entries of the same key. Asymmetric and
  // HMAC keys have one version (1): PKCS#8 DER, or the HMAC key.
  std::map<uint32_t, std::shared_ptr<const SecretBytes>> versions;
  // Asymmetric keys: versions[1] parsed once (issue 13); shared like the versions.
  std::shared_ptr<const crypto::PrivateKey> private_key;
  // record.policy compiled, or the service's one compiled default key policy.
  policy::PolicyPtr policy;
  // The names of the key's aliases, sorted (kms:ResourceAliases).
  std::vector<std::string> aliases;
  std::shared_ptr<const grants::GrantTable> grants = grants::GrantTable::Empty();
  // The key record's plaintext as stored when this entry was read or written: a read-modify-write
  // compares it with storage to know the entry is current (KmsServiceImpl::StoredKeyVersion).
  std::string stored_record;
  std::shared_ptr<MaterialIdCache> material_ids = std::make_shared<MaterialIdCache>();
};
using EntryPtr = std::shared_ptr<const KeyEntry>;

// Records to write or delete atomically with a key's changed record.
struct KeyChange {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  std::map<uint32_t, SecretBytes> new_versions;
  policy::PolicyPtr policy;  // when set, the key's new compiled policy
  // Further preconditions (record id, version from GetVersioned; "" = absent), besides the key
  // record's own.
  std::vector<std::pair<std::string, std::string>> expect;
};

// What one call on a key is judged on, besides the key and the caller.
struct KeyRequest {
  std::string_view action;                   // "kms:Encrypt"
  grants::OperationSet grant_operation = 0;  // the grant operation that allows it; 0: grants don't
  // The request's encryption context (the cryptographic operations): its condition keys, and
  // what grant constraints are checked against.
  const EncryptionContext* encryption_context = nullptr;
  std::string_view request_alias;  // the alias name the request named the key by, if it did
  // Condition keys of the operation's own parameters (CreateGrant's, PutKeyPolicy's, ...).
  std::function<void(policy::RequestContext&)> add_conditions;
  // Whether a grant of the caller that has grant_operation allows the request; unset: when its
  // constraints admit the request's encryption context.
  std::function<bool(const grants::Grant&)> grant_admits;
  // kms:EncryptionAlgorithm of a request with an encryption context; empty = SYMMETRIC_DEFAULT.
  std::string_view encryption_algorithm;
};

absl::Status InvalidGrantToken();

absl::Status DryRunSucceeded();

// A page of items addressed by position; the marker is the position of the next item.
template <typename Item>
absl::StatusOr<std::pair<std::vector<Item>, std::string>> PageByPosition(
    const std::vector<Item>& items, size_t limit, const std::string& marker) {
  size_t start = 0;
  if (!marker.empty()) {
    start = 0;
    for (char c : marker) {
      if (c < '0' || c > '9' || start > items.size()) {
        return Error(ErrorType::kInvalidMarker, "Invalid marker");
      }
      start = start * 10 + static_cast<size_t>(c - '0');
    }
    if (start == 0 || start > items.size())
      return Error(ErrorType::kInvalidMarker, "Invalid marker");
  }
  size_t end = std::min(items.size(), start + limit);
  std::vector<Item> page(items.begin() + static_cast<ptrdiff_t>(start),
                         items.begin() + static_cast<ptrdiff_t>(end));
  return std::make_pair(std::move(page), end < items.size() ? std::to_string(end) : "");
}

// What a key reference (id, ARN, alias name, alias ARN) says, before any lookup.
struct KeyReference {
  enum Kind { kKeyId, kAliasName } kind;
  std::string value;  // key id (lower case) or alias name ("alias/...")
};

absl::Status ValidateTags(const std::vector<Tag>& tags);

// The KeyMaterialId of symmetric material under the key: the same derivation for generated and
// imported material (issue 13); it reveals nothing of the material.
std::string SymmetricMaterialId(std::string_view key_id, const SecretBytes& material);

class KmsServiceImpl;

// --- Regions (issue 13: service/regions.cc) ---
// What a region's service sees of the others: multi-Region keys reach into another region.
class RegionPeers {
 public:
  virtual ~RegionPeers() = default;
  // The service of a served region (made on first need with "*"), or nullptr when not served.
  virtual KmsServiceImpl* Peer(std::string_view region) = 0;
  // The keystore under every region's view (batches that span regions, the "mrk/" registry).
  virtual Keystore* SharedKeystore() = 0;
  // Serializes the changes to multi-Region keys that span regions; taken before any region's
  // write_mutex_.
  virtual std::mutex& MultiRegionMutex() = 0;
  // The served regions, for messages.
  virtual std::string ServedText() const = 0;
};

class KmsServiceImpl final : public KmsService {
 public:
  KmsServiceImpl(ServiceOptions options, Keystore* keystore, std::unique_ptr<Clock> clock);

  absl::StatusOr<KeyMetadata> CreateKey(const CallContext& call,
                                        const CreateKeyRequest& request) override;

  absl::StatusOr<KeyMetadata> DescribeKey(const CallContext& call, const std::string& key_id,
                                          const GrantTokens& grant_tokens) override;

  absl::StatusOr<KeyList> ListKeys(const CallContext& call, size_t limit,
                                   const std::string& marker) override;

  absl::Status EnableKey(const CallContext& call, const std::string& key_id) override;

  absl::Status DisableKey(const CallContext& call, const std::string& key_id) override;

  absl::Status UpdateKeyDescription(const CallContext& call, const std::string& key_id,
                                    const std::string& description) override;

  // Alias operations are authorized as AWS does: the action on the alias (identity policies) and
  // on each key involved (key policy).
  absl::Status CreateAlias(const CallContext& call, const std::string& alias_name,
                           const std::string& target_key_id) override;

  absl::Status UpdateAlias(const CallContext& call, const std::string& alias_name,
                           const std::string& target_key_id) override;

  absl::StatusOr<std::string> DeleteAlias(const CallContext& call,
                                          const std::string& alias_name) override;

  absl::StatusOr<AliasList> ListAliases(const CallContext& call, const std::string& key_id,
                                        size_t limit, const std::string& marker) override;

  absl::StatusOr<EncryptResult> Encrypt(const CallContext& call, const std::string& key_id,
                                        const SecretBytes& plaintext,
                                        const EncryptionContext& context,
                                        const GrantTokens& grant_tokens,
                                        const std::string& encryption_algorithm) override;

  absl::StatusOr<DecryptResult> Decrypt(const CallContext& call, const std::string& blob,
                                        const EncryptionContext& context, const std::string& key_id,
                                        const GrantTokens& grant_tokens,
                                        const std::string& encryption_algorithm) override;

  // kms:ReEncryptFrom on the key the blob names, kms:ReEncryptTo on the destination key.
  absl::StatusOr<ReEncryptResult> ReEncrypt(
      const CallContext& call, const std::string& blob, const EncryptionContext& source_context,
      const std::string& source_key_id, const std::string& destination_key_id,
      const EncryptionContext& destination_context, const GrantTokens& grant_tokens,
      const std::string& source_encryption_algorithm,
      const std::string& destination_encryption_algorithm) override;

  absl::StatusOr<DataKeyResult> GenerateDataKey(const CallContext& call, const std::string& key_id,
                                                size_t number_of_bytes,
                                                const EncryptionContext& context,
                                                bool with_plaintext,
                                                const GrantTokens& grant_tokens) override;

  absl::StatusOr<SecretBytes> GenerateRandom(const CallContext& call,
                                             size_t number_of_bytes) override;

  absl::StatusOr<ScheduleDeletionResult> ScheduleKeyDeletion(const CallContext& call,
                                                             const std::string& key_id,
                                                             int pending_window_days) override;

  absl::StatusOr<std::string> CancelKeyDeletion(const CallContext& call,
                                                const std::string& key_id) override;

  absl::Status EnableKeyRotation(const CallContext& call, const std::string& key_id,
                                 int period_days) override;

  absl::Status DisableKeyRotation(const CallContext& call, const std::string& key_id) override;

  absl::StatusOr<RotationStatus> GetKeyRotationStatus(const CallContext& call,
                                                      const std::string& key_id) override;

  absl::StatusOr<std::string> RotateKeyOnDemand(const CallContext& call,
                                                const std::string& key_id) override;

  absl::StatusOr<RotationList> ListKeyRotations(const CallContext& call, const std::string& key_id,
                                                size_t limit, const std::string& marker,
                                                bool include_all_key_material = false) override;

  absl::Status TagResource(const CallContext& call, const std::string& key_id,
                           const std::vector<Tag>& tags) override;

  absl::Status UntagResource(const CallContext& call, const std::string& key_id,
                             const std::vector<std::string>& tag_keys) override;

  absl::StatusOr<TagList> ListResourceTags(const CallContext& call, const std::string& key_id,
                                           size_t limit, const std::string& marker) override;

  absl::StatusOr<std::string> GetKeyPolicy(const CallContext& call, const std::string& key_id,
                                           const std::string& policy_name) override;

  absl::StatusOr<std::vector<std::string>> ListKeyPolicies(const CallContext& call,
                                                           const std::string& key_id) override;

  absl::Status PutKeyPolicy(const CallContext& call, const std::string& key_id,
                            const std::string& policy_name, const std::string& document,
                            bool bypass_lockout_check) override;

  absl::StatusOr<CreateGrantResult> CreateGrant(const CallContext& call,
                                                const CreateGrantRequest& request) override;

  absl::StatusOr<GrantList> ListGrants(const CallContext& call, const std::string& key_id,
                                       const std::string& grant_id,
                                       const std::string& grantee_principal, size_t limit,
                                       const std::string& marker) override;

  // Every key's grants are read from storage: the answer must be complete whatever is cached.
  absl::StatusOr<GrantList> ListRetirableGrants(const CallContext& call,
                                                const std::string& retiring_principal, size_t limit,
                                                const std::string& marker) override;

  absl::StatusOr<std::string> RetireGrant(const CallContext& call,
                                          const RetireGrantRequest& request) override;

  absl::Status RevokeGrant(const CallContext& call, const std::string& key_id,
                           const std::string& grant_id, bool dry_run) override;

  absl::StatusOr<DueTaskReport> RunDueTasks() override;

  // --- Several nodes on one store (cluster_cache.cc) ---

  // What the watch reports (ClusterWatcher forwards here). Quick: they only drop and mark.
  void OnStoredChange(std::string_view record_id);
  void OnFeedStale();
  void OnFeedCurrent();

  // --- Asymmetric and HMAC keys (signing_and_mac.cc) ---

  absl::StatusOr<PublicKeyResult> GetPublicKey(const CallContext& call, const std::string& key_id,
                                               const GrantTokens& grant_tokens) override;

  absl::StatusOr<SignResult> Sign(const CallContext& call, const std::string& key_id,
                                  const SecretBytes& message, MessageType message_type,
                                  const std::string& signing_algorithm,
                                  const GrantTokens& grant_tokens) override;

  absl::StatusOr<SignResult> Verify(const CallContext& call, const std::string& key_id,
                                    const SecretBytes& message, MessageType message_type,
                                    const std::string& signature,
                                    const std::string& signing_algorithm,
                                    const GrantTokens& grant_tokens) override;

  absl::StatusOr<MacResult> GenerateMac(const CallContext& call, const std::string& key_id,
                                        const SecretBytes& message,
                                        const std::string& mac_algorithm,
                                        const GrantTokens& grant_tokens) override;

  absl::StatusOr<MacResult> VerifyMac(const CallContext& call, const std::string& key_id,
                                      const SecretBytes& message, const std::string& mac,
                                      const std::string& mac_algorithm,
                                      const GrantTokens& grant_tokens) override;

  // --- Data key pairs and key agreement (key_pairs_and_agreement.cc, issue 13) ---

  absl::StatusOr<DataKeyPairResult> GenerateDataKeyPair(const CallContext& call,
                                                        const std::string& key_id,
                                                        const std::string& key_pair_spec,
                                                        const EncryptionContext& context,
                                                        bool with_plaintext,
                                                        const GrantTokens& grant_tokens) override;

  absl::StatusOr<SharedSecretResult> DeriveSharedSecret(const CallContext& call,
                                                        const std::string& key_id,
                                                        const std::string& key_agreement_algorithm,
                                                        const std::string& public_key,
                                                        const GrantTokens& grant_tokens) override;

  // --- Key usage tracking and custom key stores (key_last_usage.cc, custom_key_stores.cc) ---

  absl::StatusOr<KeyLastUsage> GetKeyLastUsage(const CallContext& call,
                                               const std::string& key_id) override;

  absl::StatusOr<int> SaveKeyUsage() override;

  absl::Status CustomKeyStoreOperation(const CallContext& call,
                                       std::string_view operation) override;

  // --- Regions (service/regions.cc, service/multi_region_keys.cc) ---
  // Called once, before any call: the other regions this service may reach.
  // record_prefix: this region's record ids in the shared keystore (service/regional_keystore.h).
  // This region's record prefix comes with ServiceOptions::record_prefix, before the watch starts.
  void JoinRegions(RegionPeers* peers) { peers_ = peers; }
  const std::string& Region() const { return options_.region; }

  absl::StatusOr<ReplicateKeyResult> ReplicateKey(const CallContext& call,
                                                  const ReplicateKeyRequest& request) override;
  absl::Status UpdatePrimaryRegion(const CallContext& call, const std::string& key_id,
                                   const std::string& primary_region) override;

  // --- Imported key material (imported_key_material.cc) ---

  absl::StatusOr<ImportParameters> GetParametersForImport(
      const CallContext& call, const std::string& key_id, const std::string& wrapping_algorithm,
      const std::string& wrapping_key_spec) override;

  absl::StatusOr<KeyMaterialResult> ImportKeyMaterial(
      const CallContext& call, const ImportKeyMaterialRequest& request) override;

  absl::StatusOr<KeyMaterialResult> DeleteImportedKeyMaterial(
      const CallContext& call, const std::string& key_id,
      const std::string& key_material_id) override;

 private:
  // --- Multi-Region keys (multi_region_keys.cc) ---

  // ReplicateKey and UpdatePrimaryRegion (under MultiRegionMutex): the key, authorized for
  // kms:<operation> with the condition key given, a multi-Region primary of this region that is
  // not pending deletion, with its set's shared record and that record's version.
  struct PrimaryKeyOfSet {
    EntryPtr entry;
    records::MultiRegionRecord registry;
    std::string registry_version;
  };
  absl::StatusOr<PrimaryKeyOfSet> PrimaryForChange(const CallContext& call,
                                                   const std::string& key_id,
                                                   std::string_view operation,
                                                   std::string_view condition_key,
                                                   const std::string& condition_value);

  // The shared record of a multi-Region key (none: not one), and its version for a conditional
  // write.
  absl::StatusOr<std::optional<records::MultiRegionRecord>> LoadMultiRegion(
      const std::string& key_id, std::string* version = nullptr) const;
  std::string RegionKeyArn(std::string_view region, std::string_view key_id) const;
  // DescribeKey's MultiRegionConfiguration, for a multi-Region key.
  absl::Status AddMultiRegionConfiguration(KeyMetadata& m) const;
  // Rotation is the primary's: a replica refuses operation (UnsupportedOperationException).
  absl::Status RequireNotReplica(const KeyMetadata& m, std::string_view operation) const;
  // ScheduleKeyDeletion: whether the key is a multi-Region primary with replicas, which then
  // waits in PendingReplicaDeletion. For a primary the change also rewrites ("touches") the
  // shared record, expected unchanged, so a concurrent ReplicateKey or replica deletion on any
  // node conflicts with the schedule instead of passing it.
  absl::StatusOr<bool> WaitsForReplicaDeletion(const KeyMetadata& m, KeyChange& change);
  // In the replica's region: authorizes kms:CreateKey, commits the replica and the updated shared
  // record (conditionally on registry_version), publishes the replica.
  absl::StatusOr<ReplicateKeyResult> CreateReplica(
      const CallContext& call, const KeyEntry& primary, const ReplicateKeyRequest& request,
      const records::MultiRegionRecord& updated_registry, const std::string& registry_version);
  // After the primary's material or rotation settings changed: every replica takes them.
  absl::Status SyncReplicas(const std::string& key_id);
  // In a replica's region, under its write lock: the primary's versions and rotation settings.
  absl::Status TakeSharedProperties(const KeyEntry& primary);
  // A primary in PendingReplicaDeletion whose last replica is being destroyed: its waiting
  // period begins in the same commit (record ids as in the shared keystore).
  struct PrimaryRelease {
    KmsServiceImpl* region = nullptr;  // the primary's region; nullptr: nothing to release
    std::string key_id;
    std::string record_id;             // the primary's key record
    std::string version;               // as read (the commit expects it)
    std::string record;                // its new plaintext: PendingDeletion with its date
    std::string due_record_id;         // its deletion's schedule record
  };
  // DestroyKey: the shared record loses this region (or goes, with the primary), in the batch;
  // encoded keeps the record's bytes alive until the commit. release: see PrimaryRelease.
  absl::Status ForgetMultiRegionKey(const KeyRecord& record, KeystoreBatch& batch,
                                    std::string& encoded, PrimaryRelease& release);
  // DestroyKey's commit: in this region's keystore, or, with a release, in the shared one.
  absl::Status CommitDestruction(const KeystoreBatch& batch, const PrimaryRelease& release);

  // --- Imported key material (imported_key_material.cc) ---

  // GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial: the key's Origin must be
  // EXTERNAL (UnsupportedOperationException in AWS's words).
  absl::Status RequireExternalOrigin(const KeyMetadata& m) const;

  // EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand: not for keys of Origin EXTERNAL.
  absl::Status RequireGeneratedMaterial(const KeyMetadata& m) const;

  // The scheduler's tasks of imported keys: material whose ValidTo has come (deleted, the key goes
  // to PendingImport) and wrapping keys whose import tokens have expired. Under write_mutex_.
  absl::Status RunImportTask(const EntryPtr& entry, const records::DueTask& task,
                             const std::string& due_record_id, int64_t now, DueTaskReport& report);

  // Deletes the key's imported material (every version) in one commit with the key's record and
  // the batch's other changes, publishes the entry without material, and compacts storage so that
  // nothing of the material is left (crypto-shredding). Under write_mutex_.
  absl::StatusOr<EntryPtr> DropImportedMaterial(const EntryPtr& current, KeystoreBatch batch);

  // Commits changed's key record with batch's other changes and publishes it. Under write_mutex_.
  absl::Status CommitEntry(std::shared_ptr<KeyEntry> changed, KeystoreBatch& batch);

  // --- Several materials of a symmetric imported key (imported_key_material.cc, issue 13) ---

  // One attempt of ImportKeyMaterial and of DeleteImportedKeyMaterial (RetryConflicts redoes it
  // on a StorageConflict), under write_mutex_; replicas_of: the multi-Region key whose replicas
  // must take the change (SyncReplicas, after the lock).
  absl::StatusOr<KeyMaterialResult> ImportOnce(const CallContext& call,
                                               const ImportKeyMaterialRequest& request,
                                               int64_t now, std::string& replicas_of);
  absl::StatusOr<KeyMaterialResult> DeleteMaterialOnce(const CallContext& call,
                                                       const std::string& key_id,
                                                       const std::string& key_material_id,
                                                       std::string& replicas_of);

  // ImportKeyMaterial into a symmetric key: new material (the first, or one pending rotation) or
  // material the key has had (EXISTING_KEY_MATERIAL), with AWS's refusals; returns its version.
  absl::StatusOr<uint32_t> PlaceSymmetricMaterial(KeyRecord& record,
                                                  const ImportKeyMaterialRequest& request,
                                                  const std::string& material_id);

  // DeleteImportedKeyMaterial and the expiry of a symmetric key's materials (by KeyMaterialId):
  // each material is destroyed; one pending rotation is forgotten, any other waits for its
  // reimport with the key in PendingImport. Commits, publishes and compacts as
  // DropImportedMaterial.
  absl::StatusOr<EntryPtr> DropMaterials(const EntryPtr& current,
                                         const std::vector<std::string>& ids,
                                         KeystoreBatch batch);

  // A symmetric imported key's metadata (current material's id, expiry, description), its
  // has_material and its state (PendingImport while a material is missing), from its materials.
  static void RefreshImportedState(KeyRecord& record);

  // The KeyMaterialId of a symmetric key's backing-key version ("" for other keys): the stored
  // id of imported material, or the id derived from generated material as from imported.
  static std::string MaterialIdOfVersion(const KeyEntry& entry, uint32_t version);

  // RotateKeyOnDemand of a symmetric imported key: the material pending rotation becomes current.
  absl::Status RotateToPendingMaterial(KeyRecord& record, int64_t now) const;

  // Whether every replica of a multi-Region key has imported the material (always, for a key
  // without replicas): else it is PENDING_MULTI_REGION_IMPORT_AND_ROTATION and cannot become
  // current.
  absl::StatusOr<bool> PendingInEveryReplica(const KeyRecord& record,
                                             const std::string& material_id) const;

  // --- Multi-Region keys with imported material (imported_key_material.cc, issue 13) ---

  // ReplicateKey of a key of Origin EXTERNAL: the replica's entry without any material, in
  // PendingImport, knowing which material(s) it must be given.
  static void WithoutImportedMaterial(KeyEntry& replica);

  // In a replica's region (SyncReplicas): the primary's list of symmetric materials (new
  // material to import, material pending rotation forgotten, the current one), under the
  // replica's write lock.
  absl::Status TakeImportedMaterials(const KeyRecord& primary);

  // The material a replica of an asymmetric or HMAC key must import: the primary's.
  absl::StatusOr<std::string> PrimaryMaterialId(const KeyMetadata& m);

  // ListKeyRotations' rows of a key.
  absl::StatusOr<std::vector<RotationListEntry>> KeyMaterialRows(const KeyEntry& entry,
                                                                 bool include_all) const;


  // --- Kinds of key (signing_and_mac.cc) ---

  // The key's KeyUsage must be usage for operation, else InvalidKeyUsageException naming it.
  absl::Status RequireKeyUsage(const KeyMetadata& m, std::string_view usage,
                               std::string_view operation) const;

  // GenerateDataKey* and GenerateDataKeyPair*: a symmetric encryption key (InvalidKeyUsageException
  // naming the key's usage or spec).
  absl::Status RequireSymmetricEncryption(const KeyMetadata& m, std::string_view operation) const;

  // GenerateMac and VerifyMac: the key, resolved and authorized for operation with its MAC
  // algorithm checked, and the message's HMAC under it.
  absl::StatusOr<std::pair<EntryPtr, std::string>> MacUnder(
      const CallContext& call, const std::string& key_id, const SecretBytes& message,
      const std::string& mac_algorithm, const GrantTokens& grant_tokens, std::string_view operation,
      grants::OperationSet grant_operation);

  // --- RSA encryption keys (cryptographic_operations.cc, issue 13) ---

  // Encrypt, Decrypt and ReEncrypt: an ENCRYPT_DECRYPT key (InvalidKeyUsageException naming its
  // usage) that supports algorithm (InvalidKeyUsageException: "Algorithm X is incompatible with
  // key spec Y.").
  absl::Status RequireEncryptionAlgorithm(const KeyMetadata& m, std::string_view operation,
                                          std::string_view algorithm) const;

  // The plaintext under the key with the algorithm (checked by RequireEncryptionAlgorithm): a kmsd
  // blob for a symmetric key, the raw RSAES-OAEP ciphertext for an RSA key (no encryption context,
  // at most MaxRsaPlaintext bytes: ValidationException).
  absl::StatusOr<std::string> EncryptUnder(const KeyEntry& entry, std::string_view algorithm,
                                           const EncryptionContext& context,
                                           std::string_view plaintext) const;

  // Decrypt and ReEncrypt's source: the key that opens the ciphertext, named by key_ref or, for a
  // symmetric blob, by the blob (*header set then). An RSA ciphertext needs key_ref.
  struct CiphertextKey {
    EntryPtr entry;
    std::optional<BlobHeader> header;  // a symmetric blob's
    std::string request_alias;
  };
  absl::StatusOr<CiphertextKey> KeyOfCiphertext(const std::string& blob, const std::string& key_ref,
                                                std::string_view algorithm,
                                                std::string_view key_member);

  // Opens a ciphertext with the key KeyOfCiphertext found.
  static absl::StatusOr<SecretBytes> DecryptUnder(const CiphertextKey& source,
                                                  std::string_view algorithm,
                                                  const std::string& blob,
                                                  const EncryptionContext& context);

  // Rotation operations: only symmetric encryption keys rotate (UnsupportedOperationException).
  absl::Status RequireRotatable(const KeyMetadata& m, std::string_view operation) const;

  // Checks the stored material's shape against the key's spec and, for an asymmetric key, parses
  // it into entry.private_key.
  static absl::Status AttachMaterial(KeyEntry& entry);

  // Deletions and rotations that fall due (RunDueTasks without the saving of key usage).
  absl::StatusOr<DueTaskReport> RunScheduledTasks();

  // A successful cryptographic operation (operation: AWS's KeyLastUsageTrackingOperation name)
  // becomes the key's last use, in memory only; a DryRun is none. Every cryptographic operation
  // calls it once per key it used, after it succeeded.
  void RecordKeyUse(const CallContext& call, const KeyEntry& entry, std::string_view operation);

  // SaveKeyUsage on a shared store: one conditional write per key, keeping the newer of this
  // node's use and the one stored.
  absl::StatusOr<int> SaveKeyUsageShared(
      const std::vector<std::pair<std::string, KeyUse>>& changed);

  // When kmsd began tracking key usage: stored at the first save or question, as the time this
  // service started.
  absl::StatusOr<int64_t> TrackingStart();

  // Runs one due task, or drops its schedule record when the key no longer calls for it. Every
  // write is conditional on the schedule record as read (due_version), so of two nodes that
  // overlap on a task one does it and the other finds it gone.
  absl::Status RunDueTask(const records::DueTask& task, const std::string& due_record_id,
                          int64_t now, DueTaskReport& report);

  // Crypto-shredding: the key's record, every backing-key version, its aliases, its grants and its
  // schedule go in one commit; after it nothing can decrypt a blob made under the key.
  // Issue 12: in bounded steps, so that a key of any size fits etcd's transactions: the key
  // record is marked `destroying` (conditional on the schedule record), then its other records go
  // in batches of at most kMaxDestroyBatchRecords, then the key record with its schedule. A crash
  // between steps leaves a marked key, which answers NotFound and which the next pass of the
  // scheduler (on any node) finishes (ResumeDestruction). The DeleteKey service event is reported
  // (and that noted in the key record) before any record goes.
  absl::Status DestroyKey(const EntryPtr& entry, const std::string& due_record_id,
                          const std::string& due_version, DueTaskReport& report);
  // True when the task's key was marked and this call finished its destruction.
  absl::StatusOr<bool> ResumeDestruction(const records::DueTask& task,
                                         const std::string& due_record_id,
                                         const std::string& due_version, DueTaskReport& report);
  absl::Status FinishDestruction(const std::string& key_id, const std::string& due_record_id,
                                 const std::string& due_version, DueTaskReport& report);
  // Hands a service event (DeleteKey, RotateKey) to ServiceOptions::on_service_event, with an
  // eventID derived from the event, the key and the due date: the same on every node.
  absl::Status ReportServiceEvent(std::string_view event_name, const std::string& key_id,
                                  int64_t due);

  // EnableKey, DisableKey and UpdateKeyDescription: a change to the metadata of a key (by any
  // form of key id) that is not pending deletion.
  // needs_material: EnableKey and DisableKey refuse a key pending import (KMSInvalidState).
  template <typename Edit>
  absl::Status ChangeUnlessPendingDeletion(const CallContext& call, std::string_view action,
                                           const std::string& key_id, Edit edit,
                                           bool needs_material = false) {
    return Mutate(call, action, key_id, /*allow_alias=*/true,
                  [&](KeyRecord& record, KeyChange&) {
                    if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                      return status;
                    }
                    if (needs_material && record.metadata.state == KeyState::kPendingImport) {
                      return RequireUsable(record.metadata);
                    }
                    edit(record.metadata);
                    return absl::OkStatus();
                  })
        .status();
  }

  static void UnscheduleRotation(KeyRecord& record, KeyChange& change);

  // A new backing-key version becomes current; every older one stays for decryption.
  static absl::Status AddRotation(KeyRecord& record, KeyChange& change, int64_t now,
                                  RotationType type);

  std::string KeyArn(std::string_view key_id) const;
  std::string AliasArn(std::string_view alias_name) const;

  KeyMetadata Describe(const KeyEntry& entry) const;

  static absl::Status UndecryptableBlob();

  absl::Status RequireNotPendingDeletion(const KeyMetadata& m) const;

  absl::Status RequireUsable(const KeyMetadata& m) const;

  // Parses a key reference without looking anything up.
  absl::StatusOr<KeyReference> ParseReference(const std::string& ref) const;

  // The key a reference names. request_alias, when given, receives the alias name if the
  // reference was an alias name or alias ARN (kms:RequestAlias).
  absl::StatusOr<EntryPtr> Resolve(const std::string& ref, bool allow_alias,
                                   std::string* request_alias = nullptr);

  // Resolve, grant tokens, authorization, key state: the road of Encrypt and GenerateDataKey.
  absl::StatusOr<EntryPtr> ResolveForCrypto(const CallContext& call, const std::string& ref,
                                            const GrantTokens& grant_tokens, KeyRequest request);

  // The key a blob names. key_ref, when not empty, must name the same key (IncorrectKey); a key
  // that no longer exists makes the blob undecryptable.
  absl::StatusOr<EntryPtr> BlobKey(const BlobHeader& header, const std::string& key_ref,
                                   std::string* request_alias);

  static absl::StatusOr<SecretBytes> OpenUnder(const KeyEntry& entry, const BlobHeader& header,
                                               const std::string& blob,
                                               const EncryptionContext& context);

  // --- Authorization ---

  // The context of action on a key: the call's keys and the key's (kms:KeySpec, kms:KeyUsage,
  // kms:KeyOrigin, kms:ResourceAliases).
  policy::RequestContext KeyContext(const CallContext& call, std::string_view action,
                                    const KeyEntry& entry) const;

  // A key resource operation: the key's policy, the caller's identity policies and the key's
  // grants, with the condition keys of the key and of the request.
  absl::Status AuthorizeKey(const CallContext& call, const KeyEntry& entry,
                            const KeyRequest& request) const;

  // Whether a grant of the key whose grantee is the caller (or, for a role session, its role)
  // allows the request.
  static bool GrantAllows(const KeyEntry& entry, const Principal* caller,
                          const KeyRequest& request);

  // An action authorized by identity policies alone (CreateKey, ListKeys, ListAliases,
  // GenerateRandom, ListRetirableGrants, and the alias half of the alias operations).
  absl::Status AuthorizeAccountAction(const CallContext& call, std::string_view action,
                                      std::string resource) const;

  // AWS authorizes an alias operation on the alias (identity policies) and on every key it
  // touches (their key policies).
  absl::Status AuthorizeAliasAction(const CallContext& call, std::string_view action,
                                    const std::string& alias_name,
                                    std::initializer_list<EntryPtr> keys) const;

  // RetireGrant: "the grant determines who can retire it": its retiring principal, its grantee
  // when it allows RetireGrant, the account (the root, and principals an identity policy allows
  // kms:RetireGrant). An explicit deny of kms:RetireGrant in an identity policy still wins. Key
  // policies do not take part.
  absl::Status AuthorizeRetire(const CallContext& call, const KeyEntry& entry,
                               const GrantRecord& grant) const;

  // --- Key policies ---

  absl::StatusOr<policy::PolicyPtr> CompileKeyPolicy(const std::string& document) const;

  // CreateKey and ReplicateKey: the new key's policy (none: AWS's default), compiled and, unless
  // bypassed, checked against lockout; sets entry.policy and entry.record.policy.
  absl::Status AttachNewKeyPolicy(const CallContext& call, KeyEntry& entry,
                                  const std::optional<std::string>& document,
                                  bool bypass_lockout_check) const;

  // The lockout safety check: would the new policy (with the caller's identity policies) let the
  // caller call PutKeyPolicy on the key again?
  absl::Status CheckLockout(const CallContext& call, const KeyEntry& entry,
                            const policy::Policy& new_policy) const;

  static absl::Status RequireDefaultPolicyName(const std::string& policy_name);

  // --- Grants ---

  // Every token must name a grant that exists and be one that grant's secret made. On a shared
  // store, the entries in refresh are taken again from the cache after the tokens' grants were
  // read (a token's grant may be newer than the entry the caller holds).
  absl::Status CheckGrantTokens(const GrantTokens& tokens,
                                std::initializer_list<EntryPtr*> refresh = {});

  // The key entry and grant a token names (the grant lives as long as the entry).
  absl::StatusOr<std::pair<EntryPtr, const grants::Grant*>> GrantOfToken(const std::string& token);

  absl::StatusOr<const grants::Grant*> FindGrant(const KeyEntry& entry,
                                                 const std::string& grant_id) const;

  static absl::Status InvalidGrantId(const std::string& grant_id);

  absl::Status RemoveGrant(const EntryPtr& entry, const std::string& grant_id);

  // Whether an existing grant is what a named CreateGrant request would make.
  static bool SameGrant(const GrantRecord& grant, grants::OperationSet requested_operations,
                        grants::OperationSet grant_operations, const CreateGrantRequest& request);

  GrantEntry ToEntry(const GrantRecord& grant) const;

  // --- Aliases ---

  // Every alias operation: the "alias/" prefix, a name after it, not reserved (alias/aws/...).
  absl::Status ValidateAliasName(const std::string& alias_name) const;

  // CreateAlias: only the characters its documentation allows (ValidationException in AWS's
  // words).
  static absl::Status ValidateNewAliasCharacters(const std::string& alias_name);

  // CreateAlias and UpdateAlias: the target must be a key id or key ARN, never an alias.
  absl::Status RequireKeyTarget(const std::string& target_key_id) const;

  // The alias's record from storage (NotFound when absent) and, when asked, its version.
  absl::StatusOr<AliasRecord> LoadAlias(const std::string& alias_name,
                                        std::string* version = nullptr);

  absl::StatusOr<std::string> AliasTarget(const std::string& alias_name);

  // The alias index (every alias's key, every key's aliases) is read from storage once, on first
  // need, and kept current by the alias operations and DestroyKey, which write aliases only
  // under write_mutex_ and after this has returned. On a shared store it also reads again the
  // aliases the watch reported changed (changed_aliases_), and while the feed is stale it reads
  // the whole index from storage at every call.
  absl::Status EnsureAliasIndex();

  // Reads the whole alias index from storage (alias_index_mutex_ held).
  absl::Status LoadAliasIndex();

  // The names of the key's aliases with their versions, from storage (DestroyKey on a shared
  // store).
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> StoredAliasesOf(
      const std::string& key_id);

  void IndexAlias(const std::string& alias_name, const std::string& key_id);

  void UnindexAlias(const std::string& alias_name);

  // As IndexAlias and UnindexAlias, cache_mutex_ held exclusively.
  void IndexAliasLocked(const std::string& alias_name, const std::string& key_id);
  void UnindexAliasLocked(const std::string& alias_name);

  std::vector<std::string> AliasesOf(const std::string& key_id);

  // Publishes the key's entry again with its aliases as the index has them now. Always
  // publishing (not only when cached) keeps a concurrent first load from caching stale aliases:
  // a load inserts only where nothing is published yet.
  void RepublishAliases(const EntryPtr& entry);

  // --- Metrics ---

  absl::StatusOr<KeyStateCounts> CountKeysByState() override;

  KeyCacheStats CacheStats() override;

  // --- The key cache ---

  // The entry for a key id (lower-case UUID): from the cache, else from the keystore.
  absl::StatusOr<EntryPtr> Load(const std::string& key_id);

  absl::StatusOr<EntryPtr> LoadFromKeystore(const std::string& key_id);

  void Publish(EntryPtr entry);

  // --- Cache coherence (cluster_cache.cc) ---

  size_t StripeOf(std::string_view key_id) const;
  // The count of invalidations of the key's stripe: taken before a read or a write of storage,
  // and handed back to PublishIfCurrent or the cache insertion after it.
  uint64_t InvalidationsOf(std::string_view key_id);
  // Publishes the entry just written unless the key's stripe was invalidated since `seen`; then
  // drops the cached entry instead, so the next read goes to storage.
  void PublishIfCurrent(EntryPtr entry, uint64_t seen);
  // Drops the key's cached entry (cache_mutex_ held exclusively / not held).
  void ForgetLocked(std::string_view key_id);
  void Forget(std::string_view key_id);

  // The version of the key's stored record, for KeystoreBatch::expect, when entry is current:
  // its record is the stored one. Otherwise drops the cached entry and answers StorageConflict
  // (RetryConflicts reads it again); NotFound when another node destroyed the key.
  absl::StatusOr<std::string> StoredKeyVersion(const KeyEntry& entry);

  // Authorizes action on the key, applies change to a copy of the key's record, commits the
  // record with the change's other records in one batch, and publishes the new entry.
  // Retries on a StorageConflict, reading the key again.
  template <typename Change>
  absl::StatusOr<EntryPtr> Mutate(const CallContext& call, std::string_view action,
                                  const std::string& key_ref, bool allow_alias, Change change) {
    std::lock_guard write_lock(write_mutex_);
    return RetryConflicts([&]() -> absl::StatusOr<EntryPtr> {
      auto current = Resolve(key_ref, allow_alias);
      if (!current.ok()) return current.status();
      if (auto status = AuthorizeKey(call, **current, {.action = action}); !status.ok()) {
        return status;
      }
      return MutateLocked(*current, change);
    });
  }

  // One attempt: commits only if the key record is still the one current holds (else
  // StorageConflict; callers retry with RetryConflicts).
  template <typename Change>
  absl::StatusOr<EntryPtr> MutateLocked(const EntryPtr& current, Change change) {
    auto version = StoredKeyVersion(*current);
    if (!version.ok()) return version.status();
    auto changed = std::make_shared<KeyEntry>(*current);
    KeyChange extra;
    if (absl::Status status = change(changed->record, extra); !status.ok()) return status;
    const std::string& key_id = changed->record.metadata.key_id;
    std::string encoded = records::EncodeKeyRecord(changed->record);
    KeystoreBatch batch;
    batch.expect.emplace_back(records::KeyRecordId(key_id), std::move(*version));
    for (auto& expected : extra.expect) batch.expect.push_back(std::move(expected));
    batch.puts.emplace_back(records::KeyRecordId(key_id), encoded);
    for (const auto& [id, value] : extra.puts) batch.puts.emplace_back(id, value);
    std::vector<std::string> material_ids;
    material_ids.reserve(extra.new_versions.size());
    for (const auto& [version, material] : extra.new_versions) {
      material_ids.push_back(records::MaterialRecordId(key_id, version));
      batch.puts.emplace_back(material_ids.back(), material.view());
    }
    batch.deletes = extra.deletes;
    uint64_t seen = InvalidationsOf(key_id);
    if (auto status = keystore_->Commit(batch); !status.ok()) {
      if (IsStorageConflict(status)) Forget(key_id);
      return status;
    }
    for (auto& [version, material] : extra.new_versions) {
      changed->versions[version] = std::make_shared<const SecretBytes>(std::move(material));
    }
    if (extra.policy) changed->policy = std::move(extra.policy);
    changed->stored_record = std::move(encoded);
    EntryPtr published = changed;
    PublishIfCurrent(published, seen);
    return published;
  }

  absl::StatusOr<std::string> SealUnder(const KeyEntry& entry, const EncryptionContext& context,
                                        std::string_view plaintext) const;

  // Forwards the shared store's watch to the service.
  class ClusterWatcher final : public StorageWatcher {
   public:
    explicit ClusterWatcher(KmsServiceImpl* service) : service_(service) {}
    void OnChange(std::string_view key) override { service_->OnStoredChange(key); }
    void OnStale() override { service_->OnFeedStale(); }
    void OnCurrent() override { service_->OnFeedCurrent(); }

   private:
    KmsServiceImpl* const service_;
  };

  const ServiceOptions options_;
  Keystore* const keystore_;
  // Whether other nodes write to the store (ServiceOptions::backend Shared()).
  bool shared_ = false;
  // Whether this node runs the scheduler's due tasks now; always, with one node.
  std::unique_ptr<Leadership> leadership_;
  ClusterWatcher watcher_{this};
  // While the feed is stale (or the watch could not start), nothing is served from the caches.
  std::atomic<bool> stale_{false};
  const std::unique_ptr<Clock> clock_;
  std::string arn_prefix_;
  // AWS's default key policy for this account, as text and compiled once for every key that has
  // no policy of its own.
  const std::string default_policy_document_;
  const absl::StatusOr<policy::PolicyPtr> default_policy_;

  std::mutex write_mutex_;  // serializes every change to keys, aliases, policies and grants
  std::shared_mutex destroy_mutex_;  // see Load and DestroyKey
  std::mutex alias_index_mutex_;     // one reading of the alias index (EnsureAliasIndex)
  std::atomic<bool> alias_index_loaded_{false};
  std::shared_mutex cache_mutex_;
  std::unordered_map<std::string, EntryPtr> key_cache_;  // GUARDED_BY(cache_mutex_)
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> cache_misses_{0};
  // The alias index, complete once alias_index_loaded_.
  std::unordered_map<std::string, std::string> alias_targets_;  // GUARDED_BY(cache_mutex_)
  std::unordered_map<std::string, std::vector<std::string>>
      aliases_by_key_;  // GUARDED_BY(cache_mutex_)
  // Shared store: aliases the watch reported changed, not yet read again (EnsureAliasIndex).
  std::set<std::string> changed_aliases_;  // GUARDED_BY(cache_mutex_)
  std::atomic<bool> aliases_changed_{false};
  // Shared store: per stripe of key ids, how many times a cached entry was dropped. A load or a
  // write that saw another count before it read or wrote storage does not cache what it got: a
  // drop for a newer change may have come in between.
  std::array<uint64_t, kInvalidationStripes> invalidations_{};  // GUARDED_BY(cache_mutex_)

  // Key usage tracking.
  key_usage::KeyUsageTracker key_usage_;
  int64_t started_at_ = 0;       // when this service began (the clock's time at construction)
  std::mutex save_usage_mutex_;  // one SaveKeyUsage at a time
  std::mutex tracking_start_mutex_;
  std::optional<int64_t> tracking_start_;  // GUARDED_BY(tracking_start_mutex_)

  // The other regions (issue 13); nullptr for a service made alone (NewKmsService).
  RegionPeers* peers_ = nullptr;
  std::string record_prefix_;               // this region's record ids in peers_->SharedKeystore()
  std::vector<std::string> replica_syncs_;  // GUARDED_BY(write_mutex_): rotated by the scheduler
};

}  // namespace kmsd::service_internal
