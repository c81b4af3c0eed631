// Grants as the service keeps them: the operations a grant allows (as bits, so the hot path tests
// one mask), whether its encryption-context constraints admit a request, the immutable table of one
// key's grants that the key's cache entry holds, and grant tokens.
//
// A grant token is kmsd's own opaque format: base64url of
//   version (1) | key id (16, UUID bytes) | grant id (32) | nonce (16) | HMAC-SHA256 tag (32)
// with the tag made under a random secret kept only in the grant's (sealed) record. The key and
// grant ids say which grant a token claims; only the holder of a token made by CreateGrant has a
// tag the grant's secret verifies, so a token cannot be altered to name another grant, and a
// fresh nonce makes every CreateGrant answer a different token for the same grant, as AWS does.
//
// Thread-safety: GrantTable and Grant are immutable once built; share them freely.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/service.h"
#include "service/records.h"

namespace kmsd::grants {

// One bit per grant operation of the service model's GrantOperation enum.
using OperationSet = uint32_t;
inline constexpr OperationSet kDecrypt = 1u << 0;
inline constexpr OperationSet kEncrypt = 1u << 1;
inline constexpr OperationSet kGenerateDataKey = 1u << 2;
inline constexpr OperationSet kGenerateDataKeyWithoutPlaintext = 1u << 3;
inline constexpr OperationSet kReEncryptFrom = 1u << 4;
inline constexpr OperationSet kReEncryptTo = 1u << 5;
inline constexpr OperationSet kSign = 1u << 6;
inline constexpr OperationSet kVerify = 1u << 7;
inline constexpr OperationSet kGetPublicKey = 1u << 8;
inline constexpr OperationSet kCreateGrant = 1u << 9;
inline constexpr OperationSet kRetireGrant = 1u << 10;
inline constexpr OperationSet kDescribeKey = 1u << 11;
inline constexpr OperationSet kGenerateDataKeyPair = 1u << 12;
inline constexpr OperationSet kGenerateDataKeyPairWithoutPlaintext = 1u << 13;
inline constexpr OperationSet kGenerateMac = 1u << 14;
inline constexpr OperationSet kVerifyMac = 1u << 15;
inline constexpr OperationSet kDeriveSharedSecret = 1u << 16;

// What a grant on a symmetric encryption key may allow (AWS: no Sign, Verify, GetPublicKey, MAC
// or key agreement operations).
inline constexpr OperationSet kSymmetricKeyOperations =
    kDecrypt | kEncrypt | kGenerateDataKey | kGenerateDataKeyWithoutPlaintext | kReEncryptFrom |
    kReEncryptTo | kCreateGrant | kRetireGrant | kDescribeKey | kGenerateDataKeyPair |
    kGenerateDataKeyPairWithoutPlaintext;

// What a grant on a key of another kind may allow (AWS's table of grant operations by key type).
inline constexpr OperationSet kEveryKeyOperations = kCreateGrant | kRetireGrant | kDescribeKey;
inline constexpr OperationSet kRsaEncryptionKeyOperations =
    kEveryKeyOperations | kDecrypt | kEncrypt | kReEncryptFrom | kReEncryptTo | kGetPublicKey;
inline constexpr OperationSet kSigningKeyOperations =
    kEveryKeyOperations | kSign | kVerify | kGetPublicKey;
inline constexpr OperationSet kMacKeyOperations = kEveryKeyOperations | kGenerateMac | kVerifyMac;
inline constexpr OperationSet kKeyAgreementKeyOperations =
    kEveryKeyOperations | kDeriveSharedSecret | kGetPublicKey;

// The operations a grant on a key of this spec and usage may allow.
OperationSet OperationsForKey(const KeyMetadata& key);
// Every operation in requested must be one a grant on the key may allow (ValidationException).
absl::Status CheckOperationsForKey(const std::vector<std::string>& requested,
                                   const KeyMetadata& key);

// The operations that take an encryption context, to which a grant's constraints apply. They do
// not apply to DescribeKey and RetireGrant; CreateGrant has its own rule (AtLeastAsStrict).
inline constexpr OperationSet kContextOperations =
    kDecrypt | kEncrypt | kGenerateDataKey | kGenerateDataKeyWithoutPlaintext | kReEncryptFrom |
    kReEncryptTo | kGenerateDataKeyPair | kGenerateDataKeyPairWithoutPlaintext;

// The bit of a grant operation name ("Encrypt"), or 0 for any other name.
OperationSet OperationBit(std::string_view name);

// What the service checks of a CreateGrant request before it looks at the key: known grant
// operations, at least one (ValidationException; whether they fit the key is
// CheckOperationsForKey's), at most 8 pairs per constraint with values of at most 384 characters
// (ValidationException), principals that are principal ARNs or service principals
// (InvalidArnException). Returns the operations as bits.
absl::StatusOr<OperationSet> ValidateCreateGrant(const CreateGrantRequest& request);

struct Grant {
  records::GrantRecord record;
  OperationSet operations = 0;
};
using GrantPtr = std::shared_ptr<const Grant>;

// Builds the in-memory grant from its record; operation names it does not know are dropped.
GrantPtr FromRecord(records::GrantRecord record);

// Whether a request's encryption context satisfies the constraints: EncryptionContextEquals, the
// same pairs; EncryptionContextSubset, at least those pairs. As AWS documents for grant
// constraints, keys compare without regard to case, values exactly.
bool ConstraintsAdmit(const GrantConstraints& constraints, const EncryptionContext& context);

// Whether a child grant's constraints are equally or more strict than its parent's (a grant that
// allows CreateGrant may only make such grants): an Equals parent needs the same Equals; a Subset
// parent needs a Subset or Equals holding all its pairs.
bool AtLeastAsStrict(const GrantConstraints& child, const GrantConstraints& parent);

bool SameConstraints(const GrantConstraints& a, const GrantConstraints& b);

// The grants of one key, immutable. Changing a key's grants builds a new table (sharing the
// grants themselves) and publishes it with the key's entry.
class GrantTable {
 public:
  static std::shared_ptr<const GrantTable> Empty();
  static std::shared_ptr<const GrantTable> From(std::vector<GrantPtr> grants);

  // In grant id order, the order ListGrants pages in.
  const std::map<std::string, GrantPtr, std::less<>>& ById() const { return by_id_; }
  const Grant* Find(std::string_view grant_id) const;
  // The grants whose grantee principal is exactly this text.
  std::span<const GrantPtr> ForGrantee(std::string_view grantee) const;
  size_t size() const { return by_id_.size(); }

  std::shared_ptr<const GrantTable> With(GrantPtr grant) const;
  std::shared_ptr<const GrantTable> Without(std::string_view grant_id) const;

 private:
  std::map<std::string, GrantPtr, std::less<>> by_id_;
  std::map<std::string, std::vector<GrantPtr>, std::less<>> by_grantee_;
};

// A new grant id: 64 lower-case hex digits, like AWS's.
absl::StatusOr<std::string> NewGrantId();
bool IsGrantId(std::string_view text);
// A new random token secret for a grant.
absl::StatusOr<SecretBytes> NewTokenSecret();

// A token for the grant, different at every call.
absl::StatusOr<std::string> MakeToken(const records::GrantRecord& grant);

// What a token claims, before it is checked against its grant.
struct TokenClaim {
  std::string key_id;    // lower-case UUID
  std::string grant_id;  // 64 hex digits
  std::string signed_part;
  std::string tag;
};
// nullopt when the text is not a kmsd grant token at all.
std::optional<TokenClaim> ParseToken(std::string_view token);
// Whether the claim's tag is the grant's (constant time).
bool TokenMatches(const TokenClaim& claim, const records::GrantRecord& grant);

}  // namespace kmsd::grants
