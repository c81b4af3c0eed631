# requires: modern-boto3
"""Key lifecycle end to end through boto3 and the aws CLI: scheduled deletion (crypto-shredding),
automatic and on-demand rotation, tags. The server runs with its guarded test clock so that days
pass in a request."""
import glob
import os
import sqlite3
import subprocess
import unittest

from kmsd_harness import KMSD_BINARY, MODERN_AWS_CLI, TEST_CLOCK_ARGS, TEST_CLOCK_ENV, KmsdServer, KmsdTestCase

DAY = 86400


def blob_version(blob):
    """The backing-key version a kmsd blob was made with (docs/FORMATS.md)."""
    return int.from_bytes(blob[17:21], "big")


def sealed_records(data_dir, key_id):
    """The stored (sealed) bytes of every record of the key, read straight from SQLite."""
    connection = sqlite3.connect(f"file:{os.path.join(data_dir, 'kmsd.db')}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT key, value FROM kv WHERE key LIKE ? OR key LIKE ?",
                                  (f"key/{key_id}", f"material/{key_id}/%")).fetchall()
    finally:
        connection.close()
    return {name: bytes(value) for name, value in rows}


class KeyLife(KmsdTestCase):
    server_args = TEST_CLOCK_ARGS
    server_env = TEST_CLOCK_ENV

    def test_a_key_s_whole_life(self):
        kms = self.kms
        key = kms.create_key(Description="a life")["KeyMetadata"]
        key_id = key["KeyId"]
        kms.create_alias(AliasName="alias/a-life", TargetKeyId=key_id)
        oldest = kms.encrypt(KeyId=key_id, Plaintext=b"first words", EncryptionContext={"n": "0"})["CiphertextBlob"]
        self.assertEqual(blob_version(oldest), 1)

        # Automatic rotation after 90 days.
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        status = kms.get_key_rotation_status(KeyId=key_id)
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 90)
        created = key["CreationDate"].timestamp()
        self.assertAlmostEqual(status["NextRotationDate"].timestamp(), created + 90 * DAY, delta=120)
        self.server.advance_clock(days=91)
        rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
        self.assertEqual([r["RotationType"] for r in rotations], ["AUTOMATIC"])
        self.assertEqual(rotations[0]["KeyId"], key["Arn"])
        second = kms.encrypt(KeyId=key_id, Plaintext=b"second", EncryptionContext={"n": "1"})["CiphertextBlob"]
        self.assertEqual(blob_version(second), 2)

        # On-demand rotation, a second time.
        self.assertEqual(kms.rotate_key_on_demand(KeyId=key_id)["KeyId"], key["Arn"])
        self.assertEqual([r["RotationType"] for r in kms.list_key_rotations(KeyId=key_id)["Rotations"]],
                         ["AUTOMATIC", "ON_DEMAND"])
        newest = kms.encrypt(KeyId=key_id, Plaintext=b"third")["CiphertextBlob"]
        self.assertEqual(blob_version(newest), 3)

        # Every blob ever made still decrypts; ReEncrypt moves the oldest to the newest version.
        self.assertEqual(kms.decrypt(CiphertextBlob=oldest, EncryptionContext={"n": "0"})["Plaintext"], b"first words")
        self.assertEqual(kms.decrypt(CiphertextBlob=second, EncryptionContext={"n": "1"})["Plaintext"], b"second")
        moved = kms.re_encrypt(CiphertextBlob=oldest, SourceEncryptionContext={"n": "0"}, DestinationKeyId=key_id,
                               DestinationEncryptionContext={"n": "0"})["CiphertextBlob"]
        self.assertEqual(blob_version(moved), 3)
        self.assertEqual(kms.decrypt(CiphertextBlob=moved, EncryptionContext={"n": "0"})["Plaintext"], b"first words")

        # Disable, schedule deletion, cancel: the key comes back Disabled.
        kms.disable_key(KeyId=key_id)
        scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        self.assertEqual(scheduled["KeyState"], "PendingDeletion")
        self.assertEqual(scheduled["PendingWindowInDays"], 7)
        described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "PendingDeletion")
        self.assertEqual(described["DeletionDate"], scheduled["DeletionDate"])
        self.assertAwsError("KMSInvalidStateException", kms.decrypt, CiphertextBlob=newest)
        self.assertAwsError("KMSInvalidStateException", kms.enable_key, KeyId=key_id)
        kms.cancel_key_deletion(KeyId=key_id)
        described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "Disabled")
        self.assertNotIn("DeletionDate", described)
        self.server.advance_clock(days=8)  # the cancelled deletion must not happen
        self.assertEqual(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "Disabled")

        # Schedule again and let the date pass: the key is destroyed.
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        records = sealed_records(self.server.data_dir, key_id)
        self.assertEqual(len(records), 4)  # metadata and three backing-key versions
        self.server.advance_clock(days=6)
        self.assertEqual(kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "PendingDeletion")
        self.server.advance_clock(days=1, seconds=60)
        self.assertAwsError("NotFoundException", kms.describe_key, KeyId=key_id)
        self.assertAwsError("NotFoundException", kms.describe_key, KeyId="alias/a-life")
        for blob in (oldest, second, newest, moved):
            self.assertAwsError("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
        self.assertNotIn(key_id, [k["KeyId"] for k in kms.list_keys()["Keys"]])
        self.assertNotIn("alias/a-life", [a["AliasName"] for a in kms.list_aliases()["Aliases"]])

        # Nothing of the key's records remains anywhere in the data dir.
        self.assertEqual(sealed_records(self.server.data_dir, key_id), {})
        for path in glob.glob(os.path.join(self.server.data_dir, "**"), recursive=True):
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                content = f.read()
            for name, sealed in records.items():
                self.assertNotIn(sealed, content, f"{name} survives in {path}")

    def test_rotation_limits_and_errors(self):
        kms = self.kms
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertFalse(kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])
        self.assertAwsError("ValidationException", self.unchecked.enable_key_rotation, KeyId=key_id, RotationPeriodInDays=89)
        self.assertAwsError("ValidationException", self.unchecked.enable_key_rotation, KeyId=key_id, RotationPeriodInDays=2561)
        kms.enable_key_rotation(KeyId=key_id)
        self.assertEqual(kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"], 365)
        kms.disable_key_rotation(KeyId=key_id)
        self.assertFalse(kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])
        for _ in range(25):  # AWS's on-demand rotation quota
            kms.rotate_key_on_demand(KeyId=key_id)
        self.assertAwsError("LimitExceededException", kms.rotate_key_on_demand, KeyId=key_id)
        pages = list(kms.get_paginator("list_key_rotations").paginate(KeyId=key_id, PaginationConfig={"PageSize": 10}))
        self.assertEqual([len(p["Rotations"]) for p in pages], [10, 10, 5])
        self.assertAwsError("InvalidMarkerException", kms.list_key_rotations, KeyId=key_id, Marker="zz")
        kms.disable_key(KeyId=key_id)
        self.assertAwsError("DisabledException", kms.enable_key_rotation, KeyId=key_id)
        self.assertAwsError("DisabledException", kms.rotate_key_on_demand, KeyId=key_id)
        self.assertAwsError("NotFoundException", kms.enable_key_rotation, KeyId="alias/nothing")

    def test_scheduled_rotation_runs_exactly_once_per_period(self):
        kms = self.kms
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=100)
        self.server.advance_clock(days=101)
        self.server.advance_clock(seconds=5)
        self.assertEqual(len(kms.list_key_rotations(KeyId=key_id)["Rotations"]), 1)
        next_date = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"].timestamp()
        now = self.server.advance_clock(seconds=1)
        self.assertAlmostEqual(next_date, now + 100 * DAY, delta=DAY)
        self.server.advance_clock(days=100)
        self.assertEqual(len(kms.list_key_rotations(KeyId=key_id)["Rotations"]), 2)

    def test_deletion_window_rules(self):
        kms = self.kms
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertAwsError("ValidationException", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=6)
        self.assertAwsError("ValidationException", kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=31)
        self.assertAwsError("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=key_id)
        default = kms.schedule_key_deletion(KeyId=key_id)
        self.assertEqual(default["PendingWindowInDays"], 30)
        self.assertAwsError("KMSInvalidStateException", kms.schedule_key_deletion, KeyId=key_id)
        self.assertAwsError("KMSInvalidStateException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
        self.assertAwsError("KMSInvalidStateException", kms.tag_resource, KeyId=key_id,
                            Tags=[{"TagKey": "a", "TagValue": "b"}])

    def test_lifecycle_with_the_aws_cli(self):
        aws = self.server.aws  # Debian's aws CLI v2.9

        def modern(*args):  # an aws CLI that knows the 2024 rotation operations
            return self.server.aws(*args, cli=MODERN_AWS_CLI)

        key_id = aws("create-key", "--tags", "TagKey=team,TagValue=blue")["KeyMetadata"]["KeyId"]
        aws("enable-key-rotation", "--key-id", key_id)
        self.assertTrue(aws("get-key-rotation-status", "--key-id", key_id)["KeyRotationEnabled"])
        modern("enable-key-rotation", "--key-id", key_id, "--rotation-period-in-days", "180")
        self.assertEqual(modern("get-key-rotation-status", "--key-id", key_id)["RotationPeriodInDays"], 180)
        modern("rotate-key-on-demand", "--key-id", key_id)
        self.assertEqual(len(modern("list-key-rotations", "--key-id", key_id)["Rotations"]), 1)
        aws("disable-key-rotation", "--key-id", key_id)
        self.assertFalse(aws("get-key-rotation-status", "--key-id", key_id)["KeyRotationEnabled"])
        aws("tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=prod")
        tags = aws("list-resource-tags", "--key-id", key_id)["Tags"]
        self.assertEqual(sorted((t["TagKey"], t["TagValue"]) for t in tags), [("env", "prod"), ("team", "blue")])
        aws("untag-resource", "--key-id", key_id, "--tag-keys", "team")
        self.assertEqual(aws("list-resource-tags", "--key-id", key_id)["Tags"], [{"TagKey": "env", "TagValue": "prod"}])
        scheduled = aws("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
        self.assertEqual(scheduled["KeyState"], "PendingDeletion")
        aws("cancel-key-deletion", "--key-id", key_id)
        self.assertEqual(aws("describe-key", "--key-id", key_id)["KeyMetadata"]["KeyState"], "Disabled")
        self.assertCliError("ValidationException", "schedule-key-deletion", "--key-id", key_id,
                            "--pending-window-in-days", "3")


class Tags(KmsdTestCase):
    def test_tag_rules(self):
        kms = self.kms
        key_id = kms.create_key(Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyMetadata"]["KeyId"]
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "2"}, {"TagKey": "b", "TagValue": ""}])
        self.assertEqual(kms.list_resource_tags(KeyId=key_id)["Tags"],
                         [{"TagKey": "a", "TagValue": "2"}, {"TagKey": "b", "TagValue": ""}])
        self.assertAwsError("TagException", kms.tag_resource, KeyId=key_id, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
        self.assertAwsError("TagException", kms.tag_resource, KeyId=key_id,
                            Tags=[{"TagKey": f"t{i}", "TagValue": "v"} for i in range(49)])
        self.assertAwsError("ValidationException", self.unchecked.tag_resource, KeyId=key_id, Tags=[{"TagKey": "k", "TagValue": "v" * 257}])
        self.assertAwsError("NotFoundException", kms.tag_resource, KeyId="alias/none", Tags=[{"TagKey": "k", "TagValue": "v"}])
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"t{i}", "TagValue": "v"} for i in range(48)])
        pages = list(kms.get_paginator("list_resource_tags").paginate(KeyId=key_id, PaginationConfig={"PageSize": 20}))
        self.assertEqual([len(p["Tags"]) for p in pages], [20, 20, 10])
        kms.untag_resource(KeyId=key_id, TagKeys=["a", "not-there"])
        self.assertEqual(len(kms.list_resource_tags(KeyId=key_id)["Tags"]), 49)


class SchedulesSurviveRestart(unittest.TestCase):
    def test_deletion_scheduled_before_a_restart_happens_after_it(self):
        with KmsdServer(extra_args=TEST_CLOCK_ARGS, env=TEST_CLOCK_ENV) as server:
            kms = server.client()
            doomed = kms.create_key()["KeyMetadata"]["KeyId"]
            kept = kms.create_key()["KeyMetadata"]["KeyId"]
            kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
            kms.enable_key_rotation(KeyId=kept, RotationPeriodInDays=90)
            server.restart()
            kms = server.client()
            self.assertEqual(kms.describe_key(KeyId=doomed)["KeyMetadata"]["KeyState"], "PendingDeletion")
            server.advance_clock(days=91)
            with self.assertRaises(kms.exceptions.NotFoundException):
                kms.describe_key(KeyId=doomed)
            self.assertEqual(len(kms.list_key_rotations(KeyId=kept)["Rotations"]), 1)
            server.restart()
            kms = server.client()
            server.advance_clock(days=1)
            self.assertEqual(len(kms.list_key_rotations(KeyId=kept)["Rotations"]), 1)


class TestClockIsGuarded(unittest.TestCase):
    def test_test_clock_is_refused_without_the_environment_switch(self):
        result = subprocess.run([KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/never-used-kmsd",
                                 "--enable-test-clock"], capture_output=True, text=True, timeout=30,
                                env={k: v for k, v in os.environ.items() if k != "KMSD_ALLOW_TEST_CLOCK"})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("tests only", result.stdout + result.stderr)

    def test_test_clock_is_refused_off_loopback(self):
        result = subprocess.run([KMSD_BINARY, "serve", "--listen", "0.0.0.0:0", "--insecure-http", "--data-dir",
                                 "/tmp/never-used-kmsd", "--enable-test-clock"], capture_output=True, text=True,
                                timeout=30, env=dict(os.environ, KMSD_ALLOW_TEST_CLOCK="yes"))
        self.assertNotEqual(result.returncode, 0)

    def test_a_normal_server_has_no_clock_operation(self):
        with KmsdServer() as server:
            status, body = server.signed_post("KmsdTest.AdvanceClock", {"Seconds": 86400})
            self.assertEqual(status, 400)
            self.assertEqual(body["__type"], "UnknownOperationException")


if __name__ == "__main__":
    unittest.main()
