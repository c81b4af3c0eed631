// STS session tokens. See session_token.h.
//
// Token: base64(version 0x01 || 12-byte random nonce || AES-256-GCM(claims) || tag). Claims, in
// order: access key id, secret, role id, role name, session name (each a 16-bit big-endian length
// and its bytes), then creation and expiration (64-bit big-endian). The claims are built and
// opened inside SecretBytes, since they hold the session's secret.
#include "iam/session_token.h"

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

constexpr uint8_t kTokenVersion = 1;
constexpr std::string_view kAssociatedDataPrefix = "kmsd/sts/session-token/v1/";

absl::Status InvalidToken() {
  return Error(ErrorType::kInvalidClientTokenId,
               "The security token included in the request is invalid.");
}

std::string AssociatedData(std::string_view access_key_id) {
  return StrCat(kAssociatedDataPrefix, access_key_id);
}

class ClaimsWriter {
 public:
  explicit ClaimsWriter(size_t size) : out_(size) {}
  void Field(std::string_view bytes) {
    Put(bytes.size(), 2);
    for (char c : bytes) out_.data()[at_++] = static_cast<uint8_t>(c);
  }
  void Put(uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out_.data()[at_++] = static_cast<uint8_t>(value >> (8 * i));
  }
  SecretBytes Take() { return std::move(out_); }

 private:
  SecretBytes out_;
  size_t at_ = 0;
};

class ClaimsReader {
 public:
  explicit ClaimsReader(std::string_view in) : in_(in) {}
  bool Field(std::string_view& field) {
    uint64_t size = 0;
    if (!Get(size, 2) || in_.size() < size) return false;
    field = in_.substr(0, size);
    in_.remove_prefix(size);
    return true;
  }
  bool Get(uint64_t& value, int bytes) {
    if (in_.size() < static_cast<size_t>(bytes)) return false;
    value = 0;
    for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    return true;
  }
  bool AtEnd() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

absl::StatusOr<std::string> SealSessionToken(const SecretBytes& key, const SessionClaims& claims) {
  const std::string_view fields[] = {claims.access_key_id, claims.secret_access_key.view(),
                                     claims.role_id, claims.role_name, claims.session_name};
  size_t size = 16;
  for (std::string_view field : fields) {
    if (field.size() > 0xFFFF) return Internal("session claim too long");
    size += 2 + field.size();
  }
  ClaimsWriter writer(size);
  for (std::string_view field : fields) writer.Field(field);
  writer.Put(static_cast<uint64_t>(claims.created), 8);
  writer.Put(static_cast<uint64_t>(claims.expiration), 8);
  SecretBytes plaintext = writer.Take();

  auto nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
  if (!nonce.ok()) return nonce.status();
  auto sealed =
      crypto::AesGcmSeal(key, *nonce, AssociatedData(claims.access_key_id), plaintext.view());
  if (!sealed.ok()) return sealed.status();
  std::string token;
  token.reserve(1 + nonce->size() + sealed->size());
  token.push_back(static_cast<char>(kTokenVersion));
  token.append(*nonce);
  token.append(*sealed);
  return crypto::Base64Encode(token);
}

absl::StatusOr<SessionClaims> OpenSessionToken(const SecretBytes& key,
                                               std::string_view access_key_id,
                                               std::string_view token) {
  if (token.empty() || token.size() > kMaxSessionTokenLength) return InvalidToken();
  auto raw = crypto::Base64Decode(token);
  if (!raw.ok()) return InvalidToken();
  std::string_view bytes = *raw;
  if (bytes.size() < 1 + crypto::kGcmNonceSize + crypto::kGcmTagSize ||
      static_cast<uint8_t>(bytes[0]) != kTokenVersion) {
    return InvalidToken();
  }
  auto plaintext =
      crypto::AesGcmOpen(key, bytes.substr(1, crypto::kGcmNonceSize), AssociatedData(access_key_id),
                         bytes.substr(1 + crypto::kGcmNonceSize));
  if (!plaintext.ok()) return InvalidToken();

  ClaimsReader reader(plaintext->view());
  std::string_view id, secret, role_id, role_name, session_name;
  uint64_t created = 0, expiration = 0;
  if (!reader.Field(id) || !reader.Field(secret) || !reader.Field(role_id) ||
      !reader.Field(role_name) || !reader.Field(session_name) || !reader.Get(created, 8) ||
      !reader.Get(expiration, 8) || !reader.AtEnd() || id != access_key_id) {
    return InvalidToken();  // sealed by us, so only a bug gets here; refuse all the same
  }
  SessionClaims claims;
  claims.access_key_id = std::string(id);
  claims.secret_access_key = SecretBytes::FromString(secret);
  claims.role_id = std::string(role_id);
  claims.role_name = std::string(role_name);
  claims.session_name = std::string(session_name);
  claims.created = static_cast<int64_t>(created);
  claims.expiration = static_cast<int64_t>(expiration);
  return claims;
}

}  // namespace kmsd::iam
