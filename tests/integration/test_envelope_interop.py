"""Interoperability of kms with the AWS Encryption SDK for JavaScript (@aws-crypto/client-node with
a KMS keyring pointed at kmsd): each reads what the other writes, small and multi-megabyte, signed
and unsigned; kms also reads the SDK's version 1 messages."""
import os
import subprocess
import unittest

from test_envelope_cli import EnvelopeCase, SIGNED, UNSIGNED, MIB

INTEROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../interop")


class EnvelopeInterop(EnvelopeCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(INTEROP, "install.sh")], check=True)
        super().setUpClass()

    def esdk(self, *args):
        result = subprocess.run(["node", os.path.join(INTEROP, "esdk.js"), *args], env=self.env,
                                capture_output=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr.decode())

    def test_the_javascript_sdk_decrypts_what_kms_encrypts(self):
        for algorithm in (SIGNED, UNSIGNED):
            for size in (0, 100, MIB, 5 * MIB + 3):
                data = os.urandom(size)
                self.kms("encrypt", "--algorithm", algorithm, "--key-id", self.key_arn, "--context", "team=blue",
                         self.write("to-js", data), self.path("to-js.enc"))
                self.esdk("decrypt", self.key_arn, self.path("to-js.enc"), self.path("from-kms"), "team=blue")
                self.assertEqual(self.read("from-kms"), data, (algorithm, size))

    def test_kms_decrypts_what_the_javascript_sdk_encrypts(self):
        for suite in ("signed", "unsigned", "v1-signed", "v1-unsigned"):
            for size in (0, 100, 4096, 5 * MIB + 3):
                data = os.urandom(size)
                self.esdk("encrypt", self.key_arn, self.write("from-js", data), self.path("from-js.enc"),
                          suite, "team=green")
                self.assertEqual(self.read("from-js.enc")[0], 1 if suite.startswith("v1") else 2)
                self.kms("decrypt", "--context", "team=green", self.path("from-js.enc"), self.path("opened-js"))
                self.assertEqual(self.read("opened-js"), data, (suite, size))

    def test_the_javascript_sdk_refuses_a_tampered_kms_message(self):
        self.kms("encrypt", "--key-id", self.key_arn, self.write("t", os.urandom(10_000)), self.path("t.enc"))
        sealed = bytearray(self.read("t.enc"))
        sealed[-200] ^= 1
        self.write("t.bad", bytes(sealed))
        result = subprocess.run(["node", os.path.join(INTEROP, "esdk.js"), "decrypt", self.key_arn,
                                 self.path("t.bad"), self.path("t.out")], env=self.env, capture_output=True,
                                timeout=300)
        self.assertNotEqual(result.returncode, 0)


if __name__ == "__main__":
    unittest.main()
