// Memory for secrets: pages locked in RAM (mlock, so never written to swap), excluded from core
// dumps (MADV_DONTDUMP) and not inherited by a forked child (MADV_WIPEONFORK), each block wiped
// when it is freed. SecretBytes takes all its buffers from the process's SecureArena.
//
// The arena grows in whole chunks of pages and never gives them back (secrets come and go at a
// steady rate; the peak is what must fit). Small blocks come from per-size free lists; a block
// larger than the largest size class gets pages of its own, unmapped when it is freed. When the
// kernel refuses to lock a chunk (RLIMIT_MEMLOCK without CAP_IPC_LOCK), the chunk is still excluded
// from dumps and used unlocked, and the warning handler is called once: secrets may then reach
// swap.
//
// Thread-safe: every member may be called from any thread.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace kmsd {

class SecureArena {
 public:
  struct Options {
    // Bytes mapped (and locked) at a time for small blocks; rounded up to whole pages.
    size_t chunk_bytes = 64 * 1024;
    // Locks pages in RAM; mlock by default, replaceable so tests can make it fail.
    int (*lock_pages)(const void* address, size_t length) = nullptr;
    // Told once when locking first fails; ignored when null.
    void (*warn)(const std::string& message) = nullptr;
  };

  struct Stats {
    size_t mapped_bytes = 0;   // pages held by the arena, small-block chunks and large blocks
    size_t locked_bytes = 0;   // of which locked in RAM
    size_t in_use_bytes = 0;   // bytes of blocks handed out (rounded up to their size class)
    bool lock_failed = false;  // some pages could not be locked
  };

  // The largest block served from the free lists; larger ones get pages of their own.
  static constexpr size_t kLargestSmallBlock = 4096;

  SecureArena() : SecureArena(Options()) {}
  explicit SecureArena(Options options);
  // Unmaps every page; blocks still handed out become invalid. The process's arena is never
  // destroyed, so secrets held by static objects stay valid until exit.
  ~SecureArena();
  SecureArena(const SecureArena&) = delete;
  SecureArena& operator=(const SecureArena&) = delete;

  // The arena SecretBytes uses.
  static SecureArena& Process();

  // A zero-filled block of size bytes (size > 0); throws std::bad_alloc when no pages can be
  // mapped.
  void* Allocate(size_t size);
  // Wipes and takes back a block from Allocate; size must be the size it was allocated with.
  void Free(void* block, size_t size);

  // Whether address lies in pages this arena holds (for tests and diagnostics).
  bool Contains(const void* address) const;
  Stats GetStats() const;

  // Replaces the process arena's warning handler (kmsd routes it to its log).
  static void SetProcessWarningHandler(void (*warn)(const std::string& message));

 private:
  struct Region {
    char* start;
    size_t length;
    bool locked;
  };

  // Maps, excludes from dumps and tries to lock length bytes; throws std::bad_alloc.
  Region MapRegion(size_t length);
  void UnmapRegion(const Region& region);
  static size_t SizeClassIndex(size_t size);

  static constexpr size_t kSizeClasses = 9;  // 16, 32, ..., 4096
  const size_t chunk_bytes_;
  int (*const lock_pages_)(const void*, size_t);
  void (*warn_)(const std::string&);

  mutable std::mutex mutex_;
  std::vector<Region> chunks_;           // guarded by mutex_
  std::vector<Region> large_blocks_;     // guarded by mutex_
  void* free_lists_[kSizeClasses] = {};  // guarded by mutex_; next pointer in each free block
  char* bump_ = nullptr;                 // guarded by mutex_; unused rest of the newest chunk
  char* bump_end_ = nullptr;             // guarded by mutex_
  size_t in_use_bytes_ = 0;              // guarded by mutex_
  bool warned_ = false;                  // guarded by mutex_
};

}  // namespace kmsd
