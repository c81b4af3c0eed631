// Ed25519 through OpenSSL 3 EVP: key generation, PEM storage, signing and verification.
#include "audit/signing.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/trail_format.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdContextPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, size > 0 ? static_cast<size_t>(size) : 0);
}

absl::StatusOr<PkeyPtr> ReadPublicKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
              &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return Validation("the audit public key is not an Ed25519 public key in PEM form");
  }
  return key;
}

class Ed25519SigningKey : public SigningKey {
 public:
  explicit Ed25519SigningKey(PkeyPtr key) : key_(std::move(key)) {}

  absl::StatusOr<std::string> Sign(std::string_view message) const override {
    MdContextPtr context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::string signature(64, '\0');
    size_t size = signature.size();
    // Ed25519 is one-shot: no digest, whole message at once.
    if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
      return Internal("cannot sign the audit digest");
    }
    signature.resize(size);
    return signature;
  }

  std::string PublicKeyPem() const override {
    BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) return "";
    return BioText(bio.get());
  }

 private:
  PkeyPtr key_;
};

absl::StatusOr<std::unique_ptr<SigningKey>> ReadPrivateKey(const std::string& path,
                                                           const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr,
              &EVP_PKEY_free);
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return Internal(StrCat(path, " is not an Ed25519 private key in PEM form"));
  }
  return std::unique_ptr<SigningKey>(new Ed25519SigningKey(std::move(key)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SigningKey>> SigningKey::Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(StrCat("no audit signing key at ", path));
  if ((st.st_mode & 077) != 0) {
    return Internal(StrCat(path, " is readable by group or others; chmod 600 it"));
  }
  auto pem = ReadWholeFile(path);
  if (!pem.ok()) return pem.status();
  auto key = ReadPrivateKey(path, *pem);
  OPENSSL_cleanse(pem->data(), pem->size());
  return key;
}

absl::StatusOr<std::unique_ptr<SigningKey>> SigningKey::LoadOrCreate(const std::string& path) {
  if (access(path.c_str(), F_OK) == 0) return Load(path);
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free);
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!key || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("cannot generate the audit signing key");
  }
  std::string pem = BioText(bio.get());
  // O_EXCL: two starts racing must not overwrite each other's key.
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Internal(StrCat("cannot create the audit signing key ", path));
  bool written = write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  written = fsync(fd) == 0 && written;
  close(fd);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!written) return Internal(StrCat("cannot write the audit signing key ", path));
  return std::unique_ptr<SigningKey>(new Ed25519SigningKey(std::move(key)));
}

absl::StatusOr<std::string> PublicKeyFingerprint(const std::string& public_key_pem) {
  auto key = ReadPublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key->get(), &der);
  if (size <= 0) return Internal("cannot encode the audit public key");
  std::string fingerprint =
      crypto::HexEncode(crypto::Sha256(std::string_view(reinterpret_cast<const char*>(der), size)));
  OPENSSL_free(der);
  return fingerprint;
}

absl::StatusOr<bool> VerifySignature(const std::string& public_key_pem, std::string_view message,
                                     std::string_view signature) {
  auto key = ReadPublicKey(public_key_pem);
  if (!key.ok()) return key.status();
  MdContextPtr context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return Internal("cannot set up Ed25519 verification");
  }
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace kmsd::audit
