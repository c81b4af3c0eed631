// Import tokens (GetParametersForImport, ImportKeyMaterial) and the record that holds a token's
// wrapping key. A token is
//   0x01 | parameters id (16 bytes) | valid to (8, big-endian epoch seconds) | nonce (12) |
//   AES-256-GCM(claims) | tag (16)
// sealed under a key made for that one GetParametersForImport and kept, with the RSA wrapping
// private key, in the keystore record import/<key uuid>/<parameters id hex> until the token
// expires. The claims bind the token to its KMS key, wrapping algorithm and wrapping key size; the
// header is associated data, so its end (ParametersValidTo) is authenticated too, and can be read
// before opening, so that a token whose record the scheduler already removed is still known
// to be expired. A token is network input:
// Open parses it as hostile (fuzz/import_token_fuzzer.cc). Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/key_import.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::import_token {

inline constexpr size_t kParametersIdSize = 16;
inline constexpr int64_t kValiditySeconds = 24 * 3600;  // AWS: each token is valid for 24 hours

struct Claims {
  std::string key_id;  // lower-case UUID
  crypto::WrappingAlgorithm algorithm = crypto::WrappingAlgorithm::kRsaesOaepSha256;
  int wrapping_key_bits = 0;  // 2048, 3072 or 4096
  int64_t valid_to = 0;       // epoch seconds (from the header)
};

// What one GetParametersForImport keeps: when it ends, the token key, the wrapping private key
// (PKCS#8 DER).
struct Parameters {
  int64_t valid_to = 0;
  SecretBytes token_key;
  SecretBytes wrapping_key;
};
SecretBytes EncodeParameters(const Parameters& parameters);
// A stored record that does not decode is KMSInternalException.
absl::StatusOr<Parameters> DecodeParameters(std::string_view bytes);

// A fresh parameters id, as the hex the record id uses.
absl::StatusOr<std::string> NewParametersId();

// parameters_id is the hex of NewParametersId.
absl::StatusOr<std::string> Seal(const SecretBytes& token_key, std::string_view parameters_id,
                                 const Claims& claims);
// What a token's header says, before it is opened (so not yet authenticated): the parameters id
// (hex), where its key is, and its end. Anything that is not a token's shape is
// InvalidImportTokenException.
struct Header {
  std::string parameters_id;
  int64_t valid_to = 0;
};
absl::StatusOr<Header> ReadHeader(std::string_view token);
// The claims of a token sealed under token_key; any change to any byte, or claims that are not
// well formed, is InvalidImportTokenException. Expiry is the caller's to check.
absl::StatusOr<Claims> Open(const SecretBytes& token_key, std::string_view token);

}  // namespace kmsd::import_token
