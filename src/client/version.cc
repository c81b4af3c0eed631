// The version kms reports (--version) and names in its User-Agent: the CMake project's version.
#include "kmsd/kms_client.h"
#include "kmsd/strings.h"

#ifndef KMS_CLIENT_VERSION
#error "CMakeLists.txt defines KMS_CLIENT_VERSION for kmsd_client"
#endif

namespace kmsd::client {

std::string_view Version() { return KMS_CLIENT_VERSION; }

std::string UserAgent() { return StrCat("kms/", Version()); }

}  // namespace kmsd::client
