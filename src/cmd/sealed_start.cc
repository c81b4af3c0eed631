// The sealed phase of a start on a shares data dir, and the handler slot it swaps.
#include "cmd/sealed_start.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "kmsd/errors.h"
#include "kmsd/keystore.h"
#include "kmsd/strings.h"

namespace kmsd::cmd {
namespace {

// DependencyTimeoutException (503): a server fault that clients retry, and whose message reaches
// them as written (KMSInternalException's message is replaced by a generic one).
class SealedCredentialStore final : public CredentialStore {
 public:
  explicit SealedCredentialStore(Unsealer* unsealer) : unsealer_(unsealer) {}
  absl::StatusOr<std::shared_ptr<const Credential>> Find(std::string_view, std::string_view,
                                                         int64_t) const override {
    UnsealProgress progress = unsealer_->Progress();
    if (progress.unsealed) return Error(ErrorType::kDependencyTimeout, "kmsd is unsealing");
    return Error(ErrorType::kDependencyTimeout,
                 StrCat("kmsd is sealed: ", progress.threshold - progress.given,
                        " more unseal shares needed (kmsd unseal)"));
  }

 private:
  Unsealer* const unsealer_;
};

}  // namespace

void HandlerSlot::Install(AsyncHttpHandler handler) {
  handler_.store(std::make_shared<const AsyncHttpHandler>(std::move(handler)));
}

void HandlerSlot::operator()(std::shared_ptr<HttpExchange> exchange) const {
  std::shared_ptr<const AsyncHttpHandler> handler = handler_.load();
  if (!handler) return;  // dropped: the connection closes (never happens after Start)
  (*handler)(std::move(exchange));
}

SealedStart::SealedStart(SharesParameters parameters, Backend* backend)
    : parameters_(parameters), backend_(backend) {}

absl::StatusOr<std::unique_ptr<SealedStart>> SealedStart::Open(const std::string& data_dir,
                                                               const SealConfig& config,
                                                               Backend* backend) {
  auto parameters = ReadSharesParameters(config);
  if (!parameters.ok()) return parameters.status();
  std::unique_ptr<SealedStart> start(new SealedStart(*parameters, backend));
  SealedStart* self = start.get();
  start->unsealer_ = std::make_unique<Unsealer>(
      *parameters, [self](SecretBytes root_key) { return self->Open(std::move(root_key)); });
  start->credentials_ = std::make_unique<SealedCredentialStore>(start->unsealer_.get());
  auto listener =
      ListenForUnseal(StrCat(data_dir, "/", kUnsealSocketFile), start->unsealer_.get());
  if (!listener.ok()) return listener.status();
  start->listener_ = std::move(*listener);
  return start;
}

SealedStart::~SealedStart() {
  Finish(Internal("kmsd stopped before it could serve; see its log"));
  listener_.reset();
}

absl::Status SealedStart::Readiness() const {
  if (unsealed_) return absl::OkStatus();
  UnsealProgress progress = unsealer_->Progress();
  return absl::UnavailableError(
      StrCat("keystore sealed (", progress.given, " of ", progress.threshold, " unseal shares)"));
}

absl::Status SealedStart::Open(SecretBytes root_key) {
  std::unique_ptr<Seal> seal = NewRootKeySeal("shares", std::move(root_key));
  absl::Status checked = CheckKeyringUnwraps(backend_, seal.get());
  if (!checked.ok()) {
    spdlog::warn("unseal: the shares given do not open the keyring; progress reset");
    return Internal("the recombined root key does not unwrap the keyring key");
  }
  std::unique_lock lock(mutex_);
  unsealed_seal_ = std::move(seal);
  changed_.notify_all();
  // Serve's thread opens the keystore, identities and service, then installs the real handler.
  if (!changed_.wait_for(lock, std::chrono::seconds(50), [this] { return finished_.has_value(); })) {
    return Internal("kmsd took too long to open its services; see its log");
  }
  if (finished_->ok()) unsealed_ = true;
  return *finished_;
}

std::unique_ptr<Seal> SealedStart::WaitForUnseal(const sigset_t& signals, int* signal_number) {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (unsealed_seal_) return std::move(unsealed_seal_);
    }
    timespec tick{0, 200'000'000};
    int signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal > 0) {
      *signal_number = signal;
      return nullptr;
    }
  }
}

void SealedStart::Finish(absl::Status status) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = std::move(status);
  changed_.notify_all();
}

}  // namespace kmsd::cmd
