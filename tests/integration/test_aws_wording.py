# requires: modern-boto3
"""What running public KMS test suites against kmsd found (docs/FIDELITY.md): the places where kmsd
answered other than AWS does. Each test pins AWS's documented behaviour or AWS's own wording of an
error, as real AWS answers it, through boto3 1.43 (DryRun and DeriveSharedSecret are newer than
Debian's boto3). Clients with parameter validation off, so the server's checks are the ones
tested."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kmsd_harness import KmsdServer, KmsdTestCase, audit_records  # noqa: E402


class AwsWording(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        kms = cls.unchecked
        cls.symmetric = kms.create_key()["KeyMetadata"]["Arn"]
        cls.rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
        cls.rsa_signing = kms.create_key(KeySpec="RSA_2048",
                                         KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        cls.hmac = kms.create_key(KeySpec="HMAC_256",
                                  KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]

    def assertAnswer(self, error_code, message, call, **kwargs):
        """The call fails with error_code and exactly this message; returns the error."""
        with self.assertRaises(self.kms.exceptions.ClientError) as raised:
            call(**kwargs)
        error = raised.exception.response["Error"]
        self.assertEqual((error["Code"], error.get("Message", "")), (error_code, message))
        return raised.exception

    def audited(self, error):
        request_id = error.response["ResponseMetadata"]["RequestId"]
        return [r for r in audit_records(self.server.data_dir) if r["requestID"] == request_id][0]

    # CreateKey: "KeyUsage ... is optional when you are creating a symmetric encryption KMS key;
    # otherwise, it is required."
    def test_an_asymmetric_or_hmac_key_needs_its_key_usage(self):
        for spec in ("RSA_2048", "ECC_NIST_P256", "HMAC_256"):
            with self.subTest(spec=spec):
                self.assertAnswer(
                    "ValidationException",
                    "You must specify a KeyUsage value for all KMS keys except for symmetric "
                    "encryption keys.",
                    self.unchecked.create_key, KeySpec=spec)
        self.assertAnswer(
            "ValidationException",
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
            self.unchecked.create_key, CustomerMasterKeySpec="ECC_NIST_P384")

    def test_a_symmetric_key_still_defaults_to_encrypt_decrypt(self):
        for kwargs in ({}, {"KeySpec": "SYMMETRIC_DEFAULT"}):
            metadata = self.unchecked.create_key(**kwargs)["KeyMetadata"]
            self.assertEqual(metadata["KeyUsage"], "ENCRYPT_DECRYPT")

    def test_generate_random_without_number_of_bytes(self):
        self.assertAnswer("ValidationException", "NumberOfBytes is required.",
                          self.unchecked.generate_random)

    def test_rsa_plaintext_over_the_limit(self):
        for algorithm, limit in (("RSAES_OAEP_SHA_1", 214), ("RSAES_OAEP_SHA_256", 190)):
            with self.subTest(algorithm=algorithm):
                self.assertAnswer(
                    "ValidationException",
                    f"Algorithm {algorithm} and key spec RSA_2048 cannot encrypt data larger "
                    f"than {limit} bytes.",
                    self.unchecked.encrypt, KeyId=self.rsa, Plaintext=b"x" * (limit + 1),
                    EncryptionAlgorithm=algorithm)
                self.unchecked.encrypt(KeyId=self.rsa, Plaintext=b"x" * limit,
                                       EncryptionAlgorithm=algorithm)

    def test_alias_without_the_alias_prefix(self):
        message = ('Alias must start with the prefix "alias/". Please see '
                   "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
        self.assertAnswer("ValidationException", message, self.unchecked.create_alias,
                          AliasName="wrongprefix/name", TargetKeyId=self.symmetric)
        self.assertAnswer("ValidationException", message, self.unchecked.delete_alias,
                          AliasName="wrongprefix/name")

    def test_failed_verifications_have_no_message_but_the_audit_keeps_the_reason(self):
        error = self.assertAnswer("KMSInvalidSignatureException", "", self.unchecked.verify,
                                  KeyId=self.rsa_signing, Message=b"message",
                                  Signature=b"\x01" * 256, SigningAlgorithm="RSASSA_PSS_SHA_256")
        self.assertTrue(self.audited(error)["errorMessage"])
        mac = self.unchecked.generate_mac(KeyId=self.hmac, Message=b"message",
                                          MacAlgorithm="HMAC_SHA_256")["Mac"]
        error = self.assertAnswer("KMSInvalidMacException", "", self.unchecked.verify_mac,
                                  KeyId=self.hmac, Message=b"another message", Mac=mac,
                                  MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(self.audited(error)["errorCode"], "KMSInvalidMacException")
        self.assertTrue(self.audited(error)["errorMessage"])

    def test_mac_algorithm_of_another_hmac_spec(self):
        self.assertAnswer("InvalidKeyUsageException",
                          "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.",
                          self.unchecked.generate_mac, KeyId=self.hmac, Message=b"m",
                          MacAlgorithm="HMAC_SHA_512")

    def test_signing_algorithm_of_another_key_spec(self):
        # Sign's InvalidKeyUsageException: the algorithm "is incompatible with the type of key
        # material in the KMS key (KeySpec)", worded as AWS words it for MAC algorithms.
        for call in (self.unchecked.sign, self.unchecked.verify):
            extra = {"Signature": b"\x01" * 256} if call == self.unchecked.verify else {}
            self.assertAnswer("InvalidKeyUsageException",
                              "Algorithm ECDSA_SHA_256 is incompatible with key spec RSA_2048.",
                              call, KeyId=self.rsa_signing, Message=b"m",
                              SigningAlgorithm="ECDSA_SHA_256", **extra)

    def test_tag_refusals(self):
        create = self.unchecked.create_key
        self.assertAnswer("TagException", "Duplicate tag keys", create,
                          Tags=[{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}])
        for key in ("aws:owner", "AWS:owner"):
            self.assertAnswer("TagException", "Tags beginning with aws: are reserved", create,
                              Tags=[{"TagKey": key, "TagValue": "1"}])
        self.assertAnswer("TagException", "Tags beginning with aws: are reserved",
                          self.unchecked.tag_resource, KeyId=self.symmetric,
                          Tags=[{"TagKey": "aws:owner", "TagValue": "1"}])
        self.assertAnswer("TagException", "Tags beginning with aws: are reserved",
                          self.unchecked.untag_resource, KeyId=self.symmetric, TagKeys=["aws:owner"])
        self.assertAnswer("TagException", "Too many tags", create,
                          Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)])

    def test_tag_constraints_name_the_tag_by_its_position(self):
        tags = [{"TagKey": "fine", "TagValue": "v"}, {"TagKey": "k" * 129, "TagValue": "v"}]
        with self.assertRaises(self.kms.exceptions.ClientError) as raised:
            self.unchecked.create_key(Tags=tags)
        message = raised.exception.response["Error"]["Message"]
        self.assertIn("' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have "
                      "length less than or equal to 128", message)
        with self.assertRaises(self.kms.exceptions.ClientError) as raised:
            self.unchecked.tag_resource(KeyId=self.symmetric,
                                        Tags=[{"TagKey": "k", "TagValue": "v" * 257}])
        self.assertIn("' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must "
                      "have length less than or equal to 256",
                      raised.exception.response["Error"]["Message"])

    def test_decrypt_naming_a_key_of_another_kind_is_an_incorrect_key(self):
        blob = self.unchecked.encrypt(KeyId=self.symmetric, Plaintext=b"secret")["CiphertextBlob"]
        message = ("The key ID in the request does not identify a CMK that can perform this "
                   "operation.")
        for other in (self.hmac, self.rsa):
            with self.subTest(key=other):
                self.assertAnswer("IncorrectKeyException", message, self.unchecked.decrypt,
                                  CiphertextBlob=blob, KeyId=other)
        self.assertAnswer("IncorrectKeyException", message, self.unchecked.re_encrypt,
                          CiphertextBlob=blob, SourceKeyId=self.hmac,
                          DestinationKeyId=self.symmetric)
        # The key that made the blob still opens it.
        self.assertEqual(self.unchecked.decrypt(CiphertextBlob=blob,
                                                KeyId=self.symmetric)["Plaintext"], b"secret")

    def test_a_key_arn_of_another_region_names_the_region(self):
        key_id = self.symmetric.split("/")[-1]
        other_region = self.symmetric.replace(":us-east-1:", ":us-west-2:")
        self.assertAnswer("NotFoundException", "Invalid arn us-west-2",
                          self.unchecked.describe_key, KeyId=other_region)
        other_account = self.symmetric.replace(":111122223333:", ":444455556666:")
        self.assertAnswer("NotFoundException", f"Key '{other_account}' does not exist",
                          self.unchecked.describe_key, KeyId=other_account)
        self.assertEqual(self.unchecked.describe_key(KeyId=self.symmetric)["KeyMetadata"]["KeyId"],
                         key_id)

    def test_replicate_key_leaves_out_replica_tags_when_there_are_none(self):
        # Served regions us-east-1 (the client's) and us-west-2: AWS's answer has no ReplicaTags
        # member for a replica without tags.
        server = KmsdServer()
        server.region = "us-east-1,us-west-2"
        with server:
            server.region = "us-east-1"  # the clients' region
            kms = server.client()
            for tags, expected in (([], None), ([{"TagKey": "t", "TagValue": "1"}],
                                                [{"TagKey": "t", "TagValue": "1"}])):
                primary = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
                replicated = kms.replicate_key(KeyId=primary, ReplicaRegion="us-west-2", Tags=tags)
                self.assertEqual(replicated.get("ReplicaTags"), expected)
                self.assertIn("ReplicaPolicy", replicated)

    def test_replicate_key_on_a_replica_is_not_a_primary(self):
        server = KmsdServer()
        server.region = "us-east-1,us-west-2,eu-west-1"
        with server:
            server.region = "us-east-1"
            kms = server.client()
            primary = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
            replica_arn = kms.replicate_key(KeyId=primary, ReplicaRegion="us-west-2")[
                "ReplicaKeyMetadata"]["Arn"]
            server.region = "us-west-2"
            west = server.client()
            with self.assertRaises(west.exceptions.UnsupportedOperationException) as raised:
                west.replicate_key(KeyId=replica_arn, ReplicaRegion="eu-west-1")
            self.assertEqual(raised.exception.response["Error"]["Message"],
                             f"{replica_arn} is not a multi-region primary key.")

    def test_rotate_key_on_demand_checks_the_state_before_the_key_spec(self):
        kms = self.unchecked
        disabled_rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        kms.disable_key(KeyId=disabled_rsa)
        self.assertAnswer("DisabledException", f"{disabled_rsa} is disabled.",
                          kms.rotate_key_on_demand, KeyId=disabled_rsa)
        with self.assertRaises(kms.exceptions.UnsupportedOperationException):
            kms.rotate_key_on_demand(KeyId=self.rsa_signing)

    def test_import_key_material_expiring_without_valid_to(self):
        kms = self.unchecked
        external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        parameters = kms.get_parameters_for_import(KeyId=external,
                                                   WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                   WrappingKeySpec="RSA_2048")
        self.assertAnswer("ValidationException",
                          "A validTo date must be set if the ExpirationModel is "
                          "KEY_MATERIAL_EXPIRES",
                          kms.import_key_material, KeyId=external,
                          ImportToken=parameters["ImportToken"],
                          EncryptedKeyMaterial=b"\x00" * 256,
                          ExpirationModel="KEY_MATERIAL_EXPIRES")

    def test_dry_run_answer(self):
        self.assertAnswer("DryRunOperationException",
                          "The request would have succeeded, but the DryRun option is set.",
                          self.unchecked.encrypt, KeyId=self.symmetric, Plaintext=b"x", DryRun=True)


if __name__ == "__main__":
    unittest.main()
