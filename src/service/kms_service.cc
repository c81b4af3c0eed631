// The KMS service: key and alias lifecycle, key policies, grants and the symmetric cryptographic
// operations, each authorized before it acts (service/authorization.h asks the policy engine).
//
// Concurrency: published key entries are immutable and shared (shared_ptr<const KeyEntry>); a
// reader takes the cache lock briefly to copy the pointer, then works without locks. An entry
// carries everything a call on its key is judged on (the compiled key policy, the key's aliases,
// its grants), so authorizing a call on a cached key reads no storage. Mutations are serialized by
// write_mutex_: read the current entry, build a changed copy, commit it to the keystore, then
// publish it. Key material is loaded once per key and shared between versions of the entry, never
// copied.
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/policy.h"
#include "kmsd/service.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"
#include "service/authorization.h"
#include "service/grants.h"
#include "service/records.h"

namespace kmsd {

std::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
  }
  return "Unavailable";
}

std::string_view RotationTypeName(RotationType type) {
  return type == RotationType::kOnDemand ? "ON_DEMAND" : "AUTOMATIC";
}

namespace {

using records::AliasRecord;
using records::GrantRecord;
using records::KeyRecord;

constexpr size_t kMaxTags = 50;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int kMinPendingWindowDays = 7;
constexpr int kMaxPendingWindowDays = 30;
constexpr size_t kMaxOnDemandRotations = 10;
constexpr size_t kDueTasksPerPage = 64;
constexpr std::string_view kReservedAliasPrefix = "alias/aws/";
// AWS's grant quotas.
constexpr size_t kMaxGrantsPerKey = 50000;
constexpr size_t kMaxGrantsPerGranteePerKey = 500;
constexpr size_t kMaxGrantsPerPage = 100;
constexpr size_t kRetirableGrantsPerRead = 256;

struct KeyEntry {
  KeyRecord record;
  // Backing-key versions; shared between successive entries of the same key.
  std::map<uint32_t, std::shared_ptr<const SecretBytes>> versions;
  // record.policy compiled, or the service's one compiled default key policy.
  policy::PolicyPtr policy;
  // The names of the key's aliases, sorted (kms:ResourceAliases).
  std::vector<std::string> aliases;
  std::shared_ptr<const grants::GrantTable> grants = grants::GrantTable::Empty();
};
using EntryPtr = std::shared_ptr<const KeyEntry>;

// Records to write or delete atomically with a key's changed record.
struct KeyChange {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  std::map<uint32_t, SecretBytes> new_versions;
  policy::PolicyPtr policy;  // when set, the key's new compiled policy
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
};

absl::Status InvalidGrantToken() {
  return Error(ErrorType::kInvalidGrantToken, "The grant token is not valid");
}

absl::Status DryRunSucceeded() {
  return Error(ErrorType::kDryRunOperation,
               "The request would have succeeded, but the DryRun parameter was set");
}

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
    if (start == 0 || start > items.size()) return Error(ErrorType::kInvalidMarker, "Invalid marker");
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

absl::Status ValidateTags(const std::vector<Tag>& tags) {
  if (tags.size() > kMaxTags) {
    return Error(ErrorType::kTag, StrCat("A KMS key can have at most ", kMaxTags, " tags"));
  }
  std::vector<std::string_view> keys;
  for (const Tag& tag : tags) {
    if (tag.key.empty() || tag.key.size() > 128) {
      return Error(ErrorType::kTag, "Tag keys must be 1 to 128 characters long");
    }
    if (tag.value.size() > 256) {
      return Error(ErrorType::kTag, "Tag values must be at most 256 characters long");
    }
    if (AsciiLower(tag.key).starts_with("aws:")) {
      return Error(ErrorType::kTag, "Tag keys beginning with 'aws:' are reserved for AWS use");
    }
    keys.push_back(tag.key);
  }
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
    return Error(ErrorType::kTag, "Duplicate tag keys are not allowed");
  }
  return absl::OkStatus();
}

class KmsServiceImpl final : public KmsService {
 public:
  KmsServiceImpl(ServiceOptions options, Keystore* keystore, std::unique_ptr<Clock> clock)
      : options_(std::move(options)),
        keystore_(keystore),
        clock_(std::move(clock)),
        default_policy_document_(authorization::DefaultKeyPolicy(options_.account_id)),
        default_policy_(policy::Parse(default_policy_document_, policy::PolicyKind::kResource)) {
    arn_prefix_ = StrCat("arn:aws:kms:", options_.region, ":", options_.account_id, ":");
  }

  absl::StatusOr<KeyMetadata> CreateKey(const CallContext& call,
                                        const CreateKeyRequest& request) override {
    auto entry = std::make_shared<KeyEntry>();
    KeyMetadata& m = entry->record.metadata;
    m.key_id = NewUuid();
    m.key_usage = request.key_usage;
    m.key_spec = request.key_spec;
    m.origin = request.origin;
    {
      auto context = authorization::NewContext(call, "kms:CreateKey", "*", clock_->NowSeconds());
      authorization::AddKeyProperties(context, m);
      // Present only when the request sets it, so that AWS's Null conditions on it work.
      if (request.bypass_policy_lockout_safety_check) {
        context.Set("kms:BypassPolicyLockoutSafetyCheck", "true");
      }
      context.Set("kms:MultiRegion", request.multi_region ? "true" : "false");
      if (auto status = authorization::Decide(context, nullptr); !status.ok()) return status;
    }
    if (request.key_spec != "SYMMETRIC_DEFAULT") {
      return Error(ErrorType::kUnsupportedOperation,
                   StrCat("KeySpec ", request.key_spec,
                                " is not supported yet; kmsd supports SYMMETRIC_DEFAULT"));
    }
    if (request.key_usage != "ENCRYPT_DECRYPT") {
      return Validation(StrCat("KeyUsage ", request.key_usage,
                                     " is not compatible with KeySpec SYMMETRIC_DEFAULT"));
    }
    if (request.origin != "AWS_KMS") {
      return Error(ErrorType::kUnsupportedOperation,
                   StrCat("Origin ", request.origin, " is not supported yet"));
    }
    if (request.multi_region) {
      return Error(ErrorType::kUnsupportedOperation, "Multi-Region keys are not supported yet");
    }
    if (auto status = ValidateTags(request.tags); !status.ok()) return status;
    if (request.policy) {
      auto compiled = CompileKeyPolicy(*request.policy);
      if (!compiled.ok()) return compiled.status();
      if (!request.bypass_policy_lockout_safety_check) {
        if (auto status = CheckLockout(call, *entry, **compiled); !status.ok()) return status;
      }
      entry->policy = std::move(*compiled);
      entry->record.policy = *request.policy;
    } else {
      if (!default_policy_.ok()) return default_policy_.status();
      entry->policy = *default_policy_;
    }

    auto material = crypto::RandomSecret(crypto::kAes256KeySize);
    if (!material.ok()) return material.status();

    m.creation_date = clock_->NowSeconds();
    m.description = request.description;
    m.state = KeyState::kEnabled;
    entry->record.tags = request.tags;
    entry->record.current_version = 1;

    std::string metadata_record = records::EncodeKeyRecord(entry->record);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::KeyRecordId(m.key_id), metadata_record);
    batch.puts.emplace_back(records::MaterialRecordId(m.key_id, 1), material->view());
    {
      std::lock_guard write_lock(write_mutex_);
      if (auto status = keystore_->Commit(batch); !status.ok()) return status;
      entry->versions[1] = std::make_shared<const SecretBytes>(std::move(*material));
      Publish(entry);
    }
    return Describe(*entry);
  }

  absl::StatusOr<KeyMetadata> DescribeKey(const CallContext& call, const std::string& key_id,
                                          const GrantTokens& grant_tokens) override {
    std::string request_alias;
    auto entry = Resolve(key_id, /*allow_alias=*/true, &request_alias);
    if (!entry.ok()) return entry.status();
    if (auto status = CheckGrantTokens(grant_tokens); !status.ok()) return status;
    if (auto status = AuthorizeKey(call, **entry,
                                   {.action = "kms:DescribeKey",
                                    .grant_operation = grants::kDescribeKey,
                                    .request_alias = request_alias});
        !status.ok()) {
      return status;
    }
    return Describe(**entry);
  }

  absl::StatusOr<KeyList> ListKeys(const CallContext& call, size_t limit,
                                   const std::string& marker) override {
    if (auto status = AuthorizeAccountAction(call, "kms:ListKeys", "*"); !status.ok()) {
      return status;
    }
    std::string start_after;
    if (!marker.empty()) {
      if (!IsUuid(marker)) return Error(ErrorType::kInvalidMarker, "Invalid marker");
      start_after = records::KeyRecordId(AsciiLower(marker));
    }
    // Ids only; the records are small, and the list is read from storage so it is complete even
    // when the cache holds a fraction of the keys.
    auto listed = keystore_->List(records::kKeyPrefix, start_after, limit + 1);
    if (!listed.ok()) return listed.status();
    KeyList result;
    for (const KeystoreRecord& record : *listed) {
      if (result.keys.size() == limit) {
        result.next_marker = result.keys.back().key_id;
        break;
      }
      std::string id = record.id.substr(records::kKeyPrefix.size());
      result.keys.push_back({id, KeyArn(id)});
    }
    return result;
  }

  absl::Status EnableKey(const CallContext& call, const std::string& key_id) override {
    return ChangeUnlessPendingDeletion(call, "kms:EnableKey", key_id,
                                       [](KeyMetadata& m) { m.state = KeyState::kEnabled; });
  }

  absl::Status DisableKey(const CallContext& call, const std::string& key_id) override {
    return ChangeUnlessPendingDeletion(call, "kms:DisableKey", key_id,
                                       [](KeyMetadata& m) { m.state = KeyState::kDisabled; });
  }

  absl::Status UpdateKeyDescription(const CallContext& call, const std::string& key_id,
                                    const std::string& description) override {
    return ChangeUnlessPendingDeletion(call, "kms:UpdateKeyDescription", key_id,
                                       [&](KeyMetadata& m) { m.description = description; });
  }

  // Alias operations are authorized as AWS does: the action on the alias (identity policies) and
  // on each key involved (key policy).
  absl::Status CreateAlias(const CallContext& call, const std::string& alias_name,
                           const std::string& target_key_id) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    auto target = Resolve(target_key_id, /*allow_alias=*/false);
    if (!target.ok()) return target.status();
    if (auto status = AuthorizeAliasAction(call, "kms:CreateAlias", alias_name, {*target});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireNotPendingDeletion((*target)->record.metadata); !status.ok()) {
      return status;
    }
    auto existing = keystore_->Get(records::AliasRecordId(alias_name));
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return Error(ErrorType::kAlreadyExists,
                   StrCat("An alias with the name ", AliasArn(alias_name), " already exists"));
    }
    int64_t now = clock_->NowSeconds();
    AliasRecord record{(*target)->record.metadata.key_id, now, now};
    if (auto status = keystore_->Put(records::AliasRecordId(alias_name),
                                     records::EncodeAliasRecord(record));
        !status.ok()) {
      return status;
    }
    IndexAlias(alias_name, record.target_key_id);
    RepublishAliases(*target);
    return absl::OkStatus();
  }

  absl::Status UpdateAlias(const CallContext& call, const std::string& alias_name,
                           const std::string& target_key_id) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    auto record = LoadAlias(alias_name);
    if (!record.ok()) return record.status();
    auto target = Resolve(target_key_id, /*allow_alias=*/false);
    if (!target.ok()) return target.status();
    auto old_target = Load(record->target_key_id);
    if (!old_target.ok()) return old_target.status();
    if (auto status =
            AuthorizeAliasAction(call, "kms:UpdateAlias", alias_name, {*old_target, *target});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireNotPendingDeletion((*target)->record.metadata); !status.ok()) {
      return status;
    }
    record->target_key_id = (*target)->record.metadata.key_id;
    record->last_updated_date = clock_->NowSeconds();
    if (auto status = keystore_->Put(records::AliasRecordId(alias_name),
                                     records::EncodeAliasRecord(*record));
        !status.ok()) {
      return status;
    }
    IndexAlias(alias_name, record->target_key_id);
    RepublishAliases(*old_target);
    RepublishAliases(*target);
    return absl::OkStatus();
  }

  absl::Status DeleteAlias(const CallContext& call, const std::string& alias_name) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    auto record = LoadAlias(alias_name);
    if (!record.ok()) return record.status();
    auto target = Load(record->target_key_id);
    if (!target.ok()) return target.status();
    if (auto status = AuthorizeAliasAction(call, "kms:DeleteAlias", alias_name, {*target});
        !status.ok()) {
      return status;
    }
    if (auto status = keystore_->Delete(records::AliasRecordId(alias_name)); !status.ok()) {
      return status;
    }
    UnindexAlias(alias_name);
    RepublishAliases(*target);
    return absl::OkStatus();
  }

  absl::StatusOr<AliasList> ListAliases(const CallContext& call, const std::string& key_id,
                                        size_t limit, const std::string& marker) override {
    if (auto status = AuthorizeAccountAction(call, "kms:ListAliases", "*"); !status.ok()) {
      return status;
    }
    std::string filter_key_id;
    if (!key_id.empty()) {
      // AWS accepts only a key id or key ARN here.
      auto entry = Resolve(key_id, /*allow_alias=*/false);
      if (!entry.ok()) return entry.status();
      filter_key_id = (*entry)->record.metadata.key_id;
    }
    if (!marker.empty() && !std::string_view(marker).starts_with(records::kAliasPrefix)) {
      return Error(ErrorType::kInvalidMarker, "Invalid marker");
    }
    AliasList result;
    std::string start_after = marker;
    // Filtering by key reads pages until the page is full or the aliases run out.
    while (true) {
      auto listed = keystore_->List(records::kAliasPrefix, start_after, limit + 1);
      if (!listed.ok()) return listed.status();
      for (const KeystoreRecord& stored : *listed) {
        auto record = records::DecodeAliasRecord(stored.value.view());
        if (!record.ok()) return record.status();
        if (!filter_key_id.empty() && record->target_key_id != filter_key_id) continue;
        if (result.aliases.size() == limit) {
          result.next_marker = result.aliases.back().name;
          return result;
        }
        result.aliases.push_back({stored.id, AliasArn(stored.id), record->target_key_id,
                                  record->creation_date, record->last_updated_date});
      }
      if (listed->size() < limit + 1) return result;
      start_after = listed->back().id;
    }
  }

  absl::StatusOr<EncryptResult> Encrypt(const CallContext& call, const std::string& key_id,
                                        const SecretBytes& plaintext,
                                        const EncryptionContext& context,
                                        const GrantTokens& grant_tokens) override {
    auto entry = ResolveForCrypto(call, key_id, grant_tokens,
                                  {.action = "kms:Encrypt",
                                   .grant_operation = grants::kEncrypt,
                                   .encryption_context = &context});
    if (!entry.ok()) return entry.status();
    auto blob = SealUnder(**entry, context, plaintext.view());
    if (!blob.ok()) return blob.status();
    return EncryptResult{std::move(*blob), KeyArn((*entry)->record.metadata.key_id)};
  }

  absl::StatusOr<DecryptResult> Decrypt(const CallContext& call, const std::string& blob,
                                        const EncryptionContext& context, const std::string& key_id,
                                        const GrantTokens& grant_tokens) override {
    auto header = ParseBlobHeader(blob);
    if (!header.ok()) return header.status();
    std::string request_alias;
    auto entry = BlobKey(*header, key_id, &request_alias);
    if (!entry.ok()) return entry.status();
    if (auto status = CheckGrantTokens(grant_tokens); !status.ok()) return status;
    if (auto status = AuthorizeKey(call, **entry,
                                   {.action = "kms:Decrypt",
                                    .grant_operation = grants::kDecrypt,
                                    .encryption_context = &context,
                                    .request_alias = request_alias});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
    auto plaintext = OpenUnder(**entry, *header, blob, context);
    if (!plaintext.ok()) return plaintext.status();
    return DecryptResult{std::move(*plaintext), KeyArn(header->key_id)};
  }

  // kms:ReEncryptFrom on the key the blob names, kms:ReEncryptTo on the destination key.
  absl::StatusOr<ReEncryptResult> ReEncrypt(const CallContext& call, const std::string& blob,
                                            const EncryptionContext& source_context,
                                            const std::string& source_key_id,
                                            const std::string& destination_key_id,
                                            const EncryptionContext& destination_context,
                                            const GrantTokens& grant_tokens) override {
    auto header = ParseBlobHeader(blob);
    if (!header.ok()) return header.status();
    std::string source_alias;
    auto source = BlobKey(*header, source_key_id, &source_alias);
    if (!source.ok()) return source.status();
    std::string destination_alias;
    auto destination = Resolve(destination_key_id, /*allow_alias=*/true, &destination_alias);
    if (!destination.ok()) return destination.status();
    if (auto status = CheckGrantTokens(grant_tokens); !status.ok()) return status;
    bool same_key = *source == *destination;
    auto add_same_key = [same_key](policy::RequestContext& context) {
      context.Set("kms:ReEncryptOnSameKey", same_key ? "true" : "false");
    };
    if (auto status = AuthorizeKey(call, **source,
                                   {.action = "kms:ReEncryptFrom",
                                    .grant_operation = grants::kReEncryptFrom,
                                    .encryption_context = &source_context,
                                    .request_alias = source_alias,
                                    .add_conditions = add_same_key});
        !status.ok()) {
      return status;
    }
    if (auto status = AuthorizeKey(call, **destination,
                                   {.action = "kms:ReEncryptTo",
                                    .grant_operation = grants::kReEncryptTo,
                                    .encryption_context = &destination_context,
                                    .request_alias = destination_alias,
                                    .add_conditions = add_same_key});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireUsable((*destination)->record.metadata); !status.ok()) return status;
    if (auto status = RequireUsable((*source)->record.metadata); !status.ok()) return status;
    auto plaintext = OpenUnder(**source, *header, blob, source_context);
    if (!plaintext.ok()) return plaintext.status();
    auto sealed = SealUnder(**destination, destination_context, plaintext->view());
    if (!sealed.ok()) return sealed.status();
    return ReEncryptResult{std::move(*sealed), KeyArn(header->key_id),
                           KeyArn((*destination)->record.metadata.key_id)};
  }

  absl::StatusOr<DataKeyResult> GenerateDataKey(const CallContext& call, const std::string& key_id,
                                                size_t number_of_bytes,
                                                const EncryptionContext& context,
                                                bool with_plaintext,
                                                const GrantTokens& grant_tokens) override {
    auto entry = ResolveForCrypto(
        call, key_id, grant_tokens,
        {.action = with_plaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext",
         .grant_operation =
             with_plaintext ? grants::kGenerateDataKey : grants::kGenerateDataKeyWithoutPlaintext,
         .encryption_context = &context});
    if (!entry.ok()) return entry.status();
    auto data_key = crypto::RandomSecret(number_of_bytes);
    if (!data_key.ok()) return data_key.status();
    auto blob = SealUnder(**entry, context, data_key->view());
    if (!blob.ok()) return blob.status();
    DataKeyResult result;
    if (with_plaintext) result.plaintext = std::move(*data_key);
    result.ciphertext_blob = std::move(*blob);
    result.key_arn = KeyArn((*entry)->record.metadata.key_id);
    return result;
  }

  absl::StatusOr<SecretBytes> GenerateRandom(const CallContext& call,
                                             size_t number_of_bytes) override {
    if (auto status = AuthorizeAccountAction(call, "kms:GenerateRandom", "*"); !status.ok()) {
      return status;
    }
    return crypto::RandomSecret(number_of_bytes);
  }

  absl::StatusOr<ScheduleDeletionResult> ScheduleKeyDeletion(const CallContext& call,
                                                             const std::string& key_id,
                                                             int pending_window_days) override {
    if (pending_window_days < kMinPendingWindowDays ||
        pending_window_days > kMaxPendingWindowDays) {
      return Validation(StrCat("PendingWindowInDays must be between ", kMinPendingWindowDays,
                               " and ", kMaxPendingWindowDays, " days"));
    }
    int64_t now = clock_->NowSeconds();
    auto entry =
        Mutate(call, "kms:ScheduleKeyDeletion", key_id, /*allow_alias=*/false,
               [&](KeyRecord& record, KeyChange& change) {
                 if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                   return status;
                 }
                 record.metadata.state = KeyState::kPendingDeletion;
                 record.metadata.deletion_date = now + pending_window_days * kSecondsPerDay;
                 record.metadata.pending_deletion_window_days = pending_window_days;
                 change.puts.emplace_back(
                     records::DueRecordId(*record.metadata.deletion_date, records::kDeleteTask,
                                          record.metadata.key_id),
                     "");
                 return absl::OkStatus();
               });
    if (!entry.ok()) return entry.status();
    const KeyMetadata& m = (*entry)->record.metadata;
    return ScheduleDeletionResult{KeyArn(m.key_id), *m.deletion_date, pending_window_days};
  }

  absl::StatusOr<std::string> CancelKeyDeletion(const CallContext& call,
                                                const std::string& key_id) override {
    auto entry = Mutate(call, "kms:CancelKeyDeletion", key_id, /*allow_alias=*/false,
                        [&](KeyRecord& record, KeyChange& change) {
                          KeyMetadata& m = record.metadata;
                          if (m.state != KeyState::kPendingDeletion) {
                            return Error(ErrorType::kKmsInvalidState,
                                         StrCat(KeyArn(m.key_id), " is not pending deletion."));
                          }
                          change.deletes.push_back(records::DueRecordId(
                              m.deletion_date.value_or(0), records::kDeleteTask, m.key_id));
                          m.state = KeyState::kDisabled;
                          m.deletion_date.reset();
                          m.pending_deletion_window_days.reset();
                          return absl::OkStatus();
                        });
    if (!entry.ok()) return entry.status();
    return KeyArn((*entry)->record.metadata.key_id);
  }

  absl::Status EnableKeyRotation(const CallContext& call, const std::string& key_id,
                                 int period_days) override {
    int64_t now = clock_->NowSeconds();
    return Mutate(call, "kms:EnableKeyRotation", key_id, /*allow_alias=*/false,
                  [&](KeyRecord& record, KeyChange& change) {
                    if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
                    UnscheduleRotation(record, change);
                    record.rotation_enabled = true;
                    record.rotation_period_days = period_days;
                    record.next_rotation_date = now + period_days * kSecondsPerDay;
                    change.puts.emplace_back(
                        records::DueRecordId(record.next_rotation_date, records::kRotateTask,
                                             record.metadata.key_id),
                        "");
                    return absl::OkStatus();
                  })
        .status();
  }

  absl::Status DisableKeyRotation(const CallContext& call, const std::string& key_id) override {
    return Mutate(call, "kms:DisableKeyRotation", key_id, /*allow_alias=*/false,
                  [&](KeyRecord& record, KeyChange& change) {
                    if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
                    UnscheduleRotation(record, change);
                    return absl::OkStatus();
                  })
        .status();
  }

  absl::StatusOr<RotationStatus> GetKeyRotationStatus(const CallContext& call,
                                                      const std::string& key_id) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:GetKeyRotationStatus"});
        !status.ok()) {
      return status;
    }
    const KeyRecord& record = (*entry)->record;
    RotationStatus status{KeyArn(record.metadata.key_id), record.rotation_enabled};
    if (record.rotation_enabled) {
      status.period_days = record.rotation_period_days;
      status.next_rotation_date = record.next_rotation_date;
    }
    return status;
  }

  absl::StatusOr<std::string> RotateKeyOnDemand(const CallContext& call,
                                                const std::string& key_id) override {
    int64_t now = clock_->NowSeconds();
    auto entry = Mutate(
        call, "kms:RotateKeyOnDemand", key_id, /*allow_alias=*/false,
        [&](KeyRecord& record, KeyChange& change) {
          if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
          size_t on_demand = std::count_if(
              record.rotations.begin(), record.rotations.end(),
              [](const Rotation& rotation) { return rotation.type == RotationType::kOnDemand; });
          if (on_demand >= kMaxOnDemandRotations) {
            return Error(ErrorType::kLimitExceeded,
                         StrCat(KeyArn(record.metadata.key_id), " has reached the limit of ",
                                kMaxOnDemandRotations, " on-demand rotations"));
          }
          return AddRotation(record, change, now, RotationType::kOnDemand);
        });
    if (!entry.ok()) return entry.status();
    return KeyArn((*entry)->record.metadata.key_id);
  }

  absl::StatusOr<RotationList> ListKeyRotations(const CallContext& call, const std::string& key_id,
                                                size_t limit, const std::string& marker) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListKeyRotations"});
        !status.ok()) {
      return status;
    }
    auto page = PageByPosition((*entry)->record.rotations, limit, marker);
    if (!page.ok()) return page.status();
    RotationList list;
    list.key_arn = KeyArn((*entry)->record.metadata.key_id);
    list.rotations = std::move(page->first);
    list.next_marker = std::move(page->second);
    return list;
  }

  absl::Status TagResource(const CallContext& call, const std::string& key_id,
                           const std::vector<Tag>& tags) override {
    return Mutate(call, "kms:TagResource", key_id, /*allow_alias=*/false,
                  [&](KeyRecord& record, KeyChange&) {
                    if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                      return status;
                    }
                    if (auto status = ValidateTags(tags); !status.ok()) return status;
                    for (const Tag& tag : tags) {
                      auto existing = std::find_if(record.tags.begin(), record.tags.end(),
                                                   [&](const Tag& t) { return t.key == tag.key; });
                      if (existing != record.tags.end()) {
                        existing->value = tag.value;
                      } else {
                        record.tags.push_back(tag);
                      }
                    }
                    return ValidateTags(record.tags);
                  })
        .status();
  }

  absl::Status UntagResource(const CallContext& call, const std::string& key_id,
                             const std::vector<std::string>& tag_keys) override {
    return Mutate(call, "kms:UntagResource", key_id, /*allow_alias=*/false,
                  [&](KeyRecord& record, KeyChange&) {
                    if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                      return status;
                    }
                    for (const std::string& tag_key : tag_keys) {
                      if (AsciiLower(tag_key).starts_with("aws:")) {
                        return Error(ErrorType::kTag,
                                     "Tag keys beginning with 'aws:' are reserved for AWS use");
                      }
                    }
                    std::erase_if(record.tags, [&](const Tag& tag) {
                      return std::find(tag_keys.begin(), tag_keys.end(), tag.key) != tag_keys.end();
                    });
                    return absl::OkStatus();
                  })
        .status();
  }

  absl::StatusOr<TagList> ListResourceTags(const CallContext& call, const std::string& key_id,
                                           size_t limit, const std::string& marker) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListResourceTags"});
        !status.ok()) {
      return status;
    }
    auto page = PageByPosition((*entry)->record.tags, limit, marker);
    if (!page.ok()) return page.status();
    TagList list;
    list.tags = std::move(page->first);
    list.next_marker = std::move(page->second);
    return list;
  }

  absl::StatusOr<std::string> GetKeyPolicy(const CallContext& call, const std::string& key_id,
                                           const std::string& policy_name) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:GetKeyPolicy"}); !status.ok()) {
      return status;
    }
    if (auto status = RequireDefaultPolicyName(policy_name); !status.ok()) return status;
    const std::optional<std::string>& document = (*entry)->record.policy;
    return document ? *document : default_policy_document_;
  }

  absl::StatusOr<std::vector<std::string>> ListKeyPolicies(const CallContext& call,
                                                           const std::string& key_id) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListKeyPolicies"});
        !status.ok()) {
      return status;
    }
    return std::vector<std::string>{std::string(kDefaultKeyPolicyName)};
  }

  absl::Status PutKeyPolicy(const CallContext& call, const std::string& key_id,
                            const std::string& policy_name, const std::string& document,
                            bool bypass_lockout_check) override {
    std::lock_guard write_lock(write_mutex_);
    auto current = Resolve(key_id, /*allow_alias=*/false);
    if (!current.ok()) return current.status();
    auto add_bypass = [bypass_lockout_check](policy::RequestContext& context) {
      if (bypass_lockout_check) context.Set("kms:BypassPolicyLockoutSafetyCheck", "true");
    };
    if (auto status = AuthorizeKey(call, **current,
                                   {.action = "kms:PutKeyPolicy", .add_conditions = add_bypass});
        !status.ok()) {
      return status;
    }
    if (auto status = RequireDefaultPolicyName(policy_name); !status.ok()) return status;
    auto compiled = CompileKeyPolicy(document);
    if (!compiled.ok()) return compiled.status();
    if (!bypass_lockout_check) {
      if (auto status = CheckLockout(call, **current, **compiled); !status.ok()) return status;
    }
    return MutateLocked(*current,
                        [&](KeyRecord& record, KeyChange& change) {
                          record.policy = document;
                          change.policy = *compiled;
                          return absl::OkStatus();
                        })
        .status();
  }

  absl::StatusOr<CreateGrantResult> CreateGrant(const CallContext& call,
                                                const CreateGrantRequest& request) override {
    auto operations = grants::ValidateCreateGrant(request);
    if (!operations.ok()) return operations.status();

    std::lock_guard write_lock(write_mutex_);
    auto current = Resolve(request.key_id, /*allow_alias=*/false);
    if (!current.ok()) return current.status();
    if (auto status = CheckGrantTokens(request.grant_tokens); !status.ok()) return status;
    // A grant that allows CreateGrant lets its grantee make only grants that allow a subset of
    // its operations, with constraints at least as strict.
    auto within_parent = [&](const grants::Grant& parent) {
      return (*operations & ~parent.operations) == 0 &&
             grants::AtLeastAsStrict(request.constraints, parent.record.constraints);
    };
    if (auto status = AuthorizeKey(call, **current,
                                   {.action = "kms:CreateGrant",
                                    .grant_operation = grants::kCreateGrant,
                                    .add_conditions =
                                        [&](policy::RequestContext& context) {
                                          authorization::AddGrantConditions(context, request);
                                        },
                                    .grant_admits = within_parent});
        !status.ok()) {
      return status;
    }
    const KeyEntry& entry = **current;
    if (auto status = RequireUsable(entry.record.metadata); !status.ok()) return status;

    // A retry of a named request finds the grant it made; AWS answers it with a new token.
    if (!request.name.empty()) {
      for (const auto& [grant_id, grant] : entry.grants->ById()) {
        if (SameGrant(grant->record, *operations, grant->operations, request)) {
          if (request.dry_run) return DryRunSucceeded();
          auto token = grants::MakeToken(grant->record);
          if (!token.ok()) return token.status();
          return CreateGrantResult{grant_id, std::move(*token)};
        }
      }
    }
    if (entry.grants->size() >= kMaxGrantsPerKey) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat(KeyArn(entry.record.metadata.key_id), " already has ", kMaxGrantsPerKey,
                          " grants, the most a KMS key can have"));
    }
    if (entry.grants->ForGrantee(request.grantee_principal).size() >= kMaxGrantsPerGranteePerKey) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat(KeyArn(entry.record.metadata.key_id), " already has ",
                          kMaxGrantsPerGranteePerKey, " grants for ", request.grantee_principal,
                          ", the most one principal can have on a KMS key"));
    }
    if (request.dry_run) return DryRunSucceeded();

    GrantRecord record;
    record.key_id = entry.record.metadata.key_id;
    auto grant_id = grants::NewGrantId();
    if (!grant_id.ok()) return grant_id.status();
    record.grant_id = std::move(*grant_id);
    auto secret = grants::NewTokenSecret();
    if (!secret.ok()) return secret.status();
    record.token_secret = std::move(*secret);
    record.name = request.name;
    record.creation_date = clock_->NowSeconds();
    record.grantee_principal = request.grantee_principal;
    record.retiring_principal = request.retiring_principal;
    for (const std::string& operation : request.operations) {
      if (std::find(record.operations.begin(), record.operations.end(), operation) ==
          record.operations.end()) {
        record.operations.push_back(operation);
      }
    }
    record.constraints = request.constraints;
    auto token = grants::MakeToken(record);
    if (!token.ok()) return token.status();

    SecretBytes encoded = records::EncodeGrantRecord(record);
    KeystoreBatch batch;
    std::string record_id = records::GrantRecordId(record.key_id, record.grant_id);
    batch.puts.emplace_back(record_id, encoded.view());
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    CreateGrantResult result{record.grant_id, std::move(*token)};
    auto changed = std::make_shared<KeyEntry>(entry);
    changed->grants = entry.grants->With(grants::FromRecord(std::move(record)));
    Publish(std::move(changed));
    return result;
  }

  absl::StatusOr<GrantList> ListGrants(const CallContext& call, const std::string& key_id,
                                       const std::string& grant_id,
                                       const std::string& grantee_principal, size_t limit,
                                       const std::string& marker) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:ListGrants"}); !status.ok()) {
      return status;
    }
    if (!grant_id.empty() && !grants::IsGrantId(grant_id)) return InvalidGrantId(grant_id);
    if (!marker.empty() && !grants::IsGrantId(marker)) {
      return Error(ErrorType::kInvalidMarker, "Invalid marker");
    }
    limit = std::min(limit, kMaxGrantsPerPage);
    const auto& by_id = (*entry)->grants->ById();
    GrantList list;
    for (auto it = marker.empty() ? by_id.begin() : by_id.upper_bound(marker); it != by_id.end();
         ++it) {
      const GrantRecord& grant = it->second->record;
      if (!grant_id.empty() && grant.grant_id != grant_id) continue;
      if (!grantee_principal.empty() && grant.grantee_principal != grantee_principal) continue;
      if (list.grants.size() == limit) {
        list.next_marker = list.grants.back().grant_id;
        break;
      }
      list.grants.push_back(ToEntry(grant));
    }
    return list;
  }

  // Every key's grants are read from storage: the answer must be complete whatever is cached.
  absl::StatusOr<GrantList> ListRetirableGrants(const CallContext& call,
                                                const std::string& retiring_principal, size_t limit,
                                                const std::string& marker) override {
    // AWS: "The authorized resource in ListRetirableGrants calls is the retiring principal".
    if (auto status = AuthorizeAccountAction(call, "kms:ListRetirableGrants", retiring_principal);
        !status.ok()) {
      return status;
    }
    if (!marker.empty() && !std::string_view(marker).starts_with(records::kGrantPrefix)) {
      return Error(ErrorType::kInvalidMarker, "Invalid marker");
    }
    limit = std::min(limit, kMaxGrantsPerPage);
    GrantList list;
    std::string start_after = marker;
    std::string last_listed;  // the record id of the last grant in the page: the next marker
    while (true) {
      auto listed = keystore_->List(records::kGrantPrefix, start_after, kRetirableGrantsPerRead);
      if (!listed.ok()) return listed.status();
      for (const KeystoreRecord& stored : *listed) {
        auto record = records::DecodeGrantRecord(stored.value.view());
        if (!record.ok()) return record.status();
        if (record->retiring_principal != retiring_principal) continue;
        if (list.grants.size() == limit) {
          list.next_marker = last_listed;
          return list;
        }
        list.grants.push_back(ToEntry(*record));
        last_listed = stored.id;
      }
      if (listed->size() < kRetirableGrantsPerRead) return list;
      start_after = listed->back().id;
    }
  }

  absl::Status RetireGrant(const CallContext& call, const RetireGrantRequest& request) override {
    std::lock_guard write_lock(write_mutex_);
    EntryPtr entry;
    const grants::Grant* grant = nullptr;
    if (!request.grant_token.empty()) {
      auto found = GrantOfToken(request.grant_token);
      if (!found.ok()) return found.status();
      std::tie(entry, grant) = *found;
    } else {
      if (request.key_id.empty() || request.grant_id.empty()) {
        return Validation("Specify either GrantToken, or both KeyId and GrantId");
      }
      auto current = Resolve(request.key_id, /*allow_alias=*/false);
      if (!current.ok()) return current.status();
      entry = *current;
      auto found = FindGrant(*entry, request.grant_id);
      if (!found.ok()) return found.status();
      grant = *found;
    }
    if (auto status = AuthorizeRetire(call, *entry, grant->record); !status.ok()) return status;
    if (request.dry_run) return DryRunSucceeded();
    return RemoveGrant(entry, grant->record.grant_id);
  }

  absl::Status RevokeGrant(const CallContext& call, const std::string& key_id,
                           const std::string& grant_id, bool dry_run) override {
    std::lock_guard write_lock(write_mutex_);
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = AuthorizeKey(call, **entry, {.action = "kms:RevokeGrant"}); !status.ok()) {
      return status;
    }
    auto grant = FindGrant(**entry, grant_id);
    if (!grant.ok()) return grant.status();
    if (dry_run) return DryRunSucceeded();
    return RemoveGrant(*entry, grant_id);
  }

  absl::StatusOr<DueTaskReport> RunDueTasks() override {
    int64_t now = clock_->NowSeconds();
    DueTaskReport report;
    std::string start_after;
    while (true) {
      auto listed = keystore_->List(records::kDuePrefix, start_after, kDueTasksPerPage);
      if (!listed.ok()) return listed.status();
      for (const KeystoreRecord& stored : *listed) {
        auto task = records::ParseDueRecordId(stored.id);
        if (!task) return Internal("malformed schedule record");
        if (task->due > now) return report;
        if (auto status = RunDueTask(*task, stored.id, now, report); !status.ok()) return status;
      }
      if (listed->size() < kDueTasksPerPage) return report;
      start_after = listed->back().id;
    }
  }

 private:
  // Runs one due task, or drops its schedule record when the key no longer calls for it.
  absl::Status RunDueTask(const records::DueTask& task, const std::string& due_record_id,
                          int64_t now, DueTaskReport& report) {
    std::lock_guard write_lock(write_mutex_);
    auto entry = Load(task.key_id);
    if (!entry.ok() && TypeOf(entry.status()) != ErrorType::kNotFound) return entry.status();
    const KeyRecord* record = entry.ok() ? &(*entry)->record : nullptr;
    if (record && task.task == records::kDeleteTask &&
        record->metadata.state == KeyState::kPendingDeletion &&
        record->metadata.deletion_date == task.due) {
      if (auto status = DestroyKey(*record, due_record_id); !status.ok()) return status;
      ++report.keys_deleted;
      return absl::OkStatus();
    }
    if (record && task.task == records::kRotateTask && record->rotation_enabled &&
        record->next_rotation_date == task.due) {
      bool rotate = record->metadata.state == KeyState::kEnabled;
      auto rotated = MutateLocked(*entry, [&](KeyRecord& changed, KeyChange& change) {
        change.deletes.push_back(due_record_id);
        // A key that is not enabled is not rotated; its schedule moves on by one period.
        changed.next_rotation_date =
            std::max(task.due, now) + changed.rotation_period_days * kSecondsPerDay;
        change.puts.emplace_back(records::DueRecordId(changed.next_rotation_date,
                                                      records::kRotateTask,
                                                      changed.metadata.key_id),
                                 "");
        return rotate ? AddRotation(changed, change, now, RotationType::kAutomatic)
                      : absl::OkStatus();
      });
      if (!rotated.ok()) return rotated.status();
      if (rotate) ++report.keys_rotated;
      return absl::OkStatus();
    }
    return keystore_->Delete(due_record_id);  // cancelled or superseded
  }

  // Crypto-shredding: the key's record, every backing-key version, its aliases, its grants and its
  // schedule go in one commit; after it nothing can decrypt a blob made under the key.
  absl::Status DestroyKey(const KeyRecord& record, const std::string& due_record_id) {
    const std::string& key_id = record.metadata.key_id;
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    KeystoreBatch batch;
    batch.deletes.push_back(due_record_id);
    batch.deletes.push_back(records::KeyRecordId(key_id));
    for (const std::string& prefix :
         {records::MaterialPrefix(key_id), records::GrantPrefix(key_id)}) {
      auto listed = keystore_->List(prefix, "", 0);
      if (!listed.ok()) return listed.status();
      for (const KeystoreRecord& stored : *listed) batch.deletes.push_back(stored.id);
    }
    if (record.rotation_enabled) {
      batch.deletes.push_back(
          records::DueRecordId(record.next_rotation_date, records::kRotateTask, key_id));
    }
    std::vector<std::string> alias_names = AliasesOf(key_id);
    for (const std::string& name : alias_names) {
      batch.deletes.push_back(records::AliasRecordId(name));
    }
    {
      std::unique_lock destroy_lock(destroy_mutex_);
      if (auto status = keystore_->Commit(batch); !status.ok()) return status;
      std::unique_lock cache_lock(cache_mutex_);
      key_cache_.erase(key_id);
      for (const std::string& name : alias_names) alias_targets_.erase(name);
      aliases_by_key_.erase(key_id);
    }
    return keystore_->Compact();
  }

  // EnableKey, DisableKey and UpdateKeyDescription: a change to the metadata of a key (by any
  // form of key id) that is not pending deletion.
  template <typename Edit>
  absl::Status ChangeUnlessPendingDeletion(const CallContext& call, std::string_view action,
                                           const std::string& key_id, Edit edit) {
    return Mutate(call, action, key_id, /*allow_alias=*/true,
                  [&](KeyRecord& record, KeyChange&) {
                    if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) {
                      return status;
                    }
                    edit(record.metadata);
                    return absl::OkStatus();
                  })
        .status();
  }

  static void UnscheduleRotation(KeyRecord& record, KeyChange& change) {
    if (!record.rotation_enabled) return;
    change.deletes.push_back(records::DueRecordId(record.next_rotation_date, records::kRotateTask,
                                                  record.metadata.key_id));
    record.rotation_enabled = false;
    record.rotation_period_days = 0;
    record.next_rotation_date = 0;
  }

  // A new backing-key version becomes current; every older one stays for decryption.
  static absl::Status AddRotation(KeyRecord& record, KeyChange& change, int64_t now,
                                  RotationType type) {
    auto material = crypto::RandomSecret(crypto::kAes256KeySize);
    if (!material.ok()) return material.status();
    uint32_t version = record.current_version + 1;
    for (const Rotation& rotation : record.rotations) version = std::max(version, rotation.version + 1);
    record.current_version = version;
    record.rotations.push_back({version, now, type});
    change.new_versions.emplace(version, std::move(*material));
    return absl::OkStatus();
  }

  std::string KeyArn(std::string_view key_id) const {
    return StrCat(arn_prefix_, "key/", key_id);
  }
  std::string AliasArn(std::string_view alias_name) const {
    return StrCat(arn_prefix_, alias_name);
  }

  KeyMetadata Describe(const KeyEntry& entry) const {
    KeyMetadata m = entry.record.metadata;
    m.arn = KeyArn(m.key_id);
    m.account_id = options_.account_id;
    return m;
  }

  static absl::Status UndecryptableBlob() {
    return Error(ErrorType::kInvalidCiphertext,
                 "The ciphertext is invalid, was modified, or was made under a key that no "
                 "longer exists.");
  }

  absl::Status RequireNotPendingDeletion(const KeyMetadata& m) const {
    if (m.state == KeyState::kPendingDeletion) {
      return Error(ErrorType::kKmsInvalidState,
                   StrCat(KeyArn(m.key_id), " is pending deletion."));
    }
    return absl::OkStatus();
  }

  absl::Status RequireUsable(const KeyMetadata& m) const {
    if (m.state == KeyState::kDisabled) {
      return Error(ErrorType::kDisabled, StrCat(KeyArn(m.key_id), " is disabled."));
    }
    return RequireNotPendingDeletion(m);
  }

  // Parses a key reference without looking anything up.
  absl::StatusOr<KeyReference> ParseReference(const std::string& ref) const {
    std::string_view rest = ref;
    if (std::string_view(ref).starts_with("arn:")) {
      if (!std::string_view(ref).starts_with(arn_prefix_)) {
        // A well-formed ARN of another region or account names a key that is not here.
        if (std::string_view(ref).starts_with("arn:aws:kms:")) {
          return NotFound(StrCat("Key '", ref, "' does not exist"));
        }
        return Error(ErrorType::kInvalidArn, StrCat("Invalid ARN: '", ref, "'"));
      }
      rest.remove_prefix(arn_prefix_.size());
      if (std::string_view(rest).starts_with("key/")) {
        rest.remove_prefix(4);
        if (!IsUuid(rest)) return NotFound(StrCat("Invalid keyId '", ref, "'"));
        return KeyReference{KeyReference::kKeyId, AsciiLower(rest)};
      }
      if (std::string_view(rest).starts_with(records::kAliasPrefix)) {
        return KeyReference{KeyReference::kAliasName, std::string(rest)};
      }
      return Error(ErrorType::kInvalidArn, StrCat("Invalid ARN: '", ref, "'"));
    }
    if (std::string_view(ref).starts_with(records::kAliasPrefix)) {
      return KeyReference{KeyReference::kAliasName, ref};
    }
    if (!IsUuid(ref)) return NotFound(StrCat("Invalid keyId '", ref, "'"));
    return KeyReference{KeyReference::kKeyId, AsciiLower(ref)};
  }

  // The key a reference names. request_alias, when given, receives the alias name if the
  // reference was an alias name or alias ARN (kms:RequestAlias).
  absl::StatusOr<EntryPtr> Resolve(const std::string& ref, bool allow_alias,
                                   std::string* request_alias = nullptr) {
    auto parsed = ParseReference(ref);
    if (!parsed.ok()) return parsed.status();
    if (parsed->kind == KeyReference::kAliasName) {
      if (!allow_alias) {
        return NotFound(StrCat("Invalid keyId '", ref,
                                     "': this operation needs a key id or key ARN"));
      }
      auto target = AliasTarget(parsed->value);
      if (!target.ok()) return target.status();
      if (request_alias) *request_alias = parsed->value;
      return Load(*target);
    }
    return Load(parsed->value);
  }

  // Resolve, grant tokens, authorization, key state: the road of Encrypt and GenerateDataKey.
  absl::StatusOr<EntryPtr> ResolveForCrypto(const CallContext& call, const std::string& ref,
                                            const GrantTokens& grant_tokens, KeyRequest request) {
    std::string request_alias;
    auto entry = Resolve(ref, /*allow_alias=*/true, &request_alias);
    if (!entry.ok()) return entry.status();
    if (auto status = CheckGrantTokens(grant_tokens); !status.ok()) return status;
    request.request_alias = request_alias;
    if (auto status = AuthorizeKey(call, **entry, request); !status.ok()) return status;
    if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
    return entry;
  }

  // The key a blob names. key_ref, when not empty, must name the same key (IncorrectKey); a key
  // that no longer exists makes the blob undecryptable.
  absl::StatusOr<EntryPtr> BlobKey(const BlobHeader& header, const std::string& key_ref,
                                   std::string* request_alias) {
    if (!key_ref.empty()) {
      auto named = Resolve(key_ref, /*allow_alias=*/true, request_alias);
      if (!named.ok()) return named.status();
      if ((*named)->record.metadata.key_id != header.key_id) {
        return Error(ErrorType::kIncorrectKey,
                     "The key ID in the request does not identify a KMS key that can perform "
                     "this operation.");
      }
    }
    auto entry = Load(header.key_id);
    if (!entry.ok() && TypeOf(entry.status()) == ErrorType::kNotFound) return UndecryptableBlob();
    return entry;
  }

  static absl::StatusOr<SecretBytes> OpenUnder(const KeyEntry& entry, const BlobHeader& header,
                                               const std::string& blob,
                                               const EncryptionContext& context) {
    auto version = entry.versions.find(header.backing_key_version);
    if (version == entry.versions.end()) return UndecryptableBlob();
    return OpenBlob(blob, *version->second, context);
  }

  // --- Authorization ---

  // The context of action on a key: the call's keys and the key's (kms:KeySpec, kms:KeyUsage,
  // kms:KeyOrigin, kms:ResourceAliases).
  policy::RequestContext KeyContext(const CallContext& call, std::string_view action,
                                    const KeyEntry& entry) const {
    const KeyMetadata& key = entry.record.metadata;
    auto context =
        authorization::NewContext(call, action, KeyArn(key.key_id), clock_->NowSeconds());
    authorization::AddKeyProperties(context, key);
    for (const std::string& alias : entry.aliases) context.Add("kms:ResourceAliases", alias);
    return context;
  }

  // A key resource operation: the key's policy, the caller's identity policies and the key's
  // grants, with the condition keys of the key and of the request.
  absl::Status AuthorizeKey(const CallContext& call, const KeyEntry& entry,
                            const KeyRequest& request) const {
    auto context = KeyContext(call, request.action, entry);
    if (!request.request_alias.empty()) {
      context.Set("kms:RequestAlias", std::string(request.request_alias));
    }
    if (request.encryption_context) {
      context.Set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
      authorization::AddEncryptionContext(context, *request.encryption_context);
    }
    if (request.add_conditions) request.add_conditions(context);
    if (request.grant_operation == 0) {
      return authorization::Decide(context, entry.policy.get());
    }
    struct GrantQuestion {
      const KeyEntry* entry;
      const Principal* caller;
      const KeyRequest* request;
    } question{&entry, call.principal.get(), &request};
    return authorization::Decide(context, entry.policy.get(), [q = &question] {
      return GrantAllows(*q->entry, q->caller, *q->request);
    });
  }

  // Whether a grant of the key whose grantee is the caller (or, for a role session, its role)
  // allows the request.
  static bool GrantAllows(const KeyEntry& entry, const Principal* caller,
                          const KeyRequest& request) {
    if (!caller) return false;
    auto any_admits = [&](std::span<const grants::GrantPtr> candidates) {
      for (const grants::GrantPtr& grant : candidates) {
        if ((grant->operations & request.grant_operation) == 0) continue;
        if (request.grant_admits) {
          if (request.grant_admits(*grant)) return true;
        } else if (!request.encryption_context ||
                   (request.grant_operation & grants::kContextOperations) == 0 ||
                   grants::ConstraintsAdmit(grant->record.constraints,
                                            *request.encryption_context)) {
          return true;
        }
      }
      return false;
    };
    if (any_admits(entry.grants->ForGrantee(caller->arn))) return true;
    return caller->kind == PrincipalType::kAssumedRole && !caller->role_arn.empty() &&
           any_admits(entry.grants->ForGrantee(caller->role_arn));
  }

  // An action authorized by identity policies alone (CreateKey, ListKeys, ListAliases,
  // GenerateRandom, ListRetirableGrants, and the alias half of the alias operations).
  absl::Status AuthorizeAccountAction(const CallContext& call, std::string_view action,
                                      std::string resource) const {
    auto context =
        authorization::NewContext(call, action, std::move(resource), clock_->NowSeconds());
    return authorization::Decide(context, nullptr);
  }

  // AWS authorizes an alias operation on the alias (identity policies) and on every key it
  // touches (their key policies).
  absl::Status AuthorizeAliasAction(const CallContext& call, std::string_view action,
                                    const std::string& alias_name,
                                    std::initializer_list<EntryPtr> keys) const {
    if (auto status = AuthorizeAccountAction(call, action, AliasArn(alias_name)); !status.ok()) {
      return status;
    }
    for (const EntryPtr& key : keys) {
      if (auto status = AuthorizeKey(call, *key, {.action = action}); !status.ok()) return status;
    }
    return absl::OkStatus();
  }

  // RetireGrant: "the grant determines who can retire it": its retiring principal, its grantee
  // when it allows RetireGrant, the account (the root, and principals an identity policy allows
  // kms:RetireGrant). An explicit deny of kms:RetireGrant in an identity policy still wins. Key
  // policies do not take part.
  absl::Status AuthorizeRetire(const CallContext& call, const KeyEntry& entry,
                               const GrantRecord& grant) const {
    auto context = KeyContext(call, "kms:RetireGrant", entry);
    if (call.principal && !authorization::IdentityPolicyDenies(context)) {
      const Principal& caller = *call.principal;
      const grants::Grant* found = entry.grants->Find(grant.grant_id);
      bool grantee_may = found && (found->operations & grants::kRetireGrant) != 0 &&
                         authorization::NamesCaller(grant.grantee_principal, caller);
      if (grantee_may || authorization::NamesCaller(grant.retiring_principal, caller)) {
        return absl::OkStatus();
      }
    }
    return authorization::Decide(context, nullptr);
  }

  // --- Key policies ---

  absl::StatusOr<policy::PolicyPtr> CompileKeyPolicy(const std::string& document) const {
    // AWS: "If the key policy exceeds the length constraint, KMS returns a
    // LimitExceededException."
    if (document.size() > policy::kMaxKeyPolicyBytes) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat("The key policy is ", document.size(), " bytes; the limit is ",
                          policy::kMaxKeyPolicyBytes, " bytes"));
    }
    auto compiled = policy::Parse(document, policy::PolicyKind::kResource);
    if (!compiled.ok() || !options_.principal_exists) return compiled;
    std::string users = StrCat("arn:aws:iam::", options_.account_id, ":user/");
    std::string roles = StrCat("arn:aws:iam::", options_.account_id, ":role/");
    for (const std::string& arn : (*compiled)->PrincipalArns()) {
      bool checkable = arn.starts_with(users) || arn.starts_with(roles);
      if (checkable && !options_.principal_exists(arn)) {
        return Error(ErrorType::kMalformedPolicyDocument,
                     "Policy contains a statement with one or more invalid principals.");
      }
    }
    return compiled;
  }

  // The lockout safety check: would the new policy (with the caller's identity policies) let the
  // caller call PutKeyPolicy on the key again?
  absl::Status CheckLockout(const CallContext& call, const KeyEntry& entry,
                            const policy::Policy& new_policy) const {
    auto context = KeyContext(call, "kms:PutKeyPolicy", entry);
    if (authorization::Decide(context, &new_policy).ok()) return absl::OkStatus();
    return Error(ErrorType::kMalformedPolicyDocument,
                 "The new key policy will not allow you to update the key policy in the future.");
  }

  static absl::Status RequireDefaultPolicyName(const std::string& policy_name) {
    if (policy_name.empty() || policy_name == kDefaultKeyPolicyName) return absl::OkStatus();
    return NotFound(
        StrCat("No key policy named '", policy_name, "': the only key policy name is \"default\""));
  }

  // --- Grants ---

  // Every token must name a grant that exists and be one that grant's secret made.
  absl::Status CheckGrantTokens(const GrantTokens& tokens) {
    for (const std::string& token : tokens) {
      auto grant = GrantOfToken(token);
      if (!grant.ok()) return grant.status();
    }
    return absl::OkStatus();
  }

  // The key entry and grant a token names (the grant lives as long as the entry).
  absl::StatusOr<std::pair<EntryPtr, const grants::Grant*>> GrantOfToken(const std::string& token) {
    auto claim = grants::ParseToken(token);
    if (!claim) return InvalidGrantToken();
    auto entry = Load(claim->key_id);
    if (!entry.ok()) {
      return TypeOf(entry.status()) == ErrorType::kNotFound ? InvalidGrantToken() : entry.status();
    }
    const grants::Grant* grant = (*entry)->grants->Find(claim->grant_id);
    if (!grant || !grants::TokenMatches(*claim, grant->record)) return InvalidGrantToken();
    return std::make_pair(*entry, grant);
  }

  absl::StatusOr<const grants::Grant*> FindGrant(const KeyEntry& entry,
                                                 const std::string& grant_id) const {
    if (!grants::IsGrantId(grant_id)) return InvalidGrantId(grant_id);
    const grants::Grant* grant = entry.grants->Find(grant_id);
    if (!grant) {
      return NotFound(
          StrCat("Grant ", grant_id, " does not exist on ", KeyArn(entry.record.metadata.key_id)));
    }
    return grant;
  }

  static absl::Status InvalidGrantId(const std::string& grant_id) {
    return Error(ErrorType::kInvalidGrantId, StrCat("Invalid grant ID '", grant_id, "'"));
  }

  absl::Status RemoveGrant(const EntryPtr& entry, const std::string& grant_id) {
    KeystoreBatch batch;
    batch.deletes.push_back(records::GrantRecordId(entry->record.metadata.key_id, grant_id));
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    auto changed = std::make_shared<KeyEntry>(*entry);
    changed->grants = entry->grants->Without(grant_id);
    Publish(std::move(changed));
    return absl::OkStatus();
  }

  // Whether an existing grant is what a named CreateGrant request would make.
  static bool SameGrant(const GrantRecord& grant, grants::OperationSet requested_operations,
                        grants::OperationSet grant_operations, const CreateGrantRequest& request) {
    return grant.name == request.name && grant.grantee_principal == request.grantee_principal &&
           grant.retiring_principal == request.retiring_principal &&
           grant_operations == requested_operations &&
           grants::SameConstraints(grant.constraints, request.constraints);
  }

  GrantEntry ToEntry(const GrantRecord& grant) const {
    return GrantEntry{KeyArn(grant.key_id),
                      grant.grant_id,
                      grant.name,
                      grant.creation_date,
                      grant.grantee_principal,
                      grant.retiring_principal,
                      StrCat("arn:aws:iam::", options_.account_id, ":root"),
                      grant.operations,
                      grant.constraints};
  }

  // --- Aliases ---

  absl::Status ValidateAliasName(const std::string& alias_name) const {
    if (!std::string_view(alias_name).starts_with(records::kAliasPrefix)) {
      return Validation("Alias must start with the prefix \"alias/\".");
    }
    if (alias_name.size() == records::kAliasPrefix.size()) {
      return Error(ErrorType::kInvalidAliasName, "Alias name must not be empty after \"alias/\"");
    }
    if (std::string_view(alias_name).starts_with(kReservedAliasPrefix)) {
      return Error(ErrorType::kInvalidAliasName,
                   "Alias names beginning with \"alias/aws/\" are reserved for AWS managed keys");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<AliasRecord> LoadAlias(const std::string& alias_name) {
    auto stored = keystore_->Get(records::AliasRecordId(alias_name));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
    }
    return records::DecodeAliasRecord((*stored)->view());
  }

  absl::StatusOr<std::string> AliasTarget(const std::string& alias_name) {
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    std::shared_lock cache_lock(cache_mutex_);
    auto it = alias_targets_.find(alias_name);
    if (it == alias_targets_.end()) {
      return NotFound(StrCat("Alias ", AliasArn(alias_name), " is not found."));
    }
    return it->second;
  }

  // The alias index (every alias's key, every key's aliases) is read from storage once, on first
  // need, and kept current by the alias operations and DestroyKey, which write aliases only
  // under write_mutex_ and after this has returned.
  absl::Status EnsureAliasIndex() {
    if (alias_index_loaded_.load(std::memory_order_acquire)) return absl::OkStatus();
    std::lock_guard index_lock(alias_index_mutex_);
    if (alias_index_loaded_.load(std::memory_order_relaxed)) return absl::OkStatus();
    auto listed = keystore_->List(records::kAliasPrefix, "", 0);
    if (!listed.ok()) return listed.status();
    std::unordered_map<std::string, std::string> targets;
    std::unordered_map<std::string, std::vector<std::string>> by_key;
    for (const KeystoreRecord& stored : *listed) {
      auto record = records::DecodeAliasRecord(stored.value.view());
      if (!record.ok()) return record.status();
      targets[stored.id] = record->target_key_id;
      by_key[record->target_key_id].push_back(stored.id);  // listed in name order
    }
    {
      std::unique_lock cache_lock(cache_mutex_);
      alias_targets_ = std::move(targets);
      aliases_by_key_ = std::move(by_key);
    }
    alias_index_loaded_.store(true, std::memory_order_release);
    return absl::OkStatus();
  }

  void IndexAlias(const std::string& alias_name, const std::string& key_id) {
    UnindexAlias(alias_name);
    std::unique_lock cache_lock(cache_mutex_);
    alias_targets_[alias_name] = key_id;
    std::vector<std::string>& names = aliases_by_key_[key_id];
    names.insert(std::upper_bound(names.begin(), names.end(), alias_name), alias_name);
  }

  void UnindexAlias(const std::string& alias_name) {
    std::unique_lock cache_lock(cache_mutex_);
    auto target = alias_targets_.find(alias_name);
    if (target == alias_targets_.end()) return;
    auto names = aliases_by_key_.find(target->second);
    if (names != aliases_by_key_.end()) {
      std::erase(names->second, alias_name);
      if (names->second.empty()) aliases_by_key_.erase(names);
    }
    alias_targets_.erase(target);
  }

  std::vector<std::string> AliasesOf(const std::string& key_id) {
    std::shared_lock cache_lock(cache_mutex_);
    auto names = aliases_by_key_.find(key_id);
    return names == aliases_by_key_.end() ? std::vector<std::string>() : names->second;
  }

  // Publishes the key's entry again with its aliases as the index has them now. Always
  // publishing (not only when cached) keeps a concurrent first load from caching stale aliases:
  // a load inserts only where nothing is published yet.
  void RepublishAliases(const EntryPtr& entry) {
    auto changed = std::make_shared<KeyEntry>(*entry);
    changed->aliases = AliasesOf(entry->record.metadata.key_id);
    Publish(std::move(changed));
  }

  // --- Metrics ---

  absl::StatusOr<KeyStateCounts> CountKeysByState() override {
    auto listed = keystore_->List(records::kKeyPrefix, "", 0);
    if (!listed.ok()) return listed.status();
    KeyStateCounts counts;
    for (const KeystoreRecord& stored : *listed) {
      auto record = records::DecodeKeyRecord(stored.value.view());
      if (!record.ok()) return record.status();
      switch (record->metadata.state) {
        case KeyState::kEnabled:
          ++counts.enabled;
          break;
        case KeyState::kDisabled:
          ++counts.disabled;
          break;
        case KeyState::kPendingDeletion:
          ++counts.pending_deletion;
          break;
      }
    }
    return counts;
  }

  KeyCacheStats CacheStats() override {
    KeyCacheStats stats;
    stats.hits = cache_hits_.load(std::memory_order_relaxed);
    stats.misses = cache_misses_.load(std::memory_order_relaxed);
    std::shared_lock cache_lock(cache_mutex_);
    stats.entries = key_cache_.size();
    return stats;
  }

  // --- The key cache ---

  // The entry for a key id (lower-case UUID): from the cache, else from the keystore.
  absl::StatusOr<EntryPtr> Load(const std::string& key_id) {
    {
      std::shared_lock cache_lock(cache_mutex_);
      auto it = key_cache_.find(key_id);
      if (it != key_cache_.end()) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
    cache_misses_.fetch_add(1, std::memory_order_relaxed);
    if (auto status = EnsureAliasIndex(); !status.ok()) return status;
    // Shared with DestroyKey's exclusive hold, so a load that read the keystore just before a
    // key was destroyed cannot put the destroyed key back into the cache.
    std::shared_lock destroy_lock(destroy_mutex_);
    auto entry = LoadFromKeystore(key_id);
    if (!entry.ok()) return entry.status();
    std::unique_lock cache_lock(cache_mutex_);
    // Another thread may have loaded or changed it meanwhile; keep the published one.
    auto [it, inserted] = key_cache_.emplace(key_id, *entry);
    return it->second;
  }

  absl::StatusOr<EntryPtr> LoadFromKeystore(const std::string& key_id) {
    auto stored = keystore_->Get(records::KeyRecordId(key_id));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return NotFound(StrCat("Key '", KeyArn(key_id), "' does not exist"));
    }
    auto record = records::DecodeKeyRecord((*stored)->view());
    if (!record.ok()) return record.status();
    auto entry = std::make_shared<KeyEntry>();
    entry->record = std::move(*record);
    auto materials = keystore_->List(records::MaterialPrefix(key_id), "", 0);
    if (!materials.ok()) return materials.status();
    for (KeystoreRecord& material : *materials) {
      uint32_t version = records::MaterialVersion(material.id);
      if (version == 0 || material.value.size() != crypto::kAes256KeySize) {
        return Internal("stored key material is malformed");
      }
      entry->versions[version] = std::make_shared<const SecretBytes>(std::move(material.value));
    }
    if (!entry->versions.contains(entry->record.current_version)) {
      return Internal("stored key is missing its current key material");
    }
    if (entry->record.policy) {
      // A stored policy that no longer compiles leaves the key unusable rather than open.
      auto compiled = policy::Parse(*entry->record.policy, policy::PolicyKind::kResource);
      if (!compiled.ok()) return Internal("the stored key policy does not compile");
      entry->policy = std::move(*compiled);
    } else {
      if (!default_policy_.ok()) return default_policy_.status();
      entry->policy = *default_policy_;
    }
    entry->aliases = AliasesOf(key_id);
    auto stored_grants = keystore_->List(records::GrantPrefix(key_id), "", 0);
    if (!stored_grants.ok()) return stored_grants.status();
    std::vector<grants::GrantPtr> key_grants;
    key_grants.reserve(stored_grants->size());
    for (const KeystoreRecord& stored_grant : *stored_grants) {
      auto grant = records::DecodeGrantRecord(stored_grant.value.view());
      if (!grant.ok()) return grant.status();
      key_grants.push_back(grants::FromRecord(std::move(*grant)));
    }
    entry->grants = grants::GrantTable::From(std::move(key_grants));
    return EntryPtr(std::move(entry));
  }

  void Publish(EntryPtr entry) {
    std::unique_lock cache_lock(cache_mutex_);
    key_cache_[entry->record.metadata.key_id] = std::move(entry);
  }

  // Authorizes action on the key, applies change to a copy of the key's record, commits the
  // record with the change's other records in one batch, and publishes the new entry.
  template <typename Change>
  absl::StatusOr<EntryPtr> Mutate(const CallContext& call, std::string_view action,
                                  const std::string& key_ref, bool allow_alias, Change change) {
    std::lock_guard write_lock(write_mutex_);
    auto current = Resolve(key_ref, allow_alias);
    if (!current.ok()) return current.status();
    if (auto status = AuthorizeKey(call, **current, {.action = action}); !status.ok()) {
      return status;
    }
    return MutateLocked(*current, change);
  }

  template <typename Change>
  absl::StatusOr<EntryPtr> MutateLocked(const EntryPtr& current, Change change) {
    auto changed = std::make_shared<KeyEntry>(*current);
    KeyChange extra;
    if (absl::Status status = change(changed->record, extra); !status.ok()) return status;
    const std::string& key_id = changed->record.metadata.key_id;
    std::string encoded = records::EncodeKeyRecord(changed->record);
    KeystoreBatch batch;
    batch.puts.emplace_back(records::KeyRecordId(key_id), encoded);
    for (const auto& [id, value] : extra.puts) batch.puts.emplace_back(id, value);
    std::vector<std::string> material_ids;
    material_ids.reserve(extra.new_versions.size());
    for (const auto& [version, material] : extra.new_versions) {
      material_ids.push_back(records::MaterialRecordId(key_id, version));
      batch.puts.emplace_back(material_ids.back(), material.view());
    }
    batch.deletes = extra.deletes;
    if (auto status = keystore_->Commit(batch); !status.ok()) return status;
    for (auto& [version, material] : extra.new_versions) {
      changed->versions[version] = std::make_shared<const SecretBytes>(std::move(material));
    }
    if (extra.policy) changed->policy = std::move(extra.policy);
    EntryPtr published = changed;
    Publish(published);
    return published;
  }

  absl::StatusOr<std::string> SealUnder(const KeyEntry& entry, const EncryptionContext& context,
                                        std::string_view plaintext) const {
    uint32_t version = entry.record.current_version;
    return SealBlob(BlobHeader{entry.record.metadata.key_id, version},
                    *entry.versions.at(version), context, plaintext);
  }

  const ServiceOptions options_;
  Keystore* const keystore_;
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
};

}  // namespace

std::unique_ptr<KmsService> NewKmsService(ServiceOptions options, Keystore* keystore,
                                          std::unique_ptr<Clock> clock) {
  return std::make_unique<KmsServiceImpl>(std::move(options), keystore, std::move(clock));
}

}  // namespace kmsd
