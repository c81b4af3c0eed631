// Policy strings: compiling `*`, `?` and `${...}` once, and matching them against request values.
#include "policy/pattern.h"

#include <utility>

#include "kmsd/strings.h"

namespace kmsd::policy::internal {
namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWith(std::string_view text, std::string_view prefix, bool ignore_case) {
  if (text.size() < prefix.size()) return false;
  if (!ignore_case) return text.substr(0, prefix.size()) == prefix;
  return EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The inside of `${...}` as AWS documents it: `key` or `key, 'default'`. nullopt when it is
// neither (the text is then kept literally).
struct VariableReference {
  std::string key;
  std::optional<std::string> fallback;
};
std::optional<VariableReference> ParseVariable(std::string_view inside) {
  VariableReference reference;
  size_t comma = inside.find(',');
  std::string_view key = Trim(inside.substr(0, comma));
  if (key.empty()) return std::nullopt;
  for (char c : key) {
    if (c == '$' || c == '{' || c == '}' || c == '\'' || c == ' ') return std::nullopt;
  }
  reference.key = AsciiLower(key);
  if (comma != std::string_view::npos) {
    std::string_view fallback = Trim(inside.substr(comma + 1));
    if (fallback.size() < 2 || fallback.front() != '\'' || fallback.back() != '\'') {
      return std::nullopt;
    }
    reference.fallback = std::string(fallback.substr(1, fallback.size() - 2));
  }
  return reference;
}

// One UTF-8 character: `?` matches a character, not a byte.
size_t CharacterLength(std::string_view text, size_t at) {
  size_t end = at + 1;
  while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
  return end - at;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

Pattern Pattern::Compile(std::string_view text, PatternOptions options) {
  Pattern pattern;
  pattern.source_ = std::string(text);
  pattern.ignore_case_ = options.ignore_case;
  auto append_literal = [&pattern](std::string_view literal) {
    if (literal.empty()) return;
    if (pattern.pieces_.empty() || pattern.pieces_.back().kind != Piece::Kind::kLiteral) {
      pattern.pieces_.push_back({Piece::Kind::kLiteral, {}, std::nullopt});
    }
    pattern.pieces_.back().text.append(literal);
  };
  size_t at = 0;
  while (at < text.size()) {
    char c = text[at];
    if (options.wildcards && (c == '*' || c == '?')) {
      Piece::Kind kind = c == '*' ? Piece::Kind::kAnyRun : Piece::Kind::kAnyCharacter;
      // `**` means what `*` means; keeping one keeps the matcher's backtracking linear.
      if (!(kind == Piece::Kind::kAnyRun && !pattern.pieces_.empty() &&
            pattern.pieces_.back().kind == Piece::Kind::kAnyRun)) {
        pattern.pieces_.push_back({kind, {}, std::nullopt});
      }
      ++at;
      continue;
    }
    if (options.variables && c == '$' && at + 1 < text.size() && text[at + 1] == '{') {
      size_t close = text.find('}', at + 2);
      if (close != std::string_view::npos) {
        std::string_view inside = text.substr(at + 2, close - at - 2);
        if (inside == "*" || inside == "?" || inside == "$") {  // AWS's escapes
          append_literal(inside);
          at = close + 1;
          continue;
        }
        if (auto reference = ParseVariable(inside)) {
          pattern.pieces_.push_back(
              {Piece::Kind::kVariable, std::move(reference->key), std::move(reference->fallback)});
          pattern.has_variables_ = true;
          at = close + 1;
          continue;
        }
      }
    }
    size_t end = at + 1;
    while (end < text.size() && !(options.wildcards && (text[end] == '*' || text[end] == '?')) &&
           !(options.variables && text[end] == '$')) {
      ++end;
    }
    append_literal(text.substr(at, end - at));
    at = end;
  }

  const auto& pieces = pattern.pieces_;
  if (pattern.has_variables_) {
    pattern.shape_ = Shape::kGeneral;
  } else if (pieces.empty()) {
    pattern.shape_ = Shape::kLiteral;
  } else if (pieces.size() == 1 && pieces[0].kind == Piece::Kind::kLiteral) {
    pattern.shape_ = Shape::kLiteral;
    pattern.literal_ = pieces[0].text;
  } else if (pieces.size() == 1 && pieces[0].kind == Piece::Kind::kAnyRun) {
    pattern.shape_ = Shape::kEverything;
  } else if (pieces.size() == 2 && pieces[0].kind == Piece::Kind::kLiteral &&
             pieces[1].kind == Piece::Kind::kAnyRun) {
    pattern.shape_ = Shape::kPrefix;
    pattern.literal_ = pieces[0].text;
  } else {
    pattern.shape_ = Shape::kGeneral;
  }
  return pattern;
}

std::optional<std::string_view> Pattern::Resolve(const Piece& piece,
                                                 const RequestContext& context) const {
  if (piece.kind == Piece::Kind::kLiteral) return std::string_view(piece.text);
  const std::vector<std::string>* values = context.Find(piece.text);
  // A multi-valued key cannot stand in for one string (AWS: no multivalued keys as variables).
  if (values != nullptr && values->size() == 1) return std::string_view((*values)[0]);
  if (piece.fallback) return std::string_view(*piece.fallback);
  return std::nullopt;
}

Match Pattern::Matches(std::string_view input, const RequestContext& context) const {
  switch (shape_) {
    case Shape::kEverything:
      return Match::kYes;
    case Shape::kLiteral:
      return (ignore_case_ ? EqualsIgnoreCase(input, literal_) : input == literal_) ? Match::kYes
                                                                                    : Match::kNo;
    case Shape::kPrefix:
      return StartsWith(input, literal_, ignore_case_) ? Match::kYes : Match::kNo;
    case Shape::kGeneral:
      break;
  }
  if (has_variables_) {
    for (const Piece& piece : pieces_) {
      if (piece.kind == Piece::Kind::kVariable && !Resolve(piece, context)) {
        return Match::kUnresolved;
      }
    }
  }
  return MatchPieces(input, context) ? Match::kYes : Match::kNo;
}

// Glob matching with backtracking to the last `*` only: each `*` can only grow, so the work is
// bounded by input size times pattern size, whatever the policy's author wrote.
bool Pattern::MatchPieces(std::string_view input, const RequestContext& context) const {
  const size_t count = pieces_.size();
  size_t piece = 0;
  size_t at = 0;
  size_t resume_piece = count + 1;  // none yet
  size_t resume_at = 0;
  while (true) {
    if (piece < count) {
      const Piece& current = pieces_[piece];
      if (current.kind == Piece::Kind::kAnyRun) {
        if (piece + 1 == count) return true;  // a trailing `*` takes whatever is left
        resume_piece = ++piece;
        resume_at = at;
        continue;
      }
      if (current.kind == Piece::Kind::kAnyCharacter) {
        if (at < input.size()) {
          at += CharacterLength(input, at);
          ++piece;
          continue;
        }
      } else {
        std::string_view text = *Resolve(current, context);  // resolved by Matches
        if (StartsWith(input.substr(at), text, ignore_case_)) {
          at += text.size();
          ++piece;
          continue;
        }
      }
    } else if (at == input.size()) {
      return true;
    }
    // Mismatch: let the last `*` take one more character, or fail if there is none.
    if (resume_piece > count || resume_at >= input.size()) return false;
    resume_at += CharacterLength(input, resume_at);
    at = resume_at;
    piece = resume_piece;
  }
}

}  // namespace kmsd::policy::internal
