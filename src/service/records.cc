// Encodes the service's records for the keystore. JSON for metadata (easy to evolve with a version
// field); key material is stored as raw bytes in its own record and never passes through here.
#include "service/records.h"

#include <openssl/crypto.h>

#include <cstdio>
#include <utility>
#include <nlohmann/json.hpp>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd::records {
namespace {

using nlohmann::json;

constexpr int kRecordVersion = 1;

absl::StatusOr<KeyState> ParseState(std::string_view name) {
  for (KeyState state : {KeyState::kEnabled, KeyState::kDisabled, KeyState::kPendingDeletion,
                         KeyState::kPendingImport, KeyState::kPendingReplicaDeletion}) {
    if (KeyStateName(state) == name) return state;
  }
  return Internal("stored key record has an unknown state");
}

json ContextJson(const EncryptionContext& context) {
  json object = json::object();
  for (const auto& [key, value] : context) object[key] = value;
  return object;
}

EncryptionContext ContextFromJson(const json& object) {
  EncryptionContext context;
  for (const auto& [key, value] : object.items()) context.emplace(key, value.get<std::string>());
  return context;
}

}  // namespace

std::string KeyRecordId(std::string_view key_id) {
  return std::string(kKeyPrefix) + std::string(key_id);
}

std::string MaterialPrefix(std::string_view key_id) {
  return std::string(kMaterialPrefix) + std::string(key_id) + "/";
}

std::string MaterialRecordId(std::string_view key_id, uint32_t version) {
  char suffix[9];
  std::snprintf(suffix, sizeof(suffix), "%08x", version);
  return MaterialPrefix(key_id) + suffix;
}

std::string AliasRecordId(std::string_view alias_name) { return std::string(alias_name); }

uint32_t MaterialVersion(std::string_view record_id) {
  size_t slash = record_id.rfind('/');
  if (slash == std::string_view::npos || record_id.size() - slash - 1 != 8) return 0;
  uint32_t version = 0;
  for (char c : record_id.substr(slash + 1)) {
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return 0;
    version = version * 16 + static_cast<uint32_t>(digit);
  }
  return version;
}

std::string GrantPrefix(std::string_view key_id) {
  return std::string(kGrantPrefix) + std::string(key_id) + "/";
}

std::string GrantRecordId(std::string_view key_id, std::string_view grant_id) {
  return GrantPrefix(key_id) + std::string(grant_id);
}

std::string ImportPrefix(std::string_view key_id) {
  return std::string(kImportPrefix) + std::string(key_id) + "/";
}

std::string ImportRecordId(std::string_view key_id, std::string_view parameters_id) {
  return ImportPrefix(key_id) + std::string(parameters_id);
}

std::string DueRecordId(int64_t due, std::string_view task, std::string_view key_id) {
  char when[24];
  std::snprintf(when, sizeof(when), "%012lld", static_cast<long long>(due < 0 ? 0 : due));
  return std::string(kDuePrefix) + when + "/" + std::string(task) + "/" + std::string(key_id);
}

std::optional<DueTask> ParseDueRecordId(std::string_view record_id) {
  if (!record_id.starts_with(kDuePrefix)) return std::nullopt;
  std::string_view rest = record_id.substr(kDuePrefix.size());
  size_t first = rest.find('/');
  size_t second = first == std::string_view::npos ? first : rest.find('/', first + 1);
  if (second == std::string_view::npos || first != 12) return std::nullopt;
  DueTask task;
  for (char c : rest.substr(0, first)) {
    if (c < '0' || c > '9') return std::nullopt;
    task.due = task.due * 10 + (c - '0');
  }
  task.task = std::string(rest.substr(first + 1, second - first - 1));
  task.key_id = std::string(rest.substr(second + 1));
  return task;
}

std::string EncodeKeyRecord(const KeyRecord& record) {
  const KeyMetadata& m = record.metadata;
  json tags = json::array();
  for (const Tag& tag : record.tags) tags.push_back({tag.key, tag.value});
  json j = {{"v", kRecordVersion},
            {"id", m.key_id},
            {"created", m.creation_date},
            {"description", m.description},
            {"state", KeyStateName(m.state)},
            {"usage", m.key_usage},
            {"spec", m.key_spec},
            {"origin", m.origin},
            {"current_version", record.current_version},
            {"tags", std::move(tags)}};
  if (record.rotation_enabled) {
    j["rotation"] = {{"period_days", record.rotation_period_days},
                     {"next", record.next_rotation_date}};
  }
  json rotations = json::array();
  for (const Rotation& rotation : record.rotations) {
    rotations.push_back({rotation.version, rotation.date, RotationTypeName(rotation.type)});
  }
  j["rotations"] = std::move(rotations);
  if (m.deletion_date) j["deletion_date"] = *m.deletion_date;
  if (m.pending_deletion_window_days) j["pending_window"] = *m.pending_deletion_window_days;
  if (record.policy) j["policy"] = *record.policy;
  if (m.multi_region) j["multi_region"] = true;
  // Imported key material (issue 13).
  if (m.origin == "EXTERNAL") {
    json imported = {{"has_material", record.has_material}};
    if (!m.key_material_id.empty()) imported["material_id"] = m.key_material_id;
    if (!m.expiration_model.empty()) imported["expiration"] = m.expiration_model;
    if (m.valid_to) imported["valid_to"] = *m.valid_to;
    if (!record.key_material_description.empty()) {
      imported["description"] = record.key_material_description;
    }
    if (!record.materials.empty()) {
      json materials = json::array();
      for (const ImportedMaterial& material : record.materials) {
        json one = {{"version", material.version},
                    {"id", material.id},
                    {"imported", material.imported},
                    {"pending", material.pending_rotation}};
        if (!material.description.empty()) one["description"] = material.description;
        if (!material.expiration_model.empty()) one["expiration"] = material.expiration_model;
        if (material.valid_to) one["valid_to"] = *material.valid_to;
        materials.push_back(std::move(one));
      }
      imported["materials"] = std::move(materials);
    }
    j["imported"] = std::move(imported);
  }
  if (record.destroying) j["destroying"] = {{"recorded", record.deletion_recorded}};  // issue 12
  if (record.grants_created) j["grants_created"] = record.grants_created;             // issue 12
  return j.dump();
}

absl::StatusOr<KeyRecord> DecodeKeyRecord(std::string_view bytes) {
  try {
    json j = json::parse(bytes);
    if (j.at("v").get<int>() != kRecordVersion) return Internal("unsupported key record version");
    KeyRecord record;
    KeyMetadata& m = record.metadata;
    m.key_id = j.at("id").get<std::string>();
    m.creation_date = j.at("created").get<int64_t>();
    m.description = j.at("description").get<std::string>();
    auto state = ParseState(j.at("state").get<std::string>());
    if (!state.ok()) return state.status();
    m.state = *state;
    m.key_usage = j.at("usage").get<std::string>();
    m.key_spec = j.at("spec").get<std::string>();
    m.origin = j.at("origin").get<std::string>();
    if (j.contains("deletion_date")) m.deletion_date = j["deletion_date"].get<int64_t>();
    if (j.contains("pending_window"))
      m.pending_deletion_window_days = j["pending_window"].get<int>();
    record.current_version = j.at("current_version").get<uint32_t>();
    for (const json& tag : j.at("tags")) {
      record.tags.push_back({tag.at(0).get<std::string>(), tag.at(1).get<std::string>()});
    }
    if (j.contains("rotation")) {
      record.rotation_enabled = true;
      record.rotation_period_days = j["rotation"].at("period_days").get<int>();
      record.next_rotation_date = j["rotation"].at("next").get<int64_t>();
    }
    for (const json& rotation : j.value("rotations", json::array())) {
      RotationType type =
          rotation.at(2).get<std::string>() == RotationTypeName(RotationType::kOnDemand)
              ? RotationType::kOnDemand
              : RotationType::kAutomatic;
      record.rotations.push_back(
          {rotation.at(0).get<uint32_t>(), rotation.at(1).get<int64_t>(), type});
    }
    if (j.contains("policy")) record.policy = j["policy"].get<std::string>();
    m.multi_region = j.value("multi_region", false);
    if (j.contains("imported")) {
      const json& imported = j["imported"];
      record.has_material = imported.at("has_material").get<bool>();
      m.key_material_id = imported.value("material_id", "");
      m.expiration_model = imported.value("expiration", "");
      if (imported.contains("valid_to")) m.valid_to = imported["valid_to"].get<int64_t>();
      record.key_material_description = imported.value("description", "");
      for (const json& one : imported.value("materials", json::array())) {
        ImportedMaterial material;
        material.version = one.at("version").get<uint32_t>();
        material.id = one.at("id").get<std::string>();
        material.imported = one.at("imported").get<bool>();
        material.pending_rotation = one.at("pending").get<bool>();
        material.description = one.value("description", "");
        material.expiration_model = one.value("expiration", "");
        if (one.contains("valid_to")) material.valid_to = one["valid_to"].get<int64_t>();
        record.materials.push_back(std::move(material));
      }
      // A symmetric key stored before it could have several materials: its one material.
      if (record.materials.empty() && m.key_spec == "SYMMETRIC_DEFAULT" &&
          !m.key_material_id.empty()) {
        record.materials.push_back({.version = record.current_version,
                                    .id = m.key_material_id,
                                    .description = record.key_material_description,
                                    .imported = record.has_material,
                                    .expiration_model = m.expiration_model,
                                    .valid_to = m.valid_to});
      }
    }
    if (j.contains("destroying")) {  // issue 12
      record.destroying = true;
      record.deletion_recorded = j["destroying"].at("recorded").get<bool>();
    }
    record.grants_created = j.value("grants_created", uint64_t{0});  // issue 12
    return record;
  } catch (const json::exception&) {
    return Internal("stored key record is malformed");
  }
}

std::string EncodeAliasRecord(const AliasRecord& record) {
  return json{{"v", kRecordVersion},
              {"target", record.target_key_id},
              {"created", record.creation_date},
              {"updated", record.last_updated_date}}
      .dump();
}

absl::StatusOr<AliasRecord> DecodeAliasRecord(std::string_view bytes) {
  try {
    json j = json::parse(bytes);
    if (j.at("v").get<int>() != kRecordVersion) return Internal("unsupported alias record version");
    return AliasRecord{j.at("target").get<std::string>(), j.at("created").get<int64_t>(),
                       j.at("updated").get<int64_t>()};
  } catch (const json::exception&) {
    return Internal("stored alias record is malformed");
  }
}

SecretBytes EncodeGrantRecord(const GrantRecord& record) {
  std::string secret = crypto::Base64Encode(record.token_secret.view());
  json j = {{"v", kRecordVersion},
            {"key", record.key_id},
            {"id", record.grant_id},
            {"created", record.creation_date},
            {"grantee", record.grantee_principal},
            {"operations", record.operations},
            {"secret", secret}};
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!record.name.empty()) j["name"] = record.name;
  if (!record.retiring_principal.empty()) j["retiring"] = record.retiring_principal;
  const GrantConstraints& constraints = record.constraints;
  if (constraints.encryption_context_equals) {
    j["context_equals"] = ContextJson(*constraints.encryption_context_equals);
  }
  if (constraints.encryption_context_subset) {
    j["context_subset"] = ContextJson(*constraints.encryption_context_subset);
  }
  std::string encoded = j.dump();
  std::string& copied = j["secret"].get_ref<std::string&>();
  OPENSSL_cleanse(copied.data(), copied.size());
  SecretBytes result = SecretBytes::FromString(encoded);
  OPENSSL_cleanse(encoded.data(), encoded.size());
  return result;
}

absl::StatusOr<GrantRecord> DecodeGrantRecord(std::string_view bytes) {
  try {
    json j = json::parse(bytes);
    if (j.at("v").get<int>() != kRecordVersion) return Internal("unsupported grant record version");
    GrantRecord record;
    record.key_id = j.at("key").get<std::string>();
    record.grant_id = j.at("id").get<std::string>();
    record.creation_date = j.at("created").get<int64_t>();
    record.grantee_principal = j.at("grantee").get<std::string>();
    record.operations = j.at("operations").get<std::vector<std::string>>();
    record.name = j.value("name", "");
    record.retiring_principal = j.value("retiring", "");
    if (j.contains("context_equals")) {
      record.constraints.encryption_context_equals = ContextFromJson(j["context_equals"]);
    }
    if (j.contains("context_subset")) {
      record.constraints.encryption_context_subset = ContextFromJson(j["context_subset"]);
    }
    std::string& secret = j.at("secret").get_ref<std::string&>();
    auto decoded = crypto::Base64DecodeSecret(secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    if (!decoded.ok()) return Internal("stored grant record is malformed");
    record.token_secret = std::move(*decoded);
    return record;
  } catch (const json::exception&) {
    return Internal("stored grant record is malformed");
  }
}

const ImportedMaterial* KeyRecord::FindMaterial(std::string_view id) const {
  for (const ImportedMaterial& material : materials) {
    if (material.id == id) return &material;
  }
  return nullptr;
}

ImportedMaterial* KeyRecord::FindMaterial(std::string_view id) {
  return const_cast<ImportedMaterial*>(std::as_const(*this).FindMaterial(id));
}

const ImportedMaterial* KeyRecord::PendingMaterial() const {
  for (const ImportedMaterial& material : materials) {
    if (material.pending_rotation) return &material;
  }
  return nullptr;
}

bool KeyRecord::IsPendingVersion(uint32_t version) const {
  for (const ImportedMaterial& material : materials) {
    if (material.version == version) return material.pending_rotation;
  }
  return false;
}

std::string MultiRegionRecordId(std::string_view key_id) {
  return std::string(kMultiRegionPrefix) + std::string(key_id);
}

std::string EncodeMultiRegionRecord(const MultiRegionRecord& record) {
  return json{{"v", kRecordVersion},
              {"primary", record.primary_region},
              {"replicas", record.replica_regions}}
      .dump();
}

absl::StatusOr<MultiRegionRecord> DecodeMultiRegionRecord(std::string_view bytes) {
  try {
    json j = json::parse(bytes);
    if (j.at("v").get<int>() != kRecordVersion) {
      return Internal("unsupported multi-Region record version");
    }
    return MultiRegionRecord{j.at("primary").get<std::string>(),
                             j.at("replicas").get<std::vector<std::string>>()};
  } catch (const json::exception&) {
    return Internal("stored multi-Region record is malformed");
  }
}

}  // namespace kmsd::records
