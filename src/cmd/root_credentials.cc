#include "cmd/root_credentials.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/storage.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

// Characters safe in environment variables and shell lines without quoting.
std::string RandomToken(size_t length, std::string_view alphabet) {
  auto bytes = kmsd::crypto::RandomSecret(length);
  if (!bytes.ok()) {
    std::cerr << "kmsd: the system random number generator failed\n";
    std::exit(1);
  }
  std::string token;
  // 256 is a multiple of neither alphabet size, so reject bytes past the largest multiple to keep
  // every character equally likely.
  size_t limit = 256 - 256 % alphabet.size();
  while (token.size() < length) {
    for (size_t i = 0; i < bytes->size() && token.size() < length; ++i) {
      if (bytes->data()[i] < limit) token.push_back(alphabet[bytes->data()[i] % alphabet.size()]);
    }
    bytes = kmsd::crypto::RandomSecret(length);
  }
  return token;
}

absl::Status CheckSecret(const std::string& secret, std::string_view where) {
  if (secret.size() < kMinimumRootSecretLength) {
    return kmsd::Validation(kmsd::StrCat(
        "the root secret access key in ", where, " has ", secret.size(),
        " characters; it must have at least ", kMinimumRootSecretLength,
        " (a short secret can be guessed; remove it to have kmsd generate a 40-character one)"));
  }
  return absl::OkStatus();
}

// "ACCESS_KEY_ID\nSECRET\n", as the sealed record and the old file hold it (the file's last
// newline may be missing).
absl::Status Parse(std::string_view text, std::string_view where, RootCredentials& out) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  size_t newline = text.find('\n');
  if (newline == std::string_view::npos || newline == 0 || newline + 1 == text.size() ||
      text.find('\n', newline + 1) != std::string_view::npos) {
    return kmsd::Validation(kmsd::StrCat(where, " is malformed"));
  }
  out.access_key_id = std::string(text.substr(0, newline));
  out.secret_access_key = std::string(text.substr(newline + 1));
  return CheckSecret(out.secret_access_key, where);
}

// The old plaintext file, when it exists: nullopt when it does not.
absl::StatusOr<std::optional<RootCredentials>> ReadOldFile(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return kmsd::Internal(kmsd::StrCat("cannot read ", path.string(), ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) {
    close(fd);
    return kmsd::Validation(kmsd::StrCat(path.string(), " is not a small regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return kmsd::Validation(kmsd::StrCat(path.string(),
                                         " is readable by group or others; chmod 600 it"));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  ssize_t n = read(fd, text.data(), text.size());
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    OPENSSL_cleanse(text.data(), text.size());
    return kmsd::Internal(kmsd::StrCat("cannot read ", path.string()));
  }
  RootCredentials credentials;
  absl::Status parsed = Parse(text, path.string(), credentials);
  OPENSSL_cleanse(text.data(), text.size());
  if (!parsed.ok()) return parsed;
  return std::optional<RootCredentials>(std::move(credentials));
}

// Removes the old file once its credentials are sealed, and makes the removal durable.
absl::Status RemoveOldFile(const std::filesystem::path& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return kmsd::Internal(kmsd::StrCat("cannot remove ", path.string(), ": ", std::strerror(errno)));
  }
  int dir = open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return absl::OkStatus();
}

bool SameCredentials(const RootCredentials& a, const RootCredentials& b) {
  return a.access_key_id == b.access_key_id &&
         kmsd::crypto::ConstantTimeEquals(a.secret_access_key, b.secret_access_key);
}

}  // namespace

void RootCredentials::WipeSecret() {
  OPENSSL_cleanse(secret_access_key.data(), secret_access_key.size());
  secret_access_key.clear();
}

absl::StatusOr<RootCredentials> LoadOrCreateRootCredentials(const std::filesystem::path& data_dir,
                                                            Keystore& keystore) {
  RootCredentials credentials;
  const char* env_id = std::getenv("KMSD_ROOT_ACCESS_KEY_ID");
  const char* env_secret = std::getenv("KMSD_ROOT_SECRET_ACCESS_KEY");
  if (env_id && env_secret && *env_id && *env_secret) {
    credentials.access_key_id = env_id;
    credentials.secret_access_key = env_secret;
    credentials.from_environment = true;
    OPENSSL_cleanse(const_cast<char*>(env_secret), std::strlen(env_secret));
    unsetenv("KMSD_ROOT_SECRET_ACCESS_KEY");
    absl::Status checked = CheckSecret(credentials.secret_access_key, "KMSD_ROOT_SECRET_ACCESS_KEY");
    if (!checked.ok()) return checked;
    // Other credentials sealed by an earlier start are replaced for good, so that lost or stolen
    // ones never come back into force when the environment no longer gives these.
    auto stored = keystore.GetVersioned(kRootCredentialsRecordId);
    if (!stored.ok()) return stored.status();
    if (stored->value) {
      RootCredentials sealed;
      absl::Status parsed = Parse(stored->value->view(), "the sealed root credentials", sealed);
      if (!parsed.ok() || !SameCredentials(sealed, credentials)) {
        KeystoreBatch batch;
        batch.deletes.emplace_back(kRootCredentialsRecordId);
        batch.expect.emplace_back(std::string(kRootCredentialsRecordId), stored->version);
        absl::Status deleted = keystore.Commit(batch);
        // Another node changed the record meanwhile: its next start without the environment
        // decides; this start goes on with the environment's credentials either way.
        if (!deleted.ok() && !kmsd::IsStorageConflict(deleted)) return deleted;
        credentials.replaced_sealed = deleted.ok();
        credentials.replaced_access_key_id = sealed.access_key_id;
      }
    }
    return credentials;
  }
  if ((env_id && *env_id) != (env_secret && *env_secret)) {
    return kmsd::Validation(
        "set both KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY, or neither");
  }
  std::filesystem::path path = data_dir / kCredentialsFile;
  auto old_file = ReadOldFile(path);
  if (!old_file.ok()) return old_file.status();

  // Two tries: a node of a shared keystore may create the record between our read and write.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto stored = keystore.GetVersioned(kRootCredentialsRecordId);
    if (!stored.ok()) return stored.status();
    if (stored->value) {
      absl::Status parsed = Parse(stored->value->view(), "the sealed root credentials", credentials);
      if (!parsed.ok()) return parsed;
      if (*old_file) {
        if (!SameCredentials(**old_file, credentials)) {
          return kmsd::Validation(kmsd::StrCat(
              path.string(), " holds other root credentials (access key id ",
              (*old_file)->access_key_id, ") than those sealed in the keystore (",
              credentials.access_key_id,
              "). Remove the file to keep the sealed ones, or give the ones you want in "
              "KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY"));
        }
        // Sealed by an earlier start that stopped before it removed the file.
        if (auto removed = RemoveOldFile(path); !removed.ok()) return removed;
        credentials.moved_from_file = true;
      }
      return credentials;
    }
    if (*old_file) {
      credentials.access_key_id = (*old_file)->access_key_id;
      credentials.secret_access_key = (*old_file)->secret_access_key;
      credentials.moved_from_file = true;
    } else {
      credentials.access_key_id = "AKIA" + RandomToken(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
      credentials.secret_access_key = RandomToken(
          40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
      credentials.generated = true;
    }
    std::string record =
        kmsd::StrCat(credentials.access_key_id, "\n", credentials.secret_access_key, "\n");
    KeystoreBatch batch;
    batch.puts.emplace_back(std::string(kRootCredentialsRecordId), record);
    batch.expect.emplace_back(std::string(kRootCredentialsRecordId), "");
    absl::Status committed = keystore.Commit(batch);
    OPENSSL_cleanse(record.data(), record.size());
    if (committed.ok()) {
      if (credentials.moved_from_file) {
        if (auto removed = RemoveOldFile(path); !removed.ok()) return removed;
      }
      return credentials;
    }
    if (!kmsd::IsStorageConflict(committed)) return committed;
    credentials.WipeSecret();
    credentials.generated = credentials.moved_from_file = false;
  }
  return kmsd::Internal("the root credentials record kept changing while kmsd read it");
}

}  // namespace kmsd::cmd
