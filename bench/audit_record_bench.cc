// Microbenchmark (not a test): what auditing costs a request. N threads call AuditLog::Record()
// as fast as they can for a few seconds on a real disk; prints records/s, latency and how many
// records each fdatasync carried. Usage: audit_record_bench [DIR [SECONDS [--no-sync]]]. Build and
// run: see docs/BENCHMARKS.md, "Audit cost".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kmsd/audit.h"

namespace {

using Clock = std::chrono::steady_clock;

// Counts fdatasyncs on the way to the real file system, to show the group commit at work.
// With skip_sync it isolates the CPU cost of building and chaining records.
class CountingFileSystem : public kmsd::audit::FileSystem {
 public:
  explicit CountingFileSystem(bool skip_sync) : skip_sync_(skip_sync) {}
  const bool skip_sync_;
  std::atomic<long> syncs{0};
  absl::StatusOr<std::unique_ptr<kmsd::audit::AppendFile>> OpenAppend(
      const std::string& path) override {
    auto file = kmsd::audit::DefaultFileSystem()->OpenAppend(path);
    if (!file.ok()) return file.status();
    return std::unique_ptr<kmsd::audit::AppendFile>(new File(this, std::move(*file)));
  }
  absl::Status SyncDirectory(const std::string& path) override {
    return kmsd::audit::DefaultFileSystem()->SyncDirectory(path);
  }

 private:
  class File : public kmsd::audit::AppendFile {
   public:
    File(CountingFileSystem* owner, std::unique_ptr<kmsd::audit::AppendFile> real)
        : owner_(owner), real_(std::move(real)) {}
    absl::Status Append(std::string_view data) override { return real_->Append(data); }
    absl::Status Sync() override {
      ++owner_->syncs;
      return owner_->skip_sync_ ? absl::OkStatus() : real_->Sync();
    }

   private:
    CountingFileSystem* owner_;
    std::unique_ptr<kmsd::audit::AppendFile> real_;
  };
};

// A typical Encrypt as the API layer reports it.
struct Request {
  kmsd::HttpRequest http;
  kmsd::Principal principal{"Root", "111122223333", "arn:aws:iam::111122223333:root",
                            "111122223333", "AKIAEXAMPLEROOT00001"};
  absl::Status status;
  std::string response =
      R"({"CiphertextBlob":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})";
  Request() {
    http.method = "POST";
    http.headers = {{"user-agent", "Boto3/1.26 Python/3.11"},
                    {"x-amz-target", "TrentService.Encrypt"}};
    http.body =
        R"({"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"tenant":"acme","purpose":"bench"}})";
    http.remote_address = "127.0.0.1";
    http.request_id = "11111111-2222-4333-8444-555555555555";
  }
  kmsd::RequestOutcome Outcome() const {
    return {"Encrypt", http, &principal, status, response, ""};
  }
};

void Run(const std::string& base, int threads, double seconds, bool skip_sync) {
  std::string dir = base + "/bench-" + std::to_string(threads);
  std::filesystem::remove_all(dir);
  CountingFileSystem file_system(skip_sync);
  kmsd::audit::AuditOptions options;
  options.data_dir = dir;
  options.file_system = &file_system;
  auto log = kmsd::audit::OpenAuditLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(log.status().message()).c_str());
    std::exit(1);
  }
  Request request;
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!stop) {
        auto begin = Clock::now();
        if (!(*log)->Record(request.Outcome()).ok()) std::abort();
        latencies[t].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& list : latencies) all.insert(all.end(), list.begin(), list.end());
  std::sort(all.begin(), all.end());
  double mean = 0;
  for (double value : all) mean += value;
  mean /= all.empty() ? 1 : all.size();
  long syncs = file_system.syncs.load();
  std::printf("%7d %12.0f %11.0f %11.0f %11.0f %14.1f\n", threads, all.size() / elapsed, mean,
              all.empty() ? 0 : all[all.size() / 2], all.empty() ? 0 : all[all.size() * 99 / 100],
              syncs ? static_cast<double>(all.size()) / syncs : 0.0);
  log->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : "/var/tmp";
  double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  bool skip_sync = argc > 3 && std::string(argv[3]) == "--no-sync";
  std::printf("%s\n", skip_sync ? "without fdatasync (CPU cost only)" : "with fdatasync");
  std::printf("%7s %12s %11s %11s %11s %14s\n", "threads", "records/s", "mean us", "p50 us",
              "p99 us", "records/fsync");
  for (int threads : {1, 4, 16, 64}) Run(base, threads, seconds, skip_sync);
  return 0;
}
