// The HTTP request reader (src/net/http_server.cc): the bytes of a connection, as any client on the
// network sends them. kmsd's server runs once, for the whole run, on a loopback port with small
// limits (so the 413 paths are reachable) and a handler that answers at once; each input is
// written to a fresh connection, whose sending side is then closed, and the answers are read to
// the end. Pipelined requests, chunked bodies, 100-continue, malformed and oversized heads all go
// through the server's own session code. Whatever the server sends back must be HTTP responses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz/fuzz_util.h"
#include "kmsd/http.h"

namespace {

uint16_t ServerPort() {
  static const uint16_t port = [] {
    kmsd::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    options.handler_threads = 1;
    options.max_body_bytes = 2048;
    options.max_header_bytes = 1024;
    options.read_timeout_seconds = 2;
    options.idle_timeout_seconds = 2;
    auto handler = [](std::shared_ptr<kmsd::HttpExchange> exchange) {
      const kmsd::HttpRequest& request = exchange->Request();
      kmsd::HttpResponse response;
      const std::string* target = request.Header("x-amz-target");
      response.headers.emplace_back("content-type", "application/x-amz-json-1.1");
      response.body = std::string(request.method) + " " + request.target + " " +
                      std::to_string(request.headers.size()) + " " +
                      std::to_string(request.body.size()) + (target ? " " + *target : "");
      exchange->Reply(std::move(response));
    };
    auto responder = [](const absl::Status& status, const std::string&) {
      kmsd::HttpResponse response;
      response.status = status.code() == absl::StatusCode::kInternal ? 500 : 400;
      response.body = std::string(status.message());
      return response;
    };
    // Never stopped: it serves the whole run.
    auto* server = kmsd::NewHttpServer(options, handler, responder).release();
    auto started = server->Start();
    if (!started.ok()) std::abort();
    return *started;
  }();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint16_t port = ServerPort();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  kmsd::fuzz::Check(fd >= 0, "socket");
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A connect that fails or times out says nothing about the parser: under a loaded machine the
  // backlog can be full for a moment (seen once in a smoke run under load average 16).
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return 0;
  }
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed after rejecting what came first
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[16384];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  // No TIME_WAIT left behind: a long run opens millions of connections.
  linger abort{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  close(fd);
  if (!answer.empty()) {
    kmsd::fuzz::Check(answer.rfind("HTTP/1.1 ", 0) == 0 || answer.rfind("HTTP/1.0 ", 0) == 0,
                      "the server answered something that is not an HTTP response");
  }
  return 0;
}
