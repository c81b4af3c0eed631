// The ciphertext blob: round trips, and any change to any byte, key or context fails.
#include "kmsd/ciphertext_blob.h"

#include <gtest/gtest.h>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/uuid.h"

namespace kmsd {
namespace {

SecretBytes NewKey() { return *crypto::RandomSecret(32); }

TEST(CiphertextBlob, RoundTripsAndReadsItsHeader) {
  SecretBytes key = NewKey();
  BlobHeader header{NewUuid(), 7};
  auto blob = SealBlob(header, key, {{"a", "1"}}, "secret");
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->size(), kBlobOverhead + 6);
  auto parsed = ParseBlobHeader(*blob);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->key_id, header.key_id);
  EXPECT_EQ(parsed->backing_key_version, 7u);
  auto opened = OpenBlob(*blob, key, {{"a", "1"}});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->view(), "secret");
}

TEST(CiphertextBlob, FlippingAnyBitOfAnyByteFailsToOpen) {
  SecretBytes key = NewKey();
  auto blob = SealBlob({NewUuid(), 1}, key, {{"purpose", "test"}}, "sixteen byte msg");
  ASSERT_TRUE(blob.ok());
  for (size_t i = 0; i < blob->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = *blob;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      auto opened = OpenBlob(tampered, key, {{"purpose", "test"}});
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(TypeOf(opened.status()), ErrorType::kInvalidCiphertext);
    }
  }
}

TEST(CiphertextBlob, TruncatedOrExtendedBlobsFail) {
  SecretBytes key = NewKey();
  auto blob = SealBlob({NewUuid(), 1}, key, {}, "x");
  ASSERT_TRUE(blob.ok());
  for (size_t size = 0; size < blob->size(); ++size) {
    EXPECT_FALSE(OpenBlob(blob->substr(0, size), key, {}).ok()) << size;
  }
  EXPECT_FALSE(OpenBlob(*blob + "x", key, {}).ok());
}

TEST(CiphertextBlob, AnyOtherContextFails) {
  SecretBytes key = NewKey();
  EncryptionContext context{{"user", "alice"}, {"app", "a"}};
  auto blob = SealBlob({NewUuid(), 1}, key, context, "p");
  ASSERT_TRUE(blob.ok());
  for (const EncryptionContext& other :
       {EncryptionContext{}, EncryptionContext{{"user", "alice"}},
        EncryptionContext{{"user", "alice"}, {"app", "b"}},
        EncryptionContext{{"user", "alice"}, {"app", "a"}, {"x", ""}},
        EncryptionContext{{"useralice", ""}, {"app", "a"}}}) {
    EXPECT_EQ(TypeOf(OpenBlob(*blob, key, other).status()), ErrorType::kInvalidCiphertext);
  }
}

TEST(CiphertextBlob, ContextEncodingIsUnambiguous) {
  EXPECT_NE(EncodeEncryptionContext({{"ab", "c"}}), EncodeEncryptionContext({{"a", "bc"}}));
  EXPECT_NE(EncodeEncryptionContext({}), EncodeEncryptionContext({{"", ""}}));
}

TEST(CiphertextBlob, AnotherKeyFails) {
  auto blob = SealBlob({NewUuid(), 1}, NewKey(), {}, "p");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(TypeOf(OpenBlob(*blob, NewKey(), {}).status()), ErrorType::kInvalidCiphertext);
}

TEST(CiphertextBlob, SamePlaintextNeverGivesTheSameBlob) {
  SecretBytes key = NewKey();
  BlobHeader header{NewUuid(), 1};
  EXPECT_NE(*SealBlob(header, key, {}, "same"), *SealBlob(header, key, {}, "same"));
}

TEST(CiphertextBlob, UnknownFormatVersionIsInvalidCiphertext) {
  auto blob = SealBlob({NewUuid(), 1}, NewKey(), {}, "p");
  ASSERT_TRUE(blob.ok());
  for (int version : {0, 3, 0xff}) {
    std::string other = *blob;
    other[0] = static_cast<char>(version);
    EXPECT_EQ(TypeOf(ParseBlobHeader(other).status()), ErrorType::kInvalidCiphertext);
  }
}

// Issue 13: multi-Region keys ("mrk-" ids) use format 2, the same layout.
TEST(CiphertextBlob, MultiRegionKeyIdRoundTripsInFormat2) {
  SecretBytes key = NewKey();
  std::string key_id = NewMultiRegionKeyId();
  auto blob = SealBlob({key_id, 3}, key, {{"a", "1"}}, "secret");
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(static_cast<uint8_t>((*blob)[0]), kBlobFormatVersionMultiRegion);
  EXPECT_EQ(blob->size(), kBlobOverhead + 6);
  auto parsed = ParseBlobHeader(*blob);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->key_id, key_id);
  EXPECT_EQ(parsed->backing_key_version, 3u);
  auto opened = OpenBlob(*blob, key, {{"a", "1"}});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->view(), "secret");
}

TEST(CiphertextBlob, UuidKeysStayInFormat1) {
  auto blob = SealBlob({NewUuid(), 1}, NewKey(), {}, "p");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(static_cast<uint8_t>((*blob)[0]), kBlobFormatVersion);
}

TEST(CiphertextBlob, SwitchingTheFormatByteNamesAnotherKeyAndFailsToOpen) {
  SecretBytes key = NewKey();
  std::string uuid = NewUuid();
  auto blob = SealBlob({uuid, 1}, key, {}, "p");
  ASSERT_TRUE(blob.ok());
  std::string other = *blob;
  other[0] = static_cast<char>(kBlobFormatVersionMultiRegion);
  auto parsed = ParseBlobHeader(other);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(IsMultiRegionKeyId(parsed->key_id));
  EXPECT_EQ(*KeyIdToBytes(parsed->key_id), *UuidToBytes(uuid));
  EXPECT_EQ(TypeOf(OpenBlob(other, key, {}).status()), ErrorType::kInvalidCiphertext);
}

TEST(CiphertextBlob, LayoutIsVersionKeyIdBigEndianVersionSaltNonceCiphertextTag) {
  std::string key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
  auto blob = SealBlob({key_id, 0x01020304}, NewKey(), {}, "four");
  ASSERT_TRUE(blob.ok());
  ASSERT_EQ(blob->size(), kBlobHeaderSize + 4 + 16);
  EXPECT_EQ((*blob)[0], 1);
  EXPECT_EQ(blob->substr(1, 16), *UuidToBytes(key_id));
  EXPECT_EQ(blob->substr(17, 4), std::string("\x01\x02\x03\x04", 4));
}

TEST(CiphertextBlob, HeaderParsesFromHandBuiltBytes) {
  std::string blob(1, '\x01');
  blob += *UuidToBytes("00112233-4455-6677-8899-aabbccddeeff");
  blob += std::string("\x00\x00\x01\x00", 4);
  blob += std::string(16 + 12 + 16, '\0');  // salt, nonce, tag of an empty plaintext
  auto header = ParseBlobHeader(blob);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->key_id, "00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_EQ(header->backing_key_version, 256u);
}

TEST(CiphertextBlob, HeaderOfAShortBlobOrVersionZeroIsInvalidCiphertext) {
  auto blob = SealBlob({NewUuid(), 1}, NewKey(), {}, "");
  ASSERT_TRUE(blob.ok());
  ASSERT_EQ(blob->size(), kBlobOverhead);
  EXPECT_TRUE(ParseBlobHeader(*blob).ok());
  for (size_t size = 0; size < kBlobOverhead; ++size) {
    EXPECT_EQ(TypeOf(ParseBlobHeader(blob->substr(0, size)).status()),
              ErrorType::kInvalidCiphertext)
        << size;
  }
  std::string zero_version = *blob;
  zero_version.replace(17, 4, std::string(4, '\0'));
  EXPECT_EQ(TypeOf(ParseBlobHeader(zero_version).status()), ErrorType::kInvalidCiphertext);
}

TEST(CiphertextBlob, EmptyPlaintextRoundTrips) {
  SecretBytes key = NewKey();
  auto blob = SealBlob({NewUuid(), 1}, key, {{"k", "v"}}, "");
  ASSERT_TRUE(blob.ok());
  auto opened = OpenBlob(*blob, key, {{"k", "v"}});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->empty());
}

TEST(CiphertextBlob, SealRefusesAKeyIdThatIsNotAUuidOrVersionZero) {
  EXPECT_FALSE(SealBlob({"alias/foo", 1}, NewKey(), {}, "p").ok());
  EXPECT_FALSE(SealBlob({NewUuid(), 0}, NewKey(), {}, "p").ok());
}

TEST(CiphertextBlob, UpperCaseKeyIdComesBackCanonical) {
  auto blob = SealBlob({"1234ABCD-12AB-34CD-56EF-1234567890AB", 1}, NewKey(), {}, "p");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(ParseBlobHeader(*blob)->key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
}

TEST(CiphertextBlob, AnotherBackingKeyVersionInTheHeaderFails) {
  SecretBytes key = NewKey();
  auto blob = SealBlob({NewUuid(), 1}, key, {}, "p");
  ASSERT_TRUE(blob.ok());
  std::string relabelled = *blob;
  relabelled[20] = 2;  // claims version 2, sealed under the same key: the header is authenticated
  EXPECT_EQ(TypeOf(OpenBlob(relabelled, key, {}).status()), ErrorType::kInvalidCiphertext);
}

TEST(CiphertextBlob, ContextEncodingIsSortedAndLengthPrefixed) {
  EXPECT_EQ(EncodeEncryptionContext({}), std::string(4, '\0'));
  EXPECT_EQ(EncodeEncryptionContext({{"b", "2"}, {"a", "1"}}), std::string("\0\0\0\x02"
                                                                           "\0\0\0\x01"
                                                                           "a"
                                                                           "\0\0\0\x01"
                                                                           "1"
                                                                           "\0\0\0\x01"
                                                                           "b"
                                                                           "\0\0\0\x01"
                                                                           "2",
                                                                           4 + 10 + 10));
}

}  // namespace
}  // namespace kmsd
