// The PKCS#11 HSM seal: AES-256-GCM inside the token with a key that never leaves it. The
// module is loaded once per path and process and shared (C_Initialize may run once per process).
#include "kmsd/pkcs11_seal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr uint8_t kWrapVersion = 1;
constexpr size_t kIvSize = 12;  // 96 bits, the size GCM is defined for
constexpr size_t kTagSize = 16;
constexpr size_t kMaxPinSize = 256;

std::string RvName(CK_RV rv) {
  switch (rv) {
    case CKR_OK:
      return "CKR_OK";
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED:
      return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD:
      return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_TYPE_INVALID:
      return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID:
      return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_ENCRYPTED_DATA_INVALID:
      return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
      return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_KEY_TYPE_INCONSISTENT:
      return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID:
      return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_PIN_EXPIRED:
      return "CKR_PIN_EXPIRED";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCONSISTENT:
      return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_WRITE_PROTECTED:
      return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    case CKR_USER_PIN_NOT_INITIALIZED:
      return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_BUFFER_TOO_SMALL:
      return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "CKR 0x%lx", static_cast<unsigned long>(rv));
      return hex;
    }
  }
}

absl::Status Pkcs11Error(std::string_view what, CK_RV rv) {
  return Internal(StrCat("pkcs11: ", what, ": ", RvName(rv)));
}

// A loaded, initialized module, shared by every seal of the process that names the same path.
class Module {
 public:
  static absl::StatusOr<std::shared_ptr<Module>> Load(const std::string& path) {
    static std::mutex mutex;
    static auto* loaded = new std::map<std::string, std::weak_ptr<Module>>();
    std::lock_guard lock(mutex);
    if (auto existing = (*loaded)[path].lock()) return existing;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      return Internal(
          StrCat("pkcs11: cannot load the module ", path, ": ", reason ? reason : "dlopen failed"));
    }
    auto get_function_list =
        reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    CK_FUNCTION_LIST_PTR functions = nullptr;
    if (get_function_list == nullptr || get_function_list(&functions) != CKR_OK ||
        functions == nullptr) {
      dlclose(handle);
      return Internal(StrCat("pkcs11: ", path, " is not a PKCS#11 module (no C_GetFunctionList)"));
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = functions->C_Initialize(&args);
    // Already initialized by someone else in this process: use it, leave C_Finalize to them.
    bool finalize = rv == CKR_OK;
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      dlclose(handle);
      return Pkcs11Error(StrCat("C_Initialize of ", path), rv);
    }
    auto module = std::shared_ptr<Module>(new Module(handle, functions, finalize));
    (*loaded)[path] = module;
    return module;
  }

  ~Module() {
    if (finalize_) functions_->C_Finalize(nullptr);
    dlclose(handle_);
  }

  CK_FUNCTION_LIST_PTR functions() const { return functions_; }

 private:
  Module(void* handle, CK_FUNCTION_LIST_PTR functions, bool finalize)
      : handle_(handle), functions_(functions), finalize_(finalize) {}
  void* const handle_;
  const CK_FUNCTION_LIST_PTR functions_;
  const bool finalize_;
};

// A label as PKCS#11 stores it in CK_TOKEN_INFO: blank-padded, not terminated.
std::string TrimLabel(const unsigned char* label, size_t size) {
  std::string text(reinterpret_cast<const char*>(label), size);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

absl::StatusOr<SecretBytes> ReadPin(const std::string& path) {
  if (path.empty()) return Validation("pkcs11: no PIN file (--pkcs11-pin-file)");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return Validation(
        StrCat("pkcs11: cannot open the PIN file ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Validation(StrCat("pkcs11: the PIN file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return Validation(StrCat("pkcs11: the PIN file ", path,
                             " is readable or writable by group or others; chmod 600 it"));
  }
  SecretBytes buffer(kMaxPinSize + 1);
  size_t filled = 0;
  while (filled < buffer.size()) {
    ssize_t n = read(fd, buffer.data() + filled, buffer.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return Validation(StrCat("pkcs11: cannot read the PIN file ", path));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  close(fd);
  if (filled > kMaxPinSize) {
    return Validation(
        StrCat("pkcs11: the PIN file ", path, " is longer than ", kMaxPinSize, " bytes"));
  }
  if (filled > 0 && buffer.data()[filled - 1] == '\n') --filled;
  if (filled > 0 && buffer.data()[filled - 1] == '\r') --filled;
  if (filled == 0) return Validation(StrCat("pkcs11: the PIN file ", path, " is empty"));
  return SecretBytes(buffer.data(), filled);
}

class Pkcs11Seal final : public Seal {
 public:
  Pkcs11Seal(std::shared_ptr<Module> module, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
      : module_(std::move(module)), f_(module_->functions()), session_(session), key_(key) {}

  ~Pkcs11Seal() override {
    // Closing the application's last session with the token logs it out.
    f_->C_CloseSession(session_);
  }

  std::string_view Name() const override { return "pkcs11"; }

  absl::StatusOr<std::string> Wrap(const SecretBytes& plaintext,
                                   std::string_view associated_data) override {
    // The IV comes from the OS CSPRNG, not from the token's generator, so that a weak token RNG
    // cannot repeat one.
    auto iv = crypto::RandomBytes(kIvSize);
    if (!iv.ok()) return iv.status();
    std::string wrapped = StrCat(std::string(1, static_cast<char>(kWrapVersion)), *iv);
    size_t header = wrapped.size();
    wrapped.resize(header + plaintext.size() + kTagSize);
    CK_GCM_PARAMS params = Params(*iv, associated_data);
    CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof params};
    CK_ULONG length = plaintext.size() + kTagSize;
    std::lock_guard lock(mutex_);
    CK_RV rv = f_->C_EncryptInit(session_, &mechanism, key_);
    if (rv != CKR_OK) return Pkcs11Error("C_EncryptInit (AES-GCM)", rv);
    rv = f_->C_Encrypt(session_, const_cast<CK_BYTE_PTR>(plaintext.data()), plaintext.size(),
                       reinterpret_cast<CK_BYTE_PTR>(wrapped.data() + header), &length);
    if (rv != CKR_OK) return Pkcs11Error("C_Encrypt (AES-GCM)", rv);
    if (length != plaintext.size() + kTagSize) {
      return Internal("pkcs11: the token's AES-GCM output has an unexpected length");
    }
    return wrapped;
  }

  absl::StatusOr<SecretBytes> Unwrap(std::string_view wrapped,
                                     std::string_view associated_data) override {
    if (wrapped.size() < 1 + kIvSize + kTagSize ||
        static_cast<uint8_t>(wrapped[0]) != kWrapVersion) {
      return Error(ErrorType::kInvalidCiphertext, "wrapped key is malformed");
    }
    std::string iv(wrapped.substr(1, kIvSize));
    std::string sealed(wrapped.substr(1 + kIvSize));
    CK_GCM_PARAMS params = Params(iv, associated_data);
    CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof params};
    // Some tokens want room for the tag in the output too; the result is cut to its length.
    SecretBytes plaintext(sealed.size());
    CK_ULONG length = plaintext.size();
    std::lock_guard lock(mutex_);
    CK_RV rv = f_->C_DecryptInit(session_, &mechanism, key_);
    if (rv != CKR_OK) return Pkcs11Error("C_DecryptInit (AES-GCM)", rv);
    rv = f_->C_Decrypt(session_, reinterpret_cast<CK_BYTE_PTR>(sealed.data()), sealed.size(),
                       plaintext.data(), &length);
    if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
      return Error(ErrorType::kInvalidCiphertext,
                   "the wrapped key does not open with this token's key (wrong key, or altered)");
    }
    if (rv != CKR_OK) return Pkcs11Error("C_Decrypt (AES-GCM)", rv);
    if (length > plaintext.size()) return Internal("pkcs11: C_Decrypt overran its buffer");
    return SecretBytes(plaintext.data(), length);
  }

 private:
  // The GCM parameters point into iv and associated_data, which must outlive the operation.
  static CK_GCM_PARAMS Params(const std::string& iv, std::string_view associated_data) {
    CK_GCM_PARAMS params{};
    params.pIv = reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(iv.data()));
    params.ulIvLen = iv.size();
    params.ulIvBits = iv.size() * 8;
    params.pAAD = reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(associated_data.data()));
    params.ulAADLen = associated_data.size();
    params.ulTagBits = kTagSize * 8;
    return params;
  }

  const std::shared_ptr<Module> module_;
  const CK_FUNCTION_LIST_PTR f_;
  std::mutex mutex_;                 // a PKCS#11 session runs one operation at a time
  const CK_SESSION_HANDLE session_;  // GUARDED_BY(mutex_)
  const CK_OBJECT_HANDLE key_;
};

absl::StatusOr<CK_SLOT_ID> FindToken(CK_FUNCTION_LIST_PTR f, const Pkcs11SealOptions& options) {
  CK_ULONG count = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) return Pkcs11Error("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(count);
  if (count > 0) {
    rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return Pkcs11Error("C_GetSlotList", rv);
    slots.resize(count);
  }
  std::vector<std::string> labels;
  std::vector<CK_SLOT_ID> matches;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    // An uninitialized token (SoftHSM's free slot) has no label to offer.
    if (f->C_GetTokenInfo(slot, &info) != CKR_OK || !(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    std::string label = TrimLabel(info.label, sizeof info.label);
    if (label == options.token_label) matches.push_back(slot);
    labels.push_back(StrCat("\"", label, "\""));
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    return Validation(StrCat("pkcs11: ", matches.size(), " tokens are labeled \"",
                             options.token_label, "\" in ", options.module_path,
                             "; give each token a unique label"));
  }
  return NotFound(StrCat(
      "pkcs11: no token labeled \"", options.token_label, "\" in ", options.module_path,
      " (tokens found: ", labels.empty() ? std::string("none") : StrJoin(labels, ", "), ")"));
}

// Finds the secret keys labeled label; more than one is an error (which would we use?).
absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> FindKey(CK_FUNCTION_LIST_PTR f,
                                                        CK_SESSION_HANDLE session,
                                                        const std::string& label) {
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_ATTRIBUTE search[] = {
      {CKA_CLASS, &secret_key, sizeof secret_key},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  CK_RV rv = f->C_FindObjectsInit(session, search, 2);
  if (rv != CKR_OK) return Pkcs11Error("C_FindObjectsInit", rv);
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  rv = f->C_FindObjects(session, found, 2, &count);
  f->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return Pkcs11Error("C_FindObjects", rv);
  if (count > 1) {
    return Validation(StrCat("pkcs11: more than one secret key is labeled \"", label,
                             "\" in the token; kmsd needs exactly one"));
  }
  if (count == 0) return std::optional<CK_OBJECT_HANDLE>();
  return std::optional<CK_OBJECT_HANDLE>(found[0]);
}

absl::StatusOr<CK_OBJECT_HANDLE> GenerateKey(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE session,
                                             const std::string& label) {
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG size = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE key_template[] = {
      {CKA_CLASS, &secret_key, sizeof secret_key},
      {CKA_KEY_TYPE, &aes, sizeof aes},
      {CKA_VALUE_LEN, &size, sizeof size},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_ENCRYPT, &yes, sizeof yes},
      {CKA_DECRYPT, &yes, sizeof yes},
      {CKA_WRAP, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no},
      {CKA_SIGN, &no, sizeof no},
      {CKA_VERIFY, &no, sizeof no},
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_RV rv = f->C_GenerateKey(session, &mechanism, key_template,
                              sizeof key_template / sizeof key_template[0], &key);
  if (rv != CKR_OK) {
    return Pkcs11Error(StrCat("cannot generate the AES-256 key \"", label, "\" in the token"), rv);
  }
  return key;
}

// Refuses a key that cannot do the job, or whose value could leave the token.
absl::Status CheckKey(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                      const std::string& label) {
  CK_KEY_TYPE type = 0;
  CK_ULONG size = 0;
  CK_BBOOL encrypt = CK_FALSE, decrypt = CK_FALSE, sensitive = CK_FALSE, extractable = CK_TRUE;
  CK_ATTRIBUTE attributes[] = {
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_VALUE_LEN, &size, sizeof size},
      {CKA_ENCRYPT, &encrypt, sizeof encrypt},
      {CKA_DECRYPT, &decrypt, sizeof decrypt},
      {CKA_SENSITIVE, &sensitive, sizeof sensitive},
      {CKA_EXTRACTABLE, &extractable, sizeof extractable},
  };
  CK_RV rv =
      f->C_GetAttributeValue(session, key, attributes, sizeof attributes / sizeof attributes[0]);
  std::string unusable = StrCat("pkcs11: the key \"", label, "\" is not usable: ");
  if (rv != CKR_OK) return Internal(StrCat(unusable, "C_GetAttributeValue: ", RvName(rv)));
  if (type != CKK_AES || size != 32)
    return Validation(StrCat(unusable, "it is not an AES-256 key"));
  if (!encrypt || !decrypt) {
    return Validation(StrCat(unusable,
                             "it is not allowed to encrypt and decrypt (CKA_ENCRYPT, "
                             "CKA_DECRYPT)"));
  }
  if (!sensitive || extractable) {
    return Validation(StrCat(unusable,
                             "its value could leave the token (it must be CKA_SENSITIVE "
                             "and not CKA_EXTRACTABLE)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Seal>> OpenPkcs11Seal(const Pkcs11SealOptions& options) {
  if (options.module_path.empty()) return Validation("pkcs11: no module (--pkcs11-module)");
  if (options.token_label.empty())
    return Validation("pkcs11: no token label (--pkcs11-token-label)");
  if (options.key_label.empty()) return Validation("pkcs11: no key label (--pkcs11-key-label)");
  // The PIN file is checked before the module runs: a bad file is the operator's to fix first.
  auto pin = ReadPin(options.pin_file);
  if (!pin.ok()) return pin.status();
  auto module = Module::Load(options.module_path);
  if (!module.ok()) return module.status();
  CK_FUNCTION_LIST_PTR f = (*module)->functions();
  auto slot = FindToken(f, options);
  if (!slot.ok()) return slot.status();

  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_RV rv =
      f->C_OpenSession(*slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
  if (rv != CKR_OK) {
    return Pkcs11Error(StrCat("cannot open a session with token \"", options.token_label, "\""),
                       rv);
  }
  auto fail = [&](absl::Status status) -> absl::StatusOr<std::unique_ptr<Seal>> {
    f->C_CloseSession(session);
    return status;
  };
  rv = f->C_Login(session, CKU_USER, pin->data(), pin->size());
  pin->Clear();
  if (rv == CKR_PIN_INCORRECT) {
    return fail(Error(ErrorType::kAccessDenied,
                      StrCat("pkcs11: wrong PIN for token \"", options.token_label,
                             "\" (CKR_PIN_INCORRECT; the PIN file is ", options.pin_file, ")")));
  }
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    return fail(Pkcs11Error(StrCat("cannot log in to token \"", options.token_label, "\""), rv));
  }
  auto found = FindKey(f, session, options.key_label);
  if (!found.ok()) return fail(found.status());
  CK_OBJECT_HANDLE key;
  if (found->has_value()) {
    key = **found;
  } else if (options.create_key) {
    auto generated = GenerateKey(f, session, options.key_label);
    if (!generated.ok()) return fail(generated.status());
    key = *generated;
  } else {
    return fail(NotFound(StrCat("pkcs11: no key labeled \"", options.key_label, "\" in token \"",
                                options.token_label, "\"")));
  }
  if (auto usable = CheckKey(f, session, key, options.key_label); !usable.ok()) {
    return fail(usable);
  }
  return std::unique_ptr<Seal>(std::make_unique<Pkcs11Seal>(*module, session, key));
}

}  // namespace kmsd
