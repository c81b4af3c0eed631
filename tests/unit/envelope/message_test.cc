// The message format without a network: a local stand-in for KMS wraps data keys, so every
// tampering of every byte, truncation and reordering can be tried quickly.
#include <gtest/gtest.h>

#include <tuple>

#include "envelope/format.h"
#include "envelope/primitives.h"
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
  absl::StatusOr<std::pair<SecretBytes, std::string>> Decrypt(const std::string& blob,
                                                              const EncryptionContext& context,
                                                              const std::string&) override {
    auto opened = OpenBlob(blob, key_, context);
    if (!opened.ok()) return opened.status();
    return std::make_pair(std::move(*opened), std::string("arn"));
  }

 private:
  SecretBytes key_;
  std::string key_id_;
};

// Lends its bytes in place (as a mapped file does) on every call, every other call, or never.
enum class Lending { kNever, kAlways, kAlternately };

class StringInput final : public Input {
 public:
  explicit StringInput(std::string data, Lending lending = Lending::kNever)
      : data_(std::move(data)), lending_(lending) {}
  absl::StatusOr<size_t> Read(uint8_t* buffer, size_t size) override {
    size_t n = std::min(size, data_.size() - position_);
    std::memcpy(buffer, data_.data() + position_, n);
    position_ += n;
    return n;
  }
  absl::StatusOr<std::optional<InputView>> ReadView(size_t size) override {
    ++views_asked_;
    if (lending_ == Lending::kNever || (lending_ == Lending::kAlternately && views_asked_ % 2)) {
      return std::nullopt;
    }
    InputView view;
    view.data = reinterpret_cast<const uint8_t*>(data_.data()) + position_;
    view.size = std::min(size, data_.size() - position_);
    position_ += view.size;
    return view;
  }

 private:
  std::string data_;
  Lending lending_;
  size_t position_ = 0;
  int views_asked_ = 0;
};

class StringOutput final : public Output {
 public:
  absl::Status Write(const uint8_t* data, size_t size) override {
    if (text.size() + size > fail_after) return absl::DataLossError("disk full");
    text.append(reinterpret_cast<const char*>(data), size);
    return absl::OkStatus();
  }
  std::string text;
  size_t fail_after = std::string::npos;
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
    options.worker_threads = threads_;
    options.block_bytes = block_bytes_;
    StringInput in(plaintext, lending_);
    StringOutput out;
    absl::Status status = Encrypt(kms_, options, in, out);
    EXPECT_TRUE(status.ok()) << status;
    return out.text;
  }
  absl::StatusOr<std::string> Open(const std::string& message, DecryptOptions options = {}) {
    StringOutput out;
    absl::Status status = OpenInto(message, out, options);
    if (!status.ok()) return status;
    return out.text;
  }
  absl::Status OpenInto(const std::string& message, StringOutput& out,
                        DecryptOptions options = {}) {
    options.worker_threads = threads_;
    options.block_bytes = block_bytes_;
    StringInput in(message, lending_);
    return Decrypt(kms_, options, in, out);
  }
  LocalKms kms_;
  int threads_ = 0;
  size_t block_bytes_ = kDefaultBlockBytes;
  Lending lending_ = Lending::kNever;
};

// The same behaviours with the pipeline on and off, blocks of a few frames so that messages span
// many blocks, and inputs that lend their bytes in place or not: (worker threads, block bytes,
// lending).
class PipelineTest : public MessageTest,
                     public ::testing::WithParamInterface<std::tuple<int, size_t, Lending>> {
 protected:
  void SetUp() override { std::tie(threads_, block_bytes_, lending_) = GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Pipelines, PipelineTest,
                         ::testing::Values(std::make_tuple(0, kDefaultBlockBytes, Lending::kNever),
                                           std::make_tuple(0, kDefaultBlockBytes, Lending::kAlways),
                                           std::make_tuple(0, size_t{128}, Lending::kNever),
                                           std::make_tuple(1, size_t{128}, Lending::kAlways),
                                           std::make_tuple(3, size_t{128}, Lending::kAlternately),
                                           std::make_tuple(3, size_t{64}, Lending::kAlways)));

TEST_P(PipelineTest, RoundTripsEverySizeAroundFrameAndBlockBoundaries) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    for (size_t size : {0, 1, 63, 64, 65, 127, 128, 129, 256, 640, 1000}) {
      std::string plaintext = *crypto::RandomBytes(size);
      auto opened = Open(Seal(plaintext, suite, 64));
      ASSERT_TRUE(opened.ok()) << suite << " " << size << ": " << opened.status();
      EXPECT_EQ(*opened, plaintext);
    }
  }
}

TEST_P(PipelineTest, FlippingAnyByteFails) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    std::string message = Seal(std::string(300, 'q'), suite, 64);
    for (size_t i = 0; i < message.size(); ++i) {
      std::string tampered = message;
      tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
      EXPECT_FALSE(Open(tampered).ok()) << "suite " << suite << " byte " << i;
    }
  }
}

TEST_P(PipelineTest, EveryTruncationFails) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    std::string message = Seal(std::string(300, 't'), suite, 64);
    for (size_t size = 0; size < message.size(); ++size) {
      EXPECT_FALSE(Open(message.substr(0, size)).ok()) << suite << " " << size;
    }
  }
}

TEST_P(PipelineTest, FramesSwappedAnywhereFail) {
  // Unsigned suite, frame length 64, 5 regular frames of 4+12+64+16 = 96 bytes, then the final.
  std::string message = Seal(std::string(64 * 5 + 10, 'r'), kCommitKey, 64);
  size_t final_size = 4 + 4 + 12 + 4 + 10 + 16;
  size_t body = message.size() - final_size - 5 * 96;
  for (size_t a = 0; a < 5; ++a) {
    for (size_t b = a + 1; b < 5; ++b) {
      std::string swapped = message;
      swapped.replace(body + a * 96, 96, message, body + b * 96, 96);
      swapped.replace(body + b * 96, 96, message, body + a * 96, 96);
      auto opened = Open(swapped);
      ASSERT_FALSE(opened.ok()) << a << " " << b;
      EXPECT_NE(std::string(opened.status().message()).find("out of order"), std::string::npos)
          << opened.status();
    }
  }
}

TEST_P(PipelineTest, ReleasesNothingWhenTheLastBlockFails) {
  for (uint16_t suite : {kCommitKeyEcdsaP384, kCommitKey}) {
    std::string message = Seal(std::string(100, 'n'), suite, 64);
    message[message.size() - 1] ^= 0x01;  // signature, or the final frame's tag
    StringOutput out;
    EXPECT_FALSE(OpenInto(message, out).ok());
    if (block_bytes_ >= 128) {
      EXPECT_EQ(out.text, "") << suite;
    }
  }
}

TEST_P(PipelineTest, WriteFailuresAreReported) {
  std::string message = Seal(std::string(1000, 'w'), kCommitKey, 64);
  StringOutput out;
  out.fail_after = 100;
  EXPECT_FALSE(OpenInto(message, out).ok());
}

TEST_F(MessageTest, HeaderStartsWithVersionTwoAndTheSuite) {
  std::string message = Seal("x", kCommitKey, 4096);
  EXPECT_EQ(message[0], 2);
  EXPECT_EQ(static_cast<uint8_t>(message[1]), 0x04);
  EXPECT_EQ(static_cast<uint8_t>(message[2]), 0x78);
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

TEST_F(MessageTest, AnInputEndingOnABlockEndsWithAnEmptyFinalFrame) {
  block_bytes_ = 128;
  std::string message = Seal(std::string(256, 'e'), kCommitKey, 64);
  // The final frame: marker, sequence number 5, IV, content length 0, tag.
  std::string final_frame = message.substr(message.size() - (4 + 4 + 12 + 4 + 16));
  EXPECT_EQ(final_frame.substr(0, 8), std::string("\xff\xff\xff\xff\0\0\0\x05", 8));
  EXPECT_EQ(final_frame.substr(20, 4), std::string(4, '\0'));
  EXPECT_EQ(*Open(message), std::string(256, 'e'));
}

TEST_F(MessageTest, AWrongCommitmentIsRefusedBeforeAnyFrame) {
  std::string message = Seal("commit", kCommitKey, 64);
  StringInput in(message);
  StreamReader reader(in);
  auto header = ReadHeader(reader, 10);
  ASSERT_TRUE(header.ok());
  size_t commitment_at = header->body.size() - 32;  // the commitment ends the header body
  message[commitment_at] ^= 0x40;
  auto opened = Open(message);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(std::string(opened.status().message()).find("commitment"), std::string::npos)
      << opened.status();
}

TEST_F(MessageTest, EveryKeyIdWrapsTheDataKeyAndTheLimitCountsThem) {
  EncryptOptions options;
  options.key_ids = {"one", "two", "three"};
  StringInput in("three keys");
  StringOutput out;
  ASSERT_TRUE(Encrypt(kms_, options, in, out).ok());
  DecryptOptions limit;
  limit.max_encrypted_data_keys = 2;
  auto refused = Open(out.text, limit);
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kLimitExceeded);
  EXPECT_NE(std::string(refused.status().message()).find("3 encrypted data keys"),
            std::string::npos);
  limit.max_encrypted_data_keys = 3;
  EXPECT_EQ(*Open(out.text, limit), "three keys");
}

TEST_F(MessageTest, DecryptCanBeLimitedToTrustedKeys) {
  std::string message = Seal("trusted", kCommitKey, 64);
  DecryptOptions options;
  options.key_arns = {"arn:aws:kms:us-east-1:111122223333:key/other"};
  EXPECT_EQ(TypeOf(Open(message, options).status()), ErrorType::kIncorrectKey);
  StringInput in(message);
  StreamReader reader(in);
  options.key_arns.push_back(ReadHeader(reader, 10)->data_keys[0].provider_info);
  EXPECT_EQ(*Open(message, options), "trusted");
}

TEST_F(MessageTest, EncryptRefusesBadOptions) {
  for (auto change : std::vector<std::function<void(EncryptOptions&)>>{
           [](EncryptOptions& o) { o.key_ids.clear(); },
           [](EncryptOptions& o) { o.frame_length = 0; },
           [](EncryptOptions& o) { o.frame_length = kMaxFrameLength + 1; },
           [](EncryptOptions& o) { o.algorithm_suite = kHkdfSha384EcdsaP384; },
           [](EncryptOptions& o) { o.algorithm_suite = 0x0014; },
       }) {
    EncryptOptions options;
    options.key_ids = {"key"};
    change(options);
    StringInput in("x");
    StringOutput out;
    EXPECT_EQ(TypeOf(Encrypt(kms_, options, in, out)), ErrorType::kValidation);
    EXPECT_EQ(out.text, "");
  }
}

TEST_F(MessageTest, HeadersClaimingHugeFramesAreRefused) {
  Header header;
  header.suite = FindSuite(kCommitKey);
  header.message_id = std::string(32, 'm');
  header.data_keys = {{"aws-kms", "arn", "blob"}};
  header.frame_length = kMaxFrameLength + 1;
  header.commitment = std::string(32, 'c');
  std::string message = SerializeHeaderBodyV2(header) + std::string(16, 't');
  auto opened = Open(message);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(std::string(opened.status().message()).find("frame length"), std::string::npos);
}

TEST_F(MessageTest, GarbageOfAnyLengthIsRefused) {
  uint32_t seed = 7;
  for (size_t size = 0; size < 400; ++size) {
    std::string garbage(size, '\0');
    for (char& c : garbage) {
      seed = seed * 1103515245 + 12345;
      c = static_cast<char>(seed >> 16);
    }
    // Plausible starts reach deeper into the parser.
    if (size >= 3 && size % 2 == 0) garbage.replace(0, 3, "\x02\x04\x78", 3);
    EXPECT_FALSE(Open(garbage).ok()) << size;
  }
}

// Version 1 messages (no commitment, 16-byte message id, header IV), written here by hand as the
// older Encryption SDKs write them, so decrypt's reading of them is tested without those SDKs.
class VersionOneTest : public MessageTest {
 protected:
  std::string SealV1(uint16_t suite_id, const std::string& plaintext, uint32_t frame_length) {
    const Suite& suite = *FindSuite(suite_id);
    EncryptionContext context = {{"purpose", "v1"}};
    std::optional<Signature> signer;
    if (suite.signing) {
      signer.emplace(*Signature::NewSigner());
      context["aws-crypto-public-key"] = crypto::Base64Encode(signer->PublicKey());
    }
    auto data_key = *kms_.GenerateDataKey("key", 32, context);
    std::string message_id = *crypto::RandomBytes(16);
    auto keys = *DeriveKeys(suite, data_key.plaintext, message_id);
    auto cipher = *FrameCipher::Create(keys.data_key, true);

    std::string body;
    body += '\x01';
    body += '\x80';
    PutU16(body, suite.id);
    body += message_id;
    std::string aad = SerializeContext(context);
    PutU16(body, aad.size());
    body += aad;
    PutU16(body, 1);
    for (const std::string& field :
         {std::string("aws-kms"), data_key.key_arn, data_key.ciphertext_blob}) {
      PutU16(body, field.size());
      body += field;
    }
    body += '\x02';
    PutU32(body, 0);
    body += static_cast<char>(kIvSize);
    PutU32(body, frame_length);
    uint8_t header_iv[kIvSize] = {1, 2, 3};
    uint8_t tag[kTagSize];
    EXPECT_TRUE(cipher.Run(header_iv, body, nullptr, 0, nullptr, tag).ok());
    std::string message = body + std::string(reinterpret_cast<char*>(header_iv), kIvSize) +
                          std::string(reinterpret_cast<char*>(tag), kTagSize);
    size_t frames = plaintext.size() / frame_length + 1;
    for (size_t i = 0; i < frames; ++i) {
      bool final_frame = i + 1 == frames;
      uint32_t sequence = static_cast<uint32_t>(i + 1);
      std::string content = plaintext.substr(i * frame_length, frame_length);
      std::string frame;
      if (final_frame) PutU32(frame, kFinalFrameMarker);
      PutU32(frame, sequence);
      uint8_t iv[kIvSize];
      FrameIv(sequence, iv);
      frame.append(reinterpret_cast<char*>(iv), kIvSize);
      if (final_frame) PutU32(frame, content.size());
      uint8_t frame_aad[kMaxFrameAadSize];
      size_t aad_size = FrameAad(message_id, final_frame, sequence, content.size(), frame_aad);
      std::string sealed(content.size(), '\0');
      EXPECT_TRUE(cipher
                      .Run(iv, {reinterpret_cast<char*>(frame_aad), aad_size},
                           reinterpret_cast<const uint8_t*>(content.data()), content.size(),
                           reinterpret_cast<uint8_t*>(sealed.data()), tag)
                      .ok());
      message += frame + sealed + std::string(reinterpret_cast<char*>(tag), kTagSize);
    }
    if (signer) {
      signer->Update(reinterpret_cast<const uint8_t*>(message.data()), message.size());
      std::string der = *signer->Sign();
      PutU16(message, der.size());
      message += der;
    }
    return message;
  }
};

TEST_F(VersionOneTest, DecryptsVersionOneSuites) {
  for (uint16_t suite : {kHkdfSha256, kHkdfSha384EcdsaP384}) {
    for (size_t size : {0, 5, 64, 200}) {
      std::string plaintext(size, 'v');
      std::string message = SealV1(suite, plaintext, 64);
      auto opened = Open(message);
      ASSERT_TRUE(opened.ok()) << suite << " " << size << ": " << opened.status();
      EXPECT_EQ(*opened, plaintext);
      for (size_t i = 0; i < message.size(); i += 7) {
        std::string tampered = message;
        tampered[i] ^= 0x10;
        EXPECT_FALSE(Open(tampered).ok()) << suite << " byte " << i;
      }
    }
  }
}

}  // namespace
}  // namespace kmsd::envelope
