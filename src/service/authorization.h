// How the KMS service asks the policy engine: AWS's default key policy, the request context of a
// call (the condition keys KMS defines, filled where they apply), and the decision as a status.
// The engine itself (include/kmsd/policy.h) knows nothing of KMS.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "kmsd/ciphertext_blob.h"
#include "kmsd/policy.h"
#include "kmsd/principal.h"
#include "kmsd/service.h"

namespace kmsd::authorization {

// AWS's default key policy for a key made by the API without a policy, exactly as GetKeyPolicy
// returns it: one statement that gives the account (and so its identity policies) kms:*.
std::string DefaultKeyPolicy(std::string_view account_id);

// A context for `action` on `resource` by the call's principal, with the global condition keys a
// call always has: the caller's (SetCaller), aws:SourceIp, aws:SecureTransport, aws:CurrentTime and
// aws:EpochTime (from now, Unix seconds).
policy::RequestContext NewContext(const CallContext& call, std::string_view action,
                                  std::string resource, int64_t now);

// kms:KeySpec, kms:KeyUsage and kms:KeyOrigin, of a key used or a key to be created.
void AddKeyProperties(policy::RequestContext& context, const KeyMetadata& key);
// kms:EncryptionContext:<key> for each pair and kms:EncryptionContextKeys.
void AddEncryptionContext(policy::RequestContext& context, const EncryptionContext& pairs);

// CreateGrant's: kms:GrantOperations, kms:GranteePrincipal, kms:RetiringPrincipal,
// kms:GrantConstraintType, and the constraints' pairs as kms:EncryptionContext:* and
// kms:EncryptionContextKeys (AWS applies those to the grant's constraints in CreateGrant).
void AddGrantConditions(policy::RequestContext& context, const CreateGrantRequest& request);

// Whether a principal as grants name it (GranteePrincipal, RetiringPrincipal) is the caller: its
// own ARN, or for a role session the role's ARN.
bool NamesCaller(std::string_view principal, const Principal& caller);

// OK when the policies allow the request, else AccessDeniedException with the engine's words.
// resource_policy nullptr: the action is authorized by identity policies alone. granted is asked
// only when no policy decided. A context without a caller is denied.
absl::Status Decide(const policy::RequestContext& context, const policy::Policy* resource_policy,
                    std::function<bool()> granted = nullptr);

// Whether an identity policy of the caller explicitly denies the request.
bool IdentityPolicyDenies(const policy::RequestContext& context);

}  // namespace kmsd::authorization
