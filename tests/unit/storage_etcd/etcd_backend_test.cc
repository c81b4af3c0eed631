// The etcd backend against a real etcd 3.4 (/usr/bin/etcd on free loopback ports, its own temp
// data dir): the Backend contract, then what only a shared store does (watch, election, etcd's
// limits, quorum loss, crypto-shredding on disk).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "kmsd/errors.h"
#include "kmsd/etcd_storage.h"
#include "kmsd/strings.h"
#include "unit/storage/backend_contract.h"

extern char** environ;

namespace kmsd {
namespace {

using namespace std::chrono_literals;

constexpr char kEtcd[] = "/usr/bin/etcd";

uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// One etcd member of its own: started, stopped (SIGSTOP), killed and restarted on the same ports
// and data dir. Its ETCD_* environment is cleared so that a host's settings cannot leak in.
class EtcdProcess {
 public:
  EtcdProcess()
      : dir_(std::filesystem::temp_directory_path() /
             ("kmsd-etcd-unit-" + std::to_string(getpid()))),
        client_port_(FreePort()),
        peer_port_(FreePort()) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Start();
  }
  ~EtcdProcess() {
    Kill();
    std::filesystem::remove_all(dir_);
  }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::filesystem::path DataDir() const { return dir_ / "data"; }

  void Start() {
    std::string client = Endpoint();
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    // setpriv: the member dies with this test, however the test ends.
    std::vector<std::string> args = {"/usr/bin/setpriv",
                                     "--pdeathsig",
                                     "KILL",
                                     kEtcd,
                                     "--name=unit",
                                     "--data-dir=" + DataDir().string(),
                                     "--listen-client-urls=" + client,
                                     "--advertise-client-urls=" + client,
                                     "--listen-peer-urls=" + peer,
                                     "--initial-advertise-peer-urls=" + peer,
                                     "--initial-cluster=unit=" + peer,
                                     "--initial-cluster-state=new",
                                     "--logger=zap",
                                     "--log-outputs=" + (dir_ / "etcd.log").string(),
                                     "--log-level=error"};
    std::vector<std::string> environment;
    for (char** entry = environ; *entry; ++entry) {
      if (!std::string_view(*entry).starts_with("ETCD")) environment.push_back(*entry);
    }
    // posix_spawn, not fork: gRPC's fork handlers leave this process's channels unable to
    // connect after a fork.
    std::vector<char*> argv, envp;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), envp.data()), 0);
    // Ready when a read succeeds, within 20 s.
    auto backend = Open("ready/");
    auto until = std::chrono::steady_clock::now() + 20s;
    absl::Status probe;
    while (!(probe = backend->Get("probe").status()).ok()) {
      ASSERT_LT(std::chrono::steady_clock::now(), until) << "etcd did not start: " << probe;
      std::this_thread::sleep_for(100ms);
    }
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  // SIGSTOP, then waits (bounded) until every thread of the member has stopped: kill() returns
  // before they all have, and a member still answering for a moment makes "paused" a lie.
  void Pause() {
    kill(pid_, SIGSTOP);
    auto until = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < until && !AllThreadsStopped()) {
      std::this_thread::sleep_for(5ms);
    }
  }
  void Resume() { kill(pid_, SIGCONT); }
  bool AllThreadsStopped() const {
    std::filesystem::path tasks = "/proc/" + std::to_string(pid_) + "/task";
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      size_t close = line.rfind(')');  // the state follows the command name in parentheses
      if (close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'T') {
        return false;
      }
    }
    return !error;
  }

  std::unique_ptr<Backend> Open(std::string prefix, int election_ttl_seconds = 5) const {
    EtcdOptions options;
    options.endpoints = {Endpoint()};
    options.prefix = std::move(prefix);
    options.election_ttl_seconds = election_ttl_seconds;
    auto backend = OpenEtcdBackend(options);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }

 private:
  std::filesystem::path dir_;
  uint16_t client_port_;
  uint16_t peer_port_;
  pid_t pid_ = 0;
};

// One etcd for the whole executable; every test uses a prefix of its own.
EtcdProcess* etcd = nullptr;
class EtcdEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { etcd = new EtcdProcess(); }
  void TearDown() override {
    delete etcd;
    etcd = nullptr;
  }
};
const auto* const environment = ::testing::AddGlobalTestEnvironment(new EtcdEnvironment);

std::string FreshPrefix() {
  static std::atomic<int> next{0};
  return "unit-" + std::to_string(getpid()) + "-" + std::to_string(next++) + "/";
}

INSTANTIATE_TEST_SUITE_P(Etcd, BackendContract,
                         ::testing::Values(BackendMaker{"Etcd",
                                                        [](const std::filesystem::path&) {
                                                          return etcd->Open(FreshPrefix());
                                                        }}),
                         BackendMakerName);

// Records what a watch feed reports.
class RecordingWatcher final : public StorageWatcher {
 public:
  void OnChange(std::string_view key) override {
    std::lock_guard lock(mutex_);
    changed_.insert(std::string(key));
    changed_signal_.notify_all();
  }
  void OnStale() override {
    std::lock_guard lock(mutex_);
    ++stale_;
    changed_signal_.notify_all();
  }
  void OnCurrent() override {
    std::lock_guard lock(mutex_);
    ++current_;
    changed_signal_.notify_all();
  }
  bool WaitFor(std::function<bool()> condition, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_signal_.wait_for(lock, timeout, [&] { return condition(); });
  }
  // Called within WaitFor's condition (the lock held) or after the feed stopped.
  bool Changed(const std::string& key) { return changed_.contains(key); }
  int stale() const { return stale_; }
  int current() const { return current_; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_signal_;
  std::set<std::string> changed_;
  int stale_ = 0;
  int current_ = 0;
};

TEST(EtcdBackend, IsShared) { EXPECT_TRUE(etcd->Open(FreshPrefix())->Shared()); }

TEST(EtcdBackend, TwoNodesSeeEachOthersWritesAtOnce) {
  std::string prefix = FreshPrefix();
  auto a = etcd->Open(prefix);
  auto b = etcd->Open(prefix);
  ASSERT_TRUE(a->Put("key/1", "from a").ok());
  EXPECT_EQ(**b->Get("key/1"), "from a");
  StorageBatch create;
  create.puts = {{"alias/x", "b"}};
  create.conditions = {{"alias/x", std::nullopt}};
  ASSERT_TRUE(b->Commit(create).ok());
  create.puts = {{"alias/x", "a"}};
  EXPECT_TRUE(IsStorageConflict(a->Commit(create)));
  EXPECT_EQ(**a->Get("alias/x"), "b");
}

TEST(EtcdBackend, TheWatchReportsAnotherNodesWritesAndDeletes) {
  std::string prefix = FreshPrefix();
  RecordingWatcher watcher;  // first: it must outlive the backend whose feed calls it
  auto watching = etcd->Open(prefix);
  auto writer = etcd->Open(prefix);
  ASSERT_TRUE(watching->Get("key/0").ok());                // the initial load
  ASSERT_TRUE(writer->Put("key/before-watch", "v").ok());  // after the load, before Watch
  ASSERT_TRUE(watching->Watch("key/", &watcher).ok());
  ASSERT_TRUE(writer->Put("key/1", "v").ok());
  ASSERT_TRUE(writer->Put("other/1", "v").ok());  // outside the watched prefix
  ASSERT_TRUE(writer->Delete("key/before-watch").ok());
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.Changed("key/1"); }, 2s));
  EXPECT_TRUE(watcher.Changed("key/before-watch"));
  EXPECT_FALSE(watcher.Changed("other/1"));
  EXPECT_EQ(watcher.stale(), 0);
}

TEST(EtcdBackend, AWatchFromACompactedRevisionGoesStaleThenCurrent) {
  std::string prefix = FreshPrefix();
  RecordingWatcher watcher;  // first: it must outlive the backend whose feed calls it
  auto watching = etcd->Open(prefix);
  auto writer = etcd->Open(prefix);
  ASSERT_TRUE(watching->Get("key/0").ok());  // the initial load, at some revision
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer->Put("key/1", std::to_string(i)).ok());
  ASSERT_TRUE(writer->Compact().ok());  // the revisions after the load are gone
  ASSERT_TRUE(watching->Watch("key/", &watcher).ok());
  // What changed since the load cannot be reported: the caller must drop its caches, then the
  // feed goes on from now.
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.stale() == 1 && watcher.current() == 1; }, 5s));
  ASSERT_TRUE(writer->Put("key/2", "v").ok());
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.Changed("key/2"); }, 2s));
}

TEST(EtcdBackend, CommitsOverEtcdsLimitsAreRefusedAndWriteNothing) {
  auto backend = etcd->Open(FreshPrefix());
  StorageBatch many;
  for (size_t i = 0; i <= kEtcdMaxBatchOperations; ++i) many.puts.push_back({StrCat("k/", i), "v"});
  EXPECT_EQ(TypeOf(backend->Commit(many)), ErrorType::kLimitExceeded);
  EXPECT_TRUE(backend->List("k/", "", 0)->empty());
  many.puts.pop_back();  // exactly 128: accepted
  EXPECT_TRUE(backend->Commit(many).ok());
  StorageBatch large;
  large.puts = {{"big", std::string(kEtcdMaxBatchBytes, 'x')}};
  auto status = backend->Commit(large);
  EXPECT_EQ(TypeOf(status), ErrorType::kLimitExceeded) << status;
  EXPECT_FALSE(backend->Get("big")->has_value());
}

TEST(EtcdBackend, ListsPastTheFourMebibyteAnswerLimit) {
  auto backend = etcd->Open(FreshPrefix());
  const std::string value(512 * 1024, 'v');  // 24 of them: 12 MiB, three times gRPC's default
  for (int i = 0; i < 24; ++i) ASSERT_TRUE(backend->Put(StrCat("big/", 100 + i), value).ok());
  auto listed = backend->List("big/", "", 0);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 24u);
  EXPECT_EQ(listed->back().key, "big/123");
  EXPECT_EQ(listed->back().value, value);
}

TEST(EtcdBackend, OneOfTwoRacingNodesLeads) {
  std::string prefix = FreshPrefix();
  auto a = etcd->Open(prefix, 2);
  auto b = etcd->Open(prefix, 2);
  auto leading_a = a->Elect("scheduler");
  auto leading_b = b->Elect("scheduler");
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!leading_a->IsLeader() && !leading_b->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "nobody leads";
    std::this_thread::sleep_for(50ms);
  }
  for (int i = 0; i < 20; ++i) {  // and never both, over two lease lifetimes
    EXPECT_FALSE(leading_a->IsLeader() && leading_b->IsLeader());
    std::this_thread::sleep_for(200ms);
  }
  // The leader steps down (its node stops): the other takes over within a renewal period
  // (1.7 s; the bound leaves room for a loaded machine).
  Leadership* follower = leading_a->IsLeader() ? leading_b.get() : leading_a.get();
  (leading_a->IsLeader() ? leading_a : leading_b).reset();
  until = std::chrono::steady_clock::now() + 6s;
  while (!follower->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "no takeover";
    std::this_thread::sleep_for(50ms);
  }
}

TEST(EtcdBackend, ALeadershipMayOutliveItsBackend) {
  auto backend = etcd->Open(FreshPrefix(), 2);
  auto leadership = backend->Elect("scheduler");
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!leadership->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until);
    std::this_thread::sleep_for(50ms);
  }
  backend.reset();                  // the service holds its leadership until it is destroyed itself
  std::this_thread::sleep_for(1s);  // renewals go on through the members the backend shared
  EXPECT_TRUE(leadership->IsLeader());
  leadership.reset();
}

TEST(EtcdBackend, CompactLeavesNoDeletedValueInTheDatabaseFile) {
  auto backend = etcd->Open(FreshPrefix());
  const std::string secret = "SHRED-ME-" + std::string(300, 'Q');
  ASSERT_TRUE(backend->Put("doomed", secret).ok());
  ASSERT_TRUE(backend->Put("kept", "stays").ok());
  ASSERT_TRUE(backend->Delete("doomed").ok());
  auto database = etcd->DataDir() / "member" / "snap" / "db";
  auto contains_secret = [&] {
    std::ifstream file(database, std::ios::binary);
    std::stringstream content;
    content << file.rdbuf();
    return content.str().find("SHRED-ME-") != std::string::npos;
  };
  // etcd commits its database every 100 ms: the deleted value is there, at its old revision.
  // (Polled: on a loaded machine the commit can come later than 100 ms.)
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!contains_secret()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the value never reached the file";
    std::this_thread::sleep_for(100ms);
  }
  auto compacted = backend->Compact();
  ASSERT_TRUE(compacted.ok()) << compacted;
  EXPECT_FALSE(contains_secret());
  EXPECT_EQ(**backend->Get("kept"), "stays");
}

// Issue 12: a TCP proxy in front of the member that can lose an answer: armed, it passes the
// client's next call on to etcd, lets etcd act on them, then cuts both connections without
// passing etcd's answer back, as a member that dies after committing a transaction and before
// answering it does.
class AnswerDroppingProxy {
 public:
  explicit AnswerDroppingProxy(uint16_t target_port) : target_port_(target_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    EXPECT_EQ(listen(listener_, 8), 0);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~AnswerDroppingProxy() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& [client, server] : connections_) {
      shutdown(client, SHUT_RDWR);
      shutdown(server, SHUT_RDWR);
    }
    for (auto& thread : pumps_) thread.join();
  }
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void ArmDrop() { armed_ = true; }
  // Answer bytes etcd sent that the proxy threw away.
  size_t dropped() const { return dropped_; }

 private:
  void Accept() {
    while (!stopping_) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(target_port_);
      if (connect(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        close(client);
        close(server);
        continue;
      }
      std::lock_guard lock(mutex_);
      connections_.emplace_back(client, server);
      auto cut = std::make_shared<std::atomic<bool>>(false);
      pumps_.emplace_back([this, client, server, cut] { Pump(client, server, true, cut); });
      pumps_.emplace_back([this, client, server, cut] { Pump(server, client, false, cut); });
    }
  }
  // Copies from one socket to the other; the client-to-etcd pump does the cut when armed.
  void Pump(int from, int to, bool to_etcd, std::shared_ptr<std::atomic<bool>> cut) {
    char buffer[16384];
    while (true) {
      ssize_t got = read(from, buffer, sizeof buffer);
      if (got <= 0) break;
      if (!to_etcd && *cut) {
        dropped_ += got;
        continue;
      }
      // A call is more than HTTP/2's small control frames (a window update, a ping: < 20 bytes).
      // The cut comes before the call is passed on: etcd may answer within microseconds, before
      // this thread runs again on a loaded machine.
      bool cutting = to_etcd && got >= 64 && armed_.exchange(false);
      if (cutting) *cut = true;  // etcd's answers go nowhere from now on
      if (write(to, buffer, got) != got) break;
      if (cutting) {
        std::this_thread::sleep_for(300ms);  // etcd commits meanwhile
        shutdown(from, SHUT_RDWR);           // then the client's connection breaks
        shutdown(to, SHUT_RDWR);
        break;
      }
    }
    shutdown(to, SHUT_WR);
  }

  const uint16_t target_port_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> armed_{false};
  std::atomic<size_t> dropped_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::pair<int, int>> connections_;
  std::vector<std::thread> pumps_;
};

// A conditional write whose answer was lost is retried on the next member; etcd had committed
// it, so the retry's conditions fail on the write itself. The backend recognizes its own write
// and answers success (a CreateAlias answers OK, not AlreadyExistsException).
TEST(EtcdBackend, AConditionalWriteCommittedButUnansweredIsASuccessOnItsRetry) {
  uint16_t port = static_cast<uint16_t>(std::stoi(etcd->Endpoint().substr(17)));
  AnswerDroppingProxy proxy(port);
  EtcdOptions options;
  options.endpoints = {proxy.Endpoint(), etcd->Endpoint()};  // the proxy first
  options.prefix = FreshPrefix();
  auto opened = OpenEtcdBackend(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto& backend = *opened;
  ASSERT_TRUE(backend->Get("warm").ok());  // the connection through the proxy is up
  StorageBatch batch;
  batch.puts.push_back({"alias/once", "sealed bytes, unique by their nonce"});
  batch.conditions.push_back({"alias/once", std::nullopt});  // created only if absent
  proxy.ArmDrop();
  absl::Status committed = backend->Commit(batch);
  EXPECT_GT(proxy.dropped(), 0u) << "the proxy lost no answer: the case was not reproduced";
  EXPECT_TRUE(committed.ok()) << committed;
  auto stored = backend->Get("alias/once");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(**stored, "sealed bytes, unique by their nonce");
  // Another writer's value in the way is still a conflict, lost answer or not (a new backend,
  // whose calls go through the proxy first again once gRPC reconnected through it: its channels
  // share the cut connection's, which waits out a back-off of up to 1 s).
  std::this_thread::sleep_for(1500ms);
  auto second = OpenEtcdBackend(options);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->Get("warm").ok());
  size_t dropped_before = proxy.dropped();
  StorageBatch other;
  other.puts.push_back({"alias/once", "another writer's bytes"});
  other.conditions.push_back({"alias/once", std::nullopt});
  proxy.ArmDrop();
  absl::Status refused = (*second)->Commit(other);
  EXPECT_GT(proxy.dropped(), dropped_before);
  EXPECT_TRUE(IsStorageConflict(refused)) << refused;
  EXPECT_EQ(**backend->Get("alias/once"), "sealed bytes, unique by their nonce");
}

// Runs last among the etcd tests (gtest runs them in order): it stops and restarts the member.
TEST(EtcdBackendZ, AnUnansweringClusterIsADependencyTimeoutWithinTwoSeconds) {
  std::string prefix = FreshPrefix();
  RecordingWatcher watcher;  // first: it must outlive the backend whose feed calls it
  auto backend = etcd->Open(prefix, 2);
  auto other = etcd->Open(prefix);
  ASSERT_TRUE(backend->Put("key/1", "v").ok());
  ASSERT_TRUE(backend->Watch("key/", &watcher).ok());
  auto leadership = backend->Elect("scheduler");
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!leadership->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until);
    std::this_thread::sleep_for(50ms);
  }

  etcd->Pause();  // alive but silent: every call meets its deadline
  auto started = std::chrono::steady_clock::now();
  auto read = backend->Get("key/1");
  EXPECT_EQ(TypeOf(read.status()), ErrorType::kDependencyTimeout) << read.status();
  EXPECT_EQ(TypeOf(backend->Put("key/2", "v")), ErrorType::kDependencyTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);  // two calls, under 2 s each
  // The feed cannot tell whether caches are current, and the leader stops leading before its
  // lease could expire.
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.stale() > 0; }, 4s));
  until = std::chrono::steady_clock::now() + 2s;
  while (leadership->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "still leading without etcd";
    std::this_thread::sleep_for(50ms);
  }

  etcd->Kill();  // gone: refused at once
  started = std::chrono::steady_clock::now();
  EXPECT_EQ(TypeOf(backend->Get("key/1").status()), ErrorType::kDependencyTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);

  etcd->Start();  // back, with its data: everything recovers by itself
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.current() > 0; }, 10s));
  EXPECT_EQ(**backend->Get("key/1"), "v");
  ASSERT_TRUE(other->Put("key/after", "v").ok());
  EXPECT_TRUE(watcher.WaitFor([&] { return watcher.Changed("key/after"); }, 2s));
  until = std::chrono::steady_clock::now() + 10s;
  while (!leadership->IsLeader()) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "never leads again";
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace
}  // namespace kmsd
