"""Keys, aliases and states survive a restart; blobs made before it decrypt after it; nothing on
disk holds key material in the clear."""
import glob
import os
import stat
import unittest

from kmsd_harness import KmsdServer


class Persistence(unittest.TestCase):
    def test_everything_survives_a_restart(self):
        with KmsdServer() as server:
            kms = server.client()
            enabled = kms.create_key(Description="kept")["KeyMetadata"]
            disabled = kms.create_key()["KeyMetadata"]
            kms.disable_key(KeyId=disabled["KeyId"])
            kms.create_alias(AliasName="alias/kept", TargetKeyId=enabled["KeyId"])
            blob = kms.encrypt(KeyId="alias/kept", Plaintext=b"before restart", EncryptionContext={"c": "1"})["CiphertextBlob"]

            server.restart()
            kms = server.client()
            self.assertEqual(kms.describe_key(KeyId="alias/kept")["KeyMetadata"]["Description"], "kept")
            self.assertEqual(kms.describe_key(KeyId=disabled["KeyId"])["KeyMetadata"]["KeyState"], "Disabled")
            self.assertEqual(kms.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "1"})["Plaintext"], b"before restart")
            self.assertEqual({k["KeyId"] for k in kms.list_keys()["Keys"]}, {enabled["KeyId"], disabled["KeyId"]})

    def test_data_dir_is_private_and_holds_no_plaintext_key_material(self):
        with KmsdServer() as server:
            kms = server.client()
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
            with open(os.path.join(server.data_dir, "root.key"), "rb") as f:
                root_key = f.read()
            self.assertEqual(len(root_key), 32)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(server.data_dir, "root.key")).st_mode), 0o600)
            server.stop()
            for path in glob.glob(os.path.join(server.data_dir, "**"), recursive=True):
                if path.endswith("root.key") or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    content = f.read()
                self.assertNotIn(data_key, content, path)
                self.assertNotIn(root_key, content, path)
                if os.path.basename(path).startswith("kmsd.db"):
                    self.assertNotIn(b"ENCRYPT_DECRYPT", content, f"{path} holds a record in the clear")

    def test_generated_credentials_are_kept_private(self):
        server = KmsdServer()
        server.access_key = server.secret_key = ""  # let kmsd generate them
        with server:
            access_key, secret = server.generated_credentials()
            client = server.client(access_key=access_key, secret_key=secret)
            self.assertIn("Keys", client.list_keys())
            server.stop()  # appends the rest of the first run's output as one entry
            # Sealed in the keystore: no file of the data dir holds the secret in the clear.
            for root, _, names in os.walk(server.data_dir):
                for name in names:
                    with open(os.path.join(root, name), "rb") as f:
                        self.assertNotIn(secret.encode(), f.read(), os.path.join(root, name))
            first_run_entries = len(server.output)
            server.start()
            self.assertIn("Keys", server.client(access_key=access_key, secret_key=secret).list_keys())
            server.stop()
            second_run = "".join(server.output[first_run_entries:])
            self.assertIn(access_key, second_run)
            self.assertNotIn(secret, second_run)

if __name__ == "__main__":
    unittest.main()
