"""HTTPS with --tls-cert/--tls-key, and the refusal to serve plain HTTP off loopback."""
import os
import subprocess
import tempfile
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer


def make_rsa_certificate(directory):
    """An RSA certificate: with it the server could use any of the weak TLS 1.2 suites (static
    RSA key exchange among them) if it offered them."""
    cert, key = os.path.join(directory, "rsa-cert.pem"), os.path.join(directory, "rsa-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def handshake(port, *options):
    """Runs openssl s_client against 127.0.0.1:port; returns (succeeded, output)."""
    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *options],
                            input="", capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    # A session that got a cipher says so ("Cipher is X"); a refused one says "(NONE)".
    return result.returncode == 0 and "Cipher is (NONE)" not in output, output


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

    def test_tls12_offers_only_ecdhe_with_aead(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = make_rsa_certificate(directory)
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key]) as server:
                port = int(server.endpoint.rsplit(":", 1)[1])
                # Security level 0 so that the client itself offers the old suites.
                for weak in ["AES128-SHA", "AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384",
                             "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA",
                             "ECDHE-RSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256"]:
                    accepted, output = handshake(port, "-tls1_2", "-cipher", weak + ":@SECLEVEL=0")
                    self.assertFalse(accepted, f"{weak} was accepted:\n{output}")
                for strong in ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                               "ECDHE-RSA-CHACHA20-POLY1305"]:
                    accepted, output = handshake(port, "-tls1_2", "-cipher", strong)
                    self.assertTrue(accepted, f"{strong} was refused:\n{output}")
                    self.assertIn(f"Cipher is {strong}", output)
                accepted, output = handshake(port, "-tls1_3")
                self.assertTrue(accepted, output)
                self.assertIn("TLSv1.3", output)

    def test_tls_min_version_13_refuses_tls12(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = make_certificate(directory)
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key,
                                        "--tls-min-version", "1.3"]) as server:
                port = int(server.endpoint.rsplit(":", 1)[1])
                accepted, output = handshake(port, "-tls1_2", "-cipher",
                                             "ECDHE-ECDSA-AES128-GCM-SHA256")
                self.assertFalse(accepted, output)
                accepted, output = handshake(port, "-tls1_3")
                self.assertTrue(accepted, output)
                import boto3
                kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=server.region,
                                   aws_access_key_id=server.access_key,
                                   aws_secret_access_key=server.secret_key, verify=cert)
                self.assertEqual(kms.list_keys()["Keys"], [])

    def test_an_unknown_tls_min_version_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = make_certificate(directory)
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", directory,
                                     "--tls-cert", cert, "--tls-key", key, "--tls-min-version", "1.1"],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 2, result.stdout + result.stderr)

    def test_plain_http_off_loopback_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "0.0.0.0:0", "--data-dir", directory],
                                    capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("--tls-cert", result.stdout + result.stderr)

    def test_a_private_key_any_user_can_read_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, key = make_certificate(directory)
            os.chmod(key, 0o644)
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                                     os.path.join(directory, "data"), "--tls-cert", cert,
                                     "--tls-key", key], capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            output = result.stdout + result.stderr  # the log goes to stdout
            self.assertIn(f"the private key {key} (--tls-key) has mode 0644", output)
            self.assertIn("chmod o-rwx", output)
            # Readable by a group (Debian's ssl-cert convention) is allowed.
            os.chmod(key, 0o640)
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key]) as server:
                self.assertTrue(server.endpoint.startswith("https://"))

    def test_half_a_tls_configuration_is_refused(self):
        with tempfile.TemporaryDirectory() as directory:
            cert, _ = make_certificate(directory)
            result = subprocess.run([KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", directory,
                                     "--tls-cert", cert], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)


if __name__ == "__main__":
    unittest.main()
