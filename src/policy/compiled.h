// The compiled form of a policy document: what Parse builds and Evaluate walks. Everything that
// can be decided from the document alone (lower-cased names, split wildcards, parsed numbers,
// dates, networks and ARNs) is decided here, once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kmsd/policy.h"
#include "policy/pattern.h"
#include "policy/values.h"

namespace kmsd::policy::internal {

// --- Principal and NotPrincipal -------------------------------------------------------------

struct PrincipalEntry {
  enum class Kind : uint8_t {
    kAnyone,     // "*" or {"AWS": "*"}
    kAccount,    // "111122223333" or "arn:aws:iam::111122223333:root": value is the account id
    kArn,        // a user, role, assumed-role session or federated-user ARN: value is the ARN
    kNoCallers,  // Service, Federated, CanonicalUser: valid, but no kmsd caller is one of these
  };
  Kind kind = Kind::kAnyone;
  std::string value;
};

// How a statement's Principal names the caller.
enum class PrincipalMatch : uint8_t {
  kNone,
  kAccount,  // through the caller's account (delegation to identity policies)
  kDirect,   // the caller itself, its role, or anyone
};

PrincipalMatch MatchPrincipal(const std::vector<PrincipalEntry>& entries, const Principal* caller);
// NotPrincipal: whether the statement applies to the caller, that is whether any of the caller's
// identities (its session, its role, its user, its account) is left out of the list.
bool NotPrincipalApplies(const std::vector<PrincipalEntry>& entries, const Principal* caller);

// --- Condition ------------------------------------------------------------------------------

enum class Operator : uint8_t {
  kStringEquals,
  kStringEqualsIgnoreCase,
  kStringLike,
  kNumericEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kBool,
  kBinaryEquals,
  kIpAddress,
  kArnEquals,  // ArnEquals and ArnLike compare alike: six parts, each with wildcards
  kNull,
};

enum class SetQualifier : uint8_t { kNone, kForAnyValue, kForAllValues };

// One value of a condition, in the form its operator compares.
struct ConditionValue {
  Pattern text;                    // String operators; Arn operators on a non-ARN value
  std::vector<Pattern> arn_parts;  // Arn operators: six patterns, one per ARN part
  double number = 0;               // Numeric
  int64_t millis = 0;              // Date
  IpNetwork network;               // IpAddress
  std::string base64;              // BinaryEquals: the canonical base64 of the value's bytes
  bool flag = false;               // Bool, Null
};

struct Condition {
  std::string operator_name;  // as written, for messages: "ForAnyValue:StringNotLikeIfExists"
  Operator op = Operator::kStringEquals;
  bool negated = false;  // StringNotEquals, NotIpAddress, ArnNotLike, ...
  bool if_exists = false;
  SetQualifier qualifier = SetQualifier::kNone;
  std::string key;  // lower-cased: key names are case-insensitive
  std::vector<ConditionValue> values;
};

// Whether the condition holds for the request; kUnresolved when a policy variable in it has no
// value (the statement then does not apply).
Match EvaluateCondition(const Condition& condition, const RequestContext& context);

// --- Statement and policy -------------------------------------------------------------------

struct Statement {
  std::string name;  // the Sid, or "Statement[i]"
  bool allow = false;
  bool not_action = false;
  std::vector<Pattern> actions;  // lower-cased, case-insensitive
  bool has_resource = false;     // trust policies have none: they apply to their role
  bool not_resource = false;
  std::vector<Pattern> resources;
  enum class PrincipalMode : uint8_t { kNone, kPrincipal, kNotPrincipal };
  PrincipalMode principal_mode = PrincipalMode::kNone;
  std::vector<PrincipalEntry> principals;
  std::vector<Condition> conditions;
};

class CompiledPolicy final : public Policy {
 public:
  const std::string& Document() const override { return document_; }
  PolicyKind Kind() const override { return kind_; }
  const std::vector<std::string>& PrincipalArns() const override { return principal_arns_; }

  std::string document_;
  PolicyKind kind_ = PolicyKind::kIdentity;
  std::vector<Statement> statements_;
  std::vector<std::string> principal_arns_;
};

// Evaluate without naming the deciding statement (no allocation): what Authorize uses.
struct Verdict {
  bool explicit_deny = false;
  bool allow = false;
  bool allow_for_account = false;
  int deciding_statement = -1;  // index into statements_
};
Verdict EvaluateCompiled(const CompiledPolicy& policy, const RequestContext& context);

}  // namespace kmsd::policy::internal
