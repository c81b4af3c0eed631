// The index of the KMS operations kmsd supports. docs/API.md mirrors this table.
#include <unordered_map>

#include "api/kms/operations.h"

namespace kmsd::api {

Operation FindOperation(std::string_view name) {
  static const auto* const kOperations = new std::unordered_map<std::string_view, Operation>{
      {"CreateKey", &CreateKey},
      {"DescribeKey", &DescribeKey},
      {"ListKeys", &ListKeys},
      {"EnableKey", &EnableKey},
      {"DisableKey", &DisableKey},
      {"UpdateKeyDescription", &UpdateKeyDescription},
      {"CreateAlias", &CreateAlias},
      {"UpdateAlias", &UpdateAlias},
      {"DeleteAlias", &DeleteAlias},
      {"ListAliases", &ListAliases},
      {"Encrypt", &Encrypt},
      {"Decrypt", &Decrypt},
      {"ReEncrypt", &ReEncrypt},
      {"GenerateDataKey", &GenerateDataKey},
      {"GenerateDataKeyWithoutPlaintext", &GenerateDataKeyWithoutPlaintext},
      {"GenerateRandom", &GenerateRandom},
      {"ScheduleKeyDeletion", &ScheduleKeyDeletion},
      {"CancelKeyDeletion", &CancelKeyDeletion},
      {"EnableKeyRotation", &EnableKeyRotation},
      {"DisableKeyRotation", &DisableKeyRotation},
      {"GetKeyRotationStatus", &GetKeyRotationStatus},
      {"RotateKeyOnDemand", &RotateKeyOnDemand},
      {"ListKeyRotations", &ListKeyRotations},
      {"TagResource", &TagResource},
      {"UntagResource", &UntagResource},
      {"ListResourceTags", &ListResourceTags},
      {"GetKeyPolicy", &GetKeyPolicy},
      {"PutKeyPolicy", &PutKeyPolicy},
      {"ListKeyPolicies", &ListKeyPolicies},
      {"CreateGrant", &CreateGrant},
      {"ListGrants", &ListGrants},
      {"ListRetirableGrants", &ListRetirableGrants},
      {"RetireGrant", &RetireGrant},
      {"RevokeGrant", &RevokeGrant},
      // Asymmetric and HMAC keys (issue 13).
      {"GetPublicKey", &GetPublicKey},
      {"Sign", &Sign},
      {"Verify", &Verify},
      {"GenerateMac", &GenerateMac},
      {"VerifyMac", &VerifyMac},
      // Issue 13: key usage tracking; the custom key store family answers
      // UnsupportedOperationException (kmsd has no custom key stores).
      {"GetKeyLastUsage", &GetKeyLastUsage},
      {"CreateCustomKeyStore", &CreateCustomKeyStore},
      {"ConnectCustomKeyStore", &ConnectCustomKeyStore},
      {"DisconnectCustomKeyStore", &DisconnectCustomKeyStore},
      {"UpdateCustomKeyStore", &UpdateCustomKeyStore},
      {"DeleteCustomKeyStore", &DeleteCustomKeyStore},
      {"DescribeCustomKeyStores", &DescribeCustomKeyStores},
      // Issue 13: data key pairs (RSA key generation takes up to seconds: offloaded, as every
      // operation not listed in MayBlock) and key agreement.
      {"GenerateDataKeyPair", &GenerateDataKeyPair},
      {"GenerateDataKeyPairWithoutPlaintext", &GenerateDataKeyPairWithoutPlaintext},
      {"DeriveSharedSecret", &DeriveSharedSecret},
  };
  auto it = kOperations->find(name);
  return it == kOperations->end() ? nullptr : it->second;
}

bool MayBlock(std::string_view name) {
  static constexpr std::string_view kReadOnly[] = {
      "Encrypt",
      "Decrypt",
      "ReEncrypt",
      "GenerateDataKey",
      "GenerateDataKeyWithoutPlaintext",
      "GenerateRandom",
      "DescribeKey",
      "GetKeyRotationStatus",
      "GetKeyPolicy",
      "ListKeyPolicies",
      "ListGrants",
      // Sign and Verify are not here: an RSA_4096 signature takes milliseconds of CPU, which
      // would hold up every other connection of the I/O thread.
      "GetPublicKey",
      "GenerateMac",
      "VerifyMac",
  };
  for (std::string_view read_only : kReadOnly) {
    if (name == read_only) return false;
  }
  return true;
}

}  // namespace kmsd::api
