// The file seal: a private 32-byte root key file, created atomically, and AES-GCM key wrapping.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/seal.h"

namespace kmsd {
namespace {

namespace fs = std::filesystem;

class FileSealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kmsd-seal-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(std::string_view name = "root.key") const { return (dir_ / name).string(); }
  void WriteFile(const std::string& path, const std::string& content, fs::perms perms) {
    std::ofstream(path, std::ios::binary) << content;
    fs::permissions(path, perms, fs::perm_options::replace);
  }

  fs::path dir_;
};

constexpr fs::perms kOwnerOnly = fs::perms::owner_read | fs::perms::owner_write;

TEST_F(FileSealTest, CreatesAPrivate32ByteRootKeyAndNoTemporaryFiles) {
  ASSERT_TRUE(OpenFileSeal(Path()).ok());
  struct stat st;
  ASSERT_EQ(stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FileSealTest, CreatesThePrivateFileEvenUnderAPermissiveUmask) {
  mode_t old_umask = umask(0);
  auto seal = OpenFileSeal(Path());
  umask(old_umask);
  ASSERT_TRUE(seal.ok());
  EXPECT_EQ(fs::status(Path()).permissions() & fs::perms::mask, kOwnerOnly);
}

TEST_F(FileSealTest, WrapAndUnwrapRoundTripAcrossReopening) {
  auto seal = OpenFileSeal(Path());
  ASSERT_TRUE(seal.ok());
  EXPECT_EQ((*seal)->Name(), "file");
  SecretBytes secret = SecretBytes::FromString("a keyring key of thirty-two byte");
  auto wrapped = (*seal)->Wrap(secret, "core/keyring");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->size(), 1 + 12 + secret.size() + 16);  // version, nonce, ciphertext, tag
  EXPECT_EQ((*wrapped)[0], 1);
  EXPECT_EQ(wrapped->find(secret.view()), std::string::npos);
  auto reopened = OpenFileSeal(Path());
  ASSERT_TRUE(reopened.ok());
  auto unwrapped = (*reopened)->Unwrap(*wrapped, "core/keyring");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(unwrapped->view(), secret.view());
}

TEST_F(FileSealTest, WrappingTwiceGivesDifferentOutputs) {
  auto seal = OpenFileSeal(Path());
  SecretBytes secret = SecretBytes::FromString("same");
  EXPECT_NE(*(*seal)->Wrap(secret, ""), *(*seal)->Wrap(secret, ""));
}

TEST_F(FileSealTest, UnwrapFailsOnAnyFlippedBitOtherAssociatedDataOrOtherRootKey) {
  auto seal = OpenFileSeal(Path());
  ASSERT_TRUE(seal.ok());
  std::string wrapped = *(*seal)->Wrap(SecretBytes::FromString("keyring key"), "core/keyring");
  for (size_t i = 0; i < wrapped.size() * 8; ++i) {
    std::string tampered = wrapped;
    tampered[i / 8] = static_cast<char>(tampered[i / 8] ^ (1 << (i % 8)));
    EXPECT_EQ(TypeOf((*seal)->Unwrap(tampered, "core/keyring").status()),
              ErrorType::kInvalidCiphertext)
        << "bit " << i;
  }
  for (size_t size = 0; size < wrapped.size(); ++size) {
    EXPECT_FALSE((*seal)->Unwrap(wrapped.substr(0, size), "core/keyring").ok()) << size;
  }
  EXPECT_FALSE((*seal)->Unwrap(wrapped, "core/other").ok());
  auto other = OpenFileSeal(Path("other.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->Unwrap(wrapped, "core/keyring").ok());
}

TEST_F(FileSealTest, RefusesARootKeyFileReadableOrWritableByGroupOrOthers) {
  ASSERT_TRUE(OpenFileSeal(Path()).ok());
  for (fs::perms extra : {fs::perms::group_read, fs::perms::group_write, fs::perms::others_read,
                          fs::perms::others_write, fs::perms::others_exec}) {
    fs::permissions(Path(), kOwnerOnly | extra, fs::perm_options::replace);
    auto seal = OpenFileSeal(Path());
    EXPECT_FALSE(seal.ok()) << static_cast<int>(extra);
  }
  fs::permissions(Path(), fs::perms::owner_read, fs::perm_options::replace);
  EXPECT_TRUE(OpenFileSeal(Path()).ok());  // read-only for its owner is fine
}

TEST_F(FileSealTest, RefusesARootKeyFileOfTheWrongSize) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    WriteFile(Path(), std::string(size, 'k'), kOwnerOnly);
    EXPECT_FALSE(OpenFileSeal(Path()).ok()) << size;
  }
  WriteFile(Path(), std::string(32, 'k'), kOwnerOnly);
  EXPECT_TRUE(OpenFileSeal(Path()).ok());
}

TEST_F(FileSealTest, ErrorsNeverContainTheKey) {
  std::string key(32, 'S');
  WriteFile(Path(), key, kOwnerOnly | fs::perms::others_read);
  auto seal = OpenFileSeal(Path());
  ASSERT_FALSE(seal.ok());
  EXPECT_EQ(std::string(seal.status().message()).find(key), std::string::npos);
}

TEST_F(FileSealTest, RefusesASymlinkOrADirectory) {
  WriteFile(Path("real.key"), std::string(32, 'k'), kOwnerOnly);
  fs::create_symlink(Path("real.key"), Path("link.key"));
  EXPECT_FALSE(OpenFileSeal(Path("link.key")).ok());
  fs::create_directory(Path("dir.key"));
  fs::permissions(Path("dir.key"), fs::perms::owner_all, fs::perm_options::replace);
  EXPECT_FALSE(OpenFileSeal(Path("dir.key")).ok());
}

TEST_F(FileSealTest, FailsCleanlyInAMissingDirectory) {
  EXPECT_FALSE(OpenFileSeal((dir_ / "missing" / "root.key").string()).ok());
}

TEST_F(FileSealTest, ConcurrentFirstOpensAllEndUpWithTheSameRootKey) {
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<Seal>> seals(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto seal = OpenFileSeal(Path());
      ASSERT_TRUE(seal.ok()) << seal.status();
      seals[t] = std::move(*seal);
    });
  }
  for (auto& thread : threads) thread.join();
  auto wrapped = seals[0]->Wrap(SecretBytes::FromString("shared"), "");
  ASSERT_TRUE(wrapped.ok());
  for (const auto& seal : seals) {
    ASSERT_NE(seal, nullptr);
    auto unwrapped = seal->Unwrap(*wrapped, "");
    ASSERT_TRUE(unwrapped.ok());
    EXPECT_EQ(unwrapped->view(), "shared");
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace kmsd
