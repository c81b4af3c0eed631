"""kmsd on an etcd member that serves TLS and requires client certificates (docs/HA.md):
--etcd-ca/--etcd-cert/--etcd-key work; without the client certificate, or trusting another CA,
kmsd refuses to start within seconds instead of serving without storage.
"""
import os
import shutil
import time
import unittest

from etcd_harness import EtcdCluster, make_tls_files
from kmsd_harness import KmsdServer


class EtcdTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = EtcdCluster(1, tls=True).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def storage_args(self, *tls):
        return ["--storage", "etcd", "--etcd-endpoints", self.cluster.endpoints, *tls]

    def test_kmsd_serves_over_tls_with_a_client_certificate(self):
        tls = ["--etcd-ca", self.cluster.tls_file("ca.pem"),
               "--etcd-cert", self.cluster.tls_file("client.pem"),
               "--etcd-key", self.cluster.tls_file("client.key")]
        with KmsdServer(extra_args=self.storage_args(*tls)) as server:
            kms = server.client()
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
            self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"over tls")
        listed = self.cluster.etcdctl("get", "--prefix", "kmsd/kv/key/", "--keys-only")
        self.assertIn(key_id, listed.stdout)

    def refused_start(self, *tls):
        server = KmsdServer(extra_args=self.storage_args(*tls))
        started = time.monotonic()
        try:
            with self.assertRaises(RuntimeError) as refused:
                server.start()
        finally:
            server.stop()
        self.assertLess(time.monotonic() - started, 10)
        return str(refused.exception)

    def test_without_a_client_certificate_kmsd_refuses_to_start(self):
        message = self.refused_start("--etcd-ca", self.cluster.tls_file("ca.pem"))
        self.assertIn("storage (etcd) is unavailable", message)

    def test_a_client_key_any_user_can_read_is_refused(self):
        key = os.path.join(self.cluster.dir, "world-readable-client.key")
        shutil.copy(self.cluster.tls_file("client.key"), key)
        os.chmod(key, 0o604)
        message = self.refused_start("--etcd-ca", self.cluster.tls_file("ca.pem"),
                                     "--etcd-cert", self.cluster.tls_file("client.pem"),
                                     "--etcd-key", key)
        self.assertIn(f"the private key {key} (--etcd-key) has mode 0604", message)

    def test_a_member_signed_by_another_ca_is_not_trusted(self):
        other = os.path.join(self.cluster.dir, "other-ca")
        make_tls_files(other)
        message = self.refused_start("--etcd-ca", os.path.join(other, "ca.pem"),
                                     "--etcd-cert", self.cluster.tls_file("client.pem"),
                                     "--etcd-key", self.cluster.tls_file("client.key"))
        self.assertIn("storage (etcd) is unavailable", message)

    def test_a_client_certificate_over_plain_http_is_refused(self):
        server = KmsdServer(extra_args=[
            "--storage", "etcd", "--etcd-endpoints",
            self.cluster.endpoints.replace("https://", "http://"),
            "--etcd-cert", self.cluster.tls_file("client.pem"),
            "--etcd-key", self.cluster.tls_file("client.key")])
        with self.assertRaises(RuntimeError) as refused:
            server.start()
        self.assertIn("use https://", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
