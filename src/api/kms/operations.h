// One function per KMS operation, each in its own file (encrypt.cc, create_key.cc, ...). An
// operation reads its request with RequestReader, calls the service, and writes its response.
// The dispatch table in dispatch.cc is the index of what kmsd supports.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "api/json_writer.h"
#include "api/request_reader.h"
#include "kmsd/principal.h"
#include "kmsd/service.h"

namespace kmsd::api {

struct OperationContext {
  KmsService& service;
  const CallContext& call;
  // The key an operation acted on, when its answer does not say and its request may name it only
  // by an alias (DeleteAlias): the audit records it as responseElements.keyId, as AWS does.
  std::string audit_key_arn = {};
};

// Returns the response body, or an error status carrying its AWS error type.
using Operation = absl::StatusOr<std::string> (*)(OperationContext& context,
                                                  RequestReader& request);

// The operation for a name such as "Encrypt", or nullptr when kmsd does not support it.
Operation FindOperation(std::string_view name);

// False for the operations that never write storage (they only read keys, mostly from the
// cache) and so may run on an I/O thread; true for every other name, known or not.
bool MayBlock(std::string_view name);

// Writes the KeyMetadata structure as member "KeyMetadata" (ReplicateKey: "ReplicaKeyMetadata").
void WriteKeyMetadata(JsonWriter& writer, const KeyMetadata& metadata,
                      std::string_view member = "KeyMetadata");
// The answer {"KeyMetadata": {...}} (CreateKey, DescribeKey), or the service's error.
absl::StatusOr<std::string> KeyMetadataAnswer(const absl::StatusOr<KeyMetadata>& metadata);

absl::StatusOr<std::string> CreateKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> DescribeKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListKeys(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> EnableKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> DisableKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> UpdateKeyDescription(OperationContext& context,
                                                 RequestReader& request);
absl::StatusOr<std::string> CreateAlias(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> UpdateAlias(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> DeleteAlias(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListAliases(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> Encrypt(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> Decrypt(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ReEncrypt(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GenerateDataKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GenerateDataKeyWithoutPlaintext(OperationContext& context,
                                                            RequestReader& request);
absl::StatusOr<std::string> GenerateRandom(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ScheduleKeyDeletion(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> CancelKeyDeletion(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> EnableKeyRotation(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> DisableKeyRotation(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GetKeyRotationStatus(OperationContext& context,
                                                 RequestReader& request);
absl::StatusOr<std::string> RotateKeyOnDemand(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListKeyRotations(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> TagResource(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> UntagResource(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListResourceTags(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GetKeyPolicy(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> PutKeyPolicy(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListKeyPolicies(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> CreateGrant(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListGrants(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> ListRetirableGrants(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> RetireGrant(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> RevokeGrant(OperationContext& context, RequestReader& request);
// Asymmetric and HMAC keys (issue 13).
absl::StatusOr<std::string> GetPublicKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> Sign(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> Verify(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GenerateMac(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> VerifyMac(OperationContext& context, RequestReader& request);
// Issue 13: key usage tracking and the custom key store family (which kmsd refuses).
absl::StatusOr<std::string> GetKeyLastUsage(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> CreateCustomKeyStore(OperationContext& context,
                                                 RequestReader& request);
absl::StatusOr<std::string> ConnectCustomKeyStore(OperationContext& context,
                                                  RequestReader& request);
absl::StatusOr<std::string> DisconnectCustomKeyStore(OperationContext& context,
                                                     RequestReader& request);
absl::StatusOr<std::string> UpdateCustomKeyStore(OperationContext& context,
                                                 RequestReader& request);
absl::StatusOr<std::string> DeleteCustomKeyStore(OperationContext& context,
                                                 RequestReader& request);
absl::StatusOr<std::string> DescribeCustomKeyStores(OperationContext& context,
                                                    RequestReader& request);
// Issue 13: data key pairs and key agreement.
absl::StatusOr<std::string> GenerateDataKeyPair(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> GenerateDataKeyPairWithoutPlaintext(OperationContext& context,
                                                                RequestReader& request);
absl::StatusOr<std::string> DeriveSharedSecret(OperationContext& context, RequestReader& request);

// Issue 13: multi-Region keys (multi_region_operations.cc).
absl::StatusOr<std::string> ReplicateKey(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> UpdatePrimaryRegion(OperationContext& context, RequestReader& request);

// Issue 13: imported key material (Origin EXTERNAL).
absl::StatusOr<std::string> GetParametersForImport(OperationContext& context,
                                                   RequestReader& request);
absl::StatusOr<std::string> ImportKeyMaterial(OperationContext& context, RequestReader& request);
absl::StatusOr<std::string> DeleteImportedKeyMaterial(OperationContext& context,
                                                      RequestReader& request);

}  // namespace kmsd::api
