// A small client of the AWS KMS API (kmsd or anything that speaks it), for the kms tool. It finds
// its endpoint, region and credentials the way the AWS tools do. Not thread-safe: one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/sigv4.h"

namespace kmsd::client {

struct ClientSettings {
  std::string endpoint_url;  // e.g. http://127.0.0.1:7600 or https://kms.us-east-1.amazonaws.com
  std::string region;
  sigv4::Credentials credentials;
  std::string endpoint_source;  // where endpoint_url came from, for error messages
};

// What the command line said; empty fields fall back to the environment and ~/.aws files, in the
// order of the AWS SDKs and CLI:
// - region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config.
// - endpoint (AWS's "service-specific endpoints"): --endpoint-url, AWS_ENDPOINT_URL_KMS,
//   AWS_ENDPOINT_URL, the profile's services section (`services = NAME`, then in
//   [services NAME] `kms =` with an indented `endpoint_url = URL`), the profile's endpoint_url,
//   else https://kms.REGION.amazonaws.com. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true (or the
//   profile's ignore_configured_endpoint_urls = true) ignores all but --endpoint-url.
// - credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), else the profile
//   (--profile, AWS_PROFILE, "default") in AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//   then in ~/.aws/config (AWS_CONFIG_FILE). A --profile on the command line wins over the
//   environment's keys.
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

// kms decrypt's --key-id is compared with the key ARN that each encrypted data key of a message
// records (as the AWS Encryption SDK's strict mode does), so it must be a key ARN. KMS's Decrypt
// itself also takes a key id, an alias name or an alias ARN; those are refused here with a
// Validation error that says what was given and how to find the key ARN.
absl::Status RequireKeyArn(std::string_view key_id);

// Every request carries the User-Agent "kms/VERSION" (the CMake project's version).
absl::StatusOr<std::unique_ptr<KmsClient>> NewKmsClient(ClientSettings settings);

// The version of kms and of this client, e.g. "0.1.0".
std::string_view Version();
std::string UserAgent();

}  // namespace kmsd::client
