// SecretBytes holds key material and plaintext. Its buffer comes from the process's SecureArena
// (kmsd/secure_memory.h: locked in RAM, out of core dumps) and is zeroized when it is destroyed or
// reassigned; it is move-only so secrets are not duplicated by accident, and it has no operator<<
// so it cannot be logged. Not thread-safe; treat as a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kmsd {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size);
  SecretBytes(const uint8_t* data, size_t size);
  static SecretBytes FromString(std::string_view bytes);
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // An explicit copy, for the rare place that must hold the secret twice.
  SecretBytes Clone() const;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Zeroizes and empties.
  void Clear();

 private:
  uint8_t* data_ = nullptr;  // from SecureArena::Process(); null when empty
  size_t size_ = 0;
};

}  // namespace kmsd
