// The wrap shared by the seals that hold a root key in memory (file, shares): AES-256-GCM.
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/seal.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr uint8_t kWrapVersion = 1;

class RootKeySeal final : public Seal {
 public:
  RootKeySeal(std::string name, SecretBytes root_key)
      : name_(std::move(name)), root_key_(std::move(root_key)) {}

  std::string_view Name() const override { return name_; }

  absl::StatusOr<std::string> Wrap(const SecretBytes& plaintext,
                                   std::string_view associated_data) override {
    auto nonce = crypto::RandomBytes(crypto::kGcmNonceSize);
    if (!nonce.ok()) return nonce.status();
    auto sealed = crypto::AesGcmSeal(root_key_, *nonce, associated_data, plaintext.view());
    if (!sealed.ok()) return sealed.status();
    return StrCat(std::string(1, static_cast<char>(kWrapVersion)), *nonce, *sealed);
  }

  absl::StatusOr<SecretBytes> Unwrap(std::string_view wrapped,
                                     std::string_view associated_data) override {
    if (wrapped.size() < 1 + crypto::kGcmNonceSize + crypto::kGcmTagSize ||
        static_cast<uint8_t>(wrapped[0]) != kWrapVersion) {
      return Error(ErrorType::kInvalidCiphertext, "wrapped key is malformed");
    }
    return crypto::AesGcmOpen(root_key_, wrapped.substr(1, crypto::kGcmNonceSize), associated_data,
                              wrapped.substr(1 + crypto::kGcmNonceSize));
  }

 private:
  const std::string name_;
  const SecretBytes root_key_;
};

}  // namespace

std::unique_ptr<Seal> NewRootKeySeal(std::string name, SecretBytes root_key) {
  return std::make_unique<RootKeySeal>(std::move(name), std::move(root_key));
}

}  // namespace kmsd
