// Identifiers and ARNs. See identifiers.h.
#include "iam/identifiers.h"

#include "kmsd/crypto.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

constexpr std::string_view kIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kSecretAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static_assert(kIdAlphabet.size() == 32 && kSecretAlphabet.size() == 64);

absl::StatusOr<std::string> NewId(std::string_view prefix, size_t random_characters) {
  auto random = crypto::RandomBytes(random_characters);
  if (!random.ok()) return random.status();
  std::string id(prefix);
  // 256 is a multiple of 32: each character is uniform over the alphabet.
  for (char byte : *random) id.push_back(kIdAlphabet[static_cast<uint8_t>(byte) % 32]);
  return id;
}

}  // namespace

absl::StatusOr<std::string> NewUniqueId(std::string_view prefix) { return NewId(prefix, 17); }

absl::StatusOr<std::string> NewAccessKeyId(std::string_view prefix) { return NewId(prefix, 16); }

absl::StatusOr<SecretBytes> NewSecretAccessKey() {
  auto random = crypto::RandomSecret(kSecretAccessKeyLength);
  if (!random.ok()) return random.status();
  // Mapped in place: the random bytes become the secret, with no other copy to wipe.
  for (size_t i = 0; i < random->size(); ++i) {
    random->data()[i] = static_cast<uint8_t>(kSecretAlphabet[random->data()[i] % 64]);
  }
  return random;
}

std::string UserArn(std::string_view account_id, std::string_view path, std::string_view name) {
  return StrCat("arn:aws:iam::", account_id, ":user", path, name);
}

std::string RoleArn(std::string_view account_id, std::string_view path, std::string_view name) {
  return StrCat("arn:aws:iam::", account_id, ":role", path, name);
}

std::string AssumedRoleArn(std::string_view account_id, std::string_view role_name,
                           std::string_view session_name) {
  return StrCat("arn:aws:sts::", account_id, ":assumed-role/", role_name, "/", session_name);
}

}  // namespace kmsd::iam
