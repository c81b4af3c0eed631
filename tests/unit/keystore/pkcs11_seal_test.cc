// The PKCS#11 seal against SoftHSM2 (Debian's softhsm2, scripts/install-deps): a fresh token in a
// temp dir per test; the test inspects the token with PKCS#11 calls of its own.
#include "kmsd/pkcs11_seal.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

namespace fs = std::filesystem;

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kToken[] = "kmsd-test";
constexpr char kPin[] = "1234-user-pin";
constexpr std::string_view kAssociatedData = "core/keyring";

// The test's own view of the token, opened while no seal is (SoftHSM is one per process).
class TokenInspector {
 public:
  TokenInspector() {
    handle_ = dlopen(kModule, RTLD_NOW | RTLD_LOCAL);
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle_, "C_GetFunctionList"));
    get(&f_);
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    EXPECT_EQ(f_->C_Initialize(&args), CKR_OK);
    CK_SLOT_ID slots[8];
    CK_ULONG count = 8;
    EXPECT_EQ(f_->C_GetSlotList(CK_TRUE, slots, &count), CKR_OK);
    for (CK_ULONG i = 0; i < count; ++i) {
      CK_TOKEN_INFO info;
      f_->C_GetTokenInfo(slots[i], &info);
      if (std::string(reinterpret_cast<char*>(info.label), sizeof info.label).rfind(kToken, 0) ==
          0) {
        EXPECT_EQ(f_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                    &session_),
                  CKR_OK);
      }
    }
    std::string pin = kPin;
    EXPECT_EQ(
        f_->C_Login(session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()), pin.size()),
        CKR_OK);
  }
  ~TokenInspector() {
    f_->C_CloseSession(session_);
    f_->C_Finalize(nullptr);
    dlclose(handle_);
  }

  CK_OBJECT_HANDLE Find(const std::string& label) {
    CK_ATTRIBUTE search[] = {{CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    f_->C_FindObjectsInit(session_, search, 1);
    CK_OBJECT_HANDLE found = CK_INVALID_HANDLE;
    CK_ULONG count = 0;
    f_->C_FindObjects(session_, &found, 1, &count);
    f_->C_FindObjectsFinal(session_);
    return count == 1 ? found : CK_INVALID_HANDLE;
  }

  CK_BBOOL Flag(CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL value = 2;
    CK_ATTRIBUTE attribute{type, &value, sizeof value};
    EXPECT_EQ(f_->C_GetAttributeValue(session_, key, &attribute, 1), CKR_OK);
    return value;
  }

  CK_RV ReadValue(CK_OBJECT_HANDLE key) {
    uint8_t value[64];
    CK_ATTRIBUTE attribute{CKA_VALUE, value, sizeof value};
    return f_->C_GetAttributeValue(session_, key, &attribute, 1);
  }

  // An AES-256 key the seal must refuse: its value may leave the token.
  void GenerateExtractableKey(const std::string& label) {
    CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG size = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE key_template[] = {
        {CKA_CLASS, &secret_key, sizeof secret_key},
        {CKA_KEY_TYPE, &aes, sizeof aes},
        {CKA_VALUE_LEN, &size, sizeof size},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_SENSITIVE, &no, sizeof no},
        {CKA_EXTRACTABLE, &yes, sizeof yes},
        {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},
    };
    CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE key;
    ASSERT_EQ(f_->C_GenerateKey(session_, &mechanism, key_template, 9, &key), CKR_OK);
  }

 private:
  void* handle_ = nullptr;
  CK_FUNCTION_LIST_PTR f_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
};

class Pkcs11SealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kModule)) << kModule << " is missing: run scripts/install-deps";
    dir_ = fs::temp_directory_path() /
           StrCat("kmsd-pkcs11-", getpid(), "-",
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tokens");
    std::ofstream(dir_ / "softhsm2.conf") << "directories.tokendir = " << (dir_ / "tokens").string()
                                          << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);
    std::string init = StrCat("softhsm2-util --init-token --free --label ", kToken, " --pin ", kPin,
                              " --so-pin 5678-so-pin >/dev/null");
    ASSERT_EQ(std::system(init.c_str()), 0) << "softhsm2-util failed: run scripts/install-deps";
    WritePin(PinFile(), StrCat(kPin, "\n"), 0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string PinFile() const { return (dir_ / "pin").string(); }
  void WritePin(const std::string& path, const std::string& pin, mode_t mode) {
    std::ofstream(path, std::ios::trunc) << pin;
    chmod(path.c_str(), mode);
  }
  Pkcs11SealOptions Options(bool create_key = true) const {
    Pkcs11SealOptions options;
    options.module_path = kModule;
    options.token_label = kToken;
    options.pin_file = PinFile();
    options.create_key = create_key;
    return options;
  }
  static SecretBytes KeyringKey() { return *crypto::RandomSecret(32); }

  fs::path dir_;
};

TEST_F(Pkcs11SealTest, WrapsAndUnwrapsAcrossReopening) {
  SecretBytes keyring = KeyringKey();
  std::string wrapped;
  {
    auto seal = OpenPkcs11Seal(Options());
    ASSERT_TRUE(seal.ok()) << seal.status();
    EXPECT_EQ((*seal)->Name(), "pkcs11");
    auto result = (*seal)->Wrap(keyring, kAssociatedData);
    ASSERT_TRUE(result.ok()) << result.status();
    wrapped = *result;
  }
  EXPECT_EQ(wrapped.size(), 1 + 12 + 32 + 16u);
  EXPECT_EQ(wrapped.find(std::string(keyring.view())), std::string::npos);
  auto reopened = OpenPkcs11Seal(Options(/*create_key=*/false));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto unwrapped = (*reopened)->Unwrap(wrapped, kAssociatedData);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(unwrapped->view(), keyring.view());
}

TEST_F(Pkcs11SealTest, EachWrapUsesAFreshIv) {
  auto seal = OpenPkcs11Seal(Options());
  ASSERT_TRUE(seal.ok()) << seal.status();
  SecretBytes keyring = KeyringKey();
  EXPECT_NE(*(*seal)->Wrap(keyring, kAssociatedData), *(*seal)->Wrap(keyring, kAssociatedData));
}

TEST_F(Pkcs11SealTest, EveryFlippedBitAndOtherAssociatedDataFailToUnwrap) {
  auto seal = OpenPkcs11Seal(Options());
  ASSERT_TRUE(seal.ok()) << seal.status();
  std::string wrapped = *(*seal)->Wrap(KeyringKey(), kAssociatedData);
  EXPECT_FALSE((*seal)->Unwrap(wrapped, "core/other").ok());
  for (size_t bit = 0; bit < wrapped.size() * 8; ++bit) {
    std::string flipped = wrapped;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_FALSE((*seal)->Unwrap(flipped, kAssociatedData).ok()) << "bit " << bit;
  }
}

TEST_F(Pkcs11SealTest, GeneratedKeyIsSensitiveNonExtractableAndStaysInTheToken) {
  ASSERT_TRUE(OpenPkcs11Seal(Options()).ok());
  TokenInspector token;
  CK_OBJECT_HANDLE key = token.Find(kDefaultPkcs11KeyLabel);
  ASSERT_NE(key, CK_INVALID_HANDLE);
  EXPECT_EQ(token.Flag(key, CKA_SENSITIVE), CK_TRUE);
  EXPECT_EQ(token.Flag(key, CKA_EXTRACTABLE), CK_FALSE);
  EXPECT_EQ(token.Flag(key, CKA_TOKEN), CK_TRUE);
  EXPECT_EQ(token.ReadValue(key), CKR_ATTRIBUTE_SENSITIVE);
}

TEST_F(Pkcs11SealTest, WrongPinIsRefusedWithoutShowingIt) {
  WritePin(PinFile(), "9999-wrong-pin\n", 0600);
  auto seal = OpenPkcs11Seal(Options());
  ASSERT_FALSE(seal.ok());
  std::string message(ToStd(seal.status().message()));
  EXPECT_NE(message.find("wrong PIN"), std::string::npos) << message;
  EXPECT_NE(message.find("CKR_PIN_INCORRECT"), std::string::npos) << message;
  EXPECT_EQ(message.find("9999"), std::string::npos) << message;
}

TEST_F(Pkcs11SealTest, PinFileReadableByOthersIsRefused) {
  WritePin(PinFile(), kPin, 0644);
  auto seal = OpenPkcs11Seal(Options());
  ASSERT_FALSE(seal.ok());
  EXPECT_NE(seal.status().message().find("chmod 600"), absl::string_view::npos) << seal.status();
}

TEST_F(Pkcs11SealTest, PinWithoutTrailingNewlineWorksToo) {
  WritePin(PinFile(), kPin, 0400);
  EXPECT_TRUE(OpenPkcs11Seal(Options()).ok());
}

TEST_F(Pkcs11SealTest, MissingTokenIsRefusedListingTheLabelsFound) {
  Pkcs11SealOptions options = Options();
  options.token_label = "no-such-token";
  auto seal = OpenPkcs11Seal(options);
  ASSERT_FALSE(seal.ok());
  EXPECT_EQ(TypeOf(seal.status()), ErrorType::kNotFound);
  std::string message(ToStd(seal.status().message()));
  EXPECT_NE(message.find("no token labeled \"no-such-token\""), std::string::npos) << message;
  EXPECT_NE(message.find(StrCat("\"", kToken, "\"")), std::string::npos) << message;
}

TEST_F(Pkcs11SealTest, MissingKeyIsRefusedAndNotCreatedWhenNotAskedTo) {
  Pkcs11SealOptions options = Options(/*create_key=*/false);
  options.key_label = "operator-key";
  auto seal = OpenPkcs11Seal(options);
  ASSERT_FALSE(seal.ok());
  EXPECT_EQ(TypeOf(seal.status()), ErrorType::kNotFound);
  EXPECT_NE(seal.status().message().find("no key labeled \"operator-key\""),
            absl::string_view::npos)
      << seal.status();
  TokenInspector token;
  EXPECT_EQ(token.Find("operator-key"), CK_INVALID_HANDLE);
}

TEST_F(Pkcs11SealTest, ExtractableKeyIsRefusedAsNotUsable) {
  { TokenInspector(/*log in*/).GenerateExtractableKey("weak"); }
  Pkcs11SealOptions options = Options(/*create_key=*/false);
  options.key_label = "weak";
  auto seal = OpenPkcs11Seal(options);
  ASSERT_FALSE(seal.ok());
  EXPECT_NE(seal.status().message().find("could leave the token"), absl::string_view::npos)
      << seal.status();
}

TEST_F(Pkcs11SealTest, ModuleThatDoesNotLoadIsNamed) {
  Pkcs11SealOptions options = Options();
  options.module_path = (dir_ / "no-such-module.so").string();
  auto seal = OpenPkcs11Seal(options);
  ASSERT_FALSE(seal.ok());
  EXPECT_NE(seal.status().message().find("cannot load the module"), absl::string_view::npos)
      << seal.status();
}

TEST_F(Pkcs11SealTest, ConcurrentWrapsAndUnwrapsAreSafe) {
  auto seal = OpenPkcs11Seal(Options());
  ASSERT_TRUE(seal.ok()) << seal.status();
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        SecretBytes keyring = KeyringKey();
        auto wrapped = (*seal)->Wrap(keyring, kAssociatedData);
        auto unwrapped = wrapped.ok() ? (*seal)->Unwrap(*wrapped, kAssociatedData)
                                      : absl::StatusOr<SecretBytes>(wrapped.status());
        if (!unwrapped.ok() || unwrapped->view() != keyring.view()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace kmsd
