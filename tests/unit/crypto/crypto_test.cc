// The OpenSSL wrappers against published vectors, and the encodings' strictness.
#include "kmsd/crypto.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kmsd/errors.h"

namespace kmsd::crypto {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

SecretBytes SecretFromHex(std::string_view hex) { return SecretBytes::FromString(Unhex(hex)); }

TEST(Hkdf, MatchesRfc5869TestCase1) {
  auto okm = HkdfSha256(SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                        Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hkdf, MatchesRfc5869TestCase2WithLongInputs) {
  std::string ikm, salt, info;
  for (int i = 0; i < 80; ++i) {
    ikm.push_back(static_cast<char>(i));
    salt.push_back(static_cast<char>(0x60 + i));
    info.push_back(static_cast<char>(0xb0 + i));
  }
  auto okm = HkdfSha256(SecretBytes::FromString(ikm), salt, info, 82);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(Hkdf, MatchesRfc5869TestCase3WithEmptySaltAndInfo) {
  auto okm = HkdfSha256(SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(okm->view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(Hkdf, Sha512DiffersFromSha256AndIsDeterministic) {
  SecretBytes ikm = SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto a = HkdfSha512(ikm, "salt", "info", 64);
  auto b = HkdfSha512(ikm, "salt", "info", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->view(), b->view());
  EXPECT_NE(a->view().substr(0, 32), HkdfSha256(ikm, "salt", "info", 32)->view());
}

// Derivations reuse per-thread hashing state: nothing of one call (salt, info, key, digest) may
// carry over into the next, on this thread or another.
TEST(Hkdf, CallsDoNotInheritEachOthersParameters) {
  SecretBytes ikm = SecretFromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const std::string empty_salt_case3 =
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
  auto run = [&] {
    ASSERT_TRUE(HkdfSha512(ikm, "a salt", "some info", 64).ok());
    ASSERT_TRUE(Hkdf("SHA384", SecretBytes(48), "another salt", "x", 48).ok());
    auto okm = HkdfSha256(ikm, "", "", 42);  // after calls with a salt and info
    ASSERT_TRUE(okm.ok()) << okm.status();
    EXPECT_EQ(HexEncode(okm->view()), empty_salt_case3);
  };
  run();
  run();
  std::thread other(run);  // a fresh thread builds its own templates
  other.join();
}

TEST(Hkdf, RefusesAnUnknownDigest) {
  EXPECT_FALSE(Hkdf("NO-SUCH-DIGEST", SecretBytes(32), "", "", 32).ok());
}

// SHA-256 takes kmsd's own RFC 5869 path, the others OpenSSL's KDF: both must agree with
// OpenSSL's KDF for SHA-256 too, at every length across block boundaries.
TEST(Hkdf, Sha256AgreesWithOpenSslsKdfAtEveryLength) {
  SecretBytes ikm = SecretBytes::FromString("input keying material, 35 bytes...");
  for (size_t length : {1, 16, 31, 32, 33, 64, 65, 100, 255 * 32}) {
    for (std::string_view salt : {std::string_view(), std::string_view("salt"),
                                  std::string_view("a salt longer than one sixty-four byte "
                                                   "HMAC block, so that it gets hashed first")}) {
      auto ours = HkdfSha256(ikm, salt, "info", length);
      ASSERT_TRUE(ours.ok()) << ours.status();
      EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
      ASSERT_NE(kdf, nullptr);
      EVP_KDF_CTX* context = EVP_KDF_CTX_new(kdf);
      EVP_KDF_free(kdf);
      OSSL_PARAM params[5];
      size_t n = 0;
      params[n++] = OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>("SHA256"), 0);
      params[n++] = OSSL_PARAM_construct_octet_string(
          "key", const_cast<uint8_t*>(ikm.data()), ikm.size());
      if (!salt.empty()) {
        params[n++] = OSSL_PARAM_construct_octet_string(
            "salt", const_cast<char*>(salt.data()), salt.size());
      }
      params[n++] = OSSL_PARAM_construct_octet_string("info", const_cast<char*>("info"), 4);
      params[n] = OSSL_PARAM_construct_end();
      std::string theirs(length, '\0');
      ASSERT_EQ(EVP_KDF_derive(context, reinterpret_cast<unsigned char*>(theirs.data()), length,
                               params),
                1);
      EVP_KDF_CTX_free(context);
      EXPECT_EQ(ours->view(), theirs) << "length " << length << ", salt " << salt.size();
    }
  }
}

TEST(Hkdf, RefusesOutputLongerThan255Blocks) {
  EXPECT_FALSE(HkdfSha256(SecretBytes(32), "", "", 255 * 32 + 1).ok());
}

// Small RandomBytes come from a per-thread pool: values never repeat, within a thread across
// refills (odd sizes straddle the pool's end) or between threads; sizes 0 and above the pooled
// maximum work too.
TEST(RandomBytes, PooledValuesNeverRepeatAcrossRefillsAndThreads) {
  constexpr int kThreads = 4;
  constexpr int kEach = 3000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) {
        size_t size = 12 + static_cast<size_t>(i % 5);  // 12..16
        auto bytes = RandomBytes(size);
        ASSERT_TRUE(bytes.ok());
        ASSERT_EQ(bytes->size(), size);
        drawn[t].push_back(bytes->substr(0, 12));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> seen;
  for (const auto& values : drawn) {
    for (const std::string& value : values) EXPECT_TRUE(seen.insert(value).second);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(RandomBytes(0)->size(), 0u);
  EXPECT_EQ(RandomSecret(0)->size(), 0u);
  auto large = RandomBytes(4096);
  ASSERT_TRUE(large.ok());
  EXPECT_NE(*large, std::string(4096, '\0'));
}

// Data keys come from a per-thread pool too (RandomSecret, private DRBG): 32-byte keys never
// repeat, and never equal what RandomBytes hands out.
TEST(RandomSecret, PooledKeysNeverRepeat) {
  std::set<std::string> keys;
  for (int i = 0; i < 5000; ++i) {
    auto key = RandomSecret(32);
    ASSERT_TRUE(key.ok());
    ASSERT_EQ(key->size(), 32u);
    EXPECT_TRUE(keys.insert(std::string(key->view())).second);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(keys.count(*RandomBytes(32)), 0u);
  auto large = RandomSecret(100);  // above the pooled size: straight from the generator
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->size(), 100u);
}

TEST(AesGcm, MatchesTheGcmSpecTestCase14) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14: zero key and IV.
  auto sealed = AesGcmSeal(SecretBytes(32), std::string(12, '\0'), "", std::string(16, '\0'));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(AesGcm, MatchesTheGcmSpecTestCase16WithAssociatedData) {
  SecretBytes key =
      SecretFromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  std::string nonce = Unhex("cafebabefacedbaddecaf888");
  std::string aad = Unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  std::string plaintext = Unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  std::string expected =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b";  // ciphertext || tag
  auto sealed = AesGcmSeal(key, nonce, aad, plaintext);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), expected);
  auto opened = AesGcmOpen(key, nonce, aad, Unhex(expected));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->view(), plaintext);
}

TEST(AesGcm, EmptyPlaintextIsJustATag) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  auto sealed = AesGcmSeal(key, nonce, "aad", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kGcmTagSize);
  auto opened = AesGcmOpen(key, nonce, "aad", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->empty());
  EXPECT_FALSE(AesGcmOpen(key, nonce, "aae", *sealed).ok());
}

TEST(AesGcm, FlippingAnyBitOfCiphertextOrTagFails) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  std::string sealed = *AesGcmSeal(key, nonce, "aad", "plaintext");
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    std::string tampered = sealed;
    tampered[i / 8] = static_cast<char>(tampered[i / 8] ^ (1 << (i % 8)));
    EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", tampered).status()),
              ErrorType::kInvalidCiphertext)
        << "bit " << i;
  }
}

TEST(AesGcm, OpenRejectsAnyChangeOfAssociatedDataNonceOrKey) {
  SecretBytes key = *RandomSecret(32);
  std::string nonce = *RandomBytes(12);
  auto sealed = AesGcmSeal(key, nonce, "aad", "plaintext");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(AesGcmOpen(key, nonce, "aad", *sealed)->view(), "plaintext");
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aae", *sealed).status()), ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "", *sealed).status()), ErrorType::kInvalidCiphertext);
  std::string other_nonce = nonce;
  other_nonce[0] ^= 1;
  EXPECT_EQ(TypeOf(AesGcmOpen(key, other_nonce, "aad", *sealed).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(*RandomSecret(32), nonce, "aad", *sealed).status()),
            ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", "short").status()), ErrorType::kInvalidCiphertext);
  EXPECT_EQ(TypeOf(AesGcmOpen(key, nonce, "aad", sealed->substr(1)).status()),
            ErrorType::kInvalidCiphertext);
}

TEST(AesGcm, RefusesKeysAndNoncesOfTheWrongSize) {
  EXPECT_FALSE(AesGcmSeal(SecretBytes(16), std::string(12, '\0'), "", "p").ok());
  EXPECT_FALSE(AesGcmSeal(SecretBytes(32), std::string(16, '\0'), "", "p").ok());
  EXPECT_FALSE(AesGcmOpen(SecretBytes(31), std::string(12, '\0'), "", std::string(32, 'x')).ok());
}

TEST(Sha256AndHmac, MatchKnownValues) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Sha256AndHmac, PartsHashLikeTheirConcatenation) {
  EXPECT_EQ(HexEncode(Sha256({"a", "", "bc"})),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256({}), Sha256(""));
  std::string previous(kSha256Size, '\x5a');
  std::string line = R"({"eventVersion":"1.08","sequenceNumber":7})";
  EXPECT_EQ(Sha256({previous, line}), Sha256(previous + line));
}

std::string Text(const std::array<uint8_t, kSha256Size>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string Sha256IntoArray(std::string_view data) {
  std::array<uint8_t, kSha256Size> digest;
  Sha256(data, digest);
  return Text(digest);
}

std::string HmacSha256IntoArray(std::string_view key, std::string_view data) {
  std::array<uint8_t, kSha256Size> mac;
  HmacSha256(key, data, mac);
  return Text(mac);
}

// OpenSSL's own one-shot HMAC, the reference our HMAC must match byte for byte.
std::string ReferenceHmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

TEST(Sha256, ArrayOverloadMatchesFips180Vectors) {
  EXPECT_EQ(HexEncode(Sha256IntoArray("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256IntoArray("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256IntoArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HexEncode(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, BothOverloadsAgreeOnEveryLengthAroundTheBlockSize) {
  std::string data;
  for (int length = 0; length <= 200; ++length) {
    EXPECT_EQ(Sha256(data), Sha256IntoArray(data)) << length;
    data.push_back(static_cast<char>(length * 7));
  }
}

struct HmacVector {
  std::string key_hex;
  std::string data;
  std::string mac_hex;
};

// RFC 4231 test cases 1, 3, 4, 6 and 7 (5 truncates, 2 is above): short, 64-byte-block-filling
// and 131-byte keys (hashed first).
std::string Repeated(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out.append(piece);
  return out;
}

std::vector<HmacVector> Rfc4231Vectors() {
  return {
      {Repeated("0b", 20), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {Repeated("aa", 20), Unhex(Repeated("dd", 50)),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"0102030405060708090a0b0c0d0e0f10111213141516171819", Unhex(Repeated("cd", 50)),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {Repeated("aa", 131), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {Repeated("aa", 131),
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(HmacSha256, BothOverloadsMatchRfc4231Vectors) {
  for (const HmacVector& vector : Rfc4231Vectors()) {
    std::string key = Unhex(vector.key_hex);
    EXPECT_EQ(HexEncode(HmacSha256(key, vector.data)), vector.mac_hex) << vector.key_hex;
    EXPECT_EQ(HexEncode(HmacSha256IntoArray(key, vector.data)), vector.mac_hex) << vector.key_hex;
  }
}

TEST(HmacSha256, MatchesOpenSslForEveryKeyLengthAroundTheBlockSize) {
  std::string key;
  for (int length = 0; length <= 150; ++length) {
    std::string data = "data of length " + std::to_string(length);
    EXPECT_EQ(HmacSha256(key, data), ReferenceHmacSha256(key, data)) << length;
    EXPECT_EQ(HmacSha256IntoArray(key, data), ReferenceHmacSha256(key, data)) << length;
    key.push_back(static_cast<char>(0x80 + length));
  }
}

TEST(HmacSha256, ThreadsHashingAtOnceGetTheSameAnswers) {
  const std::string expected_mac = ReferenceHmacSha256("key", "data");
  const std::string expected_digest = Sha256("data");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int& count : mismatches) {
    threads.emplace_back([&count, &expected_mac, &expected_digest] {
      for (int i = 0; i < 2000; ++i) {
        if (HmacSha256IntoArray("key", "data") != expected_mac) ++count;
        if (Sha256IntoArray("data") != expected_digest) ++count;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(ConstantTimeEquals, ComparesLengthAndContent) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

TEST(HexEncode, IsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xf0\xff", 4)), "000ff0ff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "Zg=="},
                                                                   {"fo", "Zm8="},
                                                                   {"foo", "Zm9v"},
                                                                   {"foob", "Zm9vYg=="},
                                                                   {"fooba", "Zm9vYmE="},
                                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    EXPECT_EQ(*Base64Decode(encoded), plain);
  }
}

TEST(Base64, RoundTripsEveryLengthAndEveryByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, data);
    auto secret = Base64DecodeSecret(Base64Encode(data));
    ASSERT_TRUE(secret.ok());
    EXPECT_EQ(secret->view(), data);
    data.push_back(static_cast<char>(i));
  }
}

TEST(Base64, RejectsAnythingNotStrictStandardBase64) {
  for (std::string_view bad :
       std::initializer_list<std::string_view>{"a",        "ab",
                                               "abc",      "ab=c",
                                               "a===",     "====",
                                               "=AAA",     "ab c",
                                               "ab\nc",    "YQ==\n",
                                               " YQ==",    "YQ",
                                               "YQ=",      "YR==",
                                               "YWF=",     "-_-_",
                                               "YQ==YQ==", "Zm9v\r\n",
                                               "Zm9v=",    "Zm9v====",
                                               "Zm9\x80",  std::string_view("Zm\0v", 4)}) {
    EXPECT_EQ(TypeOf(Base64Decode(bad).status()), ErrorType::kValidation) << bad;
    EXPECT_EQ(TypeOf(Base64DecodeSecret(bad).status()), ErrorType::kValidation) << bad;
  }
}

TEST(Random, GivesDistinctValuesOfTheAskedSize) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(seen.insert(*RandomBytes(16)).second);
  EXPECT_EQ(RandomSecret(1024)->size(), 1024u);
  EXPECT_TRUE(RandomBytes(0)->empty());
}

}  // namespace
}  // namespace kmsd::crypto
