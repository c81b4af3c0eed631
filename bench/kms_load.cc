// kms_load: a load generator for AWS-KMS-compatible servers (kmsd, moto_server). It signs every
// request with SigV4 like a real client, keeps N keep-alive connections busy for a fixed time,
// checks every answer (a wrong or failed answer is an error, never a success) and prints
// requests/s and latency percentiles. It shares the machine with the server it measures, so what
// it spends per request is CPU the server does not get: it speaks HTTP/1.1 itself over Asio sockets
// (one prebuilt buffer written per request, answers parsed in place in a per-connection buffer)
// and checks answers with a small JSON reader instead of a DOM. One Asio thread by default.
//
//   kms_load create-keys --endpoint URL --count N --out FILE [--key-spec SPEC]
//                                              CreateKey N times (SYMMETRIC_DEFAULT, or SPEC: an
//                                              HMAC spec is GENERATE_VERIFY_MAC, others
//                                              SIGN_VERIFY)
//   kms_load run --endpoint URL --keys FILE --op OP [--connections 64] [--seconds 10]
//   OP: Encrypt, Decrypt, GenerateDataKey, DescribeKey, Mix (an even mix of the four); Sign and
//   GenerateMac (issue 13) with --algorithm (SigningAlgorithm or MacAlgorithm) over a 32-byte
//   RAW message
//   kms_load self-test      checks the answer checker against good and bad answers, no server
//
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region from AWS_REGION (us-east-1).
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/sigv4.h"
#include "kmsd/strings.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// kPrepareKey is the Encrypt that run sends once per key before the load, to learn the key's ARN
// and a ciphertext for Decrypt; kPrepareByDescribe is the DescribeKey that does it for the keys
// that cannot encrypt (Sign, GenerateMac). They and CreateKey are set-up, not measured operations.
enum class Operation {
  kEncrypt,
  kDecrypt,
  kGenerateDataKey,
  kDescribeKey,
  kSign,
  kGenerateMac,
  kCreateKey,
  kPrepareKey,
  kPrepareByDescribe
};
constexpr int kOperationCount = 9;
constexpr const char* kOperationNames[kOperationCount] = {
    "Encrypt",     "Decrypt",   "GenerateDataKey", "DescribeKey", "Sign",
    "GenerateMac", "CreateKey", "Encrypt",         "DescribeKey"};
constexpr int kMeasuredOperations = 6;
constexpr size_t kEncryptPlaintextSize = 32;  // the size of a data key: what a KMS typically gets
constexpr size_t kDataKeySize = 32;           // GenerateDataKey with KeySpec AES_256

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string host_header;
  std::string region = "us-east-1";
  kmsd::sigv4::Credentials credentials;
  int connections = 64;
  int threads = 1;
  double seconds = 10;
  double warmup_seconds = 1;
  std::string keys_file;
  std::string out_file;
  long count = 0;
  std::string op = "Encrypt";
  std::string label;  // printed in the result row, e.g. "kmsd" or "moto"
  // KEY=VALUE pairs sent as the EncryptionContext of Encrypt, Decrypt and GenerateDataKey.
  std::vector<std::pair<std::string, std::string>> encryption_context;
  std::string key_spec;   // create-keys: KeySpec of the new keys; empty = SYMMETRIC_DEFAULT
  std::string algorithm;  // run: the SigningAlgorithm of Sign, the MacAlgorithm of GenerateMac
};

// ---- JSON: writing the few request bodies, reading answers without a DOM.

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out.append(escaped);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// Reads just enough JSON to check an answer: walks an object's members, decodes the strings asked
// for (escapes included) and skips every other value while checking its syntax, so a malformed
// answer is refused as a DOM parser would refuse it.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  // Calls on_member(name) for each member of the object at the cursor, where on_member must
  // consume the member's value (ReadString, ReadBool, ReadObject or SkipValue) and return whether
  // it could; name is valid until then. False when the JSON is malformed or on_member returned
  // false.
  template <typename OnMember>
  bool ReadObject(OnMember&& on_member) {
    if (++depth_ > kMaxDepth || !Consume('{')) return false;
    SkipWhitespace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      --depth_;
      return true;
    }
    while (true) {
      SkipWhitespace();
      if (!ReadString(name_) || !Consume(':')) return false;
      SkipWhitespace();
      if (!on_member(std::string_view(name_))) return false;
      SkipWhitespace();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (!Consume('}')) return false;
      --depth_;
      return true;
    }
  }

  // Whether the value at the cursor starts with c ('"' for a string, '{' for an object).
  bool NextIs(char c) const { return p_ < end_ && *p_ == c; }

  // The string at the cursor, unescaped into out. Like a DOM parser, refuses control characters
  // and malformed UTF-8.
  bool ReadString(std::string& out) {
    out.clear();
    if (!Consume('"')) return false;
    while (p_ < end_) {
      const char* run = p_;
      while (p_ < end_ && IsPlainAscii(*p_)) ++p_;
      out.append(run, p_);
      if (p_ == end_) return false;
      if (static_cast<unsigned char>(*p_) >= 0x80) {
        size_t length = Utf8SequenceLength();
        if (length == 0) return false;
        out.append(p_, length);
        p_ += length;
        continue;
      }
      if (static_cast<unsigned char>(*p_) < 0x20) return false;
      if (*p_++ == '"') return true;
      if (p_ == end_) return false;
      switch (char escape = *p_++) {
        case '"':
        case '\\':
        case '/':
          out.push_back(escape);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t code;
          if (!ReadHex4(code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF) {  // a high surrogate needs its low half
            uint32_t low;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!ReadHex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return false;
          }
          kmsd::AppendUtf8(out, code);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool ReadBool(bool& value) {
    if (ConsumeWord("true")) {
      value = true;
    } else if (ConsumeWord("false")) {
      value = false;
    } else {
      return false;
    }
    return true;
  }

  bool SkipValue() {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"':
        return ReadString(skipped_);
      case '{':
        return ReadObject([this](std::string_view) { return SkipValue(); });
      case '[':
        return SkipArray();
      case 't':
        return ConsumeWord("true");
      case 'f':
        return ConsumeWord("false");
      case 'n':
        return ConsumeWord("null");
      default:
        return SkipNumber();
    }
  }

  // True when nothing but whitespace is left.
  bool AtEnd() {
    SkipWhitespace();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 64;

  void SkipWhitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Consume(char c) {
    SkipWhitespace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool ConsumeWord(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  bool ReadHex4(uint32_t& code) {
    if (end_ - p_ < 4) return false;
    auto [rest, error] = std::from_chars(p_, p_ + 4, code, 16);
    if (error != std::errc() || rest != p_ + 4) return false;
    p_ += 4;
    return true;
  }
  // Printable ASCII and DEL, except the quote and the backslash.
  static bool IsPlainAscii(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x80 && c != '"' && c != '\\';
  }
  // The length of the well-formed UTF-8 sequence at the cursor (RFC 3629: shortest form, no
  // surrogates, at most U+10FFFF), or 0.
  size_t Utf8SequenceLength() const {
    auto byte = [this](size_t i) { return static_cast<unsigned char>(p_[i]); };
    unsigned char lead = byte(0), low = 0x80, high = 0xBF;  // the second byte's range
    size_t length;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return 0;
    }
    if (static_cast<size_t>(end_ - p_) < length || byte(1) < low || byte(1) > high) return 0;
    for (size_t i = 2; i < length; ++i) {
      if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
    }
    return length;
  }
  bool SkipArray() {
    if (++depth_ > kMaxDepth || !Consume('[')) return false;
    SkipWhitespace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      --depth_;
      return true;
    }
    while (true) {
      SkipWhitespace();
      if (!SkipValue()) return false;
      SkipWhitespace();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (!Consume(']')) return false;
      --depth_;
      return true;
    }
  }
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool SkipNumber() {
    auto digits = [this] {
      const char* start = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ - start;
    };
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ < end_ && *p_ == '0') {
      ++p_;
    } else if (digits() == 0) {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (digits() == 0) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (digits() == 0) return false;
    }
    return true;
  }

  const char* p_;
  const char* end_;
  int depth_ = 0;
  std::string name_;
  std::string skipped_;
};

// The members of an answer that the checks read. Reused from answer to answer (the strings keep
// their capacity), so checking allocates nothing once warm.
struct AnswerFields {
  struct Text {
    std::string value;
    bool present = false;  // present and a string
  };
  Text key_id, ciphertext_blob, plaintext, signature, mac;  // top level
  Text metadata_arn, metadata_key_id, metadata_state;       // in KeyMetadata
  bool key_metadata = false;
  std::optional<bool> metadata_enabled;
  std::string duplicate;  // a member that came twice, if any

  // Reads body, a JSON object, into the fields; empty when it could, else what is wrong.
  std::string Read(std::string_view body) {
    for (Text* text : {&key_id, &ciphertext_blob, &plaintext, &signature, &mac, &metadata_arn,
                       &metadata_key_id, &metadata_state}) {
      text->present = false;
    }
    key_metadata = false;
    metadata_enabled.reset();
    duplicate.clear();
    JsonReader reader(body);
    // A wanted member: a string goes into text; any other value is read (so the JSON is still
    // checked) and leaves text absent. A member twice is an error: a correct server never sends
    // one, and a checker that took either copy could be fooled.
    auto wanted = [&](std::string_view name, Text& text, bool& seen) {
      if (seen) duplicate = name;
      seen = true;
      if (!reader.NextIs('"')) return reader.SkipValue();
      text.present = true;
      return reader.ReadString(text.value);
    };
    bool seen[8] = {};
    bool seen_metadata = false, seen_enabled = false;
    bool ok = reader.ReadObject([&](std::string_view name) {
      if (name == "KeyId") return wanted(name, key_id, seen[0]);
      if (name == "CiphertextBlob") return wanted(name, ciphertext_blob, seen[1]);
      if (name == "Plaintext") return wanted(name, plaintext, seen[2]);
      if (name == "Signature") return wanted(name, signature, seen[6]);
      if (name == "Mac") return wanted(name, mac, seen[7]);
      if (name != "KeyMetadata") return reader.SkipValue();
      if (seen_metadata) duplicate = name;
      seen_metadata = true;
      if (!reader.NextIs('{')) return reader.SkipValue();
      key_metadata = true;
      return reader.ReadObject([&](std::string_view inner) {
        if (inner == "Arn") return wanted(inner, metadata_arn, seen[3]);
        if (inner == "KeyId") return wanted(inner, metadata_key_id, seen[4]);
        if (inner == "KeyState") return wanted(inner, metadata_state, seen[5]);
        if (inner != "Enabled") return reader.SkipValue();
        if (seen_enabled) duplicate = inner;
        seen_enabled = true;
        bool enabled;
        if (reader.ReadBool(enabled)) {
          metadata_enabled = enabled;
          return true;
        }
        return reader.SkipValue();
      });
    });
    if (!ok || !reader.AtEnd()) return "answer is not a JSON object";
    if (!duplicate.empty()) return "member " + duplicate + " appears twice";
    return {};
  }
};

// How many bytes text decodes to, or nullopt when it is not base64 by the rule of
// kmsd::crypto::Base64Decode: standard alphabet, padded, canonical (no bits set under the
// padding), so that each byte string has exactly one encoding. Validated by table lookup without
// decoding: Base64Decode's per-character range tests mispredict on random text and were 8% of
// this program's CPU.
std::optional<size_t> Base64DecodedSize(std::string_view text) {
  static constexpr auto kValues = [] {
    std::array<int8_t, 256> values{};
    values.fill(-1);
    constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < kAlphabet.size(); ++i) {
      values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    }
    return values;
  }();
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  int invalid = 0;  // any negative value sets the sign bit
  for (size_t i = 0; i < text.size() - padding; ++i) {
    invalid |= kValues[static_cast<unsigned char>(text[i])];
  }
  if (invalid < 0) return std::nullopt;
  if (padding == 2 && (kValues[static_cast<unsigned char>(text[text.size() - 3])] & 0x0F)) {
    return std::nullopt;
  }
  if (padding == 1 && (kValues[static_cast<unsigned char>(text[text.size() - 2])] & 0x03)) {
    return std::nullopt;
  }
  return text.size() / 4 * 3 - padding;
}

// Whether text is base64 of more than size bytes.
bool IsBlobLongerThan(const AnswerFields::Text& text, size_t size) {
  if (!text.present) return false;
  std::optional<size_t> decoded = Base64DecodedSize(text.value);
  return decoded && *decoded > size;
}

// ---- What is sent and what must come back.

// One key under load, with what its requests and answers need prepared once.
struct KeyUnderTest {
  std::string id;   // as listed (key id)
  std::string arn;  // as the server reports it
  std::string plaintext;
  std::string plaintext_b64;  // the only encoding of plaintext that Base64DecodedSize accepts
  std::string ciphertext_b64;
  std::string encrypt_body_prefix;  // {"KeyId":...,"Plaintext":"
  // ,"EncryptionContext":{...} in every Encrypt, Decrypt and GenerateDataKey body, or empty.
  std::string context_member;
  std::string algorithm;  // Sign's SigningAlgorithm or GenerateMac's MacAlgorithm
  std::array<std::string, kOperationCount> fixed_bodies;  // bodies that do not change per request
};

void PrepareBodies(KeyUnderTest& key) {
  std::string key_id;
  AppendJsonString(key_id, key.id);
  key.encrypt_body_prefix = "{\"KeyId\":" + key_id + key.context_member + ",\"Plaintext\":\"";
  key.plaintext_b64 = kmsd::crypto::Base64Encode(key.plaintext);
  auto& bodies = key.fixed_bodies;
  bodies[static_cast<int>(Operation::kPrepareKey)] =
      key.encrypt_body_prefix + key.plaintext_b64 + "\"}";
  std::string ciphertext;
  AppendJsonString(ciphertext, key.ciphertext_b64);
  bodies[static_cast<int>(Operation::kDecrypt)] =
      "{\"CiphertextBlob\":" + ciphertext + ",\"KeyId\":" + key_id + key.context_member + "}";
  bodies[static_cast<int>(Operation::kGenerateDataKey)] =
      "{\"KeyId\":" + key_id + key.context_member + ",\"KeySpec\":\"AES_256\"}";
  bodies[static_cast<int>(Operation::kDescribeKey)] = "{\"KeyId\":" + key_id + "}";
  bodies[static_cast<int>(Operation::kPrepareByDescribe)] =
      bodies[static_cast<int>(Operation::kDescribeKey)];
  std::string algorithm;
  AppendJsonString(algorithm, key.algorithm);
  std::string message = "{\"KeyId\":" + key_id + ",\"Message\":\"" + key.plaintext_b64 + "\"";
  bodies[static_cast<int>(Operation::kSign)] =
      message + ",\"MessageType\":\"RAW\",\"SigningAlgorithm\":" + algorithm + "}";
  bodies[static_cast<int>(Operation::kGenerateMac)] =
      message + ",\"MacAlgorithm\":" + algorithm + "}";
}

// Empty when the answer is what a correct server says; else why not. For CreateKey, the new key's
// id goes to created_key_id; for kPrepareKey, the ARN and ciphertext go into *key.
std::string CheckAnswer(Operation operation, KeyUnderTest* key, unsigned status,
                        std::string_view body, AnswerFields& fields,
                        std::string* created_key_id = nullptr) {
  if (status != 200) {
    return "HTTP " + std::to_string(status) + ": " + std::string(body.substr(0, 200));
  }
  if (std::string problem = fields.Read(body); !problem.empty()) return problem;
  auto wrong_key_id = [&fields] {
    return "wrong KeyId: " + (fields.key_id.present ? fields.key_id.value : "(none)");
  };
  switch (operation) {
    case Operation::kEncrypt:
      if (!IsBlobLongerThan(fields.ciphertext_blob, kEncryptPlaintextSize)) {
        return "bad CiphertextBlob";
      }
      if (!fields.key_id.present || fields.key_id.value != key->arn) return wrong_key_id();
      return {};
    case Operation::kDecrypt:
      // Base64 has one canonical encoding per byte string, and only it is accepted: equal text
      // is equal bytes.
      if (!fields.plaintext.present || fields.plaintext.value != key->plaintext_b64) {
        return "wrong Plaintext";
      }
      if (!fields.key_id.present || fields.key_id.value != key->arn) return wrong_key_id();
      return {};
    case Operation::kGenerateDataKey:
      if (!fields.plaintext.present || Base64DecodedSize(fields.plaintext.value) != kDataKeySize) {
        return "Plaintext is not a 32-byte key";
      }
      if (!IsBlobLongerThan(fields.ciphertext_blob, kDataKeySize)) return "bad CiphertextBlob";
      if (!fields.key_id.present || fields.key_id.value != key->arn) return wrong_key_id();
      return {};
    case Operation::kDescribeKey:
      if (!fields.key_metadata) return "no KeyMetadata";
      if (!fields.metadata_arn.present || fields.metadata_arn.value != key->arn) return "wrong Arn";
      if (!fields.metadata_state.present || fields.metadata_state.value != "Enabled" ||
          fields.metadata_enabled != true) {
        return "key not Enabled";
      }
      return {};
    case Operation::kSign:
      if (!IsBlobLongerThan(fields.signature, 0)) return "bad Signature";
      if (!fields.key_id.present || fields.key_id.value != key->arn) return wrong_key_id();
      return {};
    case Operation::kGenerateMac:
      // HMAC_224 is the shortest: 28 bytes.
      if (!IsBlobLongerThan(fields.mac, 27)) return "bad Mac";
      if (!fields.key_id.present || fields.key_id.value != key->arn) return wrong_key_id();
      return {};
    case Operation::kPrepareByDescribe:
      if (!fields.key_metadata || !fields.metadata_arn.present ||
          fields.metadata_arn.value.empty()) {
        return "no Arn";
      }
      key->arn = fields.metadata_arn.value;
      return {};
    case Operation::kCreateKey:
      if (!fields.key_metadata) return "no KeyMetadata";
      if (!fields.metadata_key_id.present || fields.metadata_key_id.value.empty())
        return "no KeyId";
      if (created_key_id) *created_key_id = fields.metadata_key_id.value;
      return {};
    case Operation::kPrepareKey:
      if (!IsBlobLongerThan(fields.ciphertext_blob, key->plaintext.size())) {
        return "bad CiphertextBlob";
      }
      if (!fields.key_id.present || fields.key_id.value.empty()) return "no KeyId";
      key->ciphertext_b64 = fields.ciphertext_blob.value;
      key->arn = fields.key_id.value;
      return {};
  }
  return "unknown operation";
}

// ---- HTTP/1.1 answers, parsed in place.

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

// Whether a comma-separated header value (Connection, Transfer-Encoding) lists token.
bool ListsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (EqualsIgnoringCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

constexpr size_t kMaxHeaderBytes = 64 << 10;
constexpr size_t kMaxBodyBytes = 4 << 20;

struct HttpAnswer {
  enum class State { kIncomplete, kComplete, kMalformed };
  State state = State::kIncomplete;
  unsigned status = 0;
  std::string_view body;  // into the data parsed, or into the chunked-body scratch
  size_t size = 0;        // bytes of the data this answer took, interim answers included
  bool keep_alive = true;
  const char* malformed = "";
};

// Parses one answer at the start of data. peer_closed: the server has closed, so a body without
// Content-Length or chunking ends here. A chunked body is reassembled into chunked_body.
HttpAnswer ParseAnswer(std::string_view data, bool peer_closed, std::string& chunked_body) {
  HttpAnswer answer;
  auto malformed = [&answer](const char* why) {
    answer.state = HttpAnswer::State::kMalformed;
    answer.malformed = why;
    return answer;
  };
  size_t start = 0;
  while (true) {  // interim 1xx answers are skipped
    std::string_view rest = data.substr(start);
    size_t header_end = rest.substr(0, kMaxHeaderBytes).find("\r\n\r\n");
    if (header_end == std::string_view::npos) {
      if (rest.size() >= kMaxHeaderBytes) return malformed("header too large");
      if (peer_closed) return malformed("connection closed before a full answer");
      return answer;
    }
    std::string_view header = rest.substr(0, header_end + 2);  // each line ends with CRLF
    size_t body_start = start + header_end + 4;
    size_t line_end = header.find("\r\n");
    std::string_view status_line = header.substr(0, line_end);
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") ||
        (status_line[7] != '0' && status_line[7] != '1') || status_line[8] != ' ' ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
      return malformed("bad status line");
    }
    unsigned status = 0;
    for (int i = 9; i < 12; ++i) {
      if (status_line[i] < '0' || status_line[i] > '9') return malformed("bad status line");
      status = status * 10 + (status_line[i] - '0');
    }
    bool http10 = status_line[7] == '0';
    bool keep_alive = !http10;
    bool chunked = false;
    std::optional<size_t> content_length;
    for (size_t at = line_end + 2; at < header.size();) {
      size_t end = header.find("\r\n", at);
      std::string_view line = header.substr(at, end - at);
      at = end + 2;
      size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos || line[0] == ' ' || line[0] == '\t') {
        return malformed("bad header line");
      }
      std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (EqualsIgnoringCase(name, "content-length")) {
        size_t length = 0;
        auto [end_of_number, error] =
            std::from_chars(value.data(), value.data() + value.size(), length);
        if (value.empty() || error != std::errc() || end_of_number != value.data() + value.size() ||
            (content_length && *content_length != length)) {
          return malformed("bad Content-Length");
        }
        content_length = length;
      } else if (EqualsIgnoringCase(name, "transfer-encoding")) {
        // Only chunked is understood, and it must be the last coding.
        size_t last_comma = value.rfind(',');
        std::string_view last =
            last_comma == std::string_view::npos ? value : value.substr(last_comma + 1);
        if (!ListsToken(last, "chunked")) return malformed("unsupported Transfer-Encoding");
        chunked = true;
      } else if (EqualsIgnoringCase(name, "connection")) {
        if (ListsToken(value, "close"))
          keep_alive = false;
        else if (ListsToken(value, "keep-alive"))
          keep_alive = true;
      }
    }
    if (status >= 100 && status < 200 && status != 101) {
      start = body_start;
      continue;
    }
    answer.status = status;
    answer.keep_alive = keep_alive;
    if (status == 204 || status == 304) {
      answer.state = HttpAnswer::State::kComplete;
      answer.size = body_start;
      return answer;
    }
    if (chunked) {
      // chunk = size-in-hex [;extensions] CRLF data CRLF; the last has size 0, then trailers.
      chunked_body.clear();
      size_t at = body_start;
      while (true) {
        size_t size_end = data.find("\r\n", at);
        if (size_end == std::string_view::npos) {
          if (data.size() - at > 1024) return malformed("bad chunk size");
          return peer_closed ? malformed("connection closed before a full answer") : answer;
        }
        std::string_view size_line = data.substr(at, size_end - at);
        size_t chunk_size = 0;
        auto [end_of_number, error] =
            std::from_chars(size_line.data(), size_line.data() + size_line.size(), chunk_size, 16);
        if (error != std::errc() || end_of_number == size_line.data() ||
            (end_of_number != size_line.data() + size_line.size() && *end_of_number != ';') ||
            chunk_size > kMaxBodyBytes - chunked_body.size()) {
          return malformed("bad chunk size");
        }
        at = size_end + 2;
        if (chunk_size == 0) {
          size_t trailers_end =
              data.substr(at).starts_with("\r\n") ? at : data.find("\r\n\r\n", at);
          if (trailers_end == std::string_view::npos) {
            return peer_closed ? malformed("connection closed before a full answer") : answer;
          }
          answer.size = trailers_end == at ? at + 2 : trailers_end + 4;
          answer.body = chunked_body;
          answer.state = HttpAnswer::State::kComplete;
          return answer;
        }
        if (data.size() - at < chunk_size + 2) {
          return peer_closed ? malformed("connection closed before a full answer") : answer;
        }
        if (data.substr(at + chunk_size, 2) != "\r\n") return malformed("bad chunk");
        chunked_body.append(data.substr(at, chunk_size));
        at += chunk_size + 2;
      }
    }
    if (content_length) {
      if (*content_length > kMaxBodyBytes) return malformed("answer too large");
      if (data.size() - body_start < *content_length) {
        return peer_closed ? malformed("connection closed before a full answer") : answer;
      }
      answer.body = data.substr(body_start, *content_length);
      answer.size = body_start + *content_length;
      answer.state = HttpAnswer::State::kComplete;
      return answer;
    }
    // Neither: the body runs until the server closes (and the connection cannot be reused).
    answer.keep_alive = false;
    if (data.size() - body_start > kMaxBodyBytes) return malformed("answer too large");
    if (!peer_closed) return answer;
    answer.body = data.substr(body_start);
    answer.size = data.size();
    answer.state = HttpAnswer::State::kComplete;
    return answer;
  }
}

// ---- The load.

struct Tally {
  std::vector<uint32_t> latencies_us;  // successes inside the measured window
  long errors = 0;
  std::string first_error;

  void Error(const std::string& why) {
    ++errors;
    if (first_error.empty()) first_error = why;
  }
};

// One Asio thread and the connections it runs; counted apart, merged when the run ends.
struct Worker {
  asio::io_context io{1};
  Tally tally[kOperationCount];
  std::vector<std::string> created;  // create-keys: the new key ids
  long connection_failures = 0;
  long reconnections = 0;  // answers that came with "Connection: close"
  long answers = 0;        // every answer read, warm-up and errors included (for CPU per request)
};

struct Run {
  const Options& options;
  tcp::resolver::results_type endpoints;
  std::vector<KeyUnderTest>& keys;
  std::vector<Operation> operations;  // chosen from in turn
  Clock::time_point measure_from;
  Clock::time_point stop_at;
  // Counted runs (create-keys, preparing keys) stop after limit requests; the n-th request of a
  // kPrepareKey run is for keys[n].
  bool counted = false;
  long limit = 0;
  std::atomic<long> started{0};
};

// One keep-alive connection that sends requests one after another until the run ends.
class Connection {
 public:
  Connection(Run& run, Worker& worker, uint64_t seed)
      : run_(run), worker_(worker), socket_(worker.io), random_(seed), in_(16 << 10, '\0') {
    // Sign appends x-amz-date and Authorization after these three, the headers it signs.
    signable_.method = "POST";
    signable_.target = "/";
    signable_.headers = {{"host", run.options.host_header},
                         {"content-type", "application/x-amz-json-1.1"},
                         {"x-amz-target", ""}};
  }

  void Start() {
    asio::async_connect(socket_, run_.endpoints,
                        [this](const boost::system::error_code& error, const tcp::endpoint&) {
                          if (error) {
                            ++worker_.connection_failures;
                            return;
                          }
                          socket_.set_option(tcp::no_delay(true));
                          Next();
                        });
  }

 private:
  // A server that closes after an answer (moto_server's development server does) gets a new
  // connection; the connecting is part of the next request's latency, as for a real client.
  void Reconnect() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    in_used_ = 0;
    peer_closed_ = false;
    ++worker_.reconnections;
    if (!run_.counted && Clock::now() >= run_.stop_at) return;
    Start();
  }

  void Next() {
    KeyUnderTest* key = nullptr;
    if (run_.counted) {
      long index = run_.started.fetch_add(1);
      if (index >= run_.limit) return;
      if (run_.operations[0] == Operation::kPrepareKey ||
          run_.operations[0] == Operation::kPrepareByDescribe) {
        key = &run_.keys[index];
      }
    } else if (Clock::now() >= run_.stop_at) {
      return;
    }
    operation_ = run_.operations[turn_++ % run_.operations.size()];
    if (!key && !run_.keys.empty()) key = &run_.keys[random_() % run_.keys.size()];
    key_ = key;

    std::string& body = signable_.body;
    switch (operation_) {
      case Operation::kEncrypt: {
        for (size_t i = 0; i < kEncryptPlaintextSize; i += 8) {
          uint64_t word = random_();
          std::memcpy(plaintext_.data() + i, &word, 8);
        }
        body = key->encrypt_body_prefix;
        body += kmsd::crypto::Base64Encode(std::string_view(plaintext_.data(), plaintext_.size()));
        body += "\"}";
        break;
      }
      case Operation::kCreateKey:
        body = "{\"Description\":\"kms_load\"";
        if (!run_.options.key_spec.empty()) {
          body += ",\"KeySpec\":";
          AppendJsonString(body, run_.options.key_spec);
          body += run_.options.key_spec.starts_with("HMAC_")
                      ? ",\"KeyUsage\":\"GENERATE_VERIFY_MAC\""
                      : ",\"KeyUsage\":\"SIGN_VERIFY\"";
        }
        body += "}";
        break;
      default:
        body = key->fixed_bodies[static_cast<int>(operation_)];
    }
    // A fresh date and signature per request, as a real client makes.
    signable_.headers.resize(3);
    signable_.headers[2].second = "TrentService.";
    signable_.headers[2].second += kOperationNames[static_cast<int>(operation_)];
    kmsd::sigv4::Sign(signable_, run_.options.credentials, run_.options.region, "kms",
                      static_cast<int64_t>(std::time(nullptr)));

    request_ = "POST / HTTP/1.1\r\n";
    for (const auto& [name, value] : signable_.headers) {
      request_ += name;
      request_ += ": ";
      request_ += value;
      request_ += "\r\n";
    }
    char length[24];
    auto [length_end, unused] = std::to_chars(length, length + sizeof length, body.size());
    request_ += "content-length: ";
    request_.append(length, length_end);
    request_ += "\r\n\r\n";
    request_ += body;

    started_ = Clock::now();
    asio::async_write(socket_, asio::buffer(request_),
                      [this](const boost::system::error_code& error, size_t) {
                        if (error) return Fail("write: " + error.message());
                        ParseOrRead();
                      });
  }

  // Bytes already read may hold the answer (or part of it); else read more.
  void ParseOrRead() {
    HttpAnswer answer =
        ParseAnswer(std::string_view(in_.data(), in_used_), peer_closed_, chunked_body_);
    if (answer.state == HttpAnswer::State::kMalformed) return Fail(answer.malformed);
    if (answer.state == HttpAnswer::State::kComplete) return OnAnswer(answer);
    if (peer_closed_) return Fail("read: connection closed");
    // Room for more: a big answer grows the buffer (bounded by the parser's limits).
    if (in_.size() - in_used_ < 4096) in_.resize(in_.size() * 2);
    socket_.async_read_some(asio::buffer(in_.data() + in_used_, in_.size() - in_used_),
                            [this](const boost::system::error_code& error, size_t size) {
                              if (error == asio::error::eof) {
                                peer_closed_ = true;
                              } else if (error) {
                                return Fail("read: " + error.message());
                              }
                              in_used_ += size;
                              ParseOrRead();
                            });
  }

  void OnAnswer(const HttpAnswer& answer) {
    auto finished = Clock::now();
    ++worker_.answers;
    std::string created;
    std::string problem =
        CheckAnswer(operation_, key_, answer.status, answer.body, fields_, &created);
    Tally& tally = worker_.tally[static_cast<int>(operation_)];
    if (!problem.empty()) {
      tally.Error(problem);
    } else {
      if (!created.empty()) worker_.created.push_back(created);
      if (!run_.counted && started_ >= run_.measure_from) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(finished - started_);
        tally.latencies_us.push_back(static_cast<uint32_t>(us.count()));
      }
    }
    // Whatever followed the answer stays for the next one.
    std::memmove(in_.data(), in_.data() + answer.size, in_used_ - answer.size);
    in_used_ -= answer.size;
    if (!answer.keep_alive || peer_closed_) return Reconnect();
    Next();
  }

  void Fail(const std::string& why) {
    // A broken connection is an error for the request in flight; the connection is not reopened
    // (kmsd and moto both keep connections alive), so the run shows it as fewer requests.
    if (!run_.counted && Clock::now() >= run_.stop_at) return;
    worker_.tally[static_cast<int>(operation_)].Error(why);
  }

  Run& run_;
  Worker& worker_;
  tcp::socket socket_;
  std::mt19937_64 random_;
  size_t turn_ = 0;
  // The request in flight.
  Operation operation_ = Operation::kEncrypt;
  KeyUnderTest* key_ = nullptr;
  std::array<char, kEncryptPlaintextSize> plaintext_{};
  Clock::time_point started_;
  kmsd::sigv4::SignableRequest signable_;
  std::string request_;
  // Bytes read and not yet used; the answer in flight starts at in_[0].
  std::string in_;
  size_t in_used_ = 0;
  bool peer_closed_ = false;
  std::string chunked_body_;
  AnswerFields fields_;
};

// User and system CPU this process has used so far, in microseconds.
std::pair<double, double> CpuMicroseconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  return {us(usage.ru_utime), us(usage.ru_stime)};
}

// Runs connections over threads until the duration or the count is spent, then merges what the
// threads counted into one Worker; returns the elapsed measured time.
double Drive(Run& run, int connections, int threads, Worker& total) {
  threads = std::max(1, std::min(threads, connections));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>());
  std::vector<std::unique_ptr<Connection>> all;
  std::mt19937_64 seeds(std::random_device{}());
  for (int i = 0; i < connections; ++i) {
    all.push_back(std::make_unique<Connection>(run, *workers[i % threads], seeds()));
    all.back()->Start();
  }
  auto begun = Clock::now();
  std::vector<std::thread> others;
  for (int i = 1; i < threads; ++i)
    others.emplace_back([&worker = *workers[i]] { worker.io.run(); });
  workers[0]->io.run();
  for (std::thread& thread : others) thread.join();
  auto from = std::max(run.measure_from, begun);
  double elapsed = std::chrono::duration<double>(Clock::now() - from).count();
  all.clear();
  for (auto& worker : workers) {
    for (int i = 0; i < kOperationCount; ++i) {
      Tally& from_worker = worker->tally[i];
      total.tally[i].latencies_us.insert(total.tally[i].latencies_us.end(),
                                         from_worker.latencies_us.begin(),
                                         from_worker.latencies_us.end());
      total.tally[i].errors += from_worker.errors;
      if (total.tally[i].first_error.empty()) total.tally[i].first_error = from_worker.first_error;
    }
    total.created.insert(total.created.end(), worker->created.begin(), worker->created.end());
    total.connection_failures += worker->connection_failures;
    total.reconnections += worker->reconnections;
    total.answers += worker->answers;
  }
  return elapsed;
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
               "usage: kms_load create-keys --endpoint http://HOST:PORT --count N --out FILE "
               "[--key-spec SPEC]\n"
               "       kms_load run --endpoint http://HOST:PORT --keys FILE --op "
               "Encrypt|Decrypt|GenerateDataKey|DescribeKey|Mix|Sign|GenerateMac\n"
               "                [--algorithm SIGNING_OR_MAC_ALGORITHM]\n"
               "                [--connections 64] [--seconds 10] [--warmup 1] [--threads 1]\n"
               "                [--label NAME] [--encryption-context KEY=VALUE ...]\n"
               "       kms_load self-test\n"
               "credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN); "
               "AWS_REGION (us-east-1)\n");
  return 2;
}

// Asks each key once for an Encrypt answer (its ARN, and a ciphertext for Decrypt).
bool PrepareKeys(const Options& options, tcp::resolver::results_type endpoints,
                 std::vector<KeyUnderTest>& keys) {
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
  for (KeyUnderTest& key : keys) {
    auto plaintext = kmsd::crypto::RandomBytes(kEncryptPlaintextSize);
    if (!plaintext.ok()) {
      std::fprintf(stderr, "kms_load: %s\n", std::string(plaintext.status().message()).c_str());
      return false;
    }
    key.plaintext = std::move(*plaintext);
    PrepareBodies(key);
  }
  // Signing and MAC keys cannot encrypt: DescribeKey tells their ARN.
  Operation prepare = options.op == "Sign" || options.op == "GenerateMac"
                          ? Operation::kPrepareByDescribe
                          : Operation::kPrepareKey;
  Run run{options, endpoints, keys, {prepare}, Clock::now(), Clock::now()};
  run.counted = true;
  run.limit = static_cast<long>(keys.size());
  Worker total;
  Drive(run, std::min(8, static_cast<int>(keys.size())), 1, total);
  const Tally& tally = total.tally[static_cast<int>(prepare)];
  if (tally.errors || total.connection_failures) {
    std::fprintf(stderr, "kms_load: cannot prepare the keys: %s\n",
                 tally.errors ? tally.first_error.c_str() : "cannot connect");
    return false;
  }
  for (KeyUnderTest& key : keys) PrepareBodies(key);  // Decrypt's body needs the ciphertext
  return true;
}

// Feeds the answer checker answers a correct server gives and answers it must refuse; 0 when it
// judges every one right. What is checked under load is only as good as this.
int SelfTest() {
  KeyUnderTest key;
  key.id = "1234abcd-12ab-34cd-56ef-1234567890ab";
  key.arn = "arn:aws:kms:us-east-1:111122223333:key/" + key.id;
  key.plaintext = std::string(32, 'p');
  PrepareBodies(key);
  const std::string& plaintext_b64 = key.plaintext_b64;
  std::string plaintext_noncanonical = plaintext_b64;  // same bytes, a bit set under the padding
  plaintext_noncanonical[plaintext_noncanonical.size() - 2] += 1;
  const std::string blob_b64 = kmsd::crypto::Base64Encode(std::string(80, 'c'));
  const std::string arn = "\"" + key.arn + "\"";
  struct Case {
    Operation operation;
    unsigned status;
    std::string body;
    bool correct;
  };
  const std::string mac_b64 = kmsd::crypto::Base64Encode(std::string(32, 'm'));
  const Case cases[] = {
      {Operation::kSign, 200,
       "{\"KeyId\":" + arn + ",\"Signature\":\"" + blob_b64 +
           "\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
       true},
      {Operation::kSign, 200, "{\"KeyId\":" + arn + "}", false},
      {Operation::kSign, 200, "{\"KeyId\":\"other\",\"Signature\":\"" + blob_b64 + "\"}", false},
      {Operation::kGenerateMac, 200, "{\"KeyId\":" + arn + ",\"Mac\":\"" + mac_b64 + "\"}", true},
      {Operation::kGenerateMac, 200, "{\"KeyId\":" + arn + ",\"Mac\":\"AAAA\"}", false},
      {Operation::kPrepareByDescribe, 200, "{\"KeyMetadata\":{\"Arn\":" + arn + "}}", true},
      {Operation::kPrepareByDescribe, 200, "{\"KeyMetadata\":{}}", false},
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn +
           ",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}",
       true},
      // Escapes are decoded before comparing: \/ is a plain slash.
      {Operation::kEncrypt, 200,
       "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key\\/" + key.id +
           "\", \"CiphertextBlob\" : \"" + blob_b64 + "\", \"x\": [1, -2.5e3, {\"y\": null}]}",
       true},
      {Operation::kEncrypt, 400, "{\"__type\":\"NotFoundException\"}", false},
      {Operation::kEncrypt, 500, "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + "}",
       false},  // a right body under a wrong status
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":\"" + key.arn + "x\"}", false},
      {Operation::kEncrypt, 200, "{\"CiphertextBlob\":\"" + blob_b64 + "\"}", false},
      {Operation::kEncrypt, 200, "{\"CiphertextBlob\":\"not base64!\",\"KeyId\":" + arn + "}",
       false},
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + plaintext_b64 + "\",\"KeyId\":" + arn + "}",
       false},  // no longer than the plaintext
      {Operation::kEncrypt, 200, "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn,
       false},  // truncated
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + "} trailing", false},
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":\"other\",\"KeyId\":" + arn + "}",
       false},  // duplicate member
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + ",\"x\":[1,]}", false},
      {Operation::kEncrypt, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":[" + arn + "]}", false},
      {Operation::kDecrypt, 200, "{\"KeyId\":" + arn + ",\"Plaintext\":\"" + plaintext_b64 + "\"}",
       true},
      {Operation::kDecrypt, 200,
       "{\"KeyId\":" + arn + ",\"Plaintext\":\"" +
           kmsd::crypto::Base64Encode(std::string(31, 'p') + "q") + "\"}",
       false},
      {Operation::kDecrypt, 200,
       "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/other\",\"Plaintext\":\"" +
           plaintext_b64 + "\"}",
       false},
      {Operation::kDecrypt, 200,
       "{\"KeyId\":" + arn + ",\"Plaintext\":\"" + plaintext_noncanonical + "\"}", false},
      {Operation::kGenerateDataKey, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + ",\"Plaintext\":\"" +
           plaintext_noncanonical + "\"}",
       false},
      {Operation::kGenerateDataKey, 200,
       "{\"CiphertextBlob\":\"" + blob_b64.substr(0, 40) + "=" + blob_b64.substr(41) +
           "\",\"KeyId\":" + arn + ",\"Plaintext\":\"" + plaintext_b64 + "\"}",
       false},
      {Operation::kGenerateDataKey, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + ",\"Plaintext\":\"" +
           plaintext_b64 + "\"}",
       true},
      {Operation::kGenerateDataKey, 200,
       "{\"CiphertextBlob\":\"" + blob_b64 + "\",\"KeyId\":" + arn + ",\"Plaintext\":\"" +
           kmsd::crypto::Base64Encode(std::string(16, 'p')) + "\"}",
       false},
      {Operation::kGenerateDataKey, 200,
       "{\"KeyId\":" + arn + ",\"Plaintext\":\"" + plaintext_b64 + "\"}", false},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":" + arn + ",\"Enabled\":true,\"KeyState\":\"Enabled\"," +
           "\"CreationDate\":1.7e9,\"KeyUsage\":\"ENCRYPT_DECRYPT\"}}",
       true},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":" + arn + ",\"Enabled\":false,\"KeyState\":\"Disabled\"}}",
       false},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":" + arn + ",\"Enabled\":false,\"KeyState\":\"Enabled\"}}", false},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":" + arn + ",\"Enabled\":\"true\",\"KeyState\":\"Enabled\"}}",
       false},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":" + arn + ",\"Enabled\":true,\"KeyState\":\"PendingDeletion\"}}",
       false},
      {Operation::kDescribeKey, 200,
       "{\"KeyMetadata\":{\"Arn\":\"arn:aws:kms:us-east-1:111122223333:key/x\",\"Enabled\":true,"
       "\"KeyState\":\"Enabled\"}}",
       false},
      {Operation::kDescribeKey, 200,
       "{\"Arn\":" + arn + ",\"Enabled\":true,\"KeyState\":\"Enabled\"}", false},
      {Operation::kCreateKey, 200, "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\"}}", true},
      {Operation::kCreateKey, 200, "{\"KeyMetadata\":{\"KeyId\":\"\"}}", false},
      {Operation::kCreateKey, 200, "{\"KeyMetadata\":{\"KeyId\":\"\\ud800\"}}", false},
      // UTF-8 as a DOM parser takes it: well-formed passes, anything else is a malformed answer.
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":"
       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91\"}}",
       true},
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":\"\xc0\xaf\"}}", false},
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":\"\xed\xa0\x80\"}}", false},
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":\"\xe2\x82\"}}", false},
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":\"\xf4\x90\x80\x80\"}}", false},
      {Operation::kCreateKey, 200,
       "{\"KeyMetadata\":{\"KeyId\":\"k\\u00e9y\",\"Description\":\"a\tb\"}}", false},
  };
  int wrong = 0;
  AnswerFields fields;
  for (const Case& c : cases) {
    std::string created;
    std::string problem = CheckAnswer(c.operation, &key, c.status, c.body, fields, &created);
    if (problem.empty() != c.correct) {
      ++wrong;
      std::fprintf(stderr, "self-test: %s %s judged %s (%s)\n",
                   kOperationNames[static_cast<int>(c.operation)], c.body.c_str(),
                   problem.empty() ? "correct" : "wrong", problem.c_str());
    }
    if (c.operation == Operation::kCreateKey && c.correct && created != "k\xc3\xa9y") {
      ++wrong;
      std::fprintf(stderr, "self-test: CreateKey read KeyId '%s'\n", created.c_str());
    }
  }

  // The HTTP parser: answers split anywhere, chunked, interim, pipelined, closed early.
  struct HttpCase {
    std::string data;
    bool peer_closed;
    HttpAnswer::State state;
    unsigned status;
    std::string body;
    bool keep_alive;
    size_t leftover = 0;  // bytes after the answer, for the next one
  };
  using State = HttpAnswer::State;
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: x\r\nContent-Length: 5\r\n\r\nhello";
  const HttpCase http_cases[] = {
      {ok, false, State::kComplete, 200, "hello", true},
      {ok + "HTTP/1.1 500", false, State::kComplete, 200, "hello", true, 12},
      {ok.substr(0, ok.size() - 1), false, State::kIncomplete, 0, "", true},
      {ok.substr(0, ok.size() - 1), true, State::kMalformed, 0, "", true},
      {ok.substr(0, 20), false, State::kIncomplete, 0, "", true},
      {"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 2\r\n\r\nhi", false,
       State::kComplete, 200, "hi", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, State::kComplete, 200, "hi", false},
      {"HTTP/1.1 100 Continue\r\n\r\n" + ok, false, State::kComplete, 200, "hello", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
       false, State::kComplete, 200, "hello", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo", false,
       State::kIncomplete, 0, "", true},
      {"HTTP/1.1 200 OK\r\n\r\nuntil close", true, State::kComplete, 200, "until close", false},
      {"HTTP/1.1 200 OK\r\n\r\nuntil close", false, State::kIncomplete, 0, "", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", false,
       State::kMalformed, 0, "", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nhi", false, State::kMalformed, 0, "", true},
      {"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nhi", false, State::kMalformed, 0, "", true},
      {"SMTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, State::kMalformed, 0, "", true},
      {"HTTP/1.1 200 OK\r\n folded\r\nContent-Length: 2\r\n\r\nhi", false, State::kMalformed, 0, "",
       true},
  };
  for (const HttpCase& c : http_cases) {
    std::string scratch;
    HttpAnswer answer = ParseAnswer(c.data, c.peer_closed, scratch);
    bool right = answer.state == c.state;
    if (right && c.state == State::kComplete) {
      right = answer.status == c.status && answer.body == c.body &&
              answer.keep_alive == c.keep_alive && answer.size + c.leftover == c.data.size();
    }
    if (!right) {
      ++wrong;
      std::fprintf(stderr, "self-test: HTTP answer misread (%s): %s\n", answer.malformed,
                   c.data.c_str());
    }
  }
  // The base64 rule against kmsd::crypto::Base64Decode, on short strings made mostly of the
  // characters that matter.
  std::mt19937_64 random(1);
  constexpr std::string_view kCharacters = "AQgw/+9=a=A=\n-";
  constexpr int kBase64Cases = 200000;
  for (int i = 0; i < kBase64Cases; ++i) {
    std::string text(random() % 13, ' ');
    for (char& c : text) c = kCharacters[random() % kCharacters.size()];
    auto decoded = kmsd::crypto::Base64Decode(text);
    std::optional<size_t> size = Base64DecodedSize(text);
    if (decoded.ok() != size.has_value() || (size && *size != decoded->size())) {
      ++wrong;
      std::fprintf(stderr, "self-test: base64 '%s' misjudged\n", text.c_str());
    }
  }
  int total = static_cast<int>(std::size(cases) + std::size(http_cases)) + kBase64Cases;
  std::printf("self-test: %d of %d judged right\n", total - wrong, total);
  return wrong ? 1 : 0;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string command = argv[1];
  if (command == "self-test") return SelfTest();
  Options options;
  std::string endpoint;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string value = argv[++i];
    if (flag == "--endpoint")
      endpoint = value;
    else if (flag == "--connections")
      options.connections = std::stoi(value);
    else if (flag == "--threads")
      options.threads = std::stoi(value);
    else if (flag == "--seconds")
      options.seconds = std::stod(value);
    else if (flag == "--warmup")
      options.warmup_seconds = std::stod(value);
    else if (flag == "--keys")
      options.keys_file = value;
    else if (flag == "--out")
      options.out_file = value;
    else if (flag == "--count")
      options.count = std::stol(value);
    else if (flag == "--op")
      options.op = value;
    else if (flag == "--label")
      options.label = value;
    else if (flag == "--key-spec")
      options.key_spec = value;
    else if (flag == "--algorithm")
      options.algorithm = value;
    else if (flag == "--encryption-context" && value.find('=') != std::string::npos)
      options.encryption_context.emplace_back(value.substr(0, value.find('=')),
                                              value.substr(value.find('=') + 1));
    else
      return Usage();
  }
  if (!ParseEndpoint(endpoint, options) || options.connections < 1 || options.threads < 1) {
    return Usage();
  }
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  const char* region = std::getenv("AWS_REGION");
  if (!id || !secret) return Usage();
  const char* token = std::getenv("AWS_SESSION_TOKEN");
  options.credentials = {id, secret, token ? token : ""};
  if (region && *region) options.region = region;

  asio::io_context io;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(options.host, options.port);
  std::vector<KeyUnderTest> keys;

  if (command == "create-keys") {
    if (options.count <= 0 || options.out_file.empty()) return Usage();
    Run run{options, endpoints, keys, {Operation::kCreateKey}, Clock::now(), Clock::now()};
    run.counted = true;
    run.limit = options.count;
    auto started = Clock::now();
    Worker total;
    Drive(run, static_cast<int>(std::min<long>(options.connections, options.count)),
          options.threads, total);
    double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    std::ofstream out(options.out_file);
    for (const std::string& key : total.created) out << key << "\n";
    const Tally& tally = total.tally[static_cast<int>(Operation::kCreateKey)];
    std::printf("created %zu keys in %.2f s (%.0f keys/s), %ld errors%s%s\n", total.created.size(),
                elapsed, total.created.size() / elapsed, tally.errors,
                tally.errors ? ", first: " : "", tally.first_error.c_str());
    return tally.errors || static_cast<long>(total.created.size()) != options.count ? 1 : 0;
  }
  if (command != "run" || options.keys_file.empty()) return Usage();

  std::ifstream in(options.keys_file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) keys.push_back({line});
  }
  std::string context_member;
  for (const auto& [name, value] : options.encryption_context) {
    context_member += context_member.empty() ? ",\"EncryptionContext\":{" : ",";
    AppendJsonString(context_member, name);
    context_member += ':';
    AppendJsonString(context_member, value);
  }
  if (!context_member.empty()) context_member += '}';
  for (KeyUnderTest& key : keys) {
    key.context_member = context_member;
    key.algorithm = options.algorithm;
  }
  if (keys.empty()) {
    std::fprintf(stderr, "kms_load: no keys in %s\n", options.keys_file.c_str());
    return 2;
  }
  if (!PrepareKeys(options, endpoints, keys)) return 1;

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
  auto duration =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  Run run{options, endpoints, keys, operations, now + warmup, now + warmup + duration};
  Worker total;
  auto [user_before, system_before] = CpuMicroseconds();
  double elapsed = Drive(run, options.connections, options.threads, total);
  auto [user_after, system_after] = CpuMicroseconds();

  // One row per operation, plus the total for a mix: label | op | conns | ok | errors | req/s |
  // p50 | p99 | p99.9 (ms).
  std::vector<uint32_t> all;
  long all_errors = 0;
  std::string first_error;
  auto row = [&](const std::string& name, std::vector<uint32_t>& latencies, long errors) {
    std::sort(latencies.begin(), latencies.end());
    std::printf("| %s | %s | %d | %zu | %ld | %.0f | %.2f | %.2f | %.2f |\n", options.label.c_str(),
                name.c_str(), options.connections, latencies.size(), errors,
                latencies.size() / elapsed, Percentile(latencies, 0.50),
                Percentile(latencies, 0.99), Percentile(latencies, 0.999));
  };
  for (int i = 0; i < kMeasuredOperations; ++i) {
    Tally& tally = total.tally[i];
    if (tally.latencies_us.empty() && tally.errors == 0) continue;
    all.insert(all.end(), tally.latencies_us.begin(), tally.latencies_us.end());
    all_errors += tally.errors;
    if (first_error.empty()) first_error = tally.first_error;
    if (operations.size() == 1) row(kOperationNames[i], tally.latencies_us, tally.errors);
  }
  if (operations.size() > 1) row("Mix (all four, in turn)", all, all_errors);
  std::fflush(stdout);
  if (total.reconnections) {
    std::fprintf(stderr, "kms_load: %s closed the connection after %ld answers (reconnected)\n",
                 options.label.c_str(), total.reconnections);
  }
  if (total.connection_failures) {
    std::fprintf(stderr, "kms_load: %ld connections failed to connect\n",
                 total.connection_failures);
  }
  if (!first_error.empty())
    std::fprintf(stderr, "kms_load: first error: %s\n", first_error.c_str());
  // On stderr, so that the table rows on stdout stay as run_bench.sh parses them. What the load
  // generator costs matters when it shares the machine with the server it measures.
  if (total.answers > 0) {
    double user = (user_after - user_before) / total.answers;
    double system = (system_after - system_before) / total.answers;
    std::fprintf(stderr,
                 "kms_load: CPU %.1f µs per request (user %.1f + system %.1f) over %ld answers, "
                 "warm-up included, %d thread%s\n",
                 user + system, user, system, total.answers, options.threads,
                 options.threads == 1 ? "" : "s");
  }
  return all_errors || total.connection_failures ? 1 : 0;
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
