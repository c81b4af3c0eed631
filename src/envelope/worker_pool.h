// A few threads that run batches of jobs beside the caller: the engine of the envelope pipeline,
// which encrypts or decrypts one block of frames on them while the caller reads the next block
// and writes the previous one. Submit and Wait are called from one thread only.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace kmsd::envelope {

class WorkerPool {
 public:
  using Job = std::function<absl::Status()>;

  // threads = 0 runs every job inside Submit, on the caller's thread.
  explicit WorkerPool(int threads);
  // Waits for the jobs in flight: they may point into buffers their owner is about to free.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts a batch. The previous batch must have been waited for.
  void Submit(std::vector<Job> jobs);
  // Blocks until the batch has finished; the first error of its jobs, if any.
  absl::Status Wait();

  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Work();

  std::mutex mutex_;
  std::condition_variable work_ready_;  // guarded by mutex_: queue_ has a job, or stopping_
  std::condition_variable batch_done_;  // guarded by mutex_: unfinished_ reached 0
  std::deque<Job> queue_;               // guarded by mutex_
  size_t unfinished_ = 0;               // guarded by mutex_
  absl::Status status_;                 // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace kmsd::envelope
