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
  std::string other = *blob;
  other[0] = 2;
  EXPECT_EQ(TypeOf(ParseBlobHeader(other).status()), ErrorType::kInvalidCiphertext);
}

}  // namespace
}  // namespace kmsd
