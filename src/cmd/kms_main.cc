// kms: envelope encryption of files and streams with a KMS (kmsd, or anything that speaks the
// AWS KMS API), in the AWS Encryption SDK message format. Flags and wiring only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"

namespace {

constexpr size_t kIoBuffer = 1 << 20;

// Reads in large blocks, so a frame costs no system call of its own.
class FdInput final : public kmsd::envelope::Input {
 public:
  explicit FdInput(int fd) : fd_(fd), buffer_(kIoBuffer) {}
  absl::StatusOr<size_t> Read(uint8_t* out, size_t size) override {
    if (position_ == filled_) {
      if (size >= buffer_.size()) return ReadFd(out, size);  // large reads bypass the buffer
      auto got = ReadFd(buffer_.data(), buffer_.size());
      if (!got.ok()) return got.status();
      position_ = 0;
      filled_ = *got;
      if (filled_ == 0) return 0;
    }
    size_t n = std::min(size, filled_ - position_);
    std::memcpy(out, buffer_.data() + position_, n);
    position_ += n;
    return n;
  }

 private:
  absl::StatusOr<size_t> ReadFd(uint8_t* out, size_t size) {
    while (true) {
      ssize_t got = ::read(fd_, out, size);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return kmsd::Internal(kmsd::StrCat("read failed: ", strerror(errno)));
    }
  }
  int fd_;
  std::vector<uint8_t> buffer_;
  size_t position_ = 0;
  size_t filled_ = 0;
};

// Buffers writes into large blocks.
class FdOutput final : public kmsd::envelope::Output {
 public:
  explicit FdOutput(int fd) : fd_(fd) { buffer_.reserve(kIoBuffer); }
  absl::Status Write(const uint8_t* data, size_t size) override {
    if (buffer_.size() + size > kIoBuffer) {
      if (auto status = Flush(); !status.ok()) return status;
    }
    if (size >= kIoBuffer) return WriteAll(data, size);
    buffer_.insert(buffer_.end(), data, data + size);
    return absl::OkStatus();
  }
  absl::Status Flush() {
    auto status = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return status;
  }

 private:
  absl::Status WriteAll(const uint8_t* data, size_t size) {
    while (size > 0) {
      ssize_t written = ::write(fd_, data, size);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) return kmsd::Internal(kmsd::StrCat("write failed: ", strerror(errno)));
      data += written;
      size -= static_cast<size_t>(written);
    }
    return absl::OkStatus();
  }
  int fd_;
  std::vector<uint8_t> buffer_;
};

absl::StatusOr<kmsd::EncryptionContext> ParseContext(const std::vector<std::string>& pairs) {
  kmsd::EncryptionContext context;
  for (const std::string& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      return kmsd::Validation(kmsd::StrCat("--context wants KEY=VALUE, got '", pair, "'"));
    }
    context[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  return context;
}

// Runs body with the input and output opened. A file output is written to a temporary file
// beside it and renamed into place only on success, so a failure leaves no partial output.
int Run(const std::string& input, const std::string& output,
        const std::function<absl::Status(kmsd::envelope::Input&, kmsd::envelope::Output&)>& body) {
  int in_fd = input == "-" ? STDIN_FILENO : open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) {
    std::cerr << "kms: cannot open " << input << ": " << strerror(errno) << "\n";
    return 2;
  }
  std::string temporary;
  int out_fd = STDOUT_FILENO;
  if (output != "-") {
    temporary = output + ".kms-partial-" + std::to_string(getpid());
    out_fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out_fd < 0) {
      std::cerr << "kms: cannot create " << output << ": " << strerror(errno) << "\n";
      return 2;
    }
  }
  FdInput in(in_fd);
  FdOutput out(out_fd);
  absl::Status status = body(in, out);
  if (status.ok()) status = out.Flush();
  if (status.ok() && output != "-" && fsync(out_fd) != 0) {
    status = kmsd::Internal("fsync of the output failed");
  }
  if (in_fd != STDIN_FILENO) close(in_fd);
  if (output != "-") {
    close(out_fd);
    if (status.ok() && rename(temporary.c_str(), output.c_str()) != 0) {
      status = kmsd::Internal(kmsd::StrCat("cannot rename into ", output));
    }
    if (!status.ok()) unlink(temporary.c_str());
  }
  if (!status.ok()) {
    std::cerr << "kms: " << kmsd::ToStd(status.message()) << "\n";
    if (output == "-") std::cerr << "kms: the output written so far must be discarded\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kms: envelope encryption of files and streams with a KMS (AWS Encryption SDK "
               "message format)"};
  app.require_subcommand(1);
  kmsd::client::ClientFlags client_flags;
  app.add_option("--endpoint-url", client_flags.endpoint_url, "KMS endpoint URL");
  app.add_option("--region", client_flags.region, "AWS region");
  app.add_option("--profile", client_flags.profile, "Profile in ~/.aws/credentials");

  kmsd::envelope::EncryptOptions encrypt_options;
  std::vector<std::string> encrypt_context, decrypt_context;
  std::string algorithm = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384";
  std::string input, output;
  CLI::App* encrypt = app.add_subcommand("encrypt", "Encrypt INPUT to OUTPUT ('-' = stdin/stdout)");
  // Each repeatable option takes one value per occurrence, so INPUT and OUTPUT stay positional.
  encrypt->add_option("--key-id", encrypt_options.key_ids, "KMS key (repeat for more keys)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  encrypt->add_option("--context", encrypt_context, "Encryption context KEY=VALUE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  encrypt->add_option("--frame-length", encrypt_options.frame_length, "Bytes per frame")
      ->capture_default_str();
  encrypt->add_option("--algorithm", algorithm,
                      "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (default) or "
                      "AES_256_GCM_HKDF_SHA512_COMMIT_KEY");
  encrypt->add_option("INPUT", input)->required();
  encrypt->add_option("OUTPUT", output)->required();

  kmsd::envelope::DecryptOptions decrypt_options;
  CLI::App* decrypt = app.add_subcommand("decrypt", "Decrypt INPUT to OUTPUT ('-' = stdin/stdout)");
  decrypt->add_option("--context", decrypt_context,
                      "Required encryption context KEY=VALUE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  decrypt->add_option("--max-encrypted-data-keys", decrypt_options.max_encrypted_data_keys,
                      "Refuse messages with more encrypted data keys")
      ->capture_default_str();
  decrypt->add_option("INPUT", input)->required();
  decrypt->add_option("OUTPUT", output)->required();
  CLI11_PARSE(app, argc, argv);

  auto settings = kmsd::client::ResolveSettings(client_flags);
  if (!settings.ok()) {
    std::cerr << "kms: " << kmsd::ToStd(settings.status().message()) << "\n";
    return 2;
  }
  auto kms = kmsd::client::NewKmsClient(*settings);
  if (!kms.ok()) {
    std::cerr << "kms: " << kmsd::ToStd(kms.status().message()) << "\n";
    return 2;
  }
  if (encrypt->parsed()) {
    auto context = ParseContext(encrypt_context);
    if (!context.ok()) {
      std::cerr << "kms: " << kmsd::ToStd(context.status().message()) << "\n";
      return 2;
    }
    encrypt_options.context = *context;
    if (algorithm == "AES_256_GCM_HKDF_SHA512_COMMIT_KEY") {
      encrypt_options.algorithm_suite = kmsd::envelope::kCommitKey;
    } else if (algorithm != "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384") {
      std::cerr << "kms: unsupported --algorithm " << algorithm << "\n";
      return 2;
    }
    return Run(input, output, [&](auto& in, auto& out) {
      return kmsd::envelope::Encrypt(**kms, encrypt_options, in, out);
    });
  }
  auto context = ParseContext(decrypt_context);
  if (!context.ok()) {
    std::cerr << "kms: " << kmsd::ToStd(context.status().message()) << "\n";
    return 2;
  }
  decrypt_options.required_context = *context;
  return Run(input, output, [&](auto& in, auto& out) {
    return kmsd::envelope::Decrypt(**kms, decrypt_options, in, out);
  });
}
