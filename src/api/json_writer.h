// Writes response JSON straight into the response body. Blobs that hold secrets are base64-encoded
// directly from SecretBytes into the body, so no other copy of the plaintext is made.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kmsd/secret_bytes.h"

namespace kmsd::api {

class JsonWriter {
 public:
  JsonWriter& BeginObject(std::string_view key = {});
  JsonWriter& EndObject();
  JsonWriter& BeginArray(std::string_view key = {});
  JsonWriter& EndArray();
  JsonWriter& String(std::string_view key, std::string_view value);
  JsonWriter& String(std::string_view value);  // array element
  JsonWriter& Integer(std::string_view key, int64_t value);
  JsonWriter& Boolean(std::string_view key, bool value);
  JsonWriter& Blob(std::string_view key, std::string_view bytes);
  JsonWriter& Blob(std::string_view key, const SecretBytes& bytes);

  std::string Take() { return std::move(out_); }

 private:
  void Key(std::string_view key);
  void Quoted(std::string_view text);
  void Base64(const uint8_t* data, size_t size);

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace kmsd::api
