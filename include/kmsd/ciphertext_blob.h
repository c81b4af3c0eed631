// The CiphertextBlob that Encrypt, GenerateDataKey and ReEncrypt return. Self-describing, so
// Decrypt needs nothing but the blob (and the same encryption context):
//
//   offset size  field
//   0      1     format version: 0x01, key id a UUID; 0x02, a multi-Region key id (issue 13)
//   1      16    KMS key id (UUID or the 32 hex digits after "mrk-", binary)
//   17     4     backing-key version (big-endian uint32)
//   21     16    per-message key-derivation salt (random)
//   37     12    GCM nonce (random)
//   49     n     ciphertext
//   49+n   16    GCM tag
//
// The message key is HKDF-SHA256(backing key, salt, "kmsd blob v1"), fresh for every blob, so a GCM
// nonce is never reused under one key. Associated data = the 49 header bytes followed by the
// canonical encoding of the encryption context (sorted by key, each key and value length-prefixed),
// so any change to any byte, or a different context, fails. Thread-safe pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd {

using EncryptionContext = std::map<std::string, std::string>;

inline constexpr uint8_t kBlobFormatVersion = 1;
// The same layout, for a multi-Region key ("mrk-" ids); version 1 blobs read as before.
inline constexpr uint8_t kBlobFormatVersionMultiRegion = 2;
inline constexpr size_t kBlobHeaderSize = 49;
inline constexpr size_t kBlobOverhead = kBlobHeaderSize + 16;

struct BlobHeader {
  // Canonical lower-case UUID text, e.g. "1234abcd-12ab-34cd-56ef-1234567890ab", or a
  // multi-Region key id, "mrk-1234abcd12ab34cd56ef1234567890ab".
  std::string key_id;
  uint32_t backing_key_version = 0;
};

// Reads the header without decrypting. Fails with kInvalidCiphertext for anything that is not a
// well-formed blob of a known version.
absl::StatusOr<BlobHeader> ParseBlobHeader(std::string_view blob);

absl::StatusOr<std::string> SealBlob(const BlobHeader& header, const SecretBytes& backing_key,
                                     const EncryptionContext& context,
                                     std::string_view plaintext);

// Fails with kInvalidCiphertext on any mismatch (wrong key, context, tampered byte).
absl::StatusOr<SecretBytes> OpenBlob(std::string_view blob, const SecretBytes& backing_key,
                                     const EncryptionContext& context);

// Canonical encoding of a context, used as associated data.
std::string EncodeEncryptionContext(const EncryptionContext& context);

}  // namespace kmsd
