// The trail writer: durability, group commit, fail-closed, rotation, digests and restarts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "kmsd/audit.h"
#include "kmsd/metrics.h"
#include "nlohmann/json.hpp"
#include "unit/audit/audit_test_util.h"

namespace kmsd::audit {
namespace {

using nlohmann::json;
using testing::FakeClock;
using testing::MakeCall;
using testing::TempDir;

// Wraps the real file system; counts syncs and fails writes or syncs on demand (faults only).
class FaultyFileSystem : public FileSystem {
 public:
  std::atomic<bool> fail_append{false};
  std::atomic<bool> fail_sync{false};
  std::atomic<bool> fail_open{false};
  std::atomic<bool> fail_directory_sync{false};
  // A full disk: an append writes the first half of its data, then fails (ENOSPC's torn write).
  std::atomic<bool> tear_append{false};
  // When not empty (set before a fault is armed), the faults above hit only files whose path
  // holds this, and the audit log's write probe (a full disk refuses every new byte).
  // A string literal, swapped by the test's thread while the committer reads it.
  std::atomic<const char*> only_path{""};
  std::atomic<bool> fail_spare{false};
  std::atomic<bool> hold_spares{false};  // CreateSpare waits while set
  std::atomic<int> syncs{0};
  std::atomic<int> spares_created{0};
  std::atomic<int> spares_adopted{0};
  // When set, the next Sync waits until release_gate() (and then fails if gate_fails).
  std::atomic<bool> gate_next_sync{false};
  std::atomic<bool> gate_fails{false};
  std::atomic<bool> gate_reached{false};

  void release_gate() {
    std::lock_guard<std::mutex> lock(gate_mutex_);
    gate_open_ = true;
    gate_cv_.notify_all();
  }

  bool Hits(const std::string& path) const {
    const char* only = only_path.load();
    return *only == '\0' || path.find(only) != std::string::npos ||
           path.find(".write-probe") != std::string::npos;
  }
  absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override {
    if (fail_open && Hits(path)) return Internal("injected: no space left on device");
    auto file = DefaultFileSystem()->OpenAppend(path);
    if (!file.ok()) return file.status();
    return std::unique_ptr<AppendFile>(new File(this, std::move(*file), path));
  }
  absl::Status SyncDirectory(const std::string& path) override {
    if (fail_directory_sync) return Internal("injected: cannot sync the directory");
    return DefaultFileSystem()->SyncDirectory(path);
  }
  absl::Status CreateSpare(const std::string& path, uint64_t bytes,
                           const std::atomic<bool>& stop) override {
    if (fail_spare) return Internal("injected: no space left on device");
    while (hold_spares && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto status = DefaultFileSystem()->CreateSpare(path, bytes, stop);
    if (status.ok()) ++spares_created;
    return status;
  }
  absl::StatusOr<std::unique_ptr<AppendFile>> AdoptSpare(const std::string& spare,
                                                         const std::string& path) override {
    auto file = DefaultFileSystem()->AdoptSpare(spare, path);
    if (!file.ok()) return file.status();
    ++spares_adopted;
    return std::unique_ptr<AppendFile>(new File(this, std::move(*file), path));
  }
  absl::Status RemoveSpare(const std::string& path) override {
    return DefaultFileSystem()->RemoveSpare(path);
  }

 private:
  class File : public AppendFile {
   public:
    File(FaultyFileSystem* owner, std::unique_ptr<AppendFile> real, std::string path)
        : owner_(owner), real_(std::move(real)), path_(std::move(path)) {}
    absl::Status Append(std::string_view data) override {
      if (owner_->fail_append && owner_->Hits(path_)) return Internal("injected: I/O error");
      if (owner_->tear_append && owner_->Hits(path_)) {
        (void)real_->Append(data.substr(0, data.size() / 2));
        return Internal("injected: no space left on device");
      }
      return real_->Append(data);
    }
    absl::Status Sync() override {
      if (owner_->gate_next_sync.exchange(false)) {
        owner_->gate_reached = true;
        std::unique_lock<std::mutex> lock(owner_->gate_mutex_);
        owner_->gate_cv_.wait(lock, [this] { return owner_->gate_open_; });
        if (owner_->gate_fails) return Internal("injected: fdatasync failed late");
      }
      if (owner_->fail_sync && owner_->Hits(path_)) return Internal("injected: fdatasync failed");
      ++owner_->syncs;
      return real_->Sync();
    }
    absl::Status Close() override { return real_->Close(); }

   private:
    FaultyFileSystem* owner_;
    std::unique_ptr<AppendFile> real_;
    const std::string path_;
  };

  std::mutex gate_mutex_;
  std::condition_variable gate_cv_;
  bool gate_open_ = false;
};

class AuditLogTest : public ::testing::Test {
 protected:
  AuditOptions Options() {
    AuditOptions options;
    options.data_dir = dir_.path();
    options.clock = &clock_;
    options.file_system = &file_system_;
    // No recovery during a test unless it asks for one (RecoveryOptions).
    options.retry_interval = std::chrono::hours(1);
    return options;
  }

  std::unique_ptr<AuditLog> Open(AuditOptions options) {
    auto log = OpenAuditLog(std::move(options));
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  absl::Status RecordOne(AuditLog& log, const std::string& operation = "ListKeys") {
    auto call = MakeCall(operation, "{}");
    return log.Record(call.Outcome());
  }

  std::vector<json> AllRecords() {
    std::vector<json> records;
    for (const std::string& file : testing::TrailFiles(dir_.audit())) {
      for (const std::string& line : testing::ReadLines(file)) records.push_back(json::parse(line));
    }
    return records;
  }

  // Records from several threads at once, each waiting for its record; then closes the log.
  void RecordConcurrently(std::unique_ptr<AuditLog> log, int threads, int per_thread) {
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) {
          if (!RecordOne(*log).ok()) ++failures;
        }
      });
    }
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(failures, 0);
  }

  // Every record present once, in sequence, and the verifier content; returns its report.
  VerifyReport ExpectWholeChain(int count) {
    std::vector<json> records = AllRecords();
    EXPECT_EQ(records.size(), static_cast<size_t>(count));
    for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i]["sequenceNumber"], i + 1);
    VerifyReport report = Verify();
    EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
    EXPECT_EQ(report.records, count);
    return report;
  }

  VerifyReport Verify() {
    auto key = AuditPublicKeyPem(dir_.path());
    EXPECT_TRUE(key.ok()) << key.status();
    auto report = VerifyTrail(dir_.audit(), *key);
    EXPECT_TRUE(report.ok()) << report.status();
    return *report;
  }

  TempDir dir_;
  FakeClock clock_;
  FaultyFileSystem file_system_;
};

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

TEST_F(AuditLogTest, RecordIsOnDiskWhenRecordReturns) {
  auto log = Open(Options());
  ASSERT_TRUE(RecordOne(*log, "DescribeKey").ok());
  std::vector<json> records = AllRecords();  // read while the log is still open
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["eventName"], "DescribeKey");
  EXPECT_EQ(records[0]["sequenceNumber"], 1);
  EXPECT_EQ(records[0]["previousHash"], std::string(64, '0'));
  EXPECT_EQ(file_system_.syncs, 1);
}

// The service names a request's record by it (GetKeyLastUsage's CloudTrailEventId).
TEST_F(AuditLogTest, TheRecordKeepsTheEventIdTheRequestWasGivenElseMakesOne) {
  auto log = Open(Options());
  auto given = MakeCall("Encrypt", "{}");
  RequestOutcome outcome = given.Outcome();
  outcome.event_id = "11111111-2222-4333-8444-555555555555";
  ASSERT_TRUE(log->Record(outcome).ok());
  ASSERT_TRUE(RecordOne(*log).ok());
  std::vector<json> records = AllRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["eventID"], "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(records[1]["eventID"].get<std::string>().size(), 36u);
  EXPECT_NE(records[1]["eventID"], records[0]["eventID"]);
}

// Issue 13: ReplicateKey leaves two records, written and synced together; the answer waits for
// both, and a failure to write them refuses it.
TEST_F(AuditLogTest, ReplicateKeyRecordsItsCompanionInTheSameBatch) {
  auto log = Open(Options());
  std::string replica = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab";
  auto call = MakeCall(
      "ReplicateKey",
      R"({"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegion":"eu-west-1"})",
      StrCat(R"({"ReplicaKeyMetadata":{"Arn":")", replica, R"("}})"));
  int answers = 0;
  absl::Status seen = absl::UnknownError("not yet");
  std::mutex mutex;
  std::condition_variable answered;
  log->RecordAsync(call.Outcome(), [&](absl::Status status) {
    std::lock_guard lock(mutex);
    ++answers;
    seen = std::move(status);
    answered.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(answered.wait_for(lock, std::chrono::seconds(10), [&] { return answers > 0; }));
  }
  EXPECT_TRUE(seen.ok()) << seen;
  std::vector<json> records = AllRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["eventName"], "ReplicateKey");
  EXPECT_EQ(records[1]["eventName"], "CreateKey");
  EXPECT_EQ(records[1]["awsRegion"], "eu-west-1");
  EXPECT_EQ(records[1]["requestID"], records[0]["requestID"]);
  EXPECT_NE(records[1]["eventID"], records[0]["eventID"]);
  EXPECT_EQ(file_system_.syncs, 1);  // one batch
  EXPECT_EQ(answers, 1);

  file_system_.fail_sync = true;
  EXPECT_EQ(TypeOf(log->Record(call.Outcome())), ErrorType::kDependencyTimeout);
  file_system_.fail_sync = false;
}

TEST_F(AuditLogTest, FilesAndKeyArePrivate) {
  auto log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  ASSERT_TRUE(log->WriteDigest().ok());
  EXPECT_EQ(Mode(dir_.audit()), 0700);
  EXPECT_EQ(Mode(testing::TrailFiles(dir_.audit())[0]), 0600);
  EXPECT_EQ(Mode(dir_.audit() + "/digests.jsonl"), 0600);
  EXPECT_EQ(Mode(dir_.path() + "/audit-signing-key.pem"), 0600);
}

TEST_F(AuditLogTest, RefusesASigningKeyOthersCanRead) {
  Open(Options()).reset();
  chmod((dir_.path() + "/audit-signing-key.pem").c_str(), 0644);
  EXPECT_FALSE(OpenAuditLog(Options()).ok());
}

TEST_F(AuditLogTest, ConcurrentRecordsShareSyncsAndStayChained) {
  constexpr int kRecords = 8 * 50;
  RecordConcurrently(Open(Options()), 8, 50);
  ExpectWholeChain(kRecords);
  // Group commit: fewer fdatasyncs than records (one per batch, plus the digest's).
  EXPECT_LT(file_system_.syncs, kRecords);
}

TEST_F(AuditLogTest, RecordAsyncAcknowledgesEachRecordOnceAfterItsSync) {
  auto log = Open(Options());
  constexpr int kRecords = 200;
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<int> acknowledged(kRecords, 0);
  std::vector<int> syncs_seen(kRecords, -1);
  int done = 0;
  // One thread queues them all without waiting: they share a few batches.
  for (int i = 0; i < kRecords; ++i) {
    auto call = MakeCall("Encrypt", "{}");
    log->RecordAsync(call.Outcome(), [&, i](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      std::lock_guard lock(mutex);
      ++acknowledged[i];
      syncs_seen[i] = file_system_.syncs.load();
      if (++done == kRecords) all_done.notify_one();
    });
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(all_done.wait_for(lock, std::chrono::seconds(30), [&] { return done == kRecords; }));
  }
  for (int i = 0; i < kRecords; ++i) {
    EXPECT_EQ(acknowledged[i], 1) << "record " << i;
    EXPECT_GE(syncs_seen[i], 1) << "record " << i << " acknowledged before any fdatasync";
  }
  EXPECT_LT(file_system_.syncs, kRecords);  // batched
  log.reset();
  EXPECT_EQ(AllRecords().size(), static_cast<size_t>(kRecords));
}

// Two committers overlap fdatasyncs, but a later batch whose sync finished first is still not
// acknowledged until the earlier batch's sync has returned, and shares its failure.
class OverlappedSyncTest : public AuditLogTest, public ::testing::WithParamInterface<bool> {};

TEST_P(OverlappedSyncTest, LaterBatchWaitsForTheEarlierSyncAndSharesItsFailure) {
  const bool first_sync_fails = GetParam();
  AuditOptions options = Options();
  options.committers = 2;
  auto log = Open(std::move(options));
  ASSERT_TRUE(RecordOne(*log).ok());  // the file exists; the next sync is the first batch's
  file_system_.gate_fails = first_sync_fails;
  file_system_.gate_next_sync = true;

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> order;
  std::vector<absl::Status> statuses(2);
  auto record = [&](int index) {
    auto call = MakeCall(index == 0 ? "Encrypt" : "Decrypt", "{}");
    log->RecordAsync(call.Outcome(), [&, index](absl::Status status) {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(index == 0 ? "first" : "second");
      statuses[index] = std::move(status);
      changed.notify_all();
    });
  };
  record(0);
  while (!file_system_.gate_reached.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The first batch is in its (held) fdatasync, not yet counted; the other committer writes and
  // syncs the second (counted before it may be acknowledged).
  int syncs_before = file_system_.syncs.load();
  record(1);
  for (int i = 0; i < 2000 && file_system_.syncs.load() == syncs_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GT(file_system_.syncs.load(), syncs_before) << "the second batch's sync did not overlap";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_TRUE(order.empty()) << "acknowledged before the earlier batch's fdatasync returned";
  }
  file_system_.release_gate();
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 2; }));
  }
  // (The two callbacks run on the two committers' threads, in either order; what matters is that
  // neither came before the first fdatasync returned.)
  if (first_sync_fails) {
    EXPECT_EQ(TypeOf(statuses[0]), ErrorType::kDependencyTimeout);
    EXPECT_EQ(TypeOf(statuses[1]), ErrorType::kDependencyTimeout)
        << "a later batch survived a failure";
    EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);  // until recovered
  } else {
    EXPECT_TRUE(statuses[0].ok()) << statuses[0];
    EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  }
}

INSTANTIATE_TEST_SUITE_P(FirstSyncSucceedsOrFails, OverlappedSyncTest, ::testing::Bool());

// The chain, the digests and the verifier hold with several committers as with one.
TEST_F(AuditLogTest, SeveralCommittersKeepTheChainWhole) {
  AuditOptions options = Options();
  options.committers = 3;
  options.digest_every_records = 50;
  RecordConcurrently(Open(std::move(options)), 8, 60);
  EXPECT_GE(ExpectWholeChain(8 * 60).digests, 2);
}

TEST_F(AuditLogTest, RecordAsyncAfterAFailureAnswersAtOnceWithTheFailure) {
  auto log = Open(Options());
  file_system_.fail_sync = true;
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
  file_system_.fail_sync = false;
  std::thread::id caller = std::this_thread::get_id();
  std::thread::id called_on;
  absl::Status seen;
  auto call = MakeCall("Encrypt", "{}");
  log->RecordAsync(call.Outcome(), [&](absl::Status status) {
    called_on = std::this_thread::get_id();
    seen = std::move(status);
  });
  EXPECT_EQ(called_on, caller);
  EXPECT_EQ(TypeOf(seen), ErrorType::kDependencyTimeout);
}

TEST_F(AuditLogTest, WriteFailureRefusesThisAndLaterRequestsUntilTheLogHasRecovered) {
  auto log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  file_system_.fail_append = true;
  absl::Status failed = RecordOne(*log);
  EXPECT_EQ(TypeOf(failed), ErrorType::kDependencyTimeout);
  file_system_.fail_append = false;  // the disk is back, but the log has not tried again yet
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
  EXPECT_EQ(TypeOf(log->WriteDigest()), ErrorType::kDependencyTimeout);
}

TEST_F(AuditLogTest, SyncFailureRefusesRequests) {
  auto log = Open(Options());
  file_system_.fail_sync = true;
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
  file_system_.fail_sync = false;
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
}

// Clients learn that kmsd cannot audit, not where its files are or what the system said; the
// server's Failure() (for its log and /ready) keeps the cause.
TEST_F(AuditLogTest, RefusalsNameNoCauseButFailureDoes) {
  auto log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  file_system_.fail_sync = true;
  absl::Status refused = RecordOne(*log);
  EXPECT_EQ(ToStd(refused.message()).find(dir_.path()), std::string::npos) << refused;
  EXPECT_NE(ToStd(refused.message()).find("audit trail"), std::string::npos) << refused;
  EXPECT_EQ(ToStd(refused.message()).find("injected"), std::string::npos) << refused;
  EXPECT_NE(ToStd(log->Failure().message()).find("injected: fdatasync failed"), std::string::npos)
      << log->Failure();
}

TEST_F(AuditLogTest, FailureIsOkUntilASyncFailsThenHeldUntilRecovered) {
  auto log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  EXPECT_TRUE(log->Failure().ok());
  file_system_.fail_sync = true;
  EXPECT_FALSE(RecordOne(*log).ok());
  file_system_.fail_sync = false;
  EXPECT_EQ(TypeOf(log->Failure()), ErrorType::kDependencyTimeout);
}

TEST_F(AuditLogTest, ReportsEachFsyncAndBatchToTheMetrics) {
  metrics::Registry registry;
  AuditOptions options = Options();
  options.metrics = &registry;
  auto log = Open(std::move(options));
  ASSERT_TRUE(RecordOne(*log).ok());
  ASSERT_TRUE(RecordOne(*log).ok());
  std::string text = registry.Render();
  // One record per batch here: each Record waits for its own fdatasync.
  EXPECT_NE(text.find("kmsd_audit_fsync_seconds_count 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kmsd_audit_batch_records_bucket{le=\"1\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kmsd_audit_batch_records_sum 2\n"), std::string::npos) << text;
}

TEST_F(AuditLogTest, FileThatCannotBeCreatedRefusesRequests) {
  file_system_.fail_open = true;
  auto log = Open(Options());
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
}

TEST_F(AuditLogTest, RotatesBySizeAndSignsEachFile) {
  AuditOptions options = Options();
  options.max_file_bytes = 2000;
  auto log = Open(options);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  auto files = testing::TrailFiles(dir_.audit());
  EXPECT_GT(files.size(), 3u);
  EXPECT_GE(testing::ReadLines(dir_.audit() + "/digests.jsonl").size(), files.size());
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 30);
  EXPECT_EQ(report.last_signed_sequence, 30);
}

// Spares need a file system that overwrites in place (ext4, XFS); elsewhere they are skipped.
bool TempDirTakesSpares(const std::string& dir) {
  std::atomic<bool> stop{false};
  std::string probe = dir + "/.probe-spare";
  absl::Status status = DefaultFileSystem()->CreateSpare(probe, 4096, stop);
  std::filesystem::remove(probe);
  return status.ok();
}

bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 1000 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

uint64_t FileSize(const std::string& path) { return std::filesystem::file_size(path); }

TEST_F(AuditLogTest, NewFilesBeginFromAZeroFilledSpareAndAreCutWhenClosed) {
  if (!TempDirTakesSpares(dir_.path())) {
    GTEST_SKIP() << "the temp dir's file system takes no spares";
  }
  AuditOptions options = Options();
  options.max_file_bytes = 4000;
  options.preallocate = true;
  auto log = Open(options);
  const std::string spare = dir_.audit() + "/.trail-spare";
  ASSERT_TRUE(Eventually([&] { return file_system_.spares_created >= 1; }));
  EXPECT_EQ(FileSize(spare), 4000u + (1 << 20));

  ASSERT_TRUE(RecordOne(*log).ok());
  EXPECT_EQ(file_system_.spares_adopted, 1);
  // The live file is the spare, renamed: one record, then zeros to the spare's size. Readers
  // stop at the padding.
  std::string live = testing::TrailFiles(dir_.audit()).at(0);
  std::string content = testing::ReadAll(live);
  EXPECT_EQ(content.size(), 4000u + (1 << 20));
  size_t end = content.find('\n') + 1;
  EXPECT_EQ(content.find_first_not_of('\0', end), std::string::npos);
  EXPECT_EQ(json::parse(content.substr(0, end - 1))["sequenceNumber"], 1);
  EXPECT_TRUE(Verify().ok) << FormatVerifyReport(Verify());
  std::ostringstream out;
  auto matched = QueryTrail(dir_.audit(), {}, QueryFormat::kJsonLines, out);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_EQ(*matched, 1);
  EXPECT_EQ(out.str(), content.substr(0, end));

  // Fill the file past max_file_bytes once a second spare is ready: the next file adopts it and
  // the first is cut to its records.
  ASSERT_TRUE(Eventually([&] { return file_system_.spares_created >= 2; }));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  auto files = testing::TrailFiles(dir_.audit());
  ASSERT_GE(files.size(), 2u);
  EXPECT_EQ(file_system_.spares_adopted, 2);
  std::string closed = testing::ReadAll(files[0]);
  EXPECT_EQ(closed.find('\0'), std::string::npos);
  EXPECT_EQ(closed.back(), '\n');

  log.reset();
  EXPECT_FALSE(std::filesystem::exists(spare)) << "the spare outlived the log";
  for (const std::string& file : testing::TrailFiles(dir_.audit())) {
    std::string bytes = testing::ReadAll(file);
    EXPECT_EQ(bytes.find('\0'), std::string::npos) << file;
    EXPECT_EQ(FileSize(file), bytes.size());
  }
  ExpectWholeChain(11);
}

TEST_F(AuditLogTest, APlainFirstFileGivesWayToTheSpareOnceItIsReady) {
  if (!TempDirTakesSpares(dir_.path())) {
    GTEST_SKIP() << "the temp dir's file system takes no spares";
  }
  file_system_.hold_spares = true;
  AuditOptions options = Options();
  options.preallocate = true;
  auto log = Open(options);
  ASSERT_TRUE(RecordOne(*log).ok());  // no spare yet: a plain file
  ASSERT_TRUE(RecordOne(*log).ok());
  EXPECT_EQ(testing::TrailFiles(dir_.audit()).size(), 1u);
  file_system_.hold_spares = false;
  ASSERT_TRUE(Eventually([&] { return file_system_.spares_created >= 1; }));
  ASSERT_TRUE(RecordOne(*log).ok());
  auto files = testing::TrailFiles(dir_.audit());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(file_system_.spares_adopted, 1);
  EXPECT_EQ(testing::ReadLines(files[0]).size(), 2u);
  EXPECT_GT(FileSize(files[1]), 1u << 20);  // the spare, padded
  log.reset();
  ExpectWholeChain(3);
}

TEST_F(AuditLogTest, ASpareRemovedByHandMeansAPlainFile) {
  if (!TempDirTakesSpares(dir_.path())) {
    GTEST_SKIP() << "the temp dir's file system takes no spares";
  }
  AuditOptions options = Options();
  options.preallocate = true;
  auto log = Open(options);
  ASSERT_TRUE(Eventually([&] { return file_system_.spares_created >= 1; }));
  file_system_.hold_spares = true;  // no next spare while the file's fate is checked
  ASSERT_TRUE(std::filesystem::remove(dir_.audit() + "/.trail-spare"));
  ASSERT_TRUE(RecordOne(*log).ok());
  ASSERT_TRUE(RecordOne(*log).ok());
  EXPECT_EQ(file_system_.spares_adopted, 0);
  auto files = testing::TrailFiles(dir_.audit());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(testing::ReadAll(files[0]).find('\0'), std::string::npos);
  file_system_.hold_spares = false;
  log.reset();
  ExpectWholeChain(2);
}

TEST_F(AuditLogTest, WithoutSparesFilesArePlain) {
  // A spare that cannot be made (full disk) leaves plain files; a stale spare is removed at
  // start, since a crash may have left it half written.
  std::filesystem::create_directories(dir_.audit());
  testing::WriteLines(dir_.audit() + "/.trail-spare", {"left by a crash"});
  testing::WriteLines(dir_.audit() + "/.trail-spare.partial", {"left by a crash"});
  file_system_.fail_spare = true;
  AuditOptions options = Options();
  options.max_file_bytes = 2000;
  options.preallocate = true;
  auto log = Open(options);
  EXPECT_FALSE(std::filesystem::exists(dir_.audit() + "/.trail-spare"));
  EXPECT_FALSE(std::filesystem::exists(dir_.audit() + "/.trail-spare.partial"));
  RecordConcurrently(std::move(log), 4, 10);
  EXPECT_EQ(file_system_.spares_adopted, 0);
  EXPECT_GT(testing::TrailFiles(dir_.audit()).size(), 3u);
  ExpectWholeChain(40);
}

TEST_F(AuditLogTest, RotatesByAge) {
  AuditOptions options = Options();
  options.max_file_age_seconds = 3600;
  auto log = Open(options);
  ASSERT_TRUE(RecordOne(*log).ok());
  ASSERT_TRUE(RecordOne(*log).ok());
  clock_.Advance(3600);
  ASSERT_TRUE(RecordOne(*log).ok());
  auto files = testing::TrailFiles(dir_.audit());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[1].find("trail-00000000000000000003-20240501T110000Z.jsonl"), std::string::npos)
      << files[1];
}

TEST_F(AuditLogTest, WritesADigestEveryNRecords) {
  AuditOptions options = Options();
  options.digest_every_records = 5;
  auto log = Open(options);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  ASSERT_TRUE(log->WriteDigest().ok());
  auto digests = testing::ReadLines(dir_.audit() + "/digests.jsonl");
  ASSERT_GE(digests.size(), 3u);
  json first = json::parse(digests[0]);
  EXPECT_EQ(first["firstSequence"], 1);
  EXPECT_GE(first["lastSequence"], 5);
  EXPECT_EQ(json::parse(digests.back())["lastSequence"], 12);
}

TEST_F(AuditLogTest, WritesADigestAfterSomeSeconds) {
  AuditOptions options = Options();
  options.digest_every_seconds = 60;
  auto log = Open(options);
  ASSERT_TRUE(RecordOne(*log).ok());
  clock_.Advance(61);
  // The writer checks the time at least once a second.
  // Wait for the line, not the file: the file exists (and its directory is fsynced) before the
  // digest is appended, and a loaded machine can take longer than a poll between the two.
  for (int i = 0; i < 30 && testing::ReadLines(dir_.audit() + "/digests.jsonl").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(testing::ReadLines(dir_.audit() + "/digests.jsonl").size(), 1u);
}

TEST_F(AuditLogTest, ShutdownSignsTheLastRecords) {
  auto log = Open(Options());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.last_signed_sequence, 3);
}

TEST_F(AuditLogTest, RestartContinuesTheChain) {
  auto log = Open(Options());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  clock_.Advance(10);
  log = Open(Options());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  std::vector<json> records = AllRecords();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[3]["sequenceNumber"], 4);
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 5);
}

TEST_F(AuditLogTest, RestartCutsATornUnacknowledgedLine) {
  auto log = Open(Options());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  std::string file = testing::TrailFiles(dir_.audit())[0];
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << R"({"eventVersion":"1.08","userIdent)";  // a crash mid-write
  }
  log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 3);
}

TEST_F(AuditLogTest, RestartCutsThePaddingAndWhatACrashLeftInIt) {
  auto log = Open(Options());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  std::string file = testing::TrailFiles(dir_.audit())[0];
  uint64_t records = FileSize(file);
  // A file begun from a spare, as a crash leaves it: zero padding is only padding...
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << std::string(5000, '\0');
  }
  EXPECT_TRUE(Verify().ok) << FormatVerifyReport(Verify());
  // ...but a batch whose pages reached the disk out of order is not: part of a record, zeros
  // where a page never arrived, then the rest of the batch.
  {
    std::ofstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(records));
    out << R"({"eventVersion":"1.08","userIdent)";
    out.seekp(static_cast<std::streamoff>(records + 4096));
    out << R"(ity":{}},"sequenceNumber":4,"previousHash":"00"})" << '\n';
  }
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "truncated") << FormatVerifyReport(report);

  log = Open(Options());
  EXPECT_EQ(FileSize(file), records);
  ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  ExpectWholeChain(3);
}

TEST_F(AuditLogTest, RestartSignsWhatACrashLeftUnsigned) {
  auto log = Open(Options());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  // As if kmsd had crashed before its shutdown digest.
  std::filesystem::remove(dir_.audit() + "/digests.jsonl");
  clock_.Advance(10);
  log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());  // goes into a second file
  EXPECT_EQ(json::parse(testing::ReadLines(dir_.audit() + "/digests.jsonl")[0])["lastSequence"], 3);
  log.reset();
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.last_signed_sequence, 4);
}

TEST_F(AuditLogTest, RefusesToStartOnATrailShorterThanItsDigests) {
  auto log = Open(Options());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  std::string file = testing::TrailFiles(dir_.audit())[0];
  auto lines = testing::ReadLines(file);
  lines.pop_back();
  testing::WriteLines(file, lines);
  EXPECT_FALSE(OpenAuditLog(Options()).ok());
}

TEST_F(AuditLogTest, PublicKeyIsStableAcrossStarts) {
  Open(Options()).reset();
  auto first = AuditPublicKeyPem(dir_.path());
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->starts_with("-----BEGIN PUBLIC KEY-----"));
  Open(Options()).reset();
  EXPECT_EQ(*AuditPublicKeyPem(dir_.path()), *first);
  TempDir other;
  EXPECT_FALSE(AuditPublicKeyPem(other.path()).ok());
}

// ---- A full disk (issue 16): refuse with 503 while the trail cannot be written, keep what is on
// disk verifiable, and recover by itself once the disk takes data again.

// Each place a write can fail: the trail's append (torn by ENOSPC) and fdatasync, creating the
// next trail file, the digest's append and fdatasync, the directory's sync.
enum class FaultPoint {
  kTrailAppendTorn,
  kTrailSync,
  kTrailFileCreation,
  kDigestAppendTorn,
  kDigestSync,
  kDirectorySync,
};

std::string FaultPointName(const ::testing::TestParamInfo<FaultPoint>& info) {
  switch (info.param) {
    case FaultPoint::kTrailAppendTorn:
      return "TrailAppendTorn";
    case FaultPoint::kTrailSync:
      return "TrailSync";
    case FaultPoint::kTrailFileCreation:
      return "TrailFileCreation";
    case FaultPoint::kDigestAppendTorn:
      return "DigestAppendTorn";
    case FaultPoint::kDigestSync:
      return "DigestSync";
    case FaultPoint::kDirectorySync:
      return "DirectorySync";
  }
  return "";
}

class AuditRecoveryTest : public AuditLogTest, public ::testing::WithParamInterface<FaultPoint> {
 protected:
  AuditOptions RecoveryOptions() {
    AuditOptions options = Options();
    options.retry_interval = std::chrono::milliseconds(20);
    options.on_writable_change = [this](const absl::Status& status) {
      std::lock_guard lock(changes_mutex_);
      changes_.push_back(status);
    };
    return options;
  }

  void Arm(bool on) {
    switch (GetParam()) {
      case FaultPoint::kTrailAppendTorn:
        file_system_.only_path = "/trail-";
        file_system_.tear_append = on;
        break;
      case FaultPoint::kTrailSync:
        file_system_.only_path = "/trail-";
        file_system_.fail_sync = on;
        break;
      case FaultPoint::kTrailFileCreation:
        file_system_.only_path = "/trail-";
        file_system_.fail_open = on;
        break;
      case FaultPoint::kDigestAppendTorn:
        file_system_.only_path = "/digests";
        file_system_.tear_append = on;
        break;
      case FaultPoint::kDigestSync:
        file_system_.only_path = "/digests";
        file_system_.fail_sync = on;
        break;
      case FaultPoint::kDirectorySync:
        file_system_.fail_directory_sync = on;
        break;
    }
  }

  // Makes the log meet the fault; returns the refusal and how many records were acknowledged.
  absl::Status Provoke(AuditLog& log, int& acknowledged) {
    switch (GetParam()) {
      case FaultPoint::kDigestAppendTorn:
      case FaultPoint::kDigestSync:
        EXPECT_TRUE(RecordOne(log).ok());
        ++acknowledged;
        return log.WriteDigest();
      case FaultPoint::kTrailFileCreation:
      case FaultPoint::kDirectorySync:
        clock_.Advance(2 * 24 * 3600);  // the next batch begins a new file
        return RecordOne(log);
      default:
        return RecordOne(log);
    }
  }

  std::mutex changes_mutex_;
  std::vector<absl::Status> changes_;
};

TEST_P(AuditRecoveryTest, RefusesWith503KeepsTheTrailVerifiableAndRecoversByItself) {
  auto log = Open(RecoveryOptions());
  int acknowledged = 0;
  for (int i = 0; i < 3; ++i, ++acknowledged) ASSERT_TRUE(RecordOne(*log).ok());
  Arm(true);
  absl::Status refused = Provoke(*log, acknowledged);
  EXPECT_EQ(TypeOf(refused), ErrorType::kDependencyTimeout) << refused;
  EXPECT_EQ(TypeOf(log->Failure()), ErrorType::kDependencyTimeout);
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout) << "served while failing";

  // While the disk stays full, the tries cut what the failure left, so the trail verifies.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(log->Failure().ok()) << "recovered while the disk was still full";
  VerifyReport during = Verify();
  EXPECT_TRUE(during.ok) << FormatVerifyReport(during);
  EXPECT_EQ(during.records, acknowledged);
  EXPECT_TRUE(during.torn_tail.empty()) << during.torn_tail;

  Arm(false);
  ASSERT_TRUE(Eventually([&] { return log->Failure().ok(); })) << log->Failure();
  ASSERT_TRUE(RecordOne(*log, "Encrypt").ok());
  ++acknowledged;
  log.reset();
  // Exactly the acknowledged records, chained across the failure, all signed.
  VerifyReport after = ExpectWholeChain(acknowledged);
  EXPECT_EQ(after.last_signed_sequence, acknowledged);
  EXPECT_EQ(AllRecords().back()["eventName"], "Encrypt");
  std::lock_guard lock(changes_mutex_);
  ASSERT_EQ(changes_.size(), 2u);
  EXPECT_FALSE(changes_[0].ok());
  EXPECT_TRUE(changes_[1].ok());
}

INSTANTIATE_TEST_SUITE_P(EachWriteAndSync, AuditRecoveryTest,
                         ::testing::Values(FaultPoint::kTrailAppendTorn, FaultPoint::kTrailSync,
                                           FaultPoint::kTrailFileCreation,
                                           FaultPoint::kDigestAppendTorn, FaultPoint::kDigestSync,
                                           FaultPoint::kDirectorySync),
                         FaultPointName);

// Stopped while the disk is still full: the torn record is cut on the way out, so
// `kmsd audit verify` on the stopped server finds nothing wrong.
TEST_F(AuditLogTest, ShutdownWhileTheDiskIsFullLeavesNoTornTail) {
  auto log = Open(Options());  // no recovery before the shutdown
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  file_system_.tear_append = true;
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kDependencyTimeout);
  std::string file = testing::TrailFiles(dir_.audit())[0];
  EXPECT_NE(testing::ReadAll(file).back(), '\n') << "the fault did not tear the record";
  log.reset();
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << FormatVerifyReport(report);
  EXPECT_EQ(report.records, 2);
  EXPECT_TRUE(report.torn_tail.empty()) << report.torn_tail;
  // And a start continues from there.
  file_system_.tear_append = false;
  log = Open(Options());
  ASSERT_TRUE(RecordOne(*log).ok());
  log.reset();
  ExpectWholeChain(3);
}

// If acknowledged records are gone when the log tries again, the trail is not what was promised:
// refuse for good (500), keep the evidence.
TEST_F(AuditLogTest, AcknowledgedRecordsGoneWhileFailingRefusesUntilRestart) {
  AuditOptions options = Options();
  options.retry_interval = std::chrono::milliseconds(20);
  auto log = Open(options);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RecordOne(*log).ok());
  file_system_.fail_sync = true;
  EXPECT_FALSE(RecordOne(*log).ok());
  std::string file = testing::TrailFiles(dir_.audit())[0];
  auto lines = testing::ReadLines(file);
  lines.resize(1);  // two acknowledged records cut off behind kmsd's back
  testing::WriteLines(file, lines);
  file_system_.fail_sync = false;
  ASSERT_TRUE(Eventually([&] { return TypeOf(log->Failure()) == ErrorType::kKmsInternal; }))
      << log->Failure();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(TypeOf(log->Failure()), ErrorType::kKmsInternal) << "retried after a data loss";
  EXPECT_EQ(TypeOf(RecordOne(*log)), ErrorType::kKmsInternal);
  EXPECT_EQ(testing::ReadLines(file).size(), 1u);
}

// Records queued while the disk was full, from many threads, then a recovery: the chain stays
// whole and only acknowledged records are in it.
TEST_F(AuditLogTest, ConcurrentRecordsAcrossAFailureKeepOnlyTheAcknowledgedOnes) {
  AuditOptions options = Options();
  options.retry_interval = std::chrono::milliseconds(5);
  options.committers = 2;
  auto log = Open(options);
  std::atomic<int> acknowledged{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        absl::Status status = RecordOne(*log);
        if (status.ok()) {
          ++acknowledged;
        } else {
          EXPECT_EQ(TypeOf(status), ErrorType::kDependencyTimeout) << status;
        }
      }
    });
  }
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    file_system_.tear_append = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    file_system_.tear_append = false;
  }
  ASSERT_TRUE(Eventually([&] { return log->Failure().ok(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  stop = true;
  for (auto& worker : workers) worker.join();
  log.reset();
  ASSERT_GT(acknowledged.load(), 0);
  VerifyReport report = ExpectWholeChain(acknowledged.load());
  EXPECT_EQ(report.last_signed_sequence, acknowledged.load());
}

}  // namespace
}  // namespace kmsd::audit
