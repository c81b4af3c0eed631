// The HTTP server seen from above: plain request/response values and a handler. Only src/net/
// knows Boost.Beast; everything above it sees these types. The handler is called concurrently from
// the I/O threads and must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmsd/metrics.h"

namespace kmsd {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query as sent, e.g. "/" or "/?a=b"
  // Header names lower-cased, values as received, in arrival order (repeats kept).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // peer IP, for audit
  bool secure = false;         // arrived over TLS (aws:SecureTransport)
  std::string request_id;      // a fresh UUID per request, sent back as x-amzn-RequestId
  // When the whole request had been read and was handed to the handler (latency is measured
  // from here).
  std::chrono::steady_clock::time_point received_at;

  // The first value of a header (name lower-case), or nullptr.
  const std::string* Header(std::string_view lower_case_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One request in flight and the means to answer it. The server hands each request to the
// handler as an exchange; the handler answers through Reply, now or later, from any thread.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  virtual const HttpRequest& Request() const = 0;
  // Sends the answer. Call exactly once (later calls are ignored), from any thread. An exchange
  // dropped without a reply closes its connection.
  virtual void Reply(HttpResponse response) = 0;
  // Runs work on the server's pool for work that may block (storage writes and their fsync), so
  // that it never stalls an I/O thread. Stop waits for offloaded work to finish.
  virtual void Offload(std::function<void()> work) = 0;
  // Runs work that needs the CPU for a while but never waits (a private-key operation: an RSA
  // signature takes 0.3-5 ms) on the server's compute pool, one thread per core: off the I/O
  // threads, and without the 64 threads of the blocking pool taking turns on the cores (their
  // context switches cost a P-256 signature's worth of CPU per request). Work that may wait for
  // storage goes to Offload. Stop waits for it to finish. By default, Offload.
  virtual void OffloadCompute(std::function<void()> work) { Offload(std::move(work)); }
};

// Runs on an I/O thread for each request: it must not block (Offload what may), and it must be
// thread-safe. The server's Stop waits until every exchange handed out has been answered or
// dropped, so a reply may come from another thread (kmsd's: the audit writer, after the fsync).
using AsyncHttpHandler = std::function<void(std::shared_ptr<HttpExchange>)>;
// A blocking handler: the server runs it on its handler pool and sends what it returns.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Builds the response for a fault the net layer finds before the handler runs (body too large,
// malformed HTTP): api/ supplies one that answers in AWS's error shape.
using HttpErrorResponder = std::function<HttpResponse(const absl::Status&, const std::string&)>;

// A request the net layer refused before the handler saw it: malformed (400), a body or head
// over its limit (413, 431), or no complete request head within the header deadline (closed
// without an answer). The request holds what was read of it: the peer's address and a fresh
// request id always; method, target and headers when the head was parsed; never a body.
struct HttpRefusal {
  const HttpRequest& request;
  const absl::Status& status;  // why; its message is what the client was told
  int http_status = 0;         // the status answered; 0 when the connection was closed silently
};
// Told of each refusal on an I/O thread: must be thread-safe, quick and must not block.
using HttpRefusalObserver = std::function<void(const HttpRefusal&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7600;  // 0 picks a free port; Start() returns it
  int threads = 0;       // 0 = one per core
  // Threads for blocking work: a blocking HttpHandler, and what an AsyncHttpHandler offloads. A
  // blocked handler must not stall the I/O threads, and blocked requests must be able to wait
  // together (so that, say, they share one fsync).
  int handler_threads = 64;
  // Threads for CPU-bound work (HttpExchange::OffloadCompute); 0 = one per core.
  int compute_threads = 0;
  size_t max_body_bytes = 256 * 1024;
  size_t max_header_bytes = 16 * 1024;
  // A request head (and, on a new connection, the TLS handshake) must arrive whole within this,
  // counted from the connection's start or from the first byte of a kept-alive connection's next
  // request; the body then has read_timeout_seconds. Connections that send nothing are closed.
  int header_timeout_seconds = 10;
  int read_timeout_seconds = 30;   // a request body must arrive whole within this
  int idle_timeout_seconds = 120;  // keep-alive connections idle longer are closed
  // Open connections at most. At the cap, a newcomer closes the connection idle the longest
  // (one with no request in progress: never sent one, or kept alive between requests); when every
  // connection has a request in progress, the newcomer is closed at once. The server raises the
  // process's open-file limit to fit (up to its hard limit) and lowers this when it cannot.
  size_t max_connections = 10000;
  // Open connections at most from one client: an IPv4 address, or an IPv6 /64 prefix (what one
  // host is usually given). A newcomer over it is closed at once. 0 = no limit.
  size_t max_connections_per_client = 256;
  std::string tls_cert_file;  // both set = HTTPS
  std::string tls_key_file;
  // The oldest TLS version accepted: "1.2" (with ECDHE and AES-GCM or ChaCha20-Poly1305 only)
  // or "1.3".
  std::string tls_min_version = "1.2";
  // Told of every request refused before the handler (kmsd: the audit trail). Unset: not told.
  HttpRefusalObserver on_refusal;
  // Follows the number of open connections (kmsd_http_connections_open); not owned, must
  // outlive the server. nullptr: not followed.
  metrics::Gauge* open_connections = nullptr;
  // Count what the connection limits above did (kmsd_http_connections_refused_total and
  // kmsd_http_connections_closed_total); not owned, must outlive the server. nullptr: not counted.
  struct LimitCounters {
    metrics::Counter* refused_per_client = nullptr;  // over max_connections_per_client
    metrics::Counter* refused_at_cap = nullptr;      // at max_connections with none idle
    metrics::Counter* evicted_at_cap = nullptr;      // idle, closed for a newcomer at the cap
    metrics::Counter* header_timeouts = nullptr;     // no whole head within header_timeout_seconds
    metrics::Counter* body_timeouts = nullptr;       // no whole body within read_timeout_seconds
  } limit_counters;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds the listening socket without accepting: connections wait in the kernel's backlog
  // until Start. Lets a program claim its port before it writes anything (kmsd binds before it
  // opens the audit trail). Returns the bound port.
  virtual absl::StatusOr<uint16_t> Bind() = 0;
  // Binds (unless Bind did) and starts serving on background threads; returns the bound port.
  virtual absl::StatusOr<uint16_t> Start() = 0;
  // Stops accepting, closes connections and joins the threads. Idempotent.
  virtual void Stop() = 0;
};

std::unique_ptr<HttpServer> NewHttpServer(ServerOptions options, AsyncHttpHandler handler,
                                          HttpErrorResponder error_responder);
std::unique_ptr<HttpServer> NewHttpServer(ServerOptions options, HttpHandler handler,
                                          HttpErrorResponder error_responder);

}  // namespace kmsd
