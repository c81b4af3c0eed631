"""`kmsd backup` while clients keep writing, then `kmsd restore` into a new data dir: every key,
alias and blob acknowledged before the backup began is there and decrypts, keys created during it
are wholly there or wholly absent; and what a restore refuses (a used dir, a damaged file, the
wrong root key)."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer

WRITERS = 3
COMMAND_TIMEOUT = 60


def kmsd(*args):
    """Runs `kmsd ARGS`; returns (returncode, stdout, stderr)."""
    result = subprocess.run([KMSD_BINARY, *args], capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    return result.returncode, result.stdout, result.stderr


def generated_credentials_server(data_dir=None, sealed=None):
    """A server with generated root credentials (sealed in its database, so that a backup carries
    them) and a client set up with them; `sealed`: the credentials its database already holds."""
    server = KmsdServer(data_dir=data_dir)
    server.access_key = server.secret_key = ""
    server.start()
    server.access_key, server.secret_key = sealed or server.generated_credentials()
    return server


class Writer(threading.Thread):
    """Creates a key, an alias for it and a blob under it, again and again, noting when each call
    began and when it was acknowledged (time.monotonic())."""

    def __init__(self, server, number):
        super().__init__(daemon=True)
        self.kms = server.client()
        self.number = number
        self.stop = threading.Event()
        self.done = []  # dicts: key_id, alias, blob, plaintext and the times
        self.error = None

    def run(self):
        try:
            for i in range(100000):
                if self.stop.is_set():
                    return
                item = {"started": time.monotonic()}
                item["key_id"] = self.kms.create_key()["KeyMetadata"]["KeyId"]
                item["key_acked"] = time.monotonic()
                item["alias"] = f"alias/w{self.number}-{i}"
                self.kms.create_alias(AliasName=item["alias"], TargetKeyId=item["key_id"])
                item["alias_acked"] = time.monotonic()
                item["plaintext"] = f"writer {self.number} item {i}".encode()
                item["blob"] = self.kms.encrypt(KeyId=item["key_id"],
                                                Plaintext=item["plaintext"])["CiphertextBlob"]
                item["blob_acked"] = time.monotonic()
                self.done.append(item)
        except Exception as error:  # reported by the test, not lost in the thread
            self.error = error


class BackupRestore(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kmsd-backup-it-")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def start(self, data_dir=None, sealed=None):
        server = generated_credentials_server(data_dir, sealed)
        self.servers.append(server)
        return server

    def backup(self, server, name="kmsd.backup"):
        out = os.path.join(self.work, name)
        code, stdout, stderr = kmsd("backup", "--data-dir", server.data_dir, "--out", out)
        self.assertEqual(code, 0, stderr)
        return out, stdout

    def test_restore_of_a_backup_taken_while_clients_write(self):
        source = self.start()
        kms = source.client()
        before = []
        for i in range(5):
            key_id = kms.create_key(Description=f"before {i}")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=f"alias/before-{i}", TargetKeyId=key_id)
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"made before the backup",
                               EncryptionContext={"i": str(i)})["CiphertextBlob"]
            before.append((key_id, f"alias/before-{i}", blob, {"i": str(i)}))

        writers = [Writer(source, n) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        try:
            deadline = time.monotonic() + 30
            while sum(len(w.done) for w in writers) < 2 * WRITERS:
                self.assertLess(time.monotonic(), deadline, "the writers made no progress")
                self.assertFalse(any(w.error for w in writers), [w.error for w in writers])
                time.sleep(0.01)
            # Back up until one run has writes acknowledged while it ran (a run can be quicker
            # than a request); each attempt is a complete, valid backup either way.
            for attempt in range(5):
                began = time.monotonic()
                backup, stdout = self.backup(source)
                ended = time.monotonic()
                acked_during = [item for w in writers for item in list(w.done)
                                if began <= item["key_acked"] <= ended]
                if acked_during:
                    break
            time.sleep(0.2)  # and writes after it, which must not be in it
        finally:
            for writer in writers:
                writer.stop.set()
            for writer in writers:
                writer.join(timeout=30)
        self.assertFalse(any(w.is_alive() for w in writers), "a writer did not stop")
        self.assertFalse(any(w.error for w in writers), [w.error for w in writers])
        self.assertTrue(acked_during, "no key was acknowledged while any backup ran")
        self.assertIn("root.key", stdout)
        self.assertIn("Not in the backup", stdout)

        restored_dir = os.path.join(self.work, "restored")
        code, stdout, stderr = kmsd("restore", "--in", backup, "--data-dir", restored_dir)
        self.assertEqual(code, 0, stderr)
        self.assertIn("Copy the root key", stdout)
        self.assertIn("kmsd serve --data-dir", stdout)
        self.assertEqual(sorted(os.listdir(restored_dir)), ["audit-signing-key.pem", "kmsd.db"])
        # The root credentials are in it only sealed: the backup alone gives no way in.
        with open(backup, "rb") as f:
            self.assertNotIn(source.secret_key.encode(), f.read())
        shutil.copy2(os.path.join(source.data_dir, "root.key"), os.path.join(restored_dir, "root.key"))
        restored = self.start(restored_dir, sealed=(source.access_key, source.secret_key))
        # The credentials came back with the backup, sealed in its database.
        self.assertIn(f"root access key id: {source.access_key} (its secret is sealed in the keystore)",
                      "".join(restored.output))
        rkms = restored.client()

        for key_id, alias, blob, context in before:
            self.assertEqual(rkms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], key_id)
            self.assertEqual(rkms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"],
                             b"made before the backup")

        aliases = {a["AliasName"]: a.get("TargetKeyId")
                   for page in rkms.get_paginator("list_aliases").paginate() for a in page["Aliases"]}
        keys = {k["KeyId"] for page in rkms.get_paginator("list_keys").paginate() for k in page["Keys"]}
        items = [item for w in writers for item in w.done]
        counts = {"before": 0, "during-present": 0, "during-absent": 0, "after": 0}
        for item in items:
            if item["key_acked"] < began:
                counts["before"] += 1
                self.assertIn(item["key_id"], keys)
                if item["alias_acked"] < began:
                    self.assertEqual(aliases.get(item["alias"]), item["key_id"], item["alias"])
                if item["blob_acked"] < began:
                    self.assertEqual(rkms.decrypt(CiphertextBlob=item["blob"])["Plaintext"],
                                     item["plaintext"])
            elif item["started"] > ended:
                counts["after"] += 1
                self.assertNotIn(item["key_id"], keys, "a key created after the backup is in it")
                self.assertNotIn(item["alias"], aliases)
            elif item["key_id"] in keys:
                counts["during-present"] += 1
                # Wholly: its metadata and its key material, usable.
                metadata = rkms.describe_key(KeyId=item["key_id"])["KeyMetadata"]
                self.assertEqual(metadata["KeyState"], "Enabled")
                blob = rkms.encrypt(KeyId=item["key_id"], Plaintext=b"x")["CiphertextBlob"]
                self.assertEqual(rkms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
                if item["alias"] in aliases:
                    self.assertEqual(aliases[item["alias"]], item["key_id"])
            else:
                counts["during-absent"] += 1
                with self.assertRaises(rkms.exceptions.NotFoundException):
                    rkms.describe_key(KeyId=item["key_id"])
                self.assertNotIn(item["alias"], aliases)
        if os.environ.get("KMSD_TEST_VERBOSE"):
            print(counts, f"attempt {attempt}, backup ran {ended - began:.3f}s", file=sys.stderr)
        self.assertGreater(counts["before"], 0, counts)
        self.assertGreater(counts["after"], 0, counts)
        # Nothing the restored server has that the source never acknowledged or was creating.
        self.assertLessEqual(keys, {k for k, *_ in before} | {i["key_id"] for i in items})

    def test_restore_checks_a_root_key_placed_first(self):
        source = self.start()
        key_id = source.client().create_key()["KeyMetadata"]["KeyId"]
        backup, _ = self.backup(source)
        target = os.path.join(self.work, "with-key")
        os.mkdir(target, 0o700)
        shutil.copy2(os.path.join(source.data_dir, "root.key"), os.path.join(target, "root.key"))
        code, stdout, stderr = kmsd("restore", "--in", backup, "--data-dir", target)
        self.assertEqual(code, 0, stderr)
        self.assertIn("root.key: checked", stdout)
        restored = self.start(target, sealed=(source.access_key, source.secret_key))
        self.assertEqual(restored.client().describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"], key_id)

    def test_restore_refuses_a_dir_that_is_not_empty(self):
        source = self.start()
        backup, _ = self.backup(source)
        before = sorted(os.listdir(source.data_dir))
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", source.data_dir)
        self.assertEqual(code, 1)
        self.assertIn("not empty", stderr)
        self.assertEqual(sorted(os.listdir(source.data_dir)), before)
        self.assertIn("Keys", source.client().list_keys())  # the running server is unharmed

        stray = os.path.join(self.work, "stray")
        os.mkdir(stray)
        open(os.path.join(stray, "notes.txt"), "w").close()
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", stray)
        self.assertEqual(code, 1)
        self.assertIn("notes.txt", stderr)
        self.assertEqual(os.listdir(stray), ["notes.txt"])

    def test_an_older_plaintext_credentials_file_travels_and_is_sealed_after_restore(self):
        # The data dir of an older kmsd, not started since: its root credentials are in a
        # plaintext root-credentials file and nowhere else (here: a server that took its
        # credentials from the environment, so that it sealed none, and the file written
        # beside it). The backup carries the file and says so; the restored server's first start
        # seals it and removes it.
        source = KmsdServer()
        self.servers.append(source)
        source.start()
        key_id = source.client().create_key()["KeyMetadata"]["KeyId"]
        source.stop()
        old = ("AKIAOLDERKMSD0000000", "an-older-kmsds-plaintext-secret")
        with open(os.open(os.path.join(source.data_dir, "root-credentials"),
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{old[0]}\n{old[1]}\n")
        backup, stdout = self.backup(source)
        self.assertIn("root-credentials is a plaintext copy of the root credentials", stdout)
        self.assertIn("Start the server once to seal it", stdout)
        restored_dir = os.path.join(self.work, "restored-old")
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", restored_dir)
        self.assertEqual(code, 0, stderr)
        self.assertIn("root-credentials", os.listdir(restored_dir))
        shutil.copy2(os.path.join(source.data_dir, "root.key"), os.path.join(restored_dir, "root.key"))
        restored = self.start(restored_dir, sealed=old)
        self.assertIn("now sealed in the keystore and the plaintext file is removed",
                      "".join(restored.output))
        self.assertNotIn("root-credentials", os.listdir(restored_dir))
        self.assertEqual(restored.client().describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"], key_id)
        # A backup taken now holds them only sealed.
        again, stdout = self.backup(restored, "again.backup")
        self.assertNotIn("plaintext copy", stdout)
        with open(again, "rb") as f:
            self.assertNotIn(old[1].encode(), f.read())

    def test_restore_refuses_a_corrupted_backup(self):
        source = self.start()
        source.client().create_key()
        backup, _ = self.backup(source)
        with open(backup, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0x40]))
        target = os.path.join(self.work, "from-corrupt")
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", target)
        self.assertEqual(code, 1)
        self.assertIn("not a usable kmsd backup", stderr)
        self.assertFalse(os.path.exists(target))

        with open(backup, "r+b") as f:
            f.truncate(size - 100)
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", target)
        self.assertEqual(code, 1)
        self.assertIn("truncated", stderr)
        self.assertFalse(os.path.exists(target))

    def test_restore_refuses_the_wrong_root_key(self):
        source = self.start()
        source.client().create_key()
        backup, _ = self.backup(source)
        target = os.path.join(self.work, "wrong-key")
        os.mkdir(target, 0o700)
        wrong = os.path.join(target, "root.key")
        with open(os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(os.urandom(32))
        code, _, stderr = kmsd("restore", "--in", backup, "--data-dir", target)
        self.assertEqual(code, 1)
        self.assertIn("is not the root key this backup was made under", stderr)
        self.assertEqual(os.listdir(target), ["root.key"])


if __name__ == "__main__":
    unittest.main()
