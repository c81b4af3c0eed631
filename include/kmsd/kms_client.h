// A small client of the AWS KMS API (kmsd or anything that speaks it), for the kms tool. It finds
// its endpoint, region and credentials the way the AWS tools do. Not thread-safe: one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/sigv4.h"

namespace kmsd::client {

struct ClientSettings {
  std::string endpoint_url;  // e.g. http://127.0.0.1:7600 or https://kms.us-east-1.amazonaws.com
  std::string region;
  sigv4::Credentials credentials;
};

// What the command line said; empty fields fall back to the environment and ~/.aws files:
// endpoint: --endpoint-url, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL,
// https://kms.REGION.amazonaws.com region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
// region in ~/.aws/config credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN),
// else the profile
// (--profile, AWS_PROFILE, "default") in AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
struct ClientFlags {
  std::string endpoint_url;
  std::string region;
  std::string profile;
};
absl::StatusOr<ClientSettings> ResolveSettings(const ClientFlags& flags);

struct DataKey {
  SecretBytes plaintext;
  std::string ciphertext_blob;
  std::string key_arn;
};

class KmsClient {
 public:
  virtual ~KmsClient() = default;
  virtual absl::StatusOr<DataKey> GenerateDataKey(const std::string& key_id, size_t bytes,
                                                  const EncryptionContext& context) = 0;
  // Returns the blob and the ARN of the key that made it.
  virtual absl::StatusOr<std::pair<std::string, std::string>> Encrypt(
      const std::string& key_id, const SecretBytes& plaintext,
      const EncryptionContext& context) = 0;
  // Returns the plaintext and the ARN of the key that opened it.
  virtual absl::StatusOr<std::pair<SecretBytes, std::string>> Decrypt(
      const std::string& blob, const EncryptionContext& context, const std::string& key_id) = 0;
};

absl::StatusOr<std::unique_ptr<KmsClient>> NewKmsClient(ClientSettings settings);

}  // namespace kmsd::client
