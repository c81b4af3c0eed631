// Import tokens and their parameters records (service/import_token.h).
#include "service/import_token.h"

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd::import_token {
namespace {

constexpr char kVersion = '\x01';
constexpr std::string_view kAssociatedDataLabel = "kmsd/import-token/v1/";
constexpr size_t kHeaderSize = 1 + kParametersIdSize + 8;
// algorithm (1) | wrapping key bits (2) | key id (36)
constexpr size_t kKeyIdSize = 36;
constexpr size_t kClaimsSize = 1 + 2 + kKeyIdSize;
constexpr size_t kTokenSize =
    kHeaderSize + crypto::kGcmNonceSize + kClaimsSize + crypto::kGcmTagSize;
constexpr size_t kTokenKeySize = crypto::kAes256KeySize;

absl::Status InvalidToken() {
  return Error(ErrorType::kInvalidImportToken,
               "The import token is invalid or is associated with a different KMS key.");
}

void PutBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian(std::string_view in, size_t at, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(in[at + i]);
  return value;
}

absl::StatusOr<std::string> HexToBytes(std::string_view hex) {
  if (hex.size() != 2 * kParametersIdSize) return InvalidToken();
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int value = 0;
    for (char c : hex.substr(i, 2)) {
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return InvalidToken();
      value = value * 16 + digit;
    }
    bytes.push_back(static_cast<char>(value));
  }
  return bytes;
}

}  // namespace

SecretBytes EncodeParameters(const Parameters& parameters) {
  SecretBytes encoded(8 + parameters.token_key.size() + parameters.wrapping_key.size());
  uint64_t valid_to = static_cast<uint64_t>(parameters.valid_to);
  for (int i = 0; i < 8; ++i) encoded.data()[i] = static_cast<uint8_t>(valid_to >> (8 * (7 - i)));
  std::copy(parameters.token_key.data(), parameters.token_key.data() + parameters.token_key.size(),
            encoded.data() + 8);
  std::copy(parameters.wrapping_key.data(),
            parameters.wrapping_key.data() + parameters.wrapping_key.size(),
            encoded.data() + 8 + parameters.token_key.size());
  return encoded;
}

absl::StatusOr<Parameters> DecodeParameters(std::string_view bytes) {
  if (bytes.size() <= 8 + kTokenKeySize) return Internal("stored import parameters are malformed");
  Parameters parameters;
  parameters.valid_to = static_cast<int64_t>(GetBigEndian(bytes, 0, 8));
  parameters.token_key = SecretBytes::FromString(bytes.substr(8, kTokenKeySize));
  parameters.wrapping_key = SecretBytes::FromString(bytes.substr(8 + kTokenKeySize));
  return parameters;
}

absl::StatusOr<std::string> NewParametersId() {
  auto bytes = crypto::RandomBytes(kParametersIdSize);
  if (!bytes.ok()) return bytes.status();
  return crypto::HexEncode(*bytes);
}

absl::StatusOr<std::string> Seal(const SecretBytes& token_key, std::string_view parameters_id,
                                 const Claims& claims) {
  auto id = HexToBytes(parameters_id);
  if (!id.ok() || claims.key_id.size() != kKeyIdSize) return Internal("malformed import claims");
  std::string header = StrCat(std::string_view(&kVersion, 1), *id);
  PutBigEndian(header, static_cast<uint64_t>(claims.valid_to), 8);
  std::string plaintext;
  plaintext.push_back(static_cast<char>(claims.algorithm));
  PutBigEndian(plaintext, static_cast<uint64_t>(claims.wrapping_key_bits), 2);
  plaintext += claims.key_id;
  auto nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
  if (!nonce.ok()) return nonce.status();
  auto sealed =
      crypto::AesGcmSeal(token_key, *nonce, StrCat(kAssociatedDataLabel, header), plaintext);
  if (!sealed.ok()) return sealed.status();
  return StrCat(header, *nonce, *sealed);
}

absl::StatusOr<Header> ReadHeader(std::string_view token) {
  if (token.size() != kTokenSize || token[0] != kVersion) return InvalidToken();
  Header header{crypto::HexEncode(token.substr(1, kParametersIdSize)),
                static_cast<int64_t>(GetBigEndian(token, 1 + kParametersIdSize, 8))};
  if (header.valid_to < 0) return InvalidToken();
  return header;
}

absl::StatusOr<Claims> Open(const SecretBytes& token_key, std::string_view token) {
  if (token.size() != kTokenSize || token[0] != kVersion) return InvalidToken();
  std::string_view header = token.substr(0, kHeaderSize);
  std::string_view nonce = token.substr(kHeaderSize, crypto::kGcmNonceSize);
  auto opened = crypto::AesGcmOpen(token_key, nonce, StrCat(kAssociatedDataLabel, header),
                                   token.substr(kHeaderSize + crypto::kGcmNonceSize));
  if (!opened.ok() || opened->size() != kClaimsSize) return InvalidToken();
  std::string_view claims_bytes = opened->view();
  Claims claims;
  claims.valid_to = static_cast<int64_t>(GetBigEndian(header, 1 + kParametersIdSize, 8));
  auto algorithm = static_cast<unsigned char>(claims_bytes[0]);
  claims.wrapping_key_bits = static_cast<int>(GetBigEndian(claims_bytes, 1, 2));
  claims.key_id = std::string(claims_bytes.substr(3));
  if (algorithm > static_cast<unsigned char>(crypto::WrappingAlgorithm::kSm2Pke) ||
      (claims.wrapping_key_bits != 2048 && claims.wrapping_key_bits != 3072 &&
       claims.wrapping_key_bits != 4096) ||
      !IsKeyId(claims.key_id) || claims.valid_to < 0) {
    return InvalidToken();
  }
  claims.algorithm = static_cast<crypto::WrappingAlgorithm>(algorithm);
  return claims;
}

}  // namespace kmsd::import_token
