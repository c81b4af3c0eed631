// The IAM policy language, as AWS IAM and KMS key policies use it: parse a JSON policy document
// once into a compiled Policy, then evaluate request contexts against it, and combine the policies
// that apply to one request into AWS's decision, with AWS's wording of a denial.
//
// A pure library: it knows no HTTP, wire codec or storage. Both services ask it: KMS (key
// policies, the caller's identity policies, grants) and IAM/STS (identity policies for iam:*
// actions, role trust policies for sts:AssumeRole).
//
// Thread-safety: a compiled Policy is immutable; share it freely (PolicyPtr) across threads.
// RequestContext is a plain value owned by one request.
//
// References: IAM JSON policy elements and evaluation logic
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html,
// .../reference_policies_evaluation-logic.html) and KMS key policies, grants and condition keys
// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html,
// .../conditions-kms.html).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kmsd/principal.h"

namespace kmsd::policy {

// AWS's limit for a key policy document, in bytes. IAM inline policies have their own limits
// (user 2048, role 10240 characters, not counting white space), enforced by the IAM service.
inline constexpr size_t kMaxKeyPolicyBytes = 32768;

enum class PolicyKind {
  kIdentity,  // an IAM user's or role's inline policy: Principal/NotPrincipal are not allowed
  kResource,  // a key policy: every statement must have Principal or NotPrincipal
  kTrust,     // a role's trust policy (AssumeRolePolicyDocument): a resource policy on the role
};

// A parsed, validated and compiled policy document. Opaque; made only by Parse.
class Policy {
 public:
  virtual ~Policy() = default;
  // The document as given (kept so that GetKeyPolicy returns it byte for byte).
  virtual const std::string& Document() const = 0;
  // The kind it was parsed as.
  virtual PolicyKind Kind() const = 0;
  // The AWS principals its Principal and NotPrincipal elements name, in document order without
  // repeats: ARNs as written, a bare account id as "arn:aws:iam::ACCOUNT:root", "*" left out. For
  // checks AWS makes when a policy is set (KMS refuses a key policy naming a user or role that
  // does not exist).
  virtual const std::vector<std::string>& PrincipalArns() const = 0;
};
using PolicyPtr = std::shared_ptr<const Policy>;

// Parses and compiles a policy document. Errors are ErrorType::kMalformedPolicyDocument with a
// message that names the problem ("Statement[1]: Effect must be Allow or Deny", "the policy is
// 40000 bytes; the limit is 32768", "Condition operator StringEqualz is not supported", ...).
// Documents larger than max_bytes are refused before they are parsed.
absl::StatusOr<PolicyPtr> Parse(std::string_view document, PolicyKind kind,
                                size_t max_bytes = kMaxKeyPolicyBytes);

// Everything a request is judged on. Condition key names are case-insensitive, as in AWS; the
// part after "kms:EncryptionContext:" is compared as AWS documents it (not case-sensitive: the
// whole key name is not; to make a context key's case count, policies use
// kms:EncryptionContextKeys). Values are strings: the engine converts them for the Numeric, Date,
// Bool, IpAddress and Arn operators.
//
// How callers fill it, so that AWS's policies mean here what they mean there:
//   Set("kms:EncryptionContext:" + key, value) for each pair, and Add("kms:EncryptionContextKeys",
//   key) for each key (multi-valued: ForAnyValue/ForAllValues read it; leave it unset when there
//   is no encryption context, which ForAllValues reads as the empty set);
//   Add("kms:GrantOperations", op) per operation; Set("aws:CurrentTime", "2024-05-01T12:00:00Z")
//   (ISO 8601, UTC) and Set("aws:EpochTime", "1714564800"); Set("aws:SecureTransport",
//   "true"|"false"); Set("aws:SourceIp", "203.0.113.7") (an IPv4-mapped IPv6 address is read as
//   IPv4); Set("kms:BypassPolicyLockoutSafetyCheck", "true") only when the request says so.
class RequestContext {
 public:
  std::string action;    // "kms:Encrypt", "iam:CreateUser", "sts:AssumeRole"
  std::string resource;  // the resource's ARN: a key ARN, an IAM user ARN, "*" for account-wide
  // The caller. Its ARN, account, type and (for sessions) role are what Principal and NotPrincipal
  // match and what aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:username and
  // aws:userid report; the engine sets those keys from it (see SetCaller).
  std::shared_ptr<const Principal> caller;

  // A context for one call of `action` on `resource` at `now_seconds`: the caller and the global
  // keys every service sets (aws:SourceIp, aws:SecureTransport, aws:UserAgent, aws:CurrentTime,
  // aws:EpochTime). Services add their own keys after.
  static RequestContext ForCall(const CallContext& call, std::string_view action,
                                std::string_view resource, int64_t now_seconds);

  // Sets the caller and the global condition keys derived from it (aws:PrincipalArn,
  // aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:userid, kms:CallerAccount).
  void SetCaller(std::shared_ptr<const Principal> principal);
  // Sets a single-valued key (replacing any value), or adds one value to a multi-valued key.
  void Set(std::string_view key, std::string value);
  void Add(std::string_view key, std::string value);
  // The values of a key, or nullptr when the request has no value for it.
  const std::vector<std::string>* Find(std::string_view key) const;

 private:
  // Lower-cased key names with their values; a handful per request, so a flat vector.
  std::vector<std::pair<std::string, std::vector<std::string>>> values_;
};

// What one policy says about one request.
struct Result {
  bool explicit_deny = false;
  // An Allow statement applies. For a resource policy: one whose Principal names the caller
  // itself (its user, role, session ARN, or "*").
  bool allow = false;
  // Resource policies only: an Allow statement applies whose Principal names the caller's account
  // (its root ARN or account id) and not the caller itself. For the root this is a direct allow;
  // for anyone else it delegates to their identity policies (as AWS's default key policy does).
  bool allow_for_account = false;
  // The statement that decided (its Sid, or "Statement[i]" when it has none), for logs and tests.
  std::string deciding_statement;
};

// A statement applies when its Action, Principal (resource and trust policies), Resource and every
// Condition match. A policy variable the request has no value for (and no default) makes its
// statement not apply, whatever its Effect, as AWS documents. Evaluate allocates only to name the
// deciding statement (a Sid longer than std::string's inline buffer); Authorize does not.
Result Evaluate(const Policy& policy, const RequestContext& context);

// The policies of one request, combined as AWS does (an explicit Deny anywhere wins; otherwise
// the resource policy must allow the caller directly, or allow its account and an identity policy
// allow the request (the root needs no identity policy), or a grant allow it; with no resource
// policy, an identity policy must allow it, the root always allowed).
struct AuthorizationRequest {
  const RequestContext* context = nullptr;
  const Policy* resource_policy = nullptr;  // nullptr: an action authorized by identity alone
  // Called only when no policy decided: does a grant allow this request? (KMS grants.)
  std::function<bool()> granted;
};

struct Decision {
  bool allowed = false;
  // When denied, AWS's AccessDenied message, e.g. "User: arn:aws:iam::111122223333:user/bob is
  // not authorized to perform: kms:Decrypt on resource: arn:aws:kms:...:key/... because no
  // resource-based policy allows the kms:Decrypt action", or "... with an explicit deny in a
  // resource-based policy", "... with an explicit deny in an identity-based policy", "... because
  // no identity-based policy allows the iam:CreateUser action".
  std::string message;
};

Decision Authorize(const AuthorizationRequest& request);

}  // namespace kmsd::policy
