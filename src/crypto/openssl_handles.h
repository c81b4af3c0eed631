// Owning handles for OpenSSL objects (unique_ptr with each type's free function), for the files
// of src/crypto/ that hold EVP keys, contexts and ciphers. Private to src/crypto/.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace kmsd::crypto {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyContextFree {
  void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};
struct Pkcs8Free {
  // PKCS8_PRIV_KEY_INFO's free wipes the private key octets it holds.
  void operator()(PKCS8_PRIV_KEY_INFO* info) const { PKCS8_PRIV_KEY_INFO_free(info); }
};
struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
struct CipherFree {
  void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyContext = std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree>;
using Pkcs8Info = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Pkcs8Free>;
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;
using Cipher = std::unique_ptr<EVP_CIPHER, CipherFree>;

}  // namespace kmsd::crypto
