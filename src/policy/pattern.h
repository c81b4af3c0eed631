// The strings of a compiled policy (Action, Resource and condition values) with their wildcards
// and policy variables found once, at Parse, so that matching a request parses nothing and, when
// a string has no variables, allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmsd/policy.h"

namespace kmsd::policy::internal {

// The outcome of matching a policy string against a request value. AWS treats a statement whose
// policy variable cannot be resolved (the key is absent and there is no default) as not applying
// at all, whatever its Effect or operator, so that case is kept apart from a plain mismatch.
enum class Match : uint8_t { kNo, kYes, kUnresolved };

struct PatternOptions {
  bool wildcards = false;    // `*` and `?` match (Action, Resource, StringLike, ArnLike)
  bool variables = false;    // `${...}` is substituted (Version 2012-10-17, Resource, conditions)
  bool ignore_case = false;  // ASCII case-insensitive (Action, StringEqualsIgnoreCase)
};

class Pattern {
 public:
  Pattern() = default;
  static Pattern Compile(std::string_view text, PatternOptions options);

  Match Matches(std::string_view input, const RequestContext& context) const;

  // The string as written in the policy.
  const std::string& source() const { return source_; }
  bool has_variables() const { return has_variables_; }
  // `*` alone, with wildcards on: matches every value, resolves nothing.
  bool matches_everything() const { return shape_ == Shape::kEverything; }

 private:
  struct Piece {
    enum class Kind : uint8_t { kLiteral, kAnyRun, kAnyCharacter, kVariable };
    Kind kind = Kind::kLiteral;
    std::string text;                     // kLiteral: the text; kVariable: the lower-cased key name
    std::optional<std::string> fallback;  // kVariable: `${key, 'default'}`
  };
  // Common shapes get a direct comparison instead of the general matcher.
  enum class Shape : uint8_t { kLiteral, kEverything, kPrefix, kGeneral };

  std::optional<std::string_view> Resolve(const Piece& piece, const RequestContext& context) const;
  bool MatchPieces(std::string_view input, const RequestContext& context) const;

  std::string source_;
  std::string literal_;  // kLiteral: the whole text; kPrefix: the text before the final `*`
  std::vector<Piece> pieces_;
  Shape shape_ = Shape::kLiteral;
  bool ignore_case_ = false;
  bool has_variables_ = false;
};

// ASCII case-insensitive equality and prefix test, without allocating.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace kmsd::policy::internal
