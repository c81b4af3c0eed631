// Import tokens (src/service/import_token.cc): the ImportToken blob of ImportKeyMaterial. The
// input is read as a token and opened under a fixed token key (seeds are sealed under it); its
// bytes are also sealed as raw claims behind a valid tag, so that the claims reader behind the GCM
// tag is explored too. Claims that open must be well formed, and claims sealed by Seal must open
// to exactly themselves.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/crypto.h"
#include "kmsd/uuid.h"
#include "service/import_token.h"

namespace {

void CheckClaims(const kmsd::import_token::Claims& claims) {
  using kmsd::fuzz::Check;
  Check(kmsd::IsKeyId(claims.key_id), "opened claims name no key id (a UUID or an mrk- id)");
  Check(claims.wrapping_key_bits == 2048 || claims.wrapping_key_bits == 3072 ||
            claims.wrapping_key_bits == 4096,
        "opened claims name a wrapping key size kmsd never makes");
  Check(claims.valid_to >= 0, "opened claims end before 1970");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  static const SecretBytes key = fuzz::FixedKey('i');
  std::string_view input = fuzz::AsText(data, size);

  auto header = import_token::ReadHeader(input);
  auto claims = import_token::Open(key, input);
  fuzz::Check(!claims.ok() || header.ok(), "a token opened whose header does not read");
  if (header.ok()) {
    fuzz::Check(header->parameters_id.size() == 2 * import_token::kParametersIdSize,
                "a parameters id is not 32 hex digits");
  }
  if (claims.ok()) {
    CheckClaims(*claims);
    fuzz::Check(claims->valid_to == header->valid_to, "claims and header disagree on the end");
    auto resealed = import_token::Seal(key, header->parameters_id, *claims);
    fuzz::Check(resealed.ok(), "Seal failed on claims it had opened");
    auto reopened = import_token::Open(key, *resealed);
    fuzz::Check(reopened.ok() && reopened->key_id == claims->key_id &&
                    reopened->algorithm == claims->algorithm &&
                    reopened->wrapping_key_bits == claims->wrapping_key_bits &&
                    reopened->valid_to == claims->valid_to,
                "resealed claims did not open to themselves");
  }

  // The input's first 39 bytes as raw claims behind a valid tag (import_token.cc's layout:
  // version, 16-byte parameters id, 8-byte end, nonce, sealed claims).
  std::string raw(input.substr(0, 39));
  raw.resize(39, '\0');
  std::string token_header = std::string(1, '\x01') + std::string(16, 'p') + std::string(8, '\0');
  auto sealed = crypto::AesGcmSeal(key, std::string(crypto::kGcmNonceSize, 'n'),
                                   "kmsd/import-token/v1/" + token_header, raw);
  fuzz::Check(sealed.ok(), "AesGcmSeal failed");
  auto opened =
      import_token::Open(key, token_header + std::string(crypto::kGcmNonceSize, 'n') + *sealed);
  if (opened.ok()) CheckClaims(*opened);
  return 0;
}
