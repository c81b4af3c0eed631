"""HTTPS with --tls-cert/--tls-key, and the refusal to serve plain HTTP off loopback."""
import os
import subprocess
import tempfile
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer


def make_certificate(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class Tls(unittest.TestCase):
    def test_boto3_and_the_cli_over_https(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = make_certificate(directory)
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key]) as server:
                self.assertTrue(server.endpoint.startswith("https://"))
                import boto3
                kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=server.region,
                                   aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
                                   verify=cert)
                key_id = kms.create_key()["KeyMetadata"]["KeyId"]
                blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"over tls")
                env = dict(os.environ, AWS_CA_BUNDLE=cert)
                listed = subprocess.run(["/usr/bin/aws", "kms", "list-keys", "--endpoint-url", server.endpoint,
                                         "--region", server.region, "--output", "json"],
                                        env=dict(env, AWS_ACCESS_KEY_ID=server.access_key,
                                                 AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_PAGER=""),
                                        capture_output=True, text=True, timeout=60)
                self.assertEqual(listed.returncode, 0, listed.stderr)
                self.assertIn(key_id, listed.stdout)

    def test_plain_http_off_loopback_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "0.0.0.0:0", "--data-dir", directory],
                                    capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("--tls-cert", result.stdout + result.stderr)

    def test_half_a_tls_configuration_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, _ = make_certificate(directory)
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", directory,
                                     "--tls-cert", cert], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)


if __name__ == "__main__":
    unittest.main()
