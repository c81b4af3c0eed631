// See worker_pool.h.
#include "envelope/worker_pool.h"

namespace kmsd::envelope {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  Wait().IgnoreError();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::Submit(std::vector<Job> jobs) {
  if (threads_.empty()) {
    for (Job& job : jobs) {
      absl::Status status = job();
      if (status_.ok()) status_ = std::move(status);
    }
    return;
  }
  {
    std::lock_guard lock(mutex_);
    for (Job& job : jobs) queue_.push_back(std::move(job));
    unfinished_ += jobs.size();
  }
  work_ready_.notify_all();
}

absl::Status WorkerPool::Wait() {
  std::unique_lock lock(mutex_);
  batch_done_.wait(lock, [this] { return unfinished_ == 0; });
  absl::Status status = std::move(status_);
  status_ = absl::OkStatus();
  return status;
}

void WorkerPool::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to do
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    absl::Status status = job();
    lock.lock();
    if (status_.ok()) status_ = std::move(status);
    if (--unfinished_ == 0) batch_done_.notify_all();
  }
}

}  // namespace kmsd::envelope
