// SecretBytes: a move-only value whose buffer is fixed at construction.
#include "kmsd/secret_bytes.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <utility>

namespace kmsd {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);

TEST(SecretBytes, SizedConstructionIsZeroFilled) {
  SecretBytes bytes(16);
  EXPECT_EQ(bytes.size(), 16u);
  EXPECT_EQ(bytes.view(), std::string(16, '\0'));
}

TEST(SecretBytes, HoldsArbitraryBytesIncludingNul) {
  std::string raw("a\0b\xff", 4);
  SecretBytes bytes = SecretBytes::FromString(raw);
  EXPECT_EQ(bytes.view(), raw);
  EXPECT_EQ(bytes.span().size(), 4u);
}

TEST(SecretBytes, MovingLeavesTheSourceEmpty) {
  SecretBytes a = SecretBytes::FromString("key");
  const uint8_t* buffer = a.data();
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.view(), "key");
  EXPECT_EQ(b.data(), buffer);  // the buffer moved; no copy of the secret was made
  EXPECT_TRUE(a.empty());       // NOLINT(bugprone-use-after-move): moved-from is defined empty
}

TEST(SecretBytes, MoveAssignmentReplacesTheOldValue) {
  SecretBytes a = SecretBytes::FromString("old secret");
  SecretBytes b = SecretBytes::FromString("new");
  a = std::move(b);
  EXPECT_EQ(a.view(), "new");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytes, SelfMoveAssignmentKeepsTheValue) {
  SecretBytes a = SecretBytes::FromString("same");
  SecretBytes& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.view(), "same");
}

TEST(SecretBytes, CloneIsAnIndependentCopy) {
  SecretBytes a = SecretBytes::FromString("abc");
  SecretBytes b = a.Clone();
  EXPECT_NE(a.data(), b.data());
  b.data()[0] = 'x';
  EXPECT_EQ(a.view(), "abc");
  EXPECT_EQ(b.view(), "xbc");
}

TEST(SecretBytes, ClearEmptiesAndCanBeRepeated) {
  SecretBytes a = SecretBytes::FromString("key");
  a.Clear();
  EXPECT_TRUE(a.empty());
  a.Clear();
  EXPECT_EQ(a.size(), 0u);
}

}  // namespace
}  // namespace kmsd
