"""The kms envelope tool end to end against the real kmsd: round trips of every shape, streams,
several keys, where it finds endpoint and credentials, and how it fails (exit code, message, no
partial output left behind). EnvelopeCase is shared with test_envelope_interop.py."""
import os
import stat
import subprocess
import tempfile
import unittest

from kmsd_harness import KmsdServer
from test_tls import make_certificate

KMS = os.environ.get("KMS_BINARY", os.path.join(os.path.dirname(__file__), "../../build/kms"))
SIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
UNSIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
MIB = 1024 * 1024

# Exit codes (docs/ENVELOPE.md).
REFUSED, USAGE, KMS_ERROR, IO_ERROR = 1, 2, 3, 4


class EnvelopeCase(unittest.TestCase):
    """One kmsd and two keys per class; kms runs with the credentials in its environment."""

    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer().__enter__()
        kms = cls.server.client()
        cls.key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.second_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.work = tempfile.mkdtemp(prefix="kms-envelope-")
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID=cls.server.access_key,
                       AWS_SECRET_ACCESS_KEY=cls.server.secret_key, AWS_REGION=cls.server.region,
                       AWS_ENDPOINT_URL=cls.server.endpoint, HOME=cls.work)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_KMS", "AWS_DEFAULT_REGION"):
            cls.env.pop(name, None)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        subprocess.run(["rm", "-rf", cls.work], check=False)

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def kms(self, *args, check=True, stdin=None, env=None):
        result = subprocess.run([KMS, *args], env=env or self.env, capture_output=True, input=stdin,
                                timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"kms {' '.join(args)}: {result.stderr.decode()}")
        return result

    def assertRefused(self, result, exit_code, fragment):
        self.assertEqual(result.returncode, exit_code, result.stderr)
        self.assertIn(fragment.encode(), result.stderr)

    def leftovers(self):
        return [name for name in os.listdir(self.work) if ".kms-partial-" in name]


class EnvelopeCli(EnvelopeCase):
    def test_round_trips_every_size_with_both_suites(self):
        # 1 MiB is exactly one pipeline block: the message ends with an empty final frame.
        for algorithm in (SIGNED, UNSIGNED):
            for size in (0, 1, 4095, 4096, 4097, MIB, 3 * MIB + 5):
                data = os.urandom(size)
                self.kms("encrypt", "--algorithm", algorithm, "--key-id", self.key_arn, "--context",
                         "purpose=test", self.write("plain", data), self.path("sealed"))
                sealed = self.read("sealed")
                self.assertEqual(sealed[0], 2)
                if size >= 64:
                    self.assertNotIn(data[:64], sealed)
                self.kms("decrypt", "--context", "purpose=test", self.path("sealed"), self.path("opened"))
                self.assertEqual(self.read("opened"), data, (algorithm, size))

    def test_frame_lengths_and_single_threaded(self):
        data = os.urandom(300_000)
        for frame_length, threads in (("1", "2"), ("1000", "0"), ("65536", "1"), ("1048576", "4")):
            self.kms("--threads", threads, "encrypt", "--frame-length", frame_length, "--key-id",
                     self.key_arn, self.write("f", data), self.path("f.enc"))
            self.kms("--threads", threads, "decrypt", self.path("f.enc"), self.path("f.out"))
            self.assertEqual(self.read("f.out"), data, frame_length)

    def test_streams_through_stdin_and_stdout(self):
        data = os.urandom(2 * MIB + 1)
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=data).stdout
        self.assertEqual(self.kms("decrypt", "-", "-", stdin=sealed).stdout, data)

    def test_writing_to_a_device_leaves_the_device_alone(self):
        # kms renames a finished temporary file over a regular OUTPUT; a device must never be
        # replaced that way (an early version turned /dev/null into a file).
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"to the void").stdout
        self.kms("decrypt", self.write("void.enc", sealed), "/dev/null")
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/null").st_mode))

    def test_output_through_a_symlink_replaces_the_target(self):
        self.write("target", b"old")
        link = self.path("link")
        if not os.path.lexists(link):
            os.symlink(self.path("target"), link)
        self.kms("encrypt", "--key-id", self.key_arn, self.write("s", b"new"), link)
        self.assertTrue(os.path.islink(link))
        self.kms("decrypt", self.path("target"), self.path("s.out"))
        self.assertEqual(self.read("s.out"), b"new")

    def test_several_keys_each_open_the_message(self):
        data = b"shared by two keys"
        self.kms("encrypt", "--key-id", self.key_arn, "--key-id", self.second_arn, self.write("two", data),
                 self.path("two.enc"))
        kms = self.server.client()
        kms.disable_key(KeyId=self.key_arn)
        try:
            self.kms("decrypt", self.path("two.enc"), self.path("two.out"))
            self.assertEqual(self.read("two.out"), data)
        finally:
            kms.enable_key(KeyId=self.key_arn)
        self.assertRefused(self.kms("decrypt", "--max-encrypted-data-keys", "1", self.path("two.enc"),
                                    self.path("two.out2"), check=False),
                           REFUSED, "2 encrypted data keys")

    def test_damaged_messages_are_refused_and_leave_no_output(self):
        data = os.urandom(3 * MIB)
        self.kms("encrypt", "--frame-length", "1024", "--key-id", self.key_arn, "--context", "a=1",
                 self.write("p", data), self.path("c"))
        sealed = self.read("c")
        cases = {
            "truncated mid-way": (sealed[: len(sealed) // 2], "truncated"),
            "truncated before the signature": (sealed[:-50], "truncated"),
            "a flipped bit deep in the body": (sealed[:2 * MIB] + bytes([sealed[2 * MIB] ^ 1]) + sealed[2 * MIB + 1:],
                                               "authentication"),
            "a flipped bit in the signature": (sealed[:-3] + bytes([sealed[-3] ^ 1]) + sealed[-2:], "signature"),
            "not a message": (b"hello world" * 10, "not a valid encrypted message"),
            "extended": (sealed + b"x", "bytes follow"),
        }
        for name, (message, fragment) in cases.items():
            result = self.kms("decrypt", self.write("bad", message), self.path("out"), check=False)
            self.assertRefused(result, REFUSED, fragment)
            self.assertFalse(os.path.exists(self.path("out")), name)
        self.assertEqual(self.leftovers(), [])

    def test_a_damaged_stream_fails_loudly(self):
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=os.urandom(3 * MIB)).stdout
        result = self.kms("decrypt", "-", "-", stdin=sealed[:-10], check=False)
        self.assertRefused(result, REFUSED, "discard")
        # Nothing of the last block (up to 1 MiB) is released before the end checks out.
        self.assertLessEqual(len(result.stdout), 2 * MIB)

    def test_wrong_context_and_unknown_keys(self):
        self.kms("encrypt", "--key-id", self.key_arn, "--context", "a=1", self.write("ctx", b"x"),
                 self.path("ctx.enc"))
        self.assertRefused(self.kms("decrypt", "--context", "a=2", self.path("ctx.enc"), self.path("o"),
                                    check=False), REFUSED, "a=2")
        # Strict mode: only data keys under the given key ARNs.
        self.assertRefused(self.kms("decrypt", "--key-id", self.second_arn, self.path("ctx.enc"), self.path("o"),
                                    check=False), REFUSED, "--key-id")
        self.kms("decrypt", "--key-id", self.second_arn, "--key-id", self.key_arn, self.path("ctx.enc"),
                 self.path("strict.out"))
        self.assertEqual(self.read("strict.out"), b"x")
        self.assertRefused(self.kms("encrypt", "--key-id", "alias/absent", self.path("ctx"), self.path("o"),
                                    check=False), KMS_ERROR, "NotFoundException")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "--context", "aws-crypto-x=1",
                                    self.path("ctx"), self.path("o"), check=False), USAGE, "reserved")
        self.assertFalse(os.path.exists(self.path("o")))
        self.assertEqual(self.leftovers(), [])

    def test_usage_and_io_errors(self):
        self.assertEqual(self.kms("encrypt", self.path("nothing"), self.path("o"), check=False).returncode, USAGE)
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, self.path("absent"), self.path("o"),
                                    check=False), IO_ERROR, "absent")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "--algorithm", "AES_128", "-", "-",
                                    check=False, stdin=b""), USAGE, "AES_128")
        bad_secret = dict(self.env, AWS_SECRET_ACCESS_KEY="wrong")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"x", check=False,
                                    env=bad_secret), KMS_ERROR, "InvalidSignatureException")

    def test_endpoint_and_credentials_as_the_aws_tools_find_them(self):
        os.makedirs(self.path(".aws"), exist_ok=True)
        with open(self.path(".aws/credentials"), "w") as f:
            f.write(f"[kmsd]\naws_access_key_id = {self.server.access_key}\n"
                    f"aws_secret_access_key = {self.server.secret_key}\n")
        with open(self.path(".aws/config"), "w") as f:
            f.write("[profile kmsd]\nregion = us-east-1\n")
        env = {k: v for k, v in self.env.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
        self.kms("--profile", "kmsd", "encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=env)
        self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=dict(env, AWS_PROFILE="kmsd"))
        self.assertEqual(self.kms("--profile", "absent", "encrypt", "--key-id", self.key_arn, "-", "-",
                                  stdin=b"x", check=False, env=env).returncode, USAGE)
        # The service-specific endpoint variable wins over the global one, the flag over both.
        dead = "http://127.0.0.1:9"
        self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"e",
                 env=dict(self.env, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_KMS=self.server.endpoint))
        self.kms("--endpoint-url", self.server.endpoint, "encrypt", "--key-id", self.key_arn, "-", "-",
                 stdin=b"e", env=dict(self.env, AWS_ENDPOINT_URL_KMS=dead))
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"e", check=False,
                                    env=dict(self.env, AWS_ENDPOINT_URL=dead)), KMS_ERROR, "cannot reach")


class EnvelopeOverHttps(unittest.TestCase):
    def test_https_endpoints_are_verified_against_the_ca_bundle(self):
        with tempfile.TemporaryDirectory() as directory:
            certificates = []
            for name in ("server", "stranger"):
                os.makedirs(os.path.join(directory, name))
                certificates.append(make_certificate(os.path.join(directory, name)))
            (cert, key), (stranger, _) = certificates
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key]) as server:
                self.assertTrue(server.endpoint.startswith("https://"))
                env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
                           AWS_REGION=server.region, AWS_ENDPOINT_URL=server.endpoint, AWS_CA_BUNDLE=cert)
                key_arn = create_key_over_tls(server, cert)
                sealed = subprocess.run([KMS, "encrypt", "--key-id", key_arn, "-", "-"], env=env,
                                        input=b"over tls", capture_output=True, timeout=60)
                self.assertEqual(sealed.returncode, 0, sealed.stderr)
                opened = subprocess.run([KMS, "decrypt", "-", "-"], env=env, input=sealed.stdout,
                                        capture_output=True, timeout=60)
                self.assertEqual(opened.stdout, b"over tls", opened.stderr)
                untrusted = subprocess.run([KMS, "encrypt", "--key-id", key_arn, "-", "-"],
                                           env=dict(env, AWS_CA_BUNDLE=stranger), input=b"x",
                                           capture_output=True, timeout=60)
                self.assertEqual(untrusted.returncode, KMS_ERROR)
                self.assertIn(b"cannot reach KMS", untrusted.stderr)


def create_key_over_tls(server, cert):
    import boto3
    kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=server.region,
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key, verify=cert)
    return kms.create_key()["KeyMetadata"]["Arn"]


if __name__ == "__main__":
    unittest.main()
