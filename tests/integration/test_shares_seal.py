"""The shares seal (docs/SEAL.md, "Shamir shares"), end to end with the real kmsd and boto3:
kmsd init --shares 5 --threshold 3, a sealed start (KMS refused with DependencyTimeoutException
and audited, /ready 503), kmsd unseal share by share (a mistyped share refused), serving, a
restart sealed again and unsealed by another 3 of 5, old blobs decrypting; the root key in no
file of the data dir; another uid refused by the socket; kmsd seal migrate from the file seal, to a
new set of shares and to the file seal, a failed migration changing nothing."""
import base64
import glob
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import botocore.exceptions

from kmsd_harness import KMSD_BINARY, KmsdServer
from test_pkcs11_seal import records, settled, snapshot


def run_kmsd(*args, stdin=None, binary=KMSD_BINARY):
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def shares_of(output):
    return re.findall(r"share \d+: (\S+)", output)


# An independent reading of the share format and GF(2^8) (the AES field), to recombine the root
# key the test then looks for on disk.
def decode_share(text):
    data = text.replace("-", "").upper()
    raw = base64.b32decode(data + "=" * (-len(data) % 8))
    return raw[6], raw[7:-4]  # index, value (version, set id, threshold, index, value, checksum)


def gf_mul(a, b):
    product = 0
    while b:
        if b & 1:
            product ^= a
        a = ((a << 1) ^ 0x11B) if a & 0x80 else (a << 1)
        b >>= 1
    return product


def gf_inv(a):
    return next(b for b in range(1, 256) if gf_mul(a, b) == 1)


def recombine(texts):
    points = [decode_share(t) for t in texts]
    secret = bytearray(len(points[0][1]))
    for i, (xi, yi) in enumerate(points):
        basis = 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                basis = gf_mul(basis, gf_mul(xj, gf_inv(xj ^ xi)))
        for k in range(len(secret)):
            secret[k] ^= gf_mul(yi[k], basis)
    return bytes(secret)


class SharesSealTest(unittest.TestCase):
    def setUp(self):
        self.parent = tempfile.mkdtemp(prefix="kmsd-shares-")
        self.data_dir = os.path.join(self.parent, "data")
        self.server = None

    def tearDown(self):
        if self.server:
            self.server.stop()
        shutil.rmtree(self.parent, ignore_errors=True)

    def init(self, shares=5, threshold=3):
        result = run_kmsd("init", "--data-dir", self.data_dir, "--shares", str(shares),
                          "--threshold", str(threshold))
        self.assertEqual(result.returncode, 0, result.stderr)
        texts = shares_of(result.stdout)
        self.assertEqual(len(texts), shares)
        return texts

    def unseal(self, share):
        return run_kmsd("unseal", "--data-dir", self.data_dir, stdin=share + "\n")

    def assert_sealed(self, kms, needed):
        with self.assertRaises(botocore.exceptions.ClientError) as raised:
            kms.list_keys()
        error = raised.exception.response
        self.assertEqual(error["Error"]["Code"], "DependencyTimeoutException")
        self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertIn(f"kmsd is sealed: {needed} more unseal shares needed", error["Error"]["Message"])

    def ready_status(self):
        try:
            with urllib.request.urlopen(self.server.endpoint + "/ready", timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def start(self):
        self.server = KmsdServer(data_dir=self.data_dir)
        self.server.start()
        self.assertTrue(any("SEALED" in line for line in self.server.log_lines()))
        return self.server.client()

    def test_init_unseal_serve_restart_and_unseal_with_other_shares(self):
        texts = self.init()
        self.assertEqual(stat.S_IMODE(os.stat(self.data_dir).st_mode), 0o700)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))
        kms = self.start()
        self.assert_sealed(kms, 3)
        status, reason = self.ready_status()
        self.assertEqual(status, 503)
        self.assertIn("sealed", reason)
        socket_path = os.path.join(self.data_dir, "unseal.sock")
        self.assertEqual(stat.S_IMODE(os.stat(socket_path).st_mode), 0o600)

        first = self.unseal(texts[0])
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn("1 of 3 shares given, 2 more needed", first.stdout)
        self.assertIn("1 of 3", run_kmsd("unseal", "--data-dir", self.data_dir, "--status").stdout)
        again = self.unseal(texts[0])
        self.assertEqual(again.returncode, 1)
        self.assertIn("already given", again.stderr)
        self.assertEqual(self.unseal(texts[3]).returncode, 0)
        self.assert_sealed(kms, 1)
        typo = list(texts[4])
        typo[2] = "A" if typo[2] != "A" else "B"
        refused = self.unseal("".join(typo))
        self.assertEqual(refused.returncode, 1)
        self.assertIn("checksum", refused.stderr)
        self.assertNotIn("".join(typo), refused.stderr)
        self.assert_sealed(kms, 1)

        last = self.unseal(texts[4])
        self.assertEqual(last.returncode, 0, last.stderr)
        self.assertIn("unsealed", last.stdout)
        self.assertEqual(self.ready_status()[0], 200)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept across restarts")["CiphertextBlob"]

        # The sealed refusals were audited like any request.
        trail = ""
        for path in glob.glob(os.path.join(self.data_dir, "audit", "trail-*.jsonl")):
            with open(path) as records:
                trail += records.read()
        self.assertIn('"errorCode":"DependencyTimeoutException"', trail)
        self.assertIn('"eventName":"ListKeys"', trail)

        self.server.stop()
        kms = self.start()
        self.assert_sealed(kms, 3)
        for text in (texts[1], texts[2], texts[3]):
            self.assertEqual(self.unseal(text).returncode, 0)
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"kept across restarts")
        self.server.stop()

        # The root key (recombined here from three shares) is in no file of the data dir, in any
        # usual encoding; and no share is in kmsd's output.
        root_key = recombine([texts[0], texts[2], texts[4]])
        self.assertEqual(root_key, recombine([texts[1], texts[3], texts[4]]))
        self.assertEqual(len(root_key), 32)
        needles = [root_key, root_key.hex().encode(), base64.b64encode(root_key)]
        for folder, _, files in os.walk(self.data_dir):
            for name in files:
                with open(os.path.join(folder, name), "rb") as data:
                    content = data.read()
                for needle in needles:
                    self.assertNotIn(needle, content, os.path.join(folder, name))
        log = "\n".join(self.server.log_lines())
        for text in texts:
            self.assertNotIn(text, log)

    def test_a_wrong_share_set_resets_the_progress(self):
        texts = self.init(3, 2)
        other_dir = os.path.join(self.parent, "other")
        other = run_kmsd("init", "--data-dir", other_dir, "--shares", "3", "--threshold", "2")
        self.assertEqual(other.returncode, 0)
        self.start()
        foreign = self.unseal(shares_of(other.stdout)[0])
        self.assertEqual(foreign.returncode, 1)
        self.assertIn("not one of this data dir's shares", foreign.stderr)
        self.assertEqual(self.unseal(texts[2]).returncode, 0)
        self.assertEqual(self.unseal(texts[0]).returncode, 0)
        self.assertEqual(self.ready_status()[0], 200)

    def test_init_refuses_a_threshold_of_one_and_a_used_data_dir(self):
        result = run_kmsd("init", "--data-dir", self.data_dir, "--shares", "3", "--threshold", "1")
        self.assertNotEqual(result.returncode, 0)
        self.init(3, 2)
        again = run_kmsd("init", "--data-dir", self.data_dir, "--shares", "3", "--threshold", "2")
        self.assertEqual(again.returncode, 1)
        self.assertIn("not empty", again.stderr)

    def test_another_user_cannot_unseal(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to run kmsd unseal as nobody")
        texts = self.init(3, 2)
        self.start()
        # Open the directory and the socket to everyone, so that only SO_PEERCRED stands between
        # nobody and the server.
        binary_dir = tempfile.mkdtemp(prefix="kmsd-bin-")
        try:
            binary = os.path.join(binary_dir, "kmsd")
            shutil.copy(KMSD_BINARY, binary)
            os.chmod(binary_dir, 0o755)
            os.chmod(self.parent, 0o755)
            os.chmod(self.data_dir, 0o711)
            os.chmod(os.path.join(self.data_dir, "unseal.sock"), 0o666)
            result = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "unseal",
                 "--data-dir", self.data_dir], input=texts[0] + "\n", capture_output=True,
                text=True, timeout=60)
        finally:
            shutil.rmtree(binary_dir, ignore_errors=True)
            os.chmod(self.data_dir, 0o700)
        self.assertEqual(result.returncode, 1)
        self.assertIn("only the user kmsd runs as, or root, may unseal it", result.stderr)
        status = run_kmsd("unseal", "--data-dir", self.data_dir, "--status")
        self.assertIn("0 of 2", status.stdout)

    def test_migrate_from_the_file_seal_keeps_every_record(self):
        self.server = KmsdServer(data_dir=self.data_dir)
        self.server.start()
        kms = self.server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"from the file seal")["CiphertextBlob"]
        self.server.stop()
        with open(os.path.join(self.data_dir, "root.key"), "rb") as old:
            old_root_key = old.read()

        busy = KmsdServer(data_dir=self.data_dir).start()
        try:  # a running server holds the data dir: nothing changes
            refused = run_kmsd("seal", "migrate", "--data-dir", self.data_dir, "--to", "shares",
                               "--shares", "3", "--threshold", "2")
            self.assertEqual(refused.returncode, 1)
        finally:
            busy.stop()
        self.assertTrue(os.path.exists(os.path.join(self.data_dir, "root.key")))

        result = run_kmsd("seal", "migrate", "--data-dir", self.data_dir, "--to", "shares",
                          "--shares", "3", "--threshold", "2")
        self.assertEqual(result.returncode, 0, result.stderr)
        texts = shares_of(result.stdout)
        self.assertEqual(len(texts), 3)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "root.key")))
        aside = glob.glob(os.path.join(self.data_dir, "root.key.migrated-*"))
        self.assertEqual(len(aside), 1)
        self.assertIn("destroy it", result.stdout)

        kms = self.start()
        self.assert_sealed(kms, 2)
        self.assertEqual(self.unseal(texts[2]).returncode, 0)
        self.assertEqual(self.unseal(texts[1]).returncode, 0)
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"from the file seal")
        self.assertNotEqual(recombine(texts[:2]), old_root_key)

    def migrate(self, *args, shares=()):
        return run_kmsd("seal", "migrate", "--data-dir", self.data_dir, *args,
                        stdin="".join(text + "\n" for text in shares))

    def test_migrate_to_a_new_set_of_shares_then_to_the_file_seal(self):
        texts = self.init(3, 2)
        kms = self.start()
        for text in texts[:2]:
            self.assertEqual(self.unseal(text).returncode, 0)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"under shares")["CiphertextBlob"]
        self.server.stop()
        before_records = records(self.data_dir)
        before = snapshot(self.data_dir)

        # Failures change nothing and print no new share: too few shares, a mistyped one.
        to_new_set = ["--to", "shares", "--shares", "3", "--threshold", "2"]
        typo = texts[1][:3] + ("a" if texts[1][3] != "a" else "b") + texts[1][4:]
        for result, reason in ((self.migrate(*to_new_set, shares=texts[:1]), "1 of the 2 shares"),
                               (self.migrate(*to_new_set, shares=[texts[0], typo]), "checksum"),
                               (self.migrate("--to", "file", shares=texts[2:]), "1 of the 2")):
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertIn(reason, result.stderr)
            self.assertIn("left as it was", result.stderr)
            self.assertEqual(shares_of(result.stdout), [])
            self.assertEqual(settled(snapshot(self.data_dir)), settled(before))
            self.assertEqual(records(self.data_dir), before_records)

        # A failure once the new shares are shown (seal.json cannot be written: its temporary
        # name is taken): they are void, and the old seal.json is back.
        blocker = os.path.join(self.data_dir, "seal.json.tmp")
        os.mkdir(blocker)
        blocked = self.migrate(*to_new_set, shares=texts[:2])
        os.rmdir(blocker)
        self.assertEqual(blocked.returncode, 1, blocked.stdout + blocked.stderr)
        self.assertIn("cannot write seal.json", blocked.stderr)
        self.assertIn("the shares above are void", blocked.stderr)
        self.assertEqual(settled(snapshot(self.data_dir)), settled(before))
        self.assertEqual(records(self.data_dir), before_records)

        # shares -> shares: a new set (a rekey); the old shares no longer unseal.
        rekey = self.migrate(*to_new_set, shares=[texts[2], texts[0]])
        self.assertEqual(rekey.returncode, 0, rekey.stderr)
        new_texts = shares_of(rekey.stdout)
        self.assertEqual(len(new_texts), 3)
        self.assertFalse(set(new_texts) & set(texts))
        self.assertIn("old shares no longer open this dir", rekey.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "seal.json.previous")))
        after = records(self.data_dir)
        self.assertNotEqual(after["core/keyring"], before_records["core/keyring"])
        self.assertEqual({k: v for k, v in after.items() if k != "core/keyring"},
                         {k: v for k, v in before_records.items() if k != "core/keyring"})
        kms = self.start()
        self.assertEqual(self.unseal(texts[0]).returncode, 1)  # a share of the old set
        self.assert_sealed(kms, 2)
        for text in (new_texts[1], new_texts[2]):
            self.assertEqual(self.unseal(text).returncode, 0)
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"under shares")
        self.server.stop()
        self.server = None

        # shares -> file
        to_file = self.migrate("--to", "file", shares=new_texts[:2])
        self.assertEqual(to_file.returncode, 0, to_file.stderr)
        self.assertIn("no record was re-encrypted", to_file.stdout)
        root_key = os.path.join(self.data_dir, "root.key")
        self.assertEqual(stat.S_IMODE(os.stat(root_key).st_mode), 0o600)
        with open(os.path.join(self.data_dir, "seal.json")) as f:
            self.assertIn('"file"', f.read())
        with KmsdServer(data_dir=self.data_dir) as server:
            self.assertEqual(server.client().decrypt(CiphertextBlob=blob)["Plaintext"],
                             b"under shares")


if __name__ == "__main__":
    unittest.main()
