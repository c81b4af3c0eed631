// Grant tokens (src/service/grants.cc): any text a caller passes in GrantTokens. The token is
// parsed and checked against a fixed grant whose token secret is fixed, so seeds made for that
// grant match; a token made for the grant must always parse back and match.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "service/grants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kmsd;
  static const records::GrantRecord* grant = [] {
    auto* record = new records::GrantRecord;
    record->key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    record->grant_id = std::string(64, 'a');
    record->token_secret = fuzz::FixedKey('g');
    return record;
  }();
  std::string_view token = fuzz::AsText(data, size);
  auto claim = grants::ParseToken(token);
  if (claim) {
    fuzz::Check(claim->grant_id.size() == 64, "a parsed grant id is not 64 hex digits");
    fuzz::Check(claim->key_id.size() == 36, "a parsed key id is not a UUID");
    bool matches = grants::TokenMatches(*claim, *grant);
    fuzz::Check(!matches || claim->key_id == grant->key_id, "a token for another key matched");
  }
  grants::IsGrantId(token);
  auto made = grants::MakeToken(*grant);
  fuzz::Check(made.ok(), "MakeToken failed");
  auto reparsed = grants::ParseToken(*made);
  fuzz::Check(reparsed && grants::TokenMatches(*reparsed, *grant), "a made token did not match");
  return 0;
}
