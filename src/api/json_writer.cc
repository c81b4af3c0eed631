// Response JSON, written directly. See json_writer.h.
#include "api/json_writer.h"

#include <cstdio>

namespace kmsd::api {
namespace {
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

void JsonWriter::Key(std::string_view key) {
  if (need_comma_) out_.push_back(',');
  if (!key.empty()) {
    Quoted(key);
    out_.push_back(':');
  }
  need_comma_ = true;
}

void JsonWriter::Quoted(std::string_view text) {
  out_.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out_ += escaped;
        } else {
          out_.push_back(c);
        }
    }
  }
  out_.push_back('"');
}

void JsonWriter::Base64(const uint8_t* data, size_t size) {
  out_.push_back('"');
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out_.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out_.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out_.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out_.push_back(kBase64Alphabet[n & 63]);
  }
  if (size - i == 1) {
    uint32_t n = data[i] << 16;
    out_.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out_.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out_ += "==";
  } else if (size - i == 2) {
    uint32_t n = (data[i] << 16) | (data[i + 1] << 8);
    out_.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out_.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out_.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out_.push_back('=');
  }
  out_.push_back('"');
}

JsonWriter& JsonWriter::BeginObject(std::string_view key) {
  Key(key);
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginArray(std::string_view key) {
  Key(key);
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  Quoted(value);
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  Key({});
  Quoted(value);
  return *this;
}

JsonWriter& JsonWriter::Integer(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Boolean(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Blob(std::string_view key, std::string_view bytes) {
  Key(key);
  Base64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return *this;
}

JsonWriter& JsonWriter::Blob(std::string_view key, const SecretBytes& bytes) {
  Key(key);
  // Reserve first, with room for the few short members that follow a secret, so growing the
  // buffer cannot leave a copy of the secret in freed memory.
  out_.reserve(out_.size() + (bytes.size() + 2) / 3 * 4 + 1024);
  Base64(bytes.data(), bytes.size());
  return *this;
}

}  // namespace kmsd::api
