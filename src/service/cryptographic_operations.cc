// The cryptographic operations on encryption keys: Encrypt, Decrypt, ReEncrypt (symmetric keys and,
// issue 13, RSA keys with RSAES-OAEP), GenerateDataKey, GenerateRandom.
#include "service/service_impl.h"

namespace kmsd::service_internal {

namespace {

constexpr std::string_view kSymmetricDefault = "SYMMETRIC_DEFAULT";

// RSAES-OAEP has no associated data, and AWS's asymmetric algorithms take no encryption context.
absl::Status NoContextForAsymmetricKeys(const KeyMetadata& m) {
  return Validation(StrCat("EncryptionContext is not supported with asymmetric KMS keys (key spec ",
                           m.key_spec, "): RSAES-OAEP has no associated data. Omit it."));
}

}  // namespace

absl::Status KmsServiceImpl::RequireEncryptionAlgorithm(const KeyMetadata& m,
                                                        std::string_view operation,
                                                        std::string_view algorithm) const {
  if (auto status = RequireKeyUsage(m, kEncryptDecrypt, operation); !status.ok()) return status;
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  if (spec && Lists(spec->encryption_algorithms, algorithm) &&
      (spec->family == KeyFamily::kSymmetric || FindEncryptionAlgorithm(algorithm))) {
    return absl::OkStatus();
  }
  return Error(ErrorType::kInvalidKeyUsage,
               StrCat("Algorithm ", algorithm, " is incompatible with key spec ", m.key_spec, "."));
}

absl::StatusOr<std::string> KmsServiceImpl::EncryptUnder(const KeyEntry& entry,
                                                         std::string_view algorithm,
                                                         const EncryptionContext& context,
                                                         std::string_view plaintext) const {
  const KeyMetadata& m = entry.record.metadata;
  if (algorithm == kSymmetricDefault) return SealUnder(entry, context, plaintext);
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  const EncryptionAlgorithmInfo* info = FindEncryptionAlgorithm(algorithm);
  if (!spec || !info || !entry.private_key) return Internal("the key cannot encrypt with RSA");
  if (!context.empty()) return NoContextForAsymmetricKeys(m);
  size_t limit = MaxRsaPlaintext(*spec, *info);
  if (plaintext.size() > limit) {
    return Validation(StrCat("Algorithm ", algorithm, " and key spec ", m.key_spec,
                             " cannot encrypt data larger than ", limit, " bytes."));
  }
  return entry.private_key->Encrypt(*info, plaintext);
}

absl::StatusOr<KmsServiceImpl::CiphertextKey> KmsServiceImpl::KeyOfCiphertext(
    const std::string& blob, const std::string& key_ref, std::string_view algorithm,
    std::string_view key_member) {
  CiphertextKey found;
  if (!key_ref.empty()) {
    auto named = Resolve(key_ref, /*allow_alias=*/true, &found.request_alias);
    if (!named.ok()) return named.status();
    // An asymmetric ciphertext is raw: the named key opens it, or the algorithm and usage checks
    // refuse the key.
    if ((*named)->record.metadata.key_spec != kSymmetricDefault || algorithm != kSymmetricDefault) {
      // A symmetric ciphertext made under another key, named with an asymmetric or HMAC key: AWS
      // answers IncorrectKeyException before it looks at the algorithm. Only when that key
      // exists: an RSA ciphertext is random bytes, which now and then parse as a header.
      if (algorithm == kSymmetricDefault) {
        auto header = ParseBlobHeader(blob);
        if (header.ok() && header->key_id != (*named)->record.metadata.key_id &&
            Load(header->key_id).ok()) {
          return BlobKey(*header, key_ref, &found.request_alias).status();
        }
      }
      found.entry = std::move(*named);
      return found;
    }
  } else if (algorithm != kSymmetricDefault) {
    return Validation(StrCat(key_member, " is required with encryption algorithm ", algorithm,
                             ": an asymmetric ciphertext does not name its KMS key."));
  }
  auto header = ParseBlobHeader(blob);
  if (!header.ok()) return header.status();
  auto entry = BlobKey(*header, key_ref, &found.request_alias);
  if (!entry.ok()) return entry.status();
  found.entry = std::move(*entry);
  found.header = *header;
  return found;
}

absl::StatusOr<SecretBytes> KmsServiceImpl::DecryptUnder(const CiphertextKey& source,
                                                         std::string_view algorithm,
                                                         const std::string& blob,
                                                         const EncryptionContext& context) {
  if (source.header) return OpenUnder(*source.entry, *source.header, blob, context);
  const EncryptionAlgorithmInfo* info = FindEncryptionAlgorithm(algorithm);
  if (!info || !source.entry->private_key) return Internal("the key cannot decrypt with RSA");
  if (!context.empty()) return NoContextForAsymmetricKeys(source.entry->record.metadata);
  return source.entry->private_key->Decrypt(*info, blob);
}

absl::StatusOr<EncryptResult> KmsServiceImpl::Encrypt(const CallContext& call,
                                                      const std::string& key_id,
                                                      const SecretBytes& plaintext,
                                                      const EncryptionContext& context,
                                                      const GrantTokens& grant_tokens,
                                                      const std::string& encryption_algorithm) {
  auto entry = ResolveForCrypto(call, key_id, grant_tokens,
                                {.action = "kms:Encrypt",
                                 .grant_operation = grants::kEncrypt,
                                 .encryption_context = &context,
                                 .encryption_algorithm = encryption_algorithm});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireEncryptionAlgorithm(m, "Encrypt", encryption_algorithm); !status.ok()) {
    return status;
  }
  auto blob = EncryptUnder(**entry, encryption_algorithm, context, plaintext.view());
  if (!blob.ok()) return blob.status();
  RecordKeyUse(call, **entry, "Encrypt");
  return EncryptResult{std::move(*blob), KeyArn(m.key_id), encryption_algorithm};
}

absl::StatusOr<DecryptResult> KmsServiceImpl::Decrypt(const CallContext& call,
                                                      const std::string& blob,
                                                      const EncryptionContext& context,
                                                      const std::string& key_id,
                                                      const GrantTokens& grant_tokens,
                                                      const std::string& encryption_algorithm) {
  auto source = KeyOfCiphertext(blob, key_id, encryption_algorithm, "KeyId");
  if (!source.ok()) return source.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&source->entry}); !status.ok()) return status;
  const KeyMetadata& m = source->entry->record.metadata;
  if (auto status = AuthorizeKey(call, *source->entry,
                                 {.action = "kms:Decrypt",
                                  .grant_operation = grants::kDecrypt,
                                  .encryption_context = &context,
                                  .request_alias = source->request_alias,
                                  .encryption_algorithm = encryption_algorithm});
      !status.ok()) {
    return status;
  }
  if (auto status = RequireUsable(m); !status.ok()) return status;
  if (auto status = RequireEncryptionAlgorithm(m, "Decrypt", encryption_algorithm); !status.ok()) {
    return status;
  }
  auto plaintext = DecryptUnder(*source, encryption_algorithm, blob, context);
  if (!plaintext.ok()) return plaintext.status();
  RecordKeyUse(call, *source->entry, "Decrypt");
  DecryptResult result{std::move(*plaintext), KeyArn(m.key_id), encryption_algorithm};
  if (source->header) {
    result.key_material_id =
        MaterialIdOfVersion(*source->entry, source->header->backing_key_version);
  }
  return result;
}

absl::StatusOr<ReEncryptResult> KmsServiceImpl::ReEncrypt(
    const CallContext& call, const std::string& blob, const EncryptionContext& source_context,
    const std::string& source_key_id, const std::string& destination_key_id,
    const EncryptionContext& destination_context, const GrantTokens& grant_tokens,
    const std::string& source_encryption_algorithm,
    const std::string& destination_encryption_algorithm) {
  auto source = KeyOfCiphertext(blob, source_key_id, source_encryption_algorithm, "SourceKeyId");
  if (!source.ok()) return source.status();
  std::string destination_alias;
  auto destination = Resolve(destination_key_id, /*allow_alias=*/true, &destination_alias);
  if (!destination.ok()) return destination.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&source->entry, &*destination}); !status.ok()) {
    return status;
  }
  bool same_key = source->entry == *destination;
  auto add_same_key = [same_key](policy::RequestContext& context) {
    context.Set("kms:ReEncryptOnSameKey", same_key ? "true" : "false");
  };
  if (auto status = AuthorizeKey(call, *source->entry,
                                 {.action = "kms:ReEncryptFrom",
                                  .grant_operation = grants::kReEncryptFrom,
                                  .encryption_context = &source_context,
                                  .request_alias = source->request_alias,
                                  .add_conditions = add_same_key,
                                  .encryption_algorithm = source_encryption_algorithm});
      !status.ok()) {
    return status;
  }
  if (auto status = AuthorizeKey(call, **destination,
                                 {.action = "kms:ReEncryptTo",
                                  .grant_operation = grants::kReEncryptTo,
                                  .encryption_context = &destination_context,
                                  .request_alias = destination_alias,
                                  .add_conditions = add_same_key,
                                  .encryption_algorithm = destination_encryption_algorithm});
      !status.ok()) {
    return status;
  }
  const KeyMetadata& source_key = source->entry->record.metadata;
  const KeyMetadata& destination_key = (*destination)->record.metadata;
  if (auto status = RequireUsable(destination_key); !status.ok()) return status;
  if (auto status = RequireUsable(source_key); !status.ok()) return status;
  if (auto status =
          RequireEncryptionAlgorithm(source_key, "ReEncrypt", source_encryption_algorithm);
      !status.ok()) {
    return status;
  }
  if (auto status = RequireEncryptionAlgorithm(destination_key, "ReEncrypt",
                                               destination_encryption_algorithm);
      !status.ok()) {
    return status;
  }
  auto plaintext = DecryptUnder(*source, source_encryption_algorithm, blob, source_context);
  if (!plaintext.ok()) return plaintext.status();
  auto sealed = EncryptUnder(**destination, destination_encryption_algorithm, destination_context,
                             plaintext->view());
  if (!sealed.ok()) return sealed.status();
  RecordKeyUse(call, *source->entry, "ReEncrypt");
  RecordKeyUse(call, **destination, "ReEncrypt");
  ReEncryptResult result{std::move(*sealed), KeyArn(source_key.key_id),
                         KeyArn(destination_key.key_id), source_encryption_algorithm,
                         destination_encryption_algorithm};
  if (source->header) {
    result.source_key_material_id =
        MaterialIdOfVersion(*source->entry, source->header->backing_key_version);
  }
  if (destination_encryption_algorithm == kSymmetricDefault) {
    result.destination_key_material_id =
        MaterialIdOfVersion(**destination, (*destination)->record.current_version);
  }
  return result;
}

absl::StatusOr<DataKeyResult> KmsServiceImpl::GenerateDataKey(
    const CallContext& call, const std::string& key_id, size_t number_of_bytes,
    const EncryptionContext& context, bool with_plaintext, const GrantTokens& grant_tokens) {
  auto entry = ResolveForCrypto(
      call, key_id, grant_tokens,
      {.action = with_plaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext",
       .grant_operation =
           with_plaintext ? grants::kGenerateDataKey : grants::kGenerateDataKeyWithoutPlaintext,
       .encryption_context = &context});
  if (!entry.ok()) return entry.status();
  if (auto status = RequireSymmetricEncryption(
          (*entry)->record.metadata,
          with_plaintext ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext");
      !status.ok()) {
    return status;
  }
  auto data_key = crypto::RandomSecret(number_of_bytes);
  if (!data_key.ok()) return data_key.status();
  auto blob = SealUnder(**entry, context, data_key->view());
  if (!blob.ok()) return blob.status();
  RecordKeyUse(call, **entry,
               with_plaintext ? "GenerateDataKey" : "GenerateDataKeyWithoutPlaintext");
  DataKeyResult result;
  if (with_plaintext) result.plaintext = std::move(*data_key);
  result.ciphertext_blob = std::move(*blob);
  result.key_arn = KeyArn((*entry)->record.metadata.key_id);
  result.key_material_id = MaterialIdOfVersion(**entry, (*entry)->record.current_version);
  return result;
}

absl::StatusOr<SecretBytes> KmsServiceImpl::GenerateRandom(const CallContext& call,
                                                           size_t number_of_bytes) {
  if (auto status = AuthorizeAccountAction(call, "kms:GenerateRandom", "*"); !status.ok()) {
    return status;
  }
  return crypto::RandomSecret(number_of_bytes);
}

}  // namespace kmsd::service_internal
