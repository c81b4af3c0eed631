// The shares seal (docs/SEAL.md, "Shamir shares"): the root key exists only in memory, split by
// Shamir's scheme (include/kmsd/shamir.h) into N shares held by operators, any T of which give it
// back. `kmsd init --shares N --threshold T` (or `kmsd seal migrate --to shares`) makes the root
// key and prints the shares once; DATA_DIR/seal.json keeps only {"shares", "threshold",
// "set_id"}. A start is sealed until T shares reach the Unsealer (through `kmsd unseal` and the
// data dir's Unix socket, include/kmsd/unseal_channel.h), which recombines them, has the result
// checked against the stored keyring key, and hands it on. Wrapping is the file seal's
// (NewRootKeySeal "shares"). The Unsealer is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmsd/seal_config.h"
#include "kmsd/secret_bytes.h"
#include "kmsd/shamir.h"

namespace kmsd {

struct SharesParameters {
  int shares = 0;
  int threshold = 0;
  uint32_t set_id = 0;  // written into every share: shares of another split are refused by name
};

// seal.json of a shares data dir, and back (kKmsInternal when the parameters are missing or out
// of range).
SealConfig SharesSealConfig(const SharesParameters& parameters);
absl::StatusOr<SharesParameters> ReadSharesParameters(const SealConfig& config);

// A fresh root key and its shares' text forms (secret: shown to the operator once, then wiped).
struct GeneratedShares {
  SharesParameters parameters;
  SecretBytes root_key;
  std::vector<SecretBytes> texts;  // texts[i] is share i + 1
};
absl::StatusOr<GeneratedShares> GenerateShares(int shares, int threshold);

// Where the given shares stand.
struct UnsealProgress {
  bool unsealed = false;
  int given = 0;  // distinct valid shares held now (0 once unsealed)
  int threshold = 0;
};

// Collects shares until the threshold, then recombines the root key and calls `open` with it:
// OK from `open` means unsealed for good (later shares are ignored); an error (the shares gave a
// wrong key, which the keyring's unwrap tells) resets the progress and is returned to the giver.
// A partial set is forgotten (wiped) `timeout` after its first share. Shares are wiped as soon
// as they are used; none is ever logged.
class Unsealer {
 public:
  using OpenFunction = std::function<absl::Status(SecretBytes root_key)>;
  using NowFunction = std::function<std::chrono::steady_clock::time_point()>;

  Unsealer(SharesParameters parameters, OpenFunction open,
           std::chrono::seconds timeout = std::chrono::minutes(10),
           NowFunction now = &std::chrono::steady_clock::now);

  // One share's text form. Errors (kValidation) leave the progress as it was, except a wrong
  // recombination, which resets it (kKmsInternal: with its message for the operator).
  absl::StatusOr<UnsealProgress> Submit(std::string_view share_text);
  UnsealProgress Progress();
  // Forgets a partial set older than the timeout (also done by Submit and Progress).
  void ExpireStale();

 private:
  void ExpireStaleLocked();
  UnsealProgress ProgressLocked() const;

  const SharesParameters parameters_;
  const OpenFunction open_;
  const std::chrono::seconds timeout_;
  const NowFunction now_;
  std::mutex mutex_;
  std::vector<shamir::Share> given_;  // guarded by mutex_
  std::chrono::steady_clock::time_point first_given_;
  bool unsealed_ = false;
};

}  // namespace kmsd
