"""`kmsd audit query` and `kmsd audit summary` answer the questions people ask of a trail that
real boto3 calls wrote: what happened to the key behind alias/app (Decrypts name no key and no
alias, so only the alias's history in the trail tells which were its), before and after the
alias was moved to another key; relative times; event names in any case; and who used the key,
how often, with what outcome, as a table. Debian's boto3."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import ACCOUNT_ID, KMSD_BINARY, KmsdServer  # noqa: E402

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
DECRYPTS_BY_ALICE = 14


def request_id(response):
    return response["ResponseMetadata"]["RequestId"]


class AuditQueryThroughAnAlias(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer().__enter__()
        try:
            cls.write_trail()
        except BaseException:
            cls.server.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    @classmethod
    def write_trail(cls):
        """alias/app points to key A, then to key B. `expected` holds the request ids that a query
        for alias/app must find, `others` those it must not."""
        kms = cls.server.client()
        iam = cls.server.client(service="iam")
        iam.create_user(UserName="alice")
        iam.put_user_policy(UserName="alice", PolicyName="use-keys", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
        access_key = iam.create_access_key(UserName="alice")["AccessKey"]
        alice = cls.server.client(access_key["AccessKeyId"], access_key["SecretAccessKey"])

        key_a = kms.create_key(Description="A")["KeyMetadata"]["KeyId"]
        key_b = kms.create_key(Description="B")["KeyMetadata"]["KeyId"]
        cls.key_a, cls.key_b = key_a, key_b
        expected, others = [], []
        # Key A used before the alias exists: not the alias's.
        early = kms.encrypt(KeyId=key_a, Plaintext=b"early")
        others.append(request_id(early))
        created = kms.create_alias(AliasName="alias/app", TargetKeyId=key_a)
        expected.append(request_id(created))
        sealed = kms.encrypt(KeyId="alias/app", Plaintext=b"for alice")
        expected.append(request_id(sealed))
        blob_b = kms.encrypt(KeyId=key_b, Plaintext=b"b")  # key B, not yet the alias's
        others.append(request_id(blob_b))
        cls.alice_decrypts = []
        for _ in range(DECRYPTS_BY_ALICE):
            # No KeyId: the record names neither the key nor the alias, only its resource.
            answer = alice.decrypt(CiphertextBlob=sealed["CiphertextBlob"])
            cls.alice_decrypts.append(request_id(answer))
        expected.extend(cls.alice_decrypts)
        # A Decrypt through the alias of a blob of another key: refused, and the alias's.
        try:
            alice.decrypt(CiphertextBlob=blob_b["CiphertextBlob"], KeyId="alias/app")
            raise AssertionError("a Decrypt through alias/app of key B's blob was not refused")
        except alice.exceptions.IncorrectKeyException:
            pass
        moved = kms.update_alias(AliasName="alias/app", TargetKeyId=key_b)
        expected.append(request_id(moved))
        # Key A after the move: no longer the alias's. Key B now is.
        others.append(request_id(kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])))
        sealed_b = kms.encrypt(KeyId="alias/app", Plaintext=b"now B")
        expected.append(request_id(sealed_b))
        expected.append(request_id(kms.decrypt(CiphertextBlob=sealed_b["CiphertextBlob"])))
        cls.expected, cls.others = expected, others

    def audit(self, command, *args):
        result = subprocess.run([KMSD_BINARY, "audit", command, "--data-dir", self.server.data_dir,
                                 *args], capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def query(self, *args):
        return [json.loads(line) for line in self.audit("query", *args).splitlines()]

    def test_an_alias_finds_its_keys_records_before_and_after_it_moved(self):
        records = self.query("--key", "alias/app")
        ids = [r["requestID"] for r in records]
        self.assertEqual(len(ids), len(set(ids)))
        # The IncorrectKeyException Decrypt has no id from boto3; it is found by its parameters.
        refused = [r for r in records if r.get("errorCode") == "IncorrectKeyException"]
        self.assertEqual(len(refused), 1)
        self.assertEqual(refused[0]["requestParameters"]["keyId"], "alias/app")
        self.assertEqual(sorted(set(ids) - {refused[0]["requestID"]}), sorted(self.expected))
        for other in self.others:
            self.assertNotIn(other, ids)
        decrypts = [r for r in records if r["eventName"] == "Decrypt" and "errorCode" not in r]
        self.assertEqual(len(decrypts), DECRYPTS_BY_ALICE + 1)
        # The alias's ARN finds the same.
        by_arn = self.query("--key", f"arn:aws:kms:{self.server.region}:{ACCOUNT_ID}:alias/app")
        self.assertEqual([r["requestID"] for r in by_arn], ids)

    def test_event_names_in_any_case(self):
        lower = self.query("--key", "alias/app", "--event", "decrypt")
        self.assertEqual(len(lower), DECRYPTS_BY_ALICE + 2)  # 15 that worked, 1 refused
        self.assertEqual(self.query("--key", "alias/app", "--event", "DECRYPT"), lower)
        self.assertEqual(self.query("--key", "alias/app", "--event", "Decrypt"), lower)

    def test_relative_times(self):
        everything = self.query()
        self.assertGreater(len(everything), 20)
        self.assertEqual(self.query("--since", "1h"), everything)
        self.assertEqual(self.query("--since", "1w", "--until", "1d"), [])
        self.assertEqual(self.query("--until", "30m"), [])  # all written in the last minutes
        self.assertEqual(len(self.query("--key", "alias/app", "--since", "2d",
                                        "--event", "decrypt", "--principal", "alice",
                                        "--errors-only")), 1)
        bad = subprocess.run([KMSD_BINARY, "audit", "query", "--data-dir", self.server.data_dir,
                              "--since", "1y"], capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("30m, 1h", bad.stderr)

    def test_summary_says_who_used_the_key_how_often_with_what_outcome(self):
        text = self.audit("summary", "--key", "alias/app")
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ["PRINCIPAL", "EVENT", "RESULT", "COUNT", "FIRST", "LAST"])
        rows = [line.split() for line in lines[1:-1]]
        self.assertEqual(rows[0][:4], ["alice", "Decrypt", "OK", str(DECRYPTS_BY_ALICE)])
        self.assertIn(["alice", "Decrypt", "IncorrectKeyException", "1"], [r[:4] for r in rows])
        self.assertIn([ROOT_ARN, "Decrypt", "OK", "1"], [r[:4] for r in rows])
        self.assertIn([ROOT_ARN, "Encrypt", "OK", "2"], [r[:4] for r in rows])
        self.assertIn([ROOT_ARN, "CreateAlias", "OK", "1"], [r[:4] for r in rows])
        self.assertIn([ROOT_ARN, "UpdateAlias", "OK", "1"], [r[:4] for r in rows])
        self.assertEqual(lines[-1], f"{len(self.expected) + 1} record(s)")

        as_json = [json.loads(line) for line in
                   self.audit("summary", "--key", "alias/app", "--format", "json").splitlines()]
        self.assertEqual(sum(row["count"] for row in as_json), len(self.expected) + 1)
        first = as_json[0]
        self.assertEqual((first["principal"], first["event"], first["outcome"], first["count"]),
                         ("alice", "Decrypt", "OK", DECRYPTS_BY_ALICE))
        self.assertLessEqual(first["firstTime"], first["lastTime"])

    def test_summary_without_a_key_counts_each_key(self):
        rows = [json.loads(line) for line in
                self.audit("summary", "--format", "json", "--event-source", "kms").splitlines()]
        by_key = {row["key"]: row for row in rows}
        # A: CreateKey, early Encrypt, CreateAlias, Encrypt, 14 + 1 Decrypts.
        self.assertEqual(by_key[self.key_a]["count"], 4 + DECRYPTS_BY_ALICE + 1)
        self.assertEqual(by_key[self.key_a]["errors"], 0)
        self.assertEqual(by_key["alias/app"]["errors"], 1)  # the refused Decrypt names no key
        by_principal = [json.loads(line) for line in self.audit(
            "summary", "--format", "json", "--by", "principal,outcome", "--key", self.key_a
        ).splitlines()]
        self.assertIn({"principal": "alice", "outcome": "OK", "count": DECRYPTS_BY_ALICE,
                       "errors": 0},
                      [{k: row[k] for k in ("principal", "outcome", "count", "errors")}
                       for row in by_principal])


if __name__ == "__main__":
    unittest.main()
