// Compiling the Condition element's operators and values (the JSON walk is in document.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "policy/compiled.h"

namespace kmsd::policy::internal {

// "ForAnyValue:StringNotLikeIfExists" -> its parts; nullopt for an operator AWS does not have.
std::optional<Condition> ParseOperatorName(std::string_view name);

// One policy value for the condition's operator. On a bad value, nullopt and *problem says why
// ("is not a number", "is not an IP address or CIDR block", ...).
std::optional<ConditionValue> CompileConditionValue(const Condition& condition,
                                                    std::string_view text, bool variables,
                                                    std::string* problem);

}  // namespace kmsd::policy::internal
