// Grant operations, constraints, the per-key grant table and grant tokens. See grants.h.
#include "service/grants.h"

#include <algorithm>
#include <array>
#include <utility>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/key_specs.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd::grants {
namespace {

constexpr std::array<std::pair<std::string_view, OperationSet>, 17> kOperationNames = {{
    {"Decrypt", kDecrypt},
    {"Encrypt", kEncrypt},
    {"GenerateDataKey", kGenerateDataKey},
    {"GenerateDataKeyWithoutPlaintext", kGenerateDataKeyWithoutPlaintext},
    {"ReEncryptFrom", kReEncryptFrom},
    {"ReEncryptTo", kReEncryptTo},
    {"Sign", kSign},
    {"Verify", kVerify},
    {"GetPublicKey", kGetPublicKey},
    {"CreateGrant", kCreateGrant},
    {"RetireGrant", kRetireGrant},
    {"DescribeKey", kDescribeKey},
    {"GenerateDataKeyPair", kGenerateDataKeyPair},
    {"GenerateDataKeyPairWithoutPlaintext", kGenerateDataKeyPairWithoutPlaintext},
    {"GenerateMac", kGenerateMac},
    {"VerifyMac", kVerifyMac},
    {"DeriveSharedSecret", kDeriveSharedSecret},
}};

constexpr size_t kMaxConstraintPairs = 8;
constexpr size_t kMaxConstraintValueLength = 384;

constexpr uint8_t kTokenVersion = 1;
constexpr uint8_t kTokenVersionMultiRegion = 2;  // the key id is a multi-Region key's (issue 13)
constexpr size_t kUuidBytes = 16;
constexpr size_t kGrantIdBytes = 32;
constexpr size_t kNonceBytes = 16;
constexpr size_t kSignedBytes = 1 + kUuidBytes + kGrantIdBytes + kNonceBytes;
constexpr size_t kTokenBytes = kSignedBytes + crypto::kSha256Size;
constexpr size_t kSecretBytes = 32;
// Binds tags to their purpose, should the secret ever serve another.
constexpr std::string_view kTokenLabel = "kmsd grant token v1\n";

// A request's context with its keys lower-cased, to compare as grant constraints do.
EncryptionContext LowerKeys(const EncryptionContext& context) {
  EncryptionContext lowered;
  for (const auto& [key, value] : context) lowered.emplace(AsciiLower(key), value);
  return lowered;
}

// Whether every pair of `required` is in `context` (keys without regard to case).
bool Includes(const EncryptionContext& context, const EncryptionContext& required) {
  EncryptionContext lowered = LowerKeys(context);
  for (const auto& [key, value] : required) {
    auto found = lowered.find(AsciiLower(key));
    if (found == lowered.end() || found->second != value) return false;
  }
  return true;
}

bool SameContext(const EncryptionContext& a, const EncryptionContext& b) {
  return a.size() == b.size() && LowerKeys(a) == LowerKeys(b);
}

std::string ToBase64Url(std::string_view bytes) {
  std::string text = crypto::Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::optional<std::string> FromBase64Url(std::string_view text) {
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;  // not base64url
    }
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  auto decoded = crypto::Base64Decode(standard);
  if (!decoded.ok()) return std::nullopt;
  return std::move(*decoded);
}

// The bytes of a grant id (IsGrantId has checked it).
std::string GrantIdBytes(std::string_view grant_id) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string bytes;
  bytes.reserve(grant_id.size() / 2);
  for (size_t i = 0; i + 1 < grant_id.size(); i += 2) {
    bytes.push_back(static_cast<char>(nibble(grant_id[i]) * 16 + nibble(grant_id[i + 1])));
  }
  return bytes;
}

std::string Tag(const SecretBytes& secret, std::string_view signed_part) {
  return crypto::HmacSha256(secret.view(), StrCat(kTokenLabel, signed_part));
}

// A principal named by a grant: an IAM or STS principal ARN, or an AWS service principal.
absl::Status ValidatePrincipal(std::string_view member, const std::string& principal) {
  std::string_view text = principal;
  bool service = text.ends_with(".amazonaws.com") && !text.starts_with("arn:");
  bool iam = text.starts_with("arn:aws:iam::") || text.starts_with("arn:aws:sts::");
  if (service || (iam && text.find(':', 13) != std::string_view::npos)) return absl::OkStatus();
  return Error(ErrorType::kInvalidArn,
               StrCat(member, " '", principal, "' is not a valid principal ARN"));
}

absl::Status ValidateConstraint(std::string_view name,
                                const std::optional<EncryptionContext>& pairs) {
  if (!pairs) return absl::OkStatus();
  if (pairs->size() > kMaxConstraintPairs) {
    return Validation(StrCat("The ", name, " grant constraint has ", pairs->size(),
                             " encryption context pairs; the limit is ", kMaxConstraintPairs));
  }
  for (const auto& [key, value] : *pairs) {
    if (value.size() > kMaxConstraintValueLength) {
      return Validation(StrCat("An encryption context value in the ", name,
                               " grant constraint is longer than ", kMaxConstraintValueLength,
                               " characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OperationSet> ValidateCreateGrant(const CreateGrantRequest& request) {
  OperationSet operations = 0;
  for (const std::string& name : request.operations) {
    OperationSet bit = OperationBit(name);
    if (bit == 0) return Validation(StrCat(name, " is not a grant operation"));
    operations |= bit;
  }
  if (operations == 0) return Validation("A grant must allow at least one operation");
  const GrantConstraints& constraints = request.constraints;
  for (auto [name, pairs] :
       {std::pair{"EncryptionContextEquals", &constraints.encryption_context_equals},
        std::pair{"EncryptionContextSubset", &constraints.encryption_context_subset}}) {
    if (auto status = ValidateConstraint(name, *pairs); !status.ok()) return status;
  }
  if (auto status = ValidatePrincipal("GranteePrincipal", request.grantee_principal);
      !status.ok()) {
    return status;
  }
  if (!request.retiring_principal.empty()) {
    if (auto status = ValidatePrincipal("RetiringPrincipal", request.retiring_principal);
        !status.ok()) {
      return status;
    }
  }
  return operations;
}

OperationSet OperationsForKey(const KeyMetadata& key) {
  if (key.key_usage == kSignVerify) return kSigningKeyOperations;
  if (key.key_usage == kGenerateVerifyMac) return kMacKeyOperations;
  if (key.key_usage == kKeyAgreement) return kKeyAgreementKeyOperations;
  if (key.key_spec == "SYMMETRIC_DEFAULT") return kSymmetricKeyOperations;
  return kRsaEncryptionKeyOperations;
}

absl::Status CheckOperationsForKey(const std::vector<std::string>& requested,
                                   const KeyMetadata& key) {
  OperationSet allowed = OperationsForKey(key);
  for (const std::string& name : requested) {
    if ((OperationBit(name) & allowed) != 0) continue;
    if (key.key_spec == "SYMMETRIC_DEFAULT") {
      return Validation(
          StrCat("The grant operation ", name, " is not valid for a symmetric encryption KMS key"));
    }
    return Validation(StrCat("The grant operation ", name, " is not valid for a KMS key with ",
                             key.key_spec, " key spec and ", key.key_usage, " key usage"));
  }
  return absl::OkStatus();
}

OperationSet OperationBit(std::string_view name) {
  for (const auto& [known, bit] : kOperationNames) {
    if (known == name) return bit;
  }
  return 0;
}

GrantPtr FromRecord(records::GrantRecord record) {
  auto grant = std::make_shared<Grant>();
  for (const std::string& name : record.operations) grant->operations |= OperationBit(name);
  grant->record = std::move(record);
  return grant;
}

bool ConstraintsAdmit(const GrantConstraints& constraints, const EncryptionContext& context) {
  if (constraints.encryption_context_equals &&
      !SameContext(*constraints.encryption_context_equals, context)) {
    return false;
  }
  if (constraints.encryption_context_subset &&
      !Includes(context, *constraints.encryption_context_subset)) {
    return false;
  }
  return true;
}

bool AtLeastAsStrict(const GrantConstraints& child, const GrantConstraints& parent) {
  if (parent.encryption_context_equals) {
    return child.encryption_context_equals &&
           SameContext(*child.encryption_context_equals, *parent.encryption_context_equals);
  }
  if (parent.encryption_context_subset) {
    const EncryptionContext& required = *parent.encryption_context_subset;
    if (child.encryption_context_equals) {
      return Includes(*child.encryption_context_equals, required);
    }
    return child.encryption_context_subset && Includes(*child.encryption_context_subset, required);
  }
  return true;
}

bool SameConstraints(const GrantConstraints& a, const GrantConstraints& b) {
  auto same = [](const std::optional<EncryptionContext>& x,
                 const std::optional<EncryptionContext>& y) {
    return x.has_value() == y.has_value() && (!x || *x == *y);
  };
  return same(a.encryption_context_equals, b.encryption_context_equals) &&
         same(a.encryption_context_subset, b.encryption_context_subset);
}

std::shared_ptr<const GrantTable> GrantTable::Empty() {
  static const auto* const kEmpty =
      new std::shared_ptr<const GrantTable>(std::make_shared<const GrantTable>());
  return *kEmpty;
}

std::shared_ptr<const GrantTable> GrantTable::From(std::vector<GrantPtr> grants) {
  auto table = std::make_shared<GrantTable>();
  for (GrantPtr& grant : grants) {
    table->by_grantee_[grant->record.grantee_principal].push_back(grant);
    std::string id = grant->record.grant_id;
    table->by_id_.emplace(std::move(id), std::move(grant));
  }
  return table;
}

const Grant* GrantTable::Find(std::string_view grant_id) const {
  auto found = by_id_.find(grant_id);
  return found == by_id_.end() ? nullptr : found->second.get();
}

std::span<const GrantPtr> GrantTable::ForGrantee(std::string_view grantee) const {
  auto found = by_grantee_.find(grantee);
  if (found == by_grantee_.end()) return {};
  return found->second;
}

std::shared_ptr<const GrantTable> GrantTable::With(GrantPtr grant) const {
  auto table = std::make_shared<GrantTable>(*this);
  table->by_grantee_[grant->record.grantee_principal].push_back(grant);
  std::string id = grant->record.grant_id;
  table->by_id_.insert_or_assign(std::move(id), std::move(grant));
  return table;
}

std::shared_ptr<const GrantTable> GrantTable::Without(std::string_view grant_id) const {
  auto table = std::make_shared<GrantTable>(*this);
  auto found = table->by_id_.find(grant_id);
  if (found == table->by_id_.end()) return table;
  auto grantee = table->by_grantee_.find(found->second->record.grantee_principal);
  if (grantee != table->by_grantee_.end()) {
    std::erase_if(grantee->second,
                  [&](const GrantPtr& grant) { return grant->record.grant_id == grant_id; });
    if (grantee->second.empty()) table->by_grantee_.erase(grantee);
  }
  table->by_id_.erase(found);
  return table;
}

absl::StatusOr<std::string> NewGrantId() {
  auto bytes = crypto::RandomBytes(kGrantIdBytes);
  if (!bytes.ok()) return bytes.status();
  return crypto::HexEncode(*bytes);
}

bool IsGrantId(std::string_view text) {
  return text.size() == 2 * kGrantIdBytes && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::StatusOr<SecretBytes> NewTokenSecret() { return crypto::RandomSecret(kSecretBytes); }

absl::StatusOr<std::string> MakeToken(const records::GrantRecord& grant) {
  auto key_bytes = KeyIdToBytes(grant.key_id);
  if (!key_bytes.ok()) return key_bytes.status();
  auto nonce = crypto::RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  if (!IsGrantId(grant.grant_id)) return Internal("grant id is malformed");
  std::string token;
  token.reserve(kTokenBytes);
  token.push_back(static_cast<char>(IsMultiRegionKeyId(grant.key_id) ? kTokenVersionMultiRegion
                                                                     : kTokenVersion));
  token += *key_bytes;
  token += GrantIdBytes(grant.grant_id);
  token += *nonce;
  token += Tag(grant.token_secret, token);
  return ToBase64Url(token);
}

std::optional<TokenClaim> ParseToken(std::string_view token) {
  auto bytes = FromBase64Url(token);
  if (!bytes || bytes->size() != kTokenBytes) return std::nullopt;
  uint8_t version = static_cast<uint8_t>((*bytes)[0]);
  if (version != kTokenVersion && version != kTokenVersionMultiRegion) return std::nullopt;
  std::string_view view = *bytes;
  TokenClaim claim;
  claim.key_id = KeyIdFromBytes(view.substr(1, kUuidBytes), version == kTokenVersionMultiRegion);
  claim.grant_id = crypto::HexEncode(view.substr(1 + kUuidBytes, kGrantIdBytes));
  claim.signed_part = std::string(view.substr(0, kSignedBytes));
  claim.tag = std::string(view.substr(kSignedBytes));
  return claim;
}

bool TokenMatches(const TokenClaim& claim, const records::GrantRecord& grant) {
  return claim.key_id == grant.key_id && claim.grant_id == grant.grant_id &&
         crypto::ConstantTimeEquals(Tag(grant.token_secret, claim.signed_part), claim.tag);
}

}  // namespace kmsd::grants
