"""CloudTrail's LookupEvents and GetTrailStatus at kmsd's endpoint (issue 15), driven by Debian's
aws CLI (`aws cloudtrail lookup-events`, which follows NextTokens by itself) and boto3 1.26:
filters, paging newest first, time ranges, CloudTrail's errors, an IAM user refused until a policy
allows cloudtrail:LookupEvents, the lookups themselves in the trail; and issue 12's audit part:
two nodes' trails, each record naming its node, verified each on its own and merged by time."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import KmsdServer, kmsd_audit  # noqa: E402

CREATED_KEYS = 3
ENCRYPTS = 4


def error_code(raised):
    return raised.exception.response["Error"]["Code"]


class LookupEvents(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer(extra_args=["--node-id", "node-a"]).__enter__()
        try:
            kms = cls.server.client()
            cls.keys = [kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"]
                        for i in range(CREATED_KEYS)]
            for _ in range(ENCRYPTS):
                kms.encrypt(KeyId=cls.keys[0], Plaintext=b"x")
            cls.trail = cls.server.client(service="cloudtrail")
            cls.unchecked = cls.server.client(service="cloudtrail", validate=False)
        except BaseException:
            cls.server.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def lookup_all(self, **kwargs):
        """Every page, following NextToken; returns the events and each page's size."""
        events, pages, token = [], [], None
        while len(pages) < 100:
            answer = self.trail.lookup_events(**kwargs, **({"NextToken": token} if token else {}))
            events.extend(answer["Events"])
            pages.append(len(answer["Events"]))
            token = answer.get("NextToken")
            if not token:
                break
        return events, pages

    def test_the_cli_finds_events_by_name(self):
        answer = self.server.aws_profiles(
            {}, "cloudtrail", "lookup-events", "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=CreateKey")
        events = answer["Events"]
        self.assertEqual(len(events), CREATED_KEYS)
        self.assertEqual({e["EventName"] for e in events}, {"CreateKey"})
        # Newest first: the last key created comes first.
        self.assertIn(self.keys[-1], events[0]["Resources"][0]["ResourceName"])
        record = json.loads(events[0]["CloudTrailEvent"])
        self.assertEqual(record["eventID"], events[0]["EventId"])
        self.assertEqual(record["nodeId"], "node-a")
        self.assertEqual(events[0]["Username"], "root")
        self.assertEqual(events[0]["ReadOnly"], "false")
        self.assertEqual(events[0]["EventSource"], "kms.amazonaws.com")

    def test_the_cli_pages_through_small_pages_by_itself(self):
        everything = self.server.aws_profiles({}, "cloudtrail", "lookup-events")["Events"]
        paged = self.server.aws_profiles({}, "cloudtrail", "lookup-events", "--page-size", "2")
        self.assertGreaterEqual(len(paged["Events"]), CREATED_KEYS + ENCRYPTS)
        # The second lookup saw the first's own record too, and nothing twice.
        ids = [e["EventId"] for e in paged["Events"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertTrue({e["EventId"] for e in everything} <= set(ids))

    def test_boto3_pages_newest_first_with_tokens(self):
        events, pages = self.lookup_all(MaxResults=2, LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])
        self.assertEqual(len(events), ENCRYPTS)
        # Full pages; a last one may come empty (a page fills before it knows nothing follows).
        self.assertEqual(pages[:ENCRYPTS // 2], [2] * (ENCRYPTS // 2))
        self.assertEqual(sum(pages[ENCRYPTS // 2:]), 0)
        sequences = [json.loads(e["CloudTrailEvent"])["sequenceNumber"] for e in events]
        self.assertEqual(sequences, sorted(sequences, reverse=True))

    def test_a_key_is_found_by_its_id_or_arn(self):
        by_id, _ = self.lookup_all(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": self.keys[0]}])
        self.assertEqual(sorted(e["EventName"] for e in by_id),
                         ["CreateKey"] + ["Encrypt"] * ENCRYPTS)
        arn = by_id[0]["Resources"][0]["ResourceName"]
        by_arn, _ = self.lookup_all(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": arn}])
        self.assertEqual([e["EventId"] for e in by_arn], [e["EventId"] for e in by_id])

    def test_time_ranges(self):
        now = time.time()
        future, _ = self.lookup_all(StartTime=now + 3600)
        self.assertEqual(future, [])
        recent, _ = self.lookup_all(StartTime=now - 3600, EndTime=now + 60)
        self.assertGreaterEqual(len(recent), CREATED_KEYS + ENCRYPTS)
        with self.assertRaises(self.trail.exceptions.ClientError) as raised:
            self.trail.lookup_events(StartTime=now, EndTime=now - 60)
        self.assertEqual(error_code(raised), "InvalidTimeRangeException")

    def test_cloudtrails_errors(self):
        cases = [
            ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"},
                                   {"AttributeKey": "Username", "AttributeValue": "root"}]},
             "InvalidLookupAttributesException"),
            ({"LookupAttributes": [{"AttributeKey": "Color", "AttributeValue": "blue"}]},
             "InvalidLookupAttributesException"),
            ({"MaxResults": 51}, "InvalidMaxResultsException"),
            ({"MaxResults": 0}, "InvalidMaxResultsException"),
            ({"NextToken": "bm90IGEgdG9rZW4="}, "InvalidNextTokenException"),
            ({"EventCategory": "management"}, "InvalidEventCategoryException"),
        ]
        for parameters, expected in cases:
            with self.subTest(parameters=parameters):
                with self.assertRaises(self.unchecked.exceptions.ClientError) as raised:
                    self.unchecked.lookup_events(**parameters)
                self.assertEqual(error_code(raised), expected)

    def test_a_token_from_another_lookup_is_refused(self):
        first = self.trail.lookup_events(MaxResults=1)
        with self.assertRaises(self.trail.exceptions.ClientError) as raised:
            self.trail.lookup_events(MaxResults=1, NextToken=first["NextToken"], LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])
        self.assertEqual(error_code(raised), "InvalidNextTokenException")

    def test_an_iam_user_needs_cloudtrail_lookup_events(self):
        iam = self.server.client(service="iam")
        iam.create_user(UserName="auditor")
        keys = iam.create_access_key(UserName="auditor")["AccessKey"]
        auditor = self.server.client(keys["AccessKeyId"], keys["SecretAccessKey"],
                                     service="cloudtrail")
        with self.assertRaises(auditor.exceptions.ClientError) as raised:
            auditor.lookup_events()
        self.assertEqual(error_code(raised), "AccessDeniedException")
        self.assertIn("cloudtrail:LookupEvents", raised.exception.response["Error"]["Message"])
        code, _, stderr = self.server.aws_profiles(
            {"auditor": (keys["AccessKeyId"], keys["SecretAccessKey"])},
            "cloudtrail", "lookup-events", profile="auditor", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("AccessDeniedException", stderr)
        iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}))
        answer = auditor.lookup_events(LookupAttributes=[
            {"AttributeKey": "Username", "AttributeValue": "auditor"}])
        # Its own lookups, audited as CloudTrail's: the refusals and the one just made is not yet
        # (a record is written after its answer is built).
        names = [(e["EventSource"], e["EventName"]) for e in answer["Events"]]
        self.assertIn(("cloudtrail.amazonaws.com", "LookupEvents"), names)
        refused = [json.loads(e["CloudTrailEvent"]) for e in answer["Events"]]
        self.assertTrue(any(r.get("errorCode") == "AccessDenied" for r in refused), refused)
        self.assertTrue(all(r["readOnly"] for r in refused))
        # GetTrailStatus is another action.
        with self.assertRaises(auditor.exceptions.ClientError) as raised:
            auditor.get_trail_status(Name="kmsd")
        self.assertEqual(error_code(raised), "AccessDeniedException")

    def test_trail_status_says_the_trail_verifies(self):
        status = self.trail.get_trail_status(Name="kmsd")
        self.assertTrue(status["IsLogging"])
        self.assertEqual(status["LatestDeliveryAttemptSucceeded"], "true")
        self.assertNotIn("LatestDigestDeliveryError", status)
        self.assertIn("LatestDeliveryTime", status)
        cli = self.server.aws_profiles({}, "cloudtrail", "get-trail-status", "--name",
                                       "arn:aws:cloudtrail:us-east-1:111122223333:trail/kmsd")
        self.assertTrue(cli["IsLogging"])
        with self.assertRaises(self.trail.exceptions.ClientError) as raised:
            self.trail.get_trail_status(Name="other")
        self.assertEqual(error_code(raised), "TrailNotFoundException")


class TwoNodesTrails(unittest.TestCase):
    def test_each_verifies_alone_and_queries_merge_them_by_time(self):
        with KmsdServer(extra_args=["--node-id", "node-a"]) as a, \
                KmsdServer(extra_args=["--node-id", "node-b"]) as b:
            for server in (a, b, a):
                server.client().generate_random(NumberOfBytes=8)
                time.sleep(1.1)  # one node's call per second: their order is clear
            a.stop()
            b.stop()
            verified = kmsd_audit("verify", "--data-dir", a.data_dir, "--data-dir", b.data_dir)
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
            self.assertEqual(verified.stdout.count("audit trail OK"), 2, verified.stdout)
            query = kmsd_audit("query", "--data-dir", a.data_dir, "--data-dir", b.data_dir,
                               "--event", "GenerateRandom")
            self.assertEqual(query.returncode, 0, query.stderr)
            nodes = [json.loads(line)["nodeId"] for line in query.stdout.splitlines()]
            self.assertEqual(nodes, ["node-a", "node-b", "node-a"])
            table = kmsd_audit("query", "--data-dir", a.data_dir, "--data-dir", b.data_dir,
                               "--format", "table")
            self.assertIn("NODE", table.stdout)
            # Tampering with one node's trail fails the verification and names that trail.
            audit_dir = os.path.join(b.data_dir, "audit")
            trail = sorted(n for n in os.listdir(audit_dir) if n.startswith("trail-"))[0]
            path = os.path.join(audit_dir, trail)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("GenerateRandom", "GenerateRandoM", 1))
            verified = kmsd_audit("verify", "--data-dir", a.data_dir, "--data-dir", b.data_dir)
            self.assertEqual(verified.returncode, 1, verified.stdout)
            self.assertIn(f"{audit_dir}: audit trail FAILED", verified.stdout)
            self.assertIn(f"{os.path.join(a.data_dir, 'audit')}: audit trail OK", verified.stdout)


if __name__ == "__main__":
    unittest.main()
