// SecureArena: locked, dump-excluded pages for secrets, handed out in size classes.
#include "kmsd/secure_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "kmsd/strings.h"

namespace kmsd {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUpToPages(size_t size) {
  size_t page = PageSize();
  return (size + page - 1) / page * page;
}

constexpr size_t kSmallestBlock = 16;  // room for the free list's next pointer, and alignment

size_t ClassSize(size_t index) { return kSmallestBlock << index; }

// The system call itself, not libc's mlock: sanitizer runtimes (ASan, TSan) intercept mlock and
// munlock as no-ops that report success, so an instrumented kmsd would believe unlocked pages
// locked (found by make sanitize: secure_memory_test saw no "lo" on the arena's pages).
int LockWithMlock(const void* address, size_t length) {
  return static_cast<int>(syscall(SYS_mlock, address, length));
}

// Tools (the kms CLI) stay quiet; kmsd serve routes the warning to its log.
void IgnoreWarning(const std::string&) {}

std::string LockFailureMessage(int error) {
  rlimit limit{};
  getrlimit(RLIMIT_MEMLOCK, &limit);
  std::string allowed = limit.rlim_cur == RLIM_INFINITY
                            ? std::string("unlimited")
                            : StrCat(std::to_string(limit.rlim_cur / 1024), " KiB");
  return StrCat("cannot lock memory for key material (", std::strerror(error),
                "; RLIMIT_MEMLOCK is ", allowed,
                "): secrets are still kept out of core dumps but may be written to swap. Raise the "
                "limit (systemd: LimitMEMLOCK=) or give kmsd CAP_IPC_LOCK.");
}

}  // namespace

SecureArena::SecureArena(Options options)
    : chunk_bytes_(RoundUpToPages(std::max(options.chunk_bytes, kLargestSmallBlock))),
      lock_pages_(options.lock_pages ? options.lock_pages : &LockWithMlock),
      warn_(options.warn ? options.warn : &IgnoreWarning) {}

SecureArena::~SecureArena() {
  for (const Region& region : chunks_) UnmapRegion(region);
  for (const Region& region : large_blocks_) UnmapRegion(region);
}

SecureArena& SecureArena::Process() {
  // Never destroyed: static objects holding secrets may be destroyed after any static arena.
  static SecureArena* const arena = new SecureArena();
  return *arena;
}

void SecureArena::SetProcessWarningHandler(void (*warn)(const std::string& message)) {
  SecureArena& arena = Process();
  std::lock_guard lock(arena.mutex_);
  arena.warn_ = warn ? warn : &IgnoreWarning;
}

SecureArena::Region SecureArena::MapRegion(size_t length) {
  void* mapped = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  // Out of core dumps even when cores are allowed for debugging, and not copied into a child.
  madvise(mapped, length, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
  madvise(mapped, length, MADV_WIPEONFORK);
#endif
  Region region{static_cast<char*>(mapped), length, lock_pages_(mapped, length) == 0};
  if (!region.locked && !warned_) {
    warned_ = true;
    warn_(LockFailureMessage(errno));
  }
  return region;
}

void SecureArena::UnmapRegion(const Region& region) {
  OPENSSL_cleanse(region.start, region.length);
  if (region.locked) syscall(SYS_munlock, region.start, region.length);
  munmap(region.start, region.length);
}

size_t SecureArena::SizeClassIndex(size_t size) {
  size_t index = 0;
  while (ClassSize(index) < size) ++index;
  return index;
}

void* SecureArena::Allocate(size_t size) {
  if (size == 0) size = 1;
  std::lock_guard lock(mutex_);
  if (size > kLargestSmallBlock) {
    Region region = MapRegion(RoundUpToPages(size));
    large_blocks_.push_back(region);
    in_use_bytes_ += region.length;
    return region.start;  // fresh anonymous pages are zero
  }
  size_t index = SizeClassIndex(size);
  size_t block_size = ClassSize(index);
  void* block = free_lists_[index];
  if (block != nullptr) {
    std::memcpy(&free_lists_[index], block, sizeof(void*));
    std::memset(block, 0, sizeof(void*));  // the rest was wiped when it was freed
  } else {
    if (static_cast<size_t>(bump_end_ - bump_) < block_size) {
      Region chunk = MapRegion(chunk_bytes_);
      chunks_.push_back(chunk);
      bump_ = chunk.start;
      bump_end_ = chunk.start + chunk.length;
    }
    block = bump_;
    bump_ += block_size;
  }
  in_use_bytes_ += block_size;
  return block;
}

void SecureArena::Free(void* block, size_t size) {
  if (block == nullptr) return;
  if (size == 0) size = 1;
  std::lock_guard lock(mutex_);
  if (size > kLargestSmallBlock) {
    auto found = std::find_if(large_blocks_.begin(), large_blocks_.end(),
                              [block](const Region& region) { return region.start == block; });
    if (found == large_blocks_.end()) return;  // not ours: nothing safe to do
    in_use_bytes_ -= found->length;
    UnmapRegion(*found);
    large_blocks_.erase(found);
    return;
  }
  size_t index = SizeClassIndex(size);
  OPENSSL_cleanse(block, ClassSize(index));
  std::memcpy(block, &free_lists_[index], sizeof(void*));
  free_lists_[index] = block;
  in_use_bytes_ -= ClassSize(index);
}

bool SecureArena::Contains(const void* address) const {
  const char* byte = static_cast<const char*>(address);
  std::lock_guard lock(mutex_);
  for (const auto* regions : {&chunks_, &large_blocks_}) {
    for (const Region& region : *regions) {
      if (byte >= region.start && byte < region.start + region.length) return true;
    }
  }
  return false;
}

SecureArena::Stats SecureArena::GetStats() const {
  std::lock_guard lock(mutex_);
  Stats stats;
  for (const auto* regions : {&chunks_, &large_blocks_}) {
    for (const Region& region : *regions) {
      stats.mapped_bytes += region.length;
      if (region.locked) stats.locked_bytes += region.length;
      stats.lock_failed = stats.lock_failed || !region.locked;
    }
  }
  stats.in_use_bytes = in_use_bytes_;
  return stats;
}

}  // namespace kmsd
