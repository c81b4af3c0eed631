"""The audit trail, and the database, on a full file system (issue 16, "Crashes and full disks").

The audit dir lives on a small tmpfs that a filler file fills. While kmsd cannot write its trail it
refuses every KMS request with DependencyTimeoutException (HTTP 503), /ready answers 503, and even
an unsigned `GET /` gets that 503 instead of a 500; it stays up, the trail on disk verifies, and once
the filler is deleted kmsd serves again by itself, without a restart, auditing the next request.
Stopped while the disk is still full, it leaves a trail `kmsd audit verify` passes.

With the data dir on the full file system instead (the audit trail elsewhere), kmsd refuses every
write with DependencyTimeoutException (HTTP 503) naming the full storage, keeps answering reads,
says so once in its log, answers /ready 503, and writes again by itself once space returns; the
database passes SQLite's integrity check and every acknowledged write is there after a restart.

Mounting needs root with CAP_SYS_ADMIN (CI runs as root); without it the test exits 77 (skipped)
with a note.
"""
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from kmsd_harness import KmsdServer, audited_request_ids, kmsd_audit

TMPFS_BYTES = 4 << 20


def mount_tmpfs(path, size):
    """Mounts a tmpfs of `size` bytes on path; returns None, or why it cannot."""
    if os.geteuid() != 0:
        return "not root: cannot mount a small file system to fill"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return f"cannot mount a tmpfs (no CAP_SYS_ADMIN in this container?): {result.stderr.strip()}"
    return None


def fill(path):
    """Writes a filler file until the file system is full."""
    chunk = b"\0" * (64 << 10)
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
        # The last pages: smaller writes until not one byte more fits.
        for size in (4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise



def http_get(url):
    """(status, body text) of a plain GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class FullDiskUnderTheAuditTrail(unittest.TestCase):
    def setUp(self):
        self.mount_point = tempfile.mkdtemp(prefix="kmsd-full-")
        reason = mount_tmpfs(self.mount_point, TMPFS_BYTES)
        if reason:
            os.rmdir(self.mount_point)
            raise unittest.SkipTest(reason)
        self.audit_dir = os.path.join(self.mount_point, "audit")
        self.filler = os.path.join(self.mount_point, "filler")
        self.server = KmsdServer(extra_args=["--audit-dir", self.audit_dir])
        self.server.start()
        self.kms = self.server.client()

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.server.data_dir, ignore_errors=True)
        subprocess.run(["umount", self.mount_point], timeout=30)
        os.rmdir(self.mount_point)

    def verify(self):
        return kmsd_audit("verify", "--data-dir", self.server.data_dir, "--audit-dir", self.audit_dir)

    def refused_encrypt(self, key_id):
        """Encrypts until the full disk refuses (the trail file's last page may take a record or
        two); returns the refusal's error response."""
        for _ in range(20):
            try:
                self.kms.encrypt(KeyId=key_id, Plaintext=b"x")
            except self.kms.exceptions.ClientError as error:
                return error.response
        self.fail("kmsd answered 20 requests it could not have audited on a full disk")


    def test_refuses_with_503_while_full_and_recovers_without_a_restart(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
        fill(self.filler)

        # Fail closed, in a shape clients retry: 503 DependencyTimeoutException, no path in it.
        refused = self.refused_encrypt(key_id)
        self.assertEqual(refused["Error"]["Code"], "DependencyTimeoutException", refused)
        self.assertEqual(refused["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertIn("audit trail", refused["Error"]["Message"])
        self.assertNotIn(self.mount_point, refused["Error"]["Message"])
        with self.assertRaises(self.kms.exceptions.DependencyTimeoutException):
            self.kms.decrypt(CiphertextBlob=blob)
        status, body = http_get(self.server.endpoint + "/ready")
        self.assertEqual(status, 503, body)
        self.assertIn("audit", body)
        status, body = http_get(self.server.endpoint + "/")
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["__type"], "DependencyTimeoutException")
        self.assertEqual(http_get(self.server.endpoint + "/health")[0], 200)  # still up

        # Still full: after a retry (every second) the torn record is cut; the trail verifies.
        time.sleep(1.5)
        self.assertEqual(self.server.process.poll(), None)
        result = self.verify()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("torn", result.stdout)

        os.remove(self.filler)
        deadline = time.monotonic() + 15
        while http_get(self.server.endpoint + "/ready")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "kmsd did not recover once space returned")
            time.sleep(0.1)
        answer = self.kms.decrypt(CiphertextBlob=blob)
        self.assertEqual(answer["Plaintext"], b"before")
        self.assertIn(answer["ResponseMetadata"]["RequestId"], audited_request_ids(self.audit_dir))
        logs = "\n".join(self.server.log_lines())
        self.assertIn("the trail is writable again", logs)

        self.server.stop()
        result = self.verify()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("torn", result.stdout)

    def test_stopped_while_full_leaves_a_trail_that_verifies(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        fill(self.filler)
        self.refused_encrypt(key_id)
        self.server.stop()  # before any retry: the shutdown cuts the torn record
        result = self.verify()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("torn", result.stdout)
        # And the next start, with space again, continues the chain.
        os.remove(self.filler)
        self.server.start()
        self.server.client().list_keys()
        self.server.stop()
        result = self.verify()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class FullDiskUnderTheDatabase(unittest.TestCase):
    """The data dir on a small tmpfs; the audit trail in an ordinary temp dir."""

    def setUp(self):
        self.mount_point = tempfile.mkdtemp(prefix="kmsd-full-data-")
        reason = mount_tmpfs(self.mount_point, 8 << 20)
        if reason:
            os.rmdir(self.mount_point)
            raise unittest.SkipTest(reason)
        self.data_dir = os.path.join(self.mount_point, "data")
        self.audit_dir = tempfile.mkdtemp(prefix="kmsd-audit-")
        self.filler = os.path.join(self.mount_point, "filler")
        self.server = KmsdServer(data_dir=self.data_dir, extra_args=["--audit-dir", self.audit_dir])
        self.server.start()
        self.kms = self.server.client()

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.audit_dir, ignore_errors=True)
        subprocess.run(["umount", self.mount_point], timeout=30)
        os.rmdir(self.mount_point)

    def refused_create_key(self):
        """Creates keys until the full disk refuses (the last pages of the database's files may
        take a commit or two); returns the refusal's error response."""
        for _ in range(20):
            try:
                self.kms.create_key(Description="after the disk filled")
            except self.kms.exceptions.ClientError as error:
                return error.response
        self.fail("kmsd stored 20 keys on a full file system")

    def test_refuses_writes_with_503_while_full_recovers_and_loses_nothing(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]

        # A writer racing the filler: each key it is told about must exist after everything.
        acknowledged, refusals, stop = [key_id], [], threading.Event()

        def write_keys():
            client = self.server.client()
            while not stop.is_set():
                try:
                    acknowledged.append(client.create_key()["KeyMetadata"]["KeyId"])
                except client.exceptions.ClientError as error:
                    refusals.append(error.response)
                    time.sleep(0.05)

        writer = threading.Thread(target=write_keys)
        writer.start()
        try:
            time.sleep(0.3)
            fill(self.filler)
            refused = self.refused_create_key()
            self.assertEqual(refused["Error"]["Code"], "DependencyTimeoutException", refused)
            self.assertEqual(refused["ResponseMetadata"]["HTTPStatusCode"], 503)
            self.assertIn("storage full", refused["Error"]["Message"])
            self.assertNotIn(self.mount_point, refused["Error"]["Message"])

            # Reads need no space: still served.
            self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"before")
            self.kms.encrypt(KeyId=key_id, Plaintext=b"while full")
            status, body = http_get(self.server.endpoint + "/ready")
            self.assertEqual(status, 503, body)
            self.assertIn("storage: data dir full", body)
            self.assertEqual(http_get(self.server.endpoint + "/health")[0], 200)
            logs = "\n".join(self.server.log_lines())
            self.assertEqual(logs.count("the database's file system is full"), 1, logs[-3000:])

            os.remove(self.filler)
            deadline = time.monotonic() + 15
            while http_get(self.server.endpoint + "/ready")[0] != 200:
                self.assertLess(time.monotonic(), deadline, "kmsd did not recover once space returned")
                time.sleep(0.1)
            acknowledged.append(self.kms.create_key()["KeyMetadata"]["KeyId"])
            self.assertIn("the database is writable again", "\n".join(self.server.log_lines()))
            time.sleep(0.3)  # the writer succeeds again too
        finally:
            stop.set()
            writer.join(timeout=60)
        self.assertFalse(writer.is_alive())
        self.assertTrue(all(r["Error"]["Code"] == "DependencyTimeoutException" for r in refusals),
                        [r["Error"] for r in refusals if r["Error"]["Code"] != "DependencyTimeoutException"])

        # Never corrupted, and every acknowledged write is there after a restart.
        self.server.stop()
        database = sqlite3.connect(os.path.join(self.data_dir, "kmsd.db"))
        try:
            self.assertEqual(database.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        finally:
            database.close()
        self.server.start()
        kms = self.server.client()
        for acknowledged_id in acknowledged:
            self.assertEqual(kms.describe_key(KeyId=acknowledged_id)["KeyMetadata"]["KeyId"],
                             acknowledged_id)
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"before")


if __name__ == "__main__":
    probe = tempfile.mkdtemp(prefix="kmsd-mount-probe-")
    why_not = mount_tmpfs(probe, 1 << 20)
    if why_not is None:
        subprocess.run(["umount", probe], timeout=30)
    os.rmdir(probe)
    if why_not:
        print(f"skipped: {why_not}")
        sys.exit(77)
    unittest.main()
