"""The kms envelope tool end to end against the real kmsd, and its interoperability with the AWS
Encryption SDK for JavaScript (@aws-crypto/client-node with a KMS keyring pointed at kmsd): each
reads what the other writes, small and multi-megabyte, signed and unsigned."""
import os
import subprocess
import tempfile
import unittest

from kmsd_harness import KmsdServer

KMS = os.environ.get("KMS_BINARY", os.path.join(os.path.dirname(__file__), "../../build/kms"))
INTEROP = os.path.join(os.path.dirname(__file__), "../interop")
SIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
UNSIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"


class Envelope(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(INTEROP, "install.sh")], check=True)
        cls.server = KmsdServer().__enter__()
        kms = cls.server.client()
        cls.key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.second_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.work = tempfile.mkdtemp(prefix="kms-envelope-")
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID=cls.server.access_key,
                       AWS_SECRET_ACCESS_KEY=cls.server.secret_key, AWS_REGION=cls.server.region,
                       AWS_ENDPOINT_URL=cls.server.endpoint, HOME=cls.work)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        subprocess.run(["rm", "-rf", cls.work])

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def kms(self, *args, check=True, stdin=None):
        result = subprocess.run([KMS, *args], env=self.env, capture_output=True, input=stdin, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"kms {' '.join(args)}: {result.stderr.decode()}")
        return result

    def esdk(self, *args):
        result = subprocess.run(["node", os.path.join(INTEROP, "esdk.js"), *args], env=self.env,
                                capture_output=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr.decode())

    def test_kms_round_trips_small_large_and_empty_inputs(self):
        for size in (0, 1, 4095, 4096, 4097, 3 * 1024 * 1024 + 5):
            data = os.urandom(size)
            source = self.write(f"plain-{size}", data)
            self.kms("encrypt", "--key-id", self.key_arn, "--context", "purpose=test", source, self.path("sealed"))
            sealed = self.read("sealed")
            if size >= 64:
                self.assertNotIn(data[:64], sealed)
            self.kms("decrypt", "--context", "purpose=test", self.path("sealed"), self.path("opened"))
            self.assertEqual(self.read("opened"), data, size)

    def test_the_javascript_sdk_decrypts_what_kms_encrypts(self):
        for algorithm in (SIGNED, UNSIGNED):
            for size in (100, 5 * 1024 * 1024 + 3):
                data = os.urandom(size)
                self.kms("encrypt", "--algorithm", algorithm, "--key-id", self.key_arn, "--context", "team=blue",
                         self.write("to-js", data), self.path("to-js.enc"))
                self.esdk("decrypt", self.key_arn, self.path("to-js.enc"), self.path("from-kms"), "team=blue")
                self.assertEqual(self.read("from-kms"), data, (algorithm, size))

    def test_kms_decrypts_what_the_javascript_sdk_encrypts(self):
        for signing in ("signed", "unsigned"):
            for size in (100, 5 * 1024 * 1024 + 3):
                data = os.urandom(size)
                self.esdk("encrypt", self.key_arn, self.write("from-js", data), self.path("from-js.enc"),
                          signing, "team=green")
                self.kms("decrypt", "--context", "team=green", self.path("from-js.enc"), self.path("opened-js"))
                self.assertEqual(self.read("opened-js"), data, (signing, size))

    def test_streams_through_stdin_and_stdout(self):
        data = os.urandom(200_000)
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=data).stdout
        self.assertEqual(self.kms("decrypt", "-", "-", stdin=sealed).stdout, data)

    def test_several_keys_each_open_the_message(self):
        data = b"shared by two keys"
        self.kms("encrypt", "--key-id", self.key_arn, "--key-id", self.second_arn, self.write("two", data),
                 self.path("two.enc"))
        self.server.client().disable_key(KeyId=self.key_arn)
        try:
            self.kms("decrypt", self.path("two.enc"), self.path("two.out"))
            self.assertEqual(self.read("two.out"), data)
        finally:
            self.server.client().enable_key(KeyId=self.key_arn)

    def test_failures_are_errors_and_leave_no_output(self):
        data = os.urandom(50_000)
        self.kms("encrypt", "--frame-length", "1024", "--key-id", self.key_arn, "--context", "a=1",
                 self.write("p", data), self.path("c"))
        sealed = self.read("c")
        cases = {
            "truncated": sealed[: len(sealed) // 2],
            "modified": sealed[:3000] + bytes([sealed[3000] ^ 1]) + sealed[3001:],
            "not a message": b"hello world" * 10,
            "extended": sealed + b"x",
        }
        for name, message in cases.items():
            result = self.kms("decrypt", self.write("bad", message), self.path("out"), check=False)
            self.assertNotEqual(result.returncode, 0, name)
            self.assertFalse(os.path.exists(self.path("out")), name)
            self.assertTrue(result.stderr, name)
        wrong_context = self.kms("decrypt", "--context", "a=2", self.path("c"), self.path("out"), check=False)
        self.assertNotEqual(wrong_context.returncode, 0)
        self.assertIn(b"a=2", wrong_context.stderr)
        too_many = self.kms("decrypt", "--max-encrypted-data-keys", "0", self.path("c"), self.path("out"), check=False)
        self.assertNotEqual(too_many.returncode, 0)
        self.assertIn(b"encrypted data keys", too_many.stderr)
        self.assertFalse(os.path.exists(self.path("out")))

    def test_credentials_from_a_profile(self):
        os.makedirs(os.path.join(self.work, ".aws"), exist_ok=True)
        with open(os.path.join(self.work, ".aws", "credentials"), "w") as f:
            f.write(f"[kmsd]\naws_access_key_id = {self.server.access_key}\n"
                    f"aws_secret_access_key = {self.server.secret_key}\n")
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
        result = subprocess.run([KMS, "--profile", "kmsd", "encrypt", "--key-id", self.key_arn, "-", "-"],
                                env=env, input=b"via profile", capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        wrong = subprocess.run([KMS, "--profile", "absent", "encrypt", "--key-id", self.key_arn, "-", "-"],
                               env=env, input=b"x", capture_output=True, timeout=60)
        self.assertNotEqual(wrong.returncode, 0)


if __name__ == "__main__":
    unittest.main()
