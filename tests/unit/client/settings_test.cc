// Endpoint, region and credential resolution, against the order the AWS CLI and SDKs use.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/kms_client.h"

namespace kmsd::client {
namespace {

class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
          "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
          "AWS_SESSION_TOKEN", "AWS_PROFILE"}) {
      unsetenv(name);
    }
    char pattern[] = "/tmp/kms-settings-XXXXXX";
    dir_ = mkdtemp(pattern);
    setenv("AWS_SHARED_CREDENTIALS_FILE", (dir_ + "/credentials").c_str(), 1);
    setenv("AWS_CONFIG_FILE", (dir_ + "/config").c_str(), 1);
  }
  void TearDown() override {
    unlink((dir_ + "/credentials").c_str());
    unlink((dir_ + "/config").c_str());
    rmdir(dir_.c_str());
  }
  void WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(SettingsTest, EnvironmentCredentialsAndRegion) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_SESSION_TOKEN", "token", 1);
  setenv("AWS_REGION", "eu-west-1", 1);
  auto settings = ResolveSettings({});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(settings->credentials.secret_access_key, "env-secret");
  EXPECT_EQ(settings->credentials.session_token, "token");
  EXPECT_EQ(settings->region, "eu-west-1");
  EXPECT_EQ(settings->endpoint_url, "https://kms.eu-west-1.amazonaws.com");
}

TEST_F(SettingsTest, EndpointPrecedenceFlagThenServiceVariableThenGlobalVariable) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_ENDPOINT_URL", "http://global:1", 1);
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "http://global:1");
  setenv("AWS_ENDPOINT_URL_KMS", "http://kms-only:2", 1);
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "http://kms-only:2");
  EXPECT_EQ(ResolveSettings({.endpoint_url = "http://flag:3"})->endpoint_url, "http://flag:3");
}

// AWS's order for service-specific endpoints: flag, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the
// profile's services section, the profile's endpoint_url; each step is removed in turn.
TEST_F(SettingsTest, EndpointPrecedenceAsAwsDocumentsIt) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  WriteFile("config",
            "[default]\nendpoint_url = http://profile-global:5\nservices = local\n"
            "[services local]\ns3 =\n  endpoint_url = http://s3-only:9\n"
            "kms =\n  endpoint_url = http://profile-kms:4\n");
  setenv("AWS_ENDPOINT_URL", "http://env-global:3", 1);
  setenv("AWS_ENDPOINT_URL_KMS", "http://env-kms:2", 1);
  auto Resolved = [](ClientFlags flags = {}) {
    auto settings = ResolveSettings(flags);
    return settings.ok() ? settings->endpoint_url + " from " + settings->endpoint_source
                         : std::string(settings.status().message());
  };
  EXPECT_EQ(Resolved({.endpoint_url = "http://flag:1"}), "http://flag:1 from --endpoint-url");
  EXPECT_EQ(Resolved(), "http://env-kms:2 from AWS_ENDPOINT_URL_KMS");
  unsetenv("AWS_ENDPOINT_URL_KMS");
  EXPECT_EQ(Resolved(), "http://env-global:3 from AWS_ENDPOINT_URL");
  unsetenv("AWS_ENDPOINT_URL");
  EXPECT_EQ(Resolved(), "http://profile-kms:4 from kms endpoint_url in [services local]");
  WriteFile("config", "[default]\nendpoint_url = http://profile-global:5\nservices = local\n");
  EXPECT_EQ(Resolved(), "http://profile-global:5 from endpoint_url in [default]");
  WriteFile("config", "");
  EXPECT_EQ(Resolved(),
            "https://kms.us-east-1.amazonaws.com from AWS's endpoint for region us-east-1");
}

TEST_F(SettingsTest, NamedProfileEndpointAndItsServicesSection) {
  WriteFile("credentials",
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n"
            "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = s\n");
  WriteFile("config",
            "[default]\nregion = us-east-1\nendpoint_url = http://default:1\n"
            "[profile dev]\nregion = eu-west-1\nservices = dev-services\n"
            "[services dev-services]\nkms =\n\tendpoint_url = http://dev-kms:2\n");
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "http://default:1");
  EXPECT_EQ(ResolveSettings({.profile = "dev"})->endpoint_url, "http://dev-kms:2");
  setenv("AWS_PROFILE", "dev", 1);
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "http://dev-kms:2");
}

TEST_F(SettingsTest, IgnoreConfiguredEndpointUrlsKeepsOnlyTheFlag) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_REGION", "eu-west-1", 1);
  setenv("AWS_ENDPOINT_URL_KMS", "http://env-kms:2", 1);
  setenv("AWS_ENDPOINT_URL", "http://env-global:3", 1);
  WriteFile("config", "[default]\nendpoint_url = http://profile:5\n");
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "https://kms.eu-west-1.amazonaws.com");
  EXPECT_EQ(ResolveSettings({.endpoint_url = "http://flag:1"})->endpoint_url, "http://flag:1");
  // The variable wins over the profile's setting, either way.
  WriteFile("config",
            "[default]\nendpoint_url = http://profile:5\nignore_configured_endpoint_urls = true\n");
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "https://kms.eu-west-1.amazonaws.com");
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "http://env-kms:2");
  unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  EXPECT_EQ(ResolveSettings({})->endpoint_url, "https://kms.eu-west-1.amazonaws.com");
}

TEST_F(SettingsTest, RegionPrecedence) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  WriteFile("config", "[default]\nregion = ap-south-1\n");
  EXPECT_EQ(ResolveSettings({})->region, "ap-south-1");
  setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
  EXPECT_EQ(ResolveSettings({})->region, "us-west-2");
  setenv("AWS_REGION", "eu-central-1", 1);
  EXPECT_EQ(ResolveSettings({})->region, "eu-central-1");
  EXPECT_EQ(ResolveSettings({.region = "sa-east-1"})->region, "sa-east-1");
}

TEST_F(SettingsTest, NamedProfileFromFilesWithComments) {
  WriteFile("credentials",
            "# comment\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n"
            "\n[dev]\n  aws_access_key_id=AKIADEV  \naws_secret_access_key = dev-secret\n"
            "; another comment\naws_session_token = dev-token\n");
  WriteFile("config", "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-north-1\n");
  auto by_default = ResolveSettings({});
  ASSERT_TRUE(by_default.ok()) << by_default.status();
  EXPECT_EQ(by_default->credentials.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(by_default->region, "us-east-1");

  setenv("AWS_PROFILE", "dev", 1);
  auto by_variable = ResolveSettings({});
  ASSERT_TRUE(by_variable.ok()) << by_variable.status();
  EXPECT_EQ(by_variable->credentials.access_key_id, "AKIADEV");
  EXPECT_EQ(by_variable->credentials.secret_access_key, "dev-secret");
  EXPECT_EQ(by_variable->credentials.session_token, "dev-token");
  EXPECT_EQ(by_variable->region, "eu-north-1");

  unsetenv("AWS_PROFILE");
  EXPECT_EQ(ResolveSettings({.profile = "dev"})->credentials.access_key_id, "AKIADEV");
}

TEST_F(SettingsTest, EnvironmentCredentialsWinUnlessAProfileIsGivenOnTheCommandLine) {
  WriteFile("credentials", "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = s\n");
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_PROFILE", "dev", 1);
  EXPECT_EQ(ResolveSettings({})->credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(ResolveSettings({.profile = "dev"})->credentials.access_key_id, "AKIADEV");
}

TEST_F(SettingsTest, MissingRegionOrCredentialsAreClearErrors) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  auto no_region = ResolveSettings({});
  EXPECT_EQ(TypeOf(no_region.status()), ErrorType::kValidation);
  EXPECT_NE(std::string(no_region.status().message()).find("region"), std::string::npos);

  setenv("AWS_REGION", "us-east-1", 1);
  auto absent = ResolveSettings({.profile = "absent"});
  EXPECT_EQ(TypeOf(absent.status()), ErrorType::kValidation);
  EXPECT_NE(std::string(absent.status().message()).find("absent"), std::string::npos);
}

TEST_F(SettingsTest, MalformedEndpointsAreRefused) {
  for (const char* url : {"ftp://host", "host:1234", "http://", "http://[::1"}) {
    EXPECT_FALSE(NewKmsClient({url, "us-east-1", {"a", "b", ""}}).ok()) << url;
  }
  EXPECT_TRUE(NewKmsClient({"http://[::1]:8080", "us-east-1", {"a", "b", ""}}).ok());
}

}  // namespace
}  // namespace kmsd::client
