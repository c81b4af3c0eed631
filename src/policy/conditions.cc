// The Condition element: AWS's operators, their `...IfExists` and `ForAnyValue:`/`ForAllValues:`
// forms, and how each compares a request's values with the policy's.
#include "policy/conditions.h"

#include <array>
#include <utility>

#include "kmsd/crypto.h"

namespace kmsd::policy::internal {
namespace {

struct OperatorName {
  std::string_view name;
  Operator op;
  bool negated;
};

constexpr OperatorName kOperators[] = {
    {"StringEquals", Operator::kStringEquals, false},
    {"StringNotEquals", Operator::kStringEquals, true},
    {"StringEqualsIgnoreCase", Operator::kStringEqualsIgnoreCase, false},
    {"StringNotEqualsIgnoreCase", Operator::kStringEqualsIgnoreCase, true},
    {"StringLike", Operator::kStringLike, false},
    {"StringNotLike", Operator::kStringLike, true},
    {"NumericEquals", Operator::kNumericEquals, false},
    {"NumericNotEquals", Operator::kNumericEquals, true},
    {"NumericLessThan", Operator::kNumericLessThan, false},
    {"NumericLessThanEquals", Operator::kNumericLessThanEquals, false},
    {"NumericGreaterThan", Operator::kNumericGreaterThan, false},
    {"NumericGreaterThanEquals", Operator::kNumericGreaterThanEquals, false},
    {"DateEquals", Operator::kDateEquals, false},
    {"DateNotEquals", Operator::kDateEquals, true},
    {"DateLessThan", Operator::kDateLessThan, false},
    {"DateLessThanEquals", Operator::kDateLessThanEquals, false},
    {"DateGreaterThan", Operator::kDateGreaterThan, false},
    {"DateGreaterThanEquals", Operator::kDateGreaterThanEquals, false},
    {"Bool", Operator::kBool, false},
    {"BinaryEquals", Operator::kBinaryEquals, false},
    {"IpAddress", Operator::kIpAddress, false},
    {"NotIpAddress", Operator::kIpAddress, true},
    {"ArnEquals", Operator::kArnEquals, false},
    {"ArnLike", Operator::kArnEquals, false},
    {"ArnNotEquals", Operator::kArnEquals, true},
    {"ArnNotLike", Operator::kArnEquals, true},
    {"Null", Operator::kNull, false},
};

bool IsString(Operator op) {
  return op == Operator::kStringEquals || op == Operator::kStringEqualsIgnoreCase ||
         op == Operator::kStringLike;
}
bool IsNumeric(Operator op) {
  return op >= Operator::kNumericEquals && op <= Operator::kNumericGreaterThanEquals;
}
bool IsDate(Operator op) {
  return op >= Operator::kDateEquals && op <= Operator::kDateGreaterThanEquals;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (EqualsIgnoreCase(text, "true")) return true;
  if (EqualsIgnoreCase(text, "false")) return false;
  return std::nullopt;
}

// A policy ARN's parts, splitting at colons outside `${...}` (variable names have colons too).
std::optional<std::array<std::string_view, 6>> SplitPolicyArn(std::string_view text,
                                                              bool variables) {
  std::array<std::string_view, 6> parts;
  size_t part = 0;
  size_t start = 0;
  for (size_t at = 0; at < text.size() && part < 5; ++at) {
    if (variables && text[at] == '$' && at + 1 < text.size() && text[at + 1] == '{') {
      size_t close = text.find('}', at);
      if (close == std::string_view::npos) break;
      at = close;
    } else if (text[at] == ':') {
      parts[part++] = text.substr(start, at - start);
      start = at + 1;
    }
  }
  if (part < 5) return std::nullopt;
  parts[5] = text.substr(start);
  return parts;
}

// Compares in the operator's positive sense: request OP policy value.
template <typename Number>
bool CompareOrdered(Operator op, Number request, Number policy) {
  switch (op) {
    case Operator::kNumericEquals:
    case Operator::kDateEquals:
      return request == policy;
    case Operator::kNumericLessThan:
    case Operator::kDateLessThan:
      return request < policy;
    case Operator::kNumericLessThanEquals:
    case Operator::kDateLessThanEquals:
      return request <= policy;
    case Operator::kNumericGreaterThan:
    case Operator::kDateGreaterThan:
      return request > policy;
    case Operator::kNumericGreaterThanEquals:
    case Operator::kDateGreaterThanEquals:
      return request >= policy;
    default:
      return false;
  }
}

// A request value in the operator's type, parsed once for all the policy's values.
struct RequestValue {
  std::string_view text;
  double number = 0;
  int64_t millis = 0;
  IpNetwork address;
  bool flag = false;
  std::array<std::string_view, 6> arn_parts;
  bool arn = false;
};

bool ParseRequestValue(Operator op, std::string_view text, RequestValue& value) {
  value.text = text;
  if (IsNumeric(op)) {
    auto number = ParseNumber(text);
    if (!number) return false;
    value.number = *number;
  } else if (IsDate(op)) {
    auto millis = ParseDate(text);
    if (!millis) return false;
    value.millis = *millis;
  } else if (op == Operator::kBool) {
    auto flag = ParseBool(text);
    if (!flag) return false;
    value.flag = *flag;
  } else if (op == Operator::kIpAddress) {
    auto address = ParseIpNetwork(text);
    if (!address) return false;
    value.address = address->Unmapped();
  } else if (op == Operator::kArnEquals) {
    if (auto parts = SplitArn(text)) {
      value.arn_parts = *parts;
      value.arn = true;
    }
  }
  return true;
}

// One policy value against one request value, in the operator's positive sense.
Match CompareOne(const Condition& condition, const ConditionValue& policy,
                 const RequestValue& request, const RequestContext& context) {
  const Operator op = condition.op;
  if (IsString(op)) return policy.text.Matches(request.text, context);
  if (IsNumeric(op))
    return CompareOrdered(op, request.number, policy.number) ? Match::kYes : Match::kNo;
  if (IsDate(op))
    return CompareOrdered(op, request.millis, policy.millis) ? Match::kYes : Match::kNo;
  switch (op) {
    case Operator::kBool:
      return request.flag == policy.flag ? Match::kYes : Match::kNo;
    case Operator::kBinaryEquals:
      return request.text == policy.base64 ? Match::kYes : Match::kNo;
    case Operator::kIpAddress:
      return policy.network.Contains(request.address) ? Match::kYes : Match::kNo;
    case Operator::kArnEquals: {
      if (policy.arn_parts.empty()) return policy.text.Matches(request.text, context);
      if (!request.arn) return Match::kNo;
      for (size_t i = 0; i < 6; ++i) {
        Match part = policy.arn_parts[i].Matches(request.arn_parts[i], context);
        if (part != Match::kYes) return part;
      }
      return Match::kYes;
    }
    default:
      return Match::kNo;
  }
}

// Whether one request value satisfies the condition: a positive operator needs a policy value
// that matches it, a negated one needs none to (AWS: multiple values are ORed, and the negation
// applies to the whole).
Match ValueSatisfies(const Condition& condition, std::string_view text,
                     const RequestContext& context) {
  RequestValue request;
  // A request value that is not of the operator's type satisfies neither sense.
  if (!ParseRequestValue(condition.op, text, request)) return Match::kNo;
  bool matched = false;
  for (const ConditionValue& policy : condition.values) {
    Match match = CompareOne(condition, policy, request, context);
    if (match == Match::kUnresolved) return match;
    if (match == Match::kYes) {
      matched = true;
      break;
    }
  }
  return matched != condition.negated ? Match::kYes : Match::kNo;
}

// Every request value must satisfy the condition (`all`), or one must. The first value that
// decides, or leaves a policy variable unresolved, ends the walk.
Match Quantify(const Condition& condition, const std::vector<std::string>& values,
               const RequestContext& context, bool all) {
  const Match decisive = all ? Match::kNo : Match::kYes;
  for (const std::string& value : values) {
    Match match = ValueSatisfies(condition, value, context);
    if (match == decisive || match == Match::kUnresolved) return match;
  }
  return all ? Match::kYes : Match::kNo;
}

}  // namespace

std::optional<Condition> ParseOperatorName(std::string_view name) {
  Condition condition;
  condition.operator_name = std::string(name);
  constexpr std::string_view kAny = "ForAnyValue:";
  constexpr std::string_view kAll = "ForAllValues:";
  constexpr std::string_view kIfExists = "IfExists";
  if (name.starts_with(kAny)) {
    condition.qualifier = SetQualifier::kForAnyValue;
    name.remove_prefix(kAny.size());
  } else if (name.starts_with(kAll)) {
    condition.qualifier = SetQualifier::kForAllValues;
    name.remove_prefix(kAll.size());
  }
  if (name.ends_with(kIfExists)) {
    condition.if_exists = true;
    name.remove_suffix(kIfExists.size());
  }
  for (const OperatorName& known : kOperators) {
    if (known.name != name) continue;
    // Null tests existence itself: it has no IfExists form.
    if (known.op == Operator::kNull && condition.if_exists) return std::nullopt;
    condition.op = known.op;
    condition.negated = known.negated;
    return condition;
  }
  return std::nullopt;
}

std::optional<ConditionValue> CompileConditionValue(const Condition& condition,
                                                    std::string_view text, bool variables,
                                                    std::string* problem) {
  ConditionValue value;
  const Operator op = condition.op;
  if (IsString(op)) {
    value.text = Pattern::Compile(text, {.wildcards = op == Operator::kStringLike,
                                         .variables = variables,
                                         .ignore_case = op == Operator::kStringEqualsIgnoreCase});
  } else if (IsNumeric(op)) {
    auto number = ParseNumber(text);
    if (!number) {
      *problem = "is not a number";
      return std::nullopt;
    }
    value.number = *number;
  } else if (IsDate(op)) {
    auto millis = ParseDate(text);
    if (!millis) {
      *problem = "is not a date (ISO 8601, such as 2024-05-01T12:00:00Z, or epoch seconds)";
      return std::nullopt;
    }
    value.millis = *millis;
  } else if (op == Operator::kBool || op == Operator::kNull) {
    auto flag = ParseBool(text);
    if (!flag) {
      *problem = "must be true or false";
      return std::nullopt;
    }
    value.flag = *flag;
  } else if (op == Operator::kBinaryEquals) {
    auto bytes = crypto::Base64Decode(text);
    if (!bytes.ok() || bytes->empty()) {
      *problem = "is not base64-encoded binary data";
      return std::nullopt;
    }
    value.base64 = crypto::Base64Encode(*bytes);
  } else if (op == Operator::kIpAddress) {
    auto network = ParseIpNetwork(text);
    if (!network) {
      *problem = "is not an IPv4 or IPv6 address or CIDR block";
      return std::nullopt;
    }
    value.network = *network;
  } else if (op == Operator::kArnEquals) {
    const PatternOptions options{.wildcards = true, .variables = variables};
    auto parts = SplitPolicyArn(text, variables);
    if (parts && (*parts)[0] == "arn") {
      for (std::string_view part : *parts)
        value.arn_parts.push_back(Pattern::Compile(part, options));
    } else {
      value.text = Pattern::Compile(text, options);
      // Only `*` or a value made by a policy variable ("${aws:PrincipalArn}") may be other than
      // an ARN.
      if (!value.text.matches_everything() && !value.text.has_variables()) {
        *problem = "is not an ARN (arn:partition:service:region:account:resource)";
        return std::nullopt;
      }
    }
  }
  return value;
}

Match EvaluateCondition(const Condition& condition, const RequestContext& context) {
  const std::vector<std::string>* values = context.Find(condition.key);
  const bool present = values != nullptr && !values->empty();
  if (condition.op == Operator::kNull) {
    // "Null": {"key": "true"} holds when the key is absent, "false" when it is present.
    for (const ConditionValue& value : condition.values) {
      if (value.flag != present) return Match::kYes;
    }
    return Match::kNo;
  }
  switch (condition.qualifier) {
    case SetQualifier::kForAllValues:
      // Every request value must satisfy it: true of an absent key or an empty set.
      return present ? Quantify(condition, *values, context, /*all=*/true) : Match::kYes;
    case SetQualifier::kForAnyValue:
      // At least one request value must: never true of an absent key.
      return present ? Quantify(condition, *values, context, /*all=*/false) : Match::kNo;
    case SetQualifier::kNone:
      break;
  }
  // AWS: an absent key matches nothing, so a negated operator holds, as does any ...IfExists.
  if (!present) return condition.if_exists || condition.negated ? Match::kYes : Match::kNo;
  // A multi-valued key without a qualifier: some value must match a positive operator, and no
  // value may match a negated one.
  return Quantify(condition, *values, context, /*all=*/condition.negated);
}

}  // namespace kmsd::policy::internal
