// The CiphertextBlob format; see include/kmsd/ciphertext_blob.h.
#include "kmsd/ciphertext_blob.h"

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/uuid.h"

namespace kmsd {
namespace {

constexpr size_t kKeyIdOffset = 1;
constexpr size_t kVersionOffset = 17;
constexpr size_t kSaltOffset = 21;
constexpr size_t kSaltSize = 16;
constexpr size_t kNonceOffset = 37;
constexpr std::string_view kDerivationInfo = "kmsd blob v1";

absl::Status Malformed() {
  return Error(ErrorType::kInvalidCiphertext,
               "The ciphertext is not a kmsd ciphertext blob, or was modified.");
}

void AppendLength(std::string& out, size_t length) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(length >> shift));
}

// HKDF-SHA256(backing key, salt, info): a key of its own for every blob.
absl::StatusOr<SecretBytes> MessageKey(const SecretBytes& backing_key, std::string_view salt) {
  return crypto::HkdfSha256(backing_key, salt, kDerivationInfo, crypto::kAes256KeySize);
}

std::string AssociatedData(std::string_view header, const EncryptionContext& context) {
  std::string aad(header);
  aad += EncodeEncryptionContext(context);
  return aad;
}

}  // namespace

std::string EncodeEncryptionContext(const EncryptionContext& context) {
  std::string out;
  AppendLength(out, context.size());
  for (const auto& [key, value] : context) {  // std::map: sorted by key
    AppendLength(out, key.size());
    out += key;
    AppendLength(out, value.size());
    out += value;
  }
  return out;
}

absl::StatusOr<BlobHeader> ParseBlobHeader(std::string_view blob) {
  if (blob.size() < kBlobOverhead) return Malformed();
  uint8_t format = static_cast<uint8_t>(blob[0]);
  if (format != kBlobFormatVersion && format != kBlobFormatVersionMultiRegion) return Malformed();
  BlobHeader header;
  header.key_id =
      KeyIdFromBytes(blob.substr(kKeyIdOffset, 16), format == kBlobFormatVersionMultiRegion);
  for (size_t i = 0; i < 4; ++i) {
    header.backing_key_version =
        header.backing_key_version << 8 | static_cast<uint8_t>(blob[kVersionOffset + i]);
  }
  if (header.backing_key_version == 0) return Malformed();
  return header;
}

absl::StatusOr<std::string> SealBlob(const BlobHeader& header, const SecretBytes& backing_key,
                                     const EncryptionContext& context, std::string_view plaintext) {
  auto key_id = KeyIdToBytes(header.key_id);
  if (!key_id.ok()) return Internal("blob key id is not a key id");
  // ParseBlobHeader refuses version 0, so a blob sealed with it could never be opened.
  if (header.backing_key_version == 0) return Internal("backing-key versions start at 1");
  auto salt_and_nonce = crypto::RandomBytes(kSaltSize + crypto::kGcmNonceSize);
  if (!salt_and_nonce.ok()) return salt_and_nonce.status();
  std::string blob;
  blob.reserve(kBlobOverhead + plaintext.size());
  blob.push_back(static_cast<char>(IsMultiRegionKeyId(header.key_id) ? kBlobFormatVersionMultiRegion
                                                                     : kBlobFormatVersion));
  blob += *key_id;
  for (int shift = 24; shift >= 0; shift -= 8) {
    blob.push_back(static_cast<char>(header.backing_key_version >> shift));
  }
  blob += *salt_and_nonce;
  std::string_view salt = std::string_view(blob).substr(kSaltOffset, kSaltSize);
  std::string_view nonce = std::string_view(blob).substr(kNonceOffset, crypto::kGcmNonceSize);
  auto message_key = MessageKey(backing_key, salt);
  if (!message_key.ok()) return message_key.status();
  auto sealed = crypto::AesGcmSeal(*message_key, nonce, AssociatedData(blob, context), plaintext);
  if (!sealed.ok()) return sealed.status();
  blob += *sealed;
  return blob;
}

absl::StatusOr<SecretBytes> OpenBlob(std::string_view blob, const SecretBytes& backing_key,
                                     const EncryptionContext& context) {
  if (auto header = ParseBlobHeader(blob); !header.ok()) return header.status();
  std::string_view header = blob.substr(0, kBlobHeaderSize);
  auto message_key = MessageKey(backing_key, blob.substr(kSaltOffset, kSaltSize));
  if (!message_key.ok()) return message_key.status();
  return crypto::AesGcmOpen(*message_key, blob.substr(kNonceOffset, crypto::kGcmNonceSize),
                            AssociatedData(header, context), blob.substr(kBlobHeaderSize));
}

}  // namespace kmsd
