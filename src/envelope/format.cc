// See format.h.
#include "envelope/format.h"

#include <cstring>

#include "envelope/primitives.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::envelope {
namespace {

constexpr std::string_view kFrameLabel = "AWSKMSEncryptionClient Frame";
constexpr std::string_view kFinalFrameLabel = "AWSKMSEncryptionClient Final Frame";
constexpr uint8_t kFramedContent = 0x02;
constexpr uint8_t kCustomerAuthenticatedEncryptedData = 0x80;

constexpr Suite kSuites[] = {
    {kCommitKeyEcdsaP384, 2, "SHA512", true, true},
    {kCommitKey, 2, "SHA512", true, false},
    {kHkdfSha384EcdsaP384, 1, "SHA384", false, true},
    {kHkdfSha256, 1, "SHA256", false, false},
};

// A length-prefixed field, appended to the header body as read.
absl::StatusOr<std::string> ReadField(StreamReader& reader, std::string& body) {
  auto length = reader.Number(2);
  if (!length.ok()) return length.status();
  PutU16(body, *length);
  auto bytes = reader.Bytes(*length);
  if (!bytes.ok()) return bytes.status();
  body += *bytes;
  return bytes;
}

}  // namespace

const Suite* FindSuite(uint16_t id) {
  for (const Suite& suite : kSuites) {
    if (suite.id == id) return &suite;
  }
  return nullptr;
}

absl::Status BadMessage(std::string_view what) {
  return Error(ErrorType::kInvalidCiphertext, StrCat("not a valid encrypted message: ", what));
}

void PutU16(std::string& out, size_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

void PutU32(std::string& out, uint64_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void StoreU32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (24 - 8 * i));
}

std::string SerializeContext(const EncryptionContext& context) {
  if (context.empty()) return "";
  std::string out;
  PutU16(out, context.size());
  for (const auto& [key, value] : context) {  // std::map orders keys bytewise, as the spec asks
    PutU16(out, key.size());
    out += key;
    PutU16(out, value.size());
    out += value;
  }
  return out;
}

absl::StatusOr<EncryptionContext> ParseContext(std::string_view serialized) {
  EncryptionContext context;
  if (serialized.empty()) return context;
  size_t position = 0;
  auto u16 = [&](size_t& out) {
    if (position + 2 > serialized.size()) return false;
    out = static_cast<size_t>(static_cast<uint8_t>(serialized[position])) << 8 |
          static_cast<uint8_t>(serialized[position + 1]);
    position += 2;
    return true;
  };
  auto piece = [&](std::string& out) {
    size_t length = 0;
    if (!u16(length) || position + length > serialized.size()) return false;
    out = std::string(serialized.substr(position, length));
    position += length;
    return true;
  };
  size_t count = 0;
  if (!u16(count) || count == 0) return BadMessage("malformed encryption context");
  for (size_t i = 0; i < count; ++i) {
    std::string key, value;
    if (!piece(key) || !piece(value)) return BadMessage("malformed encryption context");
    if (!context.emplace(std::move(key), std::move(value)).second) {
      return BadMessage("duplicate encryption context key");
    }
  }
  if (position != serialized.size()) return BadMessage("malformed encryption context");
  return context;
}

void FrameIv(uint32_t sequence, uint8_t iv[kIvSize]) {
  std::memset(iv, 0, kIvSize - 4);
  StoreU32(iv + kIvSize - 4, sequence);
}

size_t FrameAad(std::string_view message_id, bool final_frame, uint32_t sequence, uint64_t length,
                uint8_t* out) {
  std::string_view label = final_frame ? kFinalFrameLabel : kFrameLabel;
  uint8_t* p = out;
  std::memcpy(p, message_id.data(), message_id.size());
  p += message_id.size();
  std::memcpy(p, label.data(), label.size());
  p += label.size();
  StoreU32(p, sequence);
  p += 4;
  StoreU32(p, static_cast<uint32_t>(length >> 32));
  StoreU32(p + 4, static_cast<uint32_t>(length));
  p += 8;
  return static_cast<size_t>(p - out);
}

std::string SerializeHeaderBodyV2(const Header& header) {
  std::string body;
  body.push_back(2);
  PutU16(body, header.suite->id);
  body += header.message_id;
  std::string context = SerializeContext(header.context);
  PutU16(body, context.size());
  body += context;
  PutU16(body, header.data_keys.size());
  for (const EncryptedDataKey& key : header.data_keys) {
    for (const std::string* field : {&key.provider_id, &key.provider_info, &key.ciphertext}) {
      PutU16(body, field->size());
      body += *field;
    }
  }
  body.push_back(static_cast<char>(kFramedContent));
  PutU32(body, header.frame_length);
  body += header.commitment;
  return body;
}

absl::Status StreamReader::Exact(uint8_t* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    auto got = in_.Read(out + done, size - done);
    if (!got.ok()) return got.status();
    if (*got == 0) return BadMessage("it ends too soon (truncated)");
    done += *got;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StreamReader::Bytes(size_t size) {
  std::string out(size, '\0');
  if (auto status = Exact(reinterpret_cast<uint8_t*>(out.data()), size); !status.ok()) {
    return status;
  }
  return out;
}

absl::StatusOr<uint64_t> StreamReader::Number(int bytes) {
  uint8_t buffer[8];
  if (auto status = Exact(buffer, static_cast<size_t>(bytes)); !status.ok()) return status;
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = value << 8 | buffer[i];
  return value;
}

absl::StatusOr<bool> StreamReader::AtEnd() {
  uint8_t byte;
  auto got = in_.Read(&byte, 1);
  if (!got.ok()) return got.status();
  return *got == 0;
}

absl::StatusOr<Header> ReadHeader(StreamReader& reader, size_t max_data_keys) {
  Header header;
  std::string& body = header.body;
  auto version = reader.Number(1);
  if (!version.ok()) return version.status();
  if (*version != 1 && *version != 2) return BadMessage("unknown message format version");
  body.push_back(static_cast<char>(*version));
  if (*version == 1) {
    auto type = reader.Number(1);
    if (!type.ok()) return type.status();
    if (*type != kCustomerAuthenticatedEncryptedData) return BadMessage("unknown message type");
    body.push_back(static_cast<char>(*type));
  }
  auto suite_id = reader.Number(2);
  if (!suite_id.ok()) return suite_id.status();
  PutU16(body, *suite_id);
  header.suite = FindSuite(static_cast<uint16_t>(*suite_id));
  if (!header.suite || header.suite->message_version != static_cast<int>(*version)) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("unsupported algorithm suite 0x",
                        crypto::HexEncode(std::string_view(body).substr(body.size() - 2)),
                        " in a version ", *version, " message"));
  }
  auto message_id = reader.Bytes(*version == 2 ? 32 : 16);
  if (!message_id.ok()) return message_id.status();
  header.message_id = *message_id;
  body += *message_id;
  auto aad = ReadField(reader, body);
  if (!aad.ok()) return aad.status();
  auto context = ParseContext(*aad);
  if (!context.ok()) return context.status();
  header.context = std::move(*context);
  auto count = reader.Number(2);
  if (!count.ok()) return count.status();
  PutU16(body, *count);
  if (*count == 0) return BadMessage("no encrypted data keys");
  if (*count > max_data_keys) {
    return Error(ErrorType::kLimitExceeded,
                 StrCat("the message has ", *count, " encrypted data keys, more than the limit of ",
                        max_data_keys, " (--max-encrypted-data-keys)"));
  }
  for (uint64_t i = 0; i < *count; ++i) {
    EncryptedDataKey key;
    for (std::string* field : {&key.provider_id, &key.provider_info, &key.ciphertext}) {
      auto value = ReadField(reader, body);
      if (!value.ok()) return value.status();
      *field = std::move(*value);
    }
    header.data_keys.push_back(std::move(key));
  }
  auto content_type = reader.Number(1);
  if (!content_type.ok()) return content_type.status();
  if (*content_type != kFramedContent) {
    return Error(ErrorType::kUnsupportedOperation, "only framed messages are supported");
  }
  body.push_back(static_cast<char>(*content_type));
  if (*version == 1) {
    auto reserved = reader.Number(4);
    if (!reserved.ok()) return reserved.status();
    if (*reserved != 0) return BadMessage("reserved field is not zero");
    PutU32(body, 0);
    auto iv_length = reader.Number(1);
    if (!iv_length.ok()) return iv_length.status();
    if (*iv_length != kIvSize) return BadMessage("unexpected IV length");
    body.push_back(static_cast<char>(*iv_length));
  }
  auto frame_length = reader.Number(4);
  if (!frame_length.ok()) return frame_length.status();
  if (*frame_length == 0 || *frame_length > kMaxFrameLength) {
    return BadMessage(StrCat("frame length ", *frame_length, " is outside 1 .. ", kMaxFrameLength));
  }
  header.frame_length = static_cast<uint32_t>(*frame_length);
  PutU32(body, *frame_length);
  if (header.suite->committing) {
    auto commitment = reader.Bytes(32);
    if (!commitment.ok()) return commitment.status();
    header.commitment = *commitment;
    body += *commitment;
  }
  if (*version == 1) {
    auto iv = reader.Bytes(kIvSize);
    if (!iv.ok()) return iv.status();
    header.header_iv = *iv;
  }
  auto tag = reader.Bytes(kTagSize);
  if (!tag.ok()) return tag.status();
  header.tag = *tag;
  return header;
}

absl::StatusOr<DerivedKeys> DeriveKeys(const Suite& suite, const SecretBytes& data_key,
                                       std::string_view message_id) {
  DerivedKeys keys;
  std::string suite_id;
  PutU16(suite_id, suite.id);
  if (suite.committing) {
    // The message id is the HKDF salt; the commitment binds the data key to this header, so one
    // message cannot decrypt to two plaintexts under two keys.
    auto derived = crypto::Hkdf(suite.hkdf_digest, data_key, message_id, suite_id + "DERIVEKEY", 32);
    if (!derived.ok()) return derived.status();
    auto commitment = crypto::Hkdf(suite.hkdf_digest, data_key, message_id, "COMMITKEY", 32);
    if (!commitment.ok()) return commitment.status();
    keys.data_key = std::move(*derived);
    keys.commitment = std::string(commitment->view());
    return keys;
  }
  auto derived = crypto::Hkdf(suite.hkdf_digest, data_key, "", StrCat(suite_id, message_id), 32);
  if (!derived.ok()) return derived.status();
  keys.data_key = std::move(*derived);
  return keys;
}

}  // namespace kmsd::envelope
