// KMS error types as values. Every failure that crosses a module boundary is an absl::Status that
// carries one ErrorType; api/ alone turns it into AWS's `__type`, message and HTTP status.
// Thread-safe: pure functions.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace kmsd {

enum class ErrorType {
  kNone,  // OK status
  // KMS service-model exceptions.
  kAlreadyExists,
  kDependencyTimeout,
  kDisabled,
  kIncorrectKey,
  kInvalidAliasName,
  kInvalidArn,
  kInvalidCiphertext,
  kInvalidGrantToken,
  kInvalidKeyUsage,
  kInvalidMarker,
  kKmsInternal,
  kKmsInvalidState,
  kKeyUnavailable,
  kLimitExceeded,
  kNotFound,
  kTag,
  kUnsupportedOperation,
  kDryRunOperation,
  // AWS JSON protocol and authentication errors (common to every AWS service).
  kValidation,
  kSerialization,
  kUnknownOperation,
  kAccessDenied,
  kIncompleteSignature,
  kInvalidSignature,
  kMissingAuthenticationToken,
  kUnrecognizedClient,
  kRequestEntityTooLarge,
  kThrottling,
  // Access control (issue 11). KMS names them MalformedPolicyDocumentException and
  // ExpiredTokenException; the IAM and STS codecs map every type to their own codes
  // (MalformedPolicyDocument, ExpiredToken, NoSuchEntity for kNotFound, ...).
  kMalformedPolicyDocument,
  kExpiredToken,
  kDeleteConflict,  // IAM: DeleteConflict (an entity still has attached things)
  kInvalidClientTokenId,  // a session token that is not one kmsd issued, or was altered
  // KMS: InvalidGrantIdException, a GrantId that is not one KMS could have issued.
  kInvalidGrantId,
  // Refusals of the net layer (issue 16): a request head over its size limit (HTTP 431), and
  // none arriving whole within the header deadline (recorded in the audit trail; nothing is
  // answered).
  kRequestHeaderFieldsTooLarge,
  kRequestTimeout,
  // KMS: KMSInvalidSignatureException (Verify) and KMSInvalidMacException (VerifyMac).
  kKmsInvalidSignature,
  kKmsInvalidMac,
  // NotAuthorizedException: not in the KMS model, but what AWS answers to an alias operation on a
  // name reserved for AWS managed keys (alias/aws/...).
  kNotAuthorized,
  // CloudTrail (issue 15): LookupEvents' and GetTrailStatus's exceptions, as its model names them.
  kInvalidLookupAttributes,
  kInvalidTimeRange,
  kInvalidMaxResults,
  kInvalidNextToken,
  kInvalidEventCategory,
  kTrailNotFound,
};

// Builds a status of the given type. The message is shown to the client: never put key material,
// plaintext or secrets in it.
absl::Status Error(ErrorType type, std::string_view message);

// The ErrorType a status carries. Statuses made elsewhere (plain absl errors) map to kKmsInternal;
// OK maps to kNone.
ErrorType TypeOf(const absl::Status& status);

// AWS's name for the type, as sent in `__type` (e.g. "NotFoundException").
std::string_view AwsName(ErrorType type);

// The HTTP status AWS answers with for the type (400 for client faults, 500/503 for server faults).
int HttpStatus(ErrorType type);

// Shorthands for the common ones.
inline absl::Status NotFound(std::string_view m) { return Error(ErrorType::kNotFound, m); }
inline absl::Status Validation(std::string_view m) { return Error(ErrorType::kValidation, m); }
inline absl::Status Internal(std::string_view m) { return Error(ErrorType::kKmsInternal, m); }

}  // namespace kmsd
