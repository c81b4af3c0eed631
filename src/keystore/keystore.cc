// The barrier: every record sealed with AES-256-GCM under the keyring key, record id as associated
// data. The keyring key is stored wrapped by the Seal under "core/keyring".
#include "kmsd/keystore.h"

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr std::string_view kKeyringId = "core/keyring";
constexpr uint8_t kRecordVersion = 1;

class BarrierKeystore final : public Keystore {
 public:
  BarrierKeystore(Backend* backend, SecretBytes keyring_key)
      : backend_(backend), keyring_key_(std::move(keyring_key)) {}

  absl::StatusOr<std::optional<SecretBytes>> Get(std::string_view id) override {
    if (id == kKeyringId) return Reserved();
    auto stored = backend_->Get(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return std::optional<SecretBytes>();
    auto record = Unseal(id, **stored);
    if (!record.ok()) return record.status();
    return std::optional<SecretBytes>(std::move(*record));
  }

  absl::StatusOr<VersionedRecord> GetVersioned(std::string_view id) override {
    if (id == kKeyringId) return Reserved();
    auto stored = backend_->Get(id);
    if (!stored.ok()) return stored.status();
    VersionedRecord out;
    if (!stored->has_value()) return out;
    auto record = Unseal(id, **stored);
    if (!record.ok()) return record.status();
    out.value = std::move(*record);
    // The sealed bytes name this state exactly: every write seals with a fresh nonce.
    out.version = std::move(**stored);
    return out;
  }

  absl::Status Put(std::string_view id, std::string_view plaintext) override {
    KeystoreBatch batch;
    batch.puts.emplace_back(std::string(id), plaintext);
    return Commit(batch);
  }

  absl::Status Delete(std::string_view id) override {
    KeystoreBatch batch;
    batch.deletes.emplace_back(id);
    return Commit(batch);
  }

  absl::Status Commit(const KeystoreBatch& batch) override {
    StorageBatch sealed;
    for (const auto& [id, plaintext] : batch.puts) {
      if (id == kKeyringId) return Reserved();
      auto value = SealRecord(id, plaintext);
      if (!value.ok()) return value.status();
      sealed.puts.push_back({id, std::move(*value)});
    }
    // Deleting the wrapped keyring key would make every record unreadable.
    for (const std::string& id : batch.deletes) {
      if (id == kKeyringId) return Reserved();
    }
    sealed.deletes = batch.deletes;
    for (const auto& [id, version] : batch.expect) {
      if (id == kKeyringId) return Reserved();
      sealed.conditions.push_back(
          {id, version.empty() ? std::nullopt : std::optional<std::string>(version)});
    }
    return backend_->Commit(sealed);
  }

  absl::StatusOr<std::vector<KeystoreRecord>> List(std::string_view prefix,
                                                   std::string_view start_after,
                                                   size_t limit) override {
    // One more than asked for, in case the keyring record is in range and gets dropped: callers
    // page by limit, so a short page must mean the end.
    auto listed = backend_->List(prefix, start_after, limit == 0 ? 0 : limit + 1);
    if (!listed.ok()) return listed.status();
    std::vector<KeystoreRecord> records;
    records.reserve(listed->size());
    for (StorageEntry& entry : *listed) {
      if (entry.key == kKeyringId) continue;
      if (limit != 0 && records.size() == limit) break;
      auto value = Unseal(entry.key, entry.value);
      if (!value.ok()) return value.status();
      records.push_back({std::move(entry.key), std::move(*value)});
    }
    return records;
  }

  absl::Status Compact() override { return backend_->Compact(); }

 private:
  static absl::Status Reserved() {
    return Internal(StrCat("the record id ", kKeyringId, " is reserved for the keyring"));
  }

  absl::StatusOr<std::string> SealRecord(std::string_view id, std::string_view plaintext) const {
    auto nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
    if (!nonce.ok()) return nonce.status();
    auto sealed = crypto::AesGcmSeal(keyring_key_, *nonce, id, plaintext);
    if (!sealed.ok()) return sealed.status();
    return StrCat(std::string(1, static_cast<char>(kRecordVersion)), *nonce, *sealed);
  }

  absl::StatusOr<SecretBytes> Unseal(std::string_view id, std::string_view stored) const {
    if (stored.size() < 1 + crypto::kGcmNonceSize + crypto::kGcmTagSize ||
        static_cast<uint8_t>(stored[0]) != kRecordVersion) {
      return Internal(StrCat("stored record ", id, " is malformed"));
    }
    auto record = crypto::AesGcmOpen(keyring_key_, stored.substr(1, crypto::kGcmNonceSize), id,
                                     stored.substr(1 + crypto::kGcmNonceSize));
    // A record that does not open was changed or moved on disk: refuse, never skip it.
    if (!record.ok()) return Internal(StrCat("stored record ", id, " failed its integrity check"));
    return record;
  }

  Backend* const backend_;
  const SecretBytes keyring_key_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Keystore>> OpenKeystore(Backend* backend, Seal* seal) {
  auto stored = backend->Get(kKeyringId);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    auto keyring_key = seal->Unwrap(**stored, kKeyringId);
    if (!keyring_key.ok()) {
      return Internal(StrCat("the ", seal->Name(),
                             " seal cannot unwrap the keyring key: wrong root key, or the "
                             "database was tampered with"));
    }
    return std::unique_ptr<Keystore>(
        std::make_unique<BarrierKeystore>(backend, std::move(*keyring_key)));
  }
  auto keyring_key = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!keyring_key.ok()) return keyring_key.status();
  auto wrapped = seal->Wrap(*keyring_key, kKeyringId);
  if (!wrapped.ok()) return wrapped.status();
  // Only if still absent: on a shared store another node may create the keyring key first, and
  // then every node must use that one.
  StorageBatch create;
  create.puts.push_back({std::string(kKeyringId), std::move(*wrapped)});
  create.conditions.push_back({std::string(kKeyringId), std::nullopt});
  if (auto status = backend->Commit(create); IsStorageConflict(status)) {
    return OpenKeystore(backend, seal);
  } else if (!status.ok()) {
    return status;
  }
  return std::unique_ptr<Keystore>(
      std::make_unique<BarrierKeystore>(backend, std::move(*keyring_key)));
}

absl::Status CheckKeyringUnwraps(Backend* backend, Seal* seal) {
  auto stored = backend->Get(kKeyringId);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return NotFound("the data dir holds no keyring key");
  if (!seal->Unwrap(**stored, kKeyringId).ok()) {
    return Internal(StrCat("the ", seal->Name(), " seal cannot unwrap the keyring key"));
  }
  return absl::OkStatus();
}

absl::Status RewrapKeyring(Backend* backend, Seal* from, Seal* to) {
  auto stored = backend->Get(kKeyringId);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return NotFound("the data dir holds no keyring key");
  auto keyring_key = from->Unwrap(**stored, kKeyringId);
  if (!keyring_key.ok()) {
    return Internal(StrCat("the ", from->Name(), " seal cannot unwrap the keyring key"));
  }
  auto wrapped = to->Wrap(*keyring_key, kKeyringId);
  if (!wrapped.ok()) return wrapped.status();
  // Checked before it replaces the only copy that opens the data dir.
  auto unwrapped = to->Unwrap(*wrapped, kKeyringId);
  if (!unwrapped.ok() || !crypto::ConstantTimeEquals(unwrapped->view(), keyring_key->view())) {
    return Internal(StrCat("the ", to->Name(), " seal does not give back what it wrapped"));
  }
  return backend->Put(kKeyringId, *wrapped);
}

}  // namespace kmsd
