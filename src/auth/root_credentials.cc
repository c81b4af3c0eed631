// A credential store that knows only the account root: the layers below IAM, and their tests,
// need no identity service.
#include <openssl/crypto.h>

#include "kmsd/credentials.h"
#include "kmsd/errors.h"

namespace kmsd {
namespace {

class RootOnlyCredentialStore final : public CredentialStore {
 public:
  RootOnlyCredentialStore(std::string account_id, std::string access_key_id,
                          std::string secret_access_key) {
    auto credential = std::make_shared<Credential>();
    credential->secret_access_key = SecretBytes::FromString(secret_access_key);
    OPENSSL_cleanse(secret_access_key.data(), secret_access_key.size());
    credential->principal =
        std::make_shared<const Principal>(RootPrincipal(account_id, access_key_id));
    root_ = std::move(credential);
  }

  absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view access_key_id,
                                                         std::string_view session_token,
                                                         int64_t) const override {
    if (access_key_id != root_->principal->access_key_id) {
      return Error(ErrorType::kUnrecognizedClient,
                   "The security token included in the request is invalid.");
    }
    if (!session_token.empty()) {
      return Error(ErrorType::kInvalidClientTokenId,
                   "The security token included in the request is invalid.");
    }
    return root_;
  }

 private:
  std::shared_ptr<const Credential> root_;
};

}  // namespace

std::unique_ptr<CredentialStore> NewRootOnlyCredentialStore(std::string account_id,
                                                            std::string access_key_id,
                                                            std::string secret_access_key) {
  return std::make_unique<RootOnlyCredentialStore>(std::move(account_id), std::move(access_key_id),
                                                   std::move(secret_access_key));
}

}  // namespace kmsd
