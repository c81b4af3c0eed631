// For tests only: one in-memory store that several "nodes" open, as kmsd nodes share one etcd.
// Each node's Backend is Shared(); every write is reported to every node's watcher (its own
// included) asynchronously, in commit order, from one delivery thread, as an etcd watch would.
// The test drives what a real cluster does by itself: it holds or releases the feed, declares it
// stale or current, makes the store unreachable, moves the leadership, and can run a step between
// a node's read and its commit (to race two nodes deterministically).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kmsd/errors.h"
#include "kmsd/storage.h"

namespace kmsd::testing {

class SharedMemoryStore {
 public:
  static constexpr int kEveryNode = -1;

  SharedMemoryStore() : store_(NewMemoryBackend()) {
    delivery_ = std::thread([this] { Deliver(); });
  }
  ~SharedMemoryStore() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    delivery_.join();
  }
  SharedMemoryStore(const SharedMemoryStore&) = delete;
  SharedMemoryStore& operator=(const SharedMemoryStore&) = delete;

  // A node's view of the store; node ids are 0, 1, 2... in the order opened. The store must
  // outlive every node's backend.
  std::unique_ptr<Backend> OpenNode();

  // Events wait (in order) while held; releasing delivers them.
  void HoldFeed(bool hold) {
    {
      std::lock_guard lock(mutex_);
      held_ = hold;
    }
    wake_.notify_all();
  }
  // Waits (bounded) until every event queued so far has been delivered; false on timeout.
  bool WaitDelivered(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, limit, [this] { return queue_.empty() && !delivering_; });
  }
  // OnStale / OnCurrent to one node's watchers, or every node's (queued behind the changes
  // before it).
  void DeclareStale(int node = kEveryNode) { Enqueue({Event::kStale, "", node}); }
  void DeclareCurrent(int node = kEveryNode) { Enqueue({Event::kCurrent, "", node}); }
  // Every call of every node fails at once, as a store that lost quorum answers with hasleader.
  void SetUnreachable(bool unreachable) {
    std::lock_guard lock(mutex_);
    unreachable_ = unreachable;
  }
  // Which node holds the leadership of every election (-1: none).
  void SetLeader(int node) {
    std::lock_guard lock(mutex_);
    leader_ = node;
  }
  // Runs step once, on the committing thread, just before node's next Commit applies.
  void BeforeNextCommit(int node, std::function<void()> step) {
    std::lock_guard lock(mutex_);
    before_commit_[node] = std::move(step);
  }
  // Refuses (kLimitExceeded, writing nothing) any batch of more writes, or more conditions, than
  // this, as etcd refuses a transaction of more than 128 operations (0: no limit).
  void SetMaxBatchOperations(size_t limit) {
    std::lock_guard lock(mutex_);
    max_batch_operations_ = limit;
  }
  // Commits that reached the store (applied or refused by a condition), and those refused.
  int commits() const {
    std::lock_guard lock(mutex_);
    return commits_;
  }
  int conflicts() const {
    std::lock_guard lock(mutex_);
    return conflicts_;
  }
  // Reads (Get and List) of every node so far.
  int reads() const {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  class Node;
  struct Event {
    enum Kind { kChange, kStale, kCurrent } kind;
    std::string key;
    int node = kEveryNode;
  };
  struct Subscription {
    int node;
    std::string prefix;
    StorageWatcher* watcher;
  };

  absl::Status Unreachable() const {
    return Error(ErrorType::kDependencyTimeout, "the shared test store is unreachable");
  }
  absl::Status CheckReachable() const {
    std::lock_guard lock(mutex_);
    return unreachable_ ? Unreachable() : absl::OkStatus();
  }
  absl::Status CountRead() {
    std::lock_guard lock(mutex_);
    ++reads_;
    return unreachable_ ? Unreachable() : absl::OkStatus();
  }

  absl::Status Commit(int node, const StorageBatch& batch) {
    std::function<void()> step;
    {
      std::lock_guard lock(mutex_);
      if (unreachable_) return Unreachable();
      if (max_batch_operations_ &&
          (batch.puts.size() + batch.deletes.size() > max_batch_operations_ ||
           batch.conditions.size() > max_batch_operations_)) {
        return Error(ErrorType::kLimitExceeded, "the batch exceeds the shared test store's limit");
      }
      auto it = before_commit_.find(node);
      if (it != before_commit_.end()) {
        step = std::move(it->second);
        before_commit_.erase(it);
      }
    }
    if (step) step();
    std::lock_guard commit_lock(commit_mutex_);  // the commit and its events in one order
    absl::Status status = store_->Commit(batch);
    std::lock_guard lock(mutex_);
    ++commits_;
    if (IsStorageConflict(status)) ++conflicts_;
    if (!status.ok()) return status;
    for (const StorageEntry& put : batch.puts) queue_.push_back({Event::kChange, put.key});
    for (const std::string& key : batch.deletes) queue_.push_back({Event::kChange, key});
    wake_.notify_all();
    return status;
  }

  void Enqueue(Event event) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(event));
    }
    wake_.notify_all();
  }

  void Deliver() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || (!held_ && !queue_.empty()); });
      if (stopping_) return;
      Event event = std::move(queue_.front());
      queue_.pop_front();
      std::vector<Subscription> watches = watches_;
      delivering_ = true;
      lock.unlock();
      for (const Subscription& watch : watches) {
        if (event.node != kEveryNode && event.node != watch.node) continue;
        switch (event.kind) {
          case Event::kChange:
            if (event.key.starts_with(watch.prefix)) watch.watcher->OnChange(event.key);
            break;
          case Event::kStale:
            watch.watcher->OnStale();
            break;
          case Event::kCurrent:
            watch.watcher->OnCurrent();
            break;
        }
      }
      lock.lock();
      delivering_ = false;
      idle_.notify_all();
    }
  }

  std::unique_ptr<Backend> store_;
  std::mutex commit_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Event> queue_;                             // GUARDED_BY(mutex_)
  std::vector<Subscription> watches_;                   // GUARDED_BY(mutex_)
  std::map<int, std::function<void()>> before_commit_;  // GUARDED_BY(mutex_)
  bool held_ = false;
  bool delivering_ = false;
  bool stopping_ = false;
  bool unreachable_ = false;
  int leader_ = 0;
  int nodes_ = 0;
  int commits_ = 0;
  int conflicts_ = 0;
  int reads_ = 0;
  size_t max_batch_operations_ = 0;
  std::thread delivery_;
};

class SharedMemoryStore::Node final : public Backend {
 public:
  Node(SharedMemoryStore* store, int id) : store_(store), id_(id) {}
  // Reports nothing more once destroyed: no delivery to this node is in flight after it returns.
  ~Node() override {
    std::unique_lock lock(store_->mutex_);
    std::erase_if(store_->watches_,
                  [this](const Subscription& watch) { return watch.node == id_; });
    store_->idle_.wait(lock, [this] { return !store_->delivering_; });
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    if (auto status = store_->CountRead(); !status.ok()) return status;
    return store_->store_->Get(key);
  }
  absl::Status Put(std::string_view key, std::string_view value) override {
    StorageBatch batch;
    batch.puts.push_back({std::string(key), std::string(value)});
    return Commit(batch);
  }
  absl::Status Delete(std::string_view key) override {
    StorageBatch batch;
    batch.deletes.emplace_back(key);
    return Commit(batch);
  }
  absl::Status Commit(const StorageBatch& batch) override { return store_->Commit(id_, batch); }
  absl::StatusOr<std::vector<StorageEntry>> List(std::string_view prefix,
                                                 std::string_view start_after,
                                                 size_t limit) override {
    if (auto status = store_->CountRead(); !status.ok()) return status;
    return store_->store_->List(prefix, start_after, limit);
  }
  absl::Status Compact() override { return store_->CheckReachable(); }
  bool Shared() const override { return true; }
  absl::Status Watch(std::string_view prefix, StorageWatcher* watcher) override {
    std::lock_guard lock(store_->mutex_);
    store_->watches_.push_back({id_, std::string(prefix), watcher});
    return absl::OkStatus();
  }
  std::unique_ptr<Leadership> Elect(std::string_view /*name*/) override {
    return std::make_unique<NodeLeadership>(store_, id_);
  }

 private:
  class NodeLeadership final : public Leadership {
   public:
    NodeLeadership(SharedMemoryStore* store, int id) : store_(store), id_(id) {}
    bool IsLeader() const override {
      std::lock_guard lock(store_->mutex_);
      return store_->leader_ == id_;
    }

   private:
    SharedMemoryStore* store_;
    int id_;
  };

  SharedMemoryStore* store_;
  int id_;
};

inline std::unique_ptr<Backend> SharedMemoryStore::OpenNode() {
  std::lock_guard lock(mutex_);
  return std::make_unique<Node>(this, nodes_++);
}

}  // namespace kmsd::testing
