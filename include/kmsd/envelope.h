// Envelope encryption of streams of any size in the AWS Encryption SDK message format, so what
// `kms` writes the Encryption SDKs read, and the reverse. Encrypt writes message format version 2
// with key commitment (framed); decrypt reads versions 1 and 2. Memory stays constant whatever the
// input size: about 5 blocks of max(block_bytes, frame length). Frames are independent, so a block
// of frames is sealed or opened on worker threads while the calling thread reads the next block
// and writes the previous one. Input and Output are only ever used from the calling thread.
// Encrypt and Decrypt may run concurrently on different streams.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/kms_client.h"

namespace kmsd::envelope {

// Algorithm suites (AWS Encryption SDK ids).
inline constexpr uint16_t kCommitKeyEcdsaP384 = 0x0578;  // default, as the SDKs
inline constexpr uint16_t kCommitKey = 0x0478;
inline constexpr uint16_t kHkdfSha384EcdsaP384 = 0x0378;  // version 1, decrypt only
inline constexpr uint16_t kHkdfSha256 = 0x0178;           // version 1, decrypt only

// worker_threads: kAutoThreads = one per core (at most 4); 0 = everything on the calling thread.
inline constexpr int kAutoThreads = -1;
// Plaintext bytes moved per pipeline step (rounded down to whole frames, at least one frame).
inline constexpr size_t kDefaultBlockBytes = 1 << 20;

struct EncryptOptions {
  std::vector<std::string> key_ids;  // the first generates the data key; the rest encrypt it
  EncryptionContext context;
  uint32_t frame_length = 4096;
  uint16_t algorithm_suite = kCommitKeyEcdsaP384;
  int worker_threads = kAutoThreads;
  size_t block_bytes = kDefaultBlockBytes;
};

struct DecryptOptions {
  // Every pair must be in the message's context with the same value.
  EncryptionContext required_context;
  // Key ARNs this caller trusts (as the SDKs' strict mode): only encrypted data keys whose
  // provider info is one of them are tried. Empty = discovery: try every aws-kms data key.
  std::vector<std::string> key_arns;
  size_t max_encrypted_data_keys = 10;
  int worker_threads = kAutoThreads;
  size_t block_bytes = kDefaultBlockBytes;
};

// Input bytes lent in place (a memory-mapped file, say): valid while `owner` lives.
struct InputView {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;
};

// Byte streams, so files, pipes and memory all work. Read returns 0 at end of input.
class Input {
 public:
  virtual ~Input() = default;
  virtual absl::StatusOr<size_t> Read(uint8_t* buffer, size_t size) = 0;
  // Optional zero-copy reading, which spares encryption a copy of every byte: the next `size`
  // bytes in place (fewer only at the end of the input), consumed as by Read. nullopt when the
  // input cannot lend them this time; then the caller uses Read.
  virtual absl::StatusOr<std::optional<InputView>> ReadView(size_t /*size*/) {
    return std::nullopt;
  }
};
class Output {
 public:
  virtual ~Output() = default;
  virtual absl::Status Write(const uint8_t* data, size_t size) = 0;
};

absl::Status Encrypt(client::KmsClient& kms, const EncryptOptions& options, Input& in, Output& out);
// Releases a frame's plaintext only after that frame's tag is checked, and the last block of frames
// only after the whole message checked out (final frame, signature, nothing trailing): a message of
// up to one block releases nothing unless it is entirely valid. For longer signed messages the
// signature, which covers the whole message, is checked at the end: a failure then is an error and
// the caller must discard what was written (the kms tool deletes its output file).
absl::Status Decrypt(client::KmsClient& kms, const DecryptOptions& options, Input& in, Output& out);

}  // namespace kmsd::envelope
