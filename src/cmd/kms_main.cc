// kms: envelope encryption of files and streams with a KMS (kmsd, or anything that speaks the
// AWS KMS API), in the AWS Encryption SDK message format. Flags, files and exit codes only.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "kmsd/client_progress.h"
#include "kmsd/envelope.h"
#include "kmsd/errors.h"
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"

namespace {

// Exit codes, documented in docs/ENVELOPE.md.
constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;  // the message is invalid, tampered with, or not for this context
constexpr int kExitUsage = 2;    // flags, configuration, credentials
constexpr int kExitKms = 3;      // KMS refused the call or could not be reached
constexpr int kExitIo = 4;       // reading the input or writing the output failed

constexpr size_t kIoBuffer = 1 << 20;
constexpr auto kProgressInterval = std::chrono::milliseconds(100);
constexpr size_t kMapWindow = 8 << 20;

enum class ProgressMode { kAuto, kOn, kOff };

// The progress line on stderr: by default only when stderr is a terminal and the input is large
// (over kProgressThreshold, or of unknown size once that much has passed); --progress draws it
// always, --no-progress never. Redrawn in place (carriage return) at most every 100 ms; only the
// calling thread, which reads the input, draws it.
class ProgressMeter {
 public:
  ProgressMeter(ProgressMode mode, std::optional<uint64_t> total)
      : total_(total), start_(std::chrono::steady_clock::now()) {
    if (mode == ProgressMode::kOn) {
      threshold_ = 0;
    } else if (mode == ProgressMode::kOff || !isatty(STDERR_FILENO)) {
      threshold_ = UINT64_MAX;
    } else {
      // A large file shows its bar at once; a stream once it has passed the threshold.
      threshold_ = !total                                      ? kmsd::client::kProgressThreshold
                   : *total > kmsd::client::kProgressThreshold ? 0
                                                               : UINT64_MAX;
    }
    if (threshold_ == 0) Draw(start_);
  }

  void Advance(size_t bytes) {
    done_ += bytes;
    if (done_ < threshold_ && !drawn_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_draw_ < kProgressInterval) return;
    Draw(now);
  }

  // The last state and a line end, so what follows (an error, the shell's prompt) starts on a
  // line of its own; a failed run keeps the line where it stopped.
  void Finish(bool ok) {
    if (!drawn_) return;
    if (ok) {
      if (total_ && done_ < *total_) done_ = *total_;  // the input ended early: nothing missing
      Draw(std::chrono::steady_clock::now());
    }
    Write("\n");
  }

 private:
  void Draw(std::chrono::steady_clock::time_point now) {
    double seconds = std::chrono::duration<double>(now - start_).count();
    std::string line = kmsd::client::RenderProgress(done_, total_, seconds);
    size_t width = line.size();
    if (width < width_) line.append(width_ - width, ' ');  // wipe the longer line before
    width_ = width;
    Write("\r" + line);
    drawn_ = true;
    last_draw_ = now;
  }
  static void Write(const std::string& text) {
    (void)!::write(STDERR_FILENO, text.data(), text.size());
  }

  std::optional<uint64_t> total_;
  uint64_t done_ = 0;
  uint64_t threshold_;
  bool drawn_ = false;
  size_t width_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// The bytes left in fd when it is a regular file; none for a pipe, terminal or device.
std::optional<uint64_t> InputSize(int fd) {
  struct stat status;
  if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
  off_t offset = lseek(fd, 0, SEEK_CUR);
  if (offset < 0 || offset > status.st_size) return std::nullopt;
  return static_cast<uint64_t>(status.st_size - offset);
}

// Reads in large blocks, so small reads (frame headers) cost no system call of their own and
// block-sized reads go straight into the caller's buffer. A regular file also lends its blocks
// in place, mapped from the page cache, which spares a copy of every byte.
class FdInput final : public kmsd::envelope::Input {
 public:
  FdInput(int fd, ProgressMeter& progress) : fd_(fd), buffer_(kIoBuffer), progress_(progress) {
    struct stat status;
    if (fstat(fd, &status) == 0 && S_ISREG(status.st_mode)) {
      off_t offset = lseek(fd, 0, SEEK_CUR);
      if (offset >= 0 && offset <= status.st_size) {
        mappable_ = true;
        offset_ = static_cast<size_t>(offset);
        mappable_end_ = static_cast<size_t>(status.st_size);
      }
    }
  }

  // Lends the next bytes while they lie within the size the file had when opened; a file that
  // grew is read on with read(2). (A file truncated under kms makes the mapping fault: SIGBUS,
  // handled as an I/O failure below.) The file is mapped a window at a time: unmapping costs
  // every core running kms a TLB flush, too dear to pay per block, and a window bounds the
  // mapped pages that count as resident.
  absl::StatusOr<std::optional<kmsd::envelope::InputView>> ReadView(size_t size) override {
    // Bytes read ahead into the buffer are lent from the mapping instead.
    size_t next = offset_ - (filled_ - position_);
    if (!mappable_ || next >= mappable_end_) return std::nullopt;
    position_ = filled_ = 0;
    offset_ = next;
    size = std::min(size, mappable_end_ - offset_);
    if (offset_ < window_start_ || offset_ + size > window_end_) {
      static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      size_t start = offset_ / page * page;
      size_t end = std::min(mappable_end_, std::max(offset_ + size, start + kMapWindow));
      void* map = mmap(nullptr, end - start, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_,
                       static_cast<off_t>(start));
      if (map == MAP_FAILED) {
        mappable_ = false;  // e.g. a file system without mmap: read(2) does the rest
        return std::nullopt;
      }
      madvise(map, end - start, MADV_SEQUENTIAL);
      size_t length = end - start;
      window_ = std::shared_ptr<const uint8_t>(
          static_cast<const uint8_t*>(map),
          [length](const uint8_t* p) { munmap(const_cast<uint8_t*>(p), length); });
      window_start_ = start;
      window_end_ = end;
    }
    kmsd::envelope::InputView view;
    view.data = window_.get() + (offset_ - window_start_);
    view.size = size;
    view.owner = window_;  // the window stays mapped while a view of it lives
    offset_ += size;
    if (lseek(fd_, static_cast<off_t>(offset_), SEEK_SET) < 0) mappable_ = false;
    progress_.Advance(size);
    return view;
  }

  absl::StatusOr<size_t> Read(uint8_t* out, size_t size) override {
    if (position_ == filled_) {
      if (size >= buffer_.size()) {
        auto got = ReadFd(out, size);
        if (got.ok()) progress_.Advance(*got);
        return got;
      }
      auto got = ReadFd(buffer_.data(), buffer_.size());
      if (!got.ok()) return got.status();
      position_ = 0;
      filled_ = *got;
      if (filled_ == 0) return 0;
    }
    size_t n = std::min(size, filled_ - position_);
    std::memcpy(out, buffer_.data() + position_, n);
    position_ += n;
    progress_.Advance(n);
    return n;
  }
  bool failed() const { return failed_; }

 private:
  absl::StatusOr<size_t> ReadFd(uint8_t* out, size_t size) {
    while (true) {
      ssize_t got = ::read(fd_, out, size);
      if (got >= 0) {
        offset_ += static_cast<size_t>(got);
        return static_cast<size_t>(got);
      }
      if (errno == EINTR) continue;
      failed_ = true;
      return kmsd::Internal(kmsd::StrCat("reading the input failed: ", strerror(errno)));
    }
  }
  int fd_;
  std::vector<uint8_t> buffer_;
  ProgressMeter& progress_;
  size_t position_ = 0;
  size_t filled_ = 0;
  bool failed_ = false;
  bool mappable_ = false;
  size_t offset_ = 0;                      // the file offset of the next byte read(2) would return
  size_t mappable_end_ = 0;                // the file's size when opened
  std::shared_ptr<const uint8_t> window_;  // the mapped part of the file
  size_t window_start_ = 0;
  size_t window_end_ = 0;
};

// Gathers small writes into large blocks; large writes go straight through.
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
  bool failed() const { return failed_; }

 private:
  absl::Status WriteAll(const uint8_t* data, size_t size) {
    while (size > 0) {
      ssize_t written = ::write(fd_, data, size);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) {
        failed_ = true;
        return kmsd::Internal(kmsd::StrCat("writing the output failed: ", strerror(errno)));
      }
      data += written;
      size -= static_cast<size_t>(written);
    }
    return absl::OkStatus();
  }
  int fd_;
  std::vector<uint8_t> buffer_;
  bool failed_ = false;
};

// The temporary output file, removed if a signal ends kms before it is complete.
char g_partial_path[4096] = {};

void RemovePartialAndExit(int signal_number) {
  if (g_partial_path[0] != '\0') unlink(g_partial_path);  // async-signal-safe
  _exit(128 + signal_number);
}

// A mapped input file that shrank under kms: an I/O failure, not a crash.
void InputVanished(int) {
  static const char kMessage[] = "kms: the input file shrank while it was being read\n";
  (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  if (g_partial_path[0] != '\0') unlink(g_partial_path);
  _exit(kExitIo);
}

// Where the output goes. A regular file (or a new one) is written to a temporary file beside it
// and renamed into place only when everything checked out, so a failure leaves no partial output.
// Anything else (stdout, a pipe, a device such as /dev/null) is written in place: never replace it.
struct OutputTarget {
  int fd = STDOUT_FILENO;
  std::string path;       // the file to create, empty when writing in place
  std::string temporary;  // where it is written until it is complete
};

absl::StatusOr<OutputTarget> OpenOutput(const std::string& output) {
  OutputTarget target;
  if (output == "-") return target;
  struct stat status;
  if (stat(output.c_str(), &status) == 0 && !S_ISREG(status.st_mode)) {
    target.fd = open(output.c_str(), O_WRONLY | O_CLOEXEC);
    if (target.fd < 0) {
      return kmsd::Validation(kmsd::StrCat("cannot open ", output, ": ", strerror(errno)));
    }
    return target;
  }
  // Through a symbolic link, replace the file it points to, not the link.
  char* resolved = realpath(output.c_str(), nullptr);
  target.path = resolved ? resolved : output;
  free(resolved);
  target.temporary = target.path + ".kms-partial-XXXXXX";
  if (target.temporary.size() >= sizeof(g_partial_path)) return kmsd::Validation("path too long");
  target.fd = mkostemp(target.temporary.data(), O_CLOEXEC);  // mode 0600
  if (target.fd < 0) {
    return kmsd::Validation(kmsd::StrCat("cannot create ", output, ": ", strerror(errno)));
  }
  std::memcpy(g_partial_path, target.temporary.c_str(), target.temporary.size() + 1);
  return target;
}

int ExitCodeFor(const absl::Status& status) {
  switch (kmsd::TypeOf(status)) {
    case kmsd::ErrorType::kInvalidCiphertext:
    case kmsd::ErrorType::kIncorrectKey:
    case kmsd::ErrorType::kLimitExceeded:
    case kmsd::ErrorType::kUnsupportedOperation:
      return kExitRefused;
    case kmsd::ErrorType::kValidation:
      return kExitUsage;
    default:
      return kExitKms;
  }
}

using Body = std::function<absl::Status(kmsd::envelope::Input&, kmsd::envelope::Output&)>;

// Runs body with the input and output opened, and cleans up after a failure.
int Run(const std::string& input, const std::string& output, ProgressMode progress_mode,
        const Body& body) {
  int in_fd = input == "-" ? STDIN_FILENO : open(input.c_str(), O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) {
    std::cerr << "kms: cannot open " << input << ": " << strerror(errno) << "\n";
    return kExitIo;
  }
  auto target = OpenOutput(output);
  if (!target.ok()) {
    std::cerr << "kms: " << kmsd::ToStd(target.status().message()) << "\n";
    return kExitIo;
  }
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
    std::signal(signal_number, RemovePartialAndExit);
  }
  std::signal(SIGBUS, InputVanished);
  ProgressMeter progress(progress_mode, InputSize(in_fd));
  FdInput in(in_fd, progress);
  FdOutput out(target->fd);
  absl::Status status = body(in, out);
  if (status.ok()) status = out.Flush();
  if (status.ok() && !target->path.empty() && fsync(target->fd) != 0) {
    status = kmsd::Internal(kmsd::StrCat("writing the output failed: ", strerror(errno)));
  }
  bool io_failed = in.failed() || out.failed();
  if (in_fd != STDIN_FILENO) close(in_fd);
  if (target->fd != STDOUT_FILENO && close(target->fd) != 0 && status.ok()) {
    status = kmsd::Internal(kmsd::StrCat("writing the output failed: ", strerror(errno)));
    io_failed = true;
  }
  if (!target->path.empty()) {
    if (status.ok() && rename(target->temporary.c_str(), target->path.c_str()) != 0) {
      status = kmsd::Internal(
          kmsd::StrCat("cannot rename the output into ", target->path, ": ", strerror(errno)));
      io_failed = true;
    }
    if (!status.ok()) unlink(target->temporary.c_str());
    g_partial_path[0] = '\0';
  }
  progress.Finish(status.ok());
  if (status.ok()) return kExitOk;
  std::cerr << "kms: " << kmsd::ToStd(status.message()) << "\n";
  if (target->path.empty()) {
    std::cerr << "kms: the output written so far is incomplete or unauthenticated: discard it\n";
  }
  return io_failed ? kExitIo : ExitCodeFor(status);
}

absl::StatusOr<kmsd::EncryptionContext> ParseContext(const std::vector<std::string>& pairs) {
  kmsd::EncryptionContext context;
  for (const std::string& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      return kmsd::Validation(kmsd::StrCat("--context wants KEY=VALUE, got '", pair, "'"));
    }
    if (!context.emplace(pair.substr(0, equals), pair.substr(equals + 1)).second) {
      return kmsd::Validation(kmsd::StrCat("--context gives ", pair.substr(0, equals), " twice"));
    }
  }
  return context;
}

int Fail(const absl::Status& status) {
  std::cerr << "kms: " << kmsd::ToStd(status.message()) << "\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kms: envelope encryption of files and streams with a KMS (AWS Encryption SDK "
      "message format). Global options go before or after the subcommand."};
  app.footer(
      "Endpoint: --endpoint-url, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, the profile's services\n"
      "section, the profile's endpoint_url (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true: only the\n"
      "flag). Credentials and region as the aws CLI. See docs/ENVELOPE.md.\n"
      "Exit codes: 0 done; 1 message refused (invalid, tampered with, wrong context or key);\n"
      "2 usage or configuration (bad flags, no region or credentials); 3 KMS refused the call\n"
      "or could not be reached; 4 reading the input or writing the output failed.");
  app.set_version_flag("--version", "kms " + std::string(kmsd::client::Version()));
  app.require_subcommand(1);
  kmsd::client::ClientFlags client_flags;
  int threads = kmsd::envelope::kAutoThreads;
  bool progress = false, no_progress = false;
  app.add_option("--endpoint-url", client_flags.endpoint_url, "KMS endpoint URL");
  app.add_option("--region", client_flags.region, "AWS region");
  app.add_option("--profile", client_flags.profile, "Profile in ~/.aws/credentials and config");
  app.add_option("--threads", threads,
                 "Worker threads (default: one per core, at most 4; 0: none)");
  CLI::Option* progress_flag = app.add_flag(
      "--progress", progress,
      "Progress line on stderr even when it is not a terminal or the input is small (default: "
      "on a terminal, for inputs over 8 MiB or streams past 8 MiB)");
  app.add_flag("--no-progress", no_progress, "No progress line")->excludes(progress_flag);

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
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(1 << 24)));
  encrypt
      ->add_option("--algorithm", algorithm,
                   "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (default, signed) or "
                   "AES_256_GCM_HKDF_SHA512_COMMIT_KEY")
      ->check(CLI::IsMember(
          {"AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"}));
  encrypt->add_option("INPUT", input)->required();
  encrypt->add_option("OUTPUT", output)->required();

  kmsd::envelope::DecryptOptions decrypt_options;
  CLI::App* decrypt = app.add_subcommand("decrypt", "Decrypt INPUT to OUTPUT ('-' = stdin/stdout)");
  decrypt
      ->add_option("--context", decrypt_context,
                   "Require KEY=VALUE in the message's encryption context (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  decrypt
      ->add_option("--key-id", decrypt_options.key_arns,
                   "Only use data keys encrypted under this key ARN (repeatable; default: any)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::Validator(
          [](std::string& key_id) {
            absl::Status status = kmsd::client::RequireKeyArn(key_id);
            return status.ok() ? std::string() : std::string(kmsd::ToStd(status.message()));
          },
          "KEY_ARN"));
  decrypt
      ->add_option("--max-encrypted-data-keys", decrypt_options.max_encrypted_data_keys,
                   "Refuse messages with more encrypted data keys")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{65535}));
  decrypt->add_option("INPUT", input)->required();
  decrypt->add_option("OUTPUT", output)->required();
  // The global options are also taken after the subcommand, as the aws CLI takes them.
  encrypt->fallthrough();
  decrypt->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 prints the problem (or the help); every usage error exits with the one usage code.
    return app.exit(error) == 0 ? kExitOk : kExitUsage;
  }

  ProgressMode progress_mode = progress      ? ProgressMode::kOn
                               : no_progress ? ProgressMode::kOff
                                             : ProgressMode::kAuto;
  auto settings = kmsd::client::ResolveSettings(client_flags);
  if (!settings.ok()) return Fail(settings.status());
  auto kms = kmsd::client::NewKmsClient(*settings);
  if (!kms.ok()) return Fail(kms.status());
  if (encrypt->parsed()) {
    auto context = ParseContext(encrypt_context);
    if (!context.ok()) return Fail(context.status());
    encrypt_options.context = *context;
    encrypt_options.worker_threads = threads;
    if (algorithm == "AES_256_GCM_HKDF_SHA512_COMMIT_KEY") {
      encrypt_options.algorithm_suite = kmsd::envelope::kCommitKey;
    }
    return Run(input, output, progress_mode, [&](auto& in, auto& out) {
      return kmsd::envelope::Encrypt(**kms, encrypt_options, in, out);
    });
  }
  auto context = ParseContext(decrypt_context);
  if (!context.ok()) return Fail(context.status());
  decrypt_options.required_context = *context;
  decrypt_options.worker_threads = threads;
  return Run(input, output, progress_mode, [&](auto& in, auto& out) {
    return kmsd::envelope::Decrypt(**kms, decrypt_options, in, out);
  });
}
