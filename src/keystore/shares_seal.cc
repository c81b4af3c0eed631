// The shares seal's parameters, its shares, and the Unsealer that collects them.
#include "kmsd/shares_seal.h"

#include "kmsd/crypto.h"
#include "kmsd/errors.h"
#include "kmsd/strings.h"

namespace kmsd {

SealConfig SharesSealConfig(const SharesParameters& parameters) {
  SealConfig config;
  config.type = "shares";
  config.parameters = {{"shares", parameters.shares},
                       {"threshold", parameters.threshold},
                       {"set_id", crypto::HexEncode(std::string{
                                      static_cast<char>(parameters.set_id >> 24),
                                      static_cast<char>(parameters.set_id >> 16),
                                      static_cast<char>(parameters.set_id >> 8),
                                      static_cast<char>(parameters.set_id)})}};
  return config;
}

absl::StatusOr<SharesParameters> ReadSharesParameters(const SealConfig& config) {
  const nlohmann::json& json = config.parameters;
  auto malformed = [] {
    return Internal(
        "seal.json: the shares seal needs parameters {\"shares\": N, \"threshold\": T, "
        "\"set_id\": 8 hex digits} with 2 <= T <= N <= 255");
  };
  if (config.type != "shares" || !json.is_object() || !json.contains("shares") ||
      !json.contains("threshold") || !json.contains("set_id") ||
      !json["shares"].is_number_integer() || !json["threshold"].is_number_integer() ||
      !json["set_id"].is_string()) {
    return malformed();
  }
  SharesParameters parameters;
  parameters.shares = json["shares"].get<int>();
  parameters.threshold = json["threshold"].get<int>();
  std::string set_id = json["set_id"].get<std::string>();
  if (parameters.threshold < shamir::kMinThreshold || parameters.threshold > parameters.shares ||
      parameters.shares > shamir::kMaxShares || set_id.size() != 8) {
    return malformed();
  }
  for (char c : set_id) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return malformed();
    parameters.set_id = (parameters.set_id << 4) | static_cast<uint32_t>(digit);
  }
  return parameters;
}

absl::StatusOr<GeneratedShares> GenerateShares(int shares, int threshold) {
  auto root_key = crypto::RandomSecret(crypto::kAes256KeySize);
  if (!root_key.ok()) return root_key.status();
  auto split = shamir::Split(*root_key, shares, threshold);
  if (!split.ok()) return split.status();
  auto set_id = crypto::RandomBytes(4);
  if (!set_id.ok()) return set_id.status();
  GeneratedShares generated;
  generated.parameters.shares = shares;
  generated.parameters.threshold = threshold;
  for (char c : *set_id) {
    generated.parameters.set_id = (generated.parameters.set_id << 8) | static_cast<uint8_t>(c);
  }
  generated.root_key = std::move(*root_key);
  for (shamir::Share& share : *split) {
    generated.texts.push_back(shamir::EncodeShare(
        {generated.parameters.set_id, static_cast<uint8_t>(threshold), std::move(share)}));
  }
  return generated;
}

Unsealer::Unsealer(SharesParameters parameters, OpenFunction open, std::chrono::seconds timeout,
                   NowFunction now)
    : parameters_(parameters), open_(std::move(open)), timeout_(timeout), now_(std::move(now)) {}

absl::StatusOr<UnsealProgress> Unsealer::Submit(std::string_view share_text) {
  std::lock_guard lock(mutex_);
  ExpireStaleLocked();
  if (unsealed_) return ProgressLocked();
  auto decoded = shamir::DecodeShare(share_text);
  if (!decoded.ok()) return decoded.status();
  if (decoded->set_id != parameters_.set_id) {
    return Validation(
        "this share is not one of this data dir's shares (it belongs to another kmsd data dir, "
        "or to an earlier kmsd init or seal migrate)");
  }
  if (decoded->threshold != parameters_.threshold ||
      decoded->share.index > parameters_.shares) {
    return Validation("this share does not match this data dir's seal.json (shares, threshold)");
  }
  for (const shamir::Share& share : given_) {
    if (share.index == decoded->share.index) {
      return Validation(StrCat("share ", static_cast<int>(share.index),
                               " was already given; give another one"));
    }
  }
  if (given_.empty()) first_given_ = now_();
  given_.push_back(std::move(decoded->share));
  if (static_cast<int>(given_.size()) < parameters_.threshold) return ProgressLocked();

  auto root_key = shamir::Combine(given_);
  given_.clear();  // SecretBytes: wiped
  if (!root_key.ok()) return root_key.status();
  absl::Status opened = open_(std::move(*root_key));
  if (!opened.ok()) {
    return Internal(StrCat("the ", parameters_.threshold,
                           " shares given do not open this data dir (", opened.message(),
                           "); progress reset: give ", parameters_.threshold,
                           " shares again, checking each"));
  }
  unsealed_ = true;
  return ProgressLocked();
}

UnsealProgress Unsealer::Progress() {
  std::lock_guard lock(mutex_);
  ExpireStaleLocked();
  return ProgressLocked();
}

void Unsealer::ExpireStale() {
  std::lock_guard lock(mutex_);
  ExpireStaleLocked();
}

void Unsealer::ExpireStaleLocked() {
  if (!given_.empty() && now_() - first_given_ >= timeout_) given_.clear();
}

UnsealProgress Unsealer::ProgressLocked() const {
  return {unsealed_, static_cast<int>(given_.size()), parameters_.threshold};
}

}  // namespace kmsd
