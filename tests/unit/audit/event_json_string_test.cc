// AppendJsonString writes a string exactly as nlohmann's dump (error_handler_t::replace) does:
// every short byte string, and random ones, compared with nlohmann itself.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "audit/event.h"
#include "audit/trail_format.h"
#include "nlohmann/json.hpp"

namespace kmsd::audit {
namespace {

std::string Hex(const std::string& bytes) {
  std::string hex;
  for (unsigned char c : bytes) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 0xF];
    hex += ' ';
  }
  return hex;
}

// Every one- and two-byte string, then three- and four-byte strings of the bytes where UTF-8
// decoding changes.
TEST(AppendJsonString, MatchesNlohmannForEveryShortByteString) {
  auto expect_same = [](const std::string& text) {
    std::string actual = "prefix";
    AppendJsonString(actual, text);
    std::string expected = "prefix" + DumpJson(nlohmann::json(text));
    ASSERT_EQ(actual, expected) << "bytes: " << Hex(text);
  };
  for (int a = 0; a < 256; ++a) {
    expect_same(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      expect_same(std::string{static_cast<char>(a), static_cast<char>(b)});
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  const std::vector<int> edges = {0x00, 0x1f, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                  0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed,
                                  0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  for (int a : edges) {
    for (int b : edges) {
      for (int c : edges) {
        std::string three{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        expect_same(three);
        for (int d : edges) {
          expect_same(three + static_cast<char>(d));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(AppendJsonString, MatchesNlohmannForRandomByteStrings) {
  std::mt19937_64 random(7);
  const std::string alphabet =
      "ab\"\\/\x01\x1f\x7f\x80\xbf\xc2\xc3\xa9\xe2\x82\xac\xed\xa0\xf0\x9f\x94\x91\xf4\x90\xff";
  for (int i = 0; i < 200000; ++i) {
    std::string text;
    size_t size = random() % 40;
    for (size_t j = 0; j < size; ++j) {
      text += random() % 4 ? alphabet[random() % alphabet.size()] : static_cast<char>(random());
    }
    std::string actual;
    AppendJsonString(actual, text);
    ASSERT_EQ(actual, DumpJson(nlohmann::json(text))) << "bytes: " << Hex(text);
  }
}

}  // namespace
}  // namespace kmsd::audit
