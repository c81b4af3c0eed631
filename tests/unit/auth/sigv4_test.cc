// Tests for SigV4: AWS's published test suite and IAM example fix the algorithm; round trips and
// one test per rejection pin the verifier's behaviour on hostile input.

#include "kmsd/sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::sigv4 {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The credentials, scope and time of AWS's Signature Version 4 test suite.
constexpr std::string_view kSuiteAccessKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kSuiteRegion = "us-east-1";
constexpr std::string_view kSuiteService = "service";
constexpr int64_t kSuiteTime = 1440938160;  // 2015-08-30T12:36:00Z

constexpr std::string_view kSignatureMismatch =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

Credentials SuiteCredentials(std::string session_token = "") {
  return {std::string(kSuiteAccessKeyId), std::string(kSuiteSecret), std::move(session_token)};
}

SecretLookup SuiteLookup() {
  return [](std::string_view access_key_id) -> std::optional<std::string> {
    if (access_key_id != kSuiteAccessKeyId) return std::nullopt;
    return std::string(kSuiteSecret);
  };
}

VerifyOptions SuiteOptions(int64_t now = kSuiteTime) {
  VerifyOptions options;
  options.region = kSuiteRegion;
  options.service = kSuiteService;
  options.now = now;
  return options;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    lines.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return lines;
    start = end + 1;
  }
}

std::vector<std::string> SplitSemicolons(std::string_view text) {
  std::vector<std::string> names;
  size_t start = 0;
  while (true) {
    size_t end = text.find(';', start);
    names.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return names;
    start = end + 1;
  }
}

const std::string* FindHeader(const SignableRequest& request, std::string_view lower_case_name) {
  for (const auto& [name, value] : request.headers) {
    if (AsciiLower(name) == lower_case_name) return &value;
  }
  return nullptr;
}

int CountHeaders(const SignableRequest& request, std::string_view lower_case_name) {
  int count = 0;
  for (const auto& header : request.headers) count += AsciiLower(header.first) == lower_case_name;
  return count;
}

void SetHeader(SignableRequest& request, std::string_view lower_case_name, std::string value) {
  for (auto& [name, old_value] : request.headers) {
    if (AsciiLower(name) == lower_case_name) {
      old_value = std::move(value);
      return;
    }
  }
  request.headers.emplace_back(std::string(lower_case_name), std::move(value));
}

std::string AuthorizationFor(std::string_view signature,
                             std::string_view signed_headers = "host;x-amz-date",
                             std::string_view scope = "20150830/us-east-1/service/aws4_request") {
  return StrCat("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", scope,
                ", SignedHeaders=", signed_headers, ", Signature=", signature);
}

// One group of AWS's Signature Version 4 test suite (as kept in awslabs/aws-c-auth,
// tests/aws-signing-test-suite/v4): the request before signing and what signing must produce.
struct SuiteVector {
  std::string name;
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string session_token;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};

const std::vector<SuiteVector>& SuiteVectors() {
  static const auto* const vectors = new std::vector<SuiteVector>{
      {"get-vanilla",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/?Param2=value2&Param1=value1",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:"
       "20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-encoded",
       "GET",
       "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\nx-amz-date:"
       "20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
       "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
      {"get-vanilla-query-unreserved",
       "GET",
       "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
       "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
       "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws."
       "com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nc30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query",
       "GET",
       "/?\xE1\x88\xB4=bar",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\neb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-vanilla-empty-query-key",
       "GET",
       "/?Param1=value1",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"get-header-key-duplicate",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", "value2"},
        {"My-Header1", "value2"},
        {"My-Header1", "value1"}},
       "",
       "",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:"
       "20150830T123600Z\n\nhost;my-header1;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\ndc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", "value4"},
        {"My-Header1", "value1"},
        {"My-Header1", "value3"},
        {"My-Header1", "value2"}},
       "",
       "",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:"
       "20150830T123600Z\n\nhost;my-header1;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"},
        {"My-Header2", " \"a   b   c\""}},
       "",
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b "
       "c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\na726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"get-header-value-multiline",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1\n  value2\n     value3"}},
       "",
       "",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1 value2 "
       "value3\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\ne99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8",
       "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"},
      {"post-header-key-case",
       "POST",
       "/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "POST\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-header-key-sort",
       "POST",
       "/",
       {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}},
       "",
       "",
       "POST\n/"
       "\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-"
       "header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case",
       "POST",
       "/",
       {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}},
       "",
       "",
       "POST\n/"
       "\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-"
       "header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nd51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"get-utf8",
       "GET",
       "/\xE1\x88\xB4",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-unreserved",
       "GET",
       "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example."
       "amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-space-normalized",
       "GET",
       "/example space/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/example%20space/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"get-slashes-normalized",
       "GET",
       "//example//",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/example/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\ncb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
       "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-slash-dot-slash-normalized",
       "GET",
       "/./",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-relative-relative-normalized",
       "GET",
       "/example1/example2/../..",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash-pointless-dot-normalized",
       "GET",
       "/./example",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "GET\n/"
       "example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
       "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {"post-vanilla",
       "POST",
       "/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "POST\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query",
       "POST",
       "/?Param1=value1",
       {{"Host", "example.amazonaws.com"}},
       "",
       "",
       "POST\n/"
       "\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
       "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       {{"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"Content-Length", "13"},
        {"X-Amz-Content-Sha256",
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
       "Param1=value1",
       "",
       "POST\n/\n\ncontent-length:13\ncontent-type:application/"
       "x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:"
       "20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-"
       "date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nb1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
       "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
      {"post-x-www-form-urlencoded-parameters",
       "POST",
       "/",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Host", "example.amazonaws.com"},
        {"Content-Length", "13"},
        {"X-Amz-Content-Sha256",
         "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
       "Param1=value1",
       "",
       "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; "
       "charset=utf-8\nhost:example.amazonaws.com\nx-amz-content-sha256:"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:"
       "20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-"
       "date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\na89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
       "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
      {"get-vanilla-with-session-token",
       "GET",
       "/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
       "GET\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:"
       "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\nhost;x-amz-date;x-amz-"
       "security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\n067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
       "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
      {"post-sts-header-before",
       "POST",
       "/",
       {{"Host", "example.amazonaws.com"}},
       "",
       "AQoDYXdzEPT//////////"
       "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwt"
       "hAx7mSEI/qkPpKPi/"
       "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQc"
       "HNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
       "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==",
       "POST\n/"
       "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:"
       "AQoDYXdzEPT//////////"
       "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwt"
       "hAx7mSEI/qkPpKPi/"
       "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQc"
       "HNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
       "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/"
       "oLxBA==\n\nhost;x-amz-date;x-amz-security-"
       "token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
       "aws4_request\nc237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
       "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
  };
  return *vectors;
}

class SigV4TestSuite : public ::testing::TestWithParam<SuiteVector> {
 protected:
  SignableRequest Unsigned() const {
    return {GetParam().method, GetParam().target, GetParam().headers, GetParam().body};
  }
  SignableRequest Signed() const {
    SignableRequest request = Unsigned();
    Sign(request, SuiteCredentials(GetParam().session_token), kSuiteRegion, kSuiteService,
         kSuiteTime);
    return request;
  }
  // The SignedHeaders line of the expected canonical request.
  std::vector<std::string> ExpectedSignedHeaders() const {
    std::vector<std::string> lines = Lines(GetParam().canonical_request);
    return SplitSemicolons(lines[lines.size() - 2]);
  }
};

TEST_P(SigV4TestSuite, CanonicalRequestMatches) {
  SignableRequest request = Signed();
  std::string payload_hash = crypto::HexEncode(crypto::Sha256(request.body));
  EXPECT_EQ(CanonicalRequest(request, ExpectedSignedHeaders(), payload_hash),
            GetParam().canonical_request);
}

TEST_P(SigV4TestSuite, StringToSignMatches) {
  EXPECT_EQ(StringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request",
                         GetParam().canonical_request),
            GetParam().string_to_sign);
}

TEST_P(SigV4TestSuite, SignProducesTheSuiteAuthorization) {
  SignableRequest request = Signed();
  const std::string* authorization = FindHeader(request, "authorization");
  ASSERT_NE(authorization, nullptr);
  EXPECT_EQ(*authorization,
            AuthorizationFor(GetParam().signature, StrJoin(ExpectedSignedHeaders(), ";")));
  const std::string* date = FindHeader(request, "x-amz-date");
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(*date, "20150830T123600Z");
}

TEST_P(SigV4TestSuite, VerifyAcceptsTheSignedRequest) {
  absl::StatusOr<std::string> verified = Verify(Signed(), SuiteLookup(), SuiteOptions());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, kSuiteAccessKeyId);
}

INSTANTIATE_TEST_SUITE_P(Aws, SigV4TestSuite, ::testing::ValuesIn(SuiteVectors()),
                         [](const ::testing::TestParamInfo<SuiteVector>& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// The worked example of the IAM user guide (GET ListUsers to iam.amazonaws.com).
TEST(SigningKey, MatchesTheIamDocumentationExample) {
  EXPECT_EQ(crypto::HexEncode(SigningKey(kSuiteSecret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(Sign, MatchesTheIamDocumentationExample) {
  SignableRequest request{"GET",
                          "/?Action=ListUsers&Version=2010-05-08",
                          {{"Host", "iam.amazonaws.com"},
                           {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                          ""};
  Sign(request, SuiteCredentials(), "us-east-1", "iam", kSuiteTime);
  std::string canonical_request = CanonicalRequest(request, {"content-type", "host", "x-amz-date"},
                                                   crypto::HexEncode(crypto::Sha256("")));
  EXPECT_EQ(crypto::HexEncode(crypto::Sha256(canonical_request)),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(*FindHeader(request, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

std::string CanonicalQueryOf(std::string target) {
  SignableRequest request{"GET", std::move(target), {}, ""};
  return Lines(CanonicalRequest(request, {}, ""))[2];
}

std::string CanonicalUriOf(std::string target) {
  SignableRequest request{"GET", std::move(target), {}, ""};
  return Lines(CanonicalRequest(request, {}, ""))[1];
}

TEST(CanonicalRequest, SortsQueryParametersByNameThenValue) {
  EXPECT_EQ(CanonicalQueryOf("/?b=2&a=2&a=1&A=3"), "A=3&a=1&a=2&b=2");
}

TEST(CanonicalRequest, ReencodesQueryParametersTheRfc3986Way) {
  EXPECT_EQ(CanonicalQueryOf("/?k=%7e%2f&sp=%20&plus=+&star=*"), "k=~%2F&plus=%2B&sp=%20&star=%2A");
}

TEST(CanonicalRequest, GivesAParameterWithoutValueAnEmptyValue) {
  EXPECT_EQ(CanonicalQueryOf("/?flag&x="), "flag=&x=");
}

TEST(CanonicalRequest, KeepsABrokenPercentEscapeLiteral) {
  EXPECT_EQ(CanonicalQueryOf("/?a=%zz&b=%4"), "a=%25zz&b=%254");
}

TEST(CanonicalRequest, EncodesTheWirePathAgainAsForEveryServiceButS3) {
  EXPECT_EQ(CanonicalUriOf("/a%20b/c"), "/a%2520b/c");
}

TEST(CanonicalRequest, NormalizesThePath) {
  EXPECT_EQ(CanonicalUriOf(""), "/");
  EXPECT_EQ(CanonicalUriOf("/"), "/");
  EXPECT_EQ(CanonicalUriOf("/../.."), "/");
  EXPECT_EQ(CanonicalUriOf("/a/./b/../c/"), "/a/c/");
}

TEST(CanonicalRequest, JoinsRepeatedHeadersInArrivalOrder) {
  SignableRequest request{"GET", "/", {{"X-A", " 2 "}, {"host", "h"}, {"x-a", "1"}}, ""};
  EXPECT_EQ(Lines(CanonicalRequest(request, {"host", "x-a"}, ""))[4], "x-a:2,1");
}

// A request as the kms CLI and the SDKs send it to kmsd.
SignableRequest KmsRequest() {
  return {"POST",
          "/",
          {{"Host", "localhost:7600"},
           {"Content-Type", "application/x-amz-json-1.1"},
           {"X-Amz-Target", "TrentService.Encrypt"}},
          R"({"KeyId":"alias/app","Plaintext":"aGVsbG8="})"};
}

VerifyOptions KmsOptions(int64_t now = kSuiteTime) {
  VerifyOptions options;
  options.region = "us-east-1";
  options.service = "kms";
  options.now = now;
  return options;
}

SignableRequest SignedKmsRequest(int64_t when = kSuiteTime) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials(), "us-east-1", "kms", when);
  return request;
}

void ExpectError(const absl::StatusOr<std::string>& verified, ErrorType type,
                 std::string_view message) {
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(TypeOf(verified.status()), type) << verified.status();
  EXPECT_EQ(ToStd(verified.status().message()), message);
}

void ExpectErrorType(const absl::StatusOr<std::string>& verified, ErrorType type) {
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(TypeOf(verified.status()), type) << verified.status();
}

TEST(Verify, AcceptsASignedKmsRequest) {
  absl::StatusOr<std::string> verified = Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, "AKIDEXAMPLE");
}

TEST(Verify, AcceptsHeaderNamesLowerCasedByTheServer) {
  SignableRequest request = SignedKmsRequest();
  for (auto& header : request.headers) header.first = AsciiLower(header.first);
  EXPECT_TRUE(Verify(request, SuiteLookup(), KmsOptions()).ok());
}

TEST(Verify, AsksTheLookupForTheCredentialsAccessKeyId) {
  std::vector<std::string> asked;
  SecretLookup lookup = [&](std::string_view access_key_id) -> std::optional<std::string> {
    asked.emplace_back(access_key_id);
    return std::string(kSuiteSecret);
  };
  EXPECT_TRUE(Verify(SignedKmsRequest(), lookup, KmsOptions()).ok());
  EXPECT_THAT(asked, ::testing::ElementsAre("AKIDEXAMPLE"));
}

TEST(Verify, IgnoresHeadersAddedButNotSigned) {
  SignableRequest request = SignedKmsRequest();
  request.headers.emplace_back("User-Agent", "added by a proxy");
  EXPECT_TRUE(Verify(request, SuiteLookup(), KmsOptions()).ok());
}

TEST(Verify, AcceptsTheDateHeaderWhenThereIsNoXAmzDate) {
  SignableRequest request{
      "POST", "/", {{"Host", "h"}, {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"}}, "{}"};
  std::string canonical =
      CanonicalRequest(request, {"date", "host"}, crypto::HexEncode(crypto::Sha256(request.body)));
  std::string signature = crypto::HexEncode(crypto::HmacSha256(
      SigningKey(kSuiteSecret, "20150830", "us-east-1", "kms"),
      StringToSign("20150830T123600Z", "20150830/us-east-1/kms/aws4_request", canonical)));
  request.headers.emplace_back(
      "Authorization",
      AuthorizationFor(signature, "date;host", "20150830/us-east-1/kms/aws4_request"));
  absl::StatusOr<std::string> verified = Verify(request, SuiteLookup(), KmsOptions());
  EXPECT_TRUE(verified.ok()) << verified.status();
}

TEST(Verify, RejectsAMalformedDateHeader) {
  SignableRequest request{"POST", "/", {{"Host", "h"}, {"Date", "30 Aug 2015 12:36:00"}}, "{}"};
  request.headers.emplace_back("Authorization",
                               AuthorizationFor(std::string(64, 'a'), "date;host"));
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature);
}

TEST(Verify, AcceptsAMatchingSignedContentSha256) {
  SignableRequest request = KmsRequest();
  request.headers.emplace_back("X-Amz-Content-Sha256",
                               crypto::HexEncode(crypto::Sha256(request.body)));
  Sign(request, SuiteCredentials(), "us-east-1", "kms", kSuiteTime);
  EXPECT_TRUE(Verify(request, SuiteLookup(), KmsOptions()).ok());
}

TEST(Verify, RejectsASignedContentSha256ThatIsNotTheBodysHash) {
  SignableRequest request = KmsRequest();
  request.headers.emplace_back("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
  Sign(request, SuiteCredentials(), "us-east-1", "kms", kSuiteTime);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

TEST(Verify, RejectsAMissingAuthorizationHeader) {
  ExpectError(Verify(KmsRequest(), SuiteLookup(), KmsOptions()),
              ErrorType::kMissingAuthenticationToken, "Missing Authentication Token");
}

TEST(Verify, RejectsATamperedBody) {
  SignableRequest request = SignedKmsRequest();
  request.body.back() = ']';
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              kSignatureMismatch);
}

TEST(Verify, RejectsEveryBitFlipOfTheBody) {
  const SignableRequest original = SignedKmsRequest();
  for (size_t byte = 0; byte < original.body.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      SignableRequest request = original;
      request.body[byte] = static_cast<char>(request.body[byte] ^ (1 << bit));
      ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature);
    }
  }
}

TEST(Verify, RejectsEveryChangedSignatureDigit) {
  const SignableRequest original = SignedKmsRequest();
  const std::string authorization = *FindHeader(original, "authorization");
  size_t start = authorization.find("Signature=") + 10;
  for (size_t i = start; i < authorization.size(); ++i) {
    SignableRequest request = original;
    std::string changed = authorization;
    changed[i] = changed[i] == '0' ? '1' : '0';
    SetHeader(request, "authorization", changed);
    ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature);
  }
}

TEST(Verify, RejectsATamperedSignedHeader) {
  SignableRequest request = SignedKmsRequest();
  SetHeader(request, "x-amz-target", "TrentService.Decrypt");
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              kSignatureMismatch);
}

TEST(Verify, RejectsARepeatOfASignedHeaderAddedAfterSigning) {
  SignableRequest request = SignedKmsRequest();
  request.headers.emplace_back("x-amz-target", "TrentService.Decrypt");
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              kSignatureMismatch);
}

TEST(Verify, RejectsATamperedTarget) {
  SignableRequest request = SignedKmsRequest();
  request.target = "/?x=1";
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature);
  request.target = "/other";
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature);
  request = SignedKmsRequest();
  request.method = "PUT";
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature);
}

TEST(Verify, RejectsAWrongSecretWithoutEchoingIt) {
  SignableRequest request = KmsRequest();
  Credentials wrong = SuiteCredentials();
  wrong.secret_access_key = "not-the-secret";
  Sign(request, wrong, "us-east-1", "kms", kSuiteTime);
  absl::StatusOr<std::string> verified = Verify(request, SuiteLookup(), KmsOptions());
  ExpectError(verified, ErrorType::kInvalidSignature, kSignatureMismatch);
  EXPECT_THAT(ToStd(verified.status().message()), Not(HasSubstr(kSuiteSecret)));
  EXPECT_THAT(ToStd(verified.status().message()), Not(HasSubstr("not-the-secret")));
}

TEST(Verify, RejectsAnUnknownAccessKey) {
  SignableRequest request = KmsRequest();
  Credentials unknown = SuiteCredentials();
  unknown.access_key_id = "AKIAUNKNOWNUNKNOWN00";
  Sign(request, unknown, "us-east-1", "kms", kSuiteTime);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kUnrecognizedClient,
              "The security token included in the request is invalid.");
}

TEST(Verify, RejectsAnExpiredSignature) {
  ExpectError(Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions(kSuiteTime + 600)),
              ErrorType::kInvalidSignature,
              "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z "
              "(20150830T124600Z - 5 min.)");
}

TEST(Verify, RejectsASignatureFromTheFuture) {
  ExpectError(Verify(SignedKmsRequest(kSuiteTime + 600), SuiteLookup(), KmsOptions()),
              ErrorType::kInvalidSignature,
              "Signature not yet current: 20150830T124600Z is still later than 20150830T124100Z "
              "(20150830T123600Z + 5 min.)");
}

TEST(Verify, AcceptsClockSkewUpToTheLimit) {
  EXPECT_TRUE(Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions(kSuiteTime + 300)).ok());
  EXPECT_TRUE(Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions(kSuiteTime - 300)).ok());
  EXPECT_FALSE(Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions(kSuiteTime + 301)).ok());
  EXPECT_FALSE(Verify(SignedKmsRequest(), SuiteLookup(), KmsOptions(kSuiteTime - 301)).ok());
}

TEST(Verify, SurvivesExtremeClockSettings) {
  VerifyOptions options = KmsOptions(INT64_MAX);
  EXPECT_FALSE(Verify(SignedKmsRequest(), SuiteLookup(), options).ok());
  options.max_clock_skew_seconds = INT64_MAX;  // any time at all is accepted
  EXPECT_TRUE(Verify(SignedKmsRequest(), SuiteLookup(), options).ok());
  options = KmsOptions(INT64_MIN);
  EXPECT_FALSE(Verify(SignedKmsRequest(), SuiteLookup(), options).ok());
  options.max_clock_skew_seconds = INT64_MAX;
  EXPECT_TRUE(Verify(SignedKmsRequest(), SuiteLookup(), options).ok());
  options = KmsOptions(kSuiteTime + 1);
  options.max_clock_skew_seconds = -5;  // treated as no skew at all
  EXPECT_FALSE(Verify(SignedKmsRequest(), SuiteLookup(), options).ok());
}

TEST(Verify, RejectsTheWrongRegion) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials(), "eu-west-1", "kms", kSuiteTime);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "Credential should be scoped to a valid region. This endpoint serves region "
              "'us-east-1', not 'eu-west-1': sign for it (e.g. --region us-east-1 or "
              "AWS_REGION=us-east-1).");
}

TEST(Verify, TheWrongRegionIsEchoedOnlyWhenItLooksLikeARegion) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials(), "<Evil\"Region>", "kms", kSuiteTime);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "Credential should be scoped to a valid region. This endpoint serves region "
              "'us-east-1': sign for it (e.g. --region us-east-1 or AWS_REGION=us-east-1).");
}

TEST(Verify, RejectsTheWrongService) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials(), "us-east-1", "s3", kSuiteTime);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "Credential should be scoped to correct service: 'kms'.");
}

TEST(Verify, RejectsTheWrongTerminator) {
  SignableRequest request = SignedKmsRequest();
  std::string authorization = *FindHeader(request, "authorization");
  authorization.replace(authorization.find("aws4_request"), 12, "aws5_request");
  SetHeader(request, "authorization", authorization);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "Credential should be scoped with a valid terminator: 'aws4_request'.");
}

TEST(Verify, RejectsAScopeDateOtherThanTheRequestDate) {
  SignableRequest request = SignedKmsRequest();
  std::string authorization = *FindHeader(request, "authorization");
  authorization.replace(authorization.find("/20150830/"), 10, "/20150831/");
  SetHeader(request, "authorization", authorization);
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kInvalidSignature,
              "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
              "from HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
}

TEST(Verify, RequiresHostToBeSigned) {
  SignableRequest request{"POST", "/", {{"Content-Type", "application/x-amz-json-1.1"}}, "{}"};
  Sign(request, SuiteCredentials(), "us-east-1", "kms", kSuiteTime);
  request.headers.emplace_back("Host", "localhost");  // present, but not signed
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature,
              "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(Verify, RejectsASignedHeaderThatIsAbsent) {
  SignableRequest request = SignedKmsRequest();
  std::erase_if(request.headers,
                [](const auto& header) { return AsciiLower(header.first) == "x-amz-target"; });
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature,
              "Authorization header lists signed header 'x-amz-target' that is absent from the "
              "request.");
}

TEST(Verify, RequiresADate) {
  SignableRequest request = SignedKmsRequest();
  std::erase_if(request.headers,
                [](const auto& header) { return AsciiLower(header.first) == "x-amz-date"; });
  ExpectError(
      Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature,
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
}

TEST(Verify, RejectsMalformedXAmzDates) {
  for (std::string date : {"2015-08-30T12:36:00Z", "20150830T123600", "20150230T123600Z",
                           "20150830T243600Z", "2015083OT123600Z", "", "20150830T123660Z"}) {
    SignableRequest request = SignedKmsRequest();
    SetHeader(request, "x-amz-date", date);
    ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature);
  }
}

TEST(Verify, RejectsDuplicateAuthorizationHeaders) {
  SignableRequest request = SignedKmsRequest();
  request.headers.emplace_back("Authorization", *FindHeader(request, "authorization"));
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature);
}

TEST(Verify, RejectsDuplicateXAmzDateHeaders) {
  SignableRequest request = SignedKmsRequest();
  request.headers.emplace_back("X-Amz-Date", "20150830T123600Z");
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature);
}

TEST(Verify, NamesEachMissingAuthorizationParameter) {
  SignableRequest request = SignedKmsRequest();
  SetHeader(request, "authorization", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date");
  ExpectError(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature,
              "Authorization header requires 'Credential' parameter. Authorization header "
              "requires 'Signature' parameter.");
  SetHeader(request, "authorization", "Basic dXNlcjpwYXNz");
  ExpectErrorType(Verify(request, SuiteLookup(), KmsOptions()), ErrorType::kIncompleteSignature);
}

class MalformedAuthorization : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedAuthorization, IsAnIncompleteSignature) {
  SignableRequest request = SignedKmsRequest();
  SetHeader(request, "authorization", GetParam());
  absl::StatusOr<std::string> verified = Verify(request, SuiteLookup(), KmsOptions());
  ExpectErrorType(verified, ErrorType::kIncompleteSignature);
  EXPECT_THAT(ToStd(verified.status().message()), Not(HasSubstr(kSuiteSecret)));
}

const std::string kGoodSignature(64, 'a');
const std::string kScope = "20150830/us-east-1/kms/aws4_request";

INSTANTIATE_TEST_SUITE_P(
    Variants, MalformedAuthorization,
    ::testing::Values(
        "", " ", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 ",
        "AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature,
        "Credential=AKIDEXAMPLE/" + kScope + ", SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope + ", Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope + ", SignedHeaders=host",
        // Credential scope shapes.
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms, SignedHeaders=host, "
        "Signature=" +
            kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            "/extra, SignedHeaders=host, "
            "Signature=" +
            kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKID EXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015-08-30/us-east-1/kms/aws4_request, "
        "SignedHeaders=host, Signature=" +
            kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//kms/aws4_request, "
        "SignedHeaders=host, Signature=" +
            kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/" + std::string(100, 'r') +
            "/kms/aws4_request, SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=" + std::string(200, 'A') + "/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature,
        // SignedHeaders shapes.
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=x-amz-date;host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=Host;x-amz-date, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host;host;x-amz-date, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host;;x-amz-date, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host;x amz date, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=content-type;x-amz-date, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=a0;a1;a2;a3;a4;"
            "a5;a6;a7;a8;a9;b0;b1;b2;b3;b4;b5;b6;b7;b8;b9;c0;c1;c2;c3;c4;c5;c6;c7;c8;c9;d0;d1;d2;"
            "d3;d4;"
            "d5;d6;d7;d8;d9;e0;e1;e2;e3;e4;e5;e6;e7;e8;e9;f0;f1;f2;f3;f4;f5;f6;f7;f8;f9;g0;g1;g2;"
            "g3;g4;"
            "host, Signature=" +
            kGoodSignature,
        // Signature shapes.
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + std::string(63, 'a'),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + std::string(65, 'a'),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + std::string(64, 'A'),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + std::string(64, 'g'),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope + ", SignedHeaders=host, Signature=",
        // Parameter list shapes.
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope + ", Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature + ", Extra=1",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature + ",",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            " SignedHeaders=host Signature=" + kGoodSignature,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + kScope +
            ", SignedHeaders=host, Signature=" + kGoodSignature + std::string(5000, ' ')));

TEST(Verify, NeverAcceptsRandomAuthorizationHeaders) {
  const std::vector<std::string> pieces = {"AWS4-HMAC-SHA256",
                                           " ",
                                           ",",
                                           ", ",
                                           "=",
                                           "/",
                                           ";",
                                           "Credential=",
                                           "SignedHeaders=",
                                           "Signature=",
                                           "AKIDEXAMPLE",
                                           "20150830",
                                           "us-east-1",
                                           "kms",
                                           "aws4_request",
                                           "host",
                                           "x-amz-date",
                                           std::string(64, 'a'),
                                           "\xff",
                                           std::string(1, '\0'),
                                           "%",
                                           "\n"};
  std::mt19937 random(20150830);
  const SignableRequest original = SignedKmsRequest();
  for (int round = 0; round < 20000; ++round) {
    std::string authorization;
    int count = static_cast<int>(random() % 24);
    for (int i = 0; i < count; ++i) authorization += pieces[random() % pieces.size()];
    SignableRequest request = original;
    SetHeader(request, "authorization", authorization);
    absl::StatusOr<std::string> verified = Verify(request, SuiteLookup(), KmsOptions());
    ASSERT_FALSE(verified.ok()) << authorization;
  }
}

TEST(Verify, AcceptsWhateverSignSignsForRandomTargetsAndHeaderValues) {
  static constexpr char kBytes[] = "/?&=%.~+ aZ09-_\t\xe1\x88\xb4\x00\xff";
  const std::string alphabet(kBytes, sizeof(kBytes) - 1);  // with the NUL
  std::mt19937 random(1440938160);
  auto random_text = [&](size_t max_length) {
    std::string text;
    size_t length = random() % (max_length + 1);
    for (size_t i = 0; i < length; ++i) text += alphabet[random() % alphabet.size()];
    return text;
  };
  for (int round = 0; round < 2000; ++round) {
    SignableRequest request = KmsRequest();
    request.target = "/" + random_text(40);
    request.headers.emplace_back("X-Random", random_text(20));
    request.body = random_text(30);
    Sign(request, SuiteCredentials(), "us-east-1", "kms", kSuiteTime);
    absl::StatusOr<std::string> verified = Verify(request, SuiteLookup(), KmsOptions());
    ASSERT_TRUE(verified.ok()) << verified.status() << " for target " << request.target;
  }
}

TEST(Sign, AddsTheSecurityTokenAndSignsIt) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials("session-token"), "us-east-1", "kms", kSuiteTime);
  ASSERT_NE(FindHeader(request, "x-amz-security-token"), nullptr);
  EXPECT_EQ(*FindHeader(request, "x-amz-security-token"), "session-token");
  EXPECT_THAT(*FindHeader(request, "authorization"),
              HasSubstr("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                        "x-amz-target,"));
  EXPECT_TRUE(Verify(request, SuiteLookup(), KmsOptions()).ok());
}

TEST(Sign, ReplacesTheHeadersOfAnEarlierSigning) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials("token"), "us-east-1", "kms", kSuiteTime - 1000);
  Sign(request, SuiteCredentials(), "us-east-1", "kms", kSuiteTime);
  EXPECT_EQ(CountHeaders(request, "authorization"), 1);
  EXPECT_EQ(CountHeaders(request, "x-amz-date"), 1);
  EXPECT_EQ(CountHeaders(request, "x-amz-security-token"), 0);
  EXPECT_TRUE(Verify(request, SuiteLookup(), KmsOptions()).ok());
}

TEST(Sign, FormatsTheDateAsIso8601Basic) {
  SignableRequest request = KmsRequest();
  Sign(request, SuiteCredentials(), "us-east-1", "kms", 951782400);  // 2000-02-29T00:00:00Z
  EXPECT_EQ(*FindHeader(request, "x-amz-date"), "20000229T000000Z");
  EXPECT_THAT(*FindHeader(request, "authorization"), HasSubstr("/20000229/us-east-1/kms/"));
}

// The cache and the view: the same answers as the plain derivation and the owning request, with
// keys derived once per secret, day, region and service.

TEST(SigningKeyCache, GivesWhatSigningKeyDerives) {
  SigningKeyCache cache;
  EXPECT_EQ(crypto::HexEncode(cache.Get(kSuiteSecret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(SigningKeyCache, DerivesTheSameInputsOnce) {
  SigningKeyCache cache;
  std::string first(cache.Get(kSuiteSecret, "20150830", "us-east-1", "kms"));
  std::string again(cache.Get(kSuiteSecret, "20150830", "us-east-1", "kms"));
  EXPECT_EQ(first, again);
  EXPECT_EQ(cache.derivations(), 1u);
}

TEST(SigningKeyCache, DerivesAnotherKeyWhenAnyInputChanges) {
  struct Inputs {
    std::string secret, date, region, service;
  };
  const std::vector<Inputs> inputs = {
      {std::string(kSuiteSecret), "20150830", "us-east-1", "kms"},
      {std::string(kSuiteSecret), "20150831", "us-east-1", "kms"},
      {std::string(kSuiteSecret), "20150830", "eu-west-1", "kms"},
      {std::string(kSuiteSecret), "20150830", "us-east-1", "iam"},
      {"another-secret", "20150830", "us-east-1", "kms"},
      // Secrets that share a prefix, or differ only in the last byte, are different secrets.
      {std::string(kSuiteSecret) + "X", "20150830", "us-east-1", "kms"},
      {std::string(kSuiteSecret.substr(0, kSuiteSecret.size() - 1)) + "Z", "20150830", "us-east-1",
       "kms"},
  };
  SigningKeyCache cache;
  std::set<std::string> keys;
  for (const Inputs& in : inputs) {
    std::string key(cache.Get(in.secret, in.date, in.region, in.service));
    EXPECT_EQ(key, SigningKey(in.secret, in.date, in.region, in.service)) << in.secret << in.date;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), inputs.size());
  EXPECT_EQ(cache.derivations(), inputs.size());
}

TEST(SigningKeyCache, FollowsTheDateAcrossMidnightAndKeepsYesterdaysWhileThereIsRoom) {
  SigningKeyCache cache;
  std::string today(cache.Get(kSuiteSecret, "20150830", "us-east-1", "kms"));
  std::string tomorrow(cache.Get(kSuiteSecret, "20150831", "us-east-1", "kms"));
  EXPECT_NE(today, tomorrow);
  EXPECT_EQ(tomorrow, SigningKey(kSuiteSecret, "20150831", "us-east-1", "kms"));
  // Requests signed just before midnight still arrive for a few minutes after it.
  EXPECT_EQ(cache.Get(kSuiteSecret, "20150830", "us-east-1", "kms"), today);
  EXPECT_EQ(cache.Get(kSuiteSecret, "20150831", "us-east-1", "kms"), tomorrow);
  EXPECT_EQ(cache.derivations(), 2u);
}

TEST(SigningKeyCache, EvictsTheLeastRecentlyUsedKeyWhenFull) {
  SigningKeyCache cache(2);
  cache.Get("a", "20150830", "us-east-1", "kms");
  cache.Get("b", "20150830", "us-east-1", "kms");
  cache.Get("a", "20150830", "us-east-1", "kms");  // a is now the more recently used
  cache.Get("c", "20150830", "us-east-1", "kms");  // evicts b
  EXPECT_EQ(cache.derivations(), 3u);
  EXPECT_EQ(cache.Get("a", "20150830", "us-east-1", "kms"),
            SigningKey("a", "20150830", "us-east-1", "kms"));
  EXPECT_EQ(cache.derivations(), 3u);
  EXPECT_EQ(cache.Get("b", "20150830", "us-east-1", "kms"),
            SigningKey("b", "20150830", "us-east-1", "kms"));
  EXPECT_EQ(cache.derivations(), 4u);
}

TEST(SigningKeyCache, DerivesEveryTimeWhenTheCapacityIsOne) {
  SigningKeyCache cache(1);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(cache.Get("a", "20150830", "us-east-1", "kms"),
              SigningKey("a", "20150830", "us-east-1", "kms"));
    EXPECT_EQ(cache.Get("b", "20150830", "us-east-1", "kms"),
              SigningKey("b", "20150830", "us-east-1", "kms"));
  }
  EXPECT_EQ(cache.derivations(), 6u);
}

TEST(Verify, FollowsARotatedSecretForTheSameAccessKeyId) {
  std::string current_secret = "first-secret";
  SecretLookup lookup = [&](std::string_view) -> std::optional<std::string> {
    return current_secret;
  };
  auto signed_with = [](std::string secret) {
    SignableRequest request = KmsRequest();
    Sign(request, {"AKIDEXAMPLE", std::move(secret), ""}, "us-east-1", "kms", kSuiteTime);
    return request;
  };
  EXPECT_TRUE(Verify(signed_with("first-secret"), lookup, KmsOptions()).ok());
  current_secret = "second-secret";
  ExpectError(Verify(signed_with("first-secret"), lookup, KmsOptions()),
              ErrorType::kInvalidSignature, kSignatureMismatch);
  EXPECT_TRUE(Verify(signed_with("second-secret"), lookup, KmsOptions()).ok());
}

TEST(Verify, AcceptsAViewOfARequestHeldElsewhere) {
  // As the server holds what it received: its own strings and header vector.
  const SignableRequest received = SignedKmsRequest();
  const std::string method = received.method, target = received.target, body = received.body;
  const std::vector<std::pair<std::string, std::string>> headers = received.headers;
  SignableRequestView view{method, target, headers, body};
  absl::StatusOr<std::string> verified = Verify(view, SuiteLookup(), KmsOptions());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, "AKIDEXAMPLE");

  const std::string tampered_body = body + " ";
  ExpectError(Verify(SignableRequestView{method, target, headers, tampered_body}, SuiteLookup(),
                     KmsOptions()),
              ErrorType::kInvalidSignature, kSignatureMismatch);
}

TEST(CanonicalRequest, IsTheSameForARequestAndAViewOfIt) {
  SignableRequest request{"GET",
                          "/a/../b/?z=1&a=2",
                          {{"Host", "h"}, {"X-A", "  one   two "}, {"x-a", "three"}},
                          "body"};
  std::vector<std::string> names = {"host", "x-a"};
  SignableRequestView view{request.method, request.target, request.headers, request.body};
  EXPECT_EQ(CanonicalRequest(view, names, "hash"), CanonicalRequest(request, names, "hash"));
  EXPECT_EQ(Lines(CanonicalRequest(view, names, "hash"))[4], "x-a:one two,three");
}

TEST(Verify, SignsAndVerifiesOnManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([t, &failures] {
      Credentials credentials = SuiteCredentials();
      credentials.secret_access_key += std::to_string(t % 2);  // two secrets in play
      SecretLookup lookup = [&](std::string_view) -> std::optional<std::string> {
        return credentials.secret_access_key;
      };
      for (int i = 0; i < 300; ++i) {
        SignableRequest request = KmsRequest();
        Sign(request, credentials, "us-east-1", "kms", kSuiteTime + i * 600);
        if (!Verify(request, lookup, KmsOptions(kSuiteTime + i * 600)).ok()) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace kmsd::sigv4
