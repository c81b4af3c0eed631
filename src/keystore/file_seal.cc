// The development Seal: a 256-bit root key in a file readable by its owner only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/seal.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr uint8_t kWrapVersion = 1;

class FileSeal final : public Seal {
 public:
  explicit FileSeal(SecretBytes root_key) : root_key_(std::move(root_key)) {}

  std::string_view Name() const override { return "file"; }

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
    return crypto::AesGcmOpen(root_key_, wrapped.substr(1, crypto::kGcmNonceSize),
                              associated_data, wrapped.substr(1 + crypto::kGcmNonceSize));
  }

 private:
  const SecretBytes root_key_;
};

absl::StatusOr<SecretBytes> CreateRootKey(const std::string& path) {
  auto key = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!key.ok()) return key.status();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal(StrCat("cannot create root key file ", path));
  bool ok = write(fd, key->data(), key->size()) == static_cast<ssize_t>(key->size());
  ok = fsync(fd) == 0 && ok;
  close(fd);
  if (!ok) {
    unlink(path.c_str());
    return Internal(StrCat("cannot write root key file ", path));
  }
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Seal>> OpenFileSeal(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno != ENOENT) return Internal(StrCat("cannot open root key file ", path));
    auto key = CreateRootKey(path);
    if (!key.ok()) return key.status();
    return std::unique_ptr<Seal>(std::make_unique<FileSeal>(std::move(*key)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Internal(StrCat("cannot stat root key file ", path));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return Validation(StrCat("root key file ", path,
                             " is readable or writable by group or others; chmod 600 it"));
  }
  if (st.st_size != static_cast<off_t>(crypto::kAes256KeySize)) {
    close(fd);
    return Validation(StrCat("root key file ", path, " must hold exactly 32 bytes"));
  }
  SecretBytes key(crypto::kAes256KeySize);
  bool ok = read(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
  close(fd);
  if (!ok) return Internal(StrCat("cannot read root key file ", path));
  return std::unique_ptr<Seal>(std::make_unique<FileSeal>(std::move(key)));
}

}  // namespace kmsd
