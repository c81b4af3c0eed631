// GET /health, /ready and /metrics: answered without authentication or audit, carrying no key
// data (include/kmsd/ops.h).
#include <memory>

#include "kmsd/ops.h"
#include "kmsd/strings.h"

namespace kmsd {
namespace {

constexpr std::string_view kHealthPath = "/health";
constexpr std::string_view kReadyPath = "/ready";
constexpr std::string_view kMetricsPath = "/metrics";
constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

bool IsOpsPath(std::string_view target) {
  return target == kHealthPath || target == kReadyPath || target == kMetricsPath;
}

HttpResponse PlainAnswer(int status, std::string body,
                         std::string_view content_type = kPlainText) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", std::string(content_type));
  // A probe's answer is about this instant; no cache may keep it.
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = std::move(body);
  return response;
}

HttpResponse Ready(const OpsOptions& options) {
  std::string reasons;
  for (const ReadinessCheck& check : options.readiness_checks) {
    absl::Status status = check.check ? check.check() : absl::OkStatus();
    if (!status.ok()) reasons.append(StrCat(check.name, ": ", status.message(), "\n"));
  }
  if (!reasons.empty()) return PlainAnswer(503, StrCat("not ready\n", reasons));
  return PlainAnswer(200, "ready\n");
}

}  // namespace

bool IsOpsRequest(const HttpRequest& request) {
  return (request.method == "GET" || request.method == "HEAD") && IsOpsPath(request.target);
}

std::optional<HttpResponse> ServeOps(const OpsOptions& options, const HttpRequest& request) {
  if (!IsOpsRequest(request)) return std::nullopt;
  HttpResponse response;
  if (request.target == kHealthPath) {
    response = PlainAnswer(200, "ok\n");
  } else if (request.target == kReadyPath) {
    response = Ready(options);
  } else if (options.metrics) {
    response = PlainAnswer(200, options.metrics->Render(), metrics::kTextContentType);
  } else {
    response = PlainAnswer(404, "metrics are served on the --metrics-listen address\n");
  }
  if (request.method == "HEAD") response.body.clear();
  return response;
}

AsyncHttpHandler NewOpsHandler(OpsOptions options) {
  auto shared = std::make_shared<const OpsOptions>(std::move(options));
  return [shared](std::shared_ptr<HttpExchange> exchange) {
    const HttpRequest& request = exchange->Request();
    if (!IsOpsRequest(request)) {
      HttpResponse refused = IsOpsPath(request.target)
                                 ? PlainAnswer(405, "method not allowed\n")
                                 : PlainAnswer(404, "not found\n");
      if (refused.status == 405) refused.headers.emplace_back("Allow", "GET, HEAD");
      exchange->Reply(std::move(refused));
      return;
    }
    exchange->Offload([shared, exchange] {
      exchange->Reply(*ServeOps(*shared, exchange->Request()));
    });
  };
}

namespace {

// Service: KmsService or KmsRegions (both count keys and the cache).
template <typename Service>
void AddKeyMetrics(metrics::Registry& registry, Service* service) {
  registry.AddCollector(
      "kmsd_keys", "KMS keys by key state, counted from storage at each scrape.",
      metrics::MetricType::kGauge, {"state"}, [service](std::vector<metrics::Sample>& samples) {
        auto counts = service->CountKeysByState();
        if (!counts.ok()) return false;
        samples.push_back({{std::string(KeyStateName(KeyState::kEnabled))},
                           static_cast<double>(counts->enabled)});
        samples.push_back({{std::string(KeyStateName(KeyState::kDisabled))},
                           static_cast<double>(counts->disabled)});
        samples.push_back({{std::string(KeyStateName(KeyState::kPendingDeletion))},
                           static_cast<double>(counts->pending_deletion)});
        samples.push_back({{std::string(KeyStateName(KeyState::kPendingImport))},
                           static_cast<double>(counts->pending_import)});
        samples.push_back({{std::string(KeyStateName(KeyState::kPendingReplicaDeletion))},
                           static_cast<double>(counts->pending_replica_deletion)});
        return true;
      });
  registry.AddCollector(
      "kmsd_key_cache_requests_total",
      "Look-ups of the in-memory key cache (a key's metadata, policy, grants and material), by "
      "result: hit, or miss (read from storage).",
      metrics::MetricType::kCounter, {"result"}, [service](std::vector<metrics::Sample>& samples) {
        KeyCacheStats stats = service->CacheStats();
        samples.push_back({{"hit"}, static_cast<double>(stats.hits)});
        samples.push_back({{"miss"}, static_cast<double>(stats.misses)});
        return true;
      });
  registry.AddCollector("kmsd_key_cache_entries", "Keys held in the in-memory key cache.",
                        metrics::MetricType::kGauge, {},
                        [service](std::vector<metrics::Sample>& samples) {
                          samples.push_back({{}, static_cast<double>(service->CacheStats().entries)});
                          return true;
                        });
}

}  // namespace

void AddServiceMetrics(metrics::Registry& registry, KmsService* service) {
  AddKeyMetrics(registry, service);
}

void AddServiceMetrics(metrics::Registry& registry, KmsRegions* regions) {
  AddKeyMetrics(registry, regions);
}

}  // namespace kmsd
