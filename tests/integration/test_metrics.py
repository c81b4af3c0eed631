"""Health, readiness and metrics, end to end: /health and /ready answer without credentials and
leave nothing in the audit trail; /metrics counts what boto3 did (requests by operation and error
type, keys by state, audit fsyncs, the key cache); --metrics-listen moves /metrics to a listener of
its own; and a real Prometheus server scrapes kmsd and answers a query for a counter."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import KMSD_BINARY, KmsdServer  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def get(url, method="GET", timeout=10):
    """(status, headers, body text) of an unauthenticated request."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset of (label, value)): float} from the text format; every line must parse."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            if line.startswith("#"):
                assert line.startswith("# HELP ") or line.startswith("# TYPE "), line
            continue
        match = SAMPLE.match(line)
        assert match, f"unparsable sample line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(3) or ""))
        samples[(match.group(1), labels)] = float(match.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def audit_records(data_dir):
    result = subprocess.run([KMSD_BINARY, "audit", "query", "--data-dir", data_dir],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"kmsd audit query failed: {result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def output_matching(server, pattern, timeout=10):
    """The first match of pattern in the server's output (the harness collects it), waiting at
    most timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(server.output):
            match = re.search(pattern, line)
            if match:
                return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s")


class ProbesAndMetrics(unittest.TestCase):
    """Each test with a kmsd of its own, so that the counts are its own."""

    def setUp(self):
        self.server = KmsdServer().__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)
        self.kms = self.server.client()

    def test_probes_metrics_and_the_audit(self):
        endpoint = self.server.endpoint
        status, headers, body = get(endpoint + "/health")
        self.assertEqual((status, body), (200, "ok\n"))
        status, _, body = get(endpoint + "/ready")
        self.assertEqual((status, body), (200, "ready\n"))
        self.assertEqual(get(endpoint + "/ready", method="HEAD")[0], 200)

        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        other_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"metrics")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"metrics")
        self.kms.disable_key(KeyId=other_id)
        with self.assertRaises(self.kms.exceptions.NotFoundException):
            self.kms.describe_key(KeyId="11111111-2222-3333-4444-555555555555")

        status, headers, text = get(endpoint + "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        samples = parse_metrics(text)
        self.assertEqual(value(samples, "kmsd_requests_total", service="kms", operation="Encrypt",
                               error="none"), 1)
        self.assertEqual(value(samples, "kmsd_requests_total", service="kms", operation="CreateKey",
                               error="none"), 2)
        self.assertEqual(value(samples, "kmsd_requests_total", service="kms",
                               operation="DescribeKey", error="NotFoundException"), 1)
        self.assertEqual(value(samples, "kmsd_request_duration_seconds_count", service="kms",
                               operation="Decrypt"), 1)
        self.assertEqual(value(samples, "kmsd_request_duration_seconds_bucket", service="kms",
                               operation="Decrypt", le="+Inf"), 1)
        self.assertEqual(value(samples, "kmsd_keys", state="Enabled"), 1)
        self.assertEqual(value(samples, "kmsd_keys", state="Disabled"), 1)
        self.assertEqual(value(samples, "kmsd_keys", state="PendingDeletion"), 0)
        # Six requests, each durable in the trail before its answer: at least one fdatasync, and
        # the batches hold them all.
        self.assertGreaterEqual(value(samples, "kmsd_audit_fsync_seconds_count"), 1)
        self.assertGreaterEqual(value(samples, "kmsd_audit_batch_records_sum"), 6)
        self.assertGreaterEqual(value(samples, "kmsd_key_cache_requests_total", result="hit"), 1)
        self.assertIsNotNone(value(samples, "kmsd_key_cache_requests_total", result="miss"))
        self.assertGreaterEqual(value(samples, "kmsd_http_connections_open", listener="api"), 1)
        build = [labels for (name, labels) in samples if name == "kmsd_build_info"]
        self.assertEqual(len(build), 1)
        self.assertRegex(dict(build[0])["version"], r"^\d+\.\d+\.\d+")
        self.assertLessEqual(value(samples, "process_start_time_seconds"), time.time())

        # Probes and scrapes are not audited; the KMS calls are, each once.
        events = [record["eventName"] for record in audit_records(self.server.data_dir)]
        self.assertNotIn("Unknown", events)
        self.assertEqual(sorted(events), sorted(
            ["CreateKey", "CreateKey", "Encrypt", "Decrypt", "DisableKey", "DescribeKey"]))

        # Any other unsigned path keeps its old road: refused, and audited.
        self.assertEqual(get(endpoint + "/healthz")[0], 403)
        events = [record["eventName"] for record in audit_records(self.server.data_dir)]
        self.assertEqual(events.count("Unknown"), 1)

    def test_openssl_secure_heap_holds_rsa_private_keys_and_is_sized_by_flag(self):
        def heap(endpoint):
            samples = parse_metrics(get(endpoint + "/metrics")[2])
            return value(samples, "kmsd_openssl_secure_heap_bytes", kind="size"), \
                value(samples, "kmsd_openssl_secure_heap_bytes", kind="used")

        size, before = heap(self.server.endpoint)
        self.assertEqual(size, 4 << 20)  # the default, --openssl-secure-heap-mib 4
        for _ in range(4):
            key_id = self.kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            self.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
        _, after = heap(self.server.endpoint)
        # About 0.9 KiB of private key per loaded RSA_2048 key, in the locked heap.
        self.assertGreaterEqual(after - before, 4 * 800)

        with KmsdServer(extra_args=["--openssl-secure-heap-mib", "16"]) as bigger:
            self.assertEqual(heap(bigger.endpoint)[0], 16 << 20)
        # OpenSSL aborts on a size that is not a power of two: kmsd refuses it first.
        refused = subprocess.run(
            [KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.server.data_dir,
             "--openssl-secure-heap-mib", "3"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("power of two", refused.stdout + refused.stderr)

    def test_a_real_prometheus_scrapes_kmsd(self):
        blob = self.kms.generate_data_key(
            KeyId=self.kms.create_key()["KeyMetadata"]["KeyId"], KeySpec="AES_256")
        self.assertIn("CiphertextBlob", blob)
        work = tempfile.mkdtemp(prefix="kmsd-prometheus-")
        port = free_port()
        target = urllib.parse.urlparse(self.server.endpoint).netloc
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as out:
            out.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                      "scrape_configs:\n  - job_name: kmsd\n"
                      f"    static_configs:\n      - targets: ['{target}']\n")
        # A clean environment: nothing may point Prometheus at its default port 9090.
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            env={"PATH": "/usr/bin:/bin", "HOME": work}, cwd=work,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            query = urllib.parse.urlencode({"query": 'kmsd_requests_total{service="kms",'
                                                     'operation="GenerateDataKey",error="none"}'})
            url = f"http://127.0.0.1:{port}/api/v1/query?{query}"
            deadline = time.monotonic() + 60
            answer = None
            while time.monotonic() < deadline:
                self.assertIsNone(prometheus.poll(), "prometheus exited")
                try:
                    status, _, body = get(url, timeout=5)
                except (urllib.error.URLError, ConnectionError, socket.timeout):
                    status, body = 0, ""
                if status == 200:
                    answer = json.loads(body)
                    if answer["data"]["result"]:
                        break
                time.sleep(0.5)
            self.assertIsNotNone(answer, "Prometheus never answered its HTTP API")
            self.assertEqual(answer["status"], "success")
            result = answer["data"]["result"]
            self.assertEqual(len(result), 1, f"no scraped sample within 60s: {answer}")
            self.assertEqual(result[0]["metric"]["job"], "kmsd")
            self.assertEqual(result[0]["value"][1], "1")
            # The scrape itself is healthy: up == 1 for the target.
            status, _, body = get(f"http://127.0.0.1:{port}/api/v1/query?" +
                                  urllib.parse.urlencode({"query": 'up{job="kmsd"}'}))
            self.assertEqual(json.loads(body)["data"]["result"][0]["value"][1], "1")
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=15)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
            prometheus.stderr.close()
            shutil.rmtree(work, ignore_errors=True)


class MetricsListener(unittest.TestCase):
    def test_metrics_move_to_their_own_listener(self):
        with KmsdServer(extra_args=["--metrics-listen", "127.0.0.1:0"]) as server:
            metrics = output_matching(server, r"metrics, health and readiness on (\S+)")
            status, headers, text = get(metrics + "/metrics")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
            self.assertIsNotNone(value(parse_metrics(text), "kmsd_keys", state="Enabled"))
            self.assertEqual(get(metrics + "/health")[0], 200)
            self.assertEqual(get(metrics + "/ready")[0], 200)
            self.assertEqual(get(metrics + "/")[0], 404)
            # The API port keeps the probes but no longer shows the metrics.
            self.assertEqual(get(server.endpoint + "/health")[0], 200)
            self.assertEqual(get(server.endpoint + "/ready")[0], 200)
            self.assertEqual(get(server.endpoint + "/metrics")[0], 404)
            self.assertEqual(audit_records(server.data_dir), [])


if __name__ == "__main__":
    unittest.main()
