// Compiling the Principal and NotPrincipal elements' values (the JSON walk is in document.cc).
#pragma once

#include <optional>
#include <string_view>

#include "policy/compiled.h"

namespace kmsd::policy::internal {

// One value of a principal type ("AWS", "Service", "Federated", "CanonicalUser"); nullopt when
// the type is unknown or the value is not a valid principal of that type.
std::optional<PrincipalEntry> CompilePrincipal(std::string_view type, std::string_view value);

}  // namespace kmsd::policy::internal
