// CloudTrail's shape for KMS, IAM and STS events, filled from a RequestOutcome through allowlists
// and written straight into one string. The request and the answer are read by AllowlistedJson, a
// parser that accepts exactly what nlohmann::json::parse accepts and keeps only allowlisted members
// (KMS bodies) or every member but the secret ones (the IAM and STS codecs' JSON); values are
// written exactly as nlohmann's dump wrote them, so the bytes are those of the nlohmann-based
// reference implementation (tests/unit/audit/event_reference.h; it costs ~15 us a request).
#include "audit/event.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "audit/trail_format.h"
#include "kmsd/errors.h"
#include "kmsd/principal.h"
#include "kmsd/strings.h"
#include "kmsd/uuid.h"

namespace kmsd::audit {
namespace {

// The most requestParameters bytes recorded for a request that failed authentication.
constexpr size_t kMaxUnauthenticatedParametersBytes = 4096;

constexpr std::string_view kKmsEventSource = "kms.amazonaws.com";

// Request members worth auditing. Anything else (Plaintext, CiphertextBlob, GrantTokens, Policy
// and whatever a future operation adds) is left out until someone decides it is safe.
constexpr std::array<std::string_view, 39> kRequestAllowlist = {
    "KeyId",
    "EncryptionContext",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
    "KeySpec",
    "NumberOfBytes",
    "EncryptionAlgorithm",
    "SourceEncryptionAlgorithm",
    "DestinationEncryptionAlgorithm",
    "SourceKeyId",
    "DestinationKeyId",
    "AliasName",
    "TargetKeyId",
    "Description",
    "KeyUsage",
    "CustomerMasterKeySpec",
    "Origin",
    "MultiRegion",
    "Tags",
    "TagKeys",
    "Limit",
    "Marker",
    "PendingWindowInDays",
    "RotationPeriodInDays",
    "IncludeKeyMaterial",
    // Sign, Verify, GenerateMac, VerifyMac (issue 13); never Message, Signature or Mac.
    "SigningAlgorithm",
    "MessageType",
    "MacAlgorithm",
    // GenerateDataKeyPair* and DeriveSharedSecret (issue 13); never PublicKey.
    "KeyPairSpec",
    "KeyAgreementAlgorithm",
    // ReplicateKey and UpdatePrimaryRegion (issue 13: multi-Region keys).
    "ReplicaRegion",
    "PrimaryRegion",
    // Imported key material (issue 13); never ImportToken or EncryptedKeyMaterial.
    "WrappingAlgorithm",
    "WrappingKeySpec",
    "ExpirationModel",
    "ValidTo",
    "ImportType",
    "KeyMaterialId",
    "KeyMaterialDescription",  // issue 13: new material for on-demand rotation
};

// Answer members recorded as responseElements (never for cryptographic operations).
constexpr std::array<std::string_view, 11> kResponseAllowlist = {
    "KeyId",
    "KeyMetadata",
    "ReplicaKeyMetadata",  // ReplicateKey (issue 13), as AWS records it
    "GrantId",             // CreateGrant, as AWS records it (never the GrantToken)
    "DeletionDate",
    "KeyState",
    "PendingWindowInDays",
    "KeyRotationEnabled",
    "RotationPeriodInDays",
    "NextRotationDate",
    "SourceKeyId",
};

// Members of an answer that name the key(s) a request touched.
constexpr std::array<std::string_view, 3> kResponseKeyMembers = {"KeyId", "KeyMetadata",
                                                                 "SourceKeyId"};
// Members of a request that may name a key (when they are a key id or key ARN, not an alias).
constexpr std::array<std::string_view, 4> kRequestKeyMembers = {"KeyId", "SourceKeyId",
                                                                "DestinationKeyId", "TargetKeyId"};

// Maps whose keys are the caller's data: recorded verbatim, not renamed.
constexpr std::array<std::string_view, 3> kVerbatimMaps = {
    "EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext"};

// Member names never recorded from a codec's request parameters or answer elements (IAM, STS), at
// any depth and in any letter case. The codecs leave secrets out; this holds even if one does not.
constexpr std::array<std::string_view, 10> kSecretNames = {
    "secretaccesskey", "sessiontoken", "securitytoken",    "password",      "oldpassword",
    "newpassword",     "privatekey",   "webidentitytoken", "samlassertion", "plaintext",
};

// Operations whose answers carry key material, ciphertext or random bytes: AWS records null.
constexpr std::array<std::string_view, 13> kCryptographicOperations = {
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
};

bool Contains(std::span<const std::string_view> list, std::string_view name) {
  for (std::string_view item : list) {
    if (item == name) return true;
  }
  return false;
}

// Whether name, in any ASCII letter case, is one of the lower-case names in list.
bool ContainsIgnoringCase(std::span<const std::string_view> list, std::string_view name) {
  for (std::string_view item : list) {
    if (item.size() != name.size()) continue;
    size_t i = 0;
    while (i < name.size() && (name[i] | 0x20) == item[i]) ++i;
    if (i == name.size()) return true;
  }
  return false;
}

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Bytes a JSON string holds as they are, read or written: 0x20..0x7F except quote and backslash.
constexpr std::array<bool, 256> kPlainBytes = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

// The first byte at or after p that is not plain, or end. Eight bytes at a time: base64 blobs
// (Plaintext, CiphertextBlob) are most of a request's bytes and none of them is kept.
const char* SkipPlainBytes(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHighBits = 0x8080808080808080;
  auto has_zero_byte = [](uint64_t v) { return (v - kOnes) & ~v & kHighBits; };
  while (end - p >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    uint64_t below_space = (v - 0x20 * kOnes) & ~v & kHighBits;
    if ((v & kHighBits) | below_space | has_zero_byte(v ^ ('"' * kOnes)) |
        has_zero_byte(v ^ ('\\' * kOnes))) {
      break;
    }
    p += 8;
  }
  while (p < end && kPlainBytes[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// Length of the well-formed UTF-8 sequence that starts at p with a byte >= 0x80, or 0 when it is
// ill-formed. These are Unicode's well-formed sequences (table 3-7): exactly what nlohmann's lexer
// accepts in a string and what its dump passes through unchanged.
size_t Utf8SequenceLength(const char* p, const char* end) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(p);
  unsigned char lead = bytes[0];
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  size_t length;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3;
    low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3;
    high = 0x9F;
  } else if (lead == 0xF0) {
    length = 4;
    low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4;
    high = 0x8F;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < length || bytes[1] < low || bytes[1] > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (bytes[i] < 0x80 || bytes[i] > 0xBF) return 0;
  }
  return length;
}

// Four hex digits at p (any case), or -1.
int32_t ReadHex4(const char* p, const char* end) {
  if (end - p < 4) return -1;
  int32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p[i];
    int digit;
    if (IsDigit(c)) {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return -1;
    }
    value = value << 4 | digit;
  }
  return value;
}

// True when a JSON integer token (no fraction, no exponent) is read by nlohmann as a 64-bit
// integer, which it then writes back unchanged ("-0" aside); longer ones become doubles.
bool FitsInteger(std::string_view token) {
  bool negative = token[0] == '-';
  std::string_view digits = negative ? token.substr(1) : token;
  std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
  if (digits.size() != limit.size()) return digits.size() < limit.size();
  return digits <= limit;
}

// A request or an answer as nlohmann::json::parse with ParseAllowlisted's (or ParseWithout's)
// callback built it: a top-level object holding only its allowlisted members (or every member but
// the denied names, at any depth), every object's members in std::map order (by name, bytewise)
// with the last of duplicate names kept. Anything nlohmann would refuse (bad syntax, invalid
// UTF-8, lone surrogates, numbers that overflow a double, trailing bytes other than after a NUL)
// leaves no object. Dropped members are validated and forgotten, so secrets never land in the
// tree. Iterative, so nesting depth costs heap, not stack.
class AllowlistedJson {
 public:
  enum class Kind : uint8_t { kNull, kTrue, kFalse, kNumber, kString, kArray, kObject };
  static constexpr size_t kNone = static_cast<size_t>(-1);

  struct Node {
    Kind kind;
    bool in_scratch = false;      // text: decoded into scratch_ rather than a span of the input
    bool mixed_initials = false;  // object: has names starting A-Z and names starting a-z
    size_t begin = 0;             // text: offset; array, object: first index in children_
    size_t size = 0;              // text: bytes; array: elements; object: members (2 children each)
  };

  // False when text is not a JSON object nlohmann would parse: the event then records null.
  // Keeps the top-level members named in allowlist, and everything inside them.
  bool Parse(std::string_view text, std::span<const std::string_view> allowlist) {
    return Parse(text, allowlist, {});
  }
  // Keeps every member, at any depth, except those whose name is in denylist (lower-case letters;
  // matched in any letter case).
  bool ParseWithout(std::string_view text, std::span<const std::string_view> denylist) {
    return Parse(text, {}, denylist);
  }

  bool is_object() const { return parsed_; }
  // The top-level object; valid when is_object().
  const Node& root() const { return nodes_[0]; }
  std::string_view Text(const Node& node) const {
    const char* base = node.in_scratch ? scratch_.data() : input_.data();
    return {base + node.begin, node.size};
  }
  std::string_view NameOf(const Node& object, size_t member) const {
    return Text(nodes_[children_[object.begin + 2 * member]]);
  }
  size_t ValueOf(const Node& object, size_t member) const {
    return children_[object.begin + 2 * member + 1];
  }
  // The index of the member called name in object, or kNone.
  size_t FindMember(const Node& object, std::string_view name) const;
  // The value of member name in object, or nullptr.
  const Node* Member(const Node& object, std::string_view name) const {
    size_t member = FindMember(object, name);
    return member == kNone ? nullptr : &nodes_[ValueOf(object, member)];
  }

  // Appends the top-level object as CloudTrailStyle() made it: names in lower camel case except
  // inside encryption contexts, and when two names become one (TagKey, tagKey), the later value
  // in the earlier place, as ordered_json's operator[] kept it.
  void AppendCloudTrailStyle(std::string& out) const;

  // Gives back the memory of a large input, so one huge request does not stay resident.
  void Trim();

 private:
  struct Frame {
    size_t node;          // kNone when the container is dropped
    size_t pending_base;  // where its children start in pending_
    bool is_object;
    bool keep;
  };
  struct NameAndValue {
    size_t name;
    size_t value;
  };

  bool Parse(std::string_view text, std::span<const std::string_view> allowlist,
             std::span<const std::string_view> denylist);
  void Clear();
  size_t AddNode(Kind kind, bool in_scratch = false, size_t begin = 0, size_t size = 0);
  bool SkipWhitespace();
  bool ReadString(bool decode, Node* text);
  bool ReadNumber(bool keep, size_t* node);
  bool ReadLiteral(std::string_view literal);
  // After '{' or ',' in an object: reads `"name" :`, sets keep_value for the value that follows.
  bool ReadName(bool* keep_value);
  size_t CloseContainer();
  void SortMembers(Node& object, size_t base);

  std::string_view input_;
  // What Parse keeps: with no denylist, the allowlisted top-level members; else all but denied.
  std::span<const std::string_view> allowlist_;
  std::span<const std::string_view> denylist_;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  bool parsed_ = false;
  std::vector<Node> nodes_;
  std::vector<size_t> children_;
  std::vector<size_t> pending_;
  std::vector<Frame> frames_;
  std::vector<NameAndValue> members_;
  std::string scratch_;
};

void AllowlistedJson::Clear() {
  parsed_ = false;
  nodes_.clear();
  children_.clear();
  pending_.clear();
  frames_.clear();
  scratch_.clear();
}

void AllowlistedJson::Trim() {
  constexpr size_t kKeepBytes = 64 * 1024;
  if (nodes_.capacity() * sizeof(Node) + children_.capacity() * sizeof(size_t) +
          pending_.capacity() * sizeof(size_t) + frames_.capacity() * sizeof(Frame) +
          members_.capacity() * sizeof(NameAndValue) + scratch_.capacity() >
      kKeepBytes) {
    *this = AllowlistedJson();
  }
  input_ = {};
}

size_t AllowlistedJson::AddNode(Kind kind, bool in_scratch, size_t begin, size_t size) {
  nodes_.push_back(Node{kind, in_scratch, false, begin, size});
  return nodes_.size() - 1;
}

// nlohmann's whitespace; false at the end of the input or at a NUL, which nlohmann reads as the
// end of the input.
bool AllowlistedJson::SkipWhitespace() {
  while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  return p_ < end_ && *p_ != '\0';
}

// At the opening quote. With decode, *text is the string's text: the span of the input when it
// has no escapes, else the decoded bytes in scratch_.
bool AllowlistedJson::ReadString(bool decode, Node* text) {
  const char* start = ++p_;
  p_ = SkipPlainBytes(p_, end_);
  if (p_ < end_ && *p_ == '"') {
    if (decode) {
      *text = Node{Kind::kString, false, false, static_cast<size_t>(start - input_.data()),
                   static_cast<size_t>(p_ - start)};
    }
    ++p_;
    return true;
  }
  size_t scratch_begin = scratch_.size();
  if (decode) scratch_.append(start, p_ - start);
  for (;;) {
    if (p_ == end_) return false;
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      ++p_;
      if (decode) {
        *text = Node{Kind::kString, true, false, scratch_begin, scratch_.size() - scratch_begin};
      }
      return true;
    }
    if (c >= 0x80) {
      size_t length = Utf8SequenceLength(p_, end_);
      if (length == 0) return false;
      if (decode) scratch_.append(p_, length);
      p_ += length;
    } else if (c == '\\') {
      if (++p_ == end_) return false;
      char escaped = *p_++;
      uint32_t codepoint;
      switch (escaped) {
        case '"':
        case '\\':
        case '/':
          codepoint = static_cast<uint32_t>(escaped);
          break;
        case 'b':
          codepoint = '\b';
          break;
        case 'f':
          codepoint = '\f';
          break;
        case 'n':
          codepoint = '\n';
          break;
        case 'r':
          codepoint = '\r';
          break;
        case 't':
          codepoint = '\t';
          break;
        case 'u': {
          int32_t first = ReadHex4(p_, end_);
          if (first < 0) return false;
          p_ += 4;
          if (first >= 0xD800 && first <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            int32_t second = ReadHex4(p_ + 2, end_);
            if (second < 0xDC00 || second > 0xDFFF) return false;
            p_ += 6;
            codepoint = 0x10000 + ((static_cast<uint32_t>(first) - 0xD800) << 10) +
                        (static_cast<uint32_t>(second) - 0xDC00);
          } else if (first >= 0xDC00 && first <= 0xDFFF) {
            return false;
          } else {
            codepoint = static_cast<uint32_t>(first);
          }
          break;
        }
        default:
          return false;
      }
      if (decode) AppendUtf8(scratch_, codepoint);
    } else if (c < 0x20) {
      return false;
    }
    const char* run = p_;
    p_ = SkipPlainBytes(p_, end_);
    if (decode) scratch_.append(run, p_ - run);
  }
}

// RFC 8259's number grammar, as nlohmann's lexer scans it. A 64-bit integer is kept as its text;
// anything else nlohmann reads as a double, refusing infinities, and writes in its own shortest
// form: nlohmann itself decides and writes those (rare) ones.
bool AllowlistedJson::ReadNumber(bool keep, size_t* node) {
  const char* start = p_;
  bool integer = true;
  if (*p_ == '-') ++p_;
  if (p_ == end_) return false;
  if (*p_ == '0') {
    ++p_;
  } else if (*p_ >= '1' && *p_ <= '9') {
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  } else {
    return false;
  }
  if (p_ < end_ && *p_ == '.') {
    integer = false;
    if (++p_ == end_ || !IsDigit(*p_)) return false;
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    integer = false;
    if (++p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  }
  std::string_view token(start, p_ - start);
  if (integer && FitsInteger(token)) {
    if (!keep) return true;
    if (token == "-0") {  // nlohmann stores the integer 0
      *node = AddNode(Kind::kNumber, true, scratch_.size(), 1);
      scratch_.push_back('0');
    } else {
      *node = AddNode(Kind::kNumber, false, start - input_.data(), token.size());
    }
    return true;
  }
  nlohmann::json number = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
  if (number.is_discarded()) return false;
  if (keep) {
    std::string text = DumpJson(number);
    *node = AddNode(Kind::kNumber, true, scratch_.size(), text.size());
    scratch_ += text;
  }
  return true;
}

bool AllowlistedJson::ReadLiteral(std::string_view literal) {
  if (static_cast<size_t>(end_ - p_) < literal.size() ||
      std::string_view(p_, literal.size()) != literal) {
    return false;
  }
  p_ += literal.size();
  return true;
}

bool AllowlistedJson::ReadName(bool* keep_value) {
  const Frame& frame = frames_.back();
  if (!SkipWhitespace() || *p_ != '"') return false;
  Node name{Kind::kString};
  if (!ReadString(frame.keep, &name)) return false;
  if (!SkipWhitespace() || *p_ != ':') return false;
  ++p_;
  // An allowlist filters only the top-level object's names, as ParseAllowlisted's callback did
  // (depth 1); a denylist filters names at every depth, as ParseWithout's callback does.
  if (denylist_.empty()) {
    *keep_value = frame.keep && (frames_.size() != 1 || Contains(allowlist_, Text(name)));
  } else {
    *keep_value = frame.keep && !ContainsIgnoringCase(denylist_, Text(name));
  }
  if (*keep_value) {
    nodes_.push_back(name);
    pending_.push_back(nodes_.size() - 1);
  }
  return true;
}

// std::map's order and its operator[] on a duplicate name: sorted by name, the last value kept.
void AllowlistedJson::SortMembers(Node& object, size_t base) {
  members_.clear();
  for (size_t i = base; i < pending_.size(); i += 2)
    members_.push_back({pending_[i], pending_[i + 1]});
  auto name_less = [this](const NameAndValue& a, const NameAndValue& b) {
    return Text(nodes_[a.name]) < Text(nodes_[b.name]);
  };
  if (members_.size() <= 16) {  // insertion sort: stable, and no allocation
    for (size_t i = 1; i < members_.size(); ++i) {
      NameAndValue member = members_[i];
      size_t j = i;
      for (; j > 0 && name_less(member, members_[j - 1]); --j) members_[j] = members_[j - 1];
      members_[j] = member;
    }
  } else {
    std::stable_sort(members_.begin(), members_.end(), name_less);
  }
  bool upper = false;
  bool lower = false;
  object.begin = children_.size();
  object.size = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    std::string_view name = Text(nodes_[members_[i].name]);
    if (i + 1 < members_.size() && name == Text(nodes_[members_[i + 1].name])) continue;
    upper = upper || (!name.empty() && IsUpper(name[0]));
    lower = lower || (!name.empty() && IsLower(name[0]));
    children_.push_back(members_[i].name);
    children_.push_back(members_[i].value);
    ++object.size;
  }
  object.mixed_initials = upper && lower;
}

// At the closing bracket's end: files the container's children, pops it, returns its node.
size_t AllowlistedJson::CloseContainer() {
  Frame frame = frames_.back();
  frames_.pop_back();
  if (frame.node == kNone) return kNone;
  Node& node = nodes_[frame.node];
  if (frame.is_object) {
    SortMembers(node, frame.pending_base);
  } else {
    node.begin = children_.size();
    node.size = pending_.size() - frame.pending_base;
    children_.insert(children_.end(), pending_.begin() + frame.pending_base, pending_.end());
  }
  pending_.resize(frame.pending_base);
  return frame.node;
}

bool AllowlistedJson::Parse(std::string_view text, std::span<const std::string_view> allowlist,
                            std::span<const std::string_view> denylist) {
  Clear();
  input_ = text;
  allowlist_ = allowlist;
  denylist_ = denylist;
  p_ = text.data();
  end_ = p_ + text.size();
  // nlohmann skips a UTF-8 byte order mark at the very start, and refuses a partial one.
  if (p_ < end_ && static_cast<unsigned char>(*p_) == 0xEF) {
    if (end_ - p_ < 3 || static_cast<unsigned char>(p_[1]) != 0xBB ||
        static_cast<unsigned char>(p_[2]) != 0xBF) {
      return false;
    }
    p_ += 3;
  }
  // Anything but an object is recorded as null, parsable or not.
  if (!SkipWhitespace() || *p_ != '{') return false;

  bool keep = true;  // whether the value about to be read is kept
  for (;;) {
    // A value.
    if (!SkipWhitespace()) return false;
    size_t value = kNone;
    switch (*p_) {
      case '{':
      case '[': {
        bool is_object = *p_ == '{';
        ++p_;
        size_t node = keep ? AddNode(is_object ? Kind::kObject : Kind::kArray) : kNone;
        frames_.push_back(Frame{node, pending_.size(), is_object, keep});
        if (!SkipWhitespace()) return false;
        if (*p_ == (is_object ? '}' : ']')) {
          ++p_;
          value = CloseContainer();
          break;
        }
        if (is_object && !ReadName(&keep)) return false;
        continue;  // to the first member's or element's value
      }
      case '"': {
        Node string{Kind::kString};
        if (!ReadString(keep, &string)) return false;
        if (keep) {
          nodes_.push_back(string);
          value = nodes_.size() - 1;
        }
        break;
      }
      case 't':
      case 'f':
      case 'n': {
        Kind kind = *p_ == 't' ? Kind::kTrue : *p_ == 'f' ? Kind::kFalse : Kind::kNull;
        if (!ReadLiteral(kind == Kind::kTrue ? "true" : kind == Kind::kFalse ? "false" : "null")) {
          return false;
        }
        if (keep) value = AddNode(kind);
        break;
      }
      default:
        if (*p_ != '-' && !IsDigit(*p_)) return false;
        if (!ReadNumber(keep, &value)) return false;
    }
    // The value is complete: file it, then close containers until one continues.
    for (;;) {
      if (frames_.empty()) {
        // The top-level object: only whitespace may follow, up to the end or a NUL.
        SkipWhitespace();
        parsed_ = p_ == end_ || *p_ == '\0';
        return parsed_;
      }
      const Frame& frame = frames_.back();
      if (value != kNone) pending_.push_back(value);
      if (!SkipWhitespace()) return false;
      if (*p_ == ',') {
        ++p_;
        if (frame.is_object) {
          if (!ReadName(&keep)) return false;
        } else {
          keep = frame.keep;
        }
        break;
      }
      if (*p_ != (frame.is_object ? '}' : ']')) return false;
      ++p_;
      value = CloseContainer();
    }
  }
}

size_t AllowlistedJson::FindMember(const Node& object, std::string_view name) const {
  size_t low = 0;
  size_t high = object.size;
  while (low < high) {
    size_t middle = low + (high - low) / 2;
    if (NameOf(object, middle) < name) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low < object.size && NameOf(object, low) == name ? low : kNone;
}

void AllowlistedJson::AppendCloudTrailStyle(std::string& out) const {
  struct Open {
    size_t node;
    size_t next;  // member or element
    bool rename;  // object: names written in lower camel case
  };
  std::vector<Open> stack;
  auto write = [&](size_t index, bool rename) {
    const Node& node = nodes_[index];
    switch (node.kind) {
      case Kind::kNull:
        out += "null";
        break;
      case Kind::kTrue:
        out += "true";
        break;
      case Kind::kFalse:
        out += "false";
        break;
      case Kind::kNumber:
        out += Text(node);
        break;
      case Kind::kString:
        AppendJsonString(out, Text(node));
        break;
      case Kind::kArray:
        out += '[';
        stack.push_back({index, 0, true});
        break;
      case Kind::kObject:
        out += '{';
        stack.push_back({index, 0, rename});
        break;
    }
  };
  write(0, /*rename=*/true);
  std::string probe;
  while (!stack.empty()) {
    Open& open = stack.back();
    const Node& node = nodes_[open.node];
    if (open.next == node.size) {
      out += node.kind == Kind::kObject ? '}' : ']';
      stack.pop_back();
      continue;
    }
    size_t index = open.next++;
    // Never the first member is skipped: a skipped name's twin sorts before it.
    bool first = index == 0;
    if (node.kind == Kind::kArray) {
      if (!first) out += ',';
      write(children_[node.begin + index], /*rename=*/true);
      continue;
    }
    bool rename = open.rename;
    std::string_view name = NameOf(node, index);
    size_t value = ValueOf(node, index);
    std::string_view value_name = name;
    if (rename && node.mixed_initials && !name.empty() && (IsUpper(name[0]) || IsLower(name[0]))) {
      probe.assign(name);
      probe[0] = static_cast<char>(probe[0] ^ 0x20);  // the other case
      size_t twin = FindMember(node, probe);
      if (twin != kNone) {
        if (IsLower(name[0])) continue;  // already written, in its capitalized twin's place
        value = ValueOf(node, twin);
        value_name = NameOf(node, twin);
      }
    }
    if (!first) out += ',';
    size_t name_at = out.size();
    AppendJsonString(out, name);
    if (rename && !name.empty() && IsUpper(name[0])) {
      out[name_at + 1] = static_cast<char>(name[0] - 'A' + 'a');
    }
    out += ':';
    write(value, /*rename=*/!Contains(kVerbatimMaps, value_name));
  }
}

bool IsKeyArn(std::string_view text) {
  return text.starts_with("arn:") && text.find(":key/") != std::string_view::npos;
}

// The index-th colon-separated field of an ARN (0 "arn", 3 the region, 4 the account), or "".
std::string_view ArnField(std::string_view arn, size_t index) {
  size_t field = 0;
  size_t start = 0;
  for (size_t i = 0; i < arn.size(); ++i) {
    if (arn[i] != ':') continue;
    if (field++ == index) return arn.substr(start, i - start);
    start = i + 1;
  }
  return "";
}

// arn:aws:kms:REGION:ACCOUNT:key/ID -> ACCOUNT.
std::string_view ArnAccount(std::string_view arn) { return ArnField(arn, 4); }

// The keys a request touched, in order, without repeats.
class TouchedKeys {
 public:
  TouchedKeys(const AllowlistedJson& request, const AllowlistedJson& response,
              const EventSettings& settings, std::string_view region) {
    if (response.is_object()) {
      for (std::string_view member : kResponseKeyMembers) {
        const AllowlistedJson::Node* arn = response.Member(response.root(), member);
        if (arn != nullptr && arn->kind == AllowlistedJson::Kind::kObject) {
          arn = response.Member(*arn, "Arn");
        }
        if (arn != nullptr && arn->kind == AllowlistedJson::Kind::kString &&
            IsKeyArn(response.Text(*arn))) {
          Add(response.Text(*arn));
        }
      }
    }
    // A failed request, or one whose answer names no key: the key it asked for, when that was a
    // key id or key ARN (an alias cannot be resolved here).
    if (count_ == 0 && request.is_object()) {
      for (std::string_view member : kRequestKeyMembers) {
        const AllowlistedJson::Node* id = request.Member(request.root(), member);
        if (id == nullptr || id->kind != AllowlistedJson::Kind::kString) continue;
        std::string_view text = request.Text(*id);
        if (IsKeyArn(text)) {
          Add(text);
        } else if (IsKeyId(text)) {
          built_[built_count_] =
              StrCat("arn:aws:kms:", region, ":", settings.account_id, ":key/", AsciiLower(text));
          Add(built_[built_count_++]);
        }
      }
    }
  }

  std::span<const std::string_view> arns() const { return {arns_.data(), count_}; }

 private:
  void Add(std::string_view arn) {
    for (size_t i = 0; i < count_; ++i) {
      if (arns_[i] == arn) return;
    }
    arns_[count_++] = arn;
  }

  std::array<std::string_view, kResponseKeyMembers.size() + kRequestKeyMembers.size()> arns_;
  size_t count_ = 0;
  std::array<std::string, kRequestKeyMembers.size()> built_;
  size_t built_count_ = 0;
};

// Whether an answer names the key it is about (then AWS records no extra keyId).
bool NamesKey(const AllowlistedJson& response) {
  return response.Member(response.root(), "KeyId") != nullptr ||
         response.Member(response.root(), "KeyMetadata") != nullptr ||
         response.Member(response.root(), "ReplicaKeyMetadata") != nullptr;
}

// Read here rather than with HttpRequest::Header, which lives in the net layer.
std::string_view UserAgent(const HttpRequest& http) {
  for (const auto& [name, value] : http.headers) {
    if (name == "user-agent") return value;
  }
  return "";
}

bool IsReadOnly(std::string_view operation) {
  return operation.starts_with("Describe") || operation.starts_with("List") ||
         operation.starts_with("Get") || operation == "LookupEvents";
}

// FormatTime, remembering the last time it wrote: one cache per thread for eventTime (records of
// one second share it) and one for a role session's creationDate (a session's requests share it).
class TimeText {
 public:
  const std::string& Format(int64_t seconds) {
    if (!valid_ || seconds_ != seconds) {
      text_ = FormatTime(seconds);
      seconds_ = seconds;
      valid_ = true;
    }
    return text_;
  }

 private:
  bool valid_ = false;
  int64_t seconds_ = 0;
  std::string text_;
};

const std::string& EventTime(int64_t now_seconds) {
  thread_local TimeText cache;
  return cache.Format(now_seconds);
}

const std::string& SessionCreationTime(int64_t created_seconds) {
  thread_local TimeText cache;
  return cache.Format(created_seconds);
}

// Writes `"name":` and the value as a JSON string; prefix holds the punctuation before the name.
void AppendMember(std::string& out, std::string_view prefix_and_name, std::string_view value) {
  out += prefix_and_name;
  AppendJsonString(out, value);
}

// userIdentity's members after "type" for an authenticated caller, as CloudTrail writes them for
// the account root, an IAM user and a role session (with the role as the session's issuer).
void AppendIdentity(std::string& out, const Principal& principal) {
  AppendJsonString(out, principal.type);
  AppendMember(out, R"(,"principalId":)", principal.principal_id);
  AppendMember(out, R"(,"arn":)", principal.arn);
  AppendMember(out, R"(,"accountId":)", principal.account_id);
  AppendMember(out, R"(,"accessKeyId":)", principal.access_key_id);
  switch (principal.kind) {
    case PrincipalType::kRoot:
      break;
    case PrincipalType::kIamUser:
      AppendMember(out, R"(,"userName":)", principal.user_name);
      break;
    case PrincipalType::kAssumedRole:
      AppendMember(out, R"(,"sessionContext":{"sessionIssuer":{"type":"Role","principalId":)",
                   principal.role_id);
      AppendMember(out, R"(,"arn":)", principal.role_arn);
      AppendMember(out, R"(,"accountId":)", principal.account_id);
      AppendMember(out, R"(,"userName":)", principal.role_name);
      AppendMember(out, R"(},"attributes":{"creationDate":)",
                   SessionCreationTime(principal.session_created));
      out += R"(,"mfaAuthenticated":"false"}})";
      break;
  }
}

// CloudTrail's errorCode: KMS's exception names; for IAM and STS, the names CloudTrail gives their
// errors where they differ from KMS's (a denial there is "AccessDenied", without "Exception").
std::string_view ErrorCode(const absl::Status& status, bool kms) {
  ErrorType type = TypeOf(status);
  if (!kms) {
    switch (type) {
      case ErrorType::kAccessDenied:
        return "AccessDenied";
      case ErrorType::kNotFound:
        return "NoSuchEntityException";
      case ErrorType::kAlreadyExists:
        return "EntityAlreadyExistsException";
      case ErrorType::kUnrecognizedClient:
      case ErrorType::kInvalidClientTokenId:
        return "InvalidClientTokenId";
      case ErrorType::kInvalidSignature:
        return "SignatureDoesNotMatch";
      default:
        break;
    }
  }
  return AwsName(type);
}

// The role an AssumeRole request names, for its resources as CloudTrail lists them; empty when
// the parameters hold no role ARN. roleArn before RoleArn: the record keeps the later twin.
std::string_view AssumedRoleArn(std::string_view operation, const AllowlistedJson& request) {
  if (operation != "AssumeRole" || !request.is_object()) return "";
  for (std::string_view name : {"roleArn", "RoleArn"}) {
    const AllowlistedJson::Node* arn = request.Member(request.root(), name);
    if (arn == nullptr) continue;
    if (arn->kind != AllowlistedJson::Kind::kString) return "";
    std::string_view text = request.Text(*arn);
    return text.starts_with("arn:") && text.find(":role/") != std::string_view::npos
               ? text
               : std::string_view();
  }
  return "";
}

// One element of resources.
void AppendResource(std::string& out, bool first, std::string_view account,
                    std::string_view type_and_arn_prefix, std::string_view arn) {
  AppendMember(out, first ? R"({"accountId":)" : R"(,{"accountId":)", account);
  AppendMember(out, type_and_arn_prefix, arn);
  out += '}';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  size_t start = out.size();
  out.push_back('"');
  const char* p = text.data();
  const char* end = p + text.size();
  for (;;) {
    const char* run = p;
    p = SkipPlainBytes(p, end);
    out.append(run, p - run);
    if (p == end) break;
    unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      size_t length = Utf8SequenceLength(p, end);
      if (length == 0) {
        // Invalid UTF-8 (from HTTP fields or settings; parsed JSON is valid): nlohmann's own
        // replacement, which depends on where each ill-formed sequence stops.
        out.resize(start);
        out += DumpJson(nlohmann::json(std::string(text)));
        return;
      }
      out.append(p, length);
      p += length;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        constexpr char kHex[] = "0123456789abcdef";
        const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escaped, sizeof escaped);
      }
    }
    ++p;
  }
  out.push_back('"');
}

// Issue 12: AWS's shape of a service event (the DeleteKey CloudTrail logs when a key's waiting
// period ends, the RotateKey of an automatic rotation).
std::string BuildServiceEvent(const RequestOutcome& outcome, const EventSettings& settings,
                              int64_t now_seconds, const std::string& event_id) {
  std::string_view region =
      outcome.region.empty() ? std::string_view(settings.region) : outcome.region;
  std::string out;
  out.reserve(640);
  AppendMember(out, R"({"eventVersion":"1.08","userIdentity":{"accountId":)", settings.account_id);
  AppendMember(out, R"(,"invokedBy":"kms.amazonaws.com"},"eventTime":)", EventTime(now_seconds));
  AppendMember(out, R"(,"eventSource":"kms.amazonaws.com","eventName":)", outcome.operation);
  AppendMember(out, R"(,"awsRegion":)", region);
  out += R"(,"sourceIPAddress":"kms.amazonaws.com","userAgent":"kms.amazonaws.com")";
  out += R"(,"requestParameters":null,"responseElements":)";
  if (outcome.service_event_key_arn.empty()) {
    out += "null";
  } else {  // AWS since December 2022: the key's ARN, although nobody asked
    AppendMember(out, R"({"keyId":)", outcome.service_event_key_arn);
    out += '}';
  }
  // A companion record (CompanionEvent) shares the request's id with the caller's record.
  if (!outcome.http.request_id.empty()) {
    AppendMember(out, R"(,"requestID":)", outcome.http.request_id);
  }
  AppendMember(out, R"(,"eventID":)", event_id);
  out += R"(,"readOnly":false,"resources":[)";
  if (!outcome.service_event_key_arn.empty()) {
    std::string_view account = ArnAccount(outcome.service_event_key_arn);
    AppendResource(out, true, account.empty() ? std::string_view(settings.account_id) : account,
                   R"(,"type":"AWS::KMS::Key","ARN":)", outcome.service_event_key_arn);
  }
  AppendMember(out,
               R"(],"eventType":"AwsServiceEvent","managementEvent":true,)"
               R"("recipientAccountId":)",
               settings.account_id);
  out += R"(,"eventCategory":"Management"})";
  return out;
}

std::string BuildEvent(const RequestOutcome& outcome, const EventSettings& settings,
                       int64_t now_seconds, const std::string& event_id) {
  if (outcome.service_event) return BuildServiceEvent(outcome, settings, now_seconds, event_id);
  // Reused by the thread's next event, so parsing allocates nothing in the common case.
  thread_local AllowlistedJson request;
  thread_local AllowlistedJson response;
  std::string_view operation = outcome.operation;
  std::string_view source = outcome.event_source.empty() ? kKmsEventSource : outcome.event_source;
  bool kms = source == kKmsEventSource;
  // IAM's and STS's bodies are forms, their answers XML: their codecs hand over JSON instead.
  if (outcome.request_parameters_json.empty()) {
    request.Parse(outcome.http.body, kRequestAllowlist);
  } else {
    request.ParseWithout(outcome.request_parameters_json, kSecretNames);
  }
  // Key names for resources are read even from a cryptographic operation's answer; nothing else.
  if (!outcome.status.ok()) {
    response.Parse("", kResponseAllowlist);
  } else if (!outcome.response_elements_json.empty()) {
    response.ParseWithout(outcome.response_elements_json, kSecretNames);
  } else {
    response.Parse(kms ? outcome.response_body : std::string_view(), kResponseAllowlist);
  }

  std::string out;
  out.reserve(1024);
  out += R"({"eventVersion":"1.08","userIdentity":{"type":)";
  if (outcome.principal) {
    AppendIdentity(out, *outcome.principal);
  } else {
    // Authentication failed: all we know is who the caller claimed to be.
    out += R"("Unknown")";
    if (!outcome.claimed_access_key_id.empty()) {
      AppendMember(out, R"(,"accessKeyId":)", outcome.claimed_access_key_id);
    }
  }
  AppendMember(out, R"(},"eventTime":)", EventTime(now_seconds));
  std::string_view name = operation.empty() ? std::string_view("Unknown") : operation;
  if (kms) {  // most records: the source needs no escaping, and one append writes it
    AppendMember(out, R"(,"eventSource":"kms.amazonaws.com","eventName":)", name);
  } else {
    AppendMember(out, R"(,"eventSource":)", source);
    AppendMember(out, R"(,"eventName":)", name);
  }
  // Several regions (issue 13): the region the request was served in.
  std::string_view region =
      outcome.region.empty() ? std::string_view(settings.region) : outcome.region;
  AppendMember(out, R"(,"awsRegion":)", region);
  AppendMember(out, R"(,"sourceIPAddress":)", outcome.http.remote_address);
  AppendMember(out, R"(,"userAgent":)", UserAgent(outcome.http));
  if (!outcome.status.ok()) {
    AppendMember(out, R"(,"errorCode":)", ErrorCode(outcome.status, kms));
    AppendMember(out, R"(,"errorMessage":)", ToStd(outcome.status.message()));
  }
  out += R"(,"requestParameters":)";
  size_t parameters_start = out.size();
  if (request.is_object() && request.root().size > 0) {
    request.AppendCloudTrailStyle(out);
  } else {
    out += "null";
  }
  // A caller who failed authentication is unknown: it may not write more than a few KiB into the
  // trail per request (else anyone who can reach the port could fill the disk, and a full disk
  // stops kmsd: fail closed). What was left out is counted.
  size_t parameters_bytes = out.size() - parameters_start;
  if (!outcome.principal && parameters_bytes > kMaxUnauthenticatedParametersBytes) {
    out.resize(parameters_start);
    out += R"(null,"requestParametersOmitted":)";
    out += std::to_string(parameters_bytes);
  }
  out += R"(,"responseElements":)";
  bool records_answer = outcome.status.ok() && !IsReadOnly(operation) &&
                        !Contains(kCryptographicOperations, operation);
  bool record_response = records_answer && response.is_object() && response.root().size > 0;
  std::optional<TouchedKeys> touched;
  if (kms) touched.emplace(request, response, settings, region);
  // AWS since December 2022: an operation whose answer does not name the key (EnableKey,
  // TagResource, CreateAlias, CreateGrant, UpdatePrimaryRegion...) has the key's ARN recorded as
  // responseElements.keyId, after what the answer gave.
  bool add_key_id = kms && records_answer && response.is_object() && !touched->arns().empty() &&
                    !NamesKey(response);
  if (record_response) {
    response.AppendCloudTrailStyle(out);
    if (add_key_id) {
      out.pop_back();
      AppendMember(out, R"(,"keyId":)", touched->arns().front());
      out += '}';
    }
  } else if (add_key_id) {
    AppendMember(out, R"({"keyId":)", touched->arns().front());
    out += '}';
  } else {
    out += "null";
  }
  AppendMember(out, R"(,"requestID":)", outcome.http.request_id);
  AppendMember(out, R"(,"eventID":)", event_id);
  out += IsReadOnly(operation) ? R"(,"readOnly":true,"resources":[)"
                               : R"(,"readOnly":false,"resources":[)";
  auto account_of = [&settings](std::string_view arn) {
    std::string_view account = ArnAccount(arn);
    return account.empty() ? std::string_view(settings.account_id) : account;
  };
  if (kms) {
    bool first = true;
    for (std::string_view arn : touched->arns()) {
      AppendResource(out, first, account_of(arn), R"(,"type":"AWS::KMS::Key","ARN":)", arn);
      first = false;
    }
  } else if (std::string_view role = AssumedRoleArn(operation, request); !role.empty()) {
    AppendResource(out, true, account_of(role), R"(,"type":"AWS::IAM::Role","ARN":)", role);
  }
  AppendMember(out, R"(],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":)",
               settings.account_id);
  out += R"(,"eventCategory":"Management"})";
  request.Trim();
  response.Trim();
  return out;
}

std::string BuildCompanionEvent(const RequestOutcome& outcome, const EventSettings& settings,
                                int64_t now_seconds, const std::string& event_id) {
  if (!outcome.status.ok() || outcome.service_event) return "";
  if (!outcome.event_source.empty() && outcome.event_source != kKmsEventSource) return "";
  std::string arn;
  std::string_view name;
  AllowlistedJson json;
  using Kind = AllowlistedJson::Kind;
  if (outcome.operation == "ReplicateKey") {
    constexpr std::array<std::string_view, 1> kMembers = {"ReplicaKeyMetadata"};
    if (!json.Parse(outcome.response_body, kMembers)) return "";
    const AllowlistedJson::Node* metadata = json.Member(json.root(), "ReplicaKeyMetadata");
    if (metadata == nullptr || metadata->kind != Kind::kObject) return "";
    const AllowlistedJson::Node* replica = json.Member(*metadata, "Arn");
    if (replica == nullptr || replica->kind != Kind::kString || !IsKeyArn(json.Text(*replica))) {
      return "";
    }
    arn = json.Text(*replica);
    name = "CreateKey";
  } else if (outcome.operation == "UpdatePrimaryRegion") {
    constexpr std::array<std::string_view, 2> kMembers = {"KeyId", "PrimaryRegion"};
    if (!json.Parse(outcome.http.body, kMembers)) return "";
    const AllowlistedJson::Node* key = json.Member(json.root(), "KeyId");
    const AllowlistedJson::Node* region = json.Member(json.root(), "PrimaryRegion");
    if (key == nullptr || key->kind != Kind::kString || region == nullptr ||
        region->kind != Kind::kString) {
      return "";
    }
    std::string_view id = json.Text(*key);
    if (IsKeyArn(id)) id = id.substr(id.find(":key/") + 5);
    if (!IsKeyId(id)) return "";
    arn = StrCat("arn:aws:kms:", json.Text(*region), ":", settings.account_id, ":key/",
                 AsciiLower(id));
    name = "UpdatePrimaryRegion";
  } else {
    return "";
  }
  RequestOutcome companion{
      .operation = name, .http = outcome.http, .principal = nullptr, .status = outcome.status};
  companion.region = ArnField(arn, 3);
  companion.service_event = true;
  companion.service_event_key_arn = arn;
  return BuildServiceEvent(companion, settings, now_seconds, event_id);
}

}  // namespace kmsd::audit
