// The AWS Encryption SDK message format, byte by byte: algorithm suites, the header (written as
// version 2, read as versions 1 and 2), the framed body's layout and AAD, and key derivation.
// Specification: aws-encryption-sdk-specification, data-format/message-header.md, message-body.md,
// message-body-aad.md, message-footer.md, framework/algorithm-suites.md. Pure functions; the
// reader is not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/envelope.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::envelope {

struct Suite {
  uint16_t id;
  int message_version;
  const char* hkdf_digest;  // OpenSSL digest name
  bool committing;
  bool signing;
};

// nullptr for a suite we do not support.
const Suite* FindSuite(uint16_t id);

inline constexpr std::string_view kProviderId = "aws-kms";
inline constexpr std::string_view kPublicKeyContextKey = "aws-crypto-public-key";
inline constexpr std::string_view kReservedContextPrefix = "aws-crypto-";
inline constexpr uint32_t kFinalFrameMarker = 0xFFFFFFFF;
inline constexpr uint32_t kMaxSequenceNumber = 0xFFFFFFFE;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kIvSize = 12;
// Frames must be buffered whole before their tag can be checked, so their size bounds memory.
inline constexpr size_t kMaxFrameLength = 1 << 24;
// Bytes a frame adds to its content: regular = sequence number, IV, tag; final adds the marker
// and the content length.
inline constexpr size_t kRegularFrameOverhead = 4 + kIvSize + kTagSize;
inline constexpr size_t kFinalFrameOverhead = 4 + 4 + kIvSize + 4 + kTagSize;
// Message id (32) + the longer label (34) + sequence number (4) + content length (8).
inline constexpr size_t kMaxFrameAadSize = 32 + 34 + 4 + 8;

// A kInvalidCiphertext error that says what is wrong with the message.
absl::Status BadMessage(std::string_view what);

void PutU16(std::string& out, size_t value);
void PutU32(std::string& out, uint64_t value);
void StoreU32(uint8_t* out, uint32_t value);

// Count, then each pair sorted by key as bytes; the empty context serializes to nothing.
std::string SerializeContext(const EncryptionContext& context);
absl::StatusOr<EncryptionContext> ParseContext(std::string_view serialized);

// The frame IV: the sequence number, big-endian, in the last 4 of 12 bytes.
void FrameIv(uint32_t sequence, uint8_t iv[kIvSize]);
// The body AAD of a frame; returns its length (at most kMaxFrameAadSize).
size_t FrameAad(std::string_view message_id, bool final_frame, uint32_t sequence, uint64_t length,
                uint8_t* out);

struct EncryptedDataKey {
  std::string provider_id;
  std::string provider_info;  // for aws-kms: the ARN of the key that encrypted it
  std::string ciphertext;
};

struct Header {
  const Suite* suite = nullptr;
  std::string message_id;
  EncryptionContext context;
  std::vector<EncryptedDataKey> data_keys;
  uint32_t frame_length = 0;
  std::string commitment;  // committing suites only
  std::string header_iv;   // version 1 only
  std::string tag;
  // The header body exactly as serialized: what the header tag authenticates.
  std::string body;
};

// The version 2 header body of header (its body, header_iv and tag fields are ignored).
std::string SerializeHeaderBodyV2(const Header& header);

// Reads exactly what is asked from an Input; running out is a "truncated" error.
class StreamReader {
 public:
  explicit StreamReader(Input& in) : in_(in) {}
  absl::Status Exact(uint8_t* out, size_t size);
  absl::StatusOr<std::string> Bytes(size_t size);
  absl::StatusOr<uint64_t> Number(int bytes);
  // True when the input has ended; false (and one byte consumed) otherwise.
  absl::StatusOr<bool> AtEnd();

 private:
  Input& in_;
};

// Reads and checks the header's structure (not its tag: that needs the data key). Refuses
// unsupported versions and suites, non-framed content and more than max_data_keys data keys.
absl::StatusOr<Header> ReadHeader(StreamReader& reader, size_t max_data_keys);

struct DerivedKeys {
  SecretBytes data_key;    // the AES-256-GCM key for the header tag and every frame
  std::string commitment;  // empty for non-committing suites
};
absl::StatusOr<DerivedKeys> DeriveKeys(const Suite& suite, const SecretBytes& data_key,
                                       std::string_view message_id);

}  // namespace kmsd::envelope
