// Imported key material (Origin EXTERNAL, issue 13): GetParametersForImport hands out an RSA
// wrapping key and a token bound to it; ImportKeyMaterial unwraps and checks the material and
// enables the key; DeleteImportedKeyMaterial and the material's expiry destroy it again (the key
// waits in PendingImport for the same material).
#include <openssl/crypto.h>

#include <set>

#include "kmsd/key_import.h"
#include "service/import_token.h"
#include "service/service_impl.h"

namespace kmsd::service_internal {
namespace {

constexpr std::string_view kExternal = "EXTERNAL";
constexpr std::string_view kExpires = "KEY_MATERIAL_EXPIRES";
constexpr std::string_view kNewKeyMaterial = "NEW_KEY_MATERIAL";
constexpr std::string_view kExistingKeyMaterial = "EXISTING_KEY_MATERIAL";
// AWS: ValidTo is at most 365 days from the request.
constexpr int64_t kMaxValiditySeconds = 365 * kSecondsPerDay;

absl::StatusOr<int> WrappingKeyBits(const std::string& wrapping_key_spec) {
  if (wrapping_key_spec == "RSA_2048") return 2048;
  if (wrapping_key_spec == "RSA_3072") return 3072;
  if (wrapping_key_spec == "RSA_4096") return 4096;
  return Validation(StrCat("Unknown WrappingKeySpec ", wrapping_key_spec));
}

// The largest material a key of the spec can have, for the check that RSAES_OAEP can wrap it.
size_t LargestMaterial(const KeySpecInfo& spec) {
  if (!spec.Asymmetric()) return crypto::ImportedMaterialLength(spec).max;
  // PKCS#8 of an EC key with its public key: the curve's scalar and point plus ~50 bytes of DER.
  // Ed25519 (RFC 8410): a 32-byte seed, with the optional 32-byte public key, in the same bound.
  if (spec.family == KeyFamily::kEcc || spec.family == KeyFamily::kEdwards) {
    return 3 * static_cast<size_t>((spec.bits + 7) / 8) + 60;
  }
  return SIZE_MAX;  // RSA private keys: RSA_AES_KEY_WRAP only
}

// Which wrapping algorithm and wrapping key spec AWS accepts for a key of the spec (the
// WrappingAlgorithm and WrappingKeySpec documentation of GetParametersForImport).
absl::Status CheckWrapping(const KeySpecInfo& spec, crypto::WrappingAlgorithm algorithm,
                           const std::string& algorithm_name, int bits) {
  using crypto::WrappingAlgorithm;
  if (algorithm == WrappingAlgorithm::kRsaesPkcs1V15) {
    return Error(ErrorType::kUnsupportedOperation,
                 "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping "
                 "algorithm. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.");
  }
  if (crypto::IsRsaAesKeyWrap(algorithm)) return absl::OkStatus();
  if (spec.family == KeyFamily::kRsa) {
    return Error(
        ErrorType::kUnsupportedOperation,
        StrCat("To import RSA key material (", spec.name,
               "), use an RSA_AES_KEY_WRAP wrapping algorithm, not ", algorithm_name, "."));
  }
  if (LargestMaterial(spec) > crypto::MaxOaepPlaintext(bits, algorithm)) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("You cannot use the ", algorithm_name, " wrapping algorithm with the RSA_",
                        bits, " wrapping key spec to wrap ", spec.name,
                        " key material. Use an RSA_AES_KEY_WRAP wrapping algorithm or a longer "
                        "RSA wrapping key."));
  }
  return absl::OkStatus();
}

// The id AWS gives imported material: derived from the KMS key id and the material, 64 hex
// digits. The fingerprint already hides the material.
std::string KeyMaterialIdOf(std::string_view key_id, std::string_view fingerprint) {
  return crypto::HexEncode(
      crypto::HmacSha256(fingerprint, StrCat("kmsd/key-material-id/", key_id)));
}

bool IsSymmetric(const KeyMetadata& m) { return m.key_spec == "SYMMETRIC_DEFAULT"; }

// The times of the key's expire-material tasks: each imported material's ValidTo (several
// materials of a symmetric key may share one).
std::set<int64_t> ExpiryTimes(const KeyRecord& record) {
  std::set<int64_t> times;
  if (!record.materials.empty()) {
    for (const records::ImportedMaterial& material : record.materials) {
      if (material.imported && material.valid_to) times.insert(*material.valid_to);
    }
  } else if (record.has_material && record.metadata.valid_to) {
    times.insert(*record.metadata.valid_to);
  }
  return times;
}

// The schedule records that change when the key's record goes from before to after.
void ScheduleExpiries(const KeyRecord& before, const KeyRecord& after, KeystoreBatch& batch) {
  std::set<int64_t> old_times = ExpiryTimes(before);
  std::set<int64_t> new_times = ExpiryTimes(after);
  const std::string& key_id = after.metadata.key_id;
  for (int64_t time : old_times) {
    std::string id = records::DueRecordId(time, records::kExpireMaterialTask, key_id);
    if (!new_times.contains(time) && std::find(batch.deletes.begin(), batch.deletes.end(), id) ==
                                         batch.deletes.end()) {
      batch.deletes.push_back(std::move(id));
    }
  }
  for (int64_t time : new_times) {
    if (!old_times.contains(time)) {
      batch.puts.emplace_back(records::DueRecordId(time, records::kExpireMaterialTask, key_id),
                              "");
    }
  }
}

// The next backing-key version of a key: after every version it has had.
uint32_t NextVersion(const KeyRecord& record) {
  uint32_t version = record.current_version;
  for (const records::ImportedMaterial& material : record.materials) {
    version = std::max(version, material.version);
  }
  for (const Rotation& rotation : record.rotations) version = std::max(version, rotation.version);
  return version + 1;
}

absl::Status ValidateExpiration(const ImportKeyMaterialRequest& request, int64_t now) {
  if (request.expiration_model == kExpires) {
    if (!request.valid_to) {
      return Validation(
          "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");
    }
    if (*request.valid_to <= now) return Validation("ValidTo must be a date in the future.");
    if (*request.valid_to > now + kMaxValiditySeconds) {
      return Validation("ValidTo must be no more than 365 days from the request date.");
    }
  } else if (request.valid_to) {
    return Validation(
        "ValidTo must not be specified when the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status KmsServiceImpl::RequireExternalOrigin(const KeyMetadata& m) const {
  if (m.origin == kExternal) return absl::OkStatus();
  return Error(ErrorType::kUnsupportedOperation, StrCat(KeyArn(m.key_id), " origin is ", m.origin,
                                                        " which is not valid for this operation."));
}

absl::Status KmsServiceImpl::RequireGeneratedMaterial(const KeyMetadata& m) const {
  if (m.origin != kExternal) return absl::OkStatus();
  return Error(ErrorType::kUnsupportedOperation, StrCat(KeyArn(m.key_id), " origin is ", m.origin,
                                                        " which is not valid for this operation."));
}

std::string SymmetricMaterialId(std::string_view key_id, const SecretBytes& material) {
  const KeySpecInfo* spec = FindKeySpec("SYMMETRIC_DEFAULT");
  if (!spec) return "";
  auto fingerprint = crypto::CheckImportedMaterial(*spec, material);
  if (!fingerprint.ok()) return "";
  std::string id = KeyMaterialIdOf(key_id, *fingerprint);
  OPENSSL_cleanse(fingerprint->data(), fingerprint->size());
  return id;
}

std::string KmsServiceImpl::MaterialIdOfVersion(const KeyEntry& entry, uint32_t version) {
  const KeyRecord& record = entry.record;
  if (!IsSymmetric(record.metadata)) return "";
  for (const records::ImportedMaterial& material : record.materials) {
    if (material.version == version) return material.id;
  }
  auto found = entry.versions.find(version);
  if (record.metadata.origin == kExternal || found == entry.versions.end()) return "";
  std::lock_guard lock(entry.material_ids->mutex);
  std::string& id = entry.material_ids->ids[version];
  if (id.empty()) id = SymmetricMaterialId(record.metadata.key_id, *found->second);
  return id;
}

void KmsServiceImpl::RefreshImportedState(KeyRecord& record) {
  if (record.materials.empty()) return;
  KeyMetadata& m = record.metadata;
  record.has_material = true;
  for (const records::ImportedMaterial& material : record.materials) {
    if (!material.pending_rotation && !material.imported) record.has_material = false;
    if (material.version != record.current_version) continue;
    m.key_material_id = material.id;
    record.key_material_description = material.description;
    m.expiration_model = material.imported ? material.expiration_model : "";
    m.valid_to = material.imported ? material.valid_to : std::nullopt;
  }
  // AWS: a key pending deletion stays so; otherwise a key lacking any of its materials waits for
  // it in PendingImport, and comes back when all are imported.
  if (!record.has_material && !IsPendingDeletion(m.state)) {
    m.state = KeyState::kPendingImport;
  } else if (record.has_material && m.state == KeyState::kPendingImport) {
    m.state = KeyState::kEnabled;
  }
}

absl::Status KmsServiceImpl::RotateToPendingMaterial(KeyRecord& record, int64_t now) const {
  const records::ImportedMaterial* pending = record.PendingMaterial();
  if (!pending || !pending->imported) {
    return Error(ErrorType::kKmsInvalidState,
                 StrCat("No available key material pending rotation for the key: ",
                        KeyArn(record.metadata.key_id), "."));
  }
  auto everywhere = PendingInEveryReplica(record, pending->id);
  if (!everywhere.ok()) return everywhere.status();
  if (!*everywhere) {
    return Error(ErrorType::kKmsInvalidState,
                 StrCat("Key material (id: ", pending->id, ") of ", KeyArn(record.metadata.key_id),
                        " is pending import into its replica keys: import it into every replica "
                        "key before the rotation."));
  }
  uint32_t version = pending->version;
  for (records::ImportedMaterial& material : record.materials) {
    if (material.version == version) material.pending_rotation = false;
  }
  record.current_version = version;
  record.rotations.push_back({version, now, RotationType::kOnDemand});
  RefreshImportedState(record);
  return absl::OkStatus();
}

void KmsServiceImpl::WithoutImportedMaterial(KeyEntry& replica) {
  KeyRecord& record = replica.record;
  replica.versions.clear();
  replica.private_key.reset();
  record.has_material = false;
  record.metadata.state = KeyState::kPendingImport;
  record.metadata.expiration_model.clear();
  record.metadata.valid_to.reset();
  for (records::ImportedMaterial& material : record.materials) {
    material.imported = false;
    material.expiration_model.clear();
    material.valid_to.reset();
  }
  RefreshImportedState(record);
}

absl::Status KmsServiceImpl::TakeImportedMaterials(const KeyRecord& primary) {
  if (primary.materials.empty()) return absl::OkStatus();  // asymmetric, HMAC: never rotate
  std::lock_guard write_lock(write_mutex_);
  return RetryConflicts([&]() -> absl::Status {
    auto current = Load(primary.metadata.key_id);
    if (!current.ok()) {
      // Destroyed meanwhile: nothing to bring up to date.
      return TypeOf(current.status()) == ErrorType::kNotFound ? absl::OkStatus()
                                                                : current.status();
    }
    auto changed = std::make_shared<KeyEntry>(**current);
    KeyRecord& record = changed->record;
    KeystoreBatch batch;
    std::vector<records::ImportedMaterial> materials;
    for (const records::ImportedMaterial& shared : primary.materials) {
      records::ImportedMaterial* own = record.FindMaterial(shared.id);
      if (own) {
        own->pending_rotation = shared.pending_rotation;
        materials.push_back(*own);
        continue;
      }
      records::ImportedMaterial added;
      added.version = shared.version;
      added.id = shared.id;
      added.description = shared.description;
      added.pending_rotation = shared.pending_rotation;
      materials.push_back(std::move(added));
    }
    for (const records::ImportedMaterial& own : record.materials) {
      if (primary.FindMaterial(own.id) || !own.imported) continue;
      // Pending material the primary deleted: deleted here too (AWS).
      batch.deletes.push_back(records::MaterialRecordId(record.metadata.key_id, own.version));
      changed->versions.erase(own.version);
    }
    record.materials = std::move(materials);
    record.current_version = primary.current_version;
    record.rotations = primary.rotations;
    RefreshImportedState(record);
    ScheduleExpiries((*current)->record, record, batch);
    if (auto status = CommitEntry(changed, batch); !status.ok()) return status;
    if (batch.deletes.empty()) return absl::OkStatus();
    return keystore_->Compact();
  });
}

absl::StatusOr<std::string> KmsServiceImpl::PrimaryMaterialId(const KeyMetadata& m) {
  if (!peers_) return std::string();
  auto registry = LoadMultiRegion(m.key_id);
  if (!registry.ok()) return registry.status();
  if (!*registry || (*registry)->primary_region == Region()) return std::string();
  KmsServiceImpl* primary = peers_->Peer((*registry)->primary_region);
  if (!primary) return std::string();
  auto entry = primary->Load(m.key_id);
  if (!entry.ok()) return entry.status();
  const std::string& id = (*entry)->record.metadata.key_material_id;
  if (id.empty()) {
    return Error(ErrorType::kKmsInvalidState,
                 StrCat(KeyArn(m.key_id), " is a multi-Region replica key: import key material "
                        "into its primary key in ", (*registry)->primary_region, " first."));
  }
  return id;
}

absl::StatusOr<bool> KmsServiceImpl::PendingInEveryReplica(const KeyRecord& record,
                                                           const std::string& material_id) const {
  if (!record.metadata.multi_region || !peers_) return true;
  auto registry = LoadMultiRegion(record.metadata.key_id);
  if (!registry.ok()) return registry.status();
  if (!*registry) return true;
  for (const std::string& region : (*registry)->replica_regions) {
    const KeyRecord* replica = &record;
    EntryPtr loaded;
    if (region != Region()) {
      KmsServiceImpl* peer = peers_->Peer(region);
      if (!peer) continue;  // not served now
      auto entry = peer->Load(record.metadata.key_id);
      if (!entry.ok()) {
        if (TypeOf(entry.status()) == ErrorType::kNotFound) continue;
        return entry.status();
      }
      loaded = std::move(*entry);
      replica = &loaded->record;
    }
    const records::ImportedMaterial* material = replica->FindMaterial(material_id);
    if (!material || !material->imported) return false;
  }
  return true;
}

absl::StatusOr<ImportParameters> KmsServiceImpl::GetParametersForImport(
    const CallContext& call, const std::string& key_id, const std::string& wrapping_algorithm,
    const std::string& wrapping_key_spec) {
  auto entry = Resolve(key_id, /*allow_alias=*/false);
  if (!entry.ok()) return entry.status();
  auto conditions = [&](policy::RequestContext& context) {
    context.Set("kms:WrappingAlgorithm", wrapping_algorithm);
    context.Set("kms:WrappingKeySpec", wrapping_key_spec);
  };
  if (auto status = AuthorizeKey(
          call, **entry, {.action = "kms:GetParametersForImport", .add_conditions = conditions});
      !status.ok()) {
    return status;
  }
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireExternalOrigin(m); !status.ok()) return status;
  if (auto status = RequireNotPendingDeletion(m); !status.ok()) return status;
  auto algorithm = crypto::ParseWrappingAlgorithm(wrapping_algorithm);
  if (!algorithm) return Validation(StrCat("Unknown WrappingAlgorithm ", wrapping_algorithm));
  if (*algorithm == crypto::WrappingAlgorithm::kSm2Pke || wrapping_key_spec == "SM2") {
    return Error(ErrorType::kUnsupportedOperation,
                 "The SM2PKE wrapping algorithm and the SM2 wrapping key spec are available only "
                 "in the AWS China Regions.");
  }
  auto bits = WrappingKeyBits(wrapping_key_spec);
  if (!bits.ok()) return bits.status();
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  if (!spec) return Internal("stored key has an unknown key spec");
  if (auto status = CheckWrapping(*spec, *algorithm, wrapping_algorithm, *bits); !status.ok()) {
    return status;
  }

  // The RSA key generation (up to a second for RSA_4096) runs outside the write lock.
  auto wrapping_key = crypto::GenerateWrappingKey(*bits);
  if (!wrapping_key.ok()) return wrapping_key.status();
  auto token_key = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!token_key.ok()) return token_key.status();
  auto parameters_id = import_token::NewParametersId();
  if (!parameters_id.ok()) return parameters_id.status();
  int64_t valid_to = clock_->NowSeconds() + import_token::kValiditySeconds;
  auto token = import_token::Seal(*token_key, *parameters_id,
                                  {.key_id = m.key_id,
                                   .algorithm = *algorithm,
                                   .wrapping_key_bits = *bits,
                                   .valid_to = valid_to});
  if (!token.ok()) return token.status();
  SecretBytes stored = import_token::EncodeParameters(
      {valid_to, std::move(*token_key), std::move(wrapping_key->private_key)});

  std::lock_guard write_lock(write_mutex_);
  // The key may have been destroyed meanwhile; its parameters must not outlive it.
  if (auto current = Resolve(key_id, /*allow_alias=*/false); !current.ok()) {
    return current.status();
  }
  KeystoreBatch batch;
  batch.puts.emplace_back(records::ImportRecordId(m.key_id, *parameters_id), stored.view());
  batch.puts.emplace_back(
      records::DueRecordId(valid_to, records::kExpireImportParametersTask, m.key_id), "");
  if (auto status = keystore_->Commit(batch); !status.ok()) return status;
  return ImportParameters{KeyArn(m.key_id), std::move(*token), std::move(wrapping_key->public_key),
                          valid_to};
}

absl::StatusOr<KeyMaterialResult> KmsServiceImpl::ImportKeyMaterial(
    const CallContext& call, const ImportKeyMaterialRequest& request) {
  int64_t now = clock_->NowSeconds();
  std::string replicas_of;
  absl::StatusOr<KeyMaterialResult> result;
  {
    std::lock_guard write_lock(write_mutex_);
    // Another node may have changed the key since it was cached: read it again and redo.
    result = RetryConflicts([&]() { return ImportOnce(call, request, now, replicas_of); });
  }
  // A multi-Region primary's replicas learn of its new material (issue 13).
  if (result.ok() && !replicas_of.empty()) {
    if (auto status = SyncReplicas(replicas_of); !status.ok()) return status;
  }
  return result;
}

absl::StatusOr<KeyMaterialResult> KmsServiceImpl::ImportOnce(
    const CallContext& call, const ImportKeyMaterialRequest& request, int64_t now,
    std::string& replicas_of) {
  auto current = Resolve(request.key_id, /*allow_alias=*/false);
  if (!current.ok()) return current.status();
  // Judge the import on the key as stored (a cache that is behind answers StorageConflict, and
  // RetryConflicts reads the key again).
  if (auto version = StoredKeyVersion(**current); !version.ok()) return version.status();
  auto conditions = [&](policy::RequestContext& context) {
    context.Set("kms:ExpirationModel", request.expiration_model);
    if (request.valid_to) context.Set("kms:ValidTo", std::to_string(*request.valid_to));
  };
  if (auto status = AuthorizeKey(call, **current,
                                 {.action = "kms:ImportKeyMaterial", .add_conditions = conditions});
      !status.ok()) {
    return status;
  }
  const KeyEntry& entry = **current;
  const KeyMetadata& m = entry.record.metadata;
  if (auto status = RequireExternalOrigin(m); !status.ok()) return status;
  if (auto status = RequireNotPendingDeletion(m); !status.ok()) return status;
  if (m.state == KeyState::kDisabled) {
    return Error(ErrorType::kKmsInvalidState, StrCat(KeyArn(m.key_id), " is disabled."));
  }
  bool symmetric = IsSymmetric(m);
  if (!symmetric &&
      (request.import_type || request.key_material_id || request.key_material_description)) {
    return Validation(
        "ImportType, KeyMaterialId and KeyMaterialDescription are valid only for symmetric "
        "encryption KMS keys.");
  }

  // The token: its wrapping key must still be stored under this key, and open it.
  auto header = import_token::ReadHeader(request.import_token);
  if (!header.ok()) return header.status();
  auto stored = keystore_->Get(records::ImportRecordId(m.key_id, header->parameters_id));
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    // Gone with its expiry, or never this key's.
    if (header->valid_to <= now) {
      return Error(ErrorType::kExpiredImportToken, "The import token is expired.");
    }
    return Error(ErrorType::kInvalidImportToken,
                 "The import token is invalid or is associated with a different KMS key.");
  }
  auto parameters = import_token::DecodeParameters((*stored)->view());
  if (!parameters.ok()) return parameters.status();
  auto claims = import_token::Open(parameters->token_key, request.import_token);
  if (!claims.ok()) return claims.status();
  if (claims->key_id != m.key_id) {
    return Error(ErrorType::kInvalidImportToken,
                 "The import token is invalid or is associated with a different KMS key.");
  }
  if (claims->valid_to <= now) {
    return Error(ErrorType::kExpiredImportToken, "The import token is expired.");
  }
  if (auto status = ValidateExpiration(request, now); !status.ok()) return status;

  auto material = crypto::UnwrapKeyMaterial(parameters->wrapping_key, claims->algorithm,
                                            request.encrypted_key_material);
  if (!material.ok()) return material.status();
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  if (!spec) return Internal("stored key has an unknown key spec");
  auto fingerprint = crypto::CheckImportedMaterial(*spec, *material);
  if (!fingerprint.ok()) return fingerprint.status();
  std::string material_id = KeyMaterialIdOf(m.key_id, *fingerprint);
  OPENSSL_cleanse(fingerprint->data(), fingerprint->size());

  auto changed = std::make_shared<KeyEntry>(entry);
  KeyRecord& record = changed->record;
  KeystoreBatch batch;
  uint32_t version = record.current_version;
  if (symmetric) {
    auto placed = PlaceSymmetricMaterial(record, request, material_id);
    if (!placed.ok()) return placed.status();
    version = *placed;
  } else {
    // Asymmetric and HMAC keys: one material, ever (ImportType is refused above); a multi-Region
    // replica's is its primary's.
    std::string expected = m.key_material_id;
    if (expected.empty() && m.multi_region) {
      auto primary = PrimaryMaterialId(m);
      if (!primary.ok()) return primary.status();
      expected = std::move(*primary);
    }
    if (!expected.empty() && material_id != expected) {
      return Error(ErrorType::kIncorrectKeyMaterial,
                   StrCat("The key material in the request is not the same key material that "
                          "was previously imported into ",
                          KeyArn(m.key_id), "."));
    }
    KeyMetadata& updated = record.metadata;
    updated.state = KeyState::kEnabled;
    updated.key_material_id = material_id;
    updated.expiration_model = request.expiration_model;
    updated.valid_to = request.expiration_model == kExpires ? request.valid_to : std::nullopt;
    record.has_material = true;
    changed->versions.clear();
    changed->private_key.reset();
  }
  ScheduleExpiries(entry.record, record, batch);
  batch.puts.emplace_back(records::MaterialRecordId(m.key_id, version), material->view());
  changed->versions[version] = std::make_shared<const SecretBytes>(std::move(*material));
  if (auto status = AttachMaterial(*changed); !status.ok()) return status;
  if (auto status = CommitEntry(changed, batch); !status.ok()) return status;
  if (symmetric && m.multi_region) replicas_of = m.key_id;
  return KeyMaterialResult{KeyArn(m.key_id), symmetric ? material_id : ""};
}

absl::StatusOr<uint32_t> KmsServiceImpl::PlaceSymmetricMaterial(
    KeyRecord& record, const ImportKeyMaterialRequest& request, const std::string& material_id) {
  const KeyMetadata& m = record.metadata;
  bool first_import = record.materials.empty();
  // A multi-Region replica takes only its primary's materials (issue 13).
  if (m.multi_region && (first_import || (request.import_type &&
                                          *request.import_type == kNewKeyMaterial))) {
    if (auto status = RequireNotReplica(m, "Importing new key material"); !status.ok()) {
      return status;
    }
  }
  std::string_view import_type = request.import_type
                                     ? std::string_view(*request.import_type)
                                     : (first_import ? kNewKeyMaterial : kExistingKeyMaterial);
  if (import_type == kNewKeyMaterial && request.key_material_id) {
    return Validation("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.");
  }
  records::ImportedMaterial* known = record.FindMaterial(material_id);
  auto set_import = [&](records::ImportedMaterial& material) {
    material.imported = true;
    material.expiration_model = request.expiration_model;
    material.valid_to = request.expiration_model == kExpires ? request.valid_to : std::nullopt;
    if (request.key_material_description) material.description = *request.key_material_description;
  };
  if (import_type == kNewKeyMaterial) {
    if (known) {
      return Error(ErrorType::kIncorrectKeyMaterial,
                   StrCat("The key material in the request is already associated with ",
                          KeyArn(m.key_id), ". Use ImportType EXISTING_KEY_MATERIAL."));
    }
    if (!first_import) {
      if (const records::ImportedMaterial* pending = record.PendingMaterial()) {
        return Error(ErrorType::kKmsInvalidState,
                     StrCat("New key material (id: ", material_id,
                            ") cannot be imported into KMS key ", m.key_id,
                            ", because another key material (id: ", pending->id,
                            ") is pending rotation."));
      }
    }
    records::ImportedMaterial added;
    added.version = first_import ? record.current_version : NextVersion(record);
    added.id = material_id;
    added.pending_rotation = !first_import;
    set_import(added);
    record.materials.push_back(std::move(added));
    RefreshImportedState(record);
    return record.materials.back().version;
  }
  if (first_import) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 StrCat("No key material has been imported into ", KeyArn(m.key_id),
                        " yet. Use ImportType NEW_KEY_MATERIAL."));
  }
  if (request.key_material_id && *request.key_material_id != material_id) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 "The key material in the request does not match the KeyMaterialId.");
  }
  if (!known) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 StrCat("The key material in the request is not the same key material that was "
                        "previously imported into ",
                        KeyArn(m.key_id), "."));
  }
  set_import(*known);
  uint32_t version = known->version;
  RefreshImportedState(record);
  return version;
}

absl::StatusOr<KeyMaterialResult> KmsServiceImpl::DeleteImportedKeyMaterial(
    const CallContext& call, const std::string& key_id, const std::string& key_material_id) {
  std::string replicas_of;
  absl::StatusOr<KeyMaterialResult> result;
  {
    std::lock_guard write_lock(write_mutex_);
    result = RetryConflicts(
        [&]() { return DeleteMaterialOnce(call, key_id, key_material_id, replicas_of); });
  }
  // Material pending rotation deleted from a multi-Region primary goes from its replicas too.
  if (result.ok() && !replicas_of.empty()) {
    if (auto status = SyncReplicas(replicas_of); !status.ok()) return status;
  }
  return result;
}

absl::StatusOr<KeyMaterialResult> KmsServiceImpl::DeleteMaterialOnce(
    const CallContext& call, const std::string& key_id, const std::string& key_material_id,
    std::string& replicas_of) {
  auto current = Resolve(key_id, /*allow_alias=*/false);
  if (!current.ok()) return current.status();
  if (auto version = StoredKeyVersion(**current); !version.ok()) return version.status();
  if (auto status = AuthorizeKey(call, **current, {.action = "kms:DeleteImportedKeyMaterial"});
      !status.ok()) {
    return status;
  }
  const KeyRecord& record = (*current)->record;
  const KeyMetadata& m = record.metadata;
  if (auto status = RequireExternalOrigin(m); !status.ok()) return status;
  std::string material_id = key_material_id.empty() ? m.key_material_id : key_material_id;
  bool known = record.materials.empty() ? material_id == m.key_material_id
                                        : record.FindMaterial(material_id) != nullptr;
  if (!key_material_id.empty() && !known) {
    return NotFound(
        StrCat("Key material ", key_material_id, " is not associated with ", KeyArn(m.key_id)));
  }
  std::string arn = KeyArn(m.key_id);
  if (!IsSymmetric(m)) material_id.clear();
  if (!record.materials.empty() && m.multi_region) replicas_of = m.key_id;
  auto dropped = record.materials.empty() ? DropImportedMaterial(*current, {})
                                          : DropMaterials(*current, {material_id}, {});
  if (!dropped.ok()) return dropped.status();
  return KeyMaterialResult{std::move(arn), std::move(material_id)};
}

absl::StatusOr<EntryPtr> KmsServiceImpl::DropMaterials(const EntryPtr& current,
                                                       const std::vector<std::string>& ids,
                                                       KeystoreBatch batch) {
  auto changed = std::make_shared<KeyEntry>(*current);
  KeyRecord& record = changed->record;
  const std::string& key_id = record.metadata.key_id;
  for (const std::string& id : ids) {
    records::ImportedMaterial* material = record.FindMaterial(id);
    if (!material) continue;
    if (material->imported) {
      batch.deletes.push_back(records::MaterialRecordId(key_id, material->version));
      changed->versions.erase(material->version);
    }
    if (material->pending_rotation) {
      // Not the key's for good: forgotten, so that other new material may take its place.
      std::erase_if(record.materials, [&](const records::ImportedMaterial& one) {
        return one.id == id;
      });
      continue;
    }
    material->imported = false;
    material->expiration_model.clear();
    material->valid_to.reset();
  }
  RefreshImportedState(record);
  ScheduleExpiries(current->record, record, batch);
  if (auto status = CommitEntry(changed, batch); !status.ok()) return status;
  if (auto status = keystore_->Compact(); !status.ok()) return status;
  return EntryPtr(std::move(changed));
}

absl::StatusOr<EntryPtr> KmsServiceImpl::DropImportedMaterial(const EntryPtr& current,
                                                              KeystoreBatch batch) {
  auto changed = std::make_shared<KeyEntry>(*current);
  KeyRecord& record = changed->record;
  KeyMetadata& m = record.metadata;
  auto materials = keystore_->List(records::MaterialPrefix(m.key_id), "", 0);
  if (!materials.ok()) return materials.status();
  for (const KeystoreRecord& stored : *materials) batch.deletes.push_back(stored.id);
  // AWS: a key pending (replica) deletion stays so; any other goes to PendingImport.
  if (!IsPendingDeletion(m.state)) m.state = KeyState::kPendingImport;
  m.expiration_model.clear();
  m.valid_to.reset();
  record.has_material = false;
  ScheduleExpiries(current->record, record, batch);
  changed->versions.clear();
  changed->private_key.reset();
  if (auto status = CommitEntry(changed, batch); !status.ok()) return status;
  if (auto status = keystore_->Compact(); !status.ok()) return status;
  return EntryPtr(std::move(changed));
}

absl::Status KmsServiceImpl::CommitEntry(std::shared_ptr<KeyEntry> changed, KeystoreBatch& batch) {
  const std::string key_id = changed->record.metadata.key_id;
  // changed is a copy of the entry as read: its stored record must still be the one in storage
  // (another node may have changed the key meanwhile; then nothing is written).
  auto version = StoredKeyVersion(*changed);
  if (!version.ok()) return version.status();
  std::string encoded = records::EncodeKeyRecord(changed->record);
  batch.expect.emplace_back(records::KeyRecordId(key_id), std::move(*version));
  batch.puts.emplace_back(records::KeyRecordId(key_id), encoded);
  uint64_t seen = InvalidationsOf(key_id);
  if (auto status = keystore_->Commit(batch); !status.ok()) {
    if (IsStorageConflict(status)) Forget(key_id);
    return status;
  }
  changed->stored_record = std::move(encoded);
  PublishIfCurrent(std::move(changed), seen);
  return absl::OkStatus();
}

absl::Status KmsServiceImpl::RunImportTask(const EntryPtr& entry, const records::DueTask& task,
                                           const std::string& due_record_id, int64_t now,
                                           DueTaskReport& report) {
  const KeyRecord& record = entry->record;
  if (task.task == records::kExpireMaterialTask) {
    const KeyMetadata& m = record.metadata;
    KeystoreBatch batch;
    batch.deletes.push_back(due_record_id);
    if (!record.materials.empty()) {
      // Every material of the key whose ValidTo this is (issue 13).
      std::vector<std::string> expired;
      for (const records::ImportedMaterial& material : record.materials) {
        if (material.imported && material.valid_to == task.due) expired.push_back(material.id);
      }
      if (expired.empty()) return keystore_->Delete(due_record_id);  // reimported or deleted
      auto dropped = DropMaterials(entry, expired, std::move(batch));
      if (!dropped.ok()) return dropped.status();
      report.key_materials_expired += static_cast<int>(expired.size());
      // A primary's expired material pending rotation goes from its replicas after the pass.
      if (m.multi_region) replica_syncs_.push_back(m.key_id);
      return absl::OkStatus();
    }
    if (!record.has_material || m.expiration_model != kExpires || m.valid_to != task.due) {
      return keystore_->Delete(due_record_id);  // reimported or deleted since
    }
    auto dropped = DropImportedMaterial(entry, std::move(batch));
    if (!dropped.ok()) return dropped.status();
    ++report.key_materials_expired;
    return absl::OkStatus();
  }
  // The wrapping keys of the key's expired import tokens.
  KeystoreBatch batch;
  batch.deletes.push_back(due_record_id);
  auto stored = keystore_->List(records::ImportPrefix(record.metadata.key_id), "", 0);
  if (!stored.ok()) return stored.status();
  for (const KeystoreRecord& parameters : *stored) {
    auto decoded = import_token::DecodeParameters(parameters.value.view());
    if (!decoded.ok()) return decoded.status();
    if (decoded->valid_to <= now) batch.deletes.push_back(parameters.id);
  }
  if (auto status = keystore_->Commit(batch); !status.ok()) return status;
  return keystore_->Compact();
}

}  // namespace kmsd::service_internal
