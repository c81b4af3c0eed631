// Ed25519 and Ed25519ph (src/crypto/ed25519.h): OpenSSL 3 EVP for pure Ed25519, libsodium for
// Ed25519ph.
#include "crypto/ed25519.h"

#include <sodium.h>

#include <memory>

#include "kmsd/asymmetric.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::crypto {
namespace {

static_assert(crypto_sign_ed25519_BYTES == kEd25519SignatureSize);
static_assert(crypto_sign_ed25519_PUBLICKEYBYTES == kEd25519KeySize);
static_assert(crypto_sign_ed25519_SEEDBYTES == kEd25519KeySize);

struct MdContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextFree>;

absl::Status OpenSslFailure(std::string_view what) {
  return Internal(StrCat("OpenSSL failed to ", what));
}

}  // namespace

absl::Status InitializeLibsodium() {
  // sodium_init is thread-safe and idempotent (1: already initialised); -1 is a failure, and
  // then no Ed25519 key is used (fail closed).
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) return Internal("libsodium failed to initialise (sodium_init)");
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519Sign(EVP_PKEY* key, std::string_view message) {
  MdContext context(EVP_MD_CTX_new());
  if (!context ||
      EVP_DigestSignInit_ex(context.get(), nullptr, nullptr, nullptr, nullptr, key, nullptr) != 1) {
    return OpenSslFailure("start an Ed25519 signature");
  }
  std::string signature(kEd25519SignatureSize, '\0');
  size_t length = signature.size();
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      length != kEd25519SignatureSize) {
    return OpenSslFailure("make an Ed25519 signature");
  }
  return signature;
}

bool Ed25519Verify(EVP_PKEY* key, std::string_view message, std::string_view signature) {
  if (signature.size() != kEd25519SignatureSize) return false;
  MdContext context(EVP_MD_CTX_new());
  if (!context || EVP_DigestVerifyInit_ex(context.get(), nullptr, nullptr, nullptr, nullptr, key,
                                          nullptr) != 1) {
    return false;
  }
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

absl::StatusOr<std::string> Ed25519phSign(const SecretBytes& secret_key, std::string_view message) {
  crypto_sign_ed25519ph_state state;
  std::string signature(kEd25519SignatureSize, '\0');
  unsigned long long length = 0;
  int failed =
      crypto_sign_ed25519ph_init(&state) |
      crypto_sign_ed25519ph_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) |
      crypto_sign_ed25519ph_final_create(&state, reinterpret_cast<unsigned char*>(signature.data()),
                                         &length, secret_key.data());
  sodium_memzero(&state, sizeof(state));
  if (failed != 0 || length != kEd25519SignatureSize) {
    return Internal("libsodium failed to make an Ed25519ph signature");
  }
  return signature;
}

bool Ed25519phVerify(std::string_view public_key, std::string_view message,
                     std::string_view signature) {
  if (signature.size() != kEd25519SignatureSize || public_key.size() != kEd25519KeySize) {
    return false;
  }
  crypto_sign_ed25519ph_state state;
  if (crypto_sign_ed25519ph_init(&state) != 0 ||
      crypto_sign_ed25519ph_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) != 0) {
    return false;
  }
  return crypto_sign_ed25519ph_final_verify(
             &state, reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

absl::Status Ed25519LibsodiumKey(EVP_PKEY* key, SecretBytes& secret_key, std::string& public_key) {
  if (auto status = InitializeLibsodium(); !status.ok()) return status;
  unsigned char seed[kEd25519KeySize];
  unsigned char openssl_public[kEd25519KeySize];
  unsigned char sodium_public[kEd25519KeySize];
  size_t seed_length = sizeof(seed);
  size_t public_length = sizeof(openssl_public);
  secret_key = SecretBytes(crypto_sign_ed25519_SECRETKEYBYTES);
  bool ok = EVP_PKEY_get_raw_private_key(key, seed, &seed_length) == 1 &&
            seed_length == sizeof(seed) &&
            EVP_PKEY_get_raw_public_key(key, openssl_public, &public_length) == 1 &&
            public_length == sizeof(openssl_public) &&
            crypto_sign_ed25519_seed_keypair(sodium_public, secret_key.data(), seed) == 0 &&
            sodium_memcmp(sodium_public, openssl_public, sizeof(sodium_public)) == 0;
  sodium_memzero(seed, sizeof(seed));
  if (!ok) {
    secret_key.Clear();
    return Internal("cannot derive the Ed25519ph signing key from the Ed25519 private key");
  }
  public_key.assign(reinterpret_cast<const char*>(openssl_public), sizeof(openssl_public));
  return absl::OkStatus();
}

}  // namespace kmsd::crypto
