// A start on a data dir protected by the shares seal (docs/SEAL.md, "Shamir shares"): kmsd
// listens and answers at once, but sealed, until `kmsd unseal` has given it the threshold of
// shares over DATA_DIR/unseal.sock; the real API handler then replaces the sealed one in the
// forwarding slot the HTTP server calls.
#pragma once

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kmsd/credentials.h"
#include "kmsd/http.h"
#include "kmsd/seal.h"
#include "kmsd/seal_config.h"
#include "kmsd/shares_seal.h"
#include "kmsd/storage.h"
#include "kmsd/unseal_channel.h"

namespace kmsd::cmd {

// The forwarding slot between the HTTP server and the API handler: the server is built with it
// before the handler exists, and a sealed start swaps the real handler in while the server runs.
// Thread-safe: each request loads the current handler atomically and keeps it alive while it
// runs.
class HandlerSlot {
 public:
  void Install(AsyncHttpHandler handler);
  void operator()(std::shared_ptr<HttpExchange> exchange) const;

 private:
  std::atomic<std::shared_ptr<const AsyncHttpHandler>> handler_;
};

// The sealed phase of a start. Not thread-safe itself: used by Serve's thread; the Unsealer runs
// on the unseal socket's thread and meets Serve's thread in WaitForUnseal and Finish.
class SealedStart {
 public:
  // Reads the shares parameters from config and listens on DATA_DIR/unseal.sock. backend is not
  // owned and must outlive this.
  static absl::StatusOr<std::unique_ptr<SealedStart>> Open(const std::string& data_dir,
                                                           const SealConfig& config,
                                                           Backend* backend);
  // Tells a waiting `kmsd unseal` that kmsd failed, if Finish was not called.
  ~SealedStart();

  // Refuses every caller with DependencyTimeoutException "kmsd is sealed: N more unseal shares
  // needed": the router then answers each signed KMS, IAM and STS request in its service's shape
  // (503) and audits it. Valid while this lives.
  const CredentialStore* credentials() const { return credentials_.get(); }
  // OK once unsealed, else the reason /ready shows.
  absl::Status Readiness() const;
  const SharesParameters& parameters() const { return parameters_; }

  // Blocks until the shares given recombine to a root key that opens the keyring (returns the
  // seal), or until a signal of `signals` arrives (returns nullptr, the signal in
  // *signal_number).
  std::unique_ptr<Seal> WaitForUnseal(const sigset_t& signals, int* signal_number);
  // After WaitForUnseal returned a seal: the outcome of opening the services with it, which the
  // `kmsd unseal` that gave the last share waits for.
  void Finish(absl::Status status);

 private:
  SealedStart(SharesParameters parameters, Backend* backend);
  absl::Status Open(SecretBytes root_key);  // the Unsealer's open, on the socket's thread

  const SharesParameters parameters_;
  Backend* const backend_;
  std::unique_ptr<CredentialStore> credentials_;
  std::unique_ptr<Unsealer> unsealer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<Seal> unsealed_seal_;    // guarded by mutex_: handed to WaitForUnseal
  std::optional<absl::Status> finished_;   // guarded by mutex_: set by Finish
  std::atomic<bool> unsealed_{false};
  std::unique_ptr<UnsealListener> listener_;  // last: stopped first
};

}  // namespace kmsd::cmd
