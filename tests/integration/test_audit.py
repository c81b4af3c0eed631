# requires: modern-boto3
"""The audit trail, end to end: every operation kmsd supports leaves a CloudTrail-shaped record
before it is answered (failures and authentication failures included), no record holds a secret,
`kmsd audit verify` passes on an intact trail and names the place of each kind of tampering, and
`kmsd audit query` filters by key, event, principal, time and errors."""
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import ACCOUNT_ID, KMSD_BINARY, KmsdServer  # noqa: E402

PLAINTEXT = b"TOP-SECRET-PLAINTEXT-do-not-log-4711"


def audit_dir(data_dir):
    return os.path.join(data_dir, "audit")


def trail_files(directory):
    return sorted(glob.glob(os.path.join(directory, "trail-*.jsonl")))


def read_records(data_dir):
    """Every record so far. The file kmsd is writing may be zero-padded after its last record
    (begun from a zero-filled spare, docs/AUDIT.md); its records end at the first NUL."""
    records = []
    for path in trail_files(audit_dir(data_dir)):
        with open(path, encoding="utf-8") as trail:
            text = trail.read().split("\0", 1)[0]
        records.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return records


def kmsd_audit(*args):
    return subprocess.run([KMSD_BINARY, "audit", *args], capture_output=True, text=True, timeout=60)


class EveryOperationIsAudited(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer().__enter__()
        cls.kms = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def last(self, event_name):
        """The newest record of that event; it must exist as soon as the call has returned."""
        matching = [r for r in read_records(self.server.data_dir) if r["eventName"] == event_name]
        self.assertTrue(matching, f"no audit record for {event_name}")
        return matching[-1]

    def assertRecord(self, event_name, key_arn=None, read_only=False, error=None, parameters=None):
        record = self.last(event_name)
        self.assertEqual(record["eventVersion"], "1.08")
        self.assertEqual(record["eventSource"], "kms.amazonaws.com")
        self.assertEqual(record["eventType"], "AwsApiCall")
        self.assertEqual(record["awsRegion"], self.server.region)
        self.assertEqual(record["recipientAccountId"], ACCOUNT_ID)
        self.assertEqual(record["sourceIPAddress"], "127.0.0.1")
        self.assertIn("Boto3", record["userAgent"])
        self.assertEqual(record["readOnly"], read_only, event_name)
        self.assertTrue(record["eventID"] and record["requestID"])
        identity = record["userIdentity"]
        self.assertEqual(identity["accessKeyId"], self.server.access_key)
        self.assertEqual(identity["arn"], f"arn:aws:iam::{ACCOUNT_ID}:root")
        if key_arn:
            self.assertIn(key_arn, [r["ARN"] for r in record["resources"]], event_name)
            for resource in record["resources"]:
                self.assertEqual(resource["type"], "AWS::KMS::Key")
        if error:
            self.assertEqual(record["errorCode"], error)
            self.assertTrue(record["errorMessage"])
        else:
            self.assertNotIn("errorCode", record, event_name)
        for name, value in (parameters or {}).items():
            self.assertEqual(record["requestParameters"][name], value, event_name)
        return record

    def test_every_operation(self):
        kms = self.kms
        created = kms.create_key(Description="audited key", Tags=[{"TagKey": "team", "TagValue": "a"}])
        key_id, arn = created["KeyMetadata"]["KeyId"], created["KeyMetadata"]["Arn"]
        record = self.assertRecord("CreateKey", arn, parameters={"description": "audited key"})
        self.assertEqual(record["responseElements"]["keyMetadata"]["keyId"], key_id)

        kms.describe_key(KeyId=key_id)
        self.assertRecord("DescribeKey", arn, read_only=True, parameters={"keyId": key_id})
        kms.list_keys()
        self.assertRecord("ListKeys", read_only=True)
        kms.disable_key(KeyId=key_id)
        record = self.assertRecord("DisableKey", arn)
        # AWS since December 2022: the key's ARN when the answer does not give it.
        self.assertEqual(record["responseElements"], {"keyId": arn})
        kms.enable_key(KeyId=key_id)
        self.assertRecord("EnableKey", arn)
        kms.update_key_description(KeyId=key_id, Description="still audited")
        self.assertRecord("UpdateKeyDescription", arn, parameters={"description": "still audited"})

        kms.create_alias(AliasName="alias/audited", TargetKeyId=key_id)
        self.assertRecord("CreateAlias", arn, parameters={"aliasName": "alias/audited"})
        second = kms.create_key()["KeyMetadata"]
        kms.update_alias(AliasName="alias/audited", TargetKeyId=second["KeyId"])
        record = self.assertRecord("UpdateAlias", second["Arn"])
        self.assertEqual(record["responseElements"], {"keyId": second["Arn"]})
        kms.list_aliases()
        self.assertRecord("ListAliases", read_only=True)

        context = {"tenant": "acme", "purpose": "audit-test"}
        blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=context)["CiphertextBlob"]
        record = self.assertRecord("Encrypt", arn, parameters={"keyId": key_id, "encryptionContext": context})
        self.assertIsNone(record["responseElements"])
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        self.assertRecord("Decrypt", arn, parameters={"encryptionContext": context})
        reencrypted = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context,
                                     DestinationKeyId=second["KeyId"])["CiphertextBlob"]
        record = self.assertRecord("ReEncrypt", arn)
        self.assertIn(second["Arn"], [r["ARN"] for r in record["resources"]])
        data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
        self.assertRecord("GenerateDataKey", arn, parameters={"keySpec": "AES_256"})
        kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=32)
        self.assertRecord("GenerateDataKeyWithoutPlaintext", arn, parameters={"numberOfBytes": 32})
        random_bytes = kms.generate_random(NumberOfBytes=64)["Plaintext"]
        self.assertRecord("GenerateRandom", parameters={"numberOfBytes": 64})

        kms.enable_key_rotation(KeyId=key_id)
        self.assertRecord("EnableKeyRotation", arn)
        kms.get_key_rotation_status(KeyId=key_id)
        self.assertRecord("GetKeyRotationStatus", arn, read_only=True)
        kms.rotate_key_on_demand(KeyId=key_id)
        self.assertRecord("RotateKeyOnDemand", arn)
        kms.list_key_rotations(KeyId=key_id)
        self.assertRecord("ListKeyRotations", arn, read_only=True)
        kms.disable_key_rotation(KeyId=key_id)
        self.assertRecord("DisableKeyRotation", arn)

        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "test"}])
        self.assertEqual(self.assertRecord("TagResource", arn)["responseElements"], {"keyId": arn})
        kms.list_resource_tags(KeyId=key_id)
        self.assertRecord("ListResourceTags", arn, read_only=True)
        kms.untag_resource(KeyId=key_id, TagKeys=["env"])
        self.assertRecord("UntagResource", arn, parameters={"tagKeys": ["env"]})
        grant = kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT_ID}:root",
                                 Operations=["Encrypt", "RetireGrant"])
        record = self.assertRecord("CreateGrant", arn)
        # AWS's record: the grant id and the key's ARN, never the grant token.
        self.assertEqual(record["responseElements"], {"grantId": grant["GrantId"], "keyId": arn})
        kms.retire_grant(GrantToken=grant["GrantToken"])
        record = self.assertRecord("RetireGrant", arn)  # the token alone named it
        self.assertEqual(record["responseElements"], {"keyId": arn})
        kms.delete_alias(AliasName="alias/audited")
        # The alias named the second key: kmsd's service tells the audit, as AWS records it.
        record = self.assertRecord("DeleteAlias", second["Arn"], parameters={"aliasName": "alias/audited"})
        self.assertEqual(record["responseElements"], {"keyId": second["Arn"]})

        kms.schedule_key_deletion(KeyId=second["KeyId"], PendingWindowInDays=7)
        record = self.assertRecord("ScheduleKeyDeletion", second["Arn"],
                                   parameters={"pendingWindowInDays": 7})
        self.assertEqual(record["responseElements"]["keyState"], "PendingDeletion")
        kms.cancel_key_deletion(KeyId=second["KeyId"])
        self.assertRecord("CancelKeyDeletion", second["Arn"])

        # Every operation in the dispatch table was seen.
        seen = {r["eventName"] for r in read_records(self.server.data_dir)}
        for name in ("CreateKey", "DescribeKey", "ListKeys", "EnableKey", "DisableKey",
                     "UpdateKeyDescription", "CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases",
                     "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
                     "GenerateDataKeyWithoutPlaintext", "GenerateRandom", "ScheduleKeyDeletion",
                     "CancelKeyDeletion", "EnableKeyRotation", "DisableKeyRotation",
                     "GetKeyRotationStatus", "RotateKeyOnDemand", "ListKeyRotations", "TagResource",
                     "UntagResource", "ListResourceTags"):
            self.assertIn(name, seen)

        # No secret anywhere in the trail, in any encoding a client would have sent or received.
        trail = "".join(open(p, encoding="utf-8").read() for p in trail_files(audit_dir(self.server.data_dir)))
        secrets_seen = {
            "plaintext": PLAINTEXT.decode(), "plaintext (base64)": base64.b64encode(PLAINTEXT).decode(),
            "ciphertext": base64.b64encode(blob).decode()[:40],
            "re-encrypted ciphertext": base64.b64encode(reencrypted).decode()[:40],
            "data key": base64.b64encode(data_key["Plaintext"]).decode(),
            "wrapped data key": base64.b64encode(data_key["CiphertextBlob"]).decode()[:40],
            "random bytes": base64.b64encode(random_bytes).decode(),
            "secret access key": self.server.secret_key,
        }
        for what, secret in secrets_seen.items():
            self.assertNotIn(secret, trail, f"the audit trail holds the {what}")
        # As member names (quoted keys), never as part of an event name such as
        # GenerateDataKeyWithoutPlaintext.
        for member in ("Plaintext", "plaintext", "CiphertextBlob", "ciphertextBlob", "GrantTokens", "grantTokens"):
            self.assertNotIn(f'"{member}":', trail)

    def test_failures_are_audited(self):
        missing = "00000000-0000-4000-8000-00000000dead"
        with self.assertRaises(self.kms.exceptions.NotFoundException):
            self.kms.describe_key(KeyId=missing)
        record = self.assertRecord("DescribeKey", f"arn:aws:kms:{self.server.region}:{ACCOUNT_ID}:key/{missing}",
                                   read_only=True, error="NotFoundException")
        self.assertIsNone(record["responseElements"])

    def test_authentication_failures_are_audited(self):
        stranger = self.server.client(access_key="AKIASTRANGER00000000", secret_key="wrong" * 8)
        with self.assertRaises(stranger.exceptions.ClientError) as raised:
            stranger.encrypt(KeyId="alias/whatever", Plaintext=PLAINTEXT)
        code = raised.exception.response["Error"]["Code"]
        record = [r for r in read_records(self.server.data_dir)
                  if r["userIdentity"].get("accessKeyId") == "AKIASTRANGER00000000"][-1]
        self.assertEqual(record["userIdentity"]["type"], "Unknown")
        self.assertEqual(record["errorCode"], code)
        self.assertEqual(record["eventName"], "Encrypt")
        self.assertEqual(record["requestParameters"]["keyId"], "alias/whatever")

        # The right access key with a wrong secret: a bad signature, also recorded.
        forger = self.server.client(secret_key="wrong" * 8)
        with self.assertRaises(forger.exceptions.ClientError):
            forger.list_keys()
        record = read_records(self.server.data_dir)[-1]
        self.assertEqual(record["userIdentity"], {"type": "Unknown", "accessKeyId": self.server.access_key})
        self.assertIn(record["errorCode"], ("InvalidSignatureException", "IncompleteSignatureException"))
        self.assertNotIn(self.server.secret_key, json.dumps(read_records(self.server.data_dir)))

    def test_aws_cli_calls_are_audited(self):
        self.server.aws("list-keys")
        record = read_records(self.server.data_dir)[-1]
        self.assertEqual(record["eventName"], "ListKeys")
        self.assertIn("aws-cli", record["userAgent"])

    def test_query_filters(self):
        key = self.kms.create_key()["KeyMetadata"]
        self.kms.create_alias(AliasName="alias/query-me", TargetKeyId=key["KeyId"])
        self.kms.encrypt(KeyId="alias/query-me", Plaintext=b"x")
        self.kms.encrypt(KeyId=key["Arn"], Plaintext=b"y")
        with self.assertRaises(self.kms.exceptions.ClientError):
            self.kms.decrypt(CiphertextBlob=b"not a blob at all, not at all", KeyId=key["KeyId"])

        def query(*args):
            result = kmsd_audit("query", "--data-dir", self.server.data_dir, *args)
            self.assertEqual(result.returncode, 0, result.stderr)
            return [json.loads(line) for line in result.stdout.splitlines()]

        by_id = query("--key", key["KeyId"])
        self.assertEqual([r["eventName"] for r in by_id], ["CreateKey", "CreateAlias", "Encrypt", "Encrypt", "Decrypt"])
        self.assertEqual(query("--key", key["Arn"]), by_id)
        # The alias finds its key's records from its creation on (docs/AUDIT.md, "Aliases in
        # queries"), not the CreateKey before it.
        self.assertEqual([r["eventName"] for r in query("--key", "alias/query-me")],
                         ["CreateAlias", "Encrypt", "Encrypt", "Decrypt"])
        self.assertEqual([r["eventName"] for r in query("--key", key["KeyId"], "--event", "Encrypt")],
                         ["Encrypt", "Encrypt"])
        errors = query("--key", key["KeyId"], "--errors-only")
        self.assertEqual([r["eventName"] for r in errors], ["Decrypt"])
        self.assertTrue(all("errorCode" in r for r in query("--errors-only")))
        mine = query("--principal", self.server.access_key)
        self.assertTrue(mine and all(r["userIdentity"]["accessKeyId"] == self.server.access_key for r in mine))
        self.assertEqual(query("--start", "2000-01-01", "--end", "2000-01-02"), [])
        self.assertGreaterEqual(len(query("--start", by_id[0]["eventTime"], "--key", key["KeyId"])), 5)
        table = kmsd_audit("query", "--data-dir", self.server.data_dir, "--key", key["KeyId"], "--format", "table")
        self.assertIn("EVENT", table.stdout)
        self.assertIn("CreateAlias", table.stdout)


class DryRun(unittest.TestCase):
    """DryRun (boto3 >= 1.28): a request that would succeed is answered with
    DryRunOperationException and nothing else; one that would fail gets its real error; both are
    audited with the error they got."""

    def test_dry_run(self):
        with KmsdServer() as server:
            kms = server.client()
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            other = kms.create_key()["KeyMetadata"]["KeyId"]
            blob = kms.encrypt(KeyId=key, Plaintext=PLAINTEXT)["CiphertextBlob"]
            calls = {
                "Encrypt": lambda **dry: kms.encrypt(KeyId=key, Plaintext=PLAINTEXT, **dry),
                "Decrypt": lambda **dry: kms.decrypt(CiphertextBlob=blob, **dry),
                "ReEncrypt": lambda **dry: kms.re_encrypt(CiphertextBlob=blob,
                                                          DestinationKeyId=other, **dry),
                "GenerateDataKey": lambda **dry: kms.generate_data_key(KeyId=key, KeySpec="AES_256",
                                                                       **dry),
                "GenerateDataKeyWithoutPlaintext": lambda **dry:
                    kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_256", **dry),
            }
            for name, call in calls.items():
                with self.subTest(name):
                    with self.assertRaises(kms.exceptions.DryRunOperationException) as raised:
                        call(DryRun=True)
                    error = raised.exception.response
                    self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 412)
                    self.assertNotIn("Plaintext", error)
                    self.assertNotIn("CiphertextBlob", error)
                    call(DryRun=False)  # and without it, the real thing

            # Would fail: the real error, not DryRunOperationException.
            with self.assertRaises(kms.exceptions.InvalidCiphertextException):
                kms.decrypt(CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]), DryRun=True)
            kms.disable_key(KeyId=key)
            with self.assertRaises(kms.exceptions.DisabledException):
                kms.encrypt(KeyId=key, Plaintext=PLAINTEXT, DryRun=True)

            records = read_records(server.data_dir)
            dry = [r for r in records if r.get("errorCode") == "DryRunOperationException"]
            self.assertEqual(sorted(r["eventName"] for r in dry), sorted(calls))
            self.assertTrue(all(r["responseElements"] is None for r in dry))


class LiveTrailFromASpare(unittest.TestCase):
    """With --audit-preallocate kmsd begins trail files from a zero-filled spare:
    while it runs, the file it writes is padded with zeros after the last record, and every
    reader (verify, query) stops at the padding; when it stops, the file is cut to its records
    and the spare is removed."""

    SPARE_BYTES = (64 << 20) + (1 << 20)  # max_file_bytes + 1 MiB

    def test_padded_while_running_exact_after(self):
        with KmsdServer(extra_args=["--audit-preallocate=true"]) as server:
            audit = audit_dir(server.data_dir)
            spare = os.path.join(audit, ".trail-spare")
            deadline = time.monotonic() + 30
            while not os.path.exists(spare) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not os.path.exists(spare):
                self.skipTest("no spare: the data dir's file system does not overwrite in place")
            self.assertEqual(os.path.getsize(spare), self.SPARE_BYTES)

            kms = server.client()
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            for i in range(5):
                kms.encrypt(KeyId=key, Plaintext=b"record %d" % i)
            [live] = trail_files(audit)
            with open(live, "rb") as f:
                content = f.read()
            self.assertEqual(len(content), self.SPARE_BYTES, "the first file did not take the spare")
            records, padding = content.split(b"\0", 1)
            self.assertEqual(padding.strip(b"\0"), b"")
            self.assertEqual(len(read_records(server.data_dir)), 6)

            result = kmsd_audit("verify", "--data-dir", server.data_dir)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("audit trail OK: 6 record(s)", result.stdout)
            result = kmsd_audit("query", "--data-dir", server.data_dir, "--event", "Encrypt")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(len(result.stdout.splitlines()), 5)
            self.assertNotIn("\0", result.stdout)

            server.stop()
            with open(live, "rb") as f:
                self.assertEqual(f.read(), records, "the closed file is not cut to its records")
            self.assertEqual(glob.glob(os.path.join(audit, ".trail-spare*")), [])
            result = kmsd_audit("verify", "--data-dir", server.data_dir)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class TamperingIsDetected(unittest.TestCase):
    """A trail written and closed by a real kmsd, then each kind of tampering on a copy."""

    @classmethod
    def setUpClass(cls):
        # All records in one plain file, so each test can tamper with known lines (with spares,
        # the first file would give way to the spare once it is ready, at a moment the test does
        # not choose; LiveTrailFromASpare covers that case, and closed files are exact either way).
        cls.server = KmsdServer(extra_args=["--audit-preallocate=false"]).__enter__()
        kms = cls.server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        for i in range(12):
            kms.encrypt(KeyId=key, Plaintext=b"record %d" % i)
        cls.server.stop()  # shutdown signs the last records

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def setUp(self):
        self.copy = tempfile.mkdtemp(prefix="kmsd-audit-copy-")
        shutil.rmtree(self.copy)
        shutil.copytree(audit_dir(self.server.data_dir), self.copy)
        self.trail = trail_files(self.copy)[-1]
        with open(self.trail, encoding="utf-8") as trail:
            self.lines = trail.read().splitlines(keepends=True)
        self.assertGreaterEqual(len(self.lines), 13)

    def tearDown(self):
        shutil.rmtree(self.copy, ignore_errors=True)

    def write(self, lines):
        with open(self.trail, "w", encoding="utf-8") as trail:
            trail.writelines(lines)

    def verify(self):
        return kmsd_audit("verify", "--data-dir", self.server.data_dir, "--audit-dir", self.copy)

    def assertNamed(self, problem, line):
        result = self.verify()
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(f"{problem} at {os.path.basename(self.trail)} line {line}", result.stdout)

    def test_intact_trail_verifies(self):
        result = kmsd_audit("verify", "--data-dir", self.server.data_dir)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("audit trail OK", result.stdout)

    def test_exported_public_key_verifies(self):
        exported = kmsd_audit("public-key", "--data-dir", self.server.data_dir)
        self.assertEqual(exported.returncode, 0, exported.stderr)
        self.assertIn("BEGIN PUBLIC KEY", exported.stdout)
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write(exported.stdout)
            pem.flush()
            result = kmsd_audit("verify", "--audit-dir", self.copy, "--public-key", pem.name)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_modified(self):
        self.lines[4] = self.lines[4].replace('"Encrypt"', '"Decrypt"')
        self.write(self.lines)
        self.assertNamed("modified", 5)

    def test_deleted(self):
        del self.lines[4]
        self.write(self.lines)
        self.assertNamed("deleted", 5)

    def test_inserted(self):
        self.lines.insert(4, self.lines[2])
        self.write(self.lines)
        self.assertNamed("inserted", 5)

    def test_reordered(self):
        self.lines[4], self.lines[5] = self.lines[5], self.lines[4]
        self.write(self.lines)
        self.assertNamed("reordered", 5)

    def test_truncated(self):
        self.write(self.lines[:-3])
        self.assertNamed("truncated", len(self.lines) - 3)

    def test_cut_mid_line(self):
        self.write(self.lines[:-1] + [self.lines[-1][:30]])
        self.assertNamed("truncated", len(self.lines))

    def test_digest_modified(self):
        digests = os.path.join(self.copy, "digests.jsonl")
        with open(digests, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
        lines[-1] = lines[-1].replace('"lastSequence":', '"lastSequence":1')
        with open(digests, "w", encoding="utf-8") as f:
            f.writelines(lines)
        result = self.verify()
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"at digests.jsonl line {len(lines)}", result.stdout)


if __name__ == "__main__":
    unittest.main()
