// kmsd: flags, configuration and wiring of the layers; nothing else lives here.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <spdlog/spdlog.h>

#include "api/cloudtrail/codec.h"
#include "api/query/codecs.h"
#include "cmd/audit_commands.h"
#include "cmd/backup_commands.h"
#include "cmd/config_file.h"
#include "cmd/data_dir_lock.h"
#include "cmd/logging.h"
#include "cmd/process_hardening.h"
#include "cmd/root_credentials.h"
#include "cmd/seal_commands.h"
#include "cmd/sealed_start.h"
#include "cmd/shares_commands.h"
#include "cmd/storage_flags.h"
#include "kmsd/api.h"
#include "kmsd/asymmetric.h"
#include "kmsd/audit.h"
#include "kmsd/audit_refusals.h"
#include "kmsd/cloudtrail.h"
#include "kmsd/console.h"
#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/http.h"
#include "kmsd/iam.h"
#include "kmsd/keystore.h"
#include "kmsd/metrics.h"
#include "kmsd/ops.h"
#include "kmsd/regions.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"
#include "kmsd/service.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"
#include "kmsd/version.h"

namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:7600";
  std::string data_dir = "./var/kmsd";
  std::string region = "us-east-1";
  std::string account_id = "111122223333";
  std::string tls_cert;
  std::string tls_key;
  bool insecure_http = false;
  int threads = 0;
  std::string log_level = "info";
  std::string log_format = "text";
  bool access_log = true;
  std::string config_file;
  int scheduler_interval_seconds = 10;
  bool enable_test_clock = false;
  std::string audit_dir;
  int audit_committers = 1;
  bool audit_preallocate = false;
  std::string node_id;  // empty: the host name (issue 12)
  std::string metrics_listen;  // empty: /metrics on the API listener
  // ---- network limits (docs/SECURITY.md, "Network")
  size_t max_connections = 10000;
  size_t max_connections_per_client = 256;
  int header_timeout_seconds = 10;
  std::string tls_min_version = "1.2";
  // ---- end network limits
  int compute_threads = 0;  // issue 13 (speed): private-key operations' pool; 0 = one per core
  // ---- web console (docs/CONSOLE.md)
  bool console = true;
  std::string console_dir = KMSD_DEFAULT_CONSOLE_DIR;
  bool console_dir_given = false;
  // ---- end web console
  kmsd::cmd::SealFlags seal;  // --seal, --pkcs11-* (cmd/seal_commands.h)
  kmsd::cmd::ProcessHardeningOptions hardening;
  kmsd::cmd::StorageFlags storage;  // --storage, --etcd-* (cmd/storage_flags.h, docs/HA.md)
};

constexpr char kTestClockEnvironment[] = "KMSD_ALLOW_TEST_CLOCK";

// Runs the service's due tasks (deletions, rotations) every interval until stopped.
class Scheduler {
 public:
  Scheduler(kmsd::KmsRegions* service, int interval_seconds)
      : service_(service), interval_(interval_seconds) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Scheduler() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // One pass, now; also what the loop runs. Serialized so two passes never overlap.
  absl::Status RunOnce() {
    std::lock_guard pass(pass_mutex_);
    auto report = service_->RunDueTasks();
    if (!report.ok()) {
      spdlog::error("scheduler: {}", kmsd::ToStd(report.status().message()));
      return report.status();
    }
    if (report->keys_deleted || report->keys_rotated) {
      spdlog::info("scheduler: deleted {} key(s), rotated {} key(s)", report->keys_deleted,
                   report->keys_rotated);
    }
    // Issue 12: which node runs the cluster's background work (docs/HA.md).
    if (report->led != led_) {
      led_ = report->led;
      spdlog::info(led_ ? "scheduler: this node leads (runs deletions and rotations)"
                        : "scheduler: this node no longer leads");
    }
    return absl::OkStatus();
  }

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      RunOnce().IgnoreError();
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(interval_), [this] { return stopping_; });
    }
  }

  kmsd::KmsRegions* const service_;  // every region's (issue 13)
  const int interval_;
  std::mutex mutex_;
  std::mutex pass_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool led_ = false;  // guarded by pass_mutex_
  std::thread thread_;
};

absl::StatusOr<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return kmsd::Validation("--listen must be HOST:PORT, e.g. 127.0.0.1:7600");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  for (char c : listen.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return kmsd::Validation("--listen port is not a number");
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return kmsd::Validation("--listen port must be 0..65535");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

// Exit codes: 0 after a clean shutdown, 1 when kmsd cannot run (a resource failed), 2 when the
// flags or the config file are wrong.
int Serve(const ServeFlags& flags) {
  auto log_format = kmsd::cmd::ParseLogFormat(flags.log_format);
  absl::Status logging = log_format.ok()
                             ? kmsd::cmd::ConfigureLogging(*log_format, flags.log_level)
                             : log_format.status();
  if (!logging.ok()) {
    spdlog::error("{}", kmsd::ToStd(logging.message()));
    return 2;
  }
  // Before any secret exists (docs/SECURITY.md, "Memory and core dumps").
  if (absl::Status hardened = kmsd::cmd::HardenProcess(flags.hardening); !hardened.ok()) {
    spdlog::error("cannot protect secrets in memory: {}", kmsd::ToStd(hardened.message()));
    return 1;
  }
  // Issue 13 (Ed25519 keys): libsodium before any key is loaded; no start without it.
  if (absl::Status sodium = kmsd::crypto::InitializeLibsodium(); !sodium.ok()) {
    spdlog::error("{}", kmsd::ToStd(sodium.message()));
    return 1;
  }
  auto listen = ParseListen(flags.listen);
  if (!listen.ok()) {
    spdlog::error("{}", kmsd::ToStd(listen.status().message()));
    return 2;
  }
  auto [host, port] = *listen;
  std::optional<std::pair<std::string, uint16_t>> metrics_listen;
  if (!flags.metrics_listen.empty()) {
    auto parsed = ParseListen(flags.metrics_listen);
    if (!parsed.ok()) {
      spdlog::error("--metrics-listen: {}", kmsd::ToStd(parsed.status().message()));
      return 2;
    }
    metrics_listen = *parsed;
  }
  // ---- web console: read before anything is bound or written (docs/CONSOLE.md)
  std::shared_ptr<const kmsd::ConsoleFiles> console_files;
  if (flags.console) {
    auto console = kmsd::LoadConsoleFiles(flags.console_dir);
    if (console.ok()) {
      spdlog::info("console: {} files from {} at /console/", (*console)->FileCount(),
                   flags.console_dir);
      console_files = std::move(*console);
    } else if (flags.console_dir_given) {
      spdlog::error("--console-dir: {}", kmsd::ToStd(console.status().message()));
      return 2;
    } else {
      spdlog::warn("console: {}; /console/ is not served",
                   kmsd::ToStd(console.status().message()));
    }
  }
  // ---- end web console
  bool tls = !flags.tls_cert.empty() || !flags.tls_key.empty();
  if (tls && (flags.tls_cert.empty() || flags.tls_key.empty())) {
    spdlog::error("TLS needs both --tls-cert and --tls-key");
    return 2;
  }
  if (!tls && !IsLoopback(host) && !flags.insecure_http) {
    spdlog::error(
        "refusing to serve plain HTTP on {}: keys and plaintext would cross the network in the "
        "clear. Give --tls-cert and --tls-key, or --insecure-http if you really mean it.",
        host);
    return 2;
  }

  // ---- several regions (issue 13): --region us-east-1,eu-west-1 or '*'
  auto parsed_regions = kmsd::ParseRegionList(flags.region);
  if (!parsed_regions.ok()) {
    spdlog::error("{}", kmsd::ToStd(parsed_regions.status().message()));
    return 2;
  }
  const kmsd::RegionList regions = std::move(*parsed_regions);
  // ---- end several regions
  if (flags.enable_test_clock) {
    const char* allowed = std::getenv(kTestClockEnvironment);
    if (!allowed || std::string_view(allowed) != "yes" || !IsLoopback(host)) {
      spdlog::error(
          "--enable-test-clock lets a client move kmsd's clock and so delete and rotate keys at "
          "will; it is for tests only. It needs {}=yes in the environment and a loopback "
          "--listen address.",
          kTestClockEnvironment);
      return 2;
    }
    spdlog::warn("TEST CLOCK ENABLED: clients can move this server's clock. Never use in production.");
  }
  if (flags.scheduler_interval_seconds < 1) {
    spdlog::error("--scheduler-interval must be at least 1 second");
    return 2;
  }

  std::filesystem::path data_dir(flags.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    spdlog::error("cannot create data dir {}: {}", data_dir.string(), ec.message());
    return 1;
  }
  std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);

  // One owner per data dir, checked before anything in it is written. The audit dir, when it is
  // elsewhere, is locked too: two servers appending to one trail would break its chain.
  auto lock = kmsd::cmd::DataDirLock::Acquire(data_dir.string());
  if (!lock.ok()) {
    spdlog::error("{}", kmsd::ToStd(lock.status().message()));
    return 1;
  }
  std::optional<kmsd::cmd::DataDirLock> audit_lock;
  if (!flags.audit_dir.empty()) {
    std::filesystem::create_directories(flags.audit_dir, ec);
    auto locked = kmsd::cmd::DataDirLock::Acquire(flags.audit_dir);
    if (ec || !locked.ok()) {
      spdlog::error("audit dir: {}", ec ? ec.message() : kmsd::ToStd(locked.status().message()));
      return 1;
    }
    audit_lock.emplace(std::move(*locked));
  }

  // Signals are waited for in this thread; block them before the server's threads start.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Claim the port before the keystore, the credentials or the audit trail are touched: a start
  // that cannot listen must change nothing. Connections wait in the backlog until Start; the
  // handler is installed before then. Every path past Start stops the server explicitly before
  // the parts its handler uses go away.
  // ---- metrics (docs/METRICS.md): declared before the servers and the audit log, which report
  // to the registry until they are destroyed.
  kmsd::metrics::Registry metrics_registry;
  kmsd::metrics::AddProcessMetrics(metrics_registry);
  kmsd::cmd::AddSecureHeapMetrics(metrics_registry);
  auto& open_connections = metrics_registry.AddGauge(
      "kmsd_http_connections_open", "HTTP connections open, by listener (api, metrics).",
      {"listener"});
  // What the connection limits did (docs/SECURITY.md, "Network"), by listener.
  auto& refused_connections = metrics_registry.AddCounter(
      "kmsd_http_connections_refused_total",
      "Connections closed as soon as accepted, by listener and reason: per_client_limit (over "
      "--max-connections-per-client), max_connections (at the cap with none idle to close).",
      {"listener", "reason"});
  auto& closed_connections = metrics_registry.AddCounter(
      "kmsd_http_connections_closed_total",
      "Connections the server closed by its limits, by listener and reason: evicted (idle, for a "
      "newcomer at --max-connections), header_timeout (no whole request head within "
      "--header-timeout-seconds), body_timeout (no whole body in time).",
      {"listener", "reason"});
  auto limit_counters = [&](std::string_view listener) {
    kmsd::ServerOptions::LimitCounters counters;
    counters.refused_per_client = &refused_connections.WithLabels({listener, "per_client_limit"});
    counters.refused_at_cap = &refused_connections.WithLabels({listener, "max_connections"});
    counters.evicted_at_cap = &closed_connections.WithLabels({listener, "evicted"});
    counters.header_timeouts = &closed_connections.WithLabels({listener, "header_timeout"});
    counters.body_timeouts = &closed_connections.WithLabels({listener, "body_timeout"});
    return counters;
  };
  // ---- end metrics

  kmsd::ServerOptions server_options;
  server_options.host = host;
  server_options.port = port;
  server_options.threads = flags.threads;
  server_options.compute_threads = flags.compute_threads;  // issue 13 (speed)
  server_options.tls_cert_file = flags.tls_cert;
  server_options.tls_key_file = flags.tls_key;
  server_options.open_connections = &open_connections.WithLabels({"api"});  // metrics
  server_options.limit_counters = limit_counters("api");                      // metrics
  // ---- network limits and refused requests in the audit trail (docs/SECURITY.md, "Network")
  server_options.max_connections = flags.max_connections;
  server_options.max_connections_per_client = flags.max_connections_per_client;
  server_options.header_timeout_seconds = flags.header_timeout_seconds;
  server_options.tls_min_version = flags.tls_min_version;
  auto refusal_observer = std::make_shared<kmsd::HttpRefusalObserver>();  // set with the audit
  server_options.on_refusal = [refusal_observer](const kmsd::HttpRefusal& refusal) {
    if (*refusal_observer) (*refusal_observer)(refusal);
  };
  // ---- end network limits
  auto api_handler = std::make_shared<kmsd::cmd::HandlerSlot>();  // swapped when unsealed
  auto server = kmsd::NewHttpServer(
      server_options,
      [api_handler](std::shared_ptr<kmsd::HttpExchange> exchange) {
        (*api_handler)(std::move(exchange));
      },
      &kmsd::ErrorResponse);
  auto bound = server->Bind();
  if (!bound.ok()) {
    spdlog::error("cannot listen on {}: {}", flags.listen, kmsd::ToStd(bound.status().message()));
    return 1;
  }
  // ---- metrics listener (--metrics-listen): /health, /ready and /metrics only, plain HTTP (they
  // carry no key data); bound now like the API's, its handler installed before it starts.
  std::unique_ptr<kmsd::HttpServer> metrics_server;
  auto ops_handler = std::make_shared<kmsd::AsyncHttpHandler>();
  std::string metrics_endpoint;
  if (metrics_listen) {
    kmsd::ServerOptions metrics_options;
    metrics_options.host = metrics_listen->first;
    metrics_options.port = metrics_listen->second;
    metrics_options.threads = 1;
    metrics_options.handler_threads = 2;
    metrics_options.open_connections = &open_connections.WithLabels({"metrics"});
    metrics_options.limit_counters = limit_counters("metrics");
    metrics_server = kmsd::NewHttpServer(
        metrics_options,
        [ops_handler](std::shared_ptr<kmsd::HttpExchange> exchange) {
          (*ops_handler)(std::move(exchange));
        },
        &kmsd::ErrorResponse);
    auto metrics_bound = metrics_server->Bind();
    if (!metrics_bound.ok()) {
      spdlog::error("cannot listen on {}: {}", flags.metrics_listen,
                    kmsd::ToStd(metrics_bound.status().message()));
      return 1;
    }
    std::string shown = metrics_listen->first.find(':') != std::string::npos
                            ? "[" + metrics_listen->first + "]"
                            : metrics_listen->first;
    metrics_endpoint = kmsd::StrCat("http://", shown, ":", *metrics_bound);
  }
  // ---- end metrics listener

  // ---- seal (docs/SEAL.md): seal.json says which seal protects the data dir (never guess: a file
  // seal would make a new root.key); a fresh dir takes the one --seal names. The file and pkcs11
  // seals open before the backend: a refused first start removes the seal.json and database it
  // began. A shares dir opens its seal later, once unsealed.
  auto seal_config = kmsd::ReadSealConfig(data_dir.string());
  if (!seal_config.ok()) {
    spdlog::error("seal: {}", kmsd::ToStd(seal_config.status().message()));
    return 1;
  }
  const bool shares_sealed = seal_config->type == "shares";
  if (shares_sealed && (!flags.seal.seal.empty() || flags.seal.AnyPkcs11())) {
    spdlog::error("seal: {} is sealed by Shamir shares (seal.json); the --seal and --pkcs11-* "
                  "flags do not apply (kmsd seal migrate changes a seal; docs/SEAL.md)",
                  data_dir.string());
    return 2;
  }
  std::unique_ptr<kmsd::cmd::ServeSeal> serve_seal;  // the file or pkcs11 seal
  if (!shares_sealed) {
    auto opened = kmsd::cmd::OpenServeSeal(data_dir.string(), flags.seal);
    if (!opened.ok()) {
      spdlog::error("seal: {}", kmsd::ToStd(opened.status().message()));
      return kmsd::TypeOf(opened.status()) == kmsd::ErrorType::kValidation ? 2 : 1;
    }
    serve_seal = std::move(*opened);
  }
  // ---- end seal
  // ---- full data dir (docs/SECURITY.md, "Crashes and full disks"): writes answer 503 and
  // /ready is false until space returns; the cause once, then once more on recovery.
  auto storage_full = std::make_shared<std::atomic<bool>>(false);
  kmsd::SqliteOptions sqlite_options;
  sqlite_options.on_writable_change = [storage_full](const absl::Status& status) {
    storage_full->store(!status.ok());
    if (status.ok()) {
      spdlog::warn("storage: the database is writable again (space was freed); serving writes");
    } else {
      spdlog::error("storage: the database's file system is full: write requests are refused "
                    "with 503 until space is freed in the data dir ({})",
                    kmsd::ToStd(status.message()));
    }
  };
  // ---- end full data dir
  auto backend =
      kmsd::cmd::OpenServeBackend(data_dir.string(), flags.storage, std::move(sqlite_options));
  if (!backend.ok()) {
    spdlog::error("storage: {}", kmsd::ToStd(backend.status().message()));
    return kmsd::TypeOf(backend.status()) == kmsd::ErrorType::kValidation ? 2 : 1;
  }

  // The audit log outlives the server (declared first, destroyed last) so that its shutdown
  // digest covers every request. It keeps real time, never the test clock. It needs no root key
  // (its signing key is its own): a sealed start audits the requests it refuses.
  kmsd::audit::AuditOptions audit_options;
  audit_options.data_dir = data_dir.string();
  audit_options.audit_dir = flags.audit_dir;
  audit_options.committers = flags.audit_committers;
  audit_options.preallocate = flags.audit_preallocate;
  audit_options.region = regions.Default();
  audit_options.account_id = flags.account_id;
  audit_options.metrics = &metrics_registry;
  // ---- node id (issue 12): every record names the node that wrote it
  audit_options.node_id = flags.node_id;
  if (audit_options.node_id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) audit_options.node_id = host;
    if (!kmsd::audit::IsNodeId(audit_options.node_id)) audit_options.node_id = "kmsd";
  }
  // ---- end node id
  // ---- audit trail that cannot be written (docs/AUDIT.md, "Failure handling"): the cause once,
  // then once more when kmsd serves again by itself.
  audit_options.on_writable_change = [](const absl::Status& status) {
    if (status.ok()) {
      spdlog::warn("audit: the trail is writable again; serving requests");
    } else {
      spdlog::error("audit: {}", kmsd::ToStd(status.message()));
    }
  };
  auto audit_log = kmsd::audit::OpenAuditLog(std::move(audit_options));
  if (!audit_log.ok()) {
    spdlog::error("audit: {}", kmsd::ToStd(audit_log.status().message()));
    return 1;
  }
  // Whatever way Serve returns, the server stops before the parts its handler uses go away.
  struct StopServer {
    kmsd::HttpServer* server;
    ~StopServer() { server->Stop(); }
  } stop_server{server.get()};

  // ---- refused requests in the audit trail (docs/SECURITY.md, "Network"): set before Start
  kmsd::audit::RefusalAuditOptions refusal_options;
  refusal_options.on_unrecorded = [](uint64_t unrecorded) {
    spdlog::warn("audit: {} refused HTTP request(s) not recorded (over the rate limit)", unrecorded);
  };
  auto refusal_audit =
      std::make_shared<kmsd::audit::RefusalAudit>(audit_log->get(), std::move(refusal_options));
  *refusal_observer = [refusal_audit](const kmsd::HttpRefusal& refusal) {
    refusal_audit->Record(refusal);
  };
  // ---- end refused requests

  std::optional<kmsd::cmd::AccessLog> access_log;
  if (flags.access_log) access_log.emplace(*log_format);
  auto on_request = [audit = audit_log->get(), access = access_log ? &*access_log : nullptr](
                        const kmsd::RequestOutcome& outcome,
                        std::function<void(absl::Status)> recorded) {
    if (kmsd::TypeOf(outcome.status) == kmsd::ErrorType::kKmsInternal) {
      spdlog::error("request {} {} failed: {}", outcome.http.request_id, outcome.operation,
                    kmsd::ToStd(outcome.status.message()));
    }
    std::optional<kmsd::cmd::AccessLog::Entry> entry;
    if (access) entry = access->Begin(outcome);
    // Fail closed: a request that cannot be audited is refused (the API layer answers with the
    // error it is given).
    audit->RecordAsync(outcome, [request_id = outcome.http.request_id, access,
                                 entry = std::move(entry), status = outcome.status,
                                 recorded = std::move(recorded)](absl::Status audited) {
      if (!audited.ok()) {
        spdlog::error("request {} refused, not audited: {}", request_id,
                      kmsd::ToStd(audited.message()));
      }
      if (entry) access->Write(*entry, audited.ok() ? status : audited);
      recorded(std::move(audited));
    });
  };
  kmsd::ReadinessCheck storage_ready{
      "storage", [backend = backend->get(), storage_full] {
        if (storage_full->load()) return absl::UnavailableError("data dir full, writes refused");
        return backend->Get("core/keyring").ok() ? absl::OkStatus()
                                                 : absl::UnavailableError("storage unreachable");
      }};
  kmsd::ReadinessCheck audit_ready{
      "audit", [audit = audit_log->get()] {
        return audit->Failure().ok() ? absl::OkStatus()
                                     : absl::UnavailableError("audit trail not writable");
      }};
  // SigV4 always checks dates against the real clock; only the service's clock can be moved.
  std::unique_ptr<kmsd::Clock> api_clock = kmsd::NewSystemClock();

  // ---- shares seal (docs/SEAL.md, "Shamir shares"): a shares data dir starts sealed. kmsd
  // serves at once, refusing every KMS, IAM and STS request with DependencyTimeoutException
  // "kmsd is sealed" (audited) and /ready 503, until `kmsd unseal` has given the threshold of
  // shares over DATA_DIR/unseal.sock; the start then goes on with the recombined root key and
  // swaps the real handler in.
  std::unique_ptr<kmsd::Seal> shares_seal;
  std::unique_ptr<kmsd::cmd::SealedStart> sealed_start;
  std::optional<uint16_t> sealed_port;
  if (shares_sealed) {
    auto opened = kmsd::cmd::SealedStart::Open(data_dir.string(), *seal_config, backend->get());
    if (!opened.ok()) {
      spdlog::error("seal: {}", kmsd::ToStd(opened.status().message()));
      return 1;
    }
    sealed_start = std::move(*opened);
    kmsd::ApiOptions sealed_options;
    sealed_options.region = regions.Default();
    sealed_options.credentials = sealed_start->credentials();
    // The codecs only shape the refusals: authentication refuses every request first.
    sealed_options.other_services.push_back(kmsd::api::NewIamCodec(nullptr));
    sealed_options.other_services.push_back(kmsd::api::NewStsCodec(nullptr));
    sealed_options.other_services.push_back(kmsd::api::NewCloudTrailCodec(nullptr));
    sealed_options.on_request = on_request;
    kmsd::OpsOptions sealed_ops;
    sealed_ops.readiness_checks = {
        storage_ready, audit_ready,
        {"keystore", [sealed = sealed_start.get()] { return sealed->Readiness(); }}};
    if (flags.metrics_listen.empty()) sealed_ops.metrics = &metrics_registry;
    sealed_options.ops = std::move(sealed_ops);
    api_handler->Install(kmsd::NewApiHandler(std::move(sealed_options), nullptr, api_clock.get()));
    auto sealed_started = server->Start();
    if (!sealed_started.ok()) {
      spdlog::error("cannot serve on {}: {}", flags.listen,
                    kmsd::ToStd(sealed_started.status().message()));
      return 1;
    }
    sealed_port = *sealed_started;
    std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::printf(
        "kmsd listening on %s://%s:%u (SEALED: give %d of the %d shares with kmsd unseal "
        "--data-dir %s)\n",
        tls ? "https" : "http", shown.c_str(), *sealed_port,
        sealed_start->parameters().threshold, sealed_start->parameters().shares,
        data_dir.string().c_str());
    std::fflush(stdout);
    spdlog::info("sealed: waiting for {} unseal shares", sealed_start->parameters().threshold);
    int signal_number = 0;
    shares_seal = sealed_start->WaitForUnseal(signals, &signal_number);
    if (!shares_seal) {
      spdlog::info("signal {}: shutting down (still sealed)", signal_number);
      return 0;
    }
    spdlog::info("unsealed: opening the keystore");
  }
  // ---- end shares seal
  auto keystore = kmsd::OpenKeystore(backend->get(),
                                     shares_sealed ? shares_seal.get() : serve_seal->get());
  if (!keystore.ok()) {
    spdlog::error("keystore: {}", kmsd::ToStd(keystore.status().message()));
    // ---- etcd: a node started without the cluster's root.key (docs/HA.md)
    if (flags.storage.storage == "etcd" &&
        kmsd::TypeOf(keystore.status()) == kmsd::ErrorType::kKmsInternal &&
        kmsd::ToStd(keystore.status().message()).find("cannot unwrap") != std::string::npos) {
      spdlog::error("keystore: {}", kmsd::cmd::RootKeyMismatchAdvice(data_dir.string()));
    }
    return 1;
  }
  if (serve_seal) serve_seal->Keep();  // seal: the keyring is stored, wrapped by this seal
  auto credentials = kmsd::cmd::LoadOrCreateRootCredentials(data_dir, **keystore);
  if (!credentials.ok()) {
    spdlog::error("credentials: {}", kmsd::ToStd(credentials.status().message()));
    return 1;
  }
  if (credentials->replaced_sealed) {
    spdlog::warn("credentials: KMSD_ROOT_ACCESS_KEY_ID replaces the root credentials sealed by an "
                 "earlier start ({}), which are deleted: they no longer work, and a start without "
                 "KMSD_ROOT_* makes new ones",
                 credentials->replaced_access_key_id);
  }
  if (credentials->moved_from_file) {
    spdlog::warn("credentials: the root credentials of {} are now sealed in the keystore and the "
                 "plaintext file is removed; they are unchanged",
                 (data_dir / kmsd::cmd::kCredentialsFile).string());
  }

  // The identity service answers for every caller: the root credential, IAM users' access keys
  // and STS sessions. It keeps real time (the clock Find is asked with), never the test clock.
  kmsd::IamOptions iam_options;
  iam_options.account_id = flags.account_id;
  iam_options.root_access_key_id = credentials->access_key_id;
  iam_options.root_secret_access_key =
      kmsd::SecretBytes::FromString(credentials->secret_access_key);
  // A shared backend (etcd) is watched by both services; its watch must stop before they go.
  iam_options.backend = backend->get();
  auto iam = kmsd::OpenIamService(std::move(iam_options), keystore->get(), kmsd::NewSystemClock());
  if (!iam.ok()) {
    spdlog::error("iam: {}", kmsd::ToStd(iam.status().message()));
    return 1;
  }

  kmsd::AdvancingClock* test_clock = nullptr;
  std::unique_ptr<kmsd::Clock> service_clock = kmsd::NewSystemClock();
  if (flags.enable_test_clock) {
    auto advancing = std::make_unique<kmsd::AdvancingClock>();
    test_clock = advancing.get();
    service_clock = std::move(advancing);
  }
  kmsd::ServiceOptions service_options{regions.Default(), flags.account_id};
  service_options.backend = backend->get();  // watch and scheduler election when shared
  // ---- issue 12: the scheduler's deletions and rotations are audited as AWS's service events
  service_options.on_service_event = [audit = audit_log->get()](const kmsd::ServiceEvent& event) {
    kmsd::HttpRequest none;
    absl::Status ok;
    kmsd::RequestOutcome outcome{
        .operation = event.event_name, .http = none, .principal = nullptr, .status = ok};
    outcome.event_id = event.event_id;
    outcome.region = event.region;
    outcome.service_event = true;
    outcome.service_event_key_arn = event.key_arn;
    absl::Status recorded = audit->Record(outcome);
    if (!recorded.ok()) {
      spdlog::error("scheduler: {} of {} not audited: {}", event.event_name, event.key_arn,
                    kmsd::ToStd(recorded.message()));
    }
    return recorded;
  };
  // ---- end issue 12
  service_options.principal_exists = [identities = iam->get()](std::string_view arn) {
    return identities->PrincipalExists(arn);
  };
  // ---- several regions (issue 13): one service per region over the one keystore
  auto made_regions = kmsd::NewKmsRegions(regions, std::move(service_options), keystore->get(),
                                          service_clock.get());
  if (!made_regions.ok()) {
    spdlog::error("regions: {}", kmsd::ToStd(made_regions.status().message()));
    return 1;
  }
  std::unique_ptr<kmsd::KmsRegions> service = std::move(*made_regions);
  // ---- end several regions
  // ---- etcd (docs/HA.md): a shared backend's watch reports to both services, so on any return
  // from here on the server stops, then the backend (its watch) goes, and only then the services.
  struct StopSharedBackend {
    kmsd::HttpServer* server;
    std::unique_ptr<kmsd::Backend>* backend;
    ~StopSharedBackend() {
      if (!*backend || !(*backend)->Shared()) return;
      server->Stop();
      backend->reset();
    }
  } stop_shared_backend{server.get(), &*backend};
  // ---- end etcd
  Scheduler scheduler(service.get(), flags.scheduler_interval_seconds);

  kmsd::AddServiceMetrics(metrics_registry, service.get());  // metrics (docs/METRICS.md)

  kmsd::ApiOptions api_options;
  api_options.region = regions.Default();
  api_options.regions = service.get();
  api_options.credentials = iam->get();
  api_options.other_services.push_back(kmsd::api::NewIamCodec(iam->get()));
  api_options.other_services.push_back(kmsd::api::NewStsCodec(iam->get()));
  // ---- CloudTrail (issue 15): LookupEvents and GetTrailStatus over this node's trail
  kmsd::cloudtrail::CloudTrailOptions cloudtrail_options;
  cloudtrail_options.region = regions.Default();
  cloudtrail_options.account_id = flags.account_id;
  cloudtrail_options.audit_dir =
      flags.audit_dir.empty() ? (data_dir / "audit").string() : flags.audit_dir;
  auto audit_public_key = kmsd::audit::AuditPublicKeyPem(data_dir.string());
  if (!audit_public_key.ok()) {
    spdlog::error("audit: {}", kmsd::ToStd(audit_public_key.status().message()));
    return 1;
  }
  cloudtrail_options.public_key_pem = std::move(*audit_public_key);
  cloudtrail_options.trail_failure = [audit = audit_log->get()] { return audit->Failure(); };
  auto cloudtrail = kmsd::cloudtrail::NewCloudTrailService(std::move(cloudtrail_options));
  if (!cloudtrail.ok()) {
    spdlog::error("cloudtrail: {}", kmsd::ToStd(cloudtrail.status().message()));
    return 1;
  }
  api_options.other_services.push_back(kmsd::api::NewCloudTrailCodec(cloudtrail->get()));
  // ---- end CloudTrail
  api_options.on_request = on_request;
  // ---- metrics and operational endpoints: /health, /ready (each check a short reason when it
  // fails), /metrics here unless --metrics-listen moves it to a listener of its own.
  kmsd::OpsOptions ops_options;
  ops_options.readiness_checks = {
      storage_ready,
      audit_ready,
      // Opening the keystore unsealed it, and the file seal cannot seal again while kmsd runs; a
      // seal that can (an HSM whose session ends) reports here.
      {"keystore",
       [keystore = keystore->get()] {
         return keystore ? absl::OkStatus() : absl::UnavailableError("keystore sealed");
       }},
  };
  ops_options.metrics = &metrics_registry;
  kmsd::OpsOptions api_ops_options = ops_options;
  if (!flags.metrics_listen.empty()) api_ops_options.metrics = nullptr;
  api_options.ops = std::move(api_ops_options);
  *ops_handler = kmsd::NewOpsHandler(ops_options);
  api_options.metrics = &metrics_registry;
  // ---- end metrics
  api_options.test_clock = test_clock;
  api_options.after_clock_advance = [&scheduler] { return scheduler.RunOnce(); };
  kmsd::AsyncHttpHandler api =
      kmsd::NewApiHandler(std::move(api_options), service->Default(), api_clock.get());
  // ---- web console: its static files at /console/, before authentication like /health
  if (console_files) api = kmsd::WithConsole(console_files, std::move(api));
  // ---- end web console
  api_handler->Install(std::move(api));

  auto started = sealed_port ? absl::StatusOr<uint16_t>(*sealed_port) : server->Start();
  if (!started.ok()) {
    spdlog::error("cannot serve on {}: {}", flags.listen, kmsd::ToStd(started.status().message()));
    return 1;
  }
  if (sealed_start) {  // shares seal: the `kmsd unseal` that gave the last share hears it now
    sealed_start->Finish(absl::OkStatus());
    spdlog::info("unsealed: serving");
  }
  if (metrics_server) {
    auto metrics_started = metrics_server->Start();
    if (!metrics_started.ok()) {
      spdlog::error("cannot serve on {}: {}", flags.metrics_listen,
                    kmsd::ToStd(metrics_started.status().message()));
      server->Stop();
      return 1;
    }
  }
  std::string scheme = tls ? "https" : "http";
  std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string endpoint = kmsd::StrCat(scheme, "://", shown_host, ":", *started);
  std::printf("kmsd listening on %s (region %s, account %s, data in %s)\n", endpoint.c_str(),
              regions.Default().c_str(), flags.account_id.c_str(), data_dir.string().c_str());
  if (regions.regions.size() > 1 || regions.any) {
    std::printf("serving %s\n", regions.Describe().c_str());
  }
  // Shown only now that the server listens: a start that failed earlier showed nothing it could
  // not keep, and every start says where the credentials are.
  if (credentials->generated) {
    std::printf(
        "\nGenerated root credentials (shown once: they are kept only sealed in the keystore, "
        "never on disk in the clear):\n"
        "  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n",
        credentials->access_key_id.c_str(), credentials->secret_access_key.c_str());
  } else if (credentials->from_environment) {
    std::printf("root access key id: %s (from KMSD_ROOT_ACCESS_KEY_ID)\n",
                credentials->access_key_id.c_str());
  } else {
    std::printf("root access key id: %s (its secret is sealed in the keystore)\n",
                credentials->access_key_id.c_str());
  }
  credentials->WipeSecret();  // from now on only in the credential store's SecretBytes
  if (!metrics_endpoint.empty()) {
    std::printf("metrics, health and readiness on %s (/metrics, /health, /ready)\n",
                metrics_endpoint.c_str());
  }
  std::printf("\nTry:\n  aws kms create-key --endpoint-url %s --region %s\n", endpoint.c_str(),
              regions.Default().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("signal {}: shutting down", signal_number);
  server->Stop();
  if (metrics_server) metrics_server->Stop();
  // Key usage recorded since the scheduler's last pass (GetKeyLastUsage; issue 13).
  if (auto saved = service->SaveKeyUsage(); !saved.ok()) {
    spdlog::error("cannot save key usage: {}", kmsd::ToStd(saved.status().message()));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kmsd: a key management service that speaks the AWS KMS API"};
  app.set_version_flag("--version", kmsd::StrCat("kmsd ", kmsd::kVersion));
  app.require_subcommand(1);
  ServeFlags flags;
  CLI::App* serve = app.add_subcommand("serve", "Run the KMS server");
  serve->add_option("--listen", flags.listen, "HOST:PORT to listen on")->capture_default_str();
  serve->add_option("--data-dir", flags.data_dir, "Directory for keys, root key and credentials")
      ->capture_default_str();
  serve->add_option("--region", flags.region,
                    "AWS region(s) served, comma-separated (the first is the default; '*' = any "
                    "region): each its own keys, aliases and ARNs; clients sign for one")
      ->capture_default_str();
  serve->add_option("--account-id", flags.account_id, "AWS account id in ARNs")
      ->capture_default_str();
  serve->add_option("--tls-cert", flags.tls_cert, "PEM certificate chain (enables HTTPS)");
  serve->add_option("--tls-key", flags.tls_key, "PEM private key");
  serve->add_flag("--insecure-http", flags.insecure_http,
                  "Allow plain HTTP on a non-loopback address");
  serve->add_option("--threads", flags.threads, "I/O threads (0 = one per core)");
  serve  // issue 13 (speed)
      ->add_option("--compute-threads", flags.compute_threads,
                   "Threads for private-key operations: Sign, Verify, DeriveSharedSecret, RSAES "
                   "(0 = one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  serve->add_option("--log-level", flags.log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  serve->add_option("--log-format", flags.log_format, "text or json (one JSON object per line)")
      ->capture_default_str();
  serve->add_flag("--access-log,!--no-access-log", flags.access_log,
                  "One info line per request: id, principal, operation, status, error, latency, "
                  "client (on by default)");
  serve->add_option("--config", flags.config_file,
                    "TOML file of settings: each key a flag's name without dashes (data-dir = "
                    "\"/var/lib/kmsd\"); flags on the command line win");
  serve->add_option("--scheduler-interval", flags.scheduler_interval_seconds,
                    "Seconds between runs of due deletions and rotations")
      ->capture_default_str();
  serve->add_option("--audit-dir", flags.audit_dir, "Audit trail directory (default DATA_DIR/audit)");
  serve
      ->add_option("--audit-committers", flags.audit_committers,
                   "Threads that write and fdatasync the audit trail; more than 1 overlaps "
                   "fdatasyncs (helps slow disks with spare CPU)")
      ->check(CLI::Range(1, 8));
  serve
      ->add_option("--audit-preallocate", flags.audit_preallocate,
                   "Begin each audit trail file from a zero-filled spare so its fdatasyncs "
                   "commit no metadata (ext4, XFS): shorter syncs on a journaled file system, "
                   "the trail written twice, the live file zero-padded (docs/AUDIT.md)")
      ->capture_default_str();
  serve->add_option("--node-id", flags.node_id,
                    "This node's name in every audit record and digest (default: the host name)");
  serve->add_option("--metrics-listen", flags.metrics_listen,
                    "HOST:PORT of a second, plain-HTTP listener serving only /health, /ready and "
                    "/metrics; /metrics then leaves the API listener (docs/METRICS.md)");
  // ---- network limits (docs/SECURITY.md, "Network")
  serve->add_option("--max-connections", flags.max_connections,
                    "Open connections at most; at the cap a newcomer closes the connection idle "
                    "the longest")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  serve->add_option("--max-connections-per-client", flags.max_connections_per_client,
                    "Open connections at most from one IPv4 address or IPv6 /64 (0 = no limit)")
      ->capture_default_str();
  serve->add_option("--header-timeout-seconds", flags.header_timeout_seconds,
                    "Seconds a connection has to send a whole request head (and finish TLS)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  serve->add_option("--tls-min-version", flags.tls_min_version,
                    "Oldest TLS version accepted: 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305 "
                    "only) or 1.3")
      ->capture_default_str()
      ->check(CLI::IsMember({"1.2", "1.3"}));
  // ---- end network limits
  // ---- web console
  serve->add_flag("--console,!--no-console", flags.console,
                  "Serve the web console at /console/ (static files; it signs its own API calls)")
      ->capture_default_str();
  serve->add_option("--console-dir", flags.console_dir, "Directory of the built web console")
      ->capture_default_str()
      ->each([&flags](const std::string&) { flags.console_dir_given = true; });
  // ---- end web console
  serve->add_flag("--enable-test-clock", flags.enable_test_clock,
                  "TESTS ONLY: let clients move the service clock (needs KMSD_ALLOW_TEST_CLOCK=yes "
                  "and a loopback address)");
  kmsd::cmd::AddSealFlags(*serve, flags.seal, /*with_seal_type=*/true);
  kmsd::cmd::AddProcessHardeningFlags(*serve, flags.hardening);
  kmsd::cmd::AddStorageFlags(*serve, flags.storage);
  kmsd::cmd::AddAuditCommands(app);
  kmsd::cmd::AddBackupCommands(app);
  kmsd::cmd::AddSharesCommands(app);  // shares seal: init, unseal
  kmsd::cmd::AddSealCommands(app);    // seal migrate
  // Exit codes as CLI users expect: 0 for --help and --version, 2 for a usage error.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (serve->parsed()) {
    if (!flags.config_file.empty()) {
      absl::Status applied = kmsd::cmd::ApplyConfigFile(*serve, flags.config_file);
      if (!applied.ok()) {
        std::cerr << "kmsd: " << kmsd::ToStd(applied.message()) << "\n";
        return 2;
      }
    }
    return Serve(flags);
  }
  if (kmsd::cmd::BackupCommandParsed()) return kmsd::cmd::RunBackupCommands();
  if (kmsd::cmd::SharesCommandParsed()) return kmsd::cmd::RunSharesCommands();
  if (kmsd::cmd::SealCommandParsed()) return kmsd::cmd::RunSealCommands();
  return kmsd::cmd::RunAuditCommands();
}
