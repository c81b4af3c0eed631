// Request members and response pieces that several operations share.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "api/request_reader.h"

namespace kmsd::api {

inline constexpr std::string_view kSymmetricDefault = "SYMMETRIC_DEFAULT";

// Reads an EncryptionAlgorithm-shaped member; only SYMMETRIC_DEFAULT is usable with the keys kmsd
// has, anything else in the enum is InvalidKeyUsageException.
absl::Status ReadEncryptionAlgorithm(RequestReader& request, std::string_view member);

// Members the crypto operations share and kmsd does not act on: GrantTokens (validated), DryRun and
// Recipient (refused clearly rather than ignored, since ignoring them would change what the caller
// gets).
absl::Status ReadUnsupportedCryptoOptions(RequestReader& request);

}  // namespace kmsd::api
