// Principal and NotPrincipal: which callers a resource or trust policy's statement names, and how
// (the caller itself, or only its account, which then delegates to identity policies).
#include "policy/principals.h"

#include "kmsd/principal.h"

namespace kmsd::policy::internal {
namespace {

bool HasWildcard(std::string_view text) {
  return text.find_first_of("*?") != std::string_view::npos;
}

// The principal ARNs AWS accepts: the account root, IAM users and roles, STS sessions. AWS
// allows no wildcard inside a principal ARN.
std::optional<PrincipalEntry> CompileAwsArn(std::string_view text) {
  auto parts = SplitArn(text);
  if (!parts || (*parts)[0] != "arn" || (*parts)[1].empty() || !(*parts)[3].empty() ||
      !IsAccountId((*parts)[4]) || HasWildcard(text)) {
    return std::nullopt;
  }
  std::string_view service = (*parts)[2];
  std::string_view resource = (*parts)[5];
  if (service == "iam" && resource == "root") {
    return PrincipalEntry{PrincipalEntry::Kind::kAccount, std::string((*parts)[4])};
  }
  auto has_name = [resource](std::string_view prefix) {
    return resource.size() > prefix.size() && resource.starts_with(prefix);
  };
  if ((service == "iam" && (has_name("user/") || has_name("role/"))) ||
      (service == "sts" && (has_name("assumed-role/") || has_name("federated-user/")))) {
    return PrincipalEntry{PrincipalEntry::Kind::kArn, std::string(text)};
  }
  return std::nullopt;
}

}  // namespace

std::optional<PrincipalEntry> CompilePrincipal(std::string_view type, std::string_view value) {
  if (type == "AWS") {
    if (value == "*") return PrincipalEntry{PrincipalEntry::Kind::kAnyone, ""};
    if (IsAccountId(value))
      return PrincipalEntry{PrincipalEntry::Kind::kAccount, std::string(value)};
    return CompileAwsArn(value);
  }
  if (type == "Service" || type == "Federated" || type == "CanonicalUser") {
    if (value.empty()) return std::nullopt;
    return PrincipalEntry{PrincipalEntry::Kind::kNoCallers, std::string(value)};
  }
  return std::nullopt;
}

PrincipalMatch MatchPrincipal(const std::vector<PrincipalEntry>& entries, const Principal* caller) {
  PrincipalMatch best = PrincipalMatch::kNone;
  for (const PrincipalEntry& entry : entries) {
    switch (entry.kind) {
      case PrincipalEntry::Kind::kAnyone:
        return PrincipalMatch::kDirect;
      case PrincipalEntry::Kind::kAccount:
        if (caller != nullptr && entry.value == caller->account_id) {
          // Naming the account names its root directly; anyone else in it only by delegation.
          if (caller->IsRoot()) return PrincipalMatch::kDirect;
          best = PrincipalMatch::kAccount;
        }
        break;
      case PrincipalEntry::Kind::kArn:
        // A role's ARN names every session of that role.
        if (caller != nullptr &&
            (entry.value == caller->arn ||
             (caller->kind == PrincipalType::kAssumedRole && entry.value == caller->role_arn))) {
          return PrincipalMatch::kDirect;
        }
        break;
      case PrincipalEntry::Kind::kNoCallers:
        break;
    }
  }
  return best;
}

// AWS evaluates a caller as each of its identities in turn (the account, then the role, then the
// session; or the account, then the user), and NotPrincipal exempts the caller only when every
// one of them is listed: hence AWS's advice to list the account's ARN beside the user's.
bool NotPrincipalApplies(const std::vector<PrincipalEntry>& entries, const Principal* caller) {
  bool anyone = false;
  bool account_listed = false;
  bool self_listed = false;
  bool role_listed = false;
  for (const PrincipalEntry& entry : entries) {
    switch (entry.kind) {
      case PrincipalEntry::Kind::kAnyone:
        anyone = true;
        break;
      case PrincipalEntry::Kind::kAccount:
        account_listed = account_listed || (caller != nullptr && entry.value == caller->account_id);
        break;
      case PrincipalEntry::Kind::kArn:
        self_listed = self_listed || (caller != nullptr && entry.value == caller->arn);
        role_listed = role_listed || (caller != nullptr && entry.value == caller->role_arn);
        break;
      case PrincipalEntry::Kind::kNoCallers:
        break;
    }
  }
  if (anyone) return false;
  if (caller == nullptr) return true;
  bool exempt = account_listed;
  if (caller->kind == PrincipalType::kIamUser) exempt = exempt && self_listed;
  if (caller->kind == PrincipalType::kAssumedRole) exempt = exempt && self_listed && role_listed;
  return !exempt;
}

}  // namespace kmsd::policy::internal
