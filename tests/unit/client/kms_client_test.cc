// The KMS client against a one-request-at-a-time fake server on a loopback port: what it sends
// (target, JSON, a SigV4 signature that verifies) and how it reads answers and AWS errors.
#include "kmsd/kms_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/sigv4.h"

namespace kmsd::client {
namespace {

using nlohmann::json;

// Accepts one connection per Serve call, records the request, sends a canned answer.
class FakeKms {
 public:
  FakeKms() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(listener_, 4);
    socklen_t size = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~FakeKms() {
    if (thread_.joinable()) thread_.join();
    close(listener_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Answers the next request with status and body, in the background.
  void Serve(int status, std::string body) { ServeEach({{status, std::move(body)}}); }

  // Answers the next requests, one connection each, with these answers in turn.
  void ServeEach(std::vector<std::pair<int, std::string>> answers) {
    if (thread_.joinable()) thread_.join();
    requests_ = 0;
    thread_ = std::thread([this, answers = std::move(answers)] {
      for (const auto& [status, body] : answers) {
        int connection = accept(listener_, nullptr, nullptr);
        std::string request;
        char buffer[4096];
        while (true) {
          size_t end = request.find("\r\n\r\n");
          if (end != std::string::npos) {
            size_t length_at = request.find("Content-Length: ");
            size_t length =
                length_at == std::string::npos ? 0 : std::stoul(request.substr(length_at + 16));
            if (request.size() >= end + 4 + length) break;
          }
          ssize_t got = read(connection, buffer, sizeof(buffer));
          if (got <= 0) break;
          request.append(buffer, static_cast<size_t>(got));
        }
        last_request_ = request;
        ++requests_;
        std::string answer = "HTTP/1.1 " + std::to_string(status) +
                             " X\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        (void)!write(connection, answer.data(), answer.size());
        close(connection);
      }
    });
  }
  int requests() {
    thread_.join();
    return requests_;
  }
  std::string TakeRequest() {
    thread_.join();
    return last_request_;
  }

 private:
  int listener_;
  int port_;
  std::thread thread_;
  std::string last_request_;
  int requests_ = 0;
};

// The request as sigv4::Verify wants it, from the raw HTTP text.
sigv4::SignableRequest Parse(const std::string& raw) {
  sigv4::SignableRequest request;
  size_t end = raw.find("\r\n\r\n");
  std::string head = raw.substr(0, end);
  request.body = raw.substr(end + 4);
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  request.method = first.substr(0, first.find(' '));
  request.target = first.substr(first.find(' ') + 1, first.rfind(' ') - first.find(' ') - 1);
  size_t position = line_end + 2;
  while (position < head.size()) {
    size_t next = head.find("\r\n", position);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(position, next - position);
    size_t colon = line.find(':');
    request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    position = next + 2;
  }
  return request;
}

std::string Header(const sigv4::SignableRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (strcasecmp(key.c_str(), name.c_str()) == 0) return value;
  }
  return "";
}

class KmsClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<KmsClient> Client() {
    return *NewKmsClient({fake_.url(), "us-east-1", {"AKIATEST", "test-secret", ""}});
  }
  FakeKms fake_;
};

TEST_F(KmsClientTest, GenerateDataKeySendsASignedJsonRequestAndReadsTheAnswer) {
  std::string key(32, 'k');
  fake_.Serve(200, json{{"Plaintext", crypto::Base64Encode(key)},
                        {"CiphertextBlob", crypto::Base64Encode("blob")},
                        {"KeyId", "arn:aws:kms:us-east-1:111122223333:key/k"}}
                       .dump());
  auto data_key = Client()->GenerateDataKey("alias/x", 32, {{"a", "1"}});
  ASSERT_TRUE(data_key.ok()) << data_key.status();
  EXPECT_EQ(data_key->plaintext.view(), key);
  EXPECT_EQ(data_key->ciphertext_blob, "blob");
  EXPECT_EQ(data_key->key_arn, "arn:aws:kms:us-east-1:111122223333:key/k");

  sigv4::SignableRequest request = Parse(fake_.TakeRequest());
  EXPECT_EQ(Header(request, "X-Amz-Target"), "TrentService.GenerateDataKey");
  EXPECT_EQ(Header(request, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(Header(request, "User-Agent"), "kms/" + std::string(Version()));
  json body = json::parse(request.body);
  EXPECT_EQ(body["KeyId"], "alias/x");
  EXPECT_EQ(body["NumberOfBytes"], 32);
  EXPECT_EQ(body["EncryptionContext"], (json{{"a", "1"}}));
  auto verified = sigv4::Verify(
      request,
      [](std::string_view id) -> std::optional<std::string> {
        if (id == "AKIATEST") return "test-secret";
        return std::nullopt;
      },
      {.region = "us-east-1", .service = "kms", .now = static_cast<int64_t>(time(nullptr))});
  EXPECT_TRUE(verified.ok()) << verified.status();
}

TEST_F(KmsClientTest, DecryptSendsTheBlobContextAndKey) {
  fake_.Serve(200, json{{"Plaintext", crypto::Base64Encode("secret")}, {"KeyId", "arn"}}.dump());
  auto opened = Client()->Decrypt("blob", {}, "arn:key");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->first.view(), "secret");
  json body = json::parse(Parse(fake_.TakeRequest()).body);
  EXPECT_EQ(body["CiphertextBlob"], crypto::Base64Encode("blob"));
  EXPECT_EQ(body["KeyId"], "arn:key");
  EXPECT_FALSE(body.contains("EncryptionContext"));
}

TEST(Version, IsTheProjectVersion) {
  EXPECT_TRUE(std::regex_match(std::string(Version()), std::regex(R"(\d+\.\d+\.\d+)")))
      << Version();
  EXPECT_EQ(UserAgent(), "kms/" + std::string(Version()));
}

TEST(Unreachable, TheErrorSaysWhereTheEndpointCameFrom) {
  ClientSettings settings{"http://127.0.0.1:9", "us-east-1", {"a", "b", ""}, "AWS_ENDPOINT_URL"};
  auto failed = (*NewKmsClient(settings))->Decrypt("blob", {}, "");
  std::string message(failed.status().message());
  EXPECT_NE(message.find("cannot reach KMS at http://127.0.0.1:9 (from AWS_ENDPOINT_URL)"),
            std::string::npos)
      << message;
}

TEST_F(KmsClientTest, AwsErrorsKeepTheirTypeAndMessage) {
  fake_.Serve(400, R"({"__type":"NotFoundException","message":"Key 'x' does not exist"})");
  auto missing = Client()->Encrypt("x", SecretBytes::FromString("p"), {});
  EXPECT_EQ(TypeOf(missing.status()), ErrorType::kNotFound);
  std::string message(missing.status().message());
  EXPECT_NE(message.find("Encrypt"), std::string::npos) << message;
  EXPECT_NE(message.find("NotFoundException"), std::string::npos) << message;
  EXPECT_NE(message.find("Key 'x' does not exist"), std::string::npos) << message;

  fake_.Serve(400, R"({"__type":"com.amazonaws.kms#DisabledException","Message":"disabled"})");
  auto disabled = Client()->Decrypt("blob", {}, "");
  EXPECT_EQ(TypeOf(disabled.status()), ErrorType::kDisabled);
  EXPECT_NE(std::string(disabled.status().message()).find("disabled"), std::string::npos);
}

TEST_F(KmsClientTest, ThrottlingAndServerErrorsAreRetried) {
  fake_.ServeEach({{400, R"({"__type":"ThrottlingException","message":"slow down"})"},
                   {503, R"({"__type":"KMSInternalException"})"},
                   {200, json{{"Plaintext", crypto::Base64Encode("p")}}.dump()}});
  auto opened = Client()->Decrypt("blob", {}, "");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(fake_.requests(), 3);

  fake_.ServeEach({{503, "{}"}, {503, "{}"}, {503, "{}"}});
  EXPECT_FALSE(Client()->Decrypt("blob", {}, "").ok());
  EXPECT_EQ(fake_.requests(), 3);
}

TEST_F(KmsClientTest, ClientErrorsAreNotRetried) {
  fake_.ServeEach({{400, R"({"__type":"InvalidCiphertextException"})"}});
  EXPECT_EQ(TypeOf(Client()->Decrypt("blob", {}, "").status()), ErrorType::kInvalidCiphertext);
  EXPECT_EQ(fake_.requests(), 1);
}

TEST_F(KmsClientTest, NonJsonErrorsAndMalformedAnswersAreErrors) {
  fake_.ServeEach({{502, "<html>bad gateway</html>"},
                   {502, "<html>bad gateway</html>"},
                   {502, "<html>bad gateway</html>"}});
  auto gateway = Client()->Decrypt("blob", {}, "");
  ASSERT_FALSE(gateway.ok());
  EXPECT_NE(std::string(gateway.status().message()).find("502"), std::string::npos);

  fake_.Serve(200, R"({"KeyId":"arn"})");  // no Plaintext
  EXPECT_FALSE(Client()->Decrypt("blob", {}, "").ok());
  fake_.Serve(200, R"({"Plaintext":"not base64!"})");
  EXPECT_FALSE(Client()->Decrypt("blob", {}, "").ok());
}

TEST(KmsClient, AnUnreachableEndpointSaysWhere) {
  // A port nothing listens on: bind one, close it, use it.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  getsockname(probe, reinterpret_cast<sockaddr*>(&address), &size);
  close(probe);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  auto client = *NewKmsClient({url, "us-east-1", {"a", "b", ""}});
  auto result = client->Decrypt("blob", {}, "");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(std::string(result.status().message()).find(url), std::string::npos) << result.status();
}

}  // namespace
}  // namespace kmsd::client
