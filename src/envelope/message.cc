// The AWS Encryption SDK message format: header, framed body and footer.
// Specification: aws-encryption-sdk-specification, data-format/message-header.md, message-body.md,
// message-footer.md, framework/algorithm-suites.md.
#include <openssl/crypto.h>

#include <cstring>
#include <optional>

#include "envelope/primitives.h"
#include "kmsd/crypto.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::envelope {
namespace {

constexpr std::string_view kProviderId = "aws-kms";
constexpr std::string_view kPublicKeyContextKey = "aws-crypto-public-key";
constexpr std::string_view kReservedContextPrefix = "aws-crypto-";
constexpr std::string_view kFrameLabel = "AWSKMSEncryptionClient Frame";
constexpr std::string_view kFinalFrameLabel = "AWSKMSEncryptionClient Final Frame";
constexpr uint32_t kFinalFrameMarker = 0xFFFFFFFF;
constexpr uint8_t kFramedContent = 0x02;
constexpr size_t kTagSize = 16;
constexpr size_t kIvSize = 12;
constexpr size_t kMaxFrameLength = 1 << 30;  // bounds memory on decrypt whatever a header says

struct Suite {
  uint16_t id;
  int message_version;
  const char* hkdf_digest;
  bool committing;
  bool signing;
};

constexpr Suite kSuites[] = {
    {kCommitKeyEcdsaP384, 2, "SHA512", true, true},
    {kCommitKey, 2, "SHA512", true, false},
    {kHkdfSha384EcdsaP384, 1, "SHA384", false, true},
    {kHkdfSha256, 1, "SHA256", false, false},
};

const Suite* FindSuite(uint16_t id) {
  for (const Suite& suite : kSuites) {
    if (suite.id == id) return &suite;
  }
  return nullptr;
}

absl::Status BadMessage(std::string_view what) {
  return Error(ErrorType::kInvalidCiphertext, StrCat("not a valid encrypted message: ", what));
}

void PutU16(std::string& out, size_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void PutU32(std::string& out, uint64_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void FrameIv(uint32_t sequence, uint8_t iv[kIvSize]) {
  std::memset(iv, 0, kIvSize);
  for (int i = 0; i < 4; ++i) iv[8 + i] = static_cast<uint8_t>(sequence >> (24 - 8 * i));
}

std::string FrameAad(std::string_view message_id, bool final_frame, uint32_t sequence,
                     uint64_t length) {
  std::string aad(message_id);
  aad += final_frame ? kFinalFrameLabel : kFrameLabel;
  PutU32(aad, sequence);
  PutU64(aad, length);
  return aad;
}

// Count, then each pair sorted by key (std::map sorts by bytes, as the spec asks).
std::string SerializeContext(const EncryptionContext& context) {
  if (context.empty()) return "";
  std::string out;
  PutU16(out, context.size());
  for (const auto& [key, value] : context) {
    PutU16(out, key.size());
    out += key;
    PutU16(out, value.size());
    out += value;
  }
  return out;
}

struct DerivedKeys {
  SecretBytes data_key;
  std::string commitment;  // empty for non-committing suites
};

absl::StatusOr<DerivedKeys> DeriveKeys(const Suite& suite, const SecretBytes& data_key,
                                       std::string_view message_id) {
  DerivedKeys keys;
  std::string suite_id;
  PutU16(suite_id, suite.id);
  if (suite.committing) {
    auto derived = Hkdf(suite.hkdf_digest, data_key, message_id, suite_id + "DERIVEKEY", 32);
    auto commitment = Hkdf(suite.hkdf_digest, data_key, message_id, "COMMITKEY", 32);
    if (!derived.ok()) return derived.status();
    if (!commitment.ok()) return commitment.status();
    keys.data_key = std::move(*derived);
    keys.commitment = std::string(commitment->view());
    return keys;
  }
  auto derived = Hkdf(suite.hkdf_digest, data_key, "", suite_id + std::string(message_id), 32);
  if (!derived.ok()) return derived.status();
  keys.data_key = std::move(*derived);
  return keys;
}

// Reads exactly what is asked from an Input, remembering every byte for the signature.
class Reader {
 public:
  Reader(Input& in, Signature* signature) : in_(in), signature_(signature) {}

  absl::Status Exact(uint8_t* out, size_t size) {
    size_t done = 0;
    while (done < size) {
      auto got = in_.Read(out + done, size - done);
      if (!got.ok()) return got.status();
      if (*got == 0) return BadMessage("it ends too soon (truncated)");
      done += *got;
    }
    if (signature_) signature_->Update(out, size);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Bytes(size_t size) {
    std::string out(size, '\0');
    if (auto status = Exact(reinterpret_cast<uint8_t*>(out.data()), size); !status.ok()) {
      return status;
    }
    return out;
  }
  absl::StatusOr<uint64_t> Number(int bytes) {
    uint8_t buffer[8];
    if (auto status = Exact(buffer, static_cast<size_t>(bytes)); !status.ok()) return status;
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value = value << 8 | buffer[i];
    return value;
  }
  // True at the end of input (nothing is consumed otherwise but one byte, returned).
  absl::StatusOr<std::optional<uint8_t>> Peek() {
    uint8_t byte;
    auto got = in_.Read(&byte, 1);
    if (!got.ok()) return got.status();
    if (*got == 0) return std::optional<uint8_t>();
    return std::optional<uint8_t>(byte);
  }
  void set_signature(Signature* signature) { signature_ = signature; }

 private:
  Input& in_;
  Signature* signature_;
};

// The parsed header, with the raw bytes that its authentication tag covers.
struct Header {
  const Suite* suite = nullptr;
  std::string message_id;
  EncryptionContext context;
  std::vector<std::tuple<std::string, std::string, std::string>> data_keys;  // id, info, blob
  uint32_t frame_length = 0;
  std::string commitment;
  std::string header_iv;  // version 1 only
  std::string tag;
  std::string authenticated;  // the header bytes before its authentication
};

absl::StatusOr<std::string> ReadField(Reader& reader, std::string& raw, int length_bytes) {
  auto length = reader.Number(length_bytes);
  if (!length.ok()) return length.status();
  PutU16(raw, *length);
  auto bytes = reader.Bytes(*length);
  if (!bytes.ok()) return bytes.status();
  raw += *bytes;
  return bytes;
}

absl::StatusOr<EncryptionContext> ParseContext(std::string_view aad) {
  EncryptionContext context;
  if (aad.empty()) return context;
  size_t pos = 0;
  auto u16 = [&](size_t& out) {
    if (pos + 2 > aad.size()) return false;
    out = static_cast<uint8_t>(aad[pos]) << 8 | static_cast<uint8_t>(aad[pos + 1]);
    pos += 2;
    return true;
  };
  size_t count = 0;
  if (!u16(count) || count == 0) return BadMessage("malformed encryption context");
  for (size_t i = 0; i < count; ++i) {
    size_t key_length = 0, value_length = 0;
    if (!u16(key_length) || pos + key_length > aad.size()) return BadMessage("malformed context");
    std::string key(aad.substr(pos, key_length));
    pos += key_length;
    if (!u16(value_length) || pos + value_length > aad.size()) {
      return BadMessage("malformed encryption context");
    }
    if (!context.emplace(key, std::string(aad.substr(pos, value_length))).second) {
      return BadMessage("duplicate encryption context key");
    }
    pos += value_length;
  }
  if (pos != aad.size()) return BadMessage("malformed encryption context");
  return context;
}

absl::StatusOr<Header> ReadHeader(Reader& reader, const DecryptOptions& options) {
  Header header;
  std::string& raw = header.authenticated;
  auto version = reader.Number(1);
  if (!version.ok()) return version.status();
  if (*version != 1 && *version != 2) return BadMessage("unknown message format version");
  raw.push_back(static_cast<char>(*version));
  if (*version == 1) {
    auto type = reader.Number(1);
    if (!type.ok()) return type.status();
    if (*type != 0x80) return BadMessage("unknown message type");
    raw.push_back(static_cast<char>(*type));
  }
  auto suite_id = reader.Number(2);
  if (!suite_id.ok()) return suite_id.status();
  PutU16(raw, *suite_id);
  header.suite = FindSuite(static_cast<uint16_t>(*suite_id));
  if (!header.suite || header.suite->message_version != static_cast<int>(*version)) {
    return Error(ErrorType::kUnsupportedOperation,
                 StrCat("unsupported algorithm suite 0x", crypto::HexEncode(raw.substr(raw.size() - 2))));
  }
  auto message_id = reader.Bytes(*version == 2 ? 32 : 16);
  if (!message_id.ok()) return message_id.status();
  header.message_id = *message_id;
  raw += *message_id;
  auto aad = ReadField(reader, raw, 2);
  if (!aad.ok()) return aad.status();
  auto context = ParseContext(*aad);
  if (!context.ok()) return context.status();
  header.context = std::move(*context);
  auto count = reader.Number(2);
  if (!count.ok()) return count.status();
  PutU16(raw, *count);
  if (*count == 0) return BadMessage("no encrypted data keys");
  if (*count > options.max_encrypted_data_keys) {
    return Error(ErrorType::kLimitExceeded,
                 StrCat("the message has ", *count, " encrypted data keys, more than the limit of ",
                        options.max_encrypted_data_keys, " (--max-encrypted-data-keys)"));
  }
  for (uint64_t i = 0; i < *count; ++i) {
    auto id = ReadField(reader, raw, 2);
    if (!id.ok()) return id.status();
    auto info = ReadField(reader, raw, 2);
    if (!info.ok()) return info.status();
    auto blob = ReadField(reader, raw, 2);
    if (!blob.ok()) return blob.status();
    header.data_keys.emplace_back(*id, *info, *blob);
  }
  auto content_type = reader.Number(1);
  if (!content_type.ok()) return content_type.status();
  if (*content_type != kFramedContent) {
    return Error(ErrorType::kUnsupportedOperation, "only framed messages are supported");
  }
  raw.push_back(static_cast<char>(*content_type));
  if (*version == 1) {
    auto reserved = reader.Bytes(4);
    if (!reserved.ok()) return reserved.status();
    if (*reserved != std::string(4, '\0')) return BadMessage("reserved field is not zero");
    raw += *reserved;
    auto iv_length = reader.Number(1);
    if (!iv_length.ok()) return iv_length.status();
    if (*iv_length != kIvSize) return BadMessage("unexpected IV length");
    raw.push_back(static_cast<char>(*iv_length));
  }
  auto frame_length = reader.Number(4);
  if (!frame_length.ok()) return frame_length.status();
  if (*frame_length == 0 || *frame_length > kMaxFrameLength) {
    return BadMessage("frame length out of range");
  }
  header.frame_length = static_cast<uint32_t>(*frame_length);
  PutU32(raw, *frame_length);
  if (header.suite->committing) {
    auto commitment = reader.Bytes(32);
    if (!commitment.ok()) return commitment.status();
    header.commitment = *commitment;
    raw += *commitment;
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

absl::StatusOr<SecretBytes> DecryptDataKey(client::KmsClient& kms, const Header& header) {
  absl::Status last = BadMessage("no encrypted data key from provider aws-kms");
  for (const auto& [provider, info, blob] : header.data_keys) {
    if (provider != kProviderId) continue;
    auto opened = kms.Decrypt(blob, header.context, info);
    if (opened.ok()) {
      if (opened->first.size() != 32) return BadMessage("data key of the wrong length");
      return std::move(opened->first);
    }
    last = opened.status();
  }
  return last;
}

}  // namespace

absl::Status Encrypt(client::KmsClient& kms, const EncryptOptions& options, Input& in,
                     Output& out) {
  const Suite* suite = FindSuite(options.algorithm_suite);
  if (!suite || suite->message_version != 2) {
    return Validation("encrypt supports suites 0x0578 (default) and 0x0478");
  }
  if (options.key_ids.empty()) return Validation("give at least one --key-id");
  if (options.frame_length == 0 || options.frame_length > kMaxFrameLength) {
    return Validation("frame length must be 1 .. 2^30 bytes");
  }
  EncryptionContext context = options.context;
  for (const auto& [key, value] : context) {
    if (key.starts_with(kReservedContextPrefix)) {
      return Validation(StrCat("encryption context keys starting with '", kReservedContextPrefix,
                               "' are reserved"));
    }
  }
  std::optional<Signature> signature;
  if (suite->signing) {
    auto signer = Signature::NewSigner();
    if (!signer.ok()) return signer.status();
    signature.emplace(std::move(*signer));
    context[std::string(kPublicKeyContextKey)] = crypto::Base64Encode(signature->PublicKey());
  }
  std::string aad = SerializeContext(context);
  if (aad.size() > 0xFFFF) return Validation("the encryption context is too large");

  auto data_key = kms.GenerateDataKey(options.key_ids[0], 32, context);
  if (!data_key.ok()) return data_key.status();
  std::vector<std::pair<std::string, std::string>> encrypted_keys = {
      {data_key->key_arn, data_key->ciphertext_blob}};
  for (size_t i = 1; i < options.key_ids.size(); ++i) {
    auto wrapped = kms.Encrypt(options.key_ids[i], data_key->plaintext, context);
    if (!wrapped.ok()) return wrapped.status();
    encrypted_keys.emplace_back(wrapped->second, wrapped->first);
  }

  auto message_id = crypto::RandomBytes(32);
  if (!message_id.ok()) return message_id.status();
  auto keys = DeriveKeys(*suite, data_key->plaintext, *message_id);
  data_key->plaintext.Clear();
  if (!keys.ok()) return keys.status();

  std::string header;
  header.push_back(2);
  PutU16(header, suite->id);
  header += *message_id;
  PutU16(header, aad.size());
  header += aad;
  PutU16(header, encrypted_keys.size());
  for (const auto& [arn, blob] : encrypted_keys) {
    PutU16(header, kProviderId.size());
    header += kProviderId;
    PutU16(header, arn.size());
    header += arn;
    PutU16(header, blob.size());
    header += blob;
  }
  header.push_back(static_cast<char>(kFramedContent));
  PutU32(header, options.frame_length);
  header += keys->commitment;
  auto cipher = FrameCipher::Create(keys->data_key, /*encrypt=*/true);
  if (!cipher.ok()) return cipher.status();
  uint8_t zero_iv[kIvSize] = {};
  uint8_t tag[kTagSize];
  if (auto status = cipher->Run(zero_iv, header, nullptr, 0, nullptr, tag); !status.ok()) {
    return status;
  }
  header.append(reinterpret_cast<char*>(tag), kTagSize);

  auto emit = [&](const uint8_t* data, size_t size) {
    if (signature) signature->Update(data, size);
    return out.Write(data, size);
  };
  if (auto status = emit(reinterpret_cast<const uint8_t*>(header.data()), header.size());
      !status.ok()) {
    return status;
  }

  // Read one frame ahead so the last frame is known to be last before it is written.
  size_t frame = options.frame_length;
  SecretBytes current(frame), next(frame);
  std::vector<uint8_t> sealed(frame + 64);
  auto fill = [&](SecretBytes& buffer) -> absl::StatusOr<size_t> {
    size_t have = 0;
    while (have < frame) {
      auto got = in.Read(buffer.data() + have, frame - have);
      if (!got.ok()) return got.status();
      if (*got == 0) break;
      have += *got;
    }
    return have;
  };
  auto current_size = fill(current);
  if (!current_size.ok()) return current_size.status();
  uint32_t sequence = 1;
  while (true) {
    size_t next_size = 0;
    if (*current_size == frame) {
      auto filled = fill(next);
      if (!filled.ok()) return filled.status();
      next_size = *filled;
    }
    bool final_frame = *current_size < frame || next_size == 0;
    uint8_t iv[kIvSize];
    FrameIv(sequence, iv);
    std::string frame_header;
    if (final_frame) PutU32(frame_header, kFinalFrameMarker);
    PutU32(frame_header, sequence);
    frame_header.append(reinterpret_cast<char*>(iv), kIvSize);
    if (final_frame) PutU32(frame_header, *current_size);
    if (auto status = cipher->Run(iv, FrameAad(*message_id, final_frame, sequence, *current_size),
                                  current.data(), *current_size, sealed.data(), tag);
        !status.ok()) {
      return status;
    }
    if (auto status = emit(reinterpret_cast<const uint8_t*>(frame_header.data()),
                           frame_header.size());
        !status.ok()) {
      return status;
    }
    if (auto status = emit(sealed.data(), *current_size); !status.ok()) return status;
    if (auto status = emit(tag, kTagSize); !status.ok()) return status;
    if (final_frame) break;
    if (sequence == kFinalFrameMarker - 1) return Validation("the input needs too many frames");
    ++sequence;
    std::swap(current, next);
    current_size = next_size;
  }
  if (signature) {
    auto der = signature->Sign();
    if (!der.ok()) return der.status();
    std::string footer;
    PutU16(footer, der->size());
    footer += *der;
    return out.Write(reinterpret_cast<const uint8_t*>(footer.data()), footer.size());
  }
  return absl::OkStatus();
}

absl::Status Decrypt(client::KmsClient& kms, const DecryptOptions& options, Input& in,
                     Output& out) {
  Reader reader(in, nullptr);
  auto header = ReadHeader(reader, options);
  if (!header.ok()) return header.status();
  for (const auto& [key, value] : options.required_context) {
    auto it = header->context.find(key);
    if (it == header->context.end() || it->second != value) {
      return Error(ErrorType::kInvalidCiphertext,
                   StrCat("the message's encryption context does not contain ", key, "=", value));
    }
  }
  std::optional<Signature> signature;
  if (header->suite->signing) {
    auto public_key = header->context.find(std::string(kPublicKeyContextKey));
    if (public_key == header->context.end()) return BadMessage("signed suite without public key");
    auto point = crypto::Base64Decode(public_key->second);
    if (!point.ok()) return BadMessage("malformed public key");
    auto verifier = Signature::NewVerifier(*point);
    if (!verifier.ok()) return verifier.status();
    signature.emplace(std::move(*verifier));
    // The signature covers the whole message before the footer, header included.
    signature->Update(reinterpret_cast<const uint8_t*>(header->authenticated.data()),
                      header->authenticated.size());
    signature->Update(reinterpret_cast<const uint8_t*>(header->header_iv.data()),
                      header->header_iv.size());
    signature->Update(reinterpret_cast<const uint8_t*>(header->tag.data()), header->tag.size());
    reader.set_signature(&*signature);
  }

  auto data_key = DecryptDataKey(kms, *header);
  if (!data_key.ok()) return data_key.status();
  auto keys = DeriveKeys(*header->suite, *data_key, header->message_id);
  data_key->Clear();
  if (!keys.ok()) return keys.status();
  if (header->suite->committing &&
      !crypto::ConstantTimeEquals(keys->commitment, header->commitment)) {
    return BadMessage("key commitment does not match");
  }
  auto cipher = FrameCipher::Create(keys->data_key, /*encrypt=*/false);
  if (!cipher.ok()) return cipher.status();
  uint8_t header_iv[kIvSize] = {};
  if (!header->header_iv.empty()) std::memcpy(header_iv, header->header_iv.data(), kIvSize);
  uint8_t tag[kTagSize];
  std::memcpy(tag, header->tag.data(), kTagSize);
  if (!cipher->Run(header_iv, header->authenticated, nullptr, 0, nullptr, tag).ok()) {
    return BadMessage("header authentication failed");
  }

  std::vector<uint8_t> sealed(header->frame_length);
  SecretBytes plain(header->frame_length);
  for (uint32_t expected = 1;; ++expected) {
    auto first = reader.Number(4);
    if (!first.ok()) return first.status();
    bool final_frame = *first == kFinalFrameMarker;
    uint64_t sequence = *first;
    if (final_frame) {
      auto number = reader.Number(4);
      if (!number.ok()) return number.status();
      sequence = *number;
    }
    if (sequence != expected) return BadMessage("frames are out of order");
    uint8_t iv[kIvSize];
    if (auto status = reader.Exact(iv, kIvSize); !status.ok()) return status;
    uint64_t length = header->frame_length;
    if (final_frame) {
      auto final_length = reader.Number(4);
      if (!final_length.ok()) return final_length.status();
      if (*final_length > header->frame_length) return BadMessage("final frame too long");
      length = *final_length;
    }
    if (auto status = reader.Exact(sealed.data(), length); !status.ok()) return status;
    if (auto status = reader.Exact(tag, kTagSize); !status.ok()) return status;
    if (auto status = cipher->Run(iv, FrameAad(header->message_id, final_frame, expected, length),
                                  sealed.data(), length, plain.data(), tag);
        !status.ok()) {
      return status;
    }
    if (auto status = out.Write(plain.data(), length); !status.ok()) return status;
    if (final_frame) break;
    if (expected == kFinalFrameMarker - 1) return BadMessage("too many frames");
  }
  if (signature) {
    reader.set_signature(nullptr);
    auto length = reader.Number(2);
    if (!length.ok()) return length.status();
    auto der = reader.Bytes(*length);
    if (!der.ok()) return der.status();
    if (!signature->Verify(*der)) return BadMessage("the signature does not verify");
  }
  auto trailing = reader.Peek();
  if (!trailing.ok()) return trailing.status();
  if (trailing->has_value()) return BadMessage("bytes follow the end of the message");
  return absl::OkStatus();
}

}  // namespace kmsd::envelope
