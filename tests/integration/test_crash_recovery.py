"""kill -9 under load (issue 16, "Crashes and full disks").

Several rounds: boto3 threads create keys and aliases, encrypt, generate data keys, and race on two
shared keys (DisableKey/EnableKey, TagResource); at a random moment kmsd is killed with SIGKILL.
Every answer a client received is a promise: after the kill `kmsd audit verify` passes on the
stopped server (a torn last line is a crash's leftover, not tampering) and every acknowledged
request has its record in the trail (answers wait for their record); after the restart every
acknowledged key exists, every acknowledged alias resolves to its key, every acknowledged
ciphertext decrypts to its plaintext, every acknowledged tag is there, and the trail verifies.
"""
import os
import random
import secrets
import shutil
import tempfile
import threading
import time
import unittest

import boto3
import botocore.config
import botocore.exceptions

from kmsd_harness import KmsdServer, audited_request_ids, kmsd_audit

ROUNDS = 5
THREADS = 6
SEED = int(os.environ.get("KMSD_CRASH_SEED", str(random.randrange(1 << 30))))



class Promises:
    """What clients were told succeeded (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = []
        self.aliases = {}  # alias name -> key id
        self.blobs = []  # (ciphertext, plaintext)
        self.request_ids = []  # of acknowledged requests since the last kill
        self.tags = {}  # (key id, tag key) -> (last acknowledged value, value in flight or None)

    def add(self, attribute, value):
        with self.lock:
            getattr(self, attribute).append(value)


class CrashRecovery(unittest.TestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="kmsd-crash-")
        self.server = KmsdServer(data_dir=self.data_dir)
        self.random = random.Random(SEED)

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def client(self):
        return boto3.client(
            "kms", endpoint_url=self.server.endpoint, region_name=self.server.region,
            aws_access_key_id=self.server.access_key, aws_secret_access_key=self.server.secret_key,
            # One attempt: a retried CreateKey could be answered for the retry alone.
            config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                          connect_timeout=5, read_timeout=10))

    def worker(self, index, kms, promises, racers, stop):
        rng = random.Random(SEED * 31 + index)
        tag_key = f"writer{index}"
        counter = 0
        while not stop.is_set():
            with promises.lock:
                key_id = rng.choice(promises.keys)
            operation = rng.choice(["create_key", "create_alias", "encrypt", "encrypt",
                                    "generate_data_key", "generate_data_key", "toggle", "tag"])
            try:
                if operation == "create_key":
                    answer = kms.create_key(Description=f"crash round key {index}")
                    promises.add("keys", answer["KeyMetadata"]["KeyId"])
                elif operation == "create_alias":
                    name = f"alias/crash-{secrets.token_hex(6)}"
                    answer = kms.create_alias(AliasName=name, TargetKeyId=key_id)
                    with promises.lock:
                        promises.aliases[name] = key_id
                elif operation == "encrypt":
                    plaintext = secrets.token_bytes(rng.randrange(1, 200))
                    answer = kms.encrypt(KeyId=key_id, Plaintext=plaintext)
                    promises.add("blobs", (answer["CiphertextBlob"], plaintext))
                elif operation == "generate_data_key":
                    answer = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
                    promises.add("blobs", (answer["CiphertextBlob"], answer["Plaintext"]))
                elif operation == "toggle":
                    racer = rng.choice(racers)
                    if rng.random() < 0.5:
                        answer = kms.disable_key(KeyId=racer)
                    else:
                        answer = kms.enable_key(KeyId=racer)
                else:
                    racer = rng.choice(racers)
                    counter += 1
                    with promises.lock:
                        last, _ = promises.tags.get((racer, tag_key), (None, None))
                        promises.tags[(racer, tag_key)] = (last, str(counter))
                    answer = kms.tag_resource(KeyId=racer,
                                              Tags=[{"TagKey": tag_key, "TagValue": str(counter)}])
                    with promises.lock:
                        promises.tags[(racer, tag_key)] = (str(counter), None)
                promises.add("request_ids", answer["ResponseMetadata"]["RequestId"])
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                if stop.is_set():
                    return  # killed: this request was never acknowledged
                raise


    def assert_trail_verifies(self, when):
        result = kmsd_audit("verify", "--data-dir", self.data_dir)
        self.assertEqual(result.returncode, 0, f"{when}: {result.stdout}{result.stderr}")
        return result.stdout

    def test_acknowledged_work_survives_kill_9(self):
        print(f"seed {SEED} (KMSD_CRASH_SEED to repeat)")
        started = time.monotonic()
        promises = Promises()
        self.server.start()
        kms = self.client()
        promises.keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
        racers = [kms.create_key(Description="racer")["KeyMetadata"]["KeyId"] for _ in range(2)]
        torn_seen = 0
        for round_number in range(ROUNDS):
            stop = threading.Event()
            clients = [self.client() for _ in range(THREADS)]
            errors = []

            def run(index):
                try:
                    self.worker(index, clients[index], promises, racers, stop)
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(repr(error))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
            for thread in threads:
                thread.start()
            time.sleep(self.random.uniform(0.3, 1.5))
            stop.set()  # first: a client may see its connection close before kill() returns
            self.server.process.kill()
            self.server.process.wait(timeout=10)
            for thread in threads:
                thread.join(timeout=20)
                self.assertFalse(thread.is_alive(), "a client thread hung after the kill")
            self.server.stop()  # collects the killed process's output
            self.assertEqual(errors, [], f"round {round_number}: unexpected errors under load")

            # The stopped server's trail, as the kill left it.
            report = self.assert_trail_verifies(f"round {round_number}, after kill -9")
            torn_seen += "torn line" in report
            audited = audited_request_ids(os.path.join(self.data_dir, "audit"))
            missing = set(promises.request_ids) - audited
            self.assertEqual(missing, set(), f"round {round_number}: answered but not audited")
            promises.request_ids = []

            self.server.start()
            kms = self.client()
            for key_id in promises.keys + racers:
                metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
                self.assertIn(metadata["KeyState"], ("Enabled", "Disabled"), key_id)
            for name, key_id in promises.aliases.items():
                self.assertEqual(kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"], key_id, name)
            for ciphertext, plaintext in promises.blobs:
                self.assertEqual(kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"], plaintext)
            for racer in racers:
                tags = {tag["TagKey"]: tag["TagValue"]
                        for tag in kms.list_resource_tags(KeyId=racer)["Tags"]}
                for (key_id, tag_key), (acknowledged, in_flight) in promises.tags.items():
                    if key_id == racer and acknowledged is not None:
                        self.assertIn(tags.get(tag_key), (acknowledged, in_flight),
                                      f"{racer} {tag_key}")
                kms.enable_key(KeyId=racer)  # the next round's encrypts need no racer
            self.assert_trail_verifies(f"round {round_number}, after restart")
            print(f"round {round_number}: {len(promises.keys)} keys, {len(promises.aliases)} "
                  f"aliases, {len(promises.blobs)} ciphertexts acknowledged and intact")
        self.server.stop()
        report = self.assert_trail_verifies("after the last stop")
        self.assertNotIn("torn line", report)
        print(f"{ROUNDS} rounds in {time.monotonic() - started:.1f} s; "
              f"{torn_seen} kill(s) left a torn last line")


if __name__ == "__main__":
    unittest.main()
