#include "kmsd/seal_config.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace kmsd {
namespace {

class SealConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("seal-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteRaw(const std::string& text) { std::ofstream(dir_ / kSealConfigFile) << text; }
  std::filesystem::path dir_;
};

TEST_F(SealConfigTest, NoFileMeansTheFileSeal) {
  auto config = ReadSealConfig(dir_.string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->type, "file");
  EXPECT_TRUE(config->parameters.empty());
}

TEST_F(SealConfigTest, RoundTripsPrivately) {
  SealConfig config;
  config.type = "shares";
  config.parameters = {{"shares", 5}, {"threshold", 3}};
  ASSERT_TRUE(WriteSealConfig(dir_.string(), config).ok());
  struct stat st;
  ASSERT_EQ(stat((dir_ / kSealConfigFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto read = ReadSealConfig(dir_.string());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->type, "shares");
  EXPECT_EQ(read->parameters["threshold"], 3);
  EXPECT_FALSE(std::filesystem::exists(dir_ / (std::string(kSealConfigFile) + ".tmp")));
}

TEST_F(SealConfigTest, MalformedOrUnknownIsRefused) {
  for (const char* text : {"", "{", "[]", "{\"seal\": 3}", "{\"seal\": \"vault\"}",
                           "{\"seal\": \"pkcs11\", \"parameters\": []}"}) {
    WriteRaw(text);
    auto config = ReadSealConfig(dir_.string());
    EXPECT_FALSE(config.ok()) << text;
  }
}

}  // namespace
}  // namespace kmsd
