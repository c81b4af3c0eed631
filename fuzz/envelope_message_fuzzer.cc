// The Encryption SDK message reader (src/envelope/message.cc, format.cc): `kms decrypt` reads
// messages from anyone. A stand-in KMS returns each encrypted data key's bytes as the data key
// (when they are 32 bytes, else refuses), so messages made with it (the seeds) decrypt, and the
// fuzzer explores the header, the commitment, the frames and the footer past the KMS call.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "envelope/format.h"
#include "fuzz/fuzz_util.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"

namespace {

class CleartextKms final : public kmsd::client::KmsClient {
 public:
  absl::StatusOr<kmsd::client::DataKey> GenerateDataKey(const std::string&, size_t,
                                                        const kmsd::EncryptionContext&) override {
    return kmsd::Error(kmsd::ErrorType::kKmsInternal, "not used");
  }
  absl::StatusOr<std::pair<std::string, std::string>> Encrypt(
      const std::string&, const kmsd::SecretBytes&, const kmsd::EncryptionContext&) override {
    return kmsd::Error(kmsd::ErrorType::kKmsInternal, "not used");
  }
  absl::StatusOr<std::pair<kmsd::SecretBytes, std::string>> Decrypt(
      const std::string& blob, const kmsd::EncryptionContext&, const std::string&) override {
    if (blob.size() != 32) return kmsd::Error(kmsd::ErrorType::kInvalidCiphertext, "not a key");
    return std::make_pair(kmsd::SecretBytes::FromString(blob),
                          std::string("arn:aws:kms:us-east-1:111122223333:key/fuzz"));
  }
};

class BytesInput final : public kmsd::envelope::Input {
 public:
  explicit BytesInput(std::string_view bytes) : bytes_(bytes) {}
  absl::StatusOr<size_t> Read(uint8_t* buffer, size_t size) override {
    size_t n = std::min(size, bytes_.size());
    std::memcpy(buffer, bytes_.data(), n);
    bytes_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view bytes_;
};

class CountingOutput final : public kmsd::envelope::Output {
 public:
  absl::Status Write(const uint8_t*, size_t size) override {
    written += size;
    return absl::OkStatus();
  }
  size_t written = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd::envelope;
  static CleartextKms kms;
  std::string_view message = kmsd::fuzz::AsText(data, size);
  DecryptOptions options;
  options.worker_threads = 0;
  options.block_bytes = 4096;
  BytesInput in(message);
  CountingOutput out;
  absl::Status status = Decrypt(kms, options, in, out);
  status.IgnoreError();
  // A message is longer than the plaintext it releases (headers, IVs and tags).
  kmsd::fuzz::Check(out.written == 0 || out.written < size, "more plaintext than message");

  // The header reader on its own, with no KMS behind it.
  BytesInput header_in(message);
  StreamReader reader(header_in);
  auto header = ReadHeader(reader, 10);
  if (header.ok()) {
    auto context = ParseContext(SerializeContext(header->context));
    kmsd::fuzz::Check(context.ok() && *context == header->context,
                      "an encryption context did not serialize back");
  }
  return 0;
}
