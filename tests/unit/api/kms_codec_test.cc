// The KMS codec's choice of thread: which requests run on an I/O thread and which are offloaded.
#include <gtest/gtest.h>

#include "api/codec.h"
#include "api/kms/codec.h"
#include "kmsd/http.h"

namespace kmsd::api {
namespace {

HttpRequest Body(std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.body = std::move(body);
  return request;
}

TEST(KmsCodec, SymmetricDecryptRunsOnTheIoThread) {
  auto codec = NewKmsCodec(static_cast<KmsService*>(nullptr));
  EXPECT_FALSE(codec->MayBlockRequest("Decrypt", Body(R"({"CiphertextBlob":"AAAA"})")));
  EXPECT_FALSE(codec->MayBlockRequest("Encrypt", Body(R"({"KeyId":"k","Plaintext":"AA=="})")));
}

TEST(KmsCodec, RsaDecryptAndReEncryptAreOffloaded) {
  auto codec = NewKmsCodec(static_cast<KmsService*>(nullptr));
  EXPECT_TRUE(codec->MayBlockRequest(
      "Decrypt",
      Body(R"({"KeyId":"k","CiphertextBlob":"AAAA","EncryptionAlgorithm":"RSAES_OAEP_SHA_256"})")));
  EXPECT_TRUE(codec->MayBlockRequest(
      "ReEncrypt",
      Body(R"({"SourceEncryptionAlgorithm":"RSAES_OAEP_SHA_1","DestinationKeyId":"d"})")));
}

TEST(KmsCodec, OperationsThatWriteAreOffloadedWhateverTheBody) {
  auto codec = NewKmsCodec(static_cast<KmsService*>(nullptr));
  EXPECT_TRUE(codec->MayBlockRequest("CreateKey", Body("{}")));
  EXPECT_TRUE(codec->MayBlockRequest("GenerateDataKeyPair", Body("{}")));
  EXPECT_TRUE(codec->MayBlockRequest("NoSuchOperation", Body("{}")));
}

TEST(KmsCodec, PrivateKeyOperationsGoToTheComputePool) {
  auto codec = NewKmsCodec(static_cast<KmsService*>(nullptr));
  for (const char* operation : {"Sign", "Verify", "DeriveSharedSecret"}) {
    EXPECT_TRUE(codec->MayBlockRequest(operation, Body("{}"))) << operation;
    EXPECT_TRUE(codec->ComputeBoundRequest(operation, Body("{}"))) << operation;
  }
  EXPECT_TRUE(codec->ComputeBoundRequest(
      "Decrypt",
      Body(R"({"KeyId":"k","CiphertextBlob":"AAAA","EncryptionAlgorithm":"RSAES_OAEP_SHA_256"})")));
}

TEST(KmsCodec, OperationsThatWriteOrRunInlineAreNotComputeBound) {
  auto codec = NewKmsCodec(static_cast<KmsService*>(nullptr));
  // Writers may wait for storage: the blocking pool, even when the body names RSAES.
  EXPECT_FALSE(codec->ComputeBoundRequest("CreateKey", Body(R"({"x":"RSAES_OAEP_SHA_1"})")));
  EXPECT_FALSE(codec->ComputeBoundRequest("GenerateDataKeyPair", Body("{}")));
  EXPECT_FALSE(codec->ComputeBoundRequest("NoSuchOperation", Body("{}")));
  // Symmetric Encrypt and GenerateMac stay on the I/O thread.
  EXPECT_FALSE(codec->ComputeBoundRequest("Encrypt", Body(R"({"KeyId":"k","Plaintext":"AA=="})")));
  EXPECT_FALSE(codec->ComputeBoundRequest("GenerateMac", Body("{}")));
}

}  // namespace
}  // namespace kmsd::api
