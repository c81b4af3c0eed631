// The development Seal: a 256-bit root key in a file readable by its owner only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/seal.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

// Writes all of bytes, or fails.
bool WriteAll(int fd, const uint8_t* bytes, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Makes a new entry in the directory of path durable.
void SyncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string directory = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Creates the root key file so that path never names a partly written key: the key is written and
// fsynced under a temporary name, then link()ed into place, which fails if path already exists.
// Returns kAlreadyExists when another process created it first.
absl::StatusOr<SecretBytes> CreateRootKey(const std::string& path) {
  auto key = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!key.ok()) return key.status();
  auto suffix = crypto::RandomBytes(8);
  if (!suffix.ok()) return suffix.status();
  std::string temporary = StrCat(path, ".tmp-", crypto::HexEncode(*suffix));
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Internal(StrCat("cannot create root key file ", path));
  bool written = WriteAll(fd, key->data(), key->size()) && fsync(fd) == 0;
  written = close(fd) == 0 && written;
  int link_errno = 0;
  if (written && link(temporary.c_str(), path.c_str()) != 0) link_errno = errno;
  unlink(temporary.c_str());
  if (!written) return Internal(StrCat("cannot write root key file ", path));
  if (link_errno == EEXIST) return Error(ErrorType::kAlreadyExists, "root key file exists");
  if (link_errno != 0) return Internal(StrCat("cannot create root key file ", path));
  SyncDirectoryOf(path);
  return key;
}

absl::StatusOr<SecretBytes> ReadRootKey(const std::string& path, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Internal(StrCat("cannot stat root key file ", path));
  if (!S_ISREG(st.st_mode)) {
    return Validation(StrCat("root key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return Validation(StrCat("root key file ", path,
                             " is readable or writable by group or others; chmod 600 it"));
  }
  if (st.st_size != static_cast<off_t>(crypto::kAes256KeySize)) {
    return Validation(StrCat("root key file ", path, " must hold exactly 32 bytes"));
  }
  SecretBytes key(crypto::kAes256KeySize);
  size_t filled = 0;
  while (filled < key.size()) {
    ssize_t n = read(fd, key.data() + filled, key.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal(StrCat("cannot read root key file ", path));
    filled += static_cast<size_t>(n);
  }
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Seal>> OpenFileSeal(const std::string& path) {
  // Two tries: if another process creates the file between our open and our create, read theirs.
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      auto key = ReadRootKey(path, fd);
      close(fd);
      if (!key.ok()) return key.status();
      return NewRootKeySeal("file", std::move(*key));
    }
    if (errno != ENOENT) return Internal(StrCat("cannot open root key file ", path));
    auto key = CreateRootKey(path);
    if (key.ok()) return NewRootKeySeal("file", std::move(*key));
    if (TypeOf(key.status()) != ErrorType::kAlreadyExists) return key.status();
  }
  return Internal(StrCat("cannot open root key file ", path));
}

}  // namespace kmsd
