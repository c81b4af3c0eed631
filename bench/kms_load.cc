// kms_load: a load generator for AWS-KMS-compatible servers (kmsd, moto_server). It signs every
// request with SigV4 like a real client, keeps N keep-alive connections busy for a fixed time,
// checks every answer (a wrong or failed answer is an error, never a success) and prints
// requests/s and latency percentiles. Single process, one Asio thread by default, so that it
// leaves as much CPU as it can to the server it measures on the same machine.
//
//   kms_load create-keys --endpoint URL --count N --out FILE     CreateKey N times, ids to FILE
//   kms_load run --endpoint URL --keys FILE --op OP [--connections 64] [--seconds 10]
//   OP: Encrypt, Decrypt, GenerateDataKey, DescribeKey, Mix (an even mix of the four)
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region from AWS_REGION (us-east-1).
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kmsd/sigv4.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

enum class Operation { kEncrypt, kDecrypt, kGenerateDataKey, kDescribeKey, kCreateKey };
constexpr const char* kOperationNames[] = {"Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey",
                                           "CreateKey"};
constexpr int kMeasuredOperations = 4;  // CreateKey is set-up, not a measured operation

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string host_header;
  std::string region = "us-east-1";
  kmsd::sigv4::Credentials credentials;
  int connections = 64;
  double seconds = 10;
  double warmup_seconds = 1;
  std::string keys_file;
  std::string out_file;
  long count = 0;
  std::string op = "Encrypt";
  std::string label;  // printed in the result row, e.g. "kmsd" or "moto"
  bool json_output = false;
};

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

// Strict enough for checking answers: standard alphabet with padding; nullopt otherwise.
std::optional<std::string> Unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = (text.back() == '=') + (text.size() > 1 && text[text.size() - 2] == '=');
  out.resize(n - padding);
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fprintf(stderr, "kms_load: RAND_bytes failed\n");
    std::exit(1);
  }
  return out;
}

// One key under load, with an Encrypt answer prepared for Decrypt.
struct KeyUnderTest {
  std::string id;   // as listed (key id)
  std::string arn;  // as the server reports it
  std::string plaintext;
  std::string ciphertext_b64;
};

// A request to send and what a correct answer must hold.
struct Exchange {
  Operation operation;
  const KeyUnderTest* key = nullptr;
  std::string body;
  std::string plaintext;  // Encrypt: what was sent
};

Exchange MakeExchange(Operation operation, const KeyUnderTest* key, std::mt19937_64& random) {
  Exchange exchange{operation, key, {}, {}};
  Json body;
  switch (operation) {
    case Operation::kEncrypt: {
      // 32 bytes, the size of a data key: what a KMS is typically asked to encrypt.
      std::string plaintext(32, '\0');
      for (char& c : plaintext) c = static_cast<char>(random());
      body = {{"KeyId", key->id}, {"Plaintext", Base64(plaintext)}};
      exchange.plaintext = std::move(plaintext);
      break;
    }
    case Operation::kDecrypt:
      body = {{"CiphertextBlob", key->ciphertext_b64}, {"KeyId", key->id}};
      break;
    case Operation::kGenerateDataKey:
      body = {{"KeyId", key->id}, {"KeySpec", "AES_256"}};
      break;
    case Operation::kDescribeKey:
      body = {{"KeyId", key->id}};
      break;
    case Operation::kCreateKey:
      body = {{"Description", "kms_load"}};
      break;
  }
  exchange.body = body.dump();
  return exchange;
}

// Empty when the answer is what a correct server says; else why not.
std::string CheckAnswer(const Exchange& exchange, unsigned status, const std::string& body,
                        std::string* created_key_id = nullptr) {
  if (status != 200) return "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
  Json answer = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) return "answer is not a JSON object";
  auto text = [&answer](const char* name) -> std::string {
    auto it = answer.find(name);
    return it != answer.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const KeyUnderTest* key = exchange.key;
  switch (exchange.operation) {
    case Operation::kEncrypt: {
      auto blob = Unbase64(text("CiphertextBlob"));
      if (!blob || blob->size() <= exchange.plaintext.size()) return "bad CiphertextBlob";
      if (text("KeyId") != key->arn) return "wrong KeyId: " + text("KeyId");
      return {};
    }
    case Operation::kDecrypt: {
      auto plaintext = Unbase64(text("Plaintext"));
      if (!plaintext || *plaintext != key->plaintext) return "wrong Plaintext";
      if (text("KeyId") != key->arn) return "wrong KeyId: " + text("KeyId");
      return {};
    }
    case Operation::kGenerateDataKey: {
      auto plaintext = Unbase64(text("Plaintext"));
      auto blob = Unbase64(text("CiphertextBlob"));
      if (!plaintext || plaintext->size() != 32) return "Plaintext is not a 32-byte key";
      if (!blob || blob->size() <= 32) return "bad CiphertextBlob";
      if (text("KeyId") != key->arn) return "wrong KeyId: " + text("KeyId");
      return {};
    }
    case Operation::kDescribeKey: {
      auto metadata = answer.find("KeyMetadata");
      if (metadata == answer.end() || !metadata->is_object()) return "no KeyMetadata";
      if (metadata->value("Arn", "") != key->arn) return "wrong Arn";
      if (metadata->value("KeyState", "") != "Enabled") return "key not Enabled";
      return {};
    }
    case Operation::kCreateKey: {
      auto metadata = answer.find("KeyMetadata");
      if (metadata == answer.end() || !metadata->is_object()) return "no KeyMetadata";
      std::string id = metadata->value("KeyId", "");
      if (id.empty()) return "no KeyId";
      if (created_key_id) *created_key_id = id;
      return {};
    }
  }
  return "unknown operation";
}

struct Tally {
  std::vector<uint32_t> latencies_us;  // successes inside the measured window
  long errors = 0;
  std::string first_error;
};

struct Run {
  asio::io_context& io;
  const Options& options;
  tcp::resolver::results_type endpoints;
  std::vector<KeyUnderTest>& keys;
  std::vector<Operation> operations;  // chosen from in turn
  Clock::time_point measure_from;
  Clock::time_point stop_at;
  long remaining = -1;  // count mode (create-keys): requests left to start; -1 = timed
  Tally tally[5];
  std::vector<std::string> created;  // create-keys: the new key ids
  long connection_failures = 0;
  long reconnections = 0;  // answers that came with "Connection: close"
  long answers = 0;        // every answer read, warm-up and errors included (for CPU per request)
};

// One keep-alive connection that sends requests one after another until the run ends.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Run& run, uint64_t seed) : run_(run), stream_(run.io), random_(seed) {}

  void Start() {
    stream_.async_connect(run_.endpoints,
                          [self = shared_from_this()](beast::error_code ec, const auto&) {
                            if (ec) {
                              ++self->run_.connection_failures;
                              return;
                            }
                            self->stream_.socket().set_option(tcp::no_delay(true));
                            self->Next();
                          });
  }

  // A server that closes after an answer (moto_server's development server does) gets a new
  // connection; the connecting is part of the next request's latency, as for a real client.
  void Reconnect() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
    ++run_.reconnections;
    Start();
  }

 private:
  void Next() {
    if (run_.remaining == 0) return;
    if (run_.remaining > 0) --run_.remaining;
    if (run_.remaining < 0 && Clock::now() >= run_.stop_at) return;
    Operation operation = run_.operations[turn_++ % run_.operations.size()];
    const KeyUnderTest* key =
        run_.keys.empty() ? nullptr : &run_.keys[random_() % run_.keys.size()];
    exchange_ = MakeExchange(operation, key, random_);

    kmsd::sigv4::SignableRequest signable;
    signable.method = "POST";
    signable.target = "/";
    signable.headers = {{"host", run_.options.host_header},
                        {"content-type", "application/x-amz-json-1.1"},
                        {"x-amz-target", std::string("TrentService.") +
                                             kOperationNames[static_cast<int>(operation)]}};
    signable.body = exchange_.body;
    kmsd::sigv4::Sign(signable, run_.options.credentials, run_.options.region, "kms",
                      static_cast<int64_t>(std::time(nullptr)));
    request_ = {};
    request_.method(http::verb::post);
    request_.target("/");
    request_.version(11);
    request_.keep_alive(true);
    for (auto& [name, value] : signable.headers) request_.set(name, value);
    request_.body() = std::move(signable.body);
    request_.prepare_payload();

    started_ = Clock::now();
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail("write: " + ec.message());
      self->response_ = {};
      http::async_read(self->stream_, self->buffer_, self->response_,
                       [self](beast::error_code ec, size_t) { self->OnAnswer(ec); });
    });
  }

  void OnAnswer(beast::error_code ec) {
    if (ec) return Fail("read: " + ec.message());
    auto finished = Clock::now();
    ++run_.answers;
    std::string created;
    std::string problem =
        CheckAnswer(exchange_, response_.result_int(), response_.body(), &created);
    Tally& tally = run_.tally[static_cast<int>(exchange_.operation)];
    if (!problem.empty()) {
      ++tally.errors;
      if (tally.first_error.empty()) tally.first_error = problem;
    } else {
      if (!created.empty()) run_.created.push_back(created);
      if (started_ >= run_.measure_from) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(finished - started_);
        tally.latencies_us.push_back(static_cast<uint32_t>(us.count()));
      }
    }
    if (!response_.keep_alive()) return Reconnect();
    Next();
  }

  void Fail(const std::string& why) {
    // A broken connection is an error for the request in flight; the connection is not reopened
    // (kmsd and moto both keep connections alive), so the run shows it as fewer requests.
    if (run_.remaining < 0 && Clock::now() >= run_.stop_at) return;
    Tally& tally = run_.tally[static_cast<int>(exchange_.operation)];
    ++tally.errors;
    if (tally.first_error.empty()) tally.first_error = why;
  }

  Run& run_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::mt19937_64 random_;
  size_t turn_ = 0;
  Exchange exchange_;
  Clock::time_point started_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

// User and system CPU this process has used so far, in microseconds.
std::pair<double, double> CpuMicroseconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  return {us(usage.ru_utime), us(usage.ru_stime)};
}

// Runs connections until the duration or the count is spent; returns the elapsed measured time.
double Drive(Run& run, int connections) {
  std::mt19937_64 seeds(std::random_device{}());
  for (int i = 0; i < connections; ++i) std::make_shared<Connection>(run, seeds())->Start();
  auto begun = Clock::now();
  run.io.run();
  run.io.restart();
  auto from = std::max(run.measure_from, begun);
  return std::chrono::duration<double>(Clock::now() - from).count();
}

bool ParseEndpoint(const std::string& url, Options& options) {
  std::string_view rest = url;
  if (!rest.starts_with("http://")) return false;
  rest.remove_prefix(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  options.host = std::string(rest.substr(0, colon));
  options.port = std::string(rest.substr(colon + 1));
  options.host_header = std::string(rest);
  return true;
}

double Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[index] / 1000.0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: kms_load create-keys --endpoint http://HOST:PORT --count N --out FILE\n"
               "       kms_load run --endpoint http://HOST:PORT --keys FILE --op "
               "Encrypt|Decrypt|GenerateDataKey|DescribeKey|Mix\n"
               "                [--connections 64] [--seconds 10] [--warmup 1] [--label NAME]\n"
               "credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; AWS_REGION (us-east-1)\n");
  return 2;
}

// Asks each key once for an Encrypt answer (and its ARN), sequentially over a few connections.
bool PrepareKeys(asio::io_context& io, const Options& options,
                 tcp::resolver::results_type endpoints, std::vector<KeyUnderTest>& keys) {
  // Under load every key is drawn at random; preparing 100,000 keys would take as long as the
  // run, so at most this many distinct keys take part (drawn evenly over the whole list).
  constexpr size_t kMaxKeysUnderLoad = 2000;
  if (keys.size() > kMaxKeysUnderLoad) {
    std::vector<KeyUnderTest> sample;
    for (size_t i = 0; i < kMaxKeysUnderLoad; ++i) {
      sample.push_back(keys[i * keys.size() / kMaxKeysUnderLoad]);
    }
    keys = std::move(sample);
  }
  for (KeyUnderTest& key : keys) key.plaintext = RandomBytes(32);
  tcp::socket socket(io);
  beast::flat_buffer buffer;
  for (KeyUnderTest& key : keys) {
    if (!socket.is_open()) {
      asio::connect(socket, endpoints);
      buffer.clear();
    }
    kmsd::sigv4::SignableRequest signable{
        "POST", "/",
        {{"host", options.host_header},
         {"content-type", "application/x-amz-json-1.1"},
         {"x-amz-target", "TrentService.Encrypt"}},
        Json{{"KeyId", key.id}, {"Plaintext", Base64(key.plaintext)}}.dump()};
    kmsd::sigv4::Sign(signable, options.credentials, options.region, "kms", std::time(nullptr));
    http::request<http::string_body> request{http::verb::post, "/", 11};
    for (auto& [name, value] : signable.headers) request.set(name, value);
    request.body() = signable.body;
    request.prepare_payload();
    http::write(socket, request);
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    if (!response.keep_alive()) socket.close();
    Json answer = Json::parse(response.body(), nullptr, false);
    if (response.result_int() != 200 || !answer.is_object() ||
        !answer.contains("CiphertextBlob")) {
      std::fprintf(stderr, "kms_load: cannot prepare key %s: %s\n", key.id.c_str(),
                   response.body().c_str());
      return false;
    }
    key.ciphertext_b64 = answer["CiphertextBlob"];
    key.arn = answer.value("KeyId", "");
  }
  return true;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string command = argv[1];
  Options options;
  std::string endpoint;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string value = argv[++i];
    if (flag == "--endpoint") endpoint = value;
    else if (flag == "--connections") options.connections = std::stoi(value);
    else if (flag == "--seconds") options.seconds = std::stod(value);
    else if (flag == "--warmup") options.warmup_seconds = std::stod(value);
    else if (flag == "--keys") options.keys_file = value;
    else if (flag == "--out") options.out_file = value;
    else if (flag == "--count") options.count = std::stol(value);
    else if (flag == "--op") options.op = value;
    else if (flag == "--label") options.label = value;
    else return Usage();
  }
  if (!ParseEndpoint(endpoint, options)) return Usage();
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  const char* region = std::getenv("AWS_REGION");
  if (!id || !secret) return Usage();
  options.credentials = {id, secret, ""};
  if (region && *region) options.region = region;

  asio::io_context io(1);
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(options.host, options.port);
  std::vector<KeyUnderTest> keys;

  if (command == "create-keys") {
    if (options.count <= 0 || options.out_file.empty()) return Usage();
    Run run{io, options, endpoints, keys, {Operation::kCreateKey}, Clock::now(), Clock::now()};
    run.remaining = options.count;
    auto started = Clock::now();
    Drive(run, static_cast<int>(std::min<long>(options.connections, options.count)));
    double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    std::ofstream out(options.out_file);
    for (const std::string& key : run.created) out << key << "\n";
    const Tally& tally = run.tally[static_cast<int>(Operation::kCreateKey)];
    std::printf("created %zu keys in %.2f s (%.0f keys/s), %ld errors%s%s\n", run.created.size(),
                elapsed, run.created.size() / elapsed, tally.errors,
                tally.errors ? ", first: " : "", tally.first_error.c_str());
    return tally.errors || static_cast<long>(run.created.size()) != options.count ? 1 : 0;
  }
  if (command != "run" || options.keys_file.empty()) return Usage();

  std::ifstream in(options.keys_file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) keys.push_back({line, "", "", ""});
  }
  if (keys.empty()) {
    std::fprintf(stderr, "kms_load: no keys in %s\n", options.keys_file.c_str());
    return 2;
  }
  if (!PrepareKeys(io, options, endpoints, keys)) return 1;

  std::vector<Operation> operations;
  if (options.op == "Mix") {
    operations = {Operation::kEncrypt, Operation::kDecrypt, Operation::kGenerateDataKey,
                  Operation::kDescribeKey};
  } else {
    for (int i = 0; i < kMeasuredOperations; ++i) {
      if (options.op == kOperationNames[i]) operations = {static_cast<Operation>(i)};
    }
  }
  if (operations.empty()) return Usage();
  auto now = Clock::now();
  auto warmup = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.warmup_seconds));
  auto duration = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.seconds));
  Run run{io, options, endpoints, keys, operations, now + warmup, now + warmup + duration};
  auto [user_before, system_before] = CpuMicroseconds();
  double elapsed = Drive(run, options.connections);
  auto [user_after, system_after] = CpuMicroseconds();

  // One row per operation, plus the total for a mix: label | op | conns | ok | errors | req/s |
  // p50 | p99 | p99.9 (ms).
  std::vector<uint32_t> all;
  long all_errors = 0;
  std::string first_error;
  auto row = [&](const std::string& name, std::vector<uint32_t>& latencies, long errors) {
    std::sort(latencies.begin(), latencies.end());
    std::printf("| %s | %s | %d | %zu | %ld | %.0f | %.2f | %.2f | %.2f |\n",
                options.label.c_str(), name.c_str(), options.connections, latencies.size(),
                errors, latencies.size() / elapsed, Percentile(latencies, 0.50),
                Percentile(latencies, 0.99), Percentile(latencies, 0.999));
  };
  for (int i = 0; i < kMeasuredOperations; ++i) {
    Tally& tally = run.tally[i];
    if (tally.latencies_us.empty() && tally.errors == 0) continue;
    all.insert(all.end(), tally.latencies_us.begin(), tally.latencies_us.end());
    all_errors += tally.errors;
    if (first_error.empty()) first_error = tally.first_error;
    if (operations.size() == 1) row(kOperationNames[i], tally.latencies_us, tally.errors);
  }
  if (operations.size() > 1) row("Mix (all four, in turn)", all, all_errors);
  if (run.reconnections) {
    std::fprintf(stderr, "kms_load: %s closed the connection after %ld answers (reconnected)\n",
                 options.label.c_str(), run.reconnections);
  }
  if (run.connection_failures) {
    std::fprintf(stderr, "kms_load: %ld connections failed to connect\n", run.connection_failures);
  }
  if (!first_error.empty()) std::fprintf(stderr, "kms_load: first error: %s\n", first_error.c_str());
  // On stderr, so that the table rows on stdout stay as run_bench.sh parses them. What the load
  // generator costs matters when it shares the machine with the server it measures.
  if (run.answers > 0) {
    double user = (user_after - user_before) / run.answers;
    double system = (system_after - system_before) / run.answers;
    std::fprintf(stderr,
                 "kms_load: CPU %.1f µs per request (user %.1f + system %.1f) over %ld answers, "
                 "warm-up included\n",
                 user + system, user, system, run.answers);
  }
  std::fflush(stdout);
  return all_errors || run.connection_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kms_load: %s\n", e.what());
    return 1;
  }
}
