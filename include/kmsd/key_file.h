// The check kmsd makes before it reads a TLS private key an operator names (--tls-key,
// --etcd-key): a key any user of the host can read (or replace) is refused, with the fix. Group
// access is allowed: Debian keeps TLS keys readable by the ssl-cert group (/etc/ssl/private).
// kmsd's own secrets (root.key, the audit signing key, the PKCS#11 PIN file) allow neither.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {

inline absl::Status CheckPrivateKeyFileMode(const std::string& path, std::string_view flag) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Validation(StrCat("cannot read the private key ", path, " (", flag, "): ",
                             std::strerror(errno)));
  }
  if ((st.st_mode & S_IRWXO) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Validation(StrCat("the private key ", path, " (", flag, ") has mode ", mode,
                             ": any user of this host can read or replace it; chmod o-rwx it "
                             "(0600, or 0640 for a group such as ssl-cert)"));
  }
  return absl::OkStatus();
}

}  // namespace kmsd
