"""The PKCS#11 seal with Debian's SoftHSM2 (scripts/install-deps: softhsm2), a fresh token per test:
kmsd initializes a data dir with the HSM, restarts and decrypts old blobs; a wrong PIN, a missing
token or a missing key refuse the start with a clear message and change nothing; `kmsd seal
migrate` moves a dir from the file seal to the HSM and back, to another token, to another key, to
Shamir shares and back, and a failed migration leaves the dir as it was. No root.key ever appears
in an HSM-sealed dir."""
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "kmsd-it"
PIN = "4321-user-pin"


class SoftHsm:
    """A SoftHSM2 token store of its own (SOFTHSM2_CONF), removed by cleanup()."""

    def __init__(self):
        if not os.path.exists(MODULE) or not shutil.which("softhsm2-util"):
            raise AssertionError(f"{MODULE} or softhsm2-util is missing: run scripts/install-deps")
        self.dir = tempfile.mkdtemp(prefix="kmsd-softhsm-")
        self.conf = self.new_store()

    def new_store(self):
        """Another token store (what a host with a different HSM would see); returns its conf."""
        store = tempfile.mkdtemp(prefix="store-", dir=self.dir)
        os.makedirs(os.path.join(store, "tokens"))
        conf = os.path.join(store, "softhsm2.conf")
        with open(conf, "w") as out:
            out.write(f"directories.tokendir = {store}/tokens\nobjectstore.backend = file\n"
                      "log.level = ERROR\n")
        return conf

    def init_token(self, label=TOKEN, pin=PIN, conf=None):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", "8765-so-pin"], check=True, capture_output=True, timeout=30,
                       env={**os.environ, "SOFTHSM2_CONF": conf or self.conf})

    def pin_file(self, pin=PIN, name="pin"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as out:
            out.write(pin + "\n")
        os.chmod(path, 0o600)
        return path

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def snapshot(data_dir):
    """Every file of the dir (but the lock, which any start may take) with its SHA-256."""
    files = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "**"), recursive=True)):
        name = os.path.relpath(path, data_dir)
        if os.path.isfile(path) and name != "kmsd.lock":
            with open(path, "rb") as f:
                files[name] = hashlib.sha256(f.read()).hexdigest()
        elif os.path.isdir(path) and name != ".":
            files[name + "/"] = "dir"
    return files


def settled(files):
    """A snapshot without SQLite's scratch files, which a reader (records()) leaves and the next
    writer's close removes: the shared-memory index and an empty WAL."""
    empty = hashlib.sha256(b"").hexdigest()
    return {name: digest for name, digest in files.items()
            if name != "kmsd.db-shm" and not (name == "kmsd.db-wal" and digest == empty)}


def records(data_dir):
    """The database's records (key -> value), read-only."""
    connection = sqlite3.connect(f"file:{data_dir}/kmsd.db?mode=ro", uri=True)
    try:
        return dict(connection.execute("SELECT key, value FROM kv"))
    finally:
        connection.close()


class Pkcs11Seal(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.hsm = SoftHsm()
        self.addCleanup(self.hsm.cleanup)
        self.hsm.init_token()
        self.pin = self.hsm.pin_file()
        self.data_dir = tempfile.mkdtemp(prefix="kmsd-test-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def pkcs11_flags(self, pin_file=None, **overrides):
        flags = {"--pkcs11-module": MODULE, "--pkcs11-token-label": TOKEN,
                 "--pkcs11-pin-file": pin_file or self.pin}
        flags.update(overrides)
        return [item for pair in flags.items() for item in pair if pair[1] is not None]

    def server(self, args, conf=None):
        return KmsdServer(data_dir=self.data_dir, extra_args=args,
                          env={"SOFTHSM2_CONF": conf or self.hsm.conf})

    def refused_start(self, args, conf=None):
        """Runs a kmsd serve that must refuse to start; returns (exit code, output)."""
        result = subprocess.run(
            [KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *args],
            capture_output=True, text=True, timeout=30,
            env={**os.environ, "SOFTHSM2_CONF": conf or self.hsm.conf,
                 "KMSD_ROOT_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
                 "KMSD_ROOT_SECRET_ACCESS_KEY": "not-used-secret"})
        self.assertNotIn("listening on", result.stdout)
        self.assertNotEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.returncode, result.stdout + result.stderr

    def migrate(self, *args, conf=None, check=True, stdin=None):
        result = subprocess.run([KMSD_BINARY, "seal", "migrate", "--data-dir", self.data_dir, *args],
                                capture_output=True, text=True, timeout=60, input=stdin,
                                env={**os.environ, "SOFTHSM2_CONF": conf or self.hsm.conf})
        if check:
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result

    def make_blobs(self, server):
        kms = server.client()
        key_id = kms.create_key(Description="sealed")["KeyMetadata"]["KeyId"]
        blobs = {}
        for i in range(3):
            plaintext = f"secret {i}".encode()
            blobs[plaintext] = kms.encrypt(KeyId=key_id, Plaintext=plaintext,
                                           EncryptionContext={"n": str(i)})["CiphertextBlob"]
        return key_id, blobs

    def assert_blobs_decrypt(self, server, blobs):
        kms = server.client()
        for i, (plaintext, blob) in enumerate(blobs.items()):
            self.assertEqual(kms.decrypt(CiphertextBlob=blob,
                                         EncryptionContext={"n": str(i)})["Plaintext"], plaintext)

    def initialize_with_hsm(self, extra=()):
        with self.server(["--seal", "pkcs11", *self.pkcs11_flags(), *extra]) as server:
            key_id, blobs = self.make_blobs(server)
        return key_id, blobs

    def test_start_restart_and_old_blobs_decrypt_with_no_root_key(self):
        key_id, blobs = self.initialize_with_hsm()
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))
        with open(os.path.join(self.data_dir, "seal.json")) as f:
            text = f.read()
        self.assertEqual(json.loads(text), {"seal": "pkcs11", "parameters": {
            "module": MODULE, "token_label": TOKEN, "key_label": "kmsd-root"}})
        self.assertNotIn(PIN, text)
        # seal.json supplies the rest; only the PIN file is needed.
        with self.server(["--pkcs11-pin-file", self.pin]) as server:
            self.assertEqual(server.client().describe_key(KeyId=key_id)["KeyMetadata"]["Description"],
                             "sealed")
            self.assert_blobs_decrypt(server, blobs)
        # Flags may repeat seal.json.
        with self.server(["--seal", "pkcs11", *self.pkcs11_flags(), "--pkcs11-key-label",
                          "kmsd-root"]) as server:
            self.assert_blobs_decrypt(server, blobs)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))

    def test_refused_starts_of_an_initialized_dir_change_nothing(self):
        self.initialize_with_hsm()
        before = snapshot(self.data_dir)
        cases = {
            "wrong PIN": ([*self.pkcs11_flags(self.hsm.pin_file("0000-wrong", "wrong-pin"))],
                          None, "wrong PIN"),
            "missing token": (["--pkcs11-pin-file", self.pin], self.hsm.new_store(),
                              f'no token labeled "{TOKEN}"'),
            "missing key": (["--pkcs11-pin-file", self.pin], "fresh-token",
                            'no key labeled "kmsd-root"'),
            "other seal": (["--seal", "file"], None, "sealed by the pkcs11 seal"),
            "flag contradicts seal.json": (self.pkcs11_flags(**{"--pkcs11-token-label": "other"}),
                                           None, 'but seal.json records "kmsd-it"'),
            "PIN file readable by others": (["--pkcs11-pin-file", self.hsm.pin_file(name="open-pin")],
                                            None, "chmod 600"),
        }
        os.chmod(os.path.join(self.hsm.dir, "open-pin"), 0o644)
        for name, (args, conf, message) in cases.items():
            with self.subTest(name):
                if conf == "fresh-token":  # a token of the same label that lacks the key
                    conf = self.hsm.new_store()
                    self.hsm.init_token(conf=conf)
                _, output = self.refused_start(args, conf)
                self.assertIn(message, output)
                self.assertNotIn(PIN, output)
                self.assertEqual(snapshot(self.data_dir), before)

    def test_refused_first_starts_leave_the_dir_empty(self):
        cases = {
            "wrong PIN": (self.pkcs11_flags(self.hsm.pin_file("0000-wrong", "wrong-pin")),
                          "CKR_PIN_INCORRECT"),
            "missing token": (self.pkcs11_flags(**{"--pkcs11-token-label": "absent"}),
                              f'no token labeled "absent" in {MODULE} (tokens found: "{TOKEN}")'),
            "named key missing": (self.pkcs11_flags(**{"--pkcs11-key-label": "operator-key"}),
                                  'no key labeled "operator-key"'),
            "module missing": (self.pkcs11_flags(**{"--pkcs11-module": "/nonexistent/p11.so"}),
                               "cannot load the module"),
        }
        for name, (args, message) in cases.items():
            with self.subTest(name):
                _, output = self.refused_start(["--seal", "pkcs11", *args])
                self.assertIn(message, output)
                self.assertEqual(snapshot(self.data_dir), {})

    def test_named_key_is_created_only_when_asked(self):
        flags = self.pkcs11_flags(**{"--pkcs11-key-label": "operator-key"})
        with self.server(["--seal", "pkcs11", *flags, "--pkcs11-create-key"]) as server:
            _, blobs = self.make_blobs(server)
        with open(os.path.join(self.data_dir, "seal.json")) as f:
            self.assertEqual(json.load(f)["parameters"]["key_label"], "operator-key")
        with self.server(["--pkcs11-pin-file", self.pin]) as server:
            self.assert_blobs_decrypt(server, blobs)

    def test_migrate_file_to_pkcs11_and_back(self):
        with KmsdServer(data_dir=self.data_dir) as server:  # the file seal
            _, blobs = self.make_blobs(server)
            # Not while a server owns the dir.
            running = self.migrate("--to", "pkcs11", *self.pkcs11_flags(), check=False)
            self.assertEqual(running.returncode, 1)
            self.assertIn("in use by another kmsd", running.stderr)
        with open(os.path.join(self.data_dir, "root.key"), "rb") as f:
            old_root_key = f.read()

        # A failure before anything is written: the wrong PIN.
        before, before_records = snapshot(self.data_dir), records(self.data_dir)
        wrong = self.migrate("--to", "pkcs11",
                             *self.pkcs11_flags(self.hsm.pin_file("0000-wrong", "wrong-pin")),
                             check=False)
        self.assertEqual(wrong.returncode, 1)
        self.assertIn("wrong PIN", wrong.stderr)
        self.assertIn("left as it was", wrong.stderr)
        self.assertEqual(snapshot(self.data_dir), before)

        # A failure after the database commit: seal.json cannot be written (its temporary name is
        # taken by a directory). The old wrapped keyring key is put back.
        blocker = os.path.join(self.data_dir, "seal.json.tmp")
        os.mkdir(blocker)
        before = snapshot(self.data_dir)
        blocked = self.migrate("--to", "pkcs11", *self.pkcs11_flags(), check=False)
        self.assertEqual(blocked.returncode, 1)
        self.assertIn("cannot write seal.json", blocked.stderr)
        self.assertIn("nothing changed", blocked.stderr)
        os.rmdir(blocker)
        self.assertEqual(records(self.data_dir), before_records)
        after = snapshot(self.data_dir)
        for name in ("root.key", "seal.json"):
            self.assertEqual(after.get(name), before.get(name), name)

        # file -> pkcs11
        done = self.migrate("--to", "pkcs11", *self.pkcs11_flags())
        self.assertIn("no record was re-encrypted", done.stdout)
        self.assertIn("destroy it", done.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))
        kept = glob.glob(os.path.join(self.data_dir, "root.key.migrated-*"))
        self.assertEqual(len(kept), 1)
        with open(kept[0], "rb") as f:
            self.assertEqual(f.read(), old_root_key)
        migrated = records(self.data_dir)
        self.assertNotEqual(migrated["core/keyring"], before_records["core/keyring"])
        self.assertEqual({k: v for k, v in migrated.items() if k != "core/keyring"},
                         {k: v for k, v in before_records.items() if k != "core/keyring"})
        os.remove(kept[0])  # as the operator would, once verified
        with self.server(["--pkcs11-pin-file", self.pin]) as server:
            self.assert_blobs_decrypt(server, blobs)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))

        # pkcs11 -> file
        back = self.migrate("--to", "file", "--pkcs11-pin-file", self.pin)
        self.assertIn('"kmsd-root" in token', back.stdout)
        with open(os.path.join(self.data_dir, "seal.json")) as f:
            self.assertEqual(json.load(f)["seal"], "file")
        self.assertEqual(os.stat(os.path.join(self.data_dir, "root.key")).st_mode & 0o777, 0o600)
        with KmsdServer(data_dir=self.data_dir) as server:
            self.assert_blobs_decrypt(server, blobs)

    def test_migrate_failure_to_reach_the_hsm_key_leaves_the_dir_as_it_was(self):
        with KmsdServer(data_dir=self.data_dir) as server:
            self.make_blobs(server)
        before, before_records = snapshot(self.data_dir), records(self.data_dir)
        result = self.migrate("--to", "pkcs11",
                              *self.pkcs11_flags(**{"--pkcs11-key-label": "operator-key"}),
                              check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn('no key labeled "operator-key"', result.stderr)
        self.assertEqual(snapshot(self.data_dir), before)
        self.assertEqual(records(self.data_dir), before_records)

    def assert_refused_and_unchanged(self, result, message):
        """A migration that failed: exit 1, the reason, and not one byte of the dir changed."""
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(message, result.stderr)
        self.assertIn("left as it was", result.stderr)
        self.assertEqual(settled(snapshot(self.data_dir)), settled(self.before))
        self.assertEqual(records(self.data_dir), self.before_records)

    def assert_only_the_keyring_changed(self):
        after = records(self.data_dir)
        self.assertNotEqual(after["core/keyring"], self.before_records["core/keyring"])
        self.assertEqual({k: v for k, v in after.items() if k != "core/keyring"},
                         {k: v for k, v in self.before_records.items() if k != "core/keyring"})

    def seal_json(self):
        with open(os.path.join(self.data_dir, "seal.json")) as f:
            return json.load(f)

    def test_migrate_to_another_token_and_to_another_key_in_it(self):
        _, blobs = self.initialize_with_hsm()
        other_pin = self.hsm.pin_file("9999-other-pin", "other-pin")
        self.hsm.init_token(label="kmsd-other", pin="9999-other-pin")
        to_other = ["--to", "pkcs11", "--pkcs11-token-label", "kmsd-other",
                    "--pkcs11-pin-file", other_pin, "--from-pkcs11-pin-file", self.pin]
        self.before, self.before_records = snapshot(self.data_dir), records(self.data_dir)

        self.assert_refused_and_unchanged(
            self.migrate(*to_other, "--pkcs11-key-label", "operator-key", check=False),
            'no key labeled "operator-key"')
        self.assert_refused_and_unchanged(
            self.migrate(*to_other[:-1], self.hsm.pin_file("0000-wrong", "wrong-pin"), check=False),
            "wrong PIN")
        self.assert_refused_and_unchanged(
            self.migrate("--to", "pkcs11", "--pkcs11-pin-file", self.pin, check=False),
            "already sealed")

        # pkcs11 -> pkcs11: another token (its own PIN); the module defaults to the current one.
        done = self.migrate(*to_other)
        self.assertIn('"kmsd-root" in token "kmsd-it" no longer protects', done.stdout)
        self.assertEqual(self.seal_json()["parameters"],
                         {"module": MODULE, "token_label": "kmsd-other", "key_label": "kmsd-root"})
        self.assert_only_the_keyring_changed()
        with self.server(["--pkcs11-pin-file", other_pin]) as server:
            self.assert_blobs_decrypt(server, blobs)
        refused, output = self.refused_start(["--pkcs11-pin-file", self.pin])
        self.assertIn("wrong PIN", output)  # the old token's PIN no longer opens the dir

        # pkcs11 -> pkcs11: another key in the same token.
        self.migrate("--to", "pkcs11", "--pkcs11-key-label", "second-key", "--pkcs11-create-key",
                     "--pkcs11-pin-file", other_pin)
        self.assertEqual(self.seal_json()["parameters"]["key_label"], "second-key")
        self.assertEqual(self.seal_json()["parameters"]["token_label"], "kmsd-other")
        with self.server(["--pkcs11-pin-file", other_pin]) as server:
            self.assert_blobs_decrypt(server, blobs)
        self.assertEqual(glob.glob(os.path.join(self.data_dir, "root.key*")), [])

    def test_migrate_from_the_hsm_to_shares_and_back(self):
        _, blobs = self.initialize_with_hsm()
        to_shares = ["--to", "shares", "--shares", "3", "--threshold", "2"]
        self.before, self.before_records = snapshot(self.data_dir), records(self.data_dir)
        wrong = self.migrate(*to_shares, "--pkcs11-pin-file",
                             self.hsm.pin_file("0000-wrong", "wrong-pin"), check=False)
        self.assert_refused_and_unchanged(wrong, "wrong PIN")
        self.assertNotIn("share 1:", wrong.stdout)  # no share of a set that never was

        # pkcs11 -> shares
        done = self.migrate(*to_shares, "--pkcs11-pin-file", self.pin)
        texts = re.findall(r"share \d+: (\S+)", done.stdout)
        self.assertEqual(len(texts), 3)
        self.assertIn("no longer protects", done.stdout)
        self.assertEqual(self.seal_json()["seal"], "shares")
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "seal.json.previous")))
        self.assert_only_the_keyring_changed()
        with KmsdServer(data_dir=self.data_dir) as server:  # sealed: no HSM involved any more
            for text in texts[:2]:
                unseal = subprocess.run([KMSD_BINARY, "unseal", "--data-dir", self.data_dir],
                                        input=text + "\n", capture_output=True, text=True, timeout=30)
                self.assertEqual(unseal.returncode, 0, unseal.stderr)
            self.assert_blobs_decrypt(server, blobs)

        # shares -> pkcs11; a mistyped share first changes nothing.
        self.before, self.before_records = snapshot(self.data_dir), records(self.data_dir)
        back = ["--to", "pkcs11", *self.pkcs11_flags(**{"--pkcs11-key-label": "after-shares"}),
                "--pkcs11-create-key"]
        typo = texts[1][:3] + ("a" if texts[1][3] != "a" else "b") + texts[1][4:]
        mistyped = self.migrate(*back, stdin=f"{texts[0]}\n{typo}\n", check=False)
        self.assert_refused_and_unchanged(mistyped, "checksum")
        self.assertNotIn(typo, mistyped.stderr)
        self.migrate(*back, stdin=f"{texts[2]}\n{texts[0]}\n")
        self.assertEqual(self.seal_json()["parameters"]["key_label"], "after-shares")
        self.assert_only_the_keyring_changed()
        with self.server(["--pkcs11-pin-file", self.pin]) as server:
            self.assert_blobs_decrypt(server, blobs)


if __name__ == "__main__":
    unittest.main()
