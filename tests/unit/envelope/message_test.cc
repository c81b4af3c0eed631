// The message format without a network: a local stand-in for KMS wraps data keys, so every
// tampering of every byte, truncation and reordering can be tried quickly.
#include <gtest/gtest.h>

#include "kmsd/crypto.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/uuid.h"

namespace kmsd::envelope {
namespace {

// Wraps data keys with a local blob key, as a KMS would; enough to exercise the format.
class LocalKms final : public client::KmsClient {
 public:
  LocalKms() : key_(*crypto::RandomSecret(32)), key_id_(NewUuid()) {}
  absl::StatusOr<client::DataKey> GenerateDataKey(const std::string&, size_t bytes,
                                                  const EncryptionContext& context) override {
    client::DataKey key;
    key.plaintext = *crypto::RandomSecret(bytes);
    key.ciphertext_blob = *SealBlob({key_id_, 1}, key_, context, key.plaintext.view());
    key.key_arn = "arn:aws:kms:us-east-1:111122223333:key/" + key_id_;
    return key;
  }
  absl::StatusOr<std::pair<std::string, std::string>> Encrypt(
      const std::string&, const SecretBytes& plaintext, const EncryptionContext& context) override {
    return std::make_pair(*SealBlob({key_id_, 1}, key_, context, plaintext.view()),
                          "arn:aws:kms:us-east-1:111122223333:key/" + key_id_);
  }
  absl::StatusOr<std::pair<SecretBytes, std::string>> Decrypt(
      const std::string& blob, const EncryptionContext& context, const std::string&) override {
    auto opened = OpenBlob(blob, key_, context);
    if (!opened.ok()) return opened.status();
    return std::make_pair(std::move(*opened), std::string("arn"));
  }

 private:
  SecretBytes key_;
  std::string key_id_;
};

class StringInput final : public Input {
 public:
  explicit StringInput(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(uint8_t* buffer, size_t size) override {
    size_t n = std::min(size, data_.size() - position_);
    std::memcpy(buffer, data_.data() + position_, n);
    position_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t position_ = 0;
};

class StringOutput final : public Output {
 public:
  absl::Status Write(const uint8_t* data, size_t size) override {
    text.append(reinterpret_cast<const char*>(data), size);
    return absl::OkStatus();
  }
  std::string text;
};

class MessageTest : public ::testing::Test {
 protected:
  std::string Seal(const std::string& plaintext, uint16_t suite, uint32_t frame_length,
                   EncryptionContext context = {{"purpose", "test"}}) {
    EncryptOptions options;
    options.key_ids = {"key"};
    options.context = std::move(context);
    options.algorithm_suite = suite;
    options.frame_length = frame_length;
    StringInput in(plaintext);
    StringOutput out;
    absl::Status status = Encrypt(kms_, options, in, out);
    EXPECT_TRUE(status.ok()) << status;
    return out.text;
  }
  absl::StatusOr<std::string> Open(const std::string& message, DecryptOptions options = {}) {
    StringInput in(message);
    StringOutput out;
    absl::Status status = Decrypt(kms_, options, in, out);
    if (!status.ok()) return status;
    return out.text;
  }
  LocalKms kms_;
};

TEST_F(MessageTest, RoundTripsEverySizeAroundFrameBoundaries) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    for (size_t size : {0, 1, 63, 64, 65, 128, 129, 1000}) {
      std::string plaintext(size, 'p');
      auto opened = Open(Seal(plaintext, suite, 64));
      ASSERT_TRUE(opened.ok()) << suite << " " << size << ": " << opened.status();
      EXPECT_EQ(*opened, plaintext);
    }
  }
}

TEST_F(MessageTest, HeaderStartsWithVersionTwoAndTheSuite) {
  std::string message = Seal("x", kCommitKey, 4096);
  EXPECT_EQ(message[0], 2);
  EXPECT_EQ(static_cast<uint8_t>(message[1]), 0x04);
  EXPECT_EQ(static_cast<uint8_t>(message[2]), 0x78);
}

TEST_F(MessageTest, FlippingAnyByteFails) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    std::string message = Seal(std::string(150, 'q'), suite, 64);
    for (size_t i = 0; i < message.size(); ++i) {
      std::string tampered = message;
      tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
      EXPECT_FALSE(Open(tampered).ok()) << "suite " << suite << " byte " << i;
    }
  }
}

TEST_F(MessageTest, EveryTruncationFails) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    std::string message = Seal(std::string(200, 't'), suite, 64);
    for (size_t size = 0; size < message.size(); ++size) {
      EXPECT_FALSE(Open(message.substr(0, size)).ok()) << suite << " " << size;
    }
  }
}

TEST_F(MessageTest, ReorderedFramesFail) {
  // Unsigned suite, frame length 64: header, then frames of 4+12+64+16 = 96 bytes.
  std::string message = Seal(std::string(64 * 3, 'r'), kCommitKey, 64);
  size_t frames_start = message.size() - (96 * 2) - (4 + 4 + 12 + 4 + 64 + 16);
  std::string first = message.substr(frames_start, 96);
  std::string second = message.substr(frames_start + 96, 96);
  std::string swapped = message.substr(0, frames_start) + second + first +
                        message.substr(frames_start + 192);
  ASSERT_EQ(swapped.size(), message.size());
  auto opened = Open(swapped);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(std::string(opened.status().message()).find("out of order"), std::string::npos)
      << opened.status();
}

TEST_F(MessageTest, RequiredContextMustMatch) {
  std::string message = Seal("c", kCommitKey, 64, {{"a", "1"}, {"b", "2"}});
  DecryptOptions options;
  options.required_context = {{"a", "1"}};
  EXPECT_TRUE(Open(message, options).ok());
  options.required_context = {{"a", "2"}};
  EXPECT_FALSE(Open(message, options).ok());
  options.required_context = {{"c", "1"}};
  EXPECT_FALSE(Open(message, options).ok());
}

TEST_F(MessageTest, TooManyEncryptedDataKeysAreRefused) {
  std::string message = Seal("k", kCommitKey, 64);
  DecryptOptions options;
  options.max_encrypted_data_keys = 0;
  EXPECT_EQ(TypeOf(Open(message, options).status()), ErrorType::kLimitExceeded);
}

TEST_F(MessageTest, UnknownSuitesAndVersionsAreRefused) {
  std::string message = Seal("s", kCommitKey, 64);
  std::string other_suite = message;
  other_suite[2] = 0x14;  // 0x0414: not supported
  EXPECT_EQ(TypeOf(Open(other_suite).status()), ErrorType::kUnsupportedOperation);
  std::string other_version = message;
  other_version[0] = 3;
  EXPECT_FALSE(Open(other_version).ok());
}

TEST_F(MessageTest, ReservedContextKeysAreRefusedOnEncrypt) {
  EncryptOptions options;
  options.key_ids = {"key"};
  options.context = {{"aws-crypto-public-key", "x"}};
  StringInput in("x");
  StringOutput out;
  EXPECT_FALSE(Encrypt(kms_, options, in, out).ok());
}

TEST_F(MessageTest, HostileHeadersNeverCrash) {
  std::string message = Seal("h", kCommitKeyEcdsaP384, 64);
  uint32_t seed = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string mutated = message.substr(0, 200);
    for (int k = 0; k < 4; ++k) {
      seed = seed * 1103515245 + 12345;
      mutated[seed % mutated.size()] = static_cast<char>(seed >> 16);
    }
    EXPECT_FALSE(Open(mutated).ok());
  }
}

}  // namespace
}  // namespace kmsd::envelope
