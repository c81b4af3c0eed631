// The shares seal: parameters in seal.json, the Unsealer's protocol (progress, duplicates,
// mistyped and foreign shares, a wrong recombination, the timeout) and the unseal socket.
#include "kmsd/shares_seal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "kmsd/errors.h"
#include "kmsd/keystore.h"
#include "kmsd/seal.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "kmsd/unseal_channel.h"

namespace kmsd {
namespace {

using std::chrono::steady_clock;

std::string Text(const SecretBytes& text) { return std::string(text.view()); }

// A data dir's keystore under a shares root key, and an Unsealer whose `open` checks the
// recombined key against it the way kmsd serve does.
class UnsealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto generated = GenerateShares(5, 3);
    ASSERT_TRUE(generated.ok()) << generated.status();
    generated_ = std::move(*generated);
    backend_ = NewMemoryBackend();
    auto seal = NewRootKeySeal("shares", generated_.root_key.Clone());
    ASSERT_TRUE(OpenKeystore(backend_.get(), seal.get()).ok());
    unsealer_ = std::make_unique<Unsealer>(
        generated_.parameters,
        [this](SecretBytes root_key) {
          ++opens_;
          auto seal = NewRootKeySeal("shares", std::move(root_key));
          return CheckKeyringUnwraps(backend_.get(), seal.get());
        },
        std::chrono::seconds(300), [this] { return now_; });
  }
  std::string Share(int number) const { return Text(generated_.texts[number - 1]); }

  GeneratedShares generated_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Unsealer> unsealer_;
  steady_clock::time_point now_ = steady_clock::time_point() + std::chrono::hours(1);
  int opens_ = 0;
};

TEST_F(UnsealerTest, ReportsProgressAndUnsealsAtTheThreshold) {
  EXPECT_EQ(unsealer_->Progress().given, 0);
  EXPECT_EQ(unsealer_->Progress().threshold, 3);
  auto first = unsealer_->Submit(Share(2));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->unsealed);
  EXPECT_EQ(first->given, 1);
  auto second = unsealer_->Submit(Share(5));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->given, 2);
  EXPECT_EQ(opens_, 0);
  auto third = unsealer_->Submit(Share(4));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->unsealed);
  EXPECT_EQ(opens_, 1);
  EXPECT_TRUE(unsealer_->Progress().unsealed);
  // Later shares change nothing.
  auto later = unsealer_->Submit(Share(1));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->unsealed);
  EXPECT_EQ(opens_, 1);
}

TEST_F(UnsealerTest, RefusesADuplicateAndKeepsTheProgress) {
  ASSERT_TRUE(unsealer_->Submit(Share(1)).ok());
  auto again = unsealer_->Submit(Share(1));
  EXPECT_EQ(TypeOf(again.status()), ErrorType::kValidation);
  EXPECT_NE(std::string(again.status().message()).find("already given"), std::string::npos);
  EXPECT_EQ(unsealer_->Progress().given, 1);
}

TEST_F(UnsealerTest, RefusesAMistypedShareAndKeepsTheProgress) {
  ASSERT_TRUE(unsealer_->Submit(Share(1)).ok());
  std::string typo = Share(2);
  typo[7] = typo[7] == 'A' ? 'B' : 'A';
  auto refused = unsealer_->Submit(typo);
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kValidation);
  EXPECT_NE(std::string(refused.status().message()).find("checksum"), std::string::npos);
  EXPECT_EQ(unsealer_->Progress().given, 1);
}

TEST_F(UnsealerTest, RefusesAShareOfAnotherSplitByName) {
  auto other = GenerateShares(5, 3);
  ASSERT_TRUE(other.ok());
  auto refused = unsealer_->Submit(Text(other->texts[0]));
  EXPECT_EQ(TypeOf(refused.status()), ErrorType::kValidation);
  EXPECT_NE(std::string(refused.status().message()).find("not one of this data dir's shares"),
            std::string::npos);
  EXPECT_EQ(unsealer_->Progress().given, 0);
}

TEST_F(UnsealerTest, AWrongRecombinationIsReportedAndResetsTheProgress) {
  // A share of the right set whose value is wrong (as if the operator kept a corrupted copy
  // whose checksum was recomputed): it passes every check but the keyring's unwrap.
  auto decoded = shamir::DecodeShare(Share(3));
  ASSERT_TRUE(decoded.ok());
  decoded->share.value.data()[0] ^= 1;
  std::string corrupted = Text(shamir::EncodeShare(*decoded));
  ASSERT_TRUE(unsealer_->Submit(Share(1)).ok());
  ASSERT_TRUE(unsealer_->Submit(Share(2)).ok());
  auto wrong = unsealer_->Submit(corrupted);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(std::string(wrong.status().message()).find("do not open this data dir"),
            std::string::npos);
  EXPECT_EQ(opens_, 1);
  EXPECT_FALSE(unsealer_->Progress().unsealed);
  EXPECT_EQ(unsealer_->Progress().given, 0);
  // The right three then unseal.
  ASSERT_TRUE(unsealer_->Submit(Share(1)).ok());
  ASSERT_TRUE(unsealer_->Submit(Share(2)).ok());
  auto right = unsealer_->Submit(Share(3));
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE(right->unsealed);
}

TEST_F(UnsealerTest, APartialSetIsForgottenAfterTheTimeout) {
  ASSERT_TRUE(unsealer_->Submit(Share(1)).ok());
  ASSERT_TRUE(unsealer_->Submit(Share(2)).ok());
  now_ += std::chrono::seconds(299);
  EXPECT_EQ(unsealer_->Progress().given, 2);
  now_ += std::chrono::seconds(1);
  unsealer_->ExpireStale();
  EXPECT_EQ(unsealer_->Progress().given, 0);
  // So one more share does not unseal.
  auto third = unsealer_->Submit(Share(3));
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->unsealed);
  EXPECT_EQ(third->given, 1);
  EXPECT_EQ(opens_, 0);
}

TEST(SharesParameters, RoundTripThroughSealJsonAndRefuseNonsense) {
  SharesParameters parameters{5, 3, 0x00c0ffee};
  SealConfig config = SharesSealConfig(parameters);
  EXPECT_EQ(config.type, "shares");
  EXPECT_EQ(config.parameters["set_id"], "00c0ffee");
  auto read = ReadSharesParameters(config);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->shares, 5);
  EXPECT_EQ(read->threshold, 3);
  EXPECT_EQ(read->set_id, 0x00c0ffeeu);
  config.parameters["threshold"] = 1;
  EXPECT_FALSE(ReadSharesParameters(config).ok());
  config.parameters["threshold"] = 6;
  EXPECT_FALSE(ReadSharesParameters(config).ok());
  config = SharesSealConfig(parameters);
  config.parameters.erase("set_id");
  EXPECT_FALSE(ReadSharesParameters(config).ok());
}

TEST(GenerateShares, RefusesAThresholdOfOne) {
  EXPECT_EQ(TypeOf(GenerateShares(3, 1).status()), ErrorType::kValidation);
}

TEST(PeerMayUnseal, OnlyTheServersUserOrRoot) {
  EXPECT_TRUE(PeerMayUnseal(1000, 1000));
  EXPECT_TRUE(PeerMayUnseal(0, 1000));
  EXPECT_FALSE(PeerMayUnseal(1001, 1000));
  EXPECT_FALSE(PeerMayUnseal(65534, 0));
}

class UnsealChannelTest : public UnsealerTest {
 protected:
  void SetUp() override {
    UnsealerTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() /
           StrCat("kmsd-unseal-", getpid(), "-",
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / kUnsealSocketFile).string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(UnsealChannelTest, SharesTravelOverThePrivateSocket) {
  auto listener = ListenForUnseal(path_, unsealer_.get());
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto status = SendUnsealRequest(path_, "");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->error, "");
  EXPECT_EQ(status->progress.threshold, 3);
  EXPECT_EQ(status->progress.given, 0);

  auto first = SendUnsealRequest(path_, Share(4));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->progress.given, 1);
  std::string typo = Share(5);
  typo[3] = typo[3] == 'A' ? 'B' : 'A';
  auto refused = SendUnsealRequest(path_, typo);
  ASSERT_TRUE(refused.ok());
  EXPECT_NE(refused->error.find("checksum"), std::string::npos);
  ASSERT_TRUE(SendUnsealRequest(path_, Share(5)).ok());
  auto last = SendUnsealRequest(path_, Share(1));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->error, "");
  EXPECT_TRUE(last->progress.unsealed);

  listener->reset();
  EXPECT_FALSE(std::filesystem::exists(path_));  // removed when the listener stops
}

TEST_F(UnsealChannelTest, ReplacesAStaleSocketAndSaysWhenNoServerListens) {
  auto nobody = SendUnsealRequest(path_, "");
  EXPECT_EQ(TypeOf(nobody.status()), ErrorType::kNotFound);
  {
    auto first = ListenForUnseal(path_, unsealer_.get());
    ASSERT_TRUE(first.ok());
  }
  // As if a killed server had left its socket behind.
  ASSERT_TRUE(ListenForUnseal(path_, unsealer_.get()).ok());
}

TEST_F(UnsealChannelTest, AnOversizedRequestIsRefused) {
  auto listener = ListenForUnseal(path_, unsealer_.get());
  ASSERT_TRUE(listener.ok());
  auto refused = SendUnsealRequest(path_, std::string(4096, 'A'));
  // The server refuses it (or drops the connection while the client still writes).
  if (refused.ok()) {
    EXPECT_NE(refused->error, "");
  }
  EXPECT_EQ(unsealer_->Progress().given, 0);
}

}  // namespace
}  // namespace kmsd
