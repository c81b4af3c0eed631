// The version kms reports (--version) and names in its User-Agent: the CMake project's version.
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"
#include "kmsd/version.h"

namespace kmsd::client {

std::string_view Version() { return kVersion; }

std::string UserAgent() { return StrCat("kms/", Version()); }

}  // namespace kmsd::client
