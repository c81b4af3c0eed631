// OpenSSL 3 EVP wrappers: randomness, AES-256-GCM, HKDF, SHA-256, HMAC and encodings.
#include "kmsd/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/secure_memory.h"

namespace kmsd::crypto {
namespace {

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// EVP takes int lengths; a larger input must fail cleanly rather than wrap around.
bool FitsInt(std::string_view a, std::string_view b) {
  return a.size() <= INT_MAX && b.size() <= INT_MAX;
}

absl::Status InvalidCiphertext() {
  return Error(ErrorType::kInvalidCiphertext,
               "The ciphertext is invalid, was modified, or does not match its key or context.");
}

[[noreturn]] void DieWith(const char* message) {
  std::fprintf(stderr, "kmsd: %s\n", message);
  std::abort();  // no safe way to go on without SHA-256
}

// Fetched once for the life of the process: EVP_sha256() makes every init look the algorithm up
// again, under OpenSSL's global lock.
const EVP_MD* FetchedSha256() {
  static EVP_MD* const sha256 = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) DieWith("OpenSSL offers no SHA-256");
    return fetched;
  }();
  return sha256;
}

// AES-256-GCM, fetched once (EVP_aes_256_gcm() looks the implementation up on every init).
const EVP_CIPHER* FetchedAes256Gcm() {
  static EVP_CIPHER* const cipher = [] {
    EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (fetched == nullptr) DieWith("OpenSSL offers no AES-256-GCM");
    return fetched;
  }();
  return cipher;
}

struct DigestContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// Each thread's one digest context: initialising it again for the same digest keeps its
// allocation.
EVP_MD_CTX* ThreadDigestContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, DigestContextFree> context(EVP_MD_CTX_new());
  if (!context) DieWith("cannot allocate a digest context");
  return context.get();
}

std::string_view AsText(const uint8_t* bytes, size_t size) {
  return {reinterpret_cast<const char*>(bytes), size};
}

// SHA-256 of the concatenation of parts into digest (kSha256Size bytes).
void Sha256Of(std::initializer_list<std::string_view> parts, uint8_t* digest) {
  EVP_MD_CTX* context = ThreadDigestContext();
  bool ok = EVP_DigestInit_ex2(context, FetchedSha256(), nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(context, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(context, digest, nullptr) == 1;
  if (!ok) DieWith("SHA-256 failed");
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 with padding into out (resized exactly); false on anything else.
bool DecodeBase64Into(std::string_view text, uint8_t* out, size_t* out_size) {
  if (text.size() % 4 != 0) return false;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  size_t written = 0;
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && last && j >= 4 - static_cast<int>(padding)) {
        v[j] = 0;
        continue;
      }
      v[j] = Base64Value(c);
      if (v[j] < 0) return false;
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out[written++] = static_cast<uint8_t>(n >> 16);
    if (!(last && padding == 2)) out[written++] = static_cast<uint8_t>(n >> 8);
    if (!(last && padding >= 1)) out[written++] = static_cast<uint8_t>(n);
    // Non-canonical encodings (bits set under the padding) are refused.
    if (last && padding == 2 && (v[1] & 0x0F)) return false;
    if (last && padding == 1 && (v[2] & 0x03)) return false;
  }
  *out_size = written;
  return true;
}

}  // namespace

namespace {

// Generator output drawn 1 KiB at a time, per thread, and handed out once: one RAND_bytes call
// per value (a data key, a salt and nonce, two UUIDs per request) was a measurable part of a
// request; each call pays the DRBG's fixed cost (locks, reseed checks, its AES re-key). Each
// byte is wiped as it is handed out, and the rest when the thread ends. The output held ahead is
// the next data keys, so it lives in the secure arena (locked, out of core dumps), as the DRBG's
// own state lives in OpenSSL's secure heap.
class RandomPool {
 public:
  static constexpr size_t kMaxTake = 64;
  static constexpr size_t kSize = 1024;
  using Refill = int (*)(unsigned char*, int);

  explicit RandomPool(Refill refill)
      : refill_(refill),
        bytes_(static_cast<unsigned char*>(SecureArena::Process().Allocate(kSize))) {}
  ~RandomPool() { SecureArena::Process().Free(bytes_, kSize); }  // wipes
  RandomPool(const RandomPool&) = delete;
  RandomPool& operator=(const RandomPool&) = delete;

  bool Take(unsigned char* out, size_t size) {
    if (kSize - used_ < size) {
      if (refill_(bytes_, kSize) != 1) return false;
      used_ = 0;
    }
    std::memcpy(out, bytes_ + used_, size);
    OPENSSL_cleanse(bytes_ + used_, size);
    used_ += size;
    return true;
  }

 private:
  Refill refill_;
  unsigned char* const bytes_;
  size_t used_ = kSize;
};

// Small values from the thread's pool, larger ones straight from the generator.
bool Random(RandomPool& pool, RandomPool::Refill direct, unsigned char* out, size_t size) {
  if (size == 0) return true;
  if (size <= RandomPool::kMaxTake) return pool.Take(out, size);
  return size <= INT_MAX && direct(out, static_cast<int>(size)) == 1;
}

}  // namespace

absl::StatusOr<SecretBytes> RandomSecret(size_t size) {
  // Secrets come from OpenSSL's private DRBG, values that will be public from the public one.
  thread_local RandomPool pool(&RAND_priv_bytes);
  SecretBytes bytes(size);
  if (!Random(pool, &RAND_priv_bytes, bytes.data(), size)) {
    return Internal("the system random number generator failed");
  }
  return bytes;
}

absl::StatusOr<std::string> RandomBytes(size_t size) {
  thread_local RandomPool pool(&RAND_bytes);
  std::string out(size, '\0');
  if (!Random(pool, &RAND_bytes, reinterpret_cast<unsigned char*>(out.data()), size)) {
    return Internal("the system random number generator failed");
  }
  return out;
}

absl::StatusOr<std::string> AesGcmSeal(const SecretBytes& key, std::string_view nonce,
                                       std::string_view associated_data,
                                       std::string_view plaintext) {
  if (key.size() != kAes256KeySize || nonce.size() != kGcmNonceSize) {
    return Internal("AES-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (!FitsInt(associated_data, plaintext) || plaintext.size() > INT_MAX - kGcmTagSize) {
    return Validation("input too large for AES-GCM");
  }
  CipherContext context(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kGcmTagSize, '\0');
  auto* out_bytes = reinterpret_cast<unsigned char*>(out.data());
  int length = 0;
  if (!context ||
      EVP_EncryptInit_ex2(context.get(), FetchedAes256Gcm(), key.data(), Bytes(nonce), nullptr) !=
          1 ||
      (!associated_data.empty() &&
       EVP_EncryptUpdate(context.get(), nullptr, &length, Bytes(associated_data),
                         static_cast<int>(associated_data.size())) != 1) ||
      EVP_EncryptUpdate(context.get(), out_bytes, &length, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), out_bytes + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize,
                          out_bytes + plaintext.size()) != 1) {
    return Internal("AES-GCM encryption failed");
  }
  return out;
}

absl::StatusOr<SecretBytes> AesGcmOpen(const SecretBytes& key, std::string_view nonce,
                                       std::string_view associated_data,
                                       std::string_view ciphertext_and_tag) {
  if (key.size() != kAes256KeySize || nonce.size() != kGcmNonceSize) {
    return Internal("AES-GCM needs a 32-byte key and a 12-byte nonce");
  }
  if (ciphertext_and_tag.size() < kGcmTagSize) return InvalidCiphertext();
  if (!FitsInt(associated_data, ciphertext_and_tag)) return InvalidCiphertext();
  size_t ciphertext_size = ciphertext_and_tag.size() - kGcmTagSize;
  CipherContext context(EVP_CIPHER_CTX_new());
  SecretBytes plaintext(ciphertext_size);
  int length = 0;
  if (!context || EVP_DecryptInit_ex2(context.get(), FetchedAes256Gcm(), key.data(),
                                      Bytes(nonce), nullptr) != 1) {
    return Internal("AES-GCM initialisation failed");
  }
  bool ok =
      (associated_data.empty() ||
       EVP_DecryptUpdate(context.get(), nullptr, &length, Bytes(associated_data),
                         static_cast<int>(associated_data.size())) == 1) &&
      EVP_DecryptUpdate(context.get(), plaintext.data(), &length, Bytes(ciphertext_and_tag),
                        static_cast<int>(ciphertext_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagSize,
                          const_cast<char*>(ciphertext_and_tag.data() + ciphertext_size)) == 1 &&
      EVP_DecryptFinal_ex(context.get(), plaintext.data() + length, &length) == 1;
  if (!ok) return InvalidCiphertext();  // plaintext is wiped by its destructor
  return plaintext;
}

namespace {

// RFC 5869 on our HMAC-SHA256, for the digest kmsd derives with on every request (one key per
// blob): OpenSSL's KDF looks the digest up by name on every call, under its global lock.
absl::StatusOr<SecretBytes> HkdfSha256Direct(const SecretBytes& input_key, std::string_view salt,
                                             std::string_view info, size_t length) {
  if (length > 255 * kSha256Size) return Internal("HKDF output too long");
  std::array<uint8_t, kSha256Size> pseudo_random_key;
  static constexpr char kZeroSalt[kSha256Size] = {};
  HmacSha256(salt.empty() ? std::string_view(kZeroSalt, sizeof kZeroSalt) : salt,
             input_key.view(), pseudo_random_key);
  std::string_view prk = AsText(pseudo_random_key.data(), pseudo_random_key.size());
  SecretBytes output(length);
  std::string block_input;  // T(i-1) || info || i
  block_input.reserve(kSha256Size + info.size() + 1);
  std::array<uint8_t, kSha256Size> block;
  for (size_t done = 0, i = 1; done < length; ++i) {
    block_input.clear();
    if (i > 1) block_input.append(AsText(block.data(), block.size()));
    block_input.append(info);
    block_input.push_back(static_cast<char>(i));
    HmacSha256(prk, block_input, block);
    size_t take = std::min(kSha256Size, length - done);
    std::memcpy(output.data() + done, block.data(), take);
    done += take;
  }
  OPENSSL_cleanse(pseudo_random_key.data(), pseudo_random_key.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(block_input.data(), block_input.size());
  return output;
}

}  // namespace

absl::StatusOr<SecretBytes> Hkdf(const char* digest, const SecretBytes& input_key,
                                 std::string_view salt, std::string_view info, size_t length) {
  if (std::strcmp(digest, "SHA256") == 0) return HkdfSha256Direct(input_key, salt, info, length);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) return Internal("HKDF is unavailable");
  EVP_KDF_CTX* context = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!context) return Internal("HKDF context allocation failed");
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0);
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(input_key.data()), input_key.size());
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<char*>(salt.data()), salt.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  const_cast<char*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes output(length);
  int ok = EVP_KDF_derive(context, output.data(), length, params);
  EVP_KDF_CTX_free(context);
  if (ok != 1) return Internal("HKDF derivation failed");
  return output;
}

absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& input_key, std::string_view salt,
                                       std::string_view info, size_t length) {
  return Hkdf("SHA256", input_key, salt, info, length);
}

absl::StatusOr<SecretBytes> HkdfSha512(const SecretBytes& input_key, std::string_view salt,
                                       std::string_view info, size_t length) {
  return Hkdf("SHA512", input_key, salt, info, length);
}

std::string Sha256(std::string_view data) {
  std::string digest(kSha256Size, '\0');
  Sha256(data,
         std::span<uint8_t, kSha256Size>(reinterpret_cast<uint8_t*>(digest.data()), kSha256Size));
  return digest;
}

std::string Sha256(std::initializer_list<std::string_view> parts) {
  std::string digest(kSha256Size, '\0');
  Sha256Of(parts, reinterpret_cast<uint8_t*>(digest.data()));
  return digest;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string mac(kSha256Size, '\0');
  HmacSha256(key, data,
             std::span<uint8_t, kSha256Size>(reinterpret_cast<uint8_t*>(mac.data()), kSha256Size));
  return mac;
}

void Sha256(std::string_view data, std::span<uint8_t, kSha256Size> digest) {
  Sha256Of({data}, digest.data());
}

// RFC 2104 over the thread's digest context: the same bytes as OpenSSL's HMAC(), without its
// per-call algorithm fetch and three context allocations.
void HmacSha256(std::string_view key, std::string_view data, std::span<uint8_t, kSha256Size> mac) {
  constexpr size_t kBlockSize = 64;
  uint8_t pad[kBlockSize] = {};
  if (key.size() > kBlockSize) {
    Sha256Of({key}, pad);
  } else if (!key.empty()) {
    std::memcpy(pad, key.data(), key.size());
  }
  for (uint8_t& byte : pad) byte ^= 0x36;
  uint8_t inner[kSha256Size];
  Sha256Of({AsText(pad, kBlockSize), data}, inner);
  for (uint8_t& byte : pad) byte ^= 0x36 ^ 0x5c;
  Sha256Of({AsText(pad, kBlockSize), AsText(inner, kSha256Size)}, mac.data());
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  // The context's last state is the MAC itself; dropping it wipes it (OpenSSL clears on free).
  EVP_MD_CTX_reset(ThreadDigestContext());
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  char* out = hex.data();
  for (unsigned char c : bytes) {
    *out++ = kDigits[c >> 4];
    *out++ = kDigits[c & 15];
  }
  return hex;
}

std::string Base64Encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length, so encode in whole 3-byte groups of bounded size.
  constexpr size_t kChunk = 3 << 20;
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  size_t written = 0;
  for (size_t offset = 0; offset < bytes.size(); offset += kChunk) {
    std::string_view chunk = bytes.substr(offset, kChunk);
    written +=
        static_cast<size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                                            Bytes(chunk), static_cast<int>(chunk.size())));
  }
  return out;  // the last NUL EVP_EncodeBlock writes lands on std::string's own terminator
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  std::string out(text.size() / 4 * 3, '\0');
  size_t size = 0;
  if (!DecodeBase64Into(text, reinterpret_cast<uint8_t*>(out.data()), &size)) {
    return Validation("invalid base64");
  }
  out.resize(size);
  return out;
}

absl::StatusOr<SecretBytes> Base64DecodeSecret(std::string_view text) {
  SecretBytes buffer(text.size() / 4 * 3);
  size_t size = 0;
  if (!DecodeBase64Into(text, buffer.data(), &size)) return Validation("invalid base64");
  if (size == buffer.size()) return buffer;
  return SecretBytes(buffer.data(), size);  // buffer is wiped when it goes
}

}  // namespace kmsd::crypto
