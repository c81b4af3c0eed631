// The POSIX file system behind the trail: O_APPEND files made durable with fdatasync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kmsd/audit.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::audit {
namespace {

absl::Status Failure(std::string_view what, const std::string& path) {
  return Internal(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

class PosixAppendFile : public AppendFile {
 public:
  PosixAppendFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixAppendFile() override { close(fd_); }

  absl::Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t written = write(fd_, data.data(), data.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        return Failure("cannot write", path_);
      }
      data.remove_prefix(static_cast<size_t>(written));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fdatasync(fd_) != 0) return Failure("cannot sync", path_);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Failure("cannot open", path);
    return std::unique_ptr<AppendFile>(new PosixAppendFile(path, fd));
  }

  absl::Status SyncDirectory(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Failure("cannot open", path);
    int synced = fsync(fd);
    close(fd);
    if (synced != 0) return Failure("cannot sync", path);
    return absl::OkStatus();
  }
};

}  // namespace

FileSystem* DefaultFileSystem() {
  static auto* const file_system = new PosixFileSystem();
  return file_system;
}

}  // namespace kmsd::audit
