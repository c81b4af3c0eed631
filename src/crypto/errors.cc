// ErrorType as a payload on absl::Status, and AWS's names and HTTP statuses for each type.
#include "kmsd/errors.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"

namespace kmsd {
namespace {

constexpr char kPayloadUrl[] = "type.kmsd/error-type";

struct TypeInfo {
  ErrorType type;
  std::string_view name;
  int http_status;
  absl::StatusCode code;
};

constexpr std::array kTypes = {
    TypeInfo{ErrorType::kNone, "", 200, absl::StatusCode::kOk},
    TypeInfo{ErrorType::kAlreadyExists, "AlreadyExistsException", 400,
             absl::StatusCode::kAlreadyExists},
    TypeInfo{ErrorType::kDependencyTimeout, "DependencyTimeoutException", 503,
             absl::StatusCode::kUnavailable},
    TypeInfo{ErrorType::kDisabled, "DisabledException", 400, absl::StatusCode::kFailedPrecondition},
    TypeInfo{ErrorType::kIncorrectKey, "IncorrectKeyException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidAliasName, "InvalidAliasNameException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidArn, "InvalidArnException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidCiphertext, "InvalidCiphertextException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidGrantToken, "InvalidGrantTokenException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidKeyUsage, "InvalidKeyUsageException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidMarker, "InvalidMarkerException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kKmsInternal, "KMSInternalException", 500, absl::StatusCode::kInternal},
    TypeInfo{ErrorType::kKmsInvalidState, "KMSInvalidStateException", 400,
             absl::StatusCode::kFailedPrecondition},
    TypeInfo{ErrorType::kKeyUnavailable, "KeyUnavailableException", 500,
             absl::StatusCode::kUnavailable},
    TypeInfo{ErrorType::kLimitExceeded, "LimitExceededException", 400,
             absl::StatusCode::kResourceExhausted},
    TypeInfo{ErrorType::kNotFound, "NotFoundException", 400, absl::StatusCode::kNotFound},
    TypeInfo{ErrorType::kTag, "TagException", 400, absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kUnsupportedOperation, "UnsupportedOperationException", 400,
             absl::StatusCode::kUnimplemented},
    // The request would have succeeded; AWS answers DryRun with this error, HTTP 412.
    TypeInfo{ErrorType::kDryRunOperation, "DryRunOperationException", 412,
             absl::StatusCode::kAborted},
    TypeInfo{ErrorType::kValidation, "ValidationException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kSerialization, "SerializationException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kUnknownOperation, "UnknownOperationException", 400,
             absl::StatusCode::kUnimplemented},
    TypeInfo{ErrorType::kAccessDenied, "AccessDeniedException", 400,
             absl::StatusCode::kPermissionDenied},
    TypeInfo{ErrorType::kIncompleteSignature, "IncompleteSignatureException", 400,
             absl::StatusCode::kUnauthenticated},
    TypeInfo{ErrorType::kInvalidSignature, "InvalidSignatureException", 400,
             absl::StatusCode::kUnauthenticated},
    TypeInfo{ErrorType::kMissingAuthenticationToken, "MissingAuthenticationTokenException", 403,
             absl::StatusCode::kUnauthenticated},
    TypeInfo{ErrorType::kUnrecognizedClient, "UnrecognizedClientException", 400,
             absl::StatusCode::kUnauthenticated},
    TypeInfo{ErrorType::kRequestEntityTooLarge, "RequestEntityTooLargeException", 413,
             absl::StatusCode::kOutOfRange},
    TypeInfo{ErrorType::kThrottling, "ThrottlingException", 400,
             absl::StatusCode::kResourceExhausted},
    TypeInfo{ErrorType::kMalformedPolicyDocument, "MalformedPolicyDocumentException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kExpiredToken, "ExpiredTokenException", 400,
             absl::StatusCode::kUnauthenticated},
    // Not a KMS type: only IAM answers it (DeleteConflict, 409).
    TypeInfo{ErrorType::kDeleteConflict, "DeleteConflictException", 409,
             absl::StatusCode::kFailedPrecondition},
    // KMS words an unusable security token as UnrecognizedClientException.
    TypeInfo{ErrorType::kInvalidClientTokenId, "UnrecognizedClientException", 400,
             absl::StatusCode::kUnauthenticated},
    TypeInfo{ErrorType::kInvalidGrantId, "InvalidGrantIdException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLargeException", 431,
             absl::StatusCode::kOutOfRange},
    TypeInfo{ErrorType::kRequestTimeout, "RequestTimeoutException", 408,
             absl::StatusCode::kDeadlineExceeded},
    TypeInfo{ErrorType::kKmsInvalidSignature, "KMSInvalidSignatureException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kKmsInvalidMac, "KMSInvalidMacException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kNotAuthorized, "NotAuthorizedException", 400,
             absl::StatusCode::kPermissionDenied},
    // CloudTrail's (issue 15).
    TypeInfo{ErrorType::kInvalidLookupAttributes, "InvalidLookupAttributesException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidTimeRange, "InvalidTimeRangeException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidMaxResults, "InvalidMaxResultsException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidNextToken, "InvalidNextTokenException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kInvalidEventCategory, "InvalidEventCategoryException", 400,
             absl::StatusCode::kInvalidArgument},
    TypeInfo{ErrorType::kTrailNotFound, "TrailNotFoundException", 400,
             absl::StatusCode::kNotFound},
};

// The table is indexed by the enum's value; this keeps the two from drifting apart.
constexpr bool TableMatchesEnum() {
  for (size_t i = 0; i < kTypes.size(); ++i) {
    if (static_cast<size_t>(kTypes[i].type) != i) return false;
  }
  return kTypes.back().type == ErrorType::kTrailNotFound;
}
static_assert(TableMatchesEnum(), "kTypes must list every ErrorType in declaration order");

const TypeInfo& Info(ErrorType type) {
  auto index = static_cast<size_t>(type);
  return index < kTypes.size() ? kTypes[index]
                               : kTypes[static_cast<size_t>(ErrorType::kKmsInternal)];
}

}  // namespace

absl::Status Error(ErrorType type, std::string_view message) {
  // An error constructor that could return OK would let a failure pass silently.
  if (type == ErrorType::kNone) type = ErrorType::kKmsInternal;
  const TypeInfo& info = Info(type);
  absl::Status status(info.code, absl::string_view(message.data(), message.size()));
  status.SetPayload(kPayloadUrl, absl::Cord(std::to_string(static_cast<int>(type))));
  return status;
}

ErrorType TypeOf(const absl::Status& status) {
  if (status.ok()) return ErrorType::kNone;
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return ErrorType::kKmsInternal;
  std::string text(*payload);
  if (text.empty() || text.size() > 3) return ErrorType::kKmsInternal;
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return ErrorType::kKmsInternal;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  if (value == 0 || value >= kTypes.size()) return ErrorType::kKmsInternal;
  return kTypes[value].type;
}

std::string_view AwsName(ErrorType type) { return Info(type).name; }

int HttpStatus(ErrorType type) { return Info(type).http_status; }

}  // namespace kmsd
