// The unseal socket: POSIX Unix sockets, one small request per connection.
#include "kmsd/unseal_channel.h"

#include <openssl/crypto.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/strings.h"
#include "nlohmann/json.hpp"

namespace kmsd {
namespace {

constexpr size_t kMaxRequestBytes = 1024;
constexpr int kRequestTimeoutSeconds = 5;

absl::StatusOr<sockaddr_un> AddressOf(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return Validation(StrCat("the unseal socket path ", path, " is too long for a Unix socket"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

void SetTimeouts(int fd) {
  timeval timeout{kRequestTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until the first newline or EOF, at most `limit` bytes (more: an error). The buffer may
// hold a share: the caller wipes it.
bool ReadLine(int fd, std::string& line, size_t limit) {
  char buffer[256];
  while (line.find('\n') == std::string::npos) {
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(buffer, sizeof(buffer));
      return false;
    }
    if (n == 0) break;
    line.append(buffer, static_cast<size_t>(n));
    OPENSSL_cleanse(buffer, sizeof(buffer));
    if (line.size() > limit) return false;
  }
  size_t newline = line.find('\n');
  if (newline != std::string::npos) line.resize(newline);
  return true;
}

std::string ReplyLine(const absl::StatusOr<UnsealProgress>& progress) {
  nlohmann::json reply;
  if (!progress.ok()) {
    reply["error"] = std::string(progress.status().message());
  } else {
    reply["unsealed"] = progress->unsealed;
    reply["given"] = progress->given;
    reply["threshold"] = progress->threshold;
  }
  return reply.dump() + "\n";
}

class SocketUnsealListener final : public UnsealListener {
 public:
  SocketUnsealListener(int listen_fd, int stop_read, int stop_write, std::string path,
                       Unsealer* unsealer)
      : listen_fd_(listen_fd),
        stop_read_(stop_read),
        stop_write_(stop_write),
        path_(std::move(path)),
        unsealer_(unsealer) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~SocketUnsealListener() override {
    char byte = 0;
    (void)!write(stop_write_, &byte, 1);
    thread_.join();
    close(listen_fd_);
    close(stop_read_);
    close(stop_write_);
    unlink(path_.c_str());
  }

 private:
  void Loop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_read_, POLLIN, 0}};
      int ready = poll(fds, 2, 1000);
      unsealer_->ExpireStale();
      if (ready < 0 && errno != EINTR) return;
      if (fds[1].revents) return;
      if (ready > 0 && (fds[0].revents & POLLIN)) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        Serve(fd);
        close(fd);
      }
    }
  }

  void Serve(int fd) {
    ucred peer{};
    socklen_t size = sizeof(peer);
    bool allowed = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0 &&
                   PeerMayUnseal(peer.uid, geteuid());
    SetTimeouts(fd);
    // Read even a refused peer's request: closing with it unread would reset the connection
    // before the peer reads why.
    std::string line;
    bool complete = ReadLine(fd, line, kMaxRequestBytes);
    absl::StatusOr<UnsealProgress> result = Validation("malformed unseal request");
    std::string_view request(line);
    if (!allowed) {
      result = Error(ErrorType::kAccessDenied, "only the user kmsd runs as, or root, may unseal it");
    } else if (!complete) {
      result = Validation("the unseal request was too long or did not arrive in time");
    } else if (request == "STATUS") {
      result = unsealer_->Progress();
    } else if (request.substr(0, 7) == "UNSEAL ") {
      result = unsealer_->Submit(request.substr(7));
    }
    OPENSSL_cleanse(line.data(), line.size());
    WriteAll(fd, ReplyLine(result));
  }

  const int listen_fd_;
  const int stop_read_;
  const int stop_write_;
  const std::string path_;
  Unsealer* const unsealer_;
  std::thread thread_;
};

}  // namespace

bool PeerMayUnseal(uid_t peer_uid, uid_t server_uid) {
  return peer_uid == server_uid || peer_uid == 0;
}

absl::StatusOr<std::unique_ptr<UnsealListener>> ListenForUnseal(const std::string& path,
                                                                Unsealer* unsealer) {
  auto address = AddressOf(path);
  if (!address.ok()) return address.status();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(StrCat("cannot create the unseal socket: ", std::strerror(errno)));
  unlink(path.c_str());  // a socket left by a killed server; the data dir lock is ours
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0 ||
      chmod(path.c_str(), 0600) != 0 || listen(fd, 8) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    unlink(path.c_str());
    return Internal(StrCat("cannot listen on the unseal socket ", path, ": ", why));
  }
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) {
    close(fd);
    unlink(path.c_str());
    return Internal("cannot create a pipe");
  }
  return std::unique_ptr<UnsealListener>(
      std::make_unique<SocketUnsealListener>(fd, stop[0], stop[1], path, unsealer));
}

absl::StatusOr<UnsealReply> SendUnsealRequest(const std::string& path, std::string_view share) {
  auto address = AddressOf(path);
  if (!address.ok()) return address.status();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(StrCat("cannot create a socket: ", std::strerror(errno)));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return Error(ErrorType::kNotFound,
                 StrCat("no kmsd is waiting for shares on ", path, " (", why,
                        "): is it running with this --data-dir, and still sealed?"));
  }
  // The server may spend a while opening the keystore after the last share: wait longer.
  timeval timeout{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string request = share.empty() ? std::string("STATUS\n") : StrCat("UNSEAL ", share, "\n");
  WriteAll(fd, request);
  OPENSSL_cleanse(request.data(), request.size());
  std::string line;
  // Read the answer even when sending failed: the server may have refused and said why.
  bool read = ReadLine(fd, line, 64 * 1024);
  close(fd);
  if (!read || line.empty()) return Internal("kmsd did not answer the unseal request");
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return Internal("kmsd's answer to the unseal request is malformed");
  UnsealReply result;
  if (reply.contains("error") && reply["error"].is_string()) {
    result.error = reply["error"].get<std::string>();
    return result;
  }
  result.progress.unsealed = reply.value("unsealed", false);
  result.progress.given = reply.value("given", 0);
  result.progress.threshold = reply.value("threshold", 0);
  return result;
}

}  // namespace kmsd
