// SecretBytes: fixed-size buffers in the secure arena that are wiped when they die.
#include "kmsd/secret_bytes.h"

#include <cstring>
#include <utility>

#include "kmsd/secure_memory.h"

namespace kmsd {

SecretBytes::SecretBytes(size_t size) : size_(size) {
  if (size_ > 0) data_ = static_cast<uint8_t*>(SecureArena::Process().Allocate(size_));
}

SecretBytes::SecretBytes(const uint8_t* data, size_t size) : SecretBytes(size) {
  if (size > 0) std::memcpy(data_, data, size);
}

SecretBytes SecretBytes::FromString(std::string_view bytes) {
  return SecretBytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

SecretBytes::~SecretBytes() { Clear(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes SecretBytes::Clone() const { return SecretBytes(data_, size_); }

void SecretBytes::Clear() {
  // The arena wipes the block as it takes it back.
  if (data_ != nullptr) SecureArena::Process().Free(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace kmsd
