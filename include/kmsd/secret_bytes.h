// SecretBytes holds key material and plaintext. Its memory is zeroized (OPENSSL_cleanse) when it is
// destroyed or reassigned; it is move-only so secrets are not duplicated by accident, and it has no
// operator<< so it cannot be logged. Not thread-safe; treat as a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  std::span<const uint8_t> span() const { return bytes_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

  // Zeroizes and empties.
  void Clear();

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace kmsd
