// Evaluate: which statements of one policy apply to a request, and what they say together.
#include "kmsd/policy.h"
#include "policy/compiled.h"

namespace kmsd::policy::internal {
namespace {

bool ActionApplies(const Statement& statement, std::string_view action,
                   const RequestContext& context) {
  bool listed = false;
  for (const Pattern& pattern : statement.actions) {
    if (pattern.Matches(action, context) == Match::kYes) {
      listed = true;
      break;
    }
  }
  return listed != statement.not_action;
}

Match ResourceApplies(const Statement& statement, std::string_view resource,
                      const RequestContext& context) {
  if (!statement.has_resource) return Match::kYes;
  bool listed = false;
  bool unresolved = false;
  for (const Pattern& pattern : statement.resources) {
    Match match = pattern.Matches(resource, context);
    if (match == Match::kYes) {
      listed = true;
      break;
    }
    unresolved = unresolved || match == Match::kUnresolved;
  }
  if (listed) return statement.not_resource ? Match::kNo : Match::kYes;
  if (unresolved) return Match::kUnresolved;
  return statement.not_resource ? Match::kYes : Match::kNo;
}

PrincipalMatch PrincipalApplies(const Statement& statement, const Principal* caller) {
  switch (statement.principal_mode) {
    case Statement::PrincipalMode::kNone:  // identity policies: the caller is the principal
      return PrincipalMatch::kDirect;
    case Statement::PrincipalMode::kPrincipal:
      return MatchPrincipal(statement.principals, caller);
    case Statement::PrincipalMode::kNotPrincipal:
      return NotPrincipalApplies(statement.principals, caller) ? PrincipalMatch::kDirect
                                                               : PrincipalMatch::kNone;
  }
  return PrincipalMatch::kNone;
}

bool ConditionsHold(const Statement& statement, const RequestContext& context) {
  for (const Condition& condition : statement.conditions) {
    // kUnresolved: a policy variable without a value makes the whole statement not apply.
    if (EvaluateCondition(condition, context) != Match::kYes) return false;
  }
  return true;
}

}  // namespace

Verdict EvaluateCompiled(const CompiledPolicy& policy, const RequestContext& context) {
  Verdict verdict;
  int first_direct_allow = -1;
  int first_account_allow = -1;
  const Principal* caller = context.caller.get();
  for (size_t i = 0; i < policy.statements_.size(); ++i) {
    const Statement& statement = policy.statements_[i];
    // Cheapest tests first: most statements of a key policy fail on Action or Principal.
    if (!ActionApplies(statement, context.action, context)) continue;
    PrincipalMatch principal = PrincipalApplies(statement, caller);
    if (principal == PrincipalMatch::kNone) continue;
    if (ResourceApplies(statement, context.resource, context) != Match::kYes) continue;
    if (!ConditionsHold(statement, context)) continue;
    if (!statement.allow) {
      // A Deny that names the caller's account denies everyone in it, so any match counts.
      verdict.explicit_deny = true;
      verdict.deciding_statement = static_cast<int>(i);
      return verdict;
    }
    if (principal == PrincipalMatch::kDirect) {
      verdict.allow = true;
      if (first_direct_allow < 0) first_direct_allow = static_cast<int>(i);
    } else {
      verdict.allow_for_account = true;
      if (first_account_allow < 0) first_account_allow = static_cast<int>(i);
    }
  }
  verdict.deciding_statement = first_direct_allow >= 0 ? first_direct_allow : first_account_allow;
  return verdict;
}

}  // namespace kmsd::policy::internal

namespace kmsd::policy {

Result Evaluate(const Policy& policy, const RequestContext& context) {
  // Parse makes every Policy, and only CompiledPolicy.
  const auto& compiled = static_cast<const internal::CompiledPolicy&>(policy);
  internal::Verdict verdict = internal::EvaluateCompiled(compiled, context);
  Result result;
  result.explicit_deny = verdict.explicit_deny;
  result.allow = verdict.allow;
  result.allow_for_account = verdict.allow_for_account;
  if (verdict.deciding_statement >= 0) {
    result.deciding_statement = compiled.statements_[verdict.deciding_statement].name;
  }
  return result;
}

}  // namespace kmsd::policy
