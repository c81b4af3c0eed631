// STS session tokens (src/iam/session_token.cc): the X-Amz-Security-Token header of a request.
// Parts: access key id | token | claims. The token is opened under a fixed session-token key (seeds
// are sealed under it); the third part, taken as the bytes of claims, is sealed the way tokens are
// and opened, so the claims reader behind the GCM tag is explored too; claims sealed by
// SealSessionToken must open to exactly themselves.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "iam/session_token.h"
#include "kmsd/crypto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  static const SecretBytes key = fuzz::FixedKey('s');
  auto parts = fuzz::Parts(fuzz::AsText(data, size), 3);
  std::string_view access_key_id = parts[0];
  iam::OpenSessionToken(key, access_key_id, parts[1]).IgnoreError();

  // Raw claims behind a valid tag: the format of session_token.cc (version 1, 12-byte nonce,
  // AES-256-GCM with the access key id in the associated data).
  auto sealed = crypto::AesGcmSeal(key, std::string(crypto::kGcmNonceSize, 'n'),
                                   std::string("kmsd/sts/session-token/v1/").append(access_key_id),
                                   parts[2]);
  fuzz::Check(sealed.ok(), "AesGcmSeal failed");
  std::string token = std::string(1, '\x01') + std::string(crypto::kGcmNonceSize, 'n') + *sealed;
  auto claims = iam::OpenSessionToken(key, access_key_id, crypto::Base64Encode(token));
  if (claims.ok()) {
    fuzz::Check(claims->access_key_id == access_key_id, "a token opened for another access key");
    auto resealed = iam::SealSessionToken(key, *claims);
    fuzz::Check(resealed.ok(), "SealSessionToken failed on claims it had opened");
    if (resealed->size() <= iam::kMaxSessionTokenLength) {
      auto reopened = iam::OpenSessionToken(key, access_key_id, *resealed);
      fuzz::Check(reopened.ok() && reopened->role_name == claims->role_name &&
                      reopened->session_name == claims->session_name &&
                      reopened->expiration == claims->expiration &&
                      reopened->secret_access_key.view() == claims->secret_access_key.view(),
                  "resealed claims did not open to themselves");
    }
  }
  return 0;
}
