// One owner per data dir: an exclusive lock on DIR/kmsd.lock, held for the life of the process.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace kmsd::cmd {

class DataDirLock {
 public:
  // Takes the lock without waiting and writes this process's pid into the lock file. When another
  // process holds it, fails with FailedPrecondition naming that process's pid. Creates nothing but
  // the lock file (the directory must exist).
  static absl::StatusOr<DataDirLock> Acquire(const std::string& dir);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
  }
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  ~DataDirLock();  // releases the lock (the kernel also does when the process ends, even by kill -9)

  const std::string& path() const { return path_; }

 private:
  DataDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace kmsd::cmd
