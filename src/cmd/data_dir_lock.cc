#include "cmd/data_dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

constexpr char kLockFile[] = "kmsd.lock";

// The pid the owner wrote, or "" when it cannot be read (the owner may be writing it right now).
std::string ReadOwner(int fd) {
  char buffer[32] = {};
  ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "";
  std::string text(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char c : text) {
    if (c < '0' || c > '9') return "";
  }
  return text;
}

}  // namespace

absl::StatusOr<DataDirLock> DataDirLock::Acquire(const std::string& dir) {
  std::string path = StrCat(dir, "/", kLockFile);
  // The lock is flock(2)'s: tied to this open file, released by the kernel when the process ends
  // however it ends, so a kill -9 leaves no stale lock to clear by hand.
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return Internal(StrCat("cannot open the lock file ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    std::string owner = error == EWOULDBLOCK ? ReadOwner(fd) : "";
    close(fd);
    if (error != EWOULDBLOCK) {
      return Internal(StrCat("cannot lock ", path, ": ", std::strerror(error)));
    }
    return absl::FailedPreconditionError(StrCat(
        "the data dir ", dir, " is in use by another kmsd",
        owner.empty() ? std::string() : StrCat(" (pid ", owner, ")"), "; it holds ", path,
        ". One data dir has one server: stop that one, or give this one its own --data-dir"));
  }
  std::string pid = StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int error = errno;
    close(fd);
    return Internal(StrCat("cannot write the lock file ", path, ": ", std::strerror(error)));
  }
  return DataDirLock(fd, std::move(path));
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace kmsd::cmd
