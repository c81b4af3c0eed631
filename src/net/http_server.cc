// The HTTP/1.1 server behind kmsd::NewHttpServer: Boost.Beast on a pool of I/O threads, plain or
// TLS. The only translation unit that includes Beast; as an adapter over a throwing library it
// keeps every exception inside.
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/http.h"
#include "kmsd/key_file.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = beast::error_code;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// How long a closing connection may go on sending before we drop it (see Session::Linger).
constexpr std::chrono::seconds kMaxLinger{5};
// Pause before accepting again after accept() failed (say, out of file descriptors), so that the
// acceptor does not spin on the error.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
constexpr size_t kReadChunkBytes = 16 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// File descriptors kept for what is not a connection (database, audit trail, TLS files, the
// metrics listener) when the open-file limit is fitted to max_connections.
constexpr rlim_t kReservedDescriptors = 256;

// TLS 1.2 suites offered: forward secrecy (ECDHE) and AEAD only. TLS 1.3's own suites all are.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void Count(metrics::Counter* counter) {
  if (counter) counter->Increment();
}

// What the acceptor needs of a connection that lives on another I/O thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  // Closes the connection unless a request is in progress on it by the time its own thread gets
  // to it. Any thread.
  virtual void Evict() = 0;

  // Where the connection sits in ConnectionTable's idle list; guarded by the table's mutex.
  std::optional<std::list<Connection*>::iterator> idle_position;
};

// The open connections by client (for the per-client limit) and the idle ones by age (for
// eviction at the global cap). Used by the acceptor and by every connection's thread.
class ConnectionTable {
 public:
  // Counts a new connection from `client` unless that client has `limit` open (0: no limit).
  bool Admit(const std::string& client, size_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t& open = per_client_[client];
    if (limit > 0 && open >= limit) return false;
    ++open;
    return true;
  }
  void Release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = per_client_.find(client);
    if (found != per_client_.end() && --found->second == 0) per_client_.erase(found);
  }

  // The connection now waits for a request head: newest at the back of the idle list.
  void MarkIdle(Connection& connection) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (connection.idle_position) idle_.erase(*connection.idle_position);
    connection.idle_position = idle_.insert(idle_.end(), &connection);
  }
  // A request is in progress (or the connection goes away).
  void MarkBusy(Connection& connection) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (connection.idle_position) idle_.erase(*connection.idle_position);
    connection.idle_position.reset();
  }
  // Takes the connection idle the longest off the list and asks it to close. False when no
  // connection is idle.
  bool EvictOldestIdle() {
    std::shared_ptr<Connection> oldest;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (!oldest && !idle_.empty()) {
        Connection* connection = idle_.front();
        idle_.pop_front();
        connection->idle_position.reset();
        // Null when the connection is being destroyed (its destructor waits for the mutex).
        oldest = connection->weak_from_this().lock();
      }
    }
    if (!oldest) return false;
    oldest->Evict();
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, size_t> per_client_;  // guarded by mutex_
  std::list<Connection*> idle_;                         // guarded by mutex_; oldest first
};

// A connection's place in its client's count, given back when the connection goes.
class ClientSlot {
 public:
  ClientSlot(ConnectionTable& table, std::string client)
      : table_(&table), client_(std::move(client)) {}
  ClientSlot(ClientSlot&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)), client_(std::move(other.client_)) {}
  ClientSlot(const ClientSlot&) = delete;
  ClientSlot& operator=(const ClientSlot&) = delete;
  ClientSlot& operator=(ClientSlot&&) = delete;
  ~ClientSlot() {
    if (table_) table_->Release(client_);
  }

 private:
  ConnectionTable* table_;
  std::string client_;
};

// The per-client limit's key: an IPv4 address, or the /64 prefix of an IPv6 address (one host
// usually has a whole /64 to pick addresses from).
std::string ClientKey(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_string();
  asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
  asio::ip::address_v6::bytes_type bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return StrCat(asio::ip::address_v6(bytes).to_string(), "/64");
}

// Raises the soft open-file limit so that `connections` sockets fit beside the server's other
// files (up to the hard limit), and returns how many connections fit.
size_t FitOpenFileLimit(size_t connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return connections;
  rlim_t needed = static_cast<rlim_t>(connections) + kReservedDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return connections;
  size_t fit = limit.rlim_cur > 2 * kReservedDescriptors
                   ? static_cast<size_t>(limit.rlim_cur - kReservedDescriptors)
                   : static_cast<size_t>(limit.rlim_cur / 2);
  std::fprintf(stderr,
               "kmsd: the open-file limit (%llu) leaves room for %zu connections, not the %zu "
               "asked for: serving at most %zu (raise LimitNOFILE or ulimit -n)\n",
               static_cast<unsigned long long>(limit.rlim_cur), fit, connections, fit);
  return fit;
}

// What every connection shares with the server. The server destroys its io_context, and with it
// every session, before this, so sessions may hold a plain reference.
struct ServerState {
  ServerOptions options;
  AsyncHttpHandler handler;
  HttpErrorResponder error_responder;
  std::atomic<size_t> connections{0};
  // options.max_connections as the open-file limit allows (set by Bind).
  size_t max_connections = 0;
  ConnectionTable table;
  // Runs offloaded work (see ServerOptions::handler_threads); set while the server runs.
  std::optional<asio::thread_pool> handler_pool;
  // Runs work that only computes (see ServerOptions::compute_threads); set while the server runs.
  std::optional<asio::thread_pool> compute_pool;

  // Exchanges handed to the handler and neither answered nor dropped yet. Stop waits for zero
  // before it destroys the io_context, so that no answer arrives at a destroyed connection.
  std::atomic<size_t> unanswered{0};
  std::atomic<bool> stopping{false};
  std::mutex unanswered_mutex;
  std::condition_variable all_answered;

  void Answered() {
    if (unanswered.fetch_sub(1) == 1 && stopping.load()) {
      std::lock_guard<std::mutex> lock(unanswered_mutex);
      all_answered.notify_all();
    }
  }
};

std::string_view FromBeast(beast::string_view view) { return {view.data(), view.size()}; }
beast::string_view ToBeast(std::string_view view) { return {view.data(), view.size()}; }

// IMF-fixdate (RFC 7231 7.1.1.1), by hand because strftime's day and month names follow the
// locale. Formatted once a second per thread.
std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t formatted_second = -1;
  thread_local char text[64];
  thread_local size_t length = 0;
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != formatted_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    int written = std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                                kDays[utc.tm_wday % 7], utc.tm_mday, kMonths[utc.tm_mon % 12],
                                utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
    length = written > 0 ? std::min<size_t>(static_cast<size_t>(written), sizeof text - 1) : 0;
    formatted_second = now;
  }
  return {text, length};
}

// Headers the net layer writes itself; a handler's copies would contradict the framing or
// duplicate ours.
bool IsReservedHeader(std::string_view name) {
  for (std::string_view reserved : {"content-length", "transfer-encoding", "connection", "date",
                                    "server", "x-amzn-requestid"}) {
    if (beast::iequals(ToBeast(name), ToBeast(reserved))) return true;
  }
  return false;
}

// Refuses what would let a header smuggle in another header or a second response.
bool IsWellFormedHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= ' ' || c == ':' || c == 0x7f) return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// The error responder belongs to another layer; if it fails, answer with a bare 500 rather than
// leave the client without a response.
HttpResponse ErrorResponse(const ServerState& state, const absl::Status& status,
                           const std::string& request_id) {
  try {
    return state.error_responder(status, request_id);
  } catch (...) {
  }
  HttpResponse fallback;
  fallback.status = 500;
  fallback.headers.emplace_back("Content-Type", "text/plain");
  fallback.body = "internal server error";
  return fallback;
}

HttpResponse CallHandler(const HttpHandler& handler, const HttpErrorResponder& error_responder,
                         const HttpRequest& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    return error_responder(Internal(StrCat("request handler failed: ", e.what())),
                           request.request_id);
  } catch (...) {
    return error_responder(Internal("request handler failed"), request.request_id);
  }
}

bool IsBeastHttpError(const ErrorCode& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// One connection: reads requests one at a time, answers each before reading the next (so
// pipelined requests are answered in order), and closes on error, timeout or "Connection: close".
// Stream is PlainStream or TlsStream; the two differ only in the TLS handshake. All of a
// session's handlers run on its own io_context's one thread, so it needs no lock.
template <typename Stream>
class Session final : public Connection {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // stream_args: the accepted socket, then for TLS the ssl::context.
  template <typename... StreamArgs>
  Session(ServerState& state, ClientSlot slot, std::string remote_address,
          StreamArgs&&... stream_args)
      : state_(state),
        slot_(std::move(slot)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        remote_address_(std::move(remote_address)) {
    ++state_.connections;
    if (state_.options.open_connections) state_.options.open_connections->Add(1);
  }
  ~Session() override {
    state_.table.MarkBusy(*this);  // off the idle list before this goes
    --state_.connections;
    if (state_.options.open_connections) state_.options.open_connections->Add(-1);
  }

  void Run() {
    // The accept handler may run on another I/O thread; step onto this connection's first.
    asio::dispatch(stream_.get_executor(), Bind(&Session::Begin));
  }

  void Evict() override {
    asio::post(stream_.get_executor(), [self = Self()] {
      // A request may have begun since the acceptor chose this connection; it is served.
      if (!self->idle_) return;
      Count(self->state_.options.limit_counters.evicted_at_cap);
      ErrorCode ignored;
      self->Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->Tcp().close();  // pending operations end with operation_aborted; nothing is answered
    });
  }

 private:
  std::shared_ptr<Session> Self() {
    return std::static_pointer_cast<Session>(this->shared_from_this());
  }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  std::chrono::seconds HeaderTimeout() const {
    return std::chrono::seconds(std::max(1, state_.options.header_timeout_seconds));
  }
  std::chrono::seconds ReadTimeout() const {
    return std::chrono::seconds(std::max(1, state_.options.read_timeout_seconds));
  }
  std::chrono::seconds IdleTimeout() const {
    return std::chrono::seconds(std::max(1, state_.options.idle_timeout_seconds));
  }
  template <typename Method, typename... Bound>
  auto Bind(Method method, Bound&&... bound) {
    return beast::bind_front_handler(method, Self(), std::forward<Bound>(bound)...);
  }

  // Idle: no request head is complete on the connection, so it may be closed for a newcomer
  // when the server is full. Changed on the connection's thread only.
  void EnterIdle() {
    idle_ = true;
    state_.table.MarkIdle(*this);
  }
  void LeaveIdle() {
    if (!idle_) return;
    idle_ = false;
    state_.table.MarkBusy(*this);
  }

  void Begin() {
    EnterIdle();
    // The header deadline runs from the connection's start, through the TLS handshake.
    Tcp().expires_after(HeaderTimeout());
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server, Bind(&Session::OnHandshake));
    } else {
      ReadRequest();
    }
  }

  void OnHandshake(ErrorCode ec) {
    // Not TLS, too old a version or no suite in common: nothing to answer. Too slow: recorded.
    if (ec == beast::error::timeout) return RefuseTimedOut();
    if (ec) return;
    ReadRequest();
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(state_.options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser_->body_limit(state_.options.max_body_bytes);
    head_complete_ = false;
    if (served_ == 0 || buffer_.size() > 0) {
      // A new connection (whose header deadline runs since Begin) or a pipelined request.
      if (served_ > 0) {
        EnterIdle();
        Tcp().expires_after(HeaderTimeout());
      }
      if (buffer_.size() > 0 && ParseBuffered()) return;
      ReadHeader();
      return;
    }
    // Keep-alive: the idle timeout runs until the next request starts, then the header deadline.
    EnterIdle();
    Tcp().expires_after(IdleTimeout());
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes), Bind(&Session::OnFirstBytes));
  }

  void OnFirstBytes(ErrorCode ec, size_t bytes) {
    if (ec) return;  // idle too long, closed by the client, or evicted
    buffer_.commit(bytes);
    Tcp().expires_after(HeaderTimeout());
    if (ParseBuffered()) return;
    ReadHeader();
  }

  // Once the head is whole: the connection is busy, and the body has the read timeout.
  void NoteHead() {
    if (head_complete_ || !parser_->is_header_done()) return;
    head_complete_ = true;
    LeaveIdle();
    Tcp().expires_after(ReadTimeout());
  }

  // Feeds the bytes already read to the parser. A client usually sends a request in one piece,
  // so it is often whole here and served without another asynchronous read. Returns true when
  // the request was served or rejected; false when more must be read (or a 100-continue sent),
  // which the asynchronous reads then do, under the same limits.
  bool ParseBuffered() {
    ErrorCode ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      NoteHead();
      if (ec == http::error::need_more) return false;
      if (ec) {
        OnReadError(ec);
        return true;
      }
      if (used == 0) return false;
      // A header that asks to be invited to send its body goes the asynchronous way.
      if (parser_->is_header_done() && !parser_->is_done() &&
          beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
        return false;
      }
    }
    if (!parser_->is_done()) return false;
    Serve();
    return true;
  }

  void ReadHeader() {
    http::async_read_header(stream_, buffer_, *parser_, Bind(&Session::OnHeader));
  }

  void OnHeader(ErrorCode ec, size_t) {
    if (ec) return OnReadError(ec);
    NoteHead();
    // Clients that ask to be invited wait (curl a second, some forever) before sending the body.
    if (!parser_->is_done() &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        Bind(&Session::OnContinueSent));
      return;
    }
    ReadBody();
  }

  void OnContinueSent(ErrorCode ec, size_t) {
    if (ec) return;
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return Serve();
    http::async_read(stream_, buffer_, *parser_, Bind(&Session::OnBody));
  }

  void OnBody(ErrorCode ec, size_t) {
    if (ec) return OnReadError(ec);
    Serve();
  }

  void OnReadError(ErrorCode ec) {
    const ServerOptions& options = state_.options;
    if (ec == http::error::body_limit) {
      return Reject(
          Error(ErrorType::kRequestEntityTooLarge,
                StrCat("Request body exceeds the limit of ", options.max_body_bytes, " bytes")));
    }
    if (ec == http::error::header_limit) {
      return Reject(Error(
          ErrorType::kRequestHeaderFieldsTooLarge,
          StrCat("Request headers exceed the limit of ", options.max_header_bytes, " bytes")));
    }
    if (IsBeastHttpError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return Reject(
          Error(ErrorType::kSerialization, StrCat("Malformed HTTP request: ", ec.message())));
    }
    if (ec == beast::error::timeout) return RefuseTimedOut();
    // The peer closed, broke TLS, or the connection was evicted: nobody is left to answer.
  }

  // The stream's timer closed the connection before a request arrived whole: nothing is
  // answered (the socket is closed), but the refusal is told like the others.
  void RefuseTimedOut() {
    const ServerOptions::LimitCounters& counters = state_.options.limit_counters;
    Count(head_complete_ ? counters.body_timeouts : counters.header_timeouts);
    std::string what =
        head_complete_
            ? StrCat("Request body not complete within ", ReadTimeout().count(), " seconds")
            : StrCat("No complete request head within ", HeaderTimeout().count(), " seconds");
    TellRefusal(Error(ErrorType::kRequestTimeout, what), NewUuid(), /*http_status=*/0);
  }

  void TellRefusal(const absl::Status& status, const std::string& request_id, int http_status) {
    if (!state_.options.on_refusal) return;
    HttpRequest request;
    request.remote_address = remote_address_;
    request.secure = kTls;
    request.request_id = request_id;
    request.received_at = std::chrono::steady_clock::now();
    // What the parser got of the head (all of it when only the body was refused).
    if (parser_) {
      const http::request<http::string_body>& message = parser_->get();
      request.method = std::string(FromBeast(message.method_string()));
      request.target = std::string(FromBeast(message.target()));
      for (const auto& field : message) {
        request.headers.emplace_back(AsciiLower(FromBeast(field.name_string())),
                                     std::string(FromBeast(field.value())));
      }
    }
    try {
      state_.options.on_refusal(HttpRefusal{request, status, http_status});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kmsd: recording a refused request failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "kmsd: recording a refused request failed\n");
    }
  }

  // One request handed to the handler. It holds the connection until it is answered; its
  // answer is posted to the connection's I/O thread. Nothing else happens on the connection
  // meanwhile (no read is pending).
  class Exchange final : public HttpExchange {
   public:
    Exchange(std::shared_ptr<Session> session, bool keep_alive, unsigned version)
        : state_(session->state_),
          session_(std::move(session)),
          keep_alive_(keep_alive),
          version_(version) {
      ++state_.unanswered;
    }
    ~Exchange() override {
      // The body may hold plaintext.
      OPENSSL_cleanse(request_.body.data(), request_.body.size());
      if (!replied_.exchange(true)) {
        session_.reset();  // dropped unanswered: the connection closes
        state_.Answered();
      }
    }

    HttpRequest& MutableRequest() { return request_; }
    const HttpRequest& Request() const override { return request_; }

    void Reply(HttpResponse response) override {
      if (replied_.exchange(true)) return;
      auto executor = session_->stream_.get_executor();
      // The connection goes with the answer into its thread's queue: after this the exchange
      // refers to no I/O object, so whichever thread drops it last may do so after Stop.
      asio::post(executor, [session = std::move(session_), response = std::move(response),
                            id = request_.request_id, keep_alive = keep_alive_,
                            version = version_]() mutable {
        session->Send(std::move(response), id, keep_alive, version);
      });
      state_.Answered();
    }

    void Offload(std::function<void()> work) override {
      Run(*state_.handler_pool, std::move(work));
    }
    void OffloadCompute(std::function<void()> work) override {
      Run(*state_.compute_pool, std::move(work));
    }

   private:
    static void Run(asio::thread_pool& pool, std::function<void()> work) {
      asio::post(pool, [work = std::move(work)] {
        try {
          work();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "kmsd: offloaded work failed: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "kmsd: offloaded work failed\n");
        }
      });
    }

    ServerState& state_;
    std::shared_ptr<Session> session_;
    HttpRequest request_;
    const bool keep_alive_;
    const unsigned version_;
    std::atomic<bool> replied_{false};
  };

  void Serve() {
    http::request<http::string_body>& message = parser_->get();
    auto exchange = std::make_shared<Exchange>(Self(), message.keep_alive(), message.version());
    HttpRequest& request = exchange->MutableRequest();
    request.method = std::string(FromBeast(message.method_string()));
    request.target = std::string(FromBeast(message.target()));
    for (const auto& field : message) {
      request.headers.emplace_back(AsciiLower(FromBeast(field.name_string())),
                                   std::string(FromBeast(field.value())));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    request.secure = kTls;
    request.request_id = NewUuid();
    request.received_at = std::chrono::steady_clock::now();
    ++served_;
    try {
      state_.handler(exchange);
    } catch (const std::exception& e) {
      exchange->Reply(ErrorResponse(
          state_, Internal(StrCat("request handler failed: ", e.what())), request.request_id));
    } catch (...) {
      exchange->Reply(
          ErrorResponse(state_, Internal("request handler failed"), request.request_id));
    }
  }

  // Answers a request the handler never saw, then closes: after a framing error the rest of the
  // stream cannot be trusted to hold request boundaries.
  void Reject(const absl::Status& status) {
    std::string request_id = NewUuid();
    HttpResponse response = ErrorResponse(state_, status, request_id);
    TellRefusal(status, request_id, response.status);
    Send(std::move(response), request_id, /*keep_alive=*/false, /*version=*/11);
  }

  // Writes the status line and headers ourselves (one string, no per-field allocations) and
  // sends them with the body in one gathered write.
  void Send(HttpResponse answer, const std::string& request_id, bool keep_alive, unsigned version) {
    // A 1xx would promise a final response that never comes.
    int status = answer.status >= 200 && answer.status <= 599 ? answer.status : 500;
    if (status == 204 || status == 304) answer.body.clear();  // these must not carry a body
    std::string& head = response_head_;
    head.clear();
    head.reserve(256);
    head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    head.append(std::to_string(status));
    head.push_back(' ');
    head.append(FromBeast(http::obsolete_reason(static_cast<http::status>(status))));
    head.append("\r\n");
    for (const auto& [name, value] : answer.headers) {
      if (IsWellFormedHeader(name, value) && !IsReservedHeader(name)) {
        head.append(name).append(": ").append(value).append("\r\n");
      }
    }
    head.append("Server: kmsd\r\nDate: ").append(HttpDate());
    head.append("\r\nx-amzn-RequestId: ").append(request_id);
    // HTTP/1.1 keeps a connection open unless told; HTTP/1.0 closes it unless told.
    if (!keep_alive && version != 10) head.append("\r\nConnection: close");
    if (keep_alive && version == 10) head.append("\r\nConnection: keep-alive");
    if (status != 204 && status != 304) {
      head.append("\r\nContent-Length: ").append(std::to_string(answer.body.size()));
    }
    head.append("\r\n\r\n");
    response_body_ = std::move(answer.body);
    // A client that stops reading must not pin the connection forever.
    Tcp().expires_after(ReadTimeout());
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(head), asio::buffer(response_body_)};
    asio::async_write(stream_, buffers, Bind(&Session::OnWritten, keep_alive));
  }

  void OnWritten(bool keep_alive, ErrorCode ec, size_t) {
    // The body may hold plaintext or a data key.
    OPENSSL_cleanse(response_body_.data(), response_body_.size());
    response_body_.clear();
    if (ec) return;
    if (keep_alive) return ReadRequest();
    Linger();
  }

  // Closing while unread request bytes sit in the kernel makes it send a reset, which can destroy
  // the response before the client reads it (RFC 7230 6.6). So shut down our sending side and
  // discard what still arrives until the client closes, for a bounded time. TLS needs no
  // close_notify here: the response is delimited by Content-Length.
  void Linger() {
    ErrorCode ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(std::min<std::chrono::seconds>(ReadTimeout(), kMaxLinger));
    buffer_.clear();
    Discard();
  }

  void Discard() {
    Tcp().async_read_some(buffer_.prepare(kReadChunkBytes), Bind(&Session::OnDiscarded));
  }

  void OnDiscarded(ErrorCode ec, size_t) {
    if (ec) return;  // closed by the client or by the timer; the destructor closes the socket
    Discard();
  }

  ServerState& state_;
  ClientSlot slot_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // The answer being written (kept alive until the write completes).
  std::string response_head_;
  std::string response_body_;
  std::string remote_address_;
  uint64_t served_ = 0;
  bool idle_ = false;           // see EnterIdle
  bool head_complete_ = false;  // the current request's head has been read whole
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(ServerOptions options, AsyncHttpHandler handler,
                  HttpErrorResponder error_responder)
      : state_{std::move(options), std::move(handler), std::move(error_responder)} {}
  ~BeastHttpServer() override { Stop(); }

  absl::StatusOr<uint16_t> Bind() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ != Phase::kNew) {
      return absl::FailedPreconditionError("the HTTP server can be bound only once");
    }
    return BindLocked();
  }

  absl::StatusOr<uint16_t> Start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ == Phase::kNew) {
      absl::StatusOr<uint16_t> bound = BindLocked();
      if (!bound.ok()) return bound.status();
    }
    if (phase_ != Phase::kBound) {
      return absl::FailedPreconditionError("the HTTP server can be started only once");
    }
    try {
      uint16_t port = bound_port_;
      Accept();
      state_.handler_pool.emplace(std::max(1, state_.options.handler_threads));
      state_.compute_pool.emplace(state_.options.compute_threads > 0
                                      ? state_.options.compute_threads
                                      : std::max(1U, std::thread::hardware_concurrency()));
      for (size_t i = 0; i < ios_.size(); ++i) {
        threads_.emplace_back([this, context = ios_[i].get(), i] {
          // Named for top -H, perf and gdb: "kmsd-io-0", ...
          pthread_setname_np(pthread_self(), StrCat("kmsd-io-", i).c_str());
          RunIoThread(*context);
        });
      }
      phase_ = Phase::kRunning;
      return port;
    } catch (const std::exception& e) {
      // Asio or std::thread threw (say, no thread could be created): undo what was started.
      phase_ = Phase::kRunning;
      StopLocked();
      return absl::InternalError(StrCat("cannot start the HTTP server: ", e.what()));
    }
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(mutex_);
    StopLocked();
  }

 private:
  enum class Phase { kNew, kBound, kRunning, kStopped };

  int ThreadCount() const {
    if (state_.options.threads > 0) return state_.options.threads;
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }

  absl::StatusOr<uint16_t> BindLocked() {
    try {
      absl::StatusOr<uint16_t> port = Listen();
      if (!port.ok()) {
        acceptor_.reset();
        phase_ = Phase::kStopped;
        return port.status();
      }
      bound_port_ = *port;
      phase_ = Phase::kBound;
      return port;
    } catch (const std::exception& e) {
      acceptor_.reset();
      phase_ = Phase::kStopped;
      return absl::InternalError(StrCat("cannot bind the HTTP server: ", e.what()));
    }
  }

  // Must not run on an I/O thread (it joins them): the handler may not call Stop.
  void StopLocked() {
    if (phase_ == Phase::kBound) {  // bound, never started: only the socket to close
      phase_ = Phase::kStopped;
      accept_retry_.reset();
      acceptor_.reset();
      work_.clear();
      ios_.clear();
      return;
    }
    if (phase_ != Phase::kRunning) {
      phase_ = Phase::kStopped;
      return;
    }
    phase_ = Phase::kStopped;
    state_.stopping = true;
    for (auto& io : ios_) io->stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    // Offloaded work still queued or running finishes (answers are queued on the stopped
    // io_contexts, never sent); then the pool is gone while they still exist.
    // Neither pool's work posts to the other, so the order of the joins does not matter.
    if (state_.compute_pool) {
      state_.compute_pool->join();
      state_.compute_pool.reset();
    }
    if (state_.handler_pool) {
      state_.handler_pool->join();
      state_.handler_pool.reset();
    }
    // Answers still to come from elsewhere (kmsd's audit writer) arrive; each either reaches
    // its io_context's queue or drops its connection, before the io_contexts go.
    {
      std::unique_lock<std::mutex> lock(state_.unanswered_mutex);
      state_.all_answered.wait(lock, [this] { return state_.unanswered.load() == 0; });
    }
    accept_retry_.reset();
    acceptor_.reset();
    // Destroying an io_context destroys every pending handler, and with them the last
    // references to its sessions, whose sockets close. A session's handlers only ever go to its
    // own io_context, so the order among them does not matter.
    work_.clear();
    ios_.clear();
  }

  absl::StatusOr<uint16_t> Listen() {
    const ServerOptions& options = state_.options;
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both a certificate file and a key file");
    }
    if (!options.tls_cert_file.empty()) {
      absl::Status loaded = LoadTls();
      if (!loaded.ok()) return loaded;
    }
    state_.max_connections = FitOpenFileLimit(std::max<size_t>(1, options.max_connections));
    // One io_context per I/O thread, each connection on one of them: a connection's handlers
    // then never run concurrently without a strand, and the threads share no run queue (no
    // hand-offs between them, each sleeps in its own epoll_wait).
    for (int i = 0; i < ThreadCount(); ++i) {
      ios_.push_back(std::make_unique<asio::io_context>(1));
      work_.emplace_back(asio::make_work_guard(*ios_.back()));
    }
    asio::io_context& io = *ios_.front();

    absl::StatusOr<tcp::endpoint> endpoint = ListenEndpoint();
    if (!endpoint.ok()) return endpoint.status();
    std::string where = StrCat(options.host, ":", options.port);
    acceptor_.emplace(io);
    ErrorCode ec;
    acceptor_->open(endpoint->protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return absl::UnavailableError(StrCat("cannot open a socket: ", ec.message()));
    acceptor_->bind(*endpoint, ec);
    if (ec) return absl::UnavailableError(StrCat("cannot bind ", where, ": ", ec.message()));
    acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(StrCat("cannot listen on ", where, ": ", ec.message()));
    uint16_t port = acceptor_->local_endpoint(ec).port();
    if (ec) return absl::UnavailableError(StrCat("cannot read the bound port: ", ec.message()));
    accept_retry_.emplace(io);
    return port;
  }

  absl::StatusOr<tcp::endpoint> ListenEndpoint() {
    std::string host = state_.options.host;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // "[::1]" as written in URLs
    }
    ErrorCode ec;
    asio::ip::address address = asio::ip::make_address(host, ec);
    if (!ec) return tcp::endpoint(address, state_.options.port);
    tcp::resolver resolver(*ios_.front());
    auto results = resolver.resolve(host, std::to_string(state_.options.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          StrCat("cannot resolve listen host \"", host, "\": ", ec ? ec.message() : "no address"));
    }
    return results.begin()->endpoint();
  }

  absl::Status LoadTls() {
    const ServerOptions& options = state_.options;
    int min_version;
    if (options.tls_min_version == "1.2") {
      min_version = TLS1_2_VERSION;
    } else if (options.tls_min_version == "1.3") {
      min_version = TLS1_3_VERSION;
    } else {
      return absl::InvalidArgumentError(StrCat("the oldest TLS version must be 1.2 or 1.3, not \"",
                                               options.tls_min_version, "\""));
    }
    tls_.emplace(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
    // A client-started renegotiation costs the server a handshake for free.
    SSL_CTX_set_options(tls_->native_handle(), SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(tls_->native_handle(), min_version) != 1) {
      return absl::InternalError(StrCat("cannot require TLS ", options.tls_min_version));
    }
    // TLS 1.2: forward secrecy and AEAD only (no static RSA key exchange, no CBC, no SHA-1 MAC).
    if (SSL_CTX_set_cipher_list(tls_->native_handle(), kTls12Ciphers) != 1) {
      return absl::InternalError("cannot set the TLS 1.2 cipher suites");
    }
    ErrorCode ec;
    tls_->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(StrCat("cannot load the TLS certificate chain from ",
                                               options.tls_cert_file, ": ", ec.message()));
    }
    if (auto mode = CheckPrivateKeyFileMode(options.tls_key_file, "--tls-key"); !mode.ok()) {
      return absl::InvalidArgumentError(mode.message());
    }
    tls_->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(StrCat("cannot load the TLS private key from ",
                                               options.tls_key_file, ": ", ec.message()));
    }
    if (SSL_CTX_check_private_key(tls_->native_handle()) != 1) {
      return absl::InvalidArgumentError(StrCat("the TLS private key in ", options.tls_key_file,
                                               " does not match the certificate in ",
                                               options.tls_cert_file));
    }
    return absl::OkStatus();
  }

  void Accept() {
    // Connections go to the I/O threads in turn.
    asio::io_context& io = *ios_[next_io_++ % ios_.size()];
    acceptor_->async_accept(io, beast::bind_front_handler(&BeastHttpServer::OnAccept, this));
  }

  void OnAccept(ErrorCode ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      accept_retry_->expires_after(kAcceptRetryDelay);
      accept_retry_->async_wait([this](ErrorCode wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    try {
      Admit(std::move(socket));
    } catch (const std::exception& e) {
      // One connection's failure (say, no memory for its TLS state) must not end the accept loop.
      std::fprintf(stderr, "kmsd: cannot serve a connection: %s\n", e.what());
    }
    Accept();
  }

  // Decides at once, without waiting on anything, so that the accept loop never stalls. A client
  // over its own limit is closed: it crowds out only itself. At the global cap the newcomer
  // closes the connection idle the longest instead of being turned away: otherwise whoever
  // holds the idle connections (reconnecting as the header deadline closes them) would keep
  // every newcomer out, whereas this way a client that sends its request at once is served, and
  // an attacker must open max_connections connections within that client's round trip to stop
  // it. Only when every connection has a request in progress is the newcomer closed.
  void Admit(tcp::socket socket) {
    ErrorCode ec;
    tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) return;  // gone already; the socket closes here
    std::string client = ClientKey(peer.address());
    if (!state_.table.Admit(client, state_.options.max_connections_per_client)) {
      // Closing at once tells the client to come back, rather than leaving it queued with no
      // idea.
      Count(state_.options.limit_counters.refused_per_client);
      socket.close(ec);
      return;
    }
    ClientSlot slot(state_.table, std::move(client));
    if (state_.connections.load() >= state_.max_connections && !state_.table.EvictOldestIdle()) {
      Count(state_.options.limit_counters.refused_at_cap);
      socket.close(ec);
      return;
    }
    // Each answer goes out in one write; waiting to coalesce it would only add latency.
    socket.set_option(tcp::no_delay(true), ec);
    std::string address = peer.address().to_string();
    if (tls_) {
      std::make_shared<Session<TlsStream>>(state_, std::move(slot), std::move(address),
                                           std::move(socket), *tls_)
          ->Run();
    } else {
      std::make_shared<Session<PlainStream>>(state_, std::move(slot), std::move(address),
                                             std::move(socket))
          ->Run();
    }
  }

  void RunIoThread(asio::io_context& io) {
    // run() returns normally only when stopped; an exception escaping a handler has already
    // dropped that handler's session, so carry on serving the others.
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kmsd: connection failed: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "kmsd: connection failed\n");
      }
    }
  }

  // Declaration order is destruction order in reverse: sessions (owned through the io_contexts'
  // handlers) refer to state_ and tls_, so those outlive ios_.
  ServerState state_;
  std::optional<ssl::context> tls_;
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  size_t next_io_ = 0;  // used only by the accept handler
  std::optional<tcp::acceptor> acceptor_;
  uint16_t bound_port_ = 0;
  std::optional<asio::steady_timer> accept_retry_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;  // serialises Start and Stop
  Phase phase_ = Phase::kNew;
};

}  // namespace

std::unique_ptr<HttpServer> NewHttpServer(ServerOptions options, AsyncHttpHandler handler,
                                          HttpErrorResponder error_responder) {
  return std::make_unique<BeastHttpServer>(std::move(options), std::move(handler),
                                           std::move(error_responder));
}

std::unique_ptr<HttpServer> NewHttpServer(ServerOptions options, HttpHandler handler,
                                          HttpErrorResponder error_responder) {
  auto blocking = std::make_shared<const HttpHandler>(std::move(handler));
  AsyncHttpHandler offloading = [blocking, error_responder](
                                    std::shared_ptr<HttpExchange> exchange) {
    exchange->Offload([blocking, error_responder, exchange] {
      exchange->Reply(CallHandler(*blocking, error_responder, exchange->Request()));
    });
  };
  return std::make_unique<BeastHttpServer>(std::move(options), std::move(offloading),
                                           std::move(error_responder));
}

}  // namespace kmsd
