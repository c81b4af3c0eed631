// SecureArena: zero-filled blocks, wiped when freed, on pages locked and excluded from core dumps.
#include "kmsd/secure_memory.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kmsd/crypto.h"
#include "kmsd/secret_bytes.h"

namespace kmsd {
namespace {

// The kernel's flags for the mapping that holds address (/proc/self/smaps "VmFlags": "dd" is
// MADV_DONTDUMP, "lo" mlock, "wf" MADV_WIPEONFORK), as a set of two-letter words.
std::set<std::string> VmFlagsOf(const void* address) {
  auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> start >> dash >> end && dash == '-' &&
        line.find(':') > line.find(' ')) {
      inside = target >= start && target < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) {
      std::istringstream words(line.substr(8));
      std::set<std::string> flags;
      for (std::string word; words >> word;) flags.insert(word);
      return flags;
    }
  }
  return {};
}

bool AllZero(const void* block, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(block);
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

TEST(SecureArena, BlocksAreZeroFilled) {
  SecureArena arena;
  for (size_t size : {1u, 16u, 32u, 100u, 4096u, 10000u}) {
    void* block = arena.Allocate(size);
    EXPECT_TRUE(AllZero(block, size)) << size;
    arena.Free(block, size);
  }
}

TEST(SecureArena, FreeWipesTheBlockAndReuseStartsAtZero) {
  SecureArena arena;
  auto* block = static_cast<uint8_t*>(arena.Allocate(32));
  std::memset(block, 0xAB, 32);
  arena.Free(block, 32);
  // The pages stay mapped: all but the free list's link is zero now.
  EXPECT_TRUE(AllZero(block + sizeof(void*), 32 - sizeof(void*)));
  void* again = arena.Allocate(32);
  EXPECT_EQ(again, block);          // the free list hands the same block back...
  EXPECT_TRUE(AllZero(again, 32));  // ...whole zero
  arena.Free(again, 32);
}

TEST(SecureArena, LiveBlocksDoNotOverlap) {
  SecureArena arena(SecureArena::Options{.chunk_bytes = 4096});
  std::vector<std::pair<uint8_t*, size_t>> blocks;
  for (int i = 0; i < 200; ++i) {
    size_t size = 1 + (i * 37) % 700;
    auto* block = static_cast<uint8_t*>(arena.Allocate(size));
    std::memset(block, i & 0xFF, size);
    blocks.emplace_back(block, size);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto [block, size] = blocks[i];
    for (size_t j = 0; j < size; ++j) ASSERT_EQ(block[j], i & 0xFF) << i;
  }
  for (auto [block, size] : blocks) arena.Free(block, size);
  EXPECT_EQ(arena.GetStats().in_use_bytes, 0u);
}

TEST(SecureArena, GrowsInWholeChunks) {
  SecureArena arena(SecureArena::Options{.chunk_bytes = 4096});
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(arena.Allocate(64));  // 12800 bytes: 4 chunks
  SecureArena::Stats stats = arena.GetStats();
  EXPECT_EQ(stats.mapped_bytes % 4096, 0u);
  EXPECT_GE(stats.mapped_bytes, 200u * 64);
  EXPECT_EQ(stats.in_use_bytes, 200u * 64);
  for (void* block : blocks) EXPECT_TRUE(arena.Contains(block));
  for (void* block : blocks) arena.Free(block, 64);
}

TEST(SecureArena, LargeBlocksGetTheirOwnPagesAndGiveThemBack) {
  SecureArena arena;
  void* block = arena.Allocate(100000);
  EXPECT_TRUE(arena.Contains(block));
  EXPECT_TRUE(VmFlagsOf(block).count("dd"));
  arena.Free(block, 100000);
  EXPECT_FALSE(arena.Contains(block));
  EXPECT_EQ(arena.GetStats().mapped_bytes, 0u);
}

TEST(SecureArena, PagesAreLockedAndExcludedFromCoreDumps) {
  SecureArena arena;
  void* block = arena.Allocate(32);
  std::set<std::string> flags = VmFlagsOf(block);
  ASSERT_FALSE(flags.empty()) << "no mapping in /proc/self/smaps holds the block";
  EXPECT_TRUE(flags.count("dd")) << "MADV_DONTDUMP not applied";
  SecureArena::Stats stats = arena.GetStats();
  if (stats.lock_failed) {
    GTEST_SKIP() << "mlock refused here (RLIMIT_MEMLOCK); the fallback is tested below";
  }
  EXPECT_TRUE(flags.count("lo")) << "pages not locked";
  EXPECT_EQ(stats.locked_bytes, stats.mapped_bytes);
  arena.Free(block, 32);
}

int warnings = 0;
std::string last_warning;

TEST(SecureArena, WhenLockingIsRefusedPagesStayOutOfDumpsAndItWarnsOnce) {
  warnings = 0;
  SecureArena arena(SecureArena::Options{
      .chunk_bytes = 4096,
      .lock_pages =
          [](const void*, size_t) {
            errno = ENOMEM;
            return -1;
          },
      .warn =
          [](const std::string& message) {
            ++warnings;
            last_warning = message;
          },
  });
  std::vector<void*> blocks;
  for (int i = 0; i < 3 * 4096 / 256; ++i) blocks.push_back(arena.Allocate(256));  // 3 chunks
  EXPECT_EQ(warnings, 1);
  EXPECT_NE(last_warning.find("RLIMIT_MEMLOCK"), std::string::npos) << last_warning;
  std::set<std::string> flags = VmFlagsOf(blocks.front());
  EXPECT_TRUE(flags.count("dd"));
  EXPECT_FALSE(flags.count("lo"));
  SecureArena::Stats stats = arena.GetStats();
  EXPECT_TRUE(stats.lock_failed);
  EXPECT_EQ(stats.locked_bytes, 0u);
  for (void* block : blocks) arena.Free(block, 256);
}

TEST(SecureArena, AForkedChildSeesZerosWhereTheSecretWas) {
  SecureArena arena;
  auto* block = static_cast<uint8_t*>(arena.Allocate(32));
  std::memset(block, 0x5A, 32);
  if (!VmFlagsOf(block).count("wf")) GTEST_SKIP() << "kernel without MADV_WIPEONFORK";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(AllZero(block, 32) ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child saw the secret";
  EXPECT_EQ(block[0], 0x5A);  // the parent keeps it
  arena.Free(block, 32);
}

TEST(SecureArena, ConcurrentUseKeepsEveryBlockIntact) {
  SecureArena arena(SecureArena::Options{.chunk_bytes = 4096});
  std::vector<std::thread> threads;
  std::atomic<int> corrupted = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        size_t size = 16 + (i % 5) * 16;
        auto* block = static_cast<uint8_t*>(arena.Allocate(size));
        std::memset(block, t + 1, size);
        for (size_t j = 0; j < size; ++j) {
          if (block[j] != t + 1) ++corrupted;
        }
        arena.Free(block, size);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(corrupted.load(), 0);
  EXPECT_EQ(arena.GetStats().in_use_bytes, 0u);
}

TEST(SecretBytes, BuffersLiveInTheProcessArena) {
  SecretBytes key = SecretBytes::FromString(std::string(32, 'k'));
  EXPECT_TRUE(SecureArena::Process().Contains(key.data()));
  EXPECT_TRUE(VmFlagsOf(key.data()).count("dd"));
  SecretBytes large(8192);
  EXPECT_TRUE(SecureArena::Process().Contains(large.data()));
}

TEST(SecretBytes, ClearWipesTheBytesInTheArena) {
  SecretBytes key = SecretBytes::FromString(std::string(64, 'k'));
  const uint8_t* where = key.data();
  key.Clear();
  // The block is back on the arena's free list, still mapped: its bytes past the link are zero.
  EXPECT_TRUE(AllZero(where + sizeof(void*), 64 - sizeof(void*)));
}

TEST(RandomSecret, KeepsItsReadAheadInTheArena) {
  // A fresh thread has no random pool yet; its first secret creates one, of the next secrets.
  size_t before = 0, during = 0;
  std::thread([&] {
    before = SecureArena::Process().GetStats().in_use_bytes;
    auto secret = crypto::RandomSecret(32);
    ASSERT_TRUE(secret.ok());
    during = SecureArena::Process().GetStats().in_use_bytes;
  }).join();
  EXPECT_GE(during, before + 1024 + 32);
}

}  // namespace
}  // namespace kmsd
