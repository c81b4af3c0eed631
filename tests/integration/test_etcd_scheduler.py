# requires: modern-boto3
"""The scheduler's work runs exactly once across a cluster, also when its leader dies (issue 12).

Three kmsd nodes on a real three-member etcd cluster, each with the test clock. Each round, a group
of keys' deletions and every rotating key's automatic rotation fall due on every node at once; the
node that leads the scheduler is killed with kill -9 at a different moment each round (as the
tasks come due, in the middle of its pass, before the clocks move), another node takes over within
the election lease, and the killed node comes back. Afterwards: every key due for deletion is gone,
its deletion in exactly one DeleteKey event across the three trails (`kmsd audit query` over the
three data dirs), every rotating key has exactly one automatic rotation per period
(ListKeyRotations), nothing else is left scheduled, and every trail verifies.

ListKeyRotations is a 2024 operation: this test runs under a python3 with a modern boto3.
KMSD_TEST_SEED=N repeats a run's kill moments.
"""
import collections
import json
import os
import random
import threading
import time
import unittest

import botocore.exceptions

from etcd_harness import EtcdCluster
from kmsd_cluster import KmsdNodes
from kmsd_harness import TEST_CLOCK_ARGS, TEST_CLOCK_ENV, kmsd_audit

DAY = 86400
ROUNDS = 3
DELETIONS_PER_ROUND = 4
ROTATING_KEYS = 3
ELECTION_TTL = 5        # EtcdOptions::election_ttl_seconds, kmsd's default
SCHEDULER_INTERVAL = 1  # --scheduler-interval below


def gone(client, key_id):
    try:
        client.describe_key(KeyId=key_id)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "NotFoundException"
    return False


class EtcdSchedulerTest(unittest.TestCase):
    def test_due_tasks_run_once_while_the_scheduler_leader_is_killed(self):
        seed = int(os.environ.get("KMSD_TEST_SEED", time.time_ns() % 1_000_000))
        print(f"\n  seed {seed} (KMSD_TEST_SEED={seed} repeats it)")
        rng = random.Random(seed)
        with EtcdCluster(3) as etcd, KmsdNodes(
                etcd, 3, extra_args=[*TEST_CLOCK_ARGS, "--scheduler-interval",
                                     str(SCHEDULER_INTERVAL)],
                env=TEST_CLOCK_ENV) as nodes:
            self.run_rounds(etcd, nodes, rng)

    def run_rounds(self, etcd, nodes, rng):
        kms = nodes[0].client()
        rotating = []
        for _ in range(ROTATING_KEYS):
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
            rotating.append(key_id)
        groups = []
        for round_number in range(ROUNDS):
            group = []
            for i in range(DELETIONS_PER_ROUND):
                key_id = kms.create_key()["KeyMetadata"]["KeyId"]
                kms.create_alias(AliasName=f"alias/doomed-{round_number}-{i}", TargetKeyId=key_id)
                kms.create_grant(KeyId=key_id, GranteePrincipal="arn:aws:iam::111122223333:root",
                                 Operations=["Encrypt"])
                kms.encrypt(KeyId=key_id, Plaintext=b"x")
                group.append(key_id)
            groups.append(group)

        advanced = 0  # seconds every node's clock has moved
        moments = ["as the tasks come due", "in the middle of its pass", "before the clocks move"]
        for round_number, moment in enumerate(moments[:ROUNDS]):
            live = nodes[(round_number + 1) % len(nodes)].client()
            for key_id in groups[round_number]:
                live.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
            leader = nodes.leader()
            delay = {0: rng.uniform(0.0, 0.15), 1: rng.uniform(0.2, 0.8)}.get(round_number, 0)
            print(f"  round {round_number}: node {leader} leads; killed {moment} "
                  f"({delay * 1000:.0f} ms after its clock moved)")
            if moment == "before the clocks move":
                killed_at = time.monotonic()
                nodes.kill(leader)
            # The other nodes' clocks first, so that whoever takes over sees the tasks due.
            for i in range(len(nodes)):
                if i != leader and nodes.running(i):
                    nodes[i].advance_clock(days=91)
            if moment != "before the clocks move":
                # The leader's clock moves last, on a thread: the call runs its pass, which the
                # kill cuts short.
                def advance_leader():
                    try:
                        nodes[leader].advance_clock(days=91)
                    except Exception:  # the kill ends the call
                        pass
                mover = threading.Thread(target=advance_leader)
                mover.start()
                time.sleep(delay)
                killed_at = time.monotonic()
                nodes.kill(leader)
                mover.join(timeout=30)
            advanced += 91 * DAY
            successor = nodes.leader(timeout=ELECTION_TTL * 3, other_than=leader)
            took_over = time.monotonic() - killed_at
            print(f"  round {round_number}: node {successor} leads {took_over:.1f} s after the kill")
            # The lease expires at most its TTL after the last renewal; the others campaign every
            # third of it and say so at their next pass.
            self.assertLess(took_over, ELECTION_TTL + ELECTION_TTL / 3 + SCHEDULER_INTERVAL + 3)
            nodes.restart(leader)
            nodes[leader].advance_clock(seconds=advanced)

            # Nothing missed: the round's deletions and rotations complete.
            deadline = time.monotonic() + 30
            checker = nodes[successor].client()
            while True:
                deleted = all(gone(checker, key_id) for key_id in groups[round_number])
                rotations = [len(checker.list_key_rotations(KeyId=k)["Rotations"])
                             for k in rotating]
                if deleted and all(count >= round_number + 1 for count in rotations):
                    break
                self.assertLess(time.monotonic(), deadline,
                                f"round {round_number}: deleted={deleted} rotations={rotations}")
                time.sleep(0.2)

        # Let a few more passes run on every node: nothing more may happen.
        time.sleep(SCHEDULER_INTERVAL * 3)
        self.check_outcome(etcd, nodes, groups, rotating)

    def check_outcome(self, etcd, nodes, groups, rotating):
        for node in nodes.nodes:
            client = node.client()
            for group in groups:
                for key_id in group:
                    self.assertTrue(gone(client, key_id), key_id)
            self.assertEqual(
                [a["AliasName"] for a in client.list_aliases()["Aliases"]
                 if a["AliasName"].startswith("alias/doomed-")], [])
        # Each rotation once per period, all automatic, none twice.
        client = nodes[0].client()
        for key_id in rotating:
            rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
            self.assertEqual(len(rotations), ROUNDS, rotations)
            self.assertEqual({r["RotationType"] for r in rotations}, {"AUTOMATIC"})
            dates = sorted(r["RotationDate"].timestamp() for r in rotations)
            for earlier, later in zip(dates, dates[1:]):
                self.assertGreater(later - earlier, 80 * DAY)
        # Nothing else is scheduled: one rotation task per rotating key.
        due = etcd.etcdctl("get", "--prefix", "kmsd/kv/due/", "--keys-only")
        self.assertEqual(due.returncode, 0, due.stderr)
        tasks = [line for line in due.stdout.splitlines() if line.strip()]
        self.assertEqual(sorted(t.rsplit("/", 1)[1] for t in tasks), sorted(rotating), tasks)
        self.assertTrue(all("/rotate/" in t for t in tasks), tasks)

        # Every deletion once across the three trails; rotations never recorded twice.
        dirs = [arg for d in nodes.data_dirs for arg in ("--data-dir", d)]
        query = kmsd_audit("query", *dirs, "--event", "DeleteKey")
        self.assertEqual(query.returncode, 0, query.stderr)
        events = [json.loads(line) for line in query.stdout.splitlines()]
        by_key = collections.defaultdict(list)
        for event in events:
            self.assertEqual(event["eventType"], "AwsServiceEvent")
            self.assertEqual(event["userIdentity"]["invokedBy"], "kms.amazonaws.com")
            by_key[event["resources"][0]["ARN"].rsplit("/", 1)[1]].append(event)
        doomed = {key_id for group in groups for key_id in group}
        self.assertEqual(set(by_key), doomed)
        repeated = 0
        for key_id, key_events in by_key.items():
            # One deletion, one eventID. A leader killed between its report and the transaction
            # that notes it leaves the node that finishes to report it again, under the same eventID
            # (docs/HA.md): the same event, never a second deletion.
            self.assertEqual(len({e["eventID"] for e in key_events}), 1, key_events)
            self.assertLessEqual(len(key_events), 2, key_events)
            repeated += len(key_events) - 1
        print(f"  {len(doomed)} deletions in {len(events)} DeleteKey records "
              f"({repeated} repeated after a kill), on nodes "
              f"{sorted({e['nodeId'] for e in events})}")
        rotated = kmsd_audit("query", *dirs, "--event", "RotateKey")
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        rotation_ids = [json.loads(line)["eventID"] for line in rotated.stdout.splitlines()]
        self.assertEqual(len(rotation_ids), len(set(rotation_ids)))
        self.assertLessEqual(len(rotation_ids), ROUNDS * ROTATING_KEYS)
        for data_dir in nodes.data_dirs:
            verified = kmsd_audit("verify", "--data-dir", data_dir)
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)


if __name__ == "__main__":
    unittest.main()
