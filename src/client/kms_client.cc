// The KMS API over HTTP(S): Boost.Beast synchronous client, SigV4, JSON 1.1. Exceptions from Beast
// stay in this file.
#include "kmsd/kms_client.h"

#include <openssl/crypto.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

constexpr size_t kMaxResponseBytes = 1 << 20;
constexpr int kAttempts = 3;
constexpr std::chrono::milliseconds kFirstBackoff{50};

// Wipes what it frees: the HTTP buffers and bodies hold data keys (base64) on their way in and
// out, and growing a buffer frees its old copy.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const {
    return true;
  }
};
using WipedBody = http::basic_string_body<char, std::char_traits<char>, WipingAllocator<char>>;

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
};

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& url) {
  Endpoint endpoint;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    endpoint.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return Validation(StrCat("endpoint URL must start with http:// or https://: ", url));
  }
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  if (rest.starts_with("[")) {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Validation("malformed endpoint URL");
    endpoint.host = std::string(rest.substr(1, close - 1));
    colon = rest.find(':', close);
  } else {
    endpoint.host = std::string(rest.substr(0, colon));
  }
  endpoint.port = colon == std::string_view::npos ? (endpoint.tls ? "443" : "80")
                                                  : std::string(rest.substr(colon + 1));
  if (endpoint.host.empty() || endpoint.port.empty()) return Validation("malformed endpoint URL");
  return endpoint;
}

std::string HostHeader(const Endpoint& endpoint) {
  bool default_port = endpoint.port == (endpoint.tls ? "443" : "80");
  std::string host =
      endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  return default_port ? host : StrCat(host, ":", endpoint.port);
}

json ContextJson(const EncryptionContext& context) {
  json object = json::object();
  for (const auto& [key, value] : context) object[key] = value;
  return object;
}

// The ErrorType AWS calls name (e.g. "NotFoundException"); kDependencyTimeout for names we do not
// know, as for any other failure of the service.
ErrorType TypeFromAwsName(std::string_view name) {
  for (int i = static_cast<int>(ErrorType::kNone) + 1;
       i <= static_cast<int>(ErrorType::kInvalidClientTokenId); ++i) {
    if (AwsName(static_cast<ErrorType>(i)) == name) return static_cast<ErrorType>(i);
  }
  return ErrorType::kDependencyTimeout;
}

// AWS's error answer as a status of the same type, saying which call failed and why.
absl::Status KmsError(std::string_view operation, int http_status, const json& answer) {
  std::string type, message;
  if (answer.is_object()) {
    if (auto it = answer.find("__type"); it != answer.end() && it->is_string())
      type = it->get<std::string>();
    for (const char* name : {"message", "Message"}) {
      if (auto it = answer.find(name); it != answer.end() && it->is_string())
        message = it->get<std::string>();
    }
  }
  // Some services send a namespaced type: "com.amazonaws.kms#NotFoundException".
  if (size_t hash = type.rfind('#'); hash != std::string::npos) type.erase(0, hash + 1);
  return Error(type.empty() ? ErrorType::kDependencyTimeout : TypeFromAwsName(type),
               StrCat("KMS ", operation, " failed: ", type.empty() ? "HTTP error" : type,
                      message.empty() ? "" : ": ", message, " (HTTP ", http_status, ")"));
}

class HttpKmsClient final : public KmsClient {
 public:
  HttpKmsClient(ClientSettings settings, Endpoint endpoint)
      : settings_(std::move(settings)), endpoint_(std::move(endpoint)) {
    // Loading the CA store costs tens of milliseconds: only an https endpoint pays for it.
    if (!endpoint_.tls) return;
    tls_context_.emplace(asio::ssl::context::tls_client);
    tls_context_->set_default_verify_paths();
    if (const char* bundle = std::getenv("AWS_CA_BUNDLE"); bundle && *bundle) {
      boost::system::error_code ignored;
      tls_context_->load_verify_file(bundle, ignored);
    }
    tls_context_->set_verify_mode(asio::ssl::verify_peer);
  }

  absl::StatusOr<DataKey> GenerateDataKey(const std::string& key_id, size_t bytes,
                                          const EncryptionContext& context) override {
    json request = {{"KeyId", key_id}, {"NumberOfBytes", bytes}};
    if (!context.empty()) request["EncryptionContext"] = ContextJson(context);
    auto response = Call("GenerateDataKey", request.dump());
    if (!response.ok()) return response.status();
    DataKey key;
    auto plaintext = SecretMember(*response, "Plaintext");
    auto blob = BlobMember(*response, "CiphertextBlob");
    if (!plaintext.ok()) return plaintext.status();
    if (!blob.ok()) return blob.status();
    key.plaintext = std::move(*plaintext);
    key.ciphertext_blob = std::move(*blob);
    key.key_arn = response->value("KeyId", "");
    return key;
  }

  absl::StatusOr<std::pair<std::string, std::string>> Encrypt(
      const std::string& key_id, const SecretBytes& plaintext,
      const EncryptionContext& context) override {
    std::string encoded = crypto::Base64Encode(plaintext.view());
    json request = {{"KeyId", key_id}, {"Plaintext", encoded}};
    OPENSSL_cleanse(encoded.data(), encoded.size());
    if (!context.empty()) request["EncryptionContext"] = ContextJson(context);
    std::string body = request.dump();
    OPENSSL_cleanse(request["Plaintext"].get_ref<std::string&>().data(),
                    request["Plaintext"].get_ref<std::string&>().size());
    auto response = Call("Encrypt", std::move(body));
    if (!response.ok()) return response.status();
    auto blob = BlobMember(*response, "CiphertextBlob");
    if (!blob.ok()) return blob.status();
    return std::make_pair(std::move(*blob), response->value("KeyId", ""));
  }

  absl::StatusOr<std::pair<SecretBytes, std::string>> Decrypt(const std::string& blob,
                                                              const EncryptionContext& context,
                                                              const std::string& key_id) override {
    json request = {{"CiphertextBlob", crypto::Base64Encode(blob)}};
    if (!context.empty()) request["EncryptionContext"] = ContextJson(context);
    if (!key_id.empty()) request["KeyId"] = key_id;
    auto response = Call("Decrypt", request.dump());
    if (!response.ok()) return response.status();
    auto plaintext = SecretMember(*response, "Plaintext");
    if (!plaintext.ok()) return plaintext.status();
    return std::make_pair(std::move(*plaintext), response->value("KeyId", ""));
  }

 private:
  static absl::StatusOr<std::string> BlobMember(const json& response, const char* name) {
    auto it = response.find(name);
    if (it == response.end() || !it->is_string()) {
      return Error(ErrorType::kKmsInternal, StrCat("KMS answer lacks ", name));
    }
    return crypto::Base64Decode(it->get_ref<const std::string&>());
  }

  static absl::StatusOr<SecretBytes> SecretMember(json& response, const char* name) {
    auto it = response.find(name);
    if (it == response.end() || !it->is_string()) {
      return Error(ErrorType::kKmsInternal, StrCat("KMS answer lacks ", name));
    }
    std::string& text = it->get_ref<std::string&>();
    auto decoded = crypto::Base64DecodeSecret(text);
    OPENSSL_cleanse(text.data(), text.size());
    return decoded;
  }

  // One signed POST; the answer's JSON, or the AWS error it carried.
  // One signed POST, retried as the AWS SDKs' standard mode does (3 attempts, exponential
  // backoff with jitter) when KMS could not be reached, throttled, or failed on its side; the
  // answer's JSON, or the AWS error it carried.
  absl::StatusOr<json> Call(std::string_view operation, std::string body) {
    absl::StatusOr<json> result;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) {
        auto cap = kFirstBackoff * (1 << attempt);
        std::this_thread::sleep_for(cap / 2 + cap * (std::rand() % 1000) / 2000);
      }
      bool retryable = false;
      result = CallOnce(operation, body, retryable);
      if (result.ok() || !retryable) break;
    }
    OPENSSL_cleanse(body.data(), body.size());
    return result;
  }

  absl::StatusOr<json> CallOnce(std::string_view operation, const std::string& body,
                                bool& retryable) {
    sigv4::SignableRequest request;
    request.method = "POST";
    request.target.push_back('/');  // not = "/": GCC 12 warns falsely (-Wrestrict) here
    request.headers = {{"host", HostHeader(endpoint_)},
                       {"content-type", "application/x-amz-json-1.1"},
                       {"x-amz-target", StrCat("TrentService.", operation)}};
    request.body = body;
    sigv4::Sign(request, settings_.credentials, settings_.region, "kms",
                static_cast<int64_t>(std::time(nullptr)));
    absl::StatusOr<std::pair<int, std::string>> answer = Exchange(request);
    OPENSSL_cleanse(request.body.data(), request.body.size());
    if (!answer.ok()) {
      retryable = true;
      return answer.status();
    }
    auto [status, text] = std::move(*answer);
    json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    OPENSSL_cleanse(text.data(), text.size());
    if (status != 200) {
      absl::Status error = KmsError(operation, status, parsed);
      retryable = status >= 500 || TypeOf(error) == ErrorType::kThrottling;
      return error;
    }
    if (!parsed.is_object()) return Internal(StrCat("KMS ", operation, " answered malformed JSON"));
    return parsed;
  }

  absl::StatusOr<std::pair<int, std::string>> Exchange(
      const sigv4::SignableRequest& signed_request) {
    try {
      http::request<WipedBody> message{http::verb::post, "/", 11};
      for (const auto& [name, value] : signed_request.headers) message.set(name, value);
      message.set(http::field::user_agent, user_agent_);  // not signed, as the AWS tools
      message.body().assign(signed_request.body.data(), signed_request.body.size());
      message.prepare_payload();
      http::response_parser<WipedBody> parser;
      parser.body_limit(kMaxResponseBytes);
      beast::basic_flat_buffer<WipingAllocator<char>> buffer;
      asio::ip::tcp::resolver resolver(io_);
      auto addresses = resolver.resolve(endpoint_.host, endpoint_.port);
      if (endpoint_.tls) {
        beast::ssl_stream<beast::tcp_stream> stream(io_, *tls_context_);
        if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint_.host.c_str())) {
          return Internal("cannot set TLS server name");
        }
        stream.set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
        beast::get_lowest_layer(stream).connect(addresses);
        stream.handshake(asio::ssl::stream_base::client);
        http::write(stream, message);
        http::read(stream, buffer, parser);
        beast::error_code ignored;
        stream.shutdown(ignored);
      } else {
        beast::tcp_stream stream(io_);
        stream.expires_after(std::chrono::seconds(30));
        stream.connect(addresses);
        http::write(stream, message);
        http::read(stream, buffer, parser);
      }
      auto& response = parser.get();
      return std::make_pair(static_cast<int>(response.result_int()),
                            std::string(response.body().data(), response.body().size()));
    } catch (const std::exception& e) {
      return Error(
          ErrorType::kDependencyTimeout,
          StrCat("cannot reach KMS at ", settings_.endpoint_url,
                 settings_.endpoint_source.empty() ? "" : " (from ", settings_.endpoint_source,
                 settings_.endpoint_source.empty() ? "" : ")", ": ", e.what()));
    }
  }

  ClientSettings settings_;
  Endpoint endpoint_;
  std::string user_agent_ = UserAgent();
  asio::io_context io_;
  std::optional<asio::ssl::context> tls_context_;  // https endpoints only
};

}  // namespace

absl::StatusOr<std::unique_ptr<KmsClient>> NewKmsClient(ClientSettings settings) {
  auto endpoint = ParseEndpoint(settings.endpoint_url);
  if (!endpoint.ok()) return endpoint.status();
  return std::unique_ptr<KmsClient>(
      std::make_unique<HttpKmsClient>(std::move(settings), std::move(*endpoint)));
}

}  // namespace kmsd::client
