// The operational endpoints, for load balancers, Kubernetes probes and Prometheus: GET (or HEAD)
// /health, /ready and /metrics. They are unauthenticated, never audited, and carry no key data:
// /health says the process serves, /ready whether every readiness check passes (503 with a short
// plain reason when one fails), /metrics the registry in the Prometheus text format. The API
// endpoint answers them before SigV4 (ApiOptions::ops); `kmsd serve --metrics-listen` serves
// them alone on a second listener (NewOpsHandler). docs/METRICS.md documents them. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kmsd/http.h"
#include "kmsd/metrics.h"
#include "kmsd/regions.h"
#include "kmsd/service.h"

namespace kmsd {

// One condition /ready requires. `check` returns OK when it holds, else a status whose message
// is the short reason shown to anyone who asks (no paths, no key data). It may block briefly
// (a storage read): /ready runs the checks on the server's pool for blocking work.
struct ReadinessCheck {
  std::string name;  // "storage", "audit", "keystore"
  std::function<absl::Status()> check;
};

struct OpsOptions {
  std::vector<ReadinessCheck> readiness_checks;
  // The registry /metrics renders (not owned; must outlive the handler). nullptr: /metrics
  // answers 404 here (kmsd: it is served on the --metrics-listen address instead).
  const metrics::Registry* metrics = nullptr;
};

// The answer when `request` is for one of the endpoints (its exact path with GET or HEAD), else
// nullopt. Runs the readiness checks and the registry's collectors: may block briefly.
std::optional<HttpResponse> ServeOps(const OpsOptions& options, const HttpRequest& request);
// True when ServeOps would answer the request (cheap, does not block).
bool IsOpsRequest(const HttpRequest& request);

// A handler for a listener that serves only the operational endpoints: 405 for another method on
// their paths, 404 for any other path.
AsyncHttpHandler NewOpsHandler(OpsOptions options);

// The KMS service's metrics, computed at scrape time: keys by state (kmsd_keys{state="Enabled"|
// "Disabled"|"PendingDeletion"|"PendingImport"|"PendingReplicaDeletion"}) and the key cache's
// hits, misses and entries. The service is not owned and must outlive the registry's scrapes.
void AddServiceMetrics(metrics::Registry& registry, KmsService* service);
// The same over every region (issue 13).
void AddServiceMetrics(metrics::Registry& registry, KmsRegions* regions);

}  // namespace kmsd
