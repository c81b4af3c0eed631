// Shamir secret sharing over GF(2^8), constant-time, and the text form of a share.
#include "kmsd/shamir.h"

#include <openssl/crypto.h>

#include <array>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::shamir {
namespace {

// 0xff when bit is 1, else 0, without a branch.
uint8_t MaskOf(uint8_t bit) { return static_cast<uint8_t>(-static_cast<int8_t>(bit & 1)); }

// Binary payload of a share's text form: version, set id (big-endian), threshold, index, value,
// then the first 4 bytes of SHA-256 over everything before.
constexpr size_t kHeaderSize = 1 + 4 + 1 + 1;
constexpr size_t kChecksumSize = 4;
constexpr size_t kGroupSize = 5;

// One base32 digit (0..31) to its character, arithmetically: no table indexed by secret data.
char Base32Character(uint8_t digit) {
  // 'A' + digit below 26, '2' + (digit - 26) from 26: the second is 41 less than the first.
  uint8_t at_least_26 = MaskOf(static_cast<uint8_t>((25u - digit) >> 31));
  return static_cast<char>(digit + 'A' - (at_least_26 & 41));
}

// A base32 character (either case) to its digit; valid is 0xff when it is one. Branch-free.
uint8_t Base32Digit(unsigned char c, uint8_t& valid) {
  unsigned char upper = static_cast<unsigned char>(c & ~0x20);  // a-z -> A-Z, others moved
  uint8_t letter = static_cast<uint8_t>(upper - 'A');
  uint8_t digit = static_cast<uint8_t>(c - '2');
  // c is a letter when upper is in A..Z and c itself was a letter (bit 0x40 set).
  uint8_t is_letter = MaskOf(static_cast<uint8_t>((static_cast<unsigned>(letter) - 26u) >> 31)) &
                      MaskOf(static_cast<uint8_t>(c >> 6));
  uint8_t is_digit = MaskOf(static_cast<uint8_t>((static_cast<unsigned>(digit) - 6u) >> 31));
  valid = is_letter | is_digit;
  return static_cast<uint8_t>((is_letter & letter) | (is_digit & (digit + 26)));
}

void Wipe(std::string& text) { OPENSSL_cleanse(text.data(), text.size()); }

}  // namespace

uint8_t FieldMultiply(uint8_t a, uint8_t b) {
  uint8_t product = 0;
  for (int bit = 0; bit < 8; ++bit) {
    product ^= a & MaskOf(b);
    a = static_cast<uint8_t>((a << 1) ^ (0x1b & MaskOf(a >> 7)));
    b >>= 1;
  }
  return product;
}

uint8_t FieldInverse(uint8_t a) {
  // a^254 = a^-1 in GF(2^8) (and 0 for 0): 254 = 2 + 4 + ... + 128, a fixed chain of squarings.
  uint8_t result = 1;
  uint8_t power = a;
  for (int bit = 1; bit < 8; ++bit) {
    power = FieldMultiply(power, power);
    result = FieldMultiply(result, power);
  }
  return result;
}

absl::StatusOr<std::vector<Share>> Split(const SecretBytes& secret, int shares, int threshold) {
  if (threshold < kMinThreshold || threshold > shares || shares > kMaxShares) {
    return Validation(StrCat("shares need 2 <= threshold <= shares <= 255 (given ", threshold,
                             " of ", shares, ")"));
  }
  if (secret.empty()) return Validation("nothing to split");
  size_t length = secret.size();
  // Coefficients 1..threshold-1 of each byte's polynomial; coefficient 0 is the secret byte.
  auto coefficients = crypto::RandomSecret(length * static_cast<size_t>(threshold - 1));
  if (!coefficients.ok()) return coefficients.status();
  std::vector<Share> result;
  result.reserve(static_cast<size_t>(shares));
  for (int x = 1; x <= shares; ++x) {
    Share share{static_cast<uint8_t>(x), SecretBytes(length)};
    for (size_t byte = 0; byte < length; ++byte) {
      // Horner: from the highest coefficient down to the secret byte.
      uint8_t y = 0;
      for (int k = threshold - 1; k >= 1; --k) {
        y = FieldMultiply(y, share.index) ^
            coefficients->data()[static_cast<size_t>(k - 1) * length + byte];
      }
      share.value.data()[byte] = FieldMultiply(y, share.index) ^ secret.data()[byte];
    }
    result.push_back(std::move(share));
  }
  return result;
}

absl::StatusOr<SecretBytes> Combine(const std::vector<Share>& shares) {
  if (shares.size() < static_cast<size_t>(kMinThreshold)) {
    return Validation("at least 2 shares are needed");
  }
  size_t length = shares[0].value.size();
  std::array<bool, 256> seen{};
  for (const Share& share : shares) {
    if (share.index == 0) return Validation("a share has index 0");
    if (seen[share.index]) return Validation(StrCat("share ", share.index, " is given twice"));
    seen[share.index] = true;
    if (share.value.size() != length || length == 0) {
      return Validation("the shares have different lengths");
    }
  }
  SecretBytes secret(length);
  for (size_t i = 0; i < shares.size(); ++i) {
    // Lagrange basis at 0: prod over j != i of x_j / (x_j - x_i); subtraction is XOR. The x are
    // public, so the basis is too; only the y go through it.
    uint8_t numerator = 1;
    uint8_t denominator = 1;
    for (size_t j = 0; j < shares.size(); ++j) {
      if (j == i) continue;
      numerator = FieldMultiply(numerator, shares[j].index);
      denominator = FieldMultiply(denominator, shares[j].index ^ shares[i].index);
    }
    uint8_t basis = FieldMultiply(numerator, FieldInverse(denominator));
    for (size_t byte = 0; byte < length; ++byte) {
      secret.data()[byte] ^= FieldMultiply(shares[i].value.data()[byte], basis);
    }
  }
  return secret;
}

SecretBytes EncodeShare(const EncodedShare& encoded) {
  const SecretBytes& value = encoded.share.value;
  SecretBytes payload(kHeaderSize + value.size() + kChecksumSize);
  uint8_t* out = payload.data();
  out[0] = kShareFormatVersion;
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<uint8_t>(encoded.set_id >> (24 - 8 * i));
  out[5] = encoded.threshold;
  out[6] = encoded.share.index;
  std::copy(value.data(), value.data() + value.size(), out + kHeaderSize);
  std::string digest = crypto::Sha256(payload.view().substr(0, kHeaderSize + value.size()));
  std::copy(digest.begin(), digest.begin() + kChecksumSize, out + kHeaderSize + value.size());
  Wipe(digest);

  size_t digits = (payload.size() * 8 + 4) / 5;
  SecretBytes text(digits + (digits - 1) / kGroupSize);
  size_t written = 0;
  uint32_t buffer = 0;
  int bits = 0;
  size_t produced = 0;
  auto emit = [&](uint8_t digit) {
    if (produced > 0 && produced % kGroupSize == 0) text.data()[written++] = '-';
    text.data()[written++] = static_cast<uint8_t>(Base32Character(digit));
    ++produced;
  };
  for (size_t i = 0; i < payload.size(); ++i) {
    buffer = (buffer << 8) | payload.data()[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      emit(static_cast<uint8_t>((buffer >> bits) & 31));
    }
  }
  if (bits > 0) emit(static_cast<uint8_t>((buffer << (5 - bits)) & 31));
  buffer = 0;
  return text;
}

absl::StatusOr<EncodedShare> DecodeShare(std::string_view text) {
  std::string bytes;  // wiped on every return
  bytes.reserve(text.size());
  uint32_t buffer = 0;
  int bits = 0;
  uint8_t all_valid = 0xff;
  for (char c : text) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    uint8_t valid = 0;
    uint8_t digit = Base32Digit(static_cast<unsigned char>(c), valid);
    all_valid &= valid;
    buffer = (buffer << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  buffer = 0;
  auto fail = [&](std::string_view why) {
    Wipe(bytes);
    return Validation(StrCat("not a valid share: ", why));
  };
  if (all_valid != 0xff) return fail("it holds a character outside base32 (A-Z, 2-7)");
  if (bytes.size() < kHeaderSize + 1 + kChecksumSize) return fail("it is too short");
  if (static_cast<uint8_t>(bytes[0]) != kShareFormatVersion) {
    return fail(StrCat("format version ", static_cast<int>(static_cast<uint8_t>(bytes[0])),
                       " is not one this kmsd reads (or the share is mistyped)"));
  }
  size_t value_size = bytes.size() - kHeaderSize - kChecksumSize;
  std::string digest = crypto::Sha256(std::string_view(bytes).substr(0, kHeaderSize + value_size));
  bool matches = crypto::ConstantTimeEquals(std::string_view(digest).substr(0, kChecksumSize),
                                            std::string_view(bytes).substr(kHeaderSize + value_size));
  Wipe(digest);
  if (!matches) return fail("its checksum does not match (a mistyped or missing character?)");
  EncodedShare decoded;
  for (int i = 0; i < 4; ++i) {
    decoded.set_id = (decoded.set_id << 8) | static_cast<uint8_t>(bytes[1 + i]);
  }
  decoded.threshold = static_cast<uint8_t>(bytes[5]);
  decoded.share.index = static_cast<uint8_t>(bytes[6]);
  decoded.share.value = SecretBytes(reinterpret_cast<const uint8_t*>(bytes.data()) + kHeaderSize,
                                    value_size);
  Wipe(bytes);
  if (decoded.share.index == 0 || decoded.threshold < kMinThreshold) {
    return Validation("not a valid share: its index or threshold is out of range");
  }
  return decoded;
}

}  // namespace kmsd::shamir
