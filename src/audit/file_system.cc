// The POSIX file system behind the trail: appends made durable with fdatasync, and zero-filled
// spares that later trail files are written into in place.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
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

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

// File systems known to overwrite allocated blocks in place, so that writing into a zero-filled
// file changes no metadata. Copy-on-write file systems (btrfs, ZFS) allocate on every write,
// tmpfs has nothing to sync, and overlayfs or network file systems are not worth guessing about.
bool OverwritesInPlace(const std::string& dir) {
  struct statfs info {};
  if (statfs(dir.c_str(), &info) != 0) return false;
  return info.f_type == EXT4_SUPER_MAGIC || info.f_type == XFS_SUPER_MAGIC;
}

// Spares are written in pieces of this size (CreateSpare says why).
constexpr size_t kSparePiece = 256 << 10;

// Writes all of data at offset (the file grows when that passes its end), or at the end of a file
// opened with O_APPEND when offset is kAtEnd.
constexpr off_t kAtEnd = -1;
absl::Status WriteAt(int fd, const std::string& path, std::string_view data, off_t offset) {
  while (!data.empty()) {
    ssize_t written = offset == kAtEnd ? write(fd, data.data(), data.size())
                                       : pwrite(fd, data.data(), data.size(), offset);
    if (written < 0) {
      if (errno == EINTR) continue;
      return Failure("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(written));
    if (offset != kAtEnd) offset += written;
  }
  return absl::OkStatus();
}

class PosixAppendFile : public AppendFile {
 public:
  // `padded`: a spare, written from its first byte; Close cuts what was not written.
  PosixAppendFile(std::string path, int fd, bool padded)
      : path_(std::move(path)), fd_(fd), padded_(padded) {}
  ~PosixAppendFile() override { close(fd_); }

  absl::Status Append(std::string_view data) override {
    if (!padded_) return WriteAt(fd_, path_, data, kAtEnd);
    if (auto status = WriteAt(fd_, path_, data, static_cast<off_t>(end_)); !status.ok()) {
      return status;
    }
    end_ += data.size();
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fdatasync(fd_) != 0) return Failure("cannot sync", path_);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (!padded_) return absl::OkStatus();
    if (ftruncate(fd_, static_cast<off_t>(end_)) != 0) return Failure("cannot truncate", path_);
    return Sync();
  }

 private:
  const std::string path_;
  const int fd_;
  const bool padded_;
  uint64_t end_ = 0;  // padded files: where the next append goes
};

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Failure("cannot open", path);
    return std::unique_ptr<AppendFile>(new PosixAppendFile(path, fd, /*padded=*/false));
  }

  absl::Status SyncDirectory(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Failure("cannot open", path);
    int synced = fsync(fd);
    close(fd);
    if (synced != 0) return Failure("cannot sync", path);
    return absl::OkStatus();
  }

  absl::Status CreateSpare(const std::string& path, uint64_t bytes,
                           const std::atomic<bool>& stop) override {
    std::string dir = path.substr(0, path.find_last_of('/') + 1);
    if (!OverwritesInPlace(dir.empty() ? "." : dir)) {
      return absl::UnimplementedError(
          StrCat("the file system of ", dir, " does not overwrite in place"));
    }
    // Written under a temporary name and renamed once durable: a file named `path` is always
    // a whole spare.
    std::string partial = StrCat(path, ".partial");
    int fd = open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Failure("cannot create", partial);
    // Real zeros, not fallocate: writing into an allocated but unwritten extent changes the
    // extent at writeback, which is the journal commit this is meant to avoid.
    // In small pieces, each written back before the next is written: a burst of 65 MiB in the
    // device's queue would hold up every fdatasync (each ends in a cache flush) behind it.
    // Measured: p99.9 of 16-26 ms with one burst, 7-9 ms paced, 5-10 ms without spares.
    static const std::string zeros(kSparePiece, '\0');
    absl::Status status;
    for (uint64_t offset = 0; offset < bytes && status.ok(); offset += zeros.size()) {
      if (stop.load(std::memory_order_relaxed)) {
        status = absl::CancelledError("stopping");
        break;
      }
      size_t piece = static_cast<size_t>(std::min<uint64_t>(zeros.size(), bytes - offset));
      status = WriteAt(fd, partial, std::string_view(zeros).substr(0, piece),
                       static_cast<off_t>(offset));
      if (status.ok() &&
          sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(piece),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
        status = Failure("cannot write back", partial);
      }
    }
    if (status.ok() && fdatasync(fd) != 0) status = Failure("cannot sync", partial);
    close(fd);
    if (status.ok() && rename(partial.c_str(), path.c_str()) != 0) {
      status = Failure(StrCat("cannot rename ", partial, " to"), path);
    }
    if (!status.ok()) unlink(partial.c_str());
    return status;
  }

  absl::StatusOr<std::unique_ptr<AppendFile>> AdoptSpare(const std::string& spare,
                                                         const std::string& path) override {
    if (rename(spare.c_str(), path.c_str()) != 0) {
      if (errno == ENOENT) return absl::NotFoundError(StrCat(spare, " is gone"));
      return Failure(StrCat("cannot rename ", spare, " to"), path);
    }
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Failure("cannot open", path);
    return std::unique_ptr<AppendFile>(new PosixAppendFile(path, fd, /*padded=*/true));
  }

  absl::Status RemoveSpare(const std::string& path) override {
    for (const std::string& name : {path, StrCat(path, ".partial")}) {
      if (unlink(name.c_str()) != 0 && errno != ENOENT) return Failure("cannot remove", name);
    }
    return absl::OkStatus();
  }
};

}  // namespace

FileSystem* DefaultFileSystem() {
  static auto* const file_system = new PosixFileSystem();
  return file_system;
}

}  // namespace kmsd::audit
