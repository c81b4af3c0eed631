// The KMS service: key and alias lifecycle and the symmetric cryptographic operations.
//
// Concurrency: published key entries are immutable and shared (shared_ptr<const KeyEntry>); a
// reader takes the cache lock briefly to copy the pointer, then works without locks. Mutations are
// serialized by write_mutex_: read the current entry, build a changed copy, commit it to the
// keystore, then publish it. Key material is loaded once per key and shared between versions of
// the entry, never copied.
#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "kmsd/strings.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/service.h"
#include "kmsd/uuid.h"
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
using records::KeyRecord;

constexpr size_t kMaxTags = 50;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int kMinPendingWindowDays = 7;
constexpr int kMaxPendingWindowDays = 30;
constexpr size_t kMaxOnDemandRotations = 10;
constexpr size_t kDueTasksPerPage = 64;
constexpr std::string_view kReservedAliasPrefix = "alias/aws/";

struct KeyEntry {
  KeyRecord record;
  // Backing-key versions; shared between successive entries of the same key.
  std::map<uint32_t, std::shared_ptr<const SecretBytes>> versions;
};
using EntryPtr = std::shared_ptr<const KeyEntry>;

// Records to write or delete atomically with a key's changed record.
struct KeyChange {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  std::map<uint32_t, SecretBytes> new_versions;
};

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
      : options_(std::move(options)), keystore_(keystore), clock_(std::move(clock)) {
    arn_prefix_ = StrCat("arn:aws:kms:", options_.region, ":", options_.account_id, ":");
  }

  absl::StatusOr<KeyMetadata> CreateKey(const CallContext&,
                                        const CreateKeyRequest& request) override {
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

    auto material = crypto::RandomSecret(crypto::kAes256KeySize);
    if (!material.ok()) return material.status();

    auto entry = std::make_shared<KeyEntry>();
    KeyMetadata& m = entry->record.metadata;
    m.key_id = NewUuid();
    m.creation_date = clock_->NowSeconds();
    m.description = request.description;
    m.key_usage = request.key_usage;
    m.key_spec = request.key_spec;
    m.origin = request.origin;
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

  absl::StatusOr<KeyMetadata> DescribeKey(const CallContext&, const std::string& key_id) override {
    auto entry = Resolve(key_id, /*allow_alias=*/true);
    if (!entry.ok()) return entry.status();
    return Describe(**entry);
  }

  absl::StatusOr<KeyList> ListKeys(const CallContext&, size_t limit,
                                   const std::string& marker) override {
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

  absl::Status EnableKey(const CallContext&, const std::string& key_id) override {
    return Mutate(key_id, /*allow_alias=*/true, [&](KeyRecord& record, KeyChange&) {
      if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) return status;
      record.metadata.state = KeyState::kEnabled;
      return absl::OkStatus();
    }).status();
  }

  absl::Status DisableKey(const CallContext&, const std::string& key_id) override {
    return Mutate(key_id, /*allow_alias=*/true, [&](KeyRecord& record, KeyChange&) {
      if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) return status;
      record.metadata.state = KeyState::kDisabled;
      return absl::OkStatus();
    }).status();
  }

  absl::Status UpdateKeyDescription(const CallContext&, const std::string& key_id,
                                    const std::string& description) override {
    return Mutate(key_id, /*allow_alias=*/true, [&](KeyRecord& record, KeyChange&) {
      if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) return status;
      record.metadata.description = description;
      return absl::OkStatus();
    }).status();
  }

  absl::Status CreateAlias(const CallContext&, const std::string& alias_name,
                           const std::string& target_key_id) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    auto target = ResolveAliasTarget(target_key_id);
    if (!target.ok()) return target.status();
    auto existing = keystore_->Get(records::AliasRecordId(alias_name));
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return Error(ErrorType::kAlreadyExists,
                   StrCat("An alias with the name ", AliasArn(alias_name),
                                " already exists"));
    }
    int64_t now = clock_->NowSeconds();
    AliasRecord record{(*target)->record.metadata.key_id, now, now};
    if (auto status = keystore_->Put(records::AliasRecordId(alias_name),
                                     records::EncodeAliasRecord(record));
        !status.ok()) {
      return status;
    }
    StoreAliasInCache(alias_name, record.target_key_id);
    return absl::OkStatus();
  }

  absl::Status UpdateAlias(const CallContext&, const std::string& alias_name,
                           const std::string& target_key_id) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    auto record = LoadAlias(alias_name);
    if (!record.ok()) return record.status();
    auto target = ResolveAliasTarget(target_key_id);
    if (!target.ok()) return target.status();
    record->target_key_id = (*target)->record.metadata.key_id;
    record->last_updated_date = clock_->NowSeconds();
    if (auto status = keystore_->Put(records::AliasRecordId(alias_name),
                                     records::EncodeAliasRecord(*record));
        !status.ok()) {
      return status;
    }
    StoreAliasInCache(alias_name, record->target_key_id);
    return absl::OkStatus();
  }

  absl::Status DeleteAlias(const CallContext&, const std::string& alias_name) override {
    if (auto status = ValidateAliasName(alias_name); !status.ok()) return status;
    std::lock_guard write_lock(write_mutex_);
    auto record = LoadAlias(alias_name);
    if (!record.ok()) return record.status();
    if (auto status = keystore_->Delete(records::AliasRecordId(alias_name)); !status.ok()) {
      return status;
    }
    std::unique_lock cache_lock(cache_mutex_);
    alias_cache_.erase(alias_name);
    return absl::OkStatus();
  }

  absl::StatusOr<AliasList> ListAliases(const CallContext&, const std::string& key_id,
                                        size_t limit, const std::string& marker) override {
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

  absl::StatusOr<EncryptResult> Encrypt(const CallContext&, const std::string& key_id,
                                        const SecretBytes& plaintext,
                                        const EncryptionContext& context) override {
    auto entry = ResolveUsable(key_id);
    if (!entry.ok()) return entry.status();
    auto blob = SealUnder(**entry, context, plaintext.view());
    if (!blob.ok()) return blob.status();
    return EncryptResult{std::move(*blob), KeyArn((*entry)->record.metadata.key_id)};
  }

  absl::StatusOr<DecryptResult> Decrypt(const CallContext&, const std::string& blob,
                                        const EncryptionContext& context,
                                        const std::string& key_id) override {
    auto header = ParseBlobHeader(blob);
    if (!header.ok()) return header.status();
    if (!key_id.empty()) {
      auto named = Resolve(key_id, /*allow_alias=*/true);
      if (!named.ok()) return named.status();
      if ((*named)->record.metadata.key_id != header->key_id) {
        return Error(ErrorType::kIncorrectKey,
                     "The key ID in the request does not identify a KMS key that can perform "
                     "this operation.");
      }
    }
    auto entry = Load(header->key_id);
    if (!entry.ok()) {
      if (TypeOf(entry.status()) == ErrorType::kNotFound) return UndecryptableBlob();
      return entry.status();
    }
    if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
    auto version = (*entry)->versions.find(header->backing_key_version);
    if (version == (*entry)->versions.end()) return UndecryptableBlob();
    auto plaintext = OpenBlob(blob, *version->second, context);
    if (!plaintext.ok()) return plaintext.status();
    return DecryptResult{std::move(*plaintext), KeyArn(header->key_id)};
  }

  absl::StatusOr<ReEncryptResult> ReEncrypt(const CallContext& call, const std::string& blob,
                                            const EncryptionContext& source_context,
                                            const std::string& source_key_id,
                                            const std::string& destination_key_id,
                                            const EncryptionContext& destination_context) override {
    auto destination = ResolveUsable(destination_key_id);
    if (!destination.ok()) return destination.status();
    auto decrypted = Decrypt(call, blob, source_context, source_key_id);
    if (!decrypted.ok()) return decrypted.status();
    auto sealed = SealUnder(**destination, destination_context, decrypted->plaintext.view());
    if (!sealed.ok()) return sealed.status();
    return ReEncryptResult{std::move(*sealed), std::move(decrypted->key_arn),
                           KeyArn((*destination)->record.metadata.key_id)};
  }

  absl::StatusOr<DataKeyResult> GenerateDataKey(const CallContext&, const std::string& key_id,
                                                size_t number_of_bytes,
                                                const EncryptionContext& context,
                                                bool with_plaintext) override {
    auto entry = ResolveUsable(key_id);
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

  absl::StatusOr<SecretBytes> GenerateRandom(const CallContext&,
                                             size_t number_of_bytes) override {
    return crypto::RandomSecret(number_of_bytes);
  }

  absl::StatusOr<ScheduleDeletionResult> ScheduleKeyDeletion(const CallContext&,
                                                             const std::string& key_id,
                                                             int pending_window_days) override {
    if (pending_window_days < kMinPendingWindowDays ||
        pending_window_days > kMaxPendingWindowDays) {
      return Validation(StrCat("PendingWindowInDays must be between ", kMinPendingWindowDays,
                               " and ", kMaxPendingWindowDays, " days"));
    }
    int64_t now = clock_->NowSeconds();
    auto entry = Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange& change) {
      if (auto status = RequireNotPendingDeletion(record.metadata); !status.ok()) return status;
      record.metadata.state = KeyState::kPendingDeletion;
      record.metadata.deletion_date = now + pending_window_days * kSecondsPerDay;
      record.metadata.pending_deletion_window_days = pending_window_days;
      change.puts.emplace_back(records::DueRecordId(*record.metadata.deletion_date,
                                                    records::kDeleteTask, record.metadata.key_id),
                               "");
      return absl::OkStatus();
    });
    if (!entry.ok()) return entry.status();
    const KeyMetadata& m = (*entry)->record.metadata;
    return ScheduleDeletionResult{KeyArn(m.key_id), *m.deletion_date, pending_window_days};
  }

  absl::StatusOr<std::string> CancelKeyDeletion(const CallContext&,
                                                const std::string& key_id) override {
    auto entry = Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange& change) {
      KeyMetadata& m = record.metadata;
      if (m.state != KeyState::kPendingDeletion) {
        return Error(ErrorType::kKmsInvalidState,
                     StrCat(KeyArn(m.key_id), " is not pending deletion."));
      }
      change.deletes.push_back(
          records::DueRecordId(m.deletion_date.value_or(0), records::kDeleteTask, m.key_id));
      m.state = KeyState::kDisabled;
      m.deletion_date.reset();
      m.pending_deletion_window_days.reset();
      return absl::OkStatus();
    });
    if (!entry.ok()) return entry.status();
    return KeyArn((*entry)->record.metadata.key_id);
  }

  absl::Status EnableKeyRotation(const CallContext&, const std::string& key_id,
                                 int period_days) override {
    int64_t now = clock_->NowSeconds();
    return Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange& change) {
             if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
             UnscheduleRotation(record, change);
             record.rotation_enabled = true;
             record.rotation_period_days = period_days;
             record.next_rotation_date = now + period_days * kSecondsPerDay;
             change.puts.emplace_back(records::DueRecordId(record.next_rotation_date,
                                                           records::kRotateTask,
                                                           record.metadata.key_id),
                                      "");
             return absl::OkStatus();
           })
        .status();
  }

  absl::Status DisableKeyRotation(const CallContext&, const std::string& key_id) override {
    return Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange& change) {
             if (auto status = RequireUsable(record.metadata); !status.ok()) return status;
             UnscheduleRotation(record, change);
             return absl::OkStatus();
           })
        .status();
  }

  absl::StatusOr<RotationStatus> GetKeyRotationStatus(const CallContext&,
                                                      const std::string& key_id) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    const KeyRecord& record = (*entry)->record;
    RotationStatus status{KeyArn(record.metadata.key_id), record.rotation_enabled};
    if (record.rotation_enabled) {
      status.period_days = record.rotation_period_days;
      status.next_rotation_date = record.next_rotation_date;
    }
    return status;
  }

  absl::StatusOr<std::string> RotateKeyOnDemand(const CallContext&,
                                                const std::string& key_id) override {
    int64_t now = clock_->NowSeconds();
    auto entry = Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange& change) {
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

  absl::StatusOr<RotationList> ListKeyRotations(const CallContext&, const std::string& key_id,
                                                size_t limit, const std::string& marker) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    auto page = PageByPosition((*entry)->record.rotations, limit, marker);
    if (!page.ok()) return page.status();
    RotationList list;
    list.key_arn = KeyArn((*entry)->record.metadata.key_id);
    list.rotations = std::move(page->first);
    list.next_marker = std::move(page->second);
    return list;
  }

  absl::Status TagResource(const CallContext&, const std::string& key_id,
                           const std::vector<Tag>& tags) override {
    return Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange&) {
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

  absl::Status UntagResource(const CallContext&, const std::string& key_id,
                             const std::vector<std::string>& tag_keys) override {
    return Mutate(key_id, /*allow_alias=*/false, [&](KeyRecord& record, KeyChange&) {
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

  absl::StatusOr<TagList> ListResourceTags(const CallContext&, const std::string& key_id,
                                           size_t limit, const std::string& marker) override {
    auto entry = Resolve(key_id, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    auto page = PageByPosition((*entry)->record.tags, limit, marker);
    if (!page.ok()) return page.status();
    TagList list;
    list.tags = std::move(page->first);
    list.next_marker = std::move(page->second);
    return list;
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

  // Crypto-shredding: the key's record, every backing-key version, its aliases and its schedule
  // go in one commit; after it nothing can decrypt a blob made under the key.
  absl::Status DestroyKey(const KeyRecord& record, const std::string& due_record_id) {
    const std::string& key_id = record.metadata.key_id;
    KeystoreBatch batch;
    batch.deletes.push_back(due_record_id);
    batch.deletes.push_back(records::KeyRecordId(key_id));
    auto materials = keystore_->List(records::MaterialPrefix(key_id), "", 0);
    if (!materials.ok()) return materials.status();
    for (const KeystoreRecord& material : *materials) batch.deletes.push_back(material.id);
    if (record.rotation_enabled) {
      batch.deletes.push_back(
          records::DueRecordId(record.next_rotation_date, records::kRotateTask, key_id));
    }
    auto aliases = keystore_->List(records::kAliasPrefix, "", 0);
    if (!aliases.ok()) return aliases.status();
    std::vector<std::string> alias_names;
    for (const KeystoreRecord& alias : *aliases) {
      auto decoded = records::DecodeAliasRecord(alias.value.view());
      if (decoded.ok() && decoded->target_key_id == key_id) {
        batch.deletes.push_back(alias.id);
        alias_names.push_back(alias.id);
      }
    }
    {
      std::unique_lock destroy_lock(destroy_mutex_);
      if (auto status = keystore_->Commit(batch); !status.ok()) return status;
      std::unique_lock cache_lock(cache_mutex_);
      key_cache_.erase(key_id);
      for (const std::string& name : alias_names) alias_cache_.erase(name);
    }
    return keystore_->Compact();
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

  absl::StatusOr<EntryPtr> Resolve(const std::string& ref, bool allow_alias) {
    auto parsed = ParseReference(ref);
    if (!parsed.ok()) return parsed.status();
    if (parsed->kind == KeyReference::kAliasName) {
      if (!allow_alias) {
        return NotFound(StrCat("Invalid keyId '", ref,
                                     "': this operation needs a key id or key ARN"));
      }
      auto target = AliasTarget(parsed->value);
      if (!target.ok()) return target.status();
      return Load(*target);
    }
    return Load(parsed->value);
  }

  absl::StatusOr<EntryPtr> ResolveUsable(const std::string& ref) {
    auto entry = Resolve(ref, /*allow_alias=*/true);
    if (!entry.ok()) return entry.status();
    if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
    return entry;
  }

  // Alias targets must be named by key id or key ARN, and may not be pending deletion.
  absl::StatusOr<EntryPtr> ResolveAliasTarget(const std::string& ref) {
    auto entry = Resolve(ref, /*allow_alias=*/false);
    if (!entry.ok()) return entry.status();
    if (auto status = RequireNotPendingDeletion((*entry)->record.metadata); !status.ok()) {
      return status;
    }
    return entry;
  }

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
    {
      std::shared_lock cache_lock(cache_mutex_);
      auto it = alias_cache_.find(alias_name);
      if (it != alias_cache_.end()) return it->second;
    }
    auto record = LoadAlias(alias_name);
    if (!record.ok()) return record.status();
    StoreAliasInCache(alias_name, record->target_key_id);
    return record->target_key_id;
  }

  void StoreAliasInCache(const std::string& alias_name, const std::string& key_id) {
    std::unique_lock cache_lock(cache_mutex_);
    alias_cache_[alias_name] = key_id;
  }

  // The entry for a key id (lower-case UUID): from the cache, else from the keystore.
  absl::StatusOr<EntryPtr> Load(const std::string& key_id) {
    {
      std::shared_lock cache_lock(cache_mutex_);
      auto it = key_cache_.find(key_id);
      if (it != key_cache_.end()) return it->second;
    }
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
    return EntryPtr(std::move(entry));
  }

  void Publish(EntryPtr entry) {
    std::unique_lock cache_lock(cache_mutex_);
    key_cache_[entry->record.metadata.key_id] = std::move(entry);
  }

  // Applies change to a copy of the key's record, commits the record with the change's other
  // records in one batch, and publishes the new entry.
  template <typename Change>
  absl::StatusOr<EntryPtr> Mutate(const std::string& key_ref, bool allow_alias, Change change) {
    std::lock_guard write_lock(write_mutex_);
    auto current = Resolve(key_ref, allow_alias);
    if (!current.ok()) return current.status();
    return MutateLocked(*current, change);
  }

  template <typename Change>
  absl::StatusOr<EntryPtr> MutateLocked(const EntryPtr& current, Change change) {
    auto changed = std::make_shared<KeyEntry>();
    changed->record = current->record;
    changed->versions = current->versions;
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

  std::mutex write_mutex_;  // serializes every change to keys and aliases
  std::shared_mutex destroy_mutex_;  // see Load and DestroyKey
  std::shared_mutex cache_mutex_;
  std::unordered_map<std::string, EntryPtr> key_cache_;         // GUARDED_BY(cache_mutex_)
  std::unordered_map<std::string, std::string> alias_cache_;    // GUARDED_BY(cache_mutex_)
};

}  // namespace

std::unique_ptr<KmsService> NewKmsService(ServiceOptions options, Keystore* keystore,
                                          std::unique_ptr<Clock> clock) {
  return std::make_unique<KmsServiceImpl>(std::move(options), keystore, std::move(clock));
}

}  // namespace kmsd
