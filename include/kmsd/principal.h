// Who is calling: the identity that a verified SigV4 signature (and, for temporary credentials,
// session token) proves, with what policies see of it. Immutable once built; shared between the
// requests of one credential (std::shared_ptr<const Principal>), so it is safe across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kmsd {

namespace policy {
class Policy;  // include/kmsd/policy.h
}

enum class PrincipalType { kRoot, kIamUser, kAssumedRole };

struct Principal {
  PrincipalType kind = PrincipalType::kRoot;
  std::string type;          // CloudTrail's userIdentity.type: "Root", "IAMUser", "AssumedRole"
  std::string principal_id;  // root: account id; user: its AIDA... id; session: "AROA...:session"
  // root: arn:aws:iam::ACCOUNT:root; user: arn:aws:iam::ACCOUNT:user/PATH/NAME;
  // session: arn:aws:sts::ACCOUNT:assumed-role/ROLE-NAME/SESSION-NAME
  std::string arn;
  std::string account_id;
  std::string access_key_id;
  std::string user_name;  // IAMUser: the user's name (aws:username); empty otherwise

  // AssumedRole only: the role the session was issued for (CloudTrail's sessionIssuer).
  std::string role_arn;   // arn:aws:iam::ACCOUNT:role/PATH/NAME
  std::string role_id;    // AROA...
  std::string role_name;
  std::string session_name;
  int64_t session_created = 0;     // Unix seconds
  int64_t session_expiration = 0;  // Unix seconds

  // The identity-based policies in force for this caller, compiled: a user's inline policies or
  // the assumed role's. Empty for the root account, which identity policies do not bind (key
  // policies still do).
  std::vector<std::shared_ptr<const policy::Policy>> identity_policies;

  bool IsRoot() const { return kind == PrincipalType::kRoot; }
};

// The account root, as every component names it.
Principal RootPrincipal(const std::string& account_id, const std::string& access_key_id);

// Everything the service needs to know about one call, beyond its parameters.
struct CallContext {
  std::shared_ptr<const Principal> principal;  // never null for an authenticated call
  std::string request_id;
  std::string source_ip;
  std::string user_agent;
  bool secure_transport = false;  // the request came over TLS (aws:SecureTransport)
  // The eventID of the request's audit record (CloudTrail's), made before the call so that the
  // service can name it (GetKeyLastUsage's CloudTrailEventId). Empty outside a server.
  std::string event_id;
  // The request asks for a DryRun: the operation is checked and its result thrown away, so it is
  // no use of the key (key usage tracking ignores it).
  bool dry_run = false;
  // The region the request's SigV4 scope names (issue 13: several regions). Empty: the default.
  std::string region;
};

}  // namespace kmsd
