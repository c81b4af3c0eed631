// The etcd backend: Backend over etcd v3's gRPC API (our minimal rpc.proto), with a watch feed for
// shared caches and lease-based leadership. The only file that knows gRPC.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/etcd_storage.h"
#include "kmsd/key_file.h"
#include "kmsd/strings.h"
#include "rpc.grpc.pb.h"

namespace kmsd {
namespace {

using Clock = std::chrono::steady_clock;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

// Keys per page of a List: far below etcd's 4 MiB default answer for kmsd's records (a few KiB
// each); halved while an answer is still too large for the client's limit.
constexpr int64_t kListPageKeys = 256;
constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;
// The watch feed asks for a progress report this often and counts a stream silent for
// kWatchSilence as broken (a member that stopped answering without closing its connection).
constexpr auto kWatchProgressInterval = std::chrono::seconds(1);
constexpr auto kWatchSilence = std::chrono::seconds(3);
// After a call that timed out: how long, and the deadline of each call meanwhile.
constexpr auto kSuspectPeriod = std::chrono::seconds(3);
constexpr auto kSuspectDeadline = std::chrono::milliseconds(400);
constexpr auto kReconnectDelayMin = std::chrono::milliseconds(50);
constexpr auto kReconnectDelayMax = std::chrono::milliseconds(1000);

// The first key after every key that starts with prefix ("\0": the end of the key space).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// The message reaches clients (DependencyTimeoutException): it says what failed, never the
// members' addresses that gRPC's own messages carry.
absl::Status FromGrpc(const grpc::Status& status, std::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string_view reason = "unreachable";
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) reason = "no answer in time";
  if (status.error_message().find("no leader") != std::string::npos) reason = "no leader";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Error(ErrorType::kDependencyTimeout, StrCat("kmsd's storage (etcd) is unavailable (",
                                                         reason, ") while ", what, "; try again"));
    default:
      return Internal(StrCat("etcd failed ", what, ": ", status.error_message()));
  }
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  if (!file) return Internal(StrCat("cannot read ", path));
  return content.str();
}

struct Member {
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
};

absl::StatusOr<std::unique_ptr<Member>> ConnectMember(const std::string& url,
                                                      const EtcdOptions& options) {
  std::string_view rest = url;
  bool tls = !options.ca_file.empty();
  if (rest.starts_with("http://")) {
    tls = false;
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    tls = true;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return Validation(StrCat("etcd endpoint ", url, ": the scheme must be http or https"));
  }
  while (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos ||
      rest.find(':') == std::string_view::npos) {
    return Validation(StrCat("etcd endpoint ", url, ": expected http(s)://HOST:PORT"));
  }
  if (!tls && (!options.cert_file.empty() || !options.key_file.empty())) {
    return Validation(
        StrCat("etcd endpoint ", url, ": a client certificate is given, so use https://"));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto pem = ReadPemFile(options.ca_file);
      if (!pem.ok()) return pem.status();
      ssl.pem_root_certs = std::move(*pem);
    }
    if (options.cert_file.empty() != options.key_file.empty()) {
      return Validation("an etcd client certificate needs both --etcd-cert and --etcd-key");
    }
    if (!options.cert_file.empty()) {
      if (auto mode = CheckPrivateKeyFileMode(options.key_file, "--etcd-key"); !mode.ok()) {
        return mode;
      }
      auto cert = ReadPemFile(options.cert_file);
      auto key = ReadPemFile(options.key_file);
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = std::move(*cert);
      ssl.pem_private_key = std::move(*key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  // gRPC waits up to 120 s between reconnects by default: a member back from a restart would stay
  // unused for minutes. (The "min" back-off is also the connect timeout: 100 ms there aborts
  // handshakes on a loaded machine.)
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Notice a member gone silent (a host down, a cable cut) within seconds; etcd accepts pings
  // every 5 s or more (--grpc-keepalive-min-time).
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  auto member = std::make_unique<Member>();
  member->url = url;
  member->channel = grpc::CreateCustomChannel(std::string(rest), credentials, arguments);
  member->kv = etcdserverpb::KV::NewStub(member->channel);
  member->watch = etcdserverpb::Watch::NewStub(member->channel);
  member->lease = etcdserverpb::Lease::NewStub(member->channel);
  member->maintenance = etcdserverpb::Maintenance::NewStub(member->channel);
  return member;
}

// Waits on a condition variable until a deadline or until stopping; true when stopping.
bool SleepUnlessStopped(std::mutex& mutex, std::condition_variable& wake, const bool& stopping,
                        Clock::duration duration) {
  std::unique_lock lock(mutex);
  return wake.wait_for(lock, duration, [&] { return stopping; });
}

// The members of the cluster and how to call them: shared by the backend, its watch feeds and
// its leaderships (a Leadership may outlive the backend that made it).
class EtcdClient {
 public:
  EtcdClient(EtcdOptions options, std::vector<std::unique_ptr<Member>> members)
      : options_(std::move(options)), members_(std::move(members)) {
    for (const auto& member : members_) {
      connectors_.emplace_back([this, channel = member->channel] { KeepConnecting(*channel); });
    }
  }
  ~EtcdClient() {
    stopping_ = true;
    for (auto& connector : connectors_) connector.join();
  }

  // Called (from the failing call's thread) when a call found the cluster unavailable.
  void SetOnTimeout(std::function<void()> on_timeout) {
    std::lock_guard lock(on_timeout_mutex_);
    on_timeout_ = std::move(on_timeout);
  }

  // Runs one call on a member, moving on to the next member while the cluster answers
  // UNAVAILABLE (a member down or without a leader), within one deadline overall. Each attempt
  // carries `hasleader`, so a member cut off from the quorum refuses at once.
  template <typename Attempt>
  absl::Status Call(std::string_view what, Attempt&& attempt,
                    std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    // Right after a call ran out of time, the next ones get a short deadline: a request that
    // makes several calls must still answer within about one deadline while the cluster is
    // down (a leader cut off keeps accepting writes it cannot commit until it steps down).
    auto budget = timeout.value_or(options_.request_timeout);
    if (!timeout && Clock::now().time_since_epoch().count() < suspect_until_.load()) {
      budget = std::min(budget, kSuspectDeadline);
    }
    // gRPC takes deadlines on the system clock only.
    auto deadline = std::chrono::system_clock::now() + budget;
    size_t start = preferred_.load();
    // Members whose connection is down go last.
    std::vector<size_t> order;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < members_.size(); ++i) {
        size_t index = (start + i) % members_.size();
        bool down = members_[index]->channel->GetState(true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
        if (down == (pass == 1)) order.push_back(index);
      }
    }
    grpc::Status status;
    for (size_t index : order) {
      grpc::ClientContext context;
      context.set_deadline(deadline);
      context.AddMetadata("hasleader", "true");
      status = attempt(*members_[index], &context);
      if (status.ok()) {
        preferred_.store(index);
        suspect_until_.store(0);
        return absl::OkStatus();
      }
      preferred_.store((index + 1) % members_.size());
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
          std::chrono::system_clock::now() >= deadline) {
        break;
      }
    }
    absl::Status failed = FromGrpc(status, what);
    if (TypeOf(failed) == ErrorType::kDependencyTimeout) {
      suspect_until_.store((Clock::now() + kSuspectPeriod).time_since_epoch().count());
      std::lock_guard lock(on_timeout_mutex_);
      if (on_timeout_) on_timeout_();
    }
    return failed;
  }

  Member& PreferredMember() { return *members_[preferred_.load() % members_.size()]; }
  void MemberFailed(const Member& member) {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].get() == &member) preferred_.store((i + 1) % members_.size());
    }
  }
  const EtcdOptions& options() const { return options_; }
  const std::vector<std::unique_ptr<Member>>& members() const { return members_; }

 private:
  // Watches one member's connection, which is what makes gRPC's synchronous API progress on a
  // connection attempt when no call is waiting (a call to a member that is down fails at once,
  // waits for nothing, and so polls nothing): without it a member back from a restart would
  // never be reconnected.
  void KeepConnecting(grpc::Channel& channel) {
    while (!stopping_) {
      auto state = channel.GetState(/*try_to_connect=*/true);
      channel.WaitForStateChange(state,
                                 std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    }
  }

  const EtcdOptions options_;
  const std::vector<std::unique_ptr<Member>> members_;
  std::atomic<size_t> preferred_{0};
  std::atomic<Clock::rep> suspect_until_{0};  // steady-clock ticks; 0: the cluster answers
  std::mutex on_timeout_mutex_;
  std::function<void()> on_timeout_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> connectors_;
};

// The watch feed of one prefix: a thread reading a watch stream and another that asks it for
// progress and cancels it when it falls silent.
class WatchFeed {
 public:
  WatchFeed(std::shared_ptr<EtcdClient> client, std::string etcd_prefix, size_t strip,
            StorageWatcher* watcher, int64_t start_revision)
      : client_(std::move(client)),
        etcd_prefix_(std::move(etcd_prefix)),
        strip_(strip),
        watcher_(watcher),
        start_revision_(start_revision) {
    reader_ = std::thread([this] { Run(); });
    monitor_ = std::thread([this] { Monitor(); });
  }
  ~WatchFeed() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (context_) context_->TryCancel();
    }
    wake_.notify_all();
    reader_.join();
    monitor_.join();
  }
  // Ends the current stream (a call to etcd failed: the cluster may have lost quorum); the feed
  // reports OnStale and reconnects.
  void Interrupt() {
    std::lock_guard lock(mutex_);
    if (context_) context_->TryCancel();
  }

 private:
  void Run();
  void Monitor();

  const std::shared_ptr<EtcdClient> client_;
  const std::string etcd_prefix_;
  const size_t strip_;  // the bytes of an etcd key before the storage key
  StorageWatcher* const watcher_;
  const int64_t start_revision_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;  // the live stream's, guarded by mutex_
  grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>* stream_ =
      nullptr;  // written by Monitor under mutex_ once created
  Clock::time_point last_message_;
  std::thread reader_;
  std::thread monitor_;
};

class EtcdBackend final : public Backend {
 public:
  explicit EtcdBackend(std::shared_ptr<EtcdClient> client)
      : client_(std::move(client)), data_prefix_(client_->options().prefix + "kv/") {
    client_->SetOnTimeout([this] { InterruptFeeds(); });
  }
  ~EtcdBackend() override {
    client_->SetOnTimeout(nullptr);
    std::lock_guard lock(feeds_mutex_);
    feeds_.clear();  // joins their threads: no watcher hears from this backend any more
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    RangeRequest request;
    request.set_key(DataKey(key));
    RangeResponse response;
    auto status =
        client_->Call("reading a record", [&](Member& member, grpc::ClientContext* context) {
          return member.kv->Range(context, request, &response);
        });
    if (!status.ok()) return status;
    NoteRevision(response.header().revision());
    if (response.kvs_size() == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::move(*response.mutable_kvs(0)->mutable_value()));
  }

  absl::Status Commit(const StorageBatch& batch) override {
    // etcd refuses a transaction that names one key twice: the last put of a key wins, and a
    // put wins over a delete of the same key (the contract of every backend).
    std::map<std::string_view, std::string_view> puts;
    for (const StorageEntry& entry : batch.puts) puts[entry.key] = entry.value;
    std::set<std::string_view> deletes;
    for (const std::string& key : batch.deletes) {
      if (!puts.contains(key)) deletes.insert(key);
    }
    size_t operations = puts.size() + deletes.size();
    if (operations > kEtcdMaxBatchOperations || batch.conditions.size() > kEtcdMaxBatchOperations) {
      return Error(ErrorType::kLimitExceeded,
                   StrCat("a storage batch of ", operations, " writes and ",
                          batch.conditions.size(), " conditions exceeds etcd's limit of ",
                          kEtcdMaxBatchOperations, " operations per transaction"));
    }
    TxnRequest request;
    for (const StorageCondition& condition : batch.conditions) {
      Compare* compare = request.add_compare();
      compare->set_key(DataKey(condition.key));
      compare->set_result(Compare::EQUAL);
      if (condition.value) {
        compare->set_target(Compare::VALUE);
        compare->set_value(*condition.value);
      } else {  // absent: never created, or deleted since
        compare->set_target(Compare::CREATE);
        compare->set_create_revision(0);
      }
      // Read back on failure, to name the condition that failed.
      request.add_failure()->mutable_request_range()->set_key(DataKey(condition.key));
    }
    for (const auto& [key, value] : puts) {
      auto* put = request.add_success()->mutable_request_put();
      put->set_key(DataKey(key));
      put->set_value(std::string(value));
    }
    for (std::string_view key : deletes) {
      request.add_success()->mutable_request_delete_range()->set_key(DataKey(key));
    }
    if (request.ByteSizeLong() > kEtcdMaxBatchBytes) {
      return Error(ErrorType::kLimitExceeded, StrCat("a storage batch of ", request.ByteSizeLong(),
                                                     " bytes exceeds etcd's limit of ",
                                                     kEtcdMaxBatchBytes, " bytes per transaction"));
    }
    TxnResponse response;
    int attempts = 0;
    auto status = client_->Call("writing", [&](Member& member, grpc::ClientContext* context) {
      ++attempts;
      return member.kv->Txn(context, request, &response);
    });
    if (!status.ok()) return status;
    NoteRevision(response.header().revision());
    if (response.succeeded()) return absl::OkStatus();
    // An attempt that failed UNAVAILABLE may have been committed all the same (the member died
    // after proposing it, before answering); then the retry on another member finds its own
    // write and fails its conditions. The puts are sealed records, unique by their nonces: if
    // every one is stored as this batch wrote it, the batch committed (issue 12, docs/HA.md).
    if (attempts > 1 && !puts.empty()) {
      auto committed = HoldsPuts(puts);
      if (!committed.ok()) return committed.status();
      if (*committed) return absl::OkStatus();
    }
    for (int i = 0; i < response.responses_size() && i < request.compare_size(); ++i) {
      const RangeResponse& found = response.responses(i).response_range();
      const StorageCondition& condition = batch.conditions[i];
      bool holds = condition.value
                       ? found.kvs_size() == 1 && found.kvs(0).value() == *condition.value
                       : found.kvs_size() == 0;
      if (!holds) return StorageConflict(condition.key);
    }
    return StorageConflict(batch.conditions.empty() ? "" : batch.conditions.front().key);
  }

  // Whether every key of puts holds exactly its value now (one read-only transaction).
  absl::StatusOr<bool> HoldsPuts(const std::map<std::string_view, std::string_view>& puts) {
    TxnRequest request;
    for (const auto& [key, value] : puts) {
      request.add_success()->mutable_request_range()->set_key(DataKey(key));
    }
    TxnResponse response;
    auto status =
        client_->Call("reading back a write", [&](Member& member, grpc::ClientContext* context) {
          return member.kv->Txn(context, request, &response);
        });
    if (!status.ok()) return status;
    if (response.responses_size() != static_cast<int>(puts.size())) return false;
    int i = 0;
    for (const auto& [key, value] : puts) {
      const RangeResponse& found = response.responses(i++).response_range();
      if (found.kvs_size() != 1 || found.kvs(0).value() != value) return false;
    }
    return true;
  }

  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    std::string first = DataKey(prefix);
    const std::string end = PrefixEnd(first);
    if (!start_after.empty() && start_after >= prefix) first = DataKey(start_after) + '\0';
    std::vector<StorageEntry> out;
    if (first >= end) return out;
    // Every page at the revision of the first, so the listing is one consistent snapshot; a
    // compaction between pages makes it start over.
    for (int attempt = 0;; ++attempt) {
      out.clear();
      std::string next = first;
      int64_t revision = 0;
      int64_t page_keys = kListPageKeys;
      absl::Status failed;
      while (true) {
        RangeRequest request;
        request.set_key(next);
        request.set_range_end(end);
        request.set_revision(revision);
        int64_t wanted = page_keys;
        if (limit) wanted = std::min<int64_t>(wanted, static_cast<int64_t>(limit - out.size()));
        request.set_limit(wanted);
        RangeResponse response;
        grpc::Status raw;
        auto status =
            client_->Call("listing records", [&](Member& member, grpc::ClientContext* context) {
              raw = member.kv->Range(context, request, &response);
              return raw;
            });
        if (raw.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && page_keys > 1) {
          page_keys /= 2;  // values too large for one answer: smaller pages
          continue;
        }
        if (!status.ok()) {
          failed = status;
          break;
        }
        if (revision == 0) {
          revision = response.header().revision();
          NoteRevision(revision);
        }
        for (auto& kv : *response.mutable_kvs()) {
          out.push_back({kv.key().substr(data_prefix_.size()), std::move(*kv.mutable_value())});
        }
        if (!response.more() || response.kvs_size() == 0 || (limit && out.size() >= limit)) {
          return out;
        }
        next = DataKey(out.back().key) + '\0';
      }
      bool compacted = TypeOf(failed) == ErrorType::kKmsInternal &&
                       ToStd(failed.message()).find("compacted") != std::string_view::npos;
      if (!compacted || attempt == 2) return failed;
    }
  }

  // Crypto-shredding (docs/HA.md): compact the history up to now, so no older revision keeps a
  // deleted value, then defragment every member, so its database file no longer holds the freed
  // pages. What remains is each member's write-ahead log until etcd purges it.
  absl::Status Compact() override {
    RangeRequest probe;
    probe.set_key(DataKey(""));
    probe.set_count_only(true);
    RangeResponse current;
    auto status =
        client_->Call("reading the revision", [&](Member& member, grpc::ClientContext* context) {
          return member.kv->Range(context, probe, &current);
        });
    if (!status.ok()) return status;
    etcdserverpb::CompactionRequest compaction;
    compaction.set_revision(current.header().revision());
    compaction.set_physical(true);
    etcdserverpb::CompactionResponse compacted;
    grpc::Status raw;
    status = client_->Call(
        "compacting",
        [&](Member& member, grpc::ClientContext* context) {
          raw = member.kv->Compact(context, compaction, &compacted);
          return raw;
        },
        client_->options().compact_timeout);
    // Compacted already, by another node, at this revision or later: just as good.
    if (!status.ok() && raw.error_code() != grpc::StatusCode::OUT_OF_RANGE) return status;
    std::vector<std::string> failures;
    for (const auto& member : client_->members()) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + client_->options().compact_timeout);
      etcdserverpb::DefragmentRequest request;
      etcdserverpb::DefragmentResponse response;
      grpc::Status defragmented = member->maintenance->Defragment(&context, request, &response);
      if (!defragmented.ok()) {
        failures.push_back(StrCat(member->url, " (", defragmented.error_message(), ")"));
      }
    }
    if (!failures.empty()) {
      return Error(ErrorType::kDependencyTimeout,
                   StrCat("etcd compacted, but these members could not be defragmented and may "
                          "still hold deleted records on disk: ",
                          StrJoin(failures, ", ")));
    }
    return absl::OkStatus();
  }

  bool Shared() const override { return true; }

  absl::Status Watch(std::string_view prefix, StorageWatcher* watcher) override {
    // From the revision after this backend's first read: whatever a caller loaded since then is
    // covered, at the price of a few needless invalidations.
    int64_t first = first_revision_.load();
    if (first == 0) {
      auto read = Get("core/keyring");
      if (!read.ok()) return read.status();
      first = first_revision_.load();
    }
    std::lock_guard lock(feeds_mutex_);
    feeds_.push_back(std::make_unique<WatchFeed>(client_, DataKey(prefix), data_prefix_.size(),
                                                 watcher, first + 1));
    return absl::OkStatus();
  }

  std::unique_ptr<Leadership> Elect(std::string_view name) override;

  std::string DataKey(std::string_view key) const { return StrCat(data_prefix_, key); }

 private:
  void NoteRevision(int64_t revision) {
    int64_t expected = 0;
    if (revision > 0) first_revision_.compare_exchange_strong(expected, revision);
  }
  void InterruptFeeds() {
    std::unique_lock lock(feeds_mutex_, std::try_to_lock);  // never wait behind a destructor
    if (!lock.owns_lock()) return;
    for (auto& feed : feeds_) feed->Interrupt();
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string data_prefix_;
  std::atomic<int64_t> first_revision_{0};
  std::mutex feeds_mutex_;
  std::vector<std::unique_ptr<WatchFeed>> feeds_;
};

void WatchFeed::Run() {
  // The first stream resumes from start_revision_: the caller's caches are current until then.
  // Any later stream starts "now", after OnStale made the caller drop its caches, so nothing
  // from the gap is needed; a read made after OnCurrent is newer than the stream's start.
  int64_t start_revision = start_revision_;
  bool stale = false;
  auto delay = kReconnectDelayMin;
  auto go_stale = [&] {
    if (!stale) {
      stale = true;
      watcher_->OnStale();
    }
  };
  while (true) {
    Member& member = client_->PreferredMember();
    grpc::ClientContext context;
    context.AddMetadata("hasleader", "true");
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      context_ = &context;
    }
    auto stream = member.watch->Watch(&context);
    etcdserverpb::WatchRequest create;
    auto* request = create.mutable_create_request();
    request->set_key(etcd_prefix_);
    request->set_range_end(PrefixEnd(etcd_prefix_));
    request->set_start_revision(start_revision);
    if (stream->Write(create)) {
      etcdserverpb::WatchResponse response;
      while (stream->Read(&response)) {
        {
          std::lock_guard lock(mutex_);
          last_message_ = Clock::now();
          if (response.created()) stream_ = stream.get();
        }
        if (response.created() && !response.canceled()) {
          delay = kReconnectDelayMin;
          if (stale) {
            stale = false;
            watcher_->OnCurrent();
          }
        }
        for (const auto& event : response.events()) {
          watcher_->OnChange(std::string_view(event.kv().key()).substr(strip_));
        }
        if (response.canceled()) {
          // A compacted start revision, or the member lost its leader: events may be missing.
          break;
        }
      }
    }
    {
      std::lock_guard lock(mutex_);
      stream_ = nullptr;
      context_ = nullptr;
      if (stopping_) return;
    }
    // A cancelled watch leaves the stream open (it may carry other watches): end it here, or
    // Finish would wait for the server.
    context.TryCancel();
    stream->Finish();
    client_->MemberFailed(member);
    go_stale();
    start_revision = 0;
    if (SleepUnlessStopped(mutex_, wake_, stopping_, delay)) return;
    delay = std::min<std::chrono::milliseconds>(delay * 2, kReconnectDelayMax);
  }
}

void WatchFeed::Monitor() {
  while (!SleepUnlessStopped(mutex_, wake_, stopping_, kWatchProgressInterval)) {
    std::lock_guard lock(mutex_);
    if (!stream_) continue;
    if (Clock::now() - last_message_ > kWatchSilence) {
      context_->TryCancel();  // silent: the reader sees the stream end and reconnects
      continue;
    }
    etcdserverpb::WatchRequest progress;
    progress.mutable_progress_request();
    stream_->Write(progress);
  }
}

// Leadership through an etcd lease: the leader holds the election key, created only when absent
// and attached to its lease; it leads while it renews the lease, and believes it leads only
// until a little before the lease would expire unrenewed, so two nodes never both lead.
class EtcdLeadership final : public Leadership {
 public:
  EtcdLeadership(std::shared_ptr<EtcdClient> client, std::string key)
      : client_(std::move(client)), key_(std::move(key)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~EtcdLeadership() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  bool IsLeader() const override {
    return Clock::now().time_since_epoch().count() < leader_until_.load();
  }

 private:
  void Run() {
    const int ttl = client_->options().election_ttl_seconds;
    const auto renew_every = std::chrono::milliseconds(ttl * 1000 / 3);
    int64_t lease = 0;
    while (true) {
      auto sent = Clock::now();
      if (lease == 0) {
        etcdserverpb::LeaseGrantRequest request;
        request.set_ttl(ttl);
        etcdserverpb::LeaseGrantResponse response;
        auto status =
            client_->Call("granting a lease", [&](Member& member, grpc::ClientContext* context) {
              return member.lease->LeaseGrant(context, request, &response);
            });
        if (status.ok() && response.error().empty()) lease = response.id();
      } else if (!KeepAlive(lease)) {
        leader_until_.store(0);
      }
      if (lease != 0 && Campaign(lease)) {
        // Until a third of the lease's life before it would expire unrenewed.
        auto until = sent + std::chrono::milliseconds(ttl * 1000) - renew_every;
        leader_until_.store(until.time_since_epoch().count());
      } else {
        leader_until_.store(0);
      }
      if (SleepUnlessStopped(mutex_, wake_, stopping_, renew_every)) break;
    }
    leader_until_.store(0);
    if (lease != 0) {  // hand over at once rather than when the lease expires
      etcdserverpb::LeaseRevokeRequest request;
      request.set_id(lease);
      etcdserverpb::LeaseRevokeResponse response;
      (void)client_->Call("revoking a lease", [&](Member& member, grpc::ClientContext* context) {
        return member.lease->LeaseRevoke(context, request, &response);
      });
    }
  }

  // Renews the lease; false when it could not (the lease may have expired: then lease is 0).
  bool KeepAlive(int64_t& lease) {
    bool renewed = false;
    bool expired = false;
    auto status =
        client_->Call("renewing a lease", [&](Member& member, grpc::ClientContext* context) {
          auto stream = member.lease->LeaseKeepAlive(context);
          etcdserverpb::LeaseKeepAliveRequest request;
          request.set_id(lease);
          etcdserverpb::LeaseKeepAliveResponse response;
          if (stream->Write(request) && stream->Read(&response)) {
            renewed = response.ttl() > 0;
            expired = response.ttl() <= 0;
          }
          stream->WritesDone();
          return stream->Finish();
        });
    if (expired) lease = 0;
    return status.ok() && renewed;
  }

  // Creates the election key with this lease when absent; true when it holds this lease.
  bool Campaign(int64_t lease) {
    TxnRequest request;
    Compare* compare = request.add_compare();
    compare->set_key(key_);
    compare->set_result(Compare::EQUAL);
    compare->set_target(Compare::CREATE);
    compare->set_create_revision(0);
    auto* put = request.add_success()->mutable_request_put();
    put->set_key(key_);
    put->set_value(StrCat("lease ", lease));
    put->set_lease(lease);
    request.add_failure()->mutable_request_range()->set_key(key_);
    TxnResponse response;
    auto status = client_->Call("campaigning", [&](Member& member, grpc::ClientContext* context) {
      return member.kv->Txn(context, request, &response);
    });
    if (!status.ok()) return false;
    if (response.succeeded()) return true;
    const RangeResponse& holder = response.responses(0).response_range();
    return holder.kvs_size() == 1 && holder.kvs(0).lease() == lease;
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string key_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<Clock::rep> leader_until_{0};
  std::thread thread_;
};

std::unique_ptr<Leadership> EtcdBackend::Elect(std::string_view name) {
  return std::make_unique<EtcdLeadership>(client_,
                                          StrCat(client_->options().prefix, "election/", name));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> OpenEtcdBackend(const EtcdOptions& options) {
  if (options.endpoints.empty()) return Validation("etcd storage needs at least one endpoint");
  if (options.prefix.empty() || options.prefix.size() > 256) {
    return Validation("the etcd prefix must be 1 to 256 bytes (kmsd/, say)");
  }
  if (options.request_timeout <= std::chrono::milliseconds(0) ||
      options.compact_timeout <= std::chrono::milliseconds(0) || options.election_ttl_seconds < 2) {
    return Validation("etcd timeouts must be positive and the election TTL at least 2 s");
  }
  std::vector<std::unique_ptr<Member>> members;
  for (const std::string& endpoint : options.endpoints) {
    auto member = ConnectMember(endpoint, options);
    if (!member.ok()) return member.status();
    members.push_back(std::move(*member));
  }
  return std::unique_ptr<Backend>(
      std::make_unique<EtcdBackend>(std::make_shared<EtcdClient>(options, std::move(members))));
}

}  // namespace kmsd
