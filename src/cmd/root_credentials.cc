#include "cmd/root_credentials.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
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

}  // namespace

void RootCredentials::WipeSecret() {
  OPENSSL_cleanse(secret_access_key.data(), secret_access_key.size());
  secret_access_key.clear();
}

absl::StatusOr<RootCredentials> LoadOrCreateRootCredentials(const std::filesystem::path& data_dir) {
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
    return credentials;
  }
  if ((env_id && *env_id) != (env_secret && *env_secret)) {
    return kmsd::Validation(
        "set both KMSD_ROOT_ACCESS_KEY_ID and KMSD_ROOT_SECRET_ACCESS_KEY, or neither");
  }
  std::filesystem::path path = data_dir / kCredentialsFile;
  std::ifstream in(path);
  if (in) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return kmsd::Validation(kmsd::StrCat(path.string(),
                                           " is readable by group or others; chmod 600 it"));
    }
    if (!std::getline(in, credentials.access_key_id) ||
        !std::getline(in, credentials.secret_access_key) || credentials.access_key_id.empty() ||
        credentials.secret_access_key.empty()) {
      return kmsd::Validation(kmsd::StrCat(path.string(), " is malformed"));
    }
    absl::Status checked = CheckSecret(credentials.secret_access_key, path.string());
    if (!checked.ok()) return checked;
    return credentials;
  }
  credentials.access_key_id = "AKIA" + RandomToken(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  credentials.secret_access_key = RandomToken(
      40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  credentials.generated = true;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return kmsd::Internal(kmsd::StrCat("cannot create ", path.string()));
  std::string content =
      kmsd::StrCat(credentials.access_key_id, "\n", credentials.secret_access_key, "\n");
  bool written = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  written = fsync(fd) == 0 && written;
  close(fd);
  OPENSSL_cleanse(content.data(), content.size());
  if (!written) return kmsd::Internal(kmsd::StrCat("cannot write ", path.string()));
  return credentials;
}

}  // namespace kmsd::cmd
