// Kinds of key (issue 13): which operations each KeySpec and KeyUsage admits, the material of
// asymmetric and HMAC keys, and their operations: GetPublicKey, Sign, Verify, GenerateMac,
// VerifyMac.
#include <openssl/crypto.h>

#include "kmsd/key_import.h"
#include "service/service_impl.h"

namespace kmsd::service_internal {
namespace {

std::string_view MessageTypeName(MessageType type) {
  return type == MessageType::kDigest ? "DIGEST" : "RAW";
}

const KeySpecInfo& SpecOf(const KeyMetadata& m) {
  // Stored keys and CreateKey only ever hold specs of the table.
  static const KeySpecInfo& kSymmetric = *FindKeySpec("SYMMETRIC_DEFAULT");
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  return spec ? *spec : kSymmetric;
}

// The signing algorithm, when the key supports it; else InvalidKeyUsageException.
absl::StatusOr<const SigningAlgorithmInfo*> SigningAlgorithmOf(const KeyMetadata& m,
                                                               const std::string& name) {
  const SigningAlgorithmInfo* algorithm = FindSigningAlgorithm(name);
  if (!algorithm || !Lists(SpecOf(m).signing_algorithms, name)) {
    // AWS's wording for an algorithm the key spec does not support (as for MAC and encryption).
    return Error(ErrorType::kInvalidKeyUsage,
                 StrCat("Algorithm ", name, " is incompatible with key spec ", m.key_spec, "."));
  }
  return algorithm;
}

// The MAC algorithm, when the key supports it; else InvalidKeyUsageException.
absl::StatusOr<const MacAlgorithmInfo*> MacAlgorithmOf(const KeyMetadata& m,
                                                       const std::string& name) {
  const MacAlgorithmInfo* algorithm = FindMacAlgorithm(name);
  if (!algorithm || !Lists(SpecOf(m).mac_algorithms, name)) {
    return Error(ErrorType::kInvalidKeyUsage,
                 StrCat("Algorithm ", name, " is incompatible with key spec ", m.key_spec, "."));
  }
  return algorithm;
}

}  // namespace

absl::Status KmsServiceImpl::RequireKeyUsage(const KeyMetadata& m, std::string_view usage,
                                             std::string_view operation) const {
  if (m.key_usage == usage) return absl::OkStatus();
  return Error(ErrorType::kInvalidKeyUsage, StrCat(KeyArn(m.key_id), " key usage is ", m.key_usage,
                                                   " which is not valid for ", operation, "."));
}

absl::Status KmsServiceImpl::RequireSymmetricEncryption(const KeyMetadata& m,
                                                        std::string_view operation) const {
  if (auto status = RequireKeyUsage(m, kEncryptDecrypt, operation); !status.ok()) return status;
  if (m.key_spec == "SYMMETRIC_DEFAULT") return absl::OkStatus();
  return Error(ErrorType::kInvalidKeyUsage, StrCat(KeyArn(m.key_id), " key spec is ", m.key_spec,
                                                   " which is not valid for ", operation, "."));
}

absl::Status KmsServiceImpl::RequireRotatable(const KeyMetadata& m,
                                              std::string_view operation) const {
  if (m.key_spec == "SYMMETRIC_DEFAULT") return absl::OkStatus();
  return Error(ErrorType::kUnsupportedOperation,
               StrCat(KeyArn(m.key_id), " key spec is ", m.key_spec, " which is not valid for ",
                      operation, "."));
}

absl::Status KmsServiceImpl::AttachMaterial(KeyEntry& entry) {
  const KeySpecInfo& spec = SpecOf(entry.record.metadata);
  if (spec.family == KeyFamily::kUnsupported) {
    return Internal("stored key has a key spec kmsd does not support");
  }
  if (!entry.record.has_material && entry.versions.empty()) return absl::OkStatus();  // issue 13
  if (!spec.Asymmetric()) {
    // Imported HMAC keys may be longer than generated ones (crypto::ImportedMaterialLength).
    bool imported = entry.record.metadata.origin == "EXTERNAL";
    crypto::MaterialLength allowed = imported ? crypto::ImportedMaterialLength(spec)
                                              : crypto::MaterialLength{spec.MaterialSize(),
                                                                       spec.MaterialSize()};
    for (const auto& [version, material] : entry.versions) {
      if (material->size() < allowed.min || material->size() > allowed.max) {
        return Internal("stored key material is malformed");
      }
    }
    return absl::OkStatus();
  }
  // An asymmetric key has one material, never rotated.
  if (entry.versions.size() != 1 || !entry.versions.contains(1)) {
    return Internal("stored asymmetric key has other material than its one key pair");
  }
  auto key = crypto::PrivateKey::FromPkcs8(*entry.versions.at(1), spec);
  if (!key.ok()) return key.status();
  entry.private_key = std::move(*key);
  return absl::OkStatus();
}

absl::StatusOr<PublicKeyResult> KmsServiceImpl::GetPublicKey(const CallContext& call,
                                                             const std::string& key_id,
                                                             const GrantTokens& grant_tokens) {
  auto entry =
      ResolveForCrypto(call, key_id, grant_tokens,
                       {.action = "kms:GetPublicKey", .grant_operation = grants::kGetPublicKey});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (!(*entry)->private_key) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat(KeyArn(m.key_id), " key spec is ", m.key_spec,
                        " which is not valid for GetPublicKey: it has no public key."));
  }
  return PublicKeyResult{KeyArn(m.key_id), (*entry)->private_key->PublicKeyDer(), m.key_spec,
                         m.key_usage};
}

absl::StatusOr<SignResult> KmsServiceImpl::Sign(const CallContext& call, const std::string& key_id,
                                                const SecretBytes& message,
                                                MessageType message_type,
                                                const std::string& signing_algorithm,
                                                const GrantTokens& grant_tokens) {
  auto conditions = [&](policy::RequestContext& context) {
    context.Set("kms:SigningAlgorithm", signing_algorithm);
    context.Set("kms:MessageType", std::string(MessageTypeName(message_type)));
  };
  auto entry = ResolveForCrypto(
      call, key_id, grant_tokens,
      {.action = "kms:Sign", .grant_operation = grants::kSign, .add_conditions = conditions});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireKeyUsage(m, kSignVerify, "Sign"); !status.ok()) return status;
  auto algorithm = SigningAlgorithmOf(m, signing_algorithm);
  if (!algorithm.ok()) return algorithm.status();
  auto signature = (*entry)->private_key->Sign(**algorithm, message.view(),
                                               message_type == MessageType::kDigest);
  if (!signature.ok()) return signature.status();
  RecordKeyUse(call, **entry, "Sign");  // GetKeyLastUsage
  return SignResult{KeyArn(m.key_id), std::move(*signature), signing_algorithm};
}

absl::StatusOr<SignResult> KmsServiceImpl::Verify(
    const CallContext& call, const std::string& key_id, const SecretBytes& message,
    MessageType message_type, const std::string& signature, const std::string& signing_algorithm,
    const GrantTokens& grant_tokens) {
  auto conditions = [&](policy::RequestContext& context) {
    context.Set("kms:SigningAlgorithm", signing_algorithm);
    context.Set("kms:MessageType", std::string(MessageTypeName(message_type)));
  };
  auto entry = ResolveForCrypto(
      call, key_id, grant_tokens,
      {.action = "kms:Verify", .grant_operation = grants::kVerify, .add_conditions = conditions});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireKeyUsage(m, kSignVerify, "Verify"); !status.ok()) return status;
  auto algorithm = SigningAlgorithmOf(m, signing_algorithm);
  if (!algorithm.ok()) return algorithm.status();
  auto valid = (*entry)->private_key->Verify(**algorithm, message.view(),
                                             message_type == MessageType::kDigest, signature);
  if (!valid.ok()) return valid.status();
  if (!*valid) {
    return Error(ErrorType::kKmsInvalidSignature,
                 "The signature is not valid for the message, KMS key and signing algorithm.");
  }
  RecordKeyUse(call, **entry, "Verify");  // GetKeyLastUsage
  return SignResult{KeyArn(m.key_id), "", signing_algorithm};
}

absl::StatusOr<std::pair<EntryPtr, std::string>> KmsServiceImpl::MacUnder(
    const CallContext& call, const std::string& key_id, const SecretBytes& message,
    const std::string& mac_algorithm, const GrantTokens& grant_tokens, std::string_view operation,
    grants::OperationSet grant_operation) {
  auto conditions = [&](policy::RequestContext& context) {
    context.Set("kms:MacAlgorithm", mac_algorithm);
  };
  std::string action = StrCat("kms:", operation);
  auto entry = ResolveForCrypto(
      call, key_id, grant_tokens,
      {.action = action, .grant_operation = grant_operation, .add_conditions = conditions});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireKeyUsage(m, kGenerateVerifyMac, operation); !status.ok()) {
    return status;
  }
  auto algorithm = MacAlgorithmOf(m, mac_algorithm);
  if (!algorithm.ok()) return algorithm.status();
  auto mac = crypto::Hmac(**algorithm, *(*entry)->versions.at(1), message.view());
  if (!mac.ok()) return mac.status();
  return std::make_pair(std::move(*entry), std::move(*mac));
}

absl::StatusOr<MacResult> KmsServiceImpl::GenerateMac(const CallContext& call,
                                                      const std::string& key_id,
                                                      const SecretBytes& message,
                                                      const std::string& mac_algorithm,
                                                      const GrantTokens& grant_tokens) {
  auto computed = MacUnder(call, key_id, message, mac_algorithm, grant_tokens, "GenerateMac",
                           grants::kGenerateMac);
  if (!computed.ok()) return computed.status();
  auto& [entry, mac] = *computed;
  RecordKeyUse(call, *entry, "GenerateMac");  // GetKeyLastUsage
  return MacResult{KeyArn(entry->record.metadata.key_id), std::move(mac), mac_algorithm};
}

absl::StatusOr<MacResult> KmsServiceImpl::VerifyMac(
    const CallContext& call, const std::string& key_id, const SecretBytes& message,
    const std::string& mac, const std::string& mac_algorithm, const GrantTokens& grant_tokens) {
  auto computed =
      MacUnder(call, key_id, message, mac_algorithm, grant_tokens, "VerifyMac", grants::kVerifyMac);
  if (!computed.ok()) return computed.status();
  auto& [entry, expected] = *computed;
  bool valid = crypto::ConstantTimeEquals(expected, mac);  // CRYPTO_memcmp
  OPENSSL_cleanse(expected.data(), expected.size());
  if (!valid) {
    return Error(ErrorType::kKmsInvalidMac,
                 "The MAC is not valid for the message, KMS key and MAC algorithm.");
  }
  RecordKeyUse(call, *entry, "VerifyMac");  // GetKeyLastUsage
  return MacResult{KeyArn(entry->record.metadata.key_id), "", mac_algorithm};
}

}  // namespace kmsd::service_internal
