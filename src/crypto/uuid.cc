// Random UUIDs and their text form.
#include "kmsd/uuid.h"

#include <cstdlib>
#include <cstring>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"

namespace kmsd {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

std::string NewUuid() {
  // From the per-thread pool behind RandomBytes: kmsd makes two UUIDs per request.
  auto random = crypto::RandomBytes(16);
  if (!random.ok()) std::abort();  // no safe way to go on without randomness
  unsigned char bytes[16];
  std::memcpy(bytes, random->data(), sizeof bytes);
  bytes[6] = (bytes[6] & 0x0F) | 0x40;
  bytes[8] = (bytes[8] & 0x3F) | 0x80;
  return UuidFromBytes(std::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsDash(i) ? text[i] != '-' : HexValue(text[i]) < 0) return false;
  }
  return true;
}

absl::StatusOr<std::string> UuidToBytes(std::string_view text) {
  if (!IsUuid(text)) return Validation("not a UUID");
  std::string bytes;
  bytes.reserve(16);
  for (size_t i = 0; i < text.size();) {
    if (IsDash(i)) {
      ++i;
      continue;
    }
    bytes.push_back(static_cast<char>(HexValue(text[i]) << 4 | HexValue(text[i + 1])));
    i += 2;
  }
  return bytes;
}

std::string UuidFromBytes(std::string_view bytes16) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (size_t i = 0; i < bytes16.size() && i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    unsigned char c = static_cast<unsigned char>(bytes16[i]);
    text.push_back(kDigits[c >> 4]);
    text.push_back(kDigits[c & 15]);
  }
  return text;
}

namespace {
constexpr std::string_view kMultiRegionPrefix = "mrk-";
constexpr size_t kMultiRegionIdSize = 36;  // "mrk-" + 32 hex digits
}  // namespace

std::string NewMultiRegionKeyId() {
  auto random = crypto::RandomBytes(16);
  if (!random.ok()) std::abort();
  return KeyIdFromBytes(*random, /*multi_region=*/true);
}

bool IsMultiRegionKeyId(std::string_view text) {
  if (text.size() != kMultiRegionIdSize) return false;
  for (size_t i = 0; i < kMultiRegionPrefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kMultiRegionPrefix[i]) return false;
  }
  for (char c : text.substr(kMultiRegionPrefix.size())) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

bool IsKeyId(std::string_view text) { return IsUuid(text) || IsMultiRegionKeyId(text); }

absl::StatusOr<std::string> KeyIdToBytes(std::string_view text) {
  if (!IsMultiRegionKeyId(text)) return UuidToBytes(text);
  std::string bytes;
  bytes.reserve(16);
  for (size_t i = kMultiRegionPrefix.size(); i < text.size(); i += 2) {
    bytes.push_back(static_cast<char>(HexValue(text[i]) << 4 | HexValue(text[i + 1])));
  }
  return bytes;
}

std::string KeyIdFromBytes(std::string_view bytes16, bool multi_region) {
  if (!multi_region) return UuidFromBytes(bytes16);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(kMultiRegionPrefix);
  for (size_t i = 0; i < bytes16.size() && i < 16; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes16[i]);
    text.push_back(kDigits[c >> 4]);
    text.push_back(kDigits[c & 15]);
  }
  return text;
}

}  // namespace kmsd
