# requires: modern-boto3
"""Issue 13's AWS fidelity fixes, the custom key store family and GetKeyLastUsage, through boto3
1.43 (GetKeyLastUsage and the external key store members are newer than Debian's boto3): the error
codes and messages AWS answers with, every refusal audited under its own eventName, and each key's
last use naming the audit record of the request that used it, across restarts."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import (ACCOUNT_ID, REGION, TEST_CLOCK_ARGS, TEST_CLOCK_ENV,  # noqa: E402
                          KmsdServer, KmsdTestCase, audit_records)

ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:"




class AwsErrorsTestCase(KmsdTestCase):
    def assertAwsMessage(self, error_code, message, call, **kwargs):
        error = self.assertAwsError(error_code, call, **kwargs)
        self.assertEqual(error.response["Error"]["Message"], message)


class AliasFidelity(AwsErrorsTestCase):
    def setUp(self):
        self.key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]

    def test_reserved_names_are_not_authorized(self):
        self.assertAwsError("NotAuthorizedException", self.kms.create_alias,
                            AliasName="alias/aws/s3", TargetKeyId=self.key_id)
        self.assertAwsError("NotAuthorizedException", self.kms.update_alias,
                            AliasName="alias/aws/s3", TargetKeyId=self.key_id)
        self.assertAwsError("NotAuthorizedException", self.kms.delete_alias, AliasName="alias/aws/s3")

    def test_a_colon_is_an_invalid_character_for_an_alias(self):
        self.assertAwsMessage("ValidationException",
                              "alias/my:alias contains invalid characters for an alias",
                              self.kms.create_alias, AliasName="alias/my:alias", TargetKeyId=self.key_id)
        names = [alias["AliasName"] for alias in self.kms.list_aliases()["Aliases"]]
        self.assertNotIn("alias/my:alias", names)

    def test_aliases_must_refer_to_keys(self):
        self.kms.create_alias(AliasName="alias/fidelity-first", TargetKeyId=self.key_id)
        for target in ("alias/fidelity-first", ARN_PREFIX + "alias/fidelity-first"):
            self.assertAwsMessage("ValidationException", "Aliases must refer to keys. Not aliases",
                                  self.kms.create_alias, AliasName="alias/fidelity-second",
                                  TargetKeyId=target)

    def test_an_alias_where_a_key_is_needed_is_an_invalid_key_id(self):
        self.kms.create_alias(AliasName="alias/fidelity-rotation", TargetKeyId=self.key_id)
        self.assertAwsMessage("NotFoundException", "Invalid keyId 'alias/fidelity-rotation'",
                              self.kms.get_key_rotation_status, KeyId="alias/fidelity-rotation")

    def test_key_spec_and_customer_master_key_spec_together(self):
        error = self.assertAwsError("ValidationException", self.kms.create_key,
                                    KeySpec="SYMMETRIC_DEFAULT",
                                    CustomerMasterKeySpec="SYMMETRIC_DEFAULT")
        # Not one of the model's constraints, so not worded as one.
        self.assertFalse(error.response["Error"]["Message"].startswith("1 validation error"))


class CiphertextFidelity(AwsErrorsTestCase):
    def test_invalid_ciphertext_has_no_message_but_the_audit_keeps_the_reason(self):
        answer = self.assertAwsError("InvalidCiphertextException", self.kms.decrypt,
                                     CiphertextBlob=b"not a blob")
        self.assertEqual(answer.response["Error"]["Message"], "")
        request_id = answer.response["ResponseMetadata"]["RequestId"]
        record = [r for r in audit_records(self.server.data_dir) if r["requestID"] == request_id][0]
        self.assertEqual(record["errorCode"], "InvalidCiphertextException")
        self.assertTrue(record["errorMessage"])


class CustomKeyStores(AwsErrorsTestCase):
    OPERATIONS = {
        "CreateCustomKeyStore": lambda kms: kms.create_custom_key_store(
            CustomKeyStoreName="store", CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyUriEndpoint="https://xks.example.com", XksProxyUriPath="/kms/xks/v1",
            XksProxyConnectivity="PUBLIC_ENDPOINT",
            XksProxyAuthenticationCredential={"AccessKeyId": "A" * 20,
                                              "RawSecretAccessKey": "s" * 43}),
        "ConnectCustomKeyStore": lambda kms: kms.connect_custom_key_store(CustomKeyStoreId="cks-1"),
        "DisconnectCustomKeyStore": lambda kms: kms.disconnect_custom_key_store(CustomKeyStoreId="cks-1"),
        "UpdateCustomKeyStore": lambda kms: kms.update_custom_key_store(
            CustomKeyStoreId="cks-1", NewCustomKeyStoreName="renamed"),
        "DeleteCustomKeyStore": lambda kms: kms.delete_custom_key_store(CustomKeyStoreId="cks-1"),
        "DescribeCustomKeyStores": lambda kms: kms.describe_custom_key_stores(),
    }

    def test_each_operation_is_unsupported_and_audited_under_its_name(self):
        for name, call in self.OPERATIONS.items():
            with self.subTest(name):
                error = self.assertAwsError("UnsupportedOperationException", call, self.kms)
                self.assertIn("no custom key stores", error.response["Error"]["Message"])
        records = audit_records(self.server.data_dir)
        for name in self.OPERATIONS:
            matching = [r for r in records if r["eventName"] == name]
            self.assertTrue(matching, f"no audit record for {name}")
            self.assertEqual(matching[-1]["errorCode"], "UnsupportedOperationException")
        # The external key store's secret never reaches the trail.
        self.assertNotIn("s" * 43, json.dumps(records))

    def test_requests_are_validated_first(self):
        self.assertAwsError("ValidationException", self.unchecked.connect_custom_key_store,
                            CustomKeyStoreId="")
        self.assertAwsError("ValidationException", self.unchecked.create_custom_key_store,
                            CustomKeyStoreName="s", KeyStorePassword="short")
        self.assertAwsError("ValidationException", self.unchecked.describe_custom_key_stores, Limit=0)

    def test_custom_key_store_ids_elsewhere_are_unsupported(self):
        self.assertAwsError("UnsupportedOperationException", self.kms.create_key,
                            CustomKeyStoreId="cks-1", Origin="AWS_CLOUDHSM")
        self.assertAwsError("UnsupportedOperationException", self.kms.generate_random,
                            NumberOfBytes=16, CustomKeyStoreId="cks-1")
        for origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            error = self.assertAwsError("UnsupportedOperationException", self.kms.create_key,
                                        Origin=origin)
            self.assertIn("no custom key stores", error.response["Error"]["Message"])


class KeyLastUsage(unittest.TestCase):
    """One server per test: each restarts it."""

    def setUp(self):
        self.server = KmsdServer(extra_args=TEST_CLOCK_ARGS, env=TEST_CLOCK_ENV).__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)
        self.kms = self.server.client()

    def last_usage(self, key_id):
        return self.server.client().get_key_last_usage(KeyId=key_id)

    def encrypt(self, key_id):
        """Encrypts and returns the request id of the call and its audit record."""
        answer = self.kms.encrypt(KeyId=key_id, Plaintext=b"secret")
        request_id = answer["ResponseMetadata"]["RequestId"]
        records = [r for r in audit_records(self.server.data_dir) if r["requestID"] == request_id]
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["eventName"], "Encrypt")
        return request_id, records[0]

    def assertLastUse(self, key_id, request_id, record):
        usage = self.last_usage(key_id)["KeyLastUsage"]
        self.assertEqual(usage["Operation"], "Encrypt")
        self.assertEqual(usage["CloudTrailEventId"], record["eventID"])
        self.assertEqual(usage["KmsRequestId"], request_id)
        self.assertLess(abs(usage["Timestamp"].timestamp() - time.time()), 3600)

    def test_a_key_never_used_has_no_last_usage(self):
        meta = self.kms.create_key()["KeyMetadata"]
        answer = self.last_usage(meta["KeyId"])
        self.assertFalse(answer.get("KeyLastUsage"))
        self.assertEqual(answer["KeyId"], meta["KeyId"])
        self.assertEqual(answer["KeyCreationDate"], meta["CreationDate"])
        self.assertEqual(answer["TrackingStartDate"], meta["CreationDate"])
        record = [r for r in audit_records(self.server.data_dir)
                  if r["eventName"] == "GetKeyLastUsage"][-1]
        self.assertEqual(record["requestParameters"]["keyId"], meta["KeyId"])
        self.assertNotIn("errorCode", record)

    def test_encrypt_is_named_with_its_audit_event_and_survives_a_clean_restart(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        request_id, record = self.encrypt(key_id)
        self.assertLastUse(key_id, request_id, record)
        self.server.restart()  # SIGTERM: kmsd saves key usage as it shuts down
        self.assertLastUse(key_id, request_id, record)

    def test_a_scheduler_pass_saves_usage_before_a_crash(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        request_id, record = self.encrypt(key_id)
        self.server.advance_clock(seconds=1)  # runs a scheduler pass, as the timer would
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(timeout=15)
        self.server.restart()
        self.assertLastUse(key_id, request_id, record)

    def test_a_dry_run_is_no_use(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertRaises(self.kms.exceptions.DryRunOperationException, self.kms.encrypt,
                          KeyId=key_id, Plaintext=b"x", DryRun=True)
        self.assertFalse(self.last_usage(key_id).get("KeyLastUsage"))

    def test_alias_names_are_not_accepted(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName="alias/last-usage", TargetKeyId=key_id)
        with self.assertRaises(self.kms.exceptions.NotFoundException):
            self.last_usage("alias/last-usage")


if __name__ == "__main__":
    unittest.main()
