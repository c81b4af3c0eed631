// The cryptographic operations on symmetric keys: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateRandom.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::StatusOr<EncryptResult> KmsServiceImpl::Encrypt(const CallContext& call,
                                                      const std::string& key_id,
                                                      const SecretBytes& plaintext,
                                                      const EncryptionContext& context,
                                                      const GrantTokens& grant_tokens) {
  auto entry = ResolveForCrypto(call, key_id, grant_tokens,
                                {.action = "kms:Encrypt",
                                 .grant_operation = grants::kEncrypt,
                                 .encryption_context = &context});
  if (!entry.ok()) return entry.status();
  if (auto status = RequireSymmetricEncryption((*entry)->record.metadata, "Encrypt");
      !status.ok()) {
    return status;
  }
  auto blob = SealUnder(**entry, context, plaintext.view());
  if (!blob.ok()) return blob.status();
  RecordKeyUse(call, **entry, "Encrypt");
  return EncryptResult{std::move(*blob), KeyArn((*entry)->record.metadata.key_id)};
}

absl::StatusOr<DecryptResult> KmsServiceImpl::Decrypt(const CallContext& call,
                                                      const std::string& blob,
                                                      const EncryptionContext& context,
                                                      const std::string& key_id,
                                                      const GrantTokens& grant_tokens) {
  auto header = ParseBlobHeader(blob);
  if (!header.ok()) return header.status();
  std::string request_alias;
  auto entry = BlobKey(*header, key_id, &request_alias);
  if (!entry.ok()) return entry.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&*entry}); !status.ok()) return status;
  if (auto status = AuthorizeKey(call, **entry,
                                 {.action = "kms:Decrypt",
                                  .grant_operation = grants::kDecrypt,
                                  .encryption_context = &context,
                                  .request_alias = request_alias});
      !status.ok()) {
    return status;
  }
  if (auto status = RequireUsable((*entry)->record.metadata); !status.ok()) return status;
  if (auto status = RequireSymmetricEncryption((*entry)->record.metadata, "Decrypt");
      !status.ok()) {
    return status;
  }
  auto plaintext = OpenUnder(**entry, *header, blob, context);
  if (!plaintext.ok()) return plaintext.status();
  RecordKeyUse(call, **entry, "Decrypt");
  return DecryptResult{std::move(*plaintext), KeyArn(header->key_id)};
}

absl::StatusOr<ReEncryptResult> KmsServiceImpl::ReEncrypt(
    const CallContext& call, const std::string& blob, const EncryptionContext& source_context,
    const std::string& source_key_id, const std::string& destination_key_id,
    const EncryptionContext& destination_context, const GrantTokens& grant_tokens) {
  auto header = ParseBlobHeader(blob);
  if (!header.ok()) return header.status();
  std::string source_alias;
  auto source = BlobKey(*header, source_key_id, &source_alias);
  if (!source.ok()) return source.status();
  std::string destination_alias;
  auto destination = Resolve(destination_key_id, /*allow_alias=*/true, &destination_alias);
  if (!destination.ok()) return destination.status();
  if (auto status = CheckGrantTokens(grant_tokens, {&*source, &*destination}); !status.ok()) {
    return status;
  }
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
  for (const EntryPtr* key : {&*source, &*destination}) {
    if (auto status = RequireSymmetricEncryption((*key)->record.metadata, "ReEncrypt");
        !status.ok()) {
      return status;
    }
  }
  auto plaintext = OpenUnder(**source, *header, blob, source_context);
  if (!plaintext.ok()) return plaintext.status();
  auto sealed = SealUnder(**destination, destination_context, plaintext->view());
  if (!sealed.ok()) return sealed.status();
  RecordKeyUse(call, **source, "ReEncrypt");
  RecordKeyUse(call, **destination, "ReEncrypt");
  return ReEncryptResult{std::move(*sealed), KeyArn(header->key_id),
                         KeyArn((*destination)->record.metadata.key_id)};
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
