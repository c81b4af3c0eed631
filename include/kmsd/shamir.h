// Shamir secret sharing over GF(2^8), for the shares seal (docs/SEAL.md, "Shamir shares"): a
// secret of any length is split byte by byte into N shares so that any T of them give it back
// and T-1 say nothing about it. Field arithmetic is constant-time (no table lookups, no branches
// on secret bytes); polynomial coefficients come from the OS CSPRNG; every intermediate holding
// secret data is a SecretBytes (zeroized). Share indices (the x coordinates) are public.
//
// A share's text form is what operators store and type: base32 (RFC 4648 alphabet, lower or
// upper case) in dash-separated groups of five, carrying a format version, the id of the share
// set (so a share of another data dir is refused by name), the threshold, the index and a
// 32-bit checksum (truncated SHA-256) that catches a mistyped character before the share is used.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/secret_bytes.h"

namespace kmsd::shamir {

inline constexpr int kMinThreshold = 2;
inline constexpr int kMaxShares = 255;

struct Share {
  uint8_t index = 0;  // x coordinate, 1..255
  SecretBytes value;  // y coordinates, one byte per byte of the secret
};

// Splits secret into `shares` shares (indices 1..shares), any `threshold` of which recombine.
// 2 <= threshold <= shares <= 255; a threshold of 1 would make each share the secret itself.
absl::StatusOr<std::vector<Share>> Split(const SecretBytes& secret, int shares, int threshold);

// Lagrange interpolation at 0 of the given shares. At least 2, distinct non-zero indices, equal
// lengths. Given fewer shares than the threshold it returns a value, but not the secret (nothing
// in the shares tells the threshold; callers check it).
absl::StatusOr<SecretBytes> Combine(const std::vector<Share>& shares);

// A share with the context its text form carries.
struct EncodedShare {
  uint32_t set_id = 0;  // random per split: shares of different splits never mix
  uint8_t threshold = 0;
  Share share;
};

inline constexpr uint8_t kShareFormatVersion = 1;

// The text form (see above); it is as secret as the share.
SecretBytes EncodeShare(const EncodedShare& share);
// Reads a text form, ignoring dashes, spaces and case. Errors (kValidation) say what is wrong
// (not a share, unknown version, checksum mismatch = mistyped) without echoing the text.
absl::StatusOr<EncodedShare> DecodeShare(std::string_view text);

// GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1, constant-time; exposed for tests.
uint8_t FieldMultiply(uint8_t a, uint8_t b);
uint8_t FieldInverse(uint8_t a);  // 0 for 0

}  // namespace kmsd::shamir
