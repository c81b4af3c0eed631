"""Thousands of idle TCP connections must not lock clients out (docs/SECURITY.md, "Network"):
the per-client limit closes a flood from one address at once, the header deadline closes idle
connections, and at the global cap newcomers displace the connections idle the longest; /metrics
counts each of these (kmsd_http_connections_refused_total, kmsd_http_connections_closed_total).
Refused HTTP requests leave records in the audit trail, which still verifies."""
import errno
import json
import resource
import select
import socket
import subprocess
import tempfile
import time
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer
from test_metrics import get, parse_metrics, value

HEADER_TIMEOUT_SECONDS = 2
MAX_CONNECTIONS = 1500
PER_CLIENT = 256
FLOOD_FROM_ONE_ADDRESS = 4000
# 127.0.0.3..127.0.0.9: 7 addresses x 256 = 1792 connections, more than the global cap.
SPREAD_ADDRESSES = [f"127.0.0.{i}" for i in range(3, 10)]


def raise_open_file_limit(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle(port, source, count, deadline):
    """Opens up to `count` connections from `source` that send nothing (non-blocking connects,
    bounded by `deadline`); returns the sockets."""
    sockets = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((source, 0))
        code = s.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            s.close()
            continue
        sockets.append(s)
    return sockets


def closed_by_server(sockets, within):
    """Waits up to `within` seconds; returns the sockets the server closed (EOF or reset)."""
    closed = set()
    end = time.monotonic() + within
    poller = select.poll()
    by_fd = {s.fileno(): s for s in sockets}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while len(closed) < len(sockets):
        left = end - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(int(min(left, 0.5) * 1000)):
            s = by_fd[fd]
            try:
                data = s.recv(1)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(s)
                poller.unregister(fd)
    return closed


class ConnectionFlood(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise_open_file_limit(FLOOD_FROM_ONE_ADDRESS + len(SPREAD_ADDRESSES) * PER_CLIENT + 512)
        cls.server = KmsdServer(extra_args=[
            "--max-connections", str(MAX_CONNECTIONS),
            "--max-connections-per-client", str(PER_CLIENT),
            "--header-timeout-seconds", str(HEADER_TIMEOUT_SECONDS)]).start()
        cls.port = int(cls.server.endpoint.rsplit(":", 1)[1])
        cls.kms = cls.server.client()
        cls.key_id = cls.kms.create_key()["KeyMetadata"]["KeyId"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close()

    def limit_counts(self):
        """What the connection limits did so far, by reason (api listener)."""
        status, _, text = get(self.server.endpoint + "/metrics")
        self.assertEqual(status, 200)
        samples = parse_metrics(text)
        counts = {}
        for name, reasons in (("kmsd_http_connections_refused_total",
                               ("per_client_limit", "max_connections")),
                              ("kmsd_http_connections_closed_total",
                               ("evicted", "header_timeout", "body_timeout"))):
            for reason in reasons:
                counts[reason] = value(samples, name, listener="api", reason=reason)
                self.assertIsNotNone(counts[reason], (name, reason))
        return counts

    def counted_since(self, before):
        return {reason: count - before[reason] for reason, count in self.limit_counts().items()}

    def assert_served_within(self, seconds):
        started = time.monotonic()
        blob = self.kms.encrypt(KeyId=self.key_id, Plaintext=b"still served")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"still served")
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, seconds, f"took {elapsed:.1f} s")

    def test_a_flood_from_one_address_is_cut_to_its_limit_and_others_are_served(self):
        before = self.limit_counts()
        started = time.monotonic()
        flood = open_idle(self.port, "127.0.0.2", FLOOD_FROM_ONE_ADDRESS, started + 20)
        opened_in = time.monotonic() - started
        self.sockets += flood
        self.assertGreater(len(flood), FLOOD_FROM_ONE_ADDRESS * 0.9)
        # Those over the per-client limit are closed at once, well before the header deadline.
        closed = closed_by_server(flood, within=HEADER_TIMEOUT_SECONDS * 0.6)
        self.assertGreaterEqual(len(closed), len(flood) - PER_CLIENT)
        self.assert_served_within(5)
        # The rest are closed at the header deadline.
        rest = [s for s in flood if s not in closed]
        closed_later = closed_by_server(rest, within=HEADER_TIMEOUT_SECONDS + 5)
        self.assertEqual(len(closed_later), len(rest))
        # Counted: each refusal over the per-client limit, then each admitted one at the header
        # deadline; nothing else. (The early closes above may include admitted ones whose
        # deadline passed while a slow flood was still opening.)
        counted = self.counted_since(before)
        self.assertEqual(counted["per_client_limit"] + counted["header_timeout"], len(flood))
        self.assertGreaterEqual(counted["header_timeout"], PER_CLIENT)
        if opened_in < HEADER_TIMEOUT_SECONDS / 2:
            self.assertEqual(counted["header_timeout"], PER_CLIENT)
        # else: on a loaded machine the first admitted ones time out before the flood has been
        # accepted, freeing places for later ones: never more than PER_CLIENT at once.
        self.assertEqual(counted["evicted"], 0)
        self.assertEqual(counted["max_connections"], 0)

    def test_at_the_global_cap_newcomers_are_served(self):
        before = self.limit_counts()
        deadline = time.monotonic() + 20
        for address in SPREAD_ADDRESSES:
            self.sockets += open_idle(self.port, address, PER_CLIENT, deadline)
        self.assertGreater(len(self.sockets), MAX_CONNECTIONS)
        time.sleep(0.3)  # the server has accepted them all: it is at its cap
        # A fresh client (new connections each call) gets through by displacing idle ones.
        for _ in range(3):
            self.kms = self.server.client()
            self.assert_served_within(5)
        # Every idle connection is gone after the header deadline (closed or displaced).
        closed = closed_by_server(self.sockets, within=HEADER_TIMEOUT_SECONDS + 5)
        self.assertEqual(len(closed), len(self.sockets))
        # Counted: an eviction for each connection over the cap, the rest at the header deadline;
        # none refused, since idle ones could always make room.
        counted = self.counted_since(before)
        self.assertGreaterEqual(counted["evicted"], len(self.sockets) - MAX_CONNECTIONS)
        self.assertGreaterEqual(counted["evicted"] + counted["header_timeout"], len(self.sockets))
        self.assertEqual(counted["max_connections"], 0)
        self.assertEqual(counted["per_client_limit"], 0)


class BusyConnectionsAtTheCap(unittest.TestCase):
    """At the cap with every connection busy (a request head in, its body awaited), a newcomer is
    refused at once, and counted."""

    def test_a_newcomer_is_refused_and_counted_when_none_is_idle(self):
        with KmsdServer(extra_args=["--max-connections", "3"]) as server:
            port = int(server.endpoint.rsplit(":", 1)[1])
            busy = []
            try:
                for _ in range(3):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    busy.append(s)
                    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
                time.sleep(0.5)  # each head is read: three connections with a request in progress
                newcomer = socket.create_connection(("127.0.0.1", port), timeout=10)
                busy.append(newcomer)
                self.assertEqual(len(closed_by_server([newcomer], within=5)), 1)
                self.assertEqual(closed_by_server(busy[:3], within=0.5), set())  # still served
            finally:
                for s in busy:
                    s.close()
            # The scrape itself needs a connection: the busy ones are closed now.
            deadline = time.monotonic() + 10
            while True:
                try:
                    status, _, text = get(server.endpoint + "/metrics")
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.1)
            samples = parse_metrics(text)
            self.assertEqual(value(samples, "kmsd_http_connections_refused_total", listener="api",
                                   reason="max_connections"), 1)
            self.assertEqual(value(samples, "kmsd_http_connections_closed_total", listener="api",
                                   reason="evicted"), 0)


class RefusedRequestsInTheAuditTrail(unittest.TestCase):
    def audit(self, data_dir, *args):
        return subprocess.run([KMSD_BINARY, "audit", *args, "--data-dir", data_dir],
                              capture_output=True, text=True, timeout=60)

    def send_raw(self, port, data):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            try:
                return s.recv(65536).decode("latin-1")
            except OSError:
                return ""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory(prefix="kmsd-refusals-")
        self.data_dir = self.directory.name

    def tearDown(self):
        self.directory.cleanup()

    def test_malformed_and_oversize_requests_are_recorded_and_the_trail_verifies(self):
        with KmsdServer(data_dir=self.data_dir) as server:
            port = int(server.endpoint.rsplit(":", 1)[1])
            answer = self.send_raw(port, b"GARBAGE\r\n\r\n")
            self.assertTrue(answer.startswith("HTTP/1.1 400"), answer)
            big = b"x" * (300 * 1024)
            answer = self.send_raw(port, b"POST /huge?X-Amz-Signature=s3cr3t HTTP/1.1\r\n"
                                         b"Host: x\r\nUser-Agent: flood-probe/1.0\r\n"
                                         b"Content-Length: " + str(len(big)).encode() +
                                   b"\r\n\r\n" + big)
            self.assertTrue(answer.startswith("HTTP/1.1 413"), answer)
            # A served request after them: their records are written before it is answered.
            server.client().list_keys()
            time.sleep(0.2)
        query = self.audit(self.data_dir, "query", "--event", "InvalidHttpRequest")
        self.assertEqual(query.returncode, 0, query.stderr)
        records = [json.loads(line) for line in query.stdout.splitlines()]
        self.assertEqual([r["errorCode"] for r in records],
                         ["SerializationException", "RequestEntityTooLargeException"])
        self.assertEqual(records[0]["sourceIPAddress"], "127.0.0.1")
        self.assertEqual(records[1]["userAgent"], "flood-probe/1.0")
        self.assertEqual(records[1]["requestParameters"],
                         {"httpMethod": "POST", "path": "/huge", "httpStatus": 413})
        self.assertNotIn("s3cr3t", query.stdout)
        self.assertNotIn("xxxxxxxx", query.stdout)
        verify = self.audit(self.data_dir, "verify")
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)

    def test_a_flood_of_refusals_is_recorded_only_up_to_the_rate_limit(self):
        with KmsdServer(data_dir=self.data_dir) as server:
            port = int(server.endpoint.rsplit(":", 1)[1])
            started = time.monotonic()
            for _ in range(200):
                self.send_raw(port, b"GARBAGE\r\n\r\n")
            elapsed = time.monotonic() - started
            server.client().list_keys()
        records = self.audit(self.data_dir, "query", "--event", "InvalidHttpRequest")
        count = len(records.stdout.splitlines())
        self.assertGreater(count, 0)
        # At most 5 a second from one address (docs/SECURITY.md).
        self.assertLessEqual(count, 5 * (int(elapsed) + 2))
        self.assertTrue(any("not recorded" in line for line in server.log_lines()),
                        "\n".join(server.log_lines()[-20:]))


if __name__ == "__main__":
    unittest.main()
