# requires: modern-boto3
"""Several regions in one kmsd and multi-Region keys (issue 13), driven by boto3 (one client per
region) and the aws CLI (--region): each region its own keys, aliases and ARNs; a scope naming a
region not served refused; ReplicateKey, a blob made in one region decrypted in another,
UpdatePrimaryRegion, shared rotation, deletion rules; the audit record's awsRegion."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import boto3
import botocore.config

from kmsd_harness import ACCOUNT_ID, AWS_CLI, TEST_CLOCK_ARGS, TEST_CLOCK_ENV, KmsdServer, audit_records, kmsd_audit

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def start(regions, data_dir=None, test_clock=False):
    server = (KmsdServer(data_dir=data_dir, extra_args=TEST_CLOCK_ARGS, env=TEST_CLOCK_ENV)
              if test_clock else KmsdServer(data_dir=data_dir))
    server.region = ",".join(regions)
    return server.start()


def client(server, region):
    return boto3.client(
        "kms", endpoint_url=server.endpoint, region_name=region,
        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
        config=botocore.config.Config(retries={"max_attempts": 1}))


def aws(server, region, *args, check=True):
    home = tempfile.mkdtemp(prefix="aws-home-")
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "AWS_ACCESS_KEY_ID": server.access_key,
           "AWS_SECRET_ACCESS_KEY": server.secret_key, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
    try:
        result = subprocess.run([AWS_CLI, "kms", *args, "--region", region, "--endpoint-url",
                                 server.endpoint, "--output", "json"],
                                capture_output=True, text=True, env=env, timeout=60)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if check and result.returncode != 0:
        raise AssertionError(f"aws kms {args} failed: {result.stderr}")
    return result


class RegionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = start(REGIONS)
        cls.kms = {region: client(cls.server, region) for region in REGIONS}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.data_dir, ignore_errors=True)

    def error_code(self, call, *args, **kwargs):
        with self.assertRaises(Exception) as raised:
            call(*args, **kwargs)
        return raised.exception.response["Error"]["Code"], raised.exception.response["Error"]["Message"]

    def test_banner_lists_every_region(self):
        self.assertTrue(any("us-east-1', 'eu-west-1', 'ap-southeast-2" in line
                            for line in self.server.log_lines()), self.server.log_lines()[:3])

    def test_each_region_has_its_own_keys_aliases_and_arns(self):
        east, west = self.kms["us-east-1"], self.kms["eu-west-1"]
        key = west.create_key(Description="west")["KeyMetadata"]
        self.assertEqual(key["Arn"], f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{key['KeyId']}")
        west.create_alias(AliasName="alias/regional", TargetKeyId=key["KeyId"])
        # Not found through another region, by id or ARN; not listed there.
        self.assertEqual(self.error_code(east.describe_key, KeyId=key["KeyId"])[0], "NotFoundException")
        self.assertEqual(self.error_code(east.describe_key, KeyId=key["Arn"])[0], "NotFoundException")
        self.assertNotIn(key["KeyId"], [k["KeyId"] for k in east.list_keys()["Keys"]])
        self.assertIn(key["KeyId"], [k["KeyId"] for k in west.list_keys()["Keys"]])
        self.assertNotIn("alias/regional", [a["AliasName"] for a in east.list_aliases()["Aliases"]])
        aliases = {a["AliasName"]: a for a in west.list_aliases()["Aliases"]}
        self.assertEqual(aliases["alias/regional"]["AliasArn"],
                         f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:alias/regional")
        # The same alias name is free in another region.
        other = east.create_key()["KeyMetadata"]
        east.create_alias(AliasName="alias/regional", TargetKeyId=other["KeyId"])
        self.assertEqual(east.describe_key(KeyId="alias/regional")["KeyMetadata"]["KeyId"], other["KeyId"])
        # A blob made in one region does not decrypt in another (a single-Region key).
        blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(self.error_code(east.decrypt, CiphertextBlob=blob)[0], "InvalidCiphertextException")
        self.assertEqual(west.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")

    def test_aws_cli_with_region(self):
        made = aws(self.server, "ap-southeast-2", "create-key", "--description", "cli")
        arn = __import__("json").loads(made.stdout)["KeyMetadata"]["Arn"]
        self.assertTrue(arn.startswith(f"arn:aws:kms:ap-southeast-2:{ACCOUNT_ID}:key/"), arn)
        missing = aws(self.server, "us-east-1", "describe-key", "--key-id", arn, check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("NotFoundException", missing.stderr)

    def test_identities_are_global(self):
        # STS answers for every served region; the caller is the same account root.
        for region in ("us-east-1", "ap-southeast-2"):
            sts = boto3.client("sts", endpoint_url=self.server.endpoint, region_name=region,
                               aws_access_key_id=self.server.access_key,
                               aws_secret_access_key=self.server.secret_key)
            self.assertEqual(sts.get_caller_identity()["Account"], ACCOUNT_ID)

    def test_region_not_served_is_refused(self):
        result = aws(self.server, "sa-east-1", "list-keys", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("InvalidSignatureException", result.stderr)
        self.assertIn("sa-east-1", result.stderr)
        self.assertIn("eu-west-1", result.stderr)

    def test_audit_records_the_request_region(self):
        key = self.kms["ap-southeast-2"].create_key(Description="audited")["KeyMetadata"]
        deadline = time.time() + 10
        while time.time() < deadline:
            records = [r for r in audit_records(self.server.data_dir)
                       if r.get("eventName") == "CreateKey" and r.get("responseElements")
                       and (r["responseElements"].get("keyMetadata") or {}).get("keyId") == key["KeyId"]]
            if records:
                break
            time.sleep(0.1)
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["awsRegion"], "ap-southeast-2")
        self.assertEqual(records[0]["resources"][0]["ARN"], key["Arn"])

    def test_multi_region_changes_leave_a_record_in_each_region(self):
        # AWS: ReplicateKey is recorded in the primary's region and a CreateKey in the replica's;
        # UpdatePrimaryRegion in both regions. kmsd's second records are service events that
        # carry the request's requestID. EnableKey-like answers name the key as responseElements.keyId.
        east = self.kms["us-east-1"]
        key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        made = east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
        replica_arn = made["ReplicaKeyMetadata"]["Arn"]
        east.update_primary_region(KeyId=key_id, PrimaryRegion="ap-southeast-2")
        east_arn = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{key_id}"

        def find(name, region, arn):
            return [r for r in audit_records(self.server.data_dir)
                    if r.get("eventName") == name and r.get("awsRegion") == region
                    and any(x.get("ARN") == arn for x in r.get("resources", []))]

        deadline = time.time() + 10
        while time.time() < deadline and not find("UpdatePrimaryRegion", "ap-southeast-2", replica_arn):
            time.sleep(0.1)
        [replicate] = find("ReplicateKey", "us-east-1", east_arn)
        [created] = find("CreateKey", "ap-southeast-2", replica_arn)
        self.assertEqual(replicate["eventType"], "AwsApiCall")
        self.assertEqual(replicate["responseElements"]["replicaKeyMetadata"]["arn"], replica_arn)
        self.assertEqual(created["eventType"], "AwsServiceEvent")
        self.assertEqual(created["userIdentity"]["invokedBy"], "kms.amazonaws.com")
        self.assertEqual(created["requestID"], replicate["requestID"])
        self.assertEqual(created["responseElements"], {"keyId": replica_arn})
        [update] = find("UpdatePrimaryRegion", "us-east-1", east_arn)
        [moved] = find("UpdatePrimaryRegion", "ap-southeast-2", replica_arn)
        self.assertEqual(update["eventType"], "AwsApiCall")
        self.assertEqual(update["responseElements"], {"keyId": east_arn})
        self.assertEqual(moved["eventType"], "AwsServiceEvent")
        self.assertEqual(moved["requestID"], update["requestID"])
        # Every record, the second ones too, is in the one verifiable trail.
        verified = kmsd_audit("verify", "--data-dir", self.server.data_dir)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

    def test_multi_region_key_replicates_and_decrypts_across_regions(self):
        east, west, south = (self.kms[r] for r in REGIONS)
        primary = east.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
        key_id = primary["KeyId"]
        self.assertRegex(key_id, r"^mrk-[0-9a-f]{32}$")
        self.assertTrue(primary["MultiRegion"])
        self.assertEqual(primary["MultiRegionConfiguration"]["MultiRegionKeyType"], "PRIMARY")
        blob = east.encrypt(KeyId=key_id, Plaintext=b"across regions",
                            EncryptionContext={"k": "v"})["CiphertextBlob"]
        replicated = east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1", Description="replica",
                                        Tags=[{"TagKey": "t", "TagValue": "1"}])
        replica = replicated["ReplicaKeyMetadata"]
        self.assertEqual(replica["KeyId"], key_id)
        self.assertEqual(replica["Arn"], f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{key_id}")
        self.assertEqual(replica["Description"], "replica")
        self.assertEqual(replicated["ReplicaTags"], [{"TagKey": "t", "TagValue": "1"}])
        self.assertIn('"Version"', replicated["ReplicaPolicy"])
        configuration = replica["MultiRegionConfiguration"]
        self.assertEqual(configuration["MultiRegionKeyType"], "REPLICA")
        self.assertEqual(configuration["PrimaryKey"], {"Arn": primary["Arn"], "Region": "us-east-1"})
        self.assertEqual(configuration["ReplicaKeys"], [{"Arn": replica["Arn"], "Region": "eu-west-1"}])
        # The primary sees its replica.
        described = east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        self.assertEqual(described["ReplicaKeys"], [{"Arn": replica["Arn"], "Region": "eu-west-1"}])
        # Own description and tags, not shared.
        self.assertEqual(east.describe_key(KeyId=key_id)["KeyMetadata"]["Description"], "primary")
        self.assertEqual(east.list_resource_tags(KeyId=key_id)["Tags"], [])
        # The blob made in us-east-1 decrypts with the replica in eu-west-1, and the other way.
        opened = west.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
        self.assertEqual(opened["Plaintext"], b"across regions")
        self.assertEqual(opened["KeyId"], replica["Arn"])
        back = west.encrypt(KeyId=key_id, Plaintext=b"back")["CiphertextBlob"]
        self.assertEqual(east.decrypt(CiphertextBlob=back)["Plaintext"], b"back")
        # Not in a region with no replica.
        self.assertEqual(self.error_code(south.decrypt, CiphertextBlob=blob,
                                         EncryptionContext={"k": "v"})[0], "InvalidCiphertextException")
        # AWS's errors.
        code, _ = self.error_code(east.replicate_key, KeyId=key_id, ReplicaRegion="eu-west-1")
        self.assertEqual(code, "AlreadyExistsException")
        code, message = self.error_code(east.replicate_key, KeyId=key_id, ReplicaRegion="sa-east-1")
        self.assertEqual(code, "UnsupportedOperationException")
        self.assertIn("sa-east-1", message)
        code, _ = self.error_code(west.replicate_key, KeyId=key_id, ReplicaRegion="ap-southeast-2")
        self.assertEqual(code, "UnsupportedOperationException")  # a replica is not replicated
        single = east.create_key()["KeyMetadata"]["KeyId"]
        code, message = self.error_code(east.replicate_key, KeyId=single, ReplicaRegion="eu-west-1")
        self.assertEqual(code, "UnsupportedOperationException")
        self.assertIn("not a multi-Region key", message)
        code, _ = self.error_code(east.replicate_key, KeyId=key_id, ReplicaRegion="us-east-1")
        self.assertEqual(code, "UnsupportedOperationException")
        # Rotation belongs to the primary; its new material reaches the replica.
        code, _ = self.error_code(west.rotate_key_on_demand, KeyId=key_id)
        self.assertEqual(code, "UnsupportedOperationException")
        east.rotate_key_on_demand(KeyId=key_id)
        rotated = east.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
        self.assertEqual(west.decrypt(CiphertextBlob=rotated)["Plaintext"], b"after rotation")
        self.assertEqual(len(west.list_key_rotations(KeyId=key_id)["Rotations"]), 1)

    def test_update_primary_region(self):
        east, west = self.kms["us-east-1"], self.kms["eu-west-1"]
        key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
        code, _ = self.error_code(west.update_primary_region, KeyId=key_id, PrimaryRegion="us-east-1")
        self.assertEqual(code, "UnsupportedOperationException")  # called on a replica
        code, _ = self.error_code(east.update_primary_region, KeyId=key_id, PrimaryRegion="ap-southeast-2")
        self.assertEqual(code, "NotFoundException")  # no replica there
        east.update_primary_region(KeyId=key_id, PrimaryRegion="eu-west-1")
        east_view = east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        west_view = west.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
        self.assertEqual(east_view["MultiRegionKeyType"], "REPLICA")
        self.assertEqual(west_view["MultiRegionKeyType"], "PRIMARY")
        self.assertEqual(west_view["PrimaryKey"]["Region"], "eu-west-1")
        self.assertEqual([r["Region"] for r in west_view["ReplicaKeys"]], ["us-east-1"])
        # Now the new primary replicates, and the old one cannot.
        west.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
        self.assertEqual(self.error_code(east.rotate_key_on_demand, KeyId=key_id)[0],
                         "UnsupportedOperationException")
        # AWS's key state table: a disabled primary is neither replicated nor moved.
        west.disable_key(KeyId=key_id)
        code, message = self.error_code(west.update_primary_region, KeyId=key_id, PrimaryRegion="us-east-1")
        self.assertEqual(code, "DisabledException")
        self.assertEqual(message, f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{key_id} is disabled.")
        # A replica is deleted like any key; the primary with replicas waits for them.
        east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        south = self.kms["ap-southeast-2"]
        south.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        waiting = west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        self.assertEqual(waiting["KeyState"], "PendingReplicaDeletion")
        self.assertNotIn("DeletionDate", waiting)


class MultiRegionDeletionTest(unittest.TestCase):
    """AWS's "Deleting multi-Region keys": a primary with replicas waits in PendingReplicaDeletion
    until the last replica is deleted, then its own waiting period runs; the scheduler is driven
    by the test clock."""

    @classmethod
    def setUpClass(cls):
        cls.server = start(REGIONS, test_clock=True)
        cls.kms = {region: client(cls.server, region) for region in REGIONS}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.data_dir, ignore_errors=True)

    def error(self, call, **kwargs):
        with self.assertRaises(Exception) as raised:
            call(**kwargs)
        return raised.exception.response["Error"]["Code"], raised.exception.response["Error"]["Message"]

    def audit_record(self, event_name, key_arn):
        deadline = time.time() + 10
        while time.time() < deadline:
            found = [r for r in audit_records(self.server.data_dir) if r.get("eventName") == event_name
                     and any(res.get("ARN") == key_arn for res in r.get("resources") or [])]
            if found:
                return found[-1]
            time.sleep(0.1)
        self.fail(f"no {event_name} record for {key_arn}")

    def test_primary_waits_for_its_last_replica_then_its_own_window(self):
        east, west, south = (self.kms[r] for r in REGIONS)
        primary = east.create_key(MultiRegion=True, Description="to delete")["KeyMetadata"]
        key_id, arn = primary["KeyId"], primary["Arn"]
        east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
        east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
        blob = west.encrypt(KeyId=key_id, Plaintext=b"kept by the replica")["CiphertextBlob"]

        scheduled = east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        self.assertEqual(scheduled["KeyState"], "PendingReplicaDeletion")
        self.assertEqual(scheduled["PendingWindowInDays"], 7)
        self.assertNotIn("DeletionDate", scheduled)  # AWS: not known until the last replica goes
        described = east.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "PendingReplicaDeletion")
        self.assertFalse(described["Enabled"])
        self.assertEqual(described["PendingDeletionWindowInDays"], 7)
        self.assertNotIn("DeletionDate", described)
        self.assertEqual(self.audit_record("ScheduleKeyDeletion", arn)["responseElements"]["keyState"],
                         "PendingReplicaDeletion")
        # Refused as a key pending deletion is, in AWS's words; the replicas are not affected.
        self.assertEqual(self.error(east.encrypt, KeyId=key_id, Plaintext=b"x"),
                         ("KMSInvalidStateException", f"{arn} is pending replica deletion."))
        self.assertEqual(self.error(east.replicate_key, KeyId=key_id, ReplicaRegion="eu-west-1")[0],
                         "KMSInvalidStateException")
        self.assertEqual(self.error(east.update_primary_region, KeyId=key_id, PrimaryRegion="eu-west-1")[0],
                         "KMSInvalidStateException")
        self.assertEqual(south.decrypt(CiphertextBlob=blob)["Plaintext"], b"kept by the replica")
        self.assertEqual(west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "Enabled")
        # "This status can continue indefinitely."
        self.server.advance_clock(days=40)
        self.assertEqual(east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "PendingReplicaDeletion")

        # The replicas' windows (7..30 days) run concurrently; the aws CLI schedules one.
        cli = json.loads(aws(self.server, "eu-west-1", "schedule-key-deletion", "--key-id", key_id,
                             "--pending-window-in-days", "7").stdout)
        self.assertEqual(cli["KeyState"], "PendingDeletion")
        self.assertIn("DeletionDate", cli)
        south.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=10)
        self.server.advance_clock(days=7, seconds=60)
        self.assertEqual(self.error(west.describe_key, KeyId=key_id)[0], "NotFoundException")
        self.assertEqual(east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "PendingReplicaDeletion")
        # The last replica's deletion starts the primary's 7 days.
        now = self.server.advance_clock(days=3)
        self.assertEqual(self.error(south.describe_key, KeyId=key_id)[0], "NotFoundException")
        described = east.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "PendingDeletion")
        self.assertNotIn("PendingDeletionWindowInDays", described)
        self.assertAlmostEqual(described["DeletionDate"].timestamp(), now + 7 * 86400, delta=5)
        self.assertEqual(described["MultiRegionConfiguration"]["ReplicaKeys"], [])
        self.server.advance_clock(days=7, seconds=60)
        self.assertEqual(self.error(east.describe_key, KeyId=key_id)[0], "NotFoundException")

    def test_cancel_from_pending_replica_deletion(self):
        east, west = self.kms["us-east-1"], self.kms["eu-west-1"]
        key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
        east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        east.cancel_key_deletion(KeyId=key_id)
        described = east.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(described["KeyState"], "Disabled")
        self.assertNotIn("PendingDeletionWindowInDays", described)
        east.enable_key(KeyId=key_id)
        self.assertEqual(east.encrypt(KeyId=key_id, Plaintext=b"back")["KeyId"].split(":")[3], "us-east-1")
        code, message = self.error(west.cancel_key_deletion, KeyId=key_id)
        self.assertEqual(code, "KMSInvalidStateException")
        self.assertIn("is not pending deletion", message)

    def test_a_replica_is_enabled_when_replicate_key_returns(self):
        # AWS answers Creating for a few seconds and tells clients to poll DescribeKey (or retry
        # KMSInvalidStateException) until Enabled; kmsd replicates synchronously, so such a loop
        # ends at its first look and a client that uses the replica at once succeeds.
        east, south = self.kms["us-east-1"], self.kms["ap-southeast-2"]
        key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        made = east.replicate_key(KeyId=key_id, ReplicaRegion="ap-southeast-2")
        self.assertEqual(made["ReplicaKeyMetadata"]["KeyState"], "Enabled")
        looks = 0
        deadline = time.time() + 10
        while time.time() < deadline:
            looks += 1
            if south.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled":
                break
            time.sleep(0.2)
        self.assertEqual(looks, 1)
        self.assertEqual(south.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyId"],
                         f"arn:aws:kms:ap-southeast-2:{ACCOUNT_ID}:key/{key_id}")


class RegionDataDirTest(unittest.TestCase):
    def test_existing_data_dir_keeps_its_keys_in_the_first_region(self):
        data_dir = tempfile.mkdtemp(prefix="kmsd-test-")
        try:
            one = start(["us-east-1"], data_dir)
            try:
                kms = client(one, "us-east-1")
                key_id = kms.create_key()["KeyMetadata"]["KeyId"]
                blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
            finally:
                one.stop()
            # The same data dir, now with a second region: the key stays in us-east-1 only.
            many = start(["us-east-1", "eu-west-1"], data_dir)
            try:
                east, west = client(many, "us-east-1"), client(many, "eu-west-1")
                self.assertEqual(east.decrypt(CiphertextBlob=blob)["Plaintext"], b"old")
                self.assertIn(key_id, [k["KeyId"] for k in east.list_keys()["Keys"]])
                self.assertEqual(west.list_keys()["Keys"], [])
            finally:
                many.stop()
            # Another first region would hide those keys: refused with a clear message.
            wrong = KmsdServer(data_dir=data_dir)
            wrong.region = "eu-west-1,us-east-1"
            with self.assertRaises(RuntimeError) as raised:
                wrong.start()
            self.assertIn("default region is us-east-1", str(raised.exception))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    def test_any_region(self):
        server = start(["*"])
        try:
            kms = client(server, "me-central-1")
            key = kms.create_key()["KeyMetadata"]
            self.assertTrue(key["Arn"].startswith(f"arn:aws:kms:me-central-1:{ACCOUNT_ID}:key/"))
            self.assertEqual(client(server, "us-east-1").list_keys()["Keys"], [])
        finally:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)

    def test_bad_region_list_is_refused(self):
        server = KmsdServer()
        server.region = "us-east-1,,eu-west-1"
        with self.assertRaises(RuntimeError) as raised:
            server.start()
        self.assertIn("not a region name", str(raised.exception))
        shutil.rmtree(server.data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
