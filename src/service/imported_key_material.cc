// Imported key material (Origin EXTERNAL, issue 13): GetParametersForImport hands out an RSA
// wrapping key and a token bound to it; ImportKeyMaterial unwraps and checks the material and
// enables the key; DeleteImportedKeyMaterial and the material's expiry destroy it again (the key
// waits in PendingImport for the same material).
#include <openssl/crypto.h>

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
  if (spec.family == KeyFamily::kEcc) return 3 * static_cast<size_t>((spec.bits + 7) / 8) + 60;
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

absl::Status ValidateExpiration(const ImportKeyMaterialRequest& request, int64_t now) {
  if (request.expiration_model == kExpires) {
    if (!request.valid_to) {
      return Validation(
          "A ValidTo date is required when the ExpirationModel is KEY_MATERIAL_EXPIRES.");
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
  std::lock_guard write_lock(write_mutex_);
  auto current = Resolve(request.key_id, /*allow_alias=*/false);
  if (!current.ok()) return current.status();
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

  // New or the same material (AWS: the key's material never changes once imported; importing new
  // material into a symmetric key is for on-demand rotation, which kmsd does not offer yet).
  bool first_import = m.key_material_id.empty();
  std::string_view import_type = request.import_type
                                     ? std::string_view(*request.import_type)
                                     : (first_import ? kNewKeyMaterial : kExistingKeyMaterial);
  if (import_type == kNewKeyMaterial && request.key_material_id) {
    return Validation("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.");
  }
  if (import_type == kNewKeyMaterial && !first_import) {
    if (material_id == m.key_material_id) {
      return Error(ErrorType::kIncorrectKeyMaterial,
                   StrCat("The key material in the request is already associated with ",
                          KeyArn(m.key_id), ". Use ImportType EXISTING_KEY_MATERIAL."));
    }
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("Importing new key material into ", KeyArn(m.key_id),
                        " (for on-demand rotation) is not supported by kmsd: a KMS key with "
                        "imported key material keeps the material it was first given."));
  }
  if (import_type == kExistingKeyMaterial && first_import) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 StrCat("No key material has been imported into ", KeyArn(m.key_id),
                        " yet. Use ImportType NEW_KEY_MATERIAL."));
  }
  if (request.key_material_id && *request.key_material_id != material_id) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 "The key material in the request does not match the KeyMaterialId.");
  }
  if (!first_import && material_id != m.key_material_id) {
    return Error(ErrorType::kIncorrectKeyMaterial,
                 StrCat("The key material in the request is not the same key material that was "
                        "previously imported into ",
                        KeyArn(m.key_id), "."));
  }

  auto changed = std::make_shared<KeyEntry>(entry);
  KeyRecord& record = changed->record;
  KeyMetadata& updated = record.metadata;
  KeystoreBatch batch;
  if (updated.valid_to) {
    batch.deletes.push_back(
        records::DueRecordId(*updated.valid_to, records::kExpireMaterialTask, updated.key_id));
  }
  updated.state = KeyState::kEnabled;
  updated.key_material_id = material_id;
  updated.expiration_model = request.expiration_model;
  updated.valid_to = request.expiration_model == kExpires ? request.valid_to : std::nullopt;
  if (request.key_material_description) {
    record.key_material_description = *request.key_material_description;
  }
  record.has_material = true;
  if (updated.valid_to) {
    // The put comes after the delete in the same commit when the date did not change.
    std::string due =
        records::DueRecordId(*updated.valid_to, records::kExpireMaterialTask, updated.key_id);
    std::erase(batch.deletes, due);
    batch.puts.emplace_back(std::move(due), "");
  }
  std::string material_record = records::MaterialRecordId(updated.key_id, record.current_version);
  batch.puts.emplace_back(material_record, material->view());
  changed->versions.clear();
  changed->versions[record.current_version] =
      std::make_shared<const SecretBytes>(std::move(*material));
  changed->private_key.reset();
  if (auto status = AttachMaterial(*changed); !status.ok()) return status;
  if (auto status = CommitEntry(changed, batch); !status.ok()) return status;
  return KeyMaterialResult{KeyArn(updated.key_id), symmetric ? material_id : ""};
}

absl::StatusOr<KeyMaterialResult> KmsServiceImpl::DeleteImportedKeyMaterial(
    const CallContext& call, const std::string& key_id, const std::string& key_material_id) {
  std::lock_guard write_lock(write_mutex_);
  auto current = Resolve(key_id, /*allow_alias=*/false);
  if (!current.ok()) return current.status();
  if (auto status = AuthorizeKey(call, **current, {.action = "kms:DeleteImportedKeyMaterial"});
      !status.ok()) {
    return status;
  }
  const KeyMetadata& m = (*current)->record.metadata;
  if (auto status = RequireExternalOrigin(m); !status.ok()) return status;
  if (!key_material_id.empty() && key_material_id != m.key_material_id) {
    return NotFound(
        StrCat("Key material ", key_material_id, " is not associated with ", KeyArn(m.key_id)));
  }
  std::string arn = KeyArn(m.key_id);
  std::string material_id = IsSymmetric(m) ? m.key_material_id : "";
  auto dropped = DropImportedMaterial(*current, {});
  if (!dropped.ok()) return dropped.status();
  return KeyMaterialResult{std::move(arn), std::move(material_id)};
}

absl::StatusOr<EntryPtr> KmsServiceImpl::DropImportedMaterial(const EntryPtr& current,
                                                              KeystoreBatch batch) {
  auto changed = std::make_shared<KeyEntry>(*current);
  KeyRecord& record = changed->record;
  KeyMetadata& m = record.metadata;
  auto materials = keystore_->List(records::MaterialPrefix(m.key_id), "", 0);
  if (!materials.ok()) return materials.status();
  for (const KeystoreRecord& stored : *materials) batch.deletes.push_back(stored.id);
  if (m.valid_to) {
    batch.deletes.push_back(
        records::DueRecordId(*m.valid_to, records::kExpireMaterialTask, m.key_id));
  }
  // AWS: a key pending (replica) deletion stays so; any other goes to PendingImport.
  if (!IsPendingDeletion(m.state)) m.state = KeyState::kPendingImport;
  m.expiration_model.clear();
  m.valid_to.reset();
  record.has_material = false;
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
    if (!record.has_material || m.expiration_model != kExpires || m.valid_to != task.due) {
      return keystore_->Delete(due_record_id);  // reimported or deleted since
    }
    KeystoreBatch batch;
    batch.deletes.push_back(due_record_id);
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
