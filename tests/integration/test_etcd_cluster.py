"""Two kmsd nodes on a real three-member etcd cluster (issue 12), driven with boto3.

A key made on one node serves on the other at once; two nodes racing CreateAlias on one name
give one winner; the etcd leader killed with kill -9 leaves requests succeeding (boto3's standard
retries); quorum lost makes each request answer DependencyTimeoutException within 2 s, audited,
and kmsd recovers by itself when quorum returns. A node without the cluster's root.key, kmsd backup
of an etcd node and a SQLite start on an etcd data dir are refused with a clear message.
"""
import http.client
import os
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse

import botocore.config
import botocore.exceptions
import boto3

from etcd_harness import EtcdCluster
from kmsd_harness import KMSD_BINARY, KmsdServer, audit_records, kmsd_audit


def error_code(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return None


def http_status(url):
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        connection.request("GET", parsed.path)
        return connection.getresponse().status
    finally:
        connection.close()


class EtcdClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = EtcdCluster(3).__enter__()
        try:
            cls.storage_args = ["--storage", "etcd", "--etcd-endpoints", cls.cluster.endpoints]
            cls.a = KmsdServer(extra_args=cls.storage_args).start()
            # The second node shares the first one's root of trust: root.key copied before its
            # first start (docs/HA.md).
            cls.b = KmsdServer(extra_args=cls.storage_args, access_key=cls.a.access_key,
                               secret_key=cls.a.secret_key)
            os.makedirs(cls.b.data_dir, exist_ok=True)
            shutil.copy2(os.path.join(cls.a.data_dir, "root.key"),
                         os.path.join(cls.b.data_dir, "root.key"))
            cls.b.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for node in ("a", "b"):
            server = getattr(cls, node, None)
            if server:
                server.__exit__(None, None, None)
        cls.cluster.close()

    def tearDown(self):
        # Whatever a test killed comes back, so that the next one starts from a whole cluster.
        for i in range(self.cluster.size):
            if not self.cluster.running(i):
                self.cluster.start(i, wait=False)
        self.cluster.wait_healthy()

    def retrying_client(self, server):
        """A client as applications configure one: boto3's standard retry mode."""
        return boto3.client(
            "kms", endpoint_url=server.endpoint, region_name=server.region,
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 5},
                                          read_timeout=10, connect_timeout=5))

    def test_a_key_created_on_one_node_is_usable_on_the_other_at_once(self):
        key_id = self.a.client().create_key()["KeyMetadata"]["KeyId"]
        blob = self.b.client().encrypt(KeyId=key_id, Plaintext=b"across nodes")["CiphertextBlob"]
        self.assertEqual(self.a.client().decrypt(CiphertextBlob=blob)["Plaintext"],
                         b"across nodes")
        self.assertEqual(self.b.client().describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"],
                         "Enabled")

    def test_two_nodes_racing_create_alias_on_one_name_give_one_winner(self):
        key_id = self.a.client().create_key()["KeyMetadata"]["KeyId"]
        self.b.client().describe_key(KeyId=key_id)  # both nodes know the key
        clients = [self.a.client(), self.b.client()]
        for round_number in range(5):
            name = f"alias/race-{round_number}-{time.monotonic_ns()}"
            start = threading.Barrier(2)
            outcomes = [None, None]

            def create(i):
                start.wait(timeout=10)
                outcomes[i] = error_code(clients[i].create_alias, AliasName=name,
                                         TargetKeyId=key_id)

            threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            self.assertEqual(sorted(outcomes, key=lambda code: code or ""),
                             [None, "AlreadyExistsException"],
                             f"round {round_number}: {outcomes}")

    def test_a_key_disabled_on_one_node_is_refused_on_the_other_promptly(self):
        a, b = self.a.client(), self.b.client()
        key_id = a.create_key()["KeyMetadata"]["KeyId"]
        b.encrypt(KeyId=key_id, Plaintext=b"x")  # cached on b
        a.disable_key(KeyId=key_id)
        disabled = time.monotonic()
        while error_code(b.encrypt, KeyId=key_id, Plaintext=b"x") != "DisabledException":
            self.assertLess(time.monotonic() - disabled, 1.0, "b still encrypts under the key")
        seen_after_ms = (time.monotonic() - disabled) * 1000
        print(f"\n  disable on A refused on B after {seen_after_ms:.1f} ms")
        self.assertLess(seen_after_ms, 1000)

    def test_requests_keep_succeeding_when_the_etcd_leader_is_killed(self):
        clients = [self.retrying_client(self.a), self.retrying_client(self.b)]
        key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
        failures, done = [], 0
        killed = False
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if not killed and time.monotonic() > deadline - 6:
                self.cluster.kill(self.cluster.leader())
                killed = True
            writer, reader = clients[done % 2], clients[(done + 1) % 2]
            try:
                new_key = writer.create_key()["KeyMetadata"]["KeyId"]
                blob = writer.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
                self.assertEqual(reader.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
                reader.describe_key(KeyId=new_key)
                done += 1
            except botocore.exceptions.ClientError as error:
                failures.append(error.response["Error"]["Code"])
        self.assertTrue(killed)
        self.assertGreater(done, 5)
        self.assertEqual(failures, [])

    def single_attempt_client(self, server):
        return boto3.client(
            "kms", endpoint_url=server.endpoint, region_name=server.region,
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=10))

    def test_with_quorum_lost_requests_time_out_within_two_seconds_audited_then_recover(self):
        clients = {"a": self.single_attempt_client(self.a), "b": self.single_attempt_client(self.b)}
        key_id = clients["a"].create_key()["KeyMetadata"]["KeyId"]
        clients["b"].describe_key(KeyId=key_id)
        keep = self.cluster.leader()
        for i in range(self.cluster.size):
            if i != keep:
                self.cluster.kill(i)
        for node, client in clients.items():
            for _ in range(3):
                started = time.monotonic()
                code = error_code(client.create_key)
                self.assertEqual(code, "DependencyTimeoutException", node)
                self.assertLess(time.monotonic() - started, 2.0, node)
            # A node that cannot tell whether its cache is current does not serve from it.
            started = time.monotonic()
            code = error_code(client.encrypt, KeyId=key_id, Plaintext=b"x")
            self.assertEqual(code, "DependencyTimeoutException", node)
            self.assertLess(time.monotonic() - started, 2.0, node)
        self.assertEqual(http_status(self.a.endpoint + "/ready"), 503)
        for server in (self.a, self.b):
            timed_out = [r for r in audit_records(server.data_dir)
                         if r.get("eventName") == "CreateKey" and
                         r.get("errorCode") == "DependencyTimeoutException"]
            self.assertGreaterEqual(len(timed_out), 3, server.data_dir)

        for i in range(self.cluster.size):
            if i != keep:
                self.cluster.start(i, wait=False)
        # Back by itself: no restart of kmsd.
        deadline = time.monotonic() + 30
        for node, client in clients.items():
            while True:
                code = error_code(client.create_key)
                if code is None:
                    break
                self.assertEqual(code, "DependencyTimeoutException", node)
                self.assertLess(time.monotonic(), deadline, f"{node} did not recover")
                time.sleep(0.2)
            blob = client.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
            self.assertEqual(client.decrypt(CiphertextBlob=blob)["Plaintext"], b"after")
        self.assertEqual(http_status(self.b.endpoint + "/ready"), 200)

    def test_a_kmsd_node_killed_leaves_the_other_serving_and_catches_up_when_back(self):
        a = self.retrying_client(self.a)
        acknowledged = {}  # key id -> a blob encrypted under it
        stop = threading.Event()
        failures = []

        def load():
            while not stop.is_set():
                try:
                    key_id = a.create_key()["KeyMetadata"]["KeyId"]
                    acknowledged[key_id] = a.encrypt(KeyId=key_id,
                                                     Plaintext=key_id.encode())["CiphertextBlob"]
                except botocore.exceptions.ClientError as error:
                    failures.append(error.response["Error"]["Code"])

        worker = threading.Thread(target=load)
        worker.start()
        try:
            time.sleep(0.5)
            self.b.process.kill()  # kill -9
            self.b.process.wait(timeout=10)
            time.sleep(1)
            self.b.stop()
            self.b.start()  # same data dir, same root.key
            time.sleep(0.5)
        finally:
            stop.set()
            worker.join(timeout=30)
        self.assertEqual(failures, [])
        self.assertGreater(len(acknowledged), 3)
        b = self.b.client()
        for key_id, blob in acknowledged.items():  # everything a acknowledged, on b at once
            self.assertEqual(b.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "Enabled")
            self.assertEqual(b.decrypt(CiphertextBlob=blob)["Plaintext"], key_id.encode())
        for server in (self.a, self.b):
            verified = kmsd_audit("verify", "--data-dir", server.data_dir)
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

    def test_a_node_without_the_clusters_root_key_refuses_to_start(self):
        stranger = KmsdServer(extra_args=self.storage_args)
        try:
            with self.assertRaises(RuntimeError) as refused:
                stranger.start()
            message = str(refused.exception)
            self.assertIn("copy root.key from the first node", message)
            self.assertIn("docs/HA.md", message)
            # Its data dir is an etcd node's now: a SQLite start there is refused too.
            sqlite = KmsdServer(data_dir=stranger.data_dir)
            with self.assertRaises(RuntimeError) as refused:
                sqlite.start()
            self.assertIn("--storage etcd", str(refused.exception))
        finally:
            shutil.rmtree(stranger.data_dir, ignore_errors=True)

    def test_generated_root_credentials_are_sealed_in_etcd_and_shared_by_the_nodes(self):
        # Nodes started without KMSD_ROOT_*: the first makes the root credentials and seals them
        # in the keystore (etcd), the next one uses the same; no data dir holds them.
        nodes = []
        try:
            for _ in range(2):
                node = KmsdServer(extra_args=self.storage_args)
                node.access_key = node.secret_key = ""
                os.makedirs(node.data_dir, exist_ok=True)
                shutil.copy2(os.path.join(self.a.data_dir, "root.key"),
                             os.path.join(node.data_dir, "root.key"))
                nodes.append(node)
                node.start()
            access_key, secret = nodes[0].generated_credentials()
            second = "".join(nodes[1].output)
            self.assertIn(f"root access key id: {access_key} (its secret is sealed in the keystore)",
                          second)
            self.assertNotIn(secret, second)
            for node in nodes:
                client = node.client(access_key=access_key, secret_key=secret)
                self.assertIn("Keys", client.list_keys())
                self.assertFalse(os.path.exists(os.path.join(node.data_dir, "root-credentials")))
        finally:
            for node in nodes:
                node.__exit__(None, None, None)

    def test_backup_of_an_etcd_node_is_refused_and_points_to_etcd_snapshots(self):
        target = os.path.join(self.a.data_dir, "..", f"backup-{os.getpid()}.kmsdbak")
        result = subprocess.run([KMSD_BINARY, "backup", "--data-dir", self.a.data_dir,
                                 "--out", target], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertIn("etcdctl snapshot save", result.stderr)
        self.assertFalse(os.path.exists(target))


if __name__ == "__main__":
    unittest.main()
