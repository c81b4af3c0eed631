"""The audit trail on a full file system (issue 16, "Crashes and full disks").

The audit dir lives on a small tmpfs that a filler file fills. While kmsd cannot write its trail it
refuses every KMS request with DependencyTimeoutException (HTTP 503), /ready answers 503, and even
an unsigned `GET /` gets that 503 instead of a 500; it stays up, the trail on disk verifies, and once
the filler is deleted kmsd serves again by itself, without a restart, auditing the next request.
Stopped while the disk is still full, it leaves a trail `kmsd audit verify` passes.

Mounting needs root with CAP_SYS_ADMIN (CI runs as root); without it the test exits 77 (skipped)
with a note.
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
