// Error types travel as status payloads and map to AWS's names and HTTP statuses.
#include "kmsd/errors.h"

#include <gtest/gtest.h>

#include <string>

namespace kmsd {
namespace {

struct Expected {
  ErrorType type;
  std::string_view name;
  int http_status;
};

constexpr Expected kEveryType[] = {
    {ErrorType::kAlreadyExists, "AlreadyExistsException", 400},
    {ErrorType::kDependencyTimeout, "DependencyTimeoutException", 503},
    {ErrorType::kDisabled, "DisabledException", 400},
    {ErrorType::kIncorrectKey, "IncorrectKeyException", 400},
    {ErrorType::kInvalidAliasName, "InvalidAliasNameException", 400},
    {ErrorType::kInvalidArn, "InvalidArnException", 400},
    {ErrorType::kInvalidCiphertext, "InvalidCiphertextException", 400},
    {ErrorType::kInvalidGrantToken, "InvalidGrantTokenException", 400},
    {ErrorType::kInvalidKeyUsage, "InvalidKeyUsageException", 400},
    {ErrorType::kInvalidMarker, "InvalidMarkerException", 400},
    {ErrorType::kKmsInternal, "KMSInternalException", 500},
    {ErrorType::kKmsInvalidState, "KMSInvalidStateException", 400},
    {ErrorType::kKeyUnavailable, "KeyUnavailableException", 500},
    {ErrorType::kLimitExceeded, "LimitExceededException", 400},
    {ErrorType::kNotFound, "NotFoundException", 400},
    {ErrorType::kTag, "TagException", 400},
    {ErrorType::kUnsupportedOperation, "UnsupportedOperationException", 400},
    {ErrorType::kDryRunOperation, "DryRunOperationException", 412},
    {ErrorType::kValidation, "ValidationException", 400},
    {ErrorType::kSerialization, "SerializationException", 400},
    {ErrorType::kUnknownOperation, "UnknownOperationException", 400},
    {ErrorType::kAccessDenied, "AccessDeniedException", 400},
    {ErrorType::kIncompleteSignature, "IncompleteSignatureException", 400},
    {ErrorType::kInvalidSignature, "InvalidSignatureException", 400},
    {ErrorType::kMissingAuthenticationToken, "MissingAuthenticationTokenException", 403},
    {ErrorType::kUnrecognizedClient, "UnrecognizedClientException", 400},
    {ErrorType::kRequestEntityTooLarge, "RequestEntityTooLargeException", 413},
    {ErrorType::kThrottling, "ThrottlingException", 400},
    {ErrorType::kMalformedPolicyDocument, "MalformedPolicyDocumentException", 400},
    {ErrorType::kExpiredToken, "ExpiredTokenException", 400},
    {ErrorType::kDeleteConflict, "DeleteConflictException", 409},
    {ErrorType::kInvalidClientTokenId, "UnrecognizedClientException", 400},
    {ErrorType::kInvalidGrantId, "InvalidGrantIdException", 400},
    {ErrorType::kRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLargeException", 431},
    {ErrorType::kRequestTimeout, "RequestTimeoutException", 408},
    {ErrorType::kKmsInvalidSignature, "KMSInvalidSignatureException", 400},
    {ErrorType::kKmsInvalidMac, "KMSInvalidMacException", 400},
    {ErrorType::kNotAuthorized, "NotAuthorizedException", 400},
    {ErrorType::kInvalidLookupAttributes, "InvalidLookupAttributesException", 400},
    {ErrorType::kInvalidTimeRange, "InvalidTimeRangeException", 400},
    {ErrorType::kInvalidMaxResults, "InvalidMaxResultsException", 400},
    {ErrorType::kInvalidNextToken, "InvalidNextTokenException", 400},
    {ErrorType::kInvalidEventCategory, "InvalidEventCategoryException", 400},
    {ErrorType::kTrailNotFound, "TrailNotFoundException", 400},
};

TEST(Errors, EveryTypeHasItsAwsNameAndHttpStatus) {
  for (const Expected& expected : kEveryType) {
    EXPECT_EQ(AwsName(expected.type), expected.name);
    EXPECT_EQ(HttpStatus(expected.type), expected.http_status) << expected.name;
  }
}

TEST(Errors, EveryTypeSurvivesTheRoundTripThroughAStatus) {
  for (const Expected& expected : kEveryType) {
    absl::Status status = Error(expected.type, "message");
    EXPECT_FALSE(status.ok()) << expected.name;
    EXPECT_EQ(TypeOf(status), expected.type) << expected.name;
    EXPECT_EQ(status.message(), "message");
    absl::Status copy = status;  // payloads travel with copies
    EXPECT_EQ(TypeOf(copy), expected.type);
  }
}

TEST(Errors, CanonicalCodesAreSensible) {
  EXPECT_EQ(NotFound("x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Validation("x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Internal("x").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Error(ErrorType::kAlreadyExists, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Error(ErrorType::kAccessDenied, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Error(ErrorType::kDependencyTimeout, "x").code(), absl::StatusCode::kUnavailable);
}

TEST(Errors, ShorthandsCarryTheirTypes) {
  EXPECT_EQ(TypeOf(NotFound("x")), ErrorType::kNotFound);
  EXPECT_EQ(TypeOf(Validation("x")), ErrorType::kValidation);
  EXPECT_EQ(TypeOf(Internal("x")), ErrorType::kKmsInternal);
}

TEST(Errors, OkIsNoneAndForeignStatusesAreInternal) {
  EXPECT_EQ(TypeOf(absl::OkStatus()), ErrorType::kNone);
  EXPECT_EQ(TypeOf(absl::UnknownError("x")), ErrorType::kKmsInternal);
  EXPECT_EQ(TypeOf(absl::NotFoundError("x")), ErrorType::kKmsInternal);
  EXPECT_EQ(HttpStatus(TypeOf(absl::CancelledError("x"))), 500);
}

TEST(Errors, AForgedOrGarbledPayloadIsInternal) {
  for (std::string_view payload : {"", "x", "-1", "0", "9999", "99999999999999999999", "12a"}) {
    absl::Status status = absl::InvalidArgumentError("x");
    status.SetPayload("type.kmsd/error-type", absl::Cord(std::string(payload)));
    EXPECT_EQ(TypeOf(status), ErrorType::kKmsInternal) << payload;
  }
}

TEST(Errors, BuildingAnErrorOfTypeNoneStillFails) {
  absl::Status status = Error(ErrorType::kNone, "x");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(TypeOf(status), ErrorType::kKmsInternal);
}

}  // namespace
}  // namespace kmsd
