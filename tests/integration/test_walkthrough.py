"""The envelope-encryption walkthrough from the README, done with the real aws CLI; and the
README's quick start itself, extracted and run as written."""
import base64
import os
import re
import shlex
import subprocess
import tempfile
import unittest

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmsd_harness import KmsdTestCase


class EnvelopeWalkthrough(KmsdTestCase):
    def test_envelope_encryption_with_the_aws_cli(self):
        aws = self.server.aws
        key = aws("create-key", "--description", "walkthrough key")["KeyMetadata"]
        self.assertEqual(key["KeyState"], "Enabled")
        self.assertEqual(key["Arn"], f"arn:aws:kms:us-east-1:111122223333:key/{key['KeyId']}")
        aws("create-alias", "--alias-name", "alias/walkthrough", "--target-key-id", key["KeyId"])

        data_key = aws("generate-data-key", "--key-id", "alias/walkthrough", "--key-spec", "AES_256",
                       "--encryption-context", "app=walkthrough,stage=test")
        self.assertEqual(data_key["KeyId"], key["Arn"])
        plaintext_key = base64.b64decode(data_key["Plaintext"])
        self.assertEqual(len(plaintext_key), 32)

        # Encrypt a file locally with the data key; keep only the encrypted key beside it.
        secret_data = os.urandom(100_000)
        nonce = os.urandom(12)
        encrypted_data = AESGCM(plaintext_key).encrypt(nonce, secret_data, None)
        del plaintext_key
        with tempfile.TemporaryDirectory() as work:
            blob_path = os.path.join(work, "data.key.enc")
            with open(blob_path, "wb") as f:
                f.write(base64.b64decode(data_key["CiphertextBlob"]))

            # Decrypt the blob without naming the key: the blob says which key it is under.
            decrypted = aws("decrypt", "--ciphertext-blob", f"fileb://{blob_path}",
                            "--encryption-context", "app=walkthrough,stage=test")
            self.assertEqual(decrypted["KeyId"], key["Arn"])
            self.assertEqual(decrypted["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
            recovered_key = base64.b64decode(decrypted["Plaintext"])
            self.assertEqual(AESGCM(recovered_key).decrypt(nonce, encrypted_data, None), secret_data)

            # The blob does not open under a different context.
            stderr = self.assertCliError("InvalidCiphertextException", "decrypt", "--ciphertext-blob",
                                         f"fileb://{blob_path}", "--encryption-context", "app=other")
            self.assertNotIn(data_key["Plaintext"], stderr)

    def test_direct_encrypt_and_decrypt_with_the_aws_cli(self):
        aws = self.server.aws
        key_id = aws("create-key")["KeyMetadata"]["KeyId"]
        with tempfile.TemporaryDirectory() as work:
            secret_path = os.path.join(work, "secret.txt")
            with open(secret_path, "wb") as f:
                f.write(b"database password: hunter2")
            encrypted = aws("encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret_path}")
            blob_path = os.path.join(work, "secret.enc")
            with open(blob_path, "wb") as f:
                f.write(base64.b64decode(encrypted["CiphertextBlob"]))
            decrypted = aws("decrypt", "--ciphertext-blob", f"fileb://{blob_path}", "--key-id", key_id)
            self.assertEqual(base64.b64decode(decrypted["Plaintext"]), b"database password: hunter2")

    def test_cli_lists_describes_and_disables(self):
        aws = self.server.aws
        key = aws("create-key", "--description", "cli")["KeyMetadata"]
        aws("create-alias", "--alias-name", "alias/cli-list", "--target-key-id", key["Arn"])
        listed = aws("list-keys")["Keys"]
        self.assertIn({"KeyId": key["KeyId"], "KeyArn": key["Arn"]}, listed)
        aliases = aws("list-aliases", "--key-id", key["KeyId"])["Aliases"]
        self.assertEqual([a["AliasName"] for a in aliases], ["alias/cli-list"])
        described = aws("describe-key", "--key-id", "alias/cli-list")["KeyMetadata"]
        self.assertEqual(described["KeyId"], key["KeyId"])
        aws("disable-key", "--key-id", key["KeyId"])
        self.assertCliError("DisabledException", "encrypt", "--key-id", key["KeyId"],
                            "--plaintext", "aGVsbG8=")
        aws("enable-key", "--key-id", key["KeyId"])
        self.assertTrue(aws("describe-key", "--key-id", key["KeyId"])["KeyMetadata"]["Enabled"])

    def test_cli_with_a_wrong_secret_is_refused(self):
        code, _, stderr = self.server.aws("list-keys", secret_key="wrong-secret", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("(InvalidSignatureException)", stderr)


REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
KMS = os.path.abspath(os.environ.get("KMS_BINARY", os.path.join(REPO, "build/kms")))


def quick_start_blocks():
    """The ```sh blocks the README marks with <!-- quick-start -->, in order."""
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    return re.findall(r"<!-- quick-start -->\n```sh\n(.*?)```", readme, re.S)


class ReadmeQuickStart(KmsdTestCase):
    def test_every_aws_command_names_the_endpoint(self):
        blocks = quick_start_blocks()
        self.assertGreaterEqual(len(blocks), 4)
        commands = [c for c in re.sub(r"\\\n", " ", "".join(blocks)).splitlines() if re.search(r"\baws kms ", c)]
        self.assertGreaterEqual(len(commands), 5)
        for command in commands:
            self.assertIn("--endpoint-url $KMS", command)
        for operation in ("create-key", "create-alias", "encrypt", "decrypt", "generate-data-key"):
            self.assertTrue(any(f"aws kms {operation} " in c for c in commands), operation)

    def test_the_quick_start_runs_as_written(self):
        script = "".join(quick_start_blocks())
        for placeholder in ("AWS_ACCESS_KEY_ID=...", "AWS_SECRET_ACCESS_KEY=...", "http://127.0.0.1:7600",
                            "build/kms "):
            self.assertIn(placeholder, script)
        script = (script.replace("AWS_ACCESS_KEY_ID=...", "AWS_ACCESS_KEY_ID=" + shlex.quote(self.server.access_key))
                  .replace("AWS_SECRET_ACCESS_KEY=...",
                           "AWS_SECRET_ACCESS_KEY=" + shlex.quote(self.server.secret_key))
                  .replace("http://127.0.0.1:7600", self.server.endpoint)
                  .replace("build/kms ", shlex.quote(KMS) + " "))
        with tempfile.TemporaryDirectory() as work:
            # Debian's aws CLI v2 first on PATH, a home of its own, nothing from the caller's AWS setup.
            env = {"PATH": "/usr/bin:/bin", "HOME": work, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                                    capture_output=True, text=True, timeout=180)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout.splitlines(), ["hunter2", "data key round trip OK", "kms round trip OK"],
                             result.stderr)
            # Nothing of the data key was left on disk in plaintext: only its encrypted blob.
            self.assertEqual(sorted(os.listdir(work)),
                             ["data.key.enc", "data.txt", "data.txt.dec", "data.txt.enc", "data.txt.kms",
                              "data.txt.out", "secret.enc"])
        aliases = self.kms.list_aliases()["Aliases"]
        self.assertIn("alias/app", [a["AliasName"] for a in aliases])


if __name__ == "__main__":
    unittest.main()
