// Encrypt and Decrypt: a message's header, then its framed body streamed in blocks of frames
// through a three-stage pipeline (read | seal or open on the workers | sign or verify, write), then
// the signature footer. Format details live in format.cc, the crypto in primitives.cc.
#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "envelope/format.h"
#include "envelope/primitives.h"
#include "envelope/worker_pool.h"
#include "kmsd/crypto.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::envelope {
namespace {

constexpr int kMaxAutoThreads = 4;

int WorkerThreads(int requested) {
  if (requested >= 0) return requested;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 1, kMaxAutoThreads);
}

// Frames per block, so that a block holds about block_bytes of plaintext.
size_t FramesPerBlock(size_t block_bytes, uint32_t frame_length) {
  return std::max<size_t>(1, block_bytes / frame_length);
}

// One AES-GCM context per worker slot, all under the message's derived key: a job owns slot i
// while it runs, so no context is ever shared between threads.
absl::StatusOr<std::vector<FrameCipher>> NewCiphers(const SecretBytes& key, bool encrypt,
                                                    size_t count) {
  std::vector<FrameCipher> ciphers;
  for (size_t i = 0; i < count; ++i) {
    auto cipher = FrameCipher::Create(key, encrypt);
    if (!cipher.ok()) return cipher.status();
    ciphers.push_back(std::move(*cipher));
  }
  return ciphers;
}

// Splits frames [0, count) into at most parts contiguous ranges and calls add(begin, end, part).
template <typename Add>
void SplitFrames(size_t count, size_t parts, Add add) {
  parts = std::max<size_t>(1, std::min(parts, count));
  for (size_t part = 0; part < parts; ++part) {
    size_t begin = count * part / parts, end = count * (part + 1) / parts;
    if (begin < end) add(begin, end, part);
  }
}

// Fills buffer from in until it is full or the input ends; returns how much it holds.
absl::StatusOr<size_t> Fill(Input& in, uint8_t* buffer, size_t size) {
  size_t have = 0;
  while (have < size) {
    auto got = in.Read(buffer + have, size - have);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    have += *got;
  }
  return have;
}

// What the encryptor knows about one block of plaintext.
struct PlainBlock {
  size_t size = 0;
  bool last = false;  // holds the final frame
  uint32_t first_sequence = 0;
  size_t frames = 0;
  size_t sealed_size = 0;
};

// Plans the frames of a block of size bytes. A full block is all regular frames; the block that
// ends the input ends with the final frame (empty when the input ended exactly on a block).
absl::StatusOr<PlainBlock> PlanBlock(size_t size, bool last, uint32_t first_sequence,
                                     uint32_t frame_length) {
  PlainBlock block{size, last, first_sequence, 0, 0};
  if (!last) {
    block.frames = size / frame_length;
    block.sealed_size = block.frames * (frame_length + kRegularFrameOverhead);
  } else {
    block.frames = std::max<size_t>(1, (size + frame_length - 1) / frame_length);
    size_t final_size = size - (block.frames - 1) * frame_length;
    block.sealed_size = (block.frames - 1) * (frame_length + kRegularFrameOverhead) +
                        kFinalFrameOverhead + final_size;
  }
  if (block.frames > 0 &&
      uint64_t{first_sequence} + block.frames - 1 > uint64_t{kMaxSequenceNumber}) {
    return Validation("the input needs more than 2^32-2 frames: use a larger --frame-length");
  }
  return block;
}

// Seals frames [begin, end) of a block into sealed, each in its serialized form.
absl::Status SealFrames(FrameCipher& cipher, std::string_view message_id, uint32_t frame_length,
                        const PlainBlock& block, const uint8_t* plain, uint8_t* sealed,
                        size_t begin, size_t end) {
  uint8_t aad[kMaxFrameAadSize];
  for (size_t i = begin; i < end; ++i) {
    bool final_frame = block.last && i + 1 == block.frames;
    uint32_t sequence = block.first_sequence + static_cast<uint32_t>(i);
    size_t size = final_frame ? block.size - i * frame_length : frame_length;
    uint8_t* out = sealed + i * (frame_length + kRegularFrameOverhead);
    if (final_frame) {
      StoreU32(out, kFinalFrameMarker);
      out += 4;
    }
    StoreU32(out, sequence);
    uint8_t* iv = out + 4;
    FrameIv(sequence, iv);
    out = iv + kIvSize;
    if (final_frame) {
      StoreU32(out, static_cast<uint32_t>(size));
      out += 4;
    }
    size_t aad_size = FrameAad(message_id, final_frame, sequence, size, aad);
    if (auto status = cipher.Run(iv, {reinterpret_cast<char*>(aad), aad_size},
                                 plain + i * frame_length, size, out, out + size);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// One frame of a block read for decryption, located in the block's buffer.
struct FrameRef {
  const uint8_t* iv;
  const uint8_t* content;  // the tag follows the content
  uint32_t size;
  uint32_t sequence;
  bool final_frame;
};

struct SealedBlock {
  std::vector<FrameRef> frames;
  size_t size = 0;        // bytes of message in the buffer, for the signature
  size_t plain_size = 0;  // bytes of plaintext the frames hold
  bool last = false;
};

// Checks a frame's sequence number and counts it.
absl::Status NextSequence(uint32_t sequence, bool final_frame, uint32_t& next_sequence) {
  if (sequence != next_sequence) {
    return BadMessage(
        StrCat("frames are out of order (frame ", sequence, " where ", next_sequence, " was due)"));
  }
  if (next_sequence == kMaxSequenceNumber && !final_frame) return BadMessage("too many frames");
  ++next_sequence;
  return absl::OkStatus();
}

// Reads the next block of frames, until max_frames or the final frame, into buffer in their
// serialized form; checks their order and lengths, not their tags. Always a private copy, even
// when the input could lend its bytes in place: each byte is read twice (GCM and the signature)
// and a copy that someone rewrites between the two reads could pass a check it should fail.
absl::Status ReadBlock(StreamReader& reader, uint32_t frame_length, size_t max_frames,
                       uint32_t& next_sequence, uint8_t* buffer, SealedBlock& block) {
  block.frames.clear();
  block.size = 0;
  block.plain_size = 0;
  block.last = false;
  while (block.frames.size() < max_frames && !block.last) {
    uint8_t* start = buffer + block.size;
    uint8_t* p = start;
    if (auto status = reader.Exact(p, 4); !status.ok()) return status;
    FrameRef frame{};
    frame.sequence = LoadU32(p);
    frame.final_frame = frame.sequence == kFinalFrameMarker;
    p += 4;
    if (frame.final_frame) {
      if (auto status = reader.Exact(p, 4); !status.ok()) return status;
      frame.sequence = LoadU32(p);
      p += 4;
    }
    if (auto status = NextSequence(frame.sequence, frame.final_frame, next_sequence);
        !status.ok()) {
      return status;
    }
    if (auto status = reader.Exact(p, kIvSize); !status.ok()) return status;
    frame.iv = p;
    p += kIvSize;
    frame.size = frame_length;
    if (frame.final_frame) {
      if (auto status = reader.Exact(p, 4); !status.ok()) return status;
      frame.size = LoadU32(p);
      p += 4;
      if (frame.size > frame_length) return BadMessage("the final frame is longer than a frame");
    }
    frame.content = p;
    if (auto status = reader.Exact(p, frame.size + kTagSize); !status.ok()) return status;
    p += frame.size + kTagSize;
    block.size += static_cast<size_t>(p - start);
    block.plain_size += frame.size;
    block.last = frame.final_frame;
    block.frames.push_back(frame);
  }
  return absl::OkStatus();
}

// Opens frames [begin, end) of a block; frame i's plaintext goes to plain + i * frame_length.
absl::Status OpenFrames(FrameCipher& cipher, std::string_view message_id, uint32_t frame_length,
                        const SealedBlock& block, uint8_t* plain, size_t begin, size_t end) {
  uint8_t aad[kMaxFrameAadSize];
  uint8_t tag[kTagSize];
  for (size_t i = begin; i < end; ++i) {
    const FrameRef& frame = block.frames[i];
    size_t aad_size = FrameAad(message_id, frame.final_frame, frame.sequence, frame.size, aad);
    std::memcpy(tag, frame.content + frame.size, kTagSize);
    if (!cipher
             .Run(frame.iv, {reinterpret_cast<char*>(aad), aad_size}, frame.content, frame.size,
                  plain + i * frame_length, tag)
             .ok()) {
      return BadMessage(StrCat("frame ", frame.sequence, " failed authentication"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> DecryptDataKey(client::KmsClient& kms, const Header& header,
                                           const std::vector<std::string>& key_arns) {
  absl::Status last =
      key_arns.empty()
          ? BadMessage("it has no encrypted data key from provider aws-kms")
          : Error(ErrorType::kIncorrectKey,
                  "the message has no encrypted data key for any of the given --key-id ARNs");
  for (const EncryptedDataKey& key : header.data_keys) {
    if (key.provider_id != kProviderId) continue;
    if (!key_arns.empty() &&
        std::find(key_arns.begin(), key_arns.end(), key.provider_info) == key_arns.end()) {
      continue;
    }
    auto opened = kms.Decrypt(key.ciphertext, header.context, key.provider_info);
    if (opened.ok()) {
      if (opened->first.size() != 32) return BadMessage("the data key has the wrong length");
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
  const uint32_t frame_length = options.frame_length;
  if (frame_length == 0 || frame_length > kMaxFrameLength) {
    return Validation(StrCat("the frame length must be 1 .. ", kMaxFrameLength, " bytes"));
  }
  Header header;
  header.suite = suite;
  header.frame_length = frame_length;
  header.context = options.context;
  for (const auto& [key, value] : header.context) {
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
    // The public key travels in the context, so KMS binds it to the data key too.
    header.context[std::string(kPublicKeyContextKey)] =
        crypto::Base64Encode(signature->PublicKey());
  }
  if (SerializeContext(header.context).size() > 0xFFFF) {
    return Validation("the encryption context is too large");
  }

  auto data_key = kms.GenerateDataKey(options.key_ids[0], 32, header.context);
  if (!data_key.ok()) return data_key.status();
  header.data_keys.push_back(
      {std::string(kProviderId), data_key->key_arn, std::move(data_key->ciphertext_blob)});
  for (size_t i = 1; i < options.key_ids.size(); ++i) {
    auto wrapped = kms.Encrypt(options.key_ids[i], data_key->plaintext, header.context);
    if (!wrapped.ok()) return wrapped.status();
    header.data_keys.push_back(
        {std::string(kProviderId), std::move(wrapped->second), std::move(wrapped->first)});
  }
  if (header.data_keys.size() > 0xFFFF) return Validation("too many --key-id");
  auto message_id = crypto::RandomBytes(32);
  if (!message_id.ok()) return message_id.status();
  header.message_id = *message_id;
  auto keys = DeriveKeys(*suite, data_key->plaintext, header.message_id);
  data_key->plaintext.Clear();
  if (!keys.ok()) return keys.status();
  header.commitment = keys->commitment;

  const int threads = WorkerThreads(options.worker_threads);
  auto ciphers = NewCiphers(keys->data_key, /*encrypt=*/true, std::max(threads, 1));
  keys->data_key.Clear();
  if (!ciphers.ok()) return ciphers.status();

  std::string serialized = SerializeHeaderBodyV2(header);
  uint8_t zero_iv[kIvSize] = {};
  uint8_t tag[kTagSize];
  if (auto status = (*ciphers)[0].Run(zero_iv, serialized, nullptr, 0, nullptr, tag);
      !status.ok()) {
    return status;
  }
  serialized.append(reinterpret_cast<char*>(tag), kTagSize);
  const auto* header_bytes = reinterpret_cast<const uint8_t*>(serialized.data());
  if (signature) signature->Update(header_bytes, serialized.size());
  if (auto status = out.Write(header_bytes, serialized.size()); !status.ok()) return status;

  // Step s reads block s while the workers seal block s-1 (and sign block s-2), then writes
  // block s-2. Two plaintext buffers and three sealed ones rotate.
  const size_t frames_per_block = FramesPerBlock(options.block_bytes, frame_length);
  const size_t plain_capacity = frames_per_block * frame_length;
  const size_t sealed_capacity =
      frames_per_block * (frame_length + kRegularFrameOverhead) + kFinalFrameOverhead;
  SecretBytes plain[2];  // allocated when first needed: an input that lends its bytes needs none
  InputView lent[2];  // when the input lends block s in place, it is kept alive in lent[s % 2]
  const uint8_t* plain_data[2] = {};
  std::vector<uint8_t> sealed[3];
  for (auto& buffer : sealed) buffer.resize(sealed_capacity);
  PlainBlock blocks[3];
  std::optional<int64_t> last_block;
  uint32_t next_sequence = 1;
  // Whether block index exists (so far as is known yet).
  auto exists = [&](int64_t index) { return index >= 0 && (!last_block || index <= *last_block); };
  // Declared last, so it is destroyed (and its jobs finished) before the buffers they use.
  WorkerPool pool(threads);

  for (int64_t step = 0;; ++step) {
    std::vector<WorkerPool::Job> jobs;
    const bool reading = exists(step);
    if (reading) {
      // Block step-2, the last user of this slot, was sealed before the Wait of step-1.
      lent[step % 2] = {};
      auto view = in.ReadView(plain_capacity);
      if (!view.ok()) return view.status();
      absl::StatusOr<size_t> size = 0;
      if (view->has_value()) {
        lent[step % 2] = std::move(**view);
        plain_data[step % 2] = lent[step % 2].data;
        size = lent[step % 2].size;
      } else {
        if (plain[step % 2].empty()) plain[step % 2] = SecretBytes(plain_capacity);
        plain_data[step % 2] = plain[step % 2].data();
        size = Fill(in, plain[step % 2].data(), plain_capacity);
      }
      if (!size.ok()) return size.status();
      auto block = PlanBlock(*size, *size < plain_capacity, next_sequence, frame_length);
      if (!block.ok()) return block.status();
      blocks[step % 3] = *block;
      next_sequence += static_cast<uint32_t>(block->frames);
      if (block->last) last_block = step;
    }
    if (auto status = pool.Wait(); !status.ok()) return status;
    if (reading) {
      const PlainBlock& block = blocks[step % 3];
      const uint8_t* plain_block = plain_data[step % 2];
      uint8_t* sealed_data = sealed[step % 3].data();
      SplitFrames(block.frames, ciphers->size(), [&](size_t begin, size_t end, size_t part) {
        jobs.push_back([&, begin, end, part, plain_block, sealed_data, block]() {
          return SealFrames((*ciphers)[part], header.message_id, frame_length, block, plain_block,
                            sealed_data, begin, end);
        });
      });
    }
    if (signature && exists(step - 1)) {
      const uint8_t* data = sealed[(step - 1) % 3].data();
      size_t size = blocks[(step - 1) % 3].sealed_size;
      // Signing is the slowest job of a step: first in the queue.
      jobs.insert(jobs.begin(), [&, data, size]() {
        signature->Update(data, size);
        return absl::OkStatus();
      });
    }
    pool.Submit(std::move(jobs));
    if (exists(step - 2)) {
      const PlainBlock& block = blocks[(step - 2) % 3];
      if (auto status = out.Write(sealed[(step - 2) % 3].data(), block.sealed_size); !status.ok()) {
        return status;
      }
      if (block.last) break;
    }
  }
  if (auto status = pool.Wait(); !status.ok()) return status;
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
  StreamReader reader(in);
  auto header = ReadHeader(reader, options.max_encrypted_data_keys);
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
    if (public_key == header->context.end()) {
      return BadMessage("a signed suite without aws-crypto-public-key in its context");
    }
    auto point = crypto::Base64Decode(public_key->second);
    if (!point.ok()) return BadMessage("malformed aws-crypto-public-key");
    auto verifier = Signature::NewVerifier(*point);
    if (!verifier.ok()) return verifier.status();
    signature.emplace(std::move(*verifier));
    for (const std::string* part : {&header->body, &header->header_iv, &header->tag}) {
      signature->Update(reinterpret_cast<const uint8_t*>(part->data()), part->size());
    }
  }

  auto data_key = DecryptDataKey(kms, *header, options.key_arns);
  if (!data_key.ok()) return data_key.status();
  auto keys = DeriveKeys(*header->suite, *data_key, header->message_id);
  data_key->Clear();
  if (!keys.ok()) return keys.status();
  if (header->suite->committing &&
      !crypto::ConstantTimeEquals(keys->commitment, header->commitment)) {
    return BadMessage("its key commitment does not match the data key");
  }
  const int threads = WorkerThreads(options.worker_threads);
  auto ciphers = NewCiphers(keys->data_key, /*encrypt=*/false, std::max(threads, 1));
  keys->data_key.Clear();
  if (!ciphers.ok()) return ciphers.status();
  uint8_t header_iv[kIvSize] = {};
  if (!header->header_iv.empty()) std::memcpy(header_iv, header->header_iv.data(), kIvSize);
  uint8_t tag[kTagSize];
  std::memcpy(tag, header->tag.data(), kTagSize);
  if (!(*ciphers)[0].Run(header_iv, header->body, nullptr, 0, nullptr, tag).ok()) {
    return BadMessage("its header failed authentication");
  }

  // Step s opens (and verifies) block s on the workers while this thread writes block s-1 and
  // reads block s+1. The last block is written only once the whole message checked out.
  const uint32_t frame_length = header->frame_length;
  const size_t frames_per_block = FramesPerBlock(options.block_bytes, frame_length);
  const size_t sealed_capacity =
      frames_per_block * (frame_length + kRegularFrameOverhead) + kFinalFrameOverhead;
  std::vector<uint8_t> sealed[2];
  for (auto& buffer : sealed) buffer.resize(sealed_capacity);
  SecretBytes plain[2] = {SecretBytes(frames_per_block * frame_length),
                          SecretBytes(frames_per_block * frame_length)};
  SealedBlock blocks[2];
  uint32_t next_sequence = 1;
  std::string footer;
  // Reads block `index` and, after the final frame, the footer and the end of the input.
  auto read_block = [&](int64_t index) -> absl::Status {
    SealedBlock& block = blocks[index % 2];
    if (auto status = ReadBlock(reader, frame_length, frames_per_block, next_sequence,
                                sealed[index % 2].data(), block);
        !status.ok()) {
      return status;
    }
    if (!block.last) return absl::OkStatus();
    if (signature) {
      auto length = reader.Number(2);
      if (!length.ok()) return length.status();
      auto der = reader.Bytes(*length);
      if (!der.ok()) return der.status();
      footer = std::move(*der);
    }
    auto at_end = reader.AtEnd();
    if (!at_end.ok()) return at_end.status();
    if (!*at_end) return BadMessage("bytes follow the end of the message");
    return absl::OkStatus();
  };
  // Declared last, so it is destroyed (and its jobs finished) before the buffers they use.
  WorkerPool pool(threads);

  if (auto status = read_block(0); !status.ok()) return status;
  int64_t step = 0;
  for (;; ++step) {
    const SealedBlock& block = blocks[step % 2];
    const uint8_t* sealed_data = sealed[step % 2].data();
    uint8_t* plain_data = plain[step % 2].data();
    std::vector<WorkerPool::Job> jobs;
    if (signature) {
      jobs.push_back([&, sealed_data]() {
        signature->Update(sealed_data, block.size);
        return absl::OkStatus();
      });
    }
    SplitFrames(block.frames.size(), ciphers->size(), [&](size_t begin, size_t end, size_t part) {
      jobs.push_back([&, begin, end, part, plain_data]() {
        return OpenFrames((*ciphers)[part], header->message_id, frame_length, block, plain_data,
                          begin, end);
      });
    });
    pool.Submit(std::move(jobs));
    absl::Status io = absl::OkStatus();
    if (step >= 1) io = out.Write(plain[(step - 1) % 2].data(), blocks[(step - 1) % 2].plain_size);
    if (io.ok() && !block.last) io = read_block(step + 1);
    if (auto status = pool.Wait(); !status.ok()) return status;
    if (!io.ok()) return io;
    if (block.last) break;
  }
  if (signature && !signature->Verify(footer)) {
    return BadMessage("its signature does not verify");
  }
  return out.Write(plain[step % 2].data(), blocks[step % 2].plain_size);
}

}  // namespace kmsd::envelope
