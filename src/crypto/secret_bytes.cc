// SecretBytes: fixed-size buffers that are wiped when they die.
#include "kmsd/secret_bytes.h"

#include <openssl/crypto.h>

#include <cstring>

namespace kmsd {

SecretBytes::SecretBytes(size_t size) : bytes_(size) {}

SecretBytes::SecretBytes(const uint8_t* data, size_t size) : bytes_(data, data + size) {}

SecretBytes SecretBytes::FromString(std::string_view bytes) {
  return SecretBytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

SecretBytes::~SecretBytes() { Clear(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

SecretBytes SecretBytes::Clone() const { return SecretBytes(bytes_.data(), bytes_.size()); }

void SecretBytes::Clear() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
  bytes_.shrink_to_fit();
}

}  // namespace kmsd
