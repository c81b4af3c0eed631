// Data key pairs and key agreement (issue 13): GenerateDataKeyPair[WithoutPlaintext], a key pair
// made for the caller with its private key sealed under a symmetric KMS key, and
// DeriveSharedSecret, ECDH with a KEY_AGREEMENT key's private key.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::StatusOr<DataKeyPairResult> KmsServiceImpl::GenerateDataKeyPair(
    const CallContext& call, const std::string& key_id, const std::string& key_pair_spec,
    const EncryptionContext& context, bool with_plaintext, const GrantTokens& grant_tokens) {
  std::string_view operation =
      with_plaintext ? "GenerateDataKeyPair" : "GenerateDataKeyPairWithoutPlaintext";
  std::string action = StrCat("kms:", operation);
  auto conditions = [&](policy::RequestContext& request) {
    request.Set("kms:DataKeyPairSpec", key_pair_spec);
  };
  auto entry = ResolveForCrypto(
      call, key_id, grant_tokens,
      {.action = action,
       .grant_operation = with_plaintext ? grants::kGenerateDataKeyPair
                                         : grants::kGenerateDataKeyPairWithoutPlaintext,
       .encryption_context = &context,
       .add_conditions = conditions});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireSymmetricEncryption(m, operation); !status.ok()) return status;
  if (key_pair_spec == "SM2") {
    return Error(ErrorType::kUnsupportedOperation,
                 "KeyPairSpec SM2 is available only in China Regions");
  }
  auto pair = crypto::GenerateDataKeyPair(key_pair_spec);
  if (!pair.ok()) return pair.status();
  auto blob = SealUnder(**entry, context, pair->private_key.view());
  if (!blob.ok()) return blob.status();
  RecordKeyUse(call, **entry, operation);  // GetKeyLastUsage
  DataKeyPairResult result;
  if (with_plaintext) result.private_key_plaintext = std::move(pair->private_key);
  result.private_key_ciphertext_blob = std::move(*blob);
  result.public_key = std::move(pair->public_key);
  result.key_arn = KeyArn(m.key_id);
  result.key_pair_spec = key_pair_spec;
  result.key_material_id = MaterialIdOfVersion(**entry, (*entry)->record.current_version);
  return result;
}

absl::StatusOr<SharedSecretResult> KmsServiceImpl::DeriveSharedSecret(
    const CallContext& call, const std::string& key_id, const std::string& key_agreement_algorithm,
    const std::string& public_key, const GrantTokens& grant_tokens) {
  auto conditions = [&](policy::RequestContext& request) {
    request.Set("kms:KeyAgreementAlgorithm", key_agreement_algorithm);
  };
  auto entry = ResolveForCrypto(call, key_id, grant_tokens,
                                {.action = "kms:DeriveSharedSecret",
                                 .grant_operation = grants::kDeriveSharedSecret,
                                 .add_conditions = conditions});
  if (!entry.ok()) return entry.status();
  const KeyMetadata& m = (*entry)->record.metadata;
  if (auto status = RequireKeyUsage(m, kKeyAgreement, "DeriveSharedSecret"); !status.ok()) {
    return status;
  }
  const KeySpecInfo* spec = FindKeySpec(m.key_spec);
  if (!spec || !Lists(spec->key_agreement_algorithms, key_agreement_algorithm)) {
    return Error(ErrorType::kInvalidKeyUsage,
                 StrCat("Algorithm ", key_agreement_algorithm, " is incompatible with key spec ",
                        m.key_spec, "."));
  }
  if (!(*entry)->private_key) return Internal("the key has no private key");
  auto secret = (*entry)->private_key->DeriveSharedSecret(public_key);
  if (!secret.ok()) return secret.status();
  RecordKeyUse(call, **entry, "DeriveSharedSecret");  // GetKeyLastUsage
  return SharedSecretResult{KeyArn(m.key_id), std::move(*secret), key_agreement_algorithm,
                            m.origin};
}

}  // namespace kmsd::service_internal
