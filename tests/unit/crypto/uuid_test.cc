// UUIDs: random version 4 values, canonical text, strict parsing.
#include "kmsd/uuid.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kmsd/errors.h"

namespace kmsd {
namespace {

TEST(Uuid, NewUuidIsCanonicalLowerCaseVersion4) {
  std::string id = NewUuid();
  ASSERT_TRUE(IsUuid(id));
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC 4122 variant
  for (char c : id) EXPECT_TRUE(c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

TEST(Uuid, NewUuidsDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(NewUuid()).second);
}

// UUIDs come from a per-thread pool refilled from the CSPRNG: threads must not hand out the same
// values, and every value stays version 4 across refills.
TEST(Uuid, ThreadsDrawDistinctUuidsAcrossPoolRefills) {
  constexpr int kThreads = 4;
  constexpr int kEach = 1000;  // several refills of a 64-UUID pool
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) drawn[t].push_back(NewUuid());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> seen;
  for (const auto& ids : drawn) {
    for (const std::string& id : ids) {
      EXPECT_EQ(id[14], '4');
      EXPECT_TRUE(seen.insert(id).second) << id;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

TEST(Uuid, BytesRoundTripAndTextComesBackLowerCase) {
  auto bytes = UuidToBytes("1234ABCD-12ab-34cd-56ef-1234567890AB");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[0]), 0x12);
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[15]), 0xab);
  EXPECT_EQ(UuidFromBytes(*bytes), "1234abcd-12ab-34cd-56ef-1234567890ab");
}

TEST(Uuid, RejectsAnythingButTheCanonicalForm) {
  for (std::string_view bad :
       {"", "1234", "1234abcd12ab34cd56ef1234567890ab", "{1234abcd-12ab-34cd-56ef-1234567890ab}",
        "1234abcd-12ab-34cd-56ef-1234567890a", "1234abcd-12ab-34cd-56ef-1234567890abc",
        "1234abcd_12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890ag",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", " 234abcd-12ab-34cd-56ef-1234567890ab"}) {
    EXPECT_FALSE(IsUuid(bad)) << bad;
    EXPECT_EQ(TypeOf(UuidToBytes(bad).status()), ErrorType::kValidation) << bad;
  }
}

}  // namespace
}  // namespace kmsd
