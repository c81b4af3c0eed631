// The CiphertextBlob parser (src/crypto/ciphertext_blob.cc): a hostile blob handed to Decrypt.
// Parts: blob | encryption context ("key=value" lines). The blob is parsed and opened under a fixed
// backing key (seeds are sealed under it, so their tags verify); then the same context and the
// blob's bytes as plaintext go through SealBlob, which must open again to exactly what was sealed.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/ciphertext_blob.h"

namespace {

kmsd::EncryptionContext ContextFrom(std::string_view text) {
  kmsd::EncryptionContext context;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    context[std::string(line.substr(0, equals))] = std::string(line.substr(equals + 1));
  }
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  static const SecretBytes backing_key = fuzz::FixedKey();
  auto parts = fuzz::Parts(fuzz::AsText(data, size), 2);
  std::string_view blob = parts[0];
  EncryptionContext context = ContextFrom(parts[1]);

  auto header = ParseBlobHeader(blob);
  auto opened = OpenBlob(blob, backing_key, context);
  fuzz::Check(header.ok() || !opened.ok(), "a blob whose header is refused opened");
  if (opened.ok()) fuzz::Check(blob.size() >= kBlobOverhead, "a blob shorter than its overhead opened");

  BlobHeader fixed{"1234abcd-12ab-34cd-56ef-1234567890ab", 7};
  auto sealed = SealBlob(header.ok() ? *header : fixed, backing_key, context, blob);
  fuzz::Check(sealed.ok(), "SealBlob failed");
  auto reopened = OpenBlob(*sealed, backing_key, context);
  fuzz::Check(reopened.ok() && reopened->view() == blob, "a sealed blob did not open to its plaintext");
  auto reparsed = ParseBlobHeader(*sealed);
  fuzz::Check(reparsed.ok() && reparsed->key_id == (header.ok() ? header->key_id : fixed.key_id),
              "a sealed blob's header did not parse back");
  return 0;
}
