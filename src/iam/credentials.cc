// The identity service as kmsd's CredentialStore: the root credential, users' access keys and
// STS sessions, answered from memory on every request.
#include "iam/iam_service_impl.h"
#include "iam/identifiers.h"
#include "iam/session_token.h"
#include "kmsd/crypto.h"
#include "kmsd/strings.h"

namespace kmsd::iam {
namespace {

// Tokens opened once are remembered; past this many the memory starts again from empty.
constexpr size_t kMaxRememberedSessions = 10000;

absl::Status UnrecognizedKey() {
  return Error(ErrorType::kUnrecognizedClient,
               "The security token included in the request is invalid.");
}

absl::Status InvalidToken() {
  return Error(ErrorType::kInvalidClientTokenId,
               "The security token included in the request is invalid.");
}

absl::Status ExpiredToken() {
  return Error(ErrorType::kExpiredToken, "The security token included in the request is expired");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Credential>> IamServiceImpl::Find(
    std::string_view access_key_id, std::string_view session_token, int64_t now_seconds) const {
  if (access_key_id.starts_with(kSessionAccessKeyIdPrefix)) {
    return FindSession(access_key_id, session_token, now_seconds);
  }
  std::shared_ptr<const Credential> credential;
  if (access_key_id == options_.root_access_key_id) {
    credential = root_credential_;
  } else if (shared_ && stale_.load(std::memory_order_acquire)) {
    // The index may be stale: storage answers, or the request fails.
    auto stored = CredentialFromStorage(access_key_id);
    if (!stored.ok()) {
      return TypeOf(stored.status()) == ErrorType::kNotFound ? UnrecognizedKey() : stored.status();
    }
    credential = std::move(*stored);
  } else {
    if (auto status = EnsureCurrent(); !status.ok()) return status;
    bool known = false;
    {
      std::shared_lock lock(index_mutex_);
      auto it = access_keys_.find(access_key_id);
      known = it != access_keys_.end();
      if (known && it->second->metadata.status != AccessKeyStatus::kActive) {
        return UnrecognizedKey();
      }
      if (known) credential = it->second->credential;
    }
    if (!known && !shared_) return UnrecognizedKey();
    if (!known) {
      // Created on another node a moment ago, maybe, and not reported yet: storage says.
      auto stored = CredentialFromStorage(access_key_id);
      if (!stored.ok()) {
        return TypeOf(stored.status()) == ErrorType::kNotFound ? UnrecognizedKey()
                                                               : stored.status();
      }
      reload_needed_.store(true, std::memory_order_release);
      credential = std::move(*stored);
    }
  }
  // A long-term key with a token: the token is not this key's.
  if (!session_token.empty()) return InvalidToken();
  return credential;
}

absl::StatusOr<std::shared_ptr<const Credential>> IamServiceImpl::FindSession(
    std::string_view access_key_id, std::string_view session_token, int64_t now_seconds) const {
  if (session_token.empty()) return UnrecognizedKey();
  // The role must be current (a shared store's change read, and while stale, read every time).
  if (auto status = EnsureCurrent(); !status.ok()) return status;
  std::shared_ptr<const SessionEntry> seen;
  {
    std::shared_lock lock(sessions_mutex_);
    auto it = sessions_.find(access_key_id);
    if (it != sessions_.end() && crypto::ConstantTimeEquals(it->second->token, session_token)) {
      seen = it->second;
    }
  }

  std::optional<SessionClaims> claims;
  int64_t expiration = 0;
  std::string role_name;
  std::string role_id;
  if (seen) {
    expiration = seen->expiration;
    role_name = seen->role->role.role_name;
    role_id = seen->role->role.role_id;
  } else {
    auto opened = OpenSessionToken(session_key_, access_key_id, session_token);
    if (!opened.ok()) return opened.status();
    claims = std::move(*opened);
    expiration = claims->expiration;
    role_name = claims->role_name;
    role_id = claims->role_id;
  }
  if (now_seconds >= expiration) return ExpiredToken();

  // The role must still be the one the session was issued for: deleted (or deleted and made
  // again under the same name) ends its sessions.
  auto role = FindRole(role_name);
  if (!role.ok() || (*role)->role.role_id != role_id) return InvalidToken();
  if (seen && seen->role == *role) return seen->credential;

  // First use, or the role changed (its policies): build the credential from the role as it is.
  auto entry = std::make_shared<SessionEntry>();
  entry->token = std::string(session_token);
  entry->role = *role;
  entry->expiration = expiration;
  if (claims) {
    entry->credential = SessionCredential(**role, access_key_id, claims->secret_access_key,
                                          claims->session_name, claims->created, expiration);
  } else {
    const Principal& was = *seen->credential->principal;
    entry->credential =
        SessionCredential(**role, access_key_id, seen->credential->secret_access_key,
                          was.session_name, was.session_created, expiration);
  }
  std::unique_lock lock(sessions_mutex_);
  if (sessions_.size() >= kMaxRememberedSessions) sessions_.clear();
  sessions_.insert_or_assign(std::string(access_key_id), entry);
  return entry->credential;
}

}  // namespace kmsd::iam
