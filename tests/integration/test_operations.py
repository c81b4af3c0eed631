"""Every supported operation through Debian's boto3, with the errors a client sees."""
import unittest

from kmsd_harness import ACCOUNT_ID, REGION, KmsdTestCase

ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:"
MISSING_KEY = "00000000-0000-4000-8000-000000000000"


class Keys(KmsdTestCase):
    def test_create_key_returns_full_metadata(self):
        meta = self.kms.create_key(Description="orders", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
        self.assertEqual(meta["Arn"], ARN_PREFIX + "key/" + meta["KeyId"])
        self.assertEqual(meta["AWSAccountId"], ACCOUNT_ID)
        self.assertEqual(meta["Description"], "orders")
        self.assertEqual(meta["KeyState"], "Enabled")
        self.assertTrue(meta["Enabled"])
        self.assertEqual(meta["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(meta["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(meta["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(meta["Origin"], "AWS_KMS")
        self.assertEqual(meta["KeyManager"], "CUSTOMER")
        self.assertEqual(meta["EncryptionAlgorithms"], ["SYMMETRIC_DEFAULT"])
        self.assertFalse(meta["MultiRegion"])
        self.assertGreater(meta["CreationDate"].timestamp(), 1.7e9)

    def test_create_key_refuses_unsupported_specs_and_bad_tags(self):
        self.assertAwsError("UnsupportedOperationException", self.kms.create_key, KeySpec="ML_DSA_44",
                            KeyUsage="SIGN_VERIFY")
        self.assertAwsError("ValidationException", self.kms.create_key, KeyUsage="SIGN_VERIFY")
        self.assertAwsError("TagException", self.kms.create_key,
                            Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
        self.assertAwsError("TagException", self.kms.create_key,
                            Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)])
        self.assertAwsError("ValidationException", self.unchecked.create_key,
                            Tags=[{"TagKey": "k" * 129, "TagValue": "v"}])
        self.assertAwsError("ValidationException", self.unchecked.create_key, Description="d" * 8193)

    def test_describe_key_by_every_form_of_key_id(self):
        meta = self.kms.create_key()["KeyMetadata"]
        self.kms.create_alias(AliasName="alias/describe-forms", TargetKeyId=meta["KeyId"])
        for form in (meta["KeyId"], meta["Arn"], "alias/describe-forms", ARN_PREFIX + "alias/describe-forms"):
            self.assertEqual(self.kms.describe_key(KeyId=form)["KeyMetadata"]["KeyId"], meta["KeyId"], form)

    def test_unknown_keys_are_not_found(self):
        self.assertAwsError("NotFoundException", self.kms.describe_key, KeyId=MISSING_KEY)
        self.assertAwsError("NotFoundException", self.kms.describe_key, KeyId="alias/never-made")
        self.assertAwsError("NotFoundException", self.kms.describe_key, KeyId="not-a-key-id")
        self.assertAwsError("NotFoundException", self.kms.describe_key,
                            KeyId=f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{MISSING_KEY}")
        self.assertAwsError("InvalidArnException", self.kms.describe_key, KeyId="arn:nonsense")
        self.assertAwsError("ValidationException", self.unchecked.describe_key, KeyId="k" * 2049)

    def test_list_keys_paginates(self):
        created = {self.kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
        seen, marker = [], None
        while True:
            page = self.kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
            self.assertLessEqual(len(page["Keys"]), 2)
            seen += [k["KeyId"] for k in page["Keys"]]
            if not page["Truncated"]:
                self.assertNotIn("NextMarker", page)
                break
            marker = page["NextMarker"]
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(created <= set(seen))
        paginated = [k["KeyId"] for p in self.kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3}) for k in p["Keys"]]
        self.assertEqual(paginated, seen)
        self.assertAwsError("ValidationException", self.unchecked.list_keys, Limit=1001)
        self.assertAwsError("ValidationException", self.unchecked.list_keys, Limit=0)
        self.assertAwsError("InvalidMarkerException", self.kms.list_keys, Marker="garbage")

    def test_enable_disable_and_describe(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.disable_key(KeyId=key_id)
        meta = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual((meta["KeyState"], meta["Enabled"]), ("Disabled", False))
        for call, kwargs in ((self.kms.encrypt, {"Plaintext": b"x"}),
                             (self.kms.generate_data_key, {"KeySpec": "AES_256"}),
                             (self.kms.generate_data_key_without_plaintext, {"NumberOfBytes": 16})):
            self.assertAwsError("DisabledException", call, KeyId=key_id, **kwargs)
        self.kms.enable_key(KeyId=key_id)
        self.assertEqual(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "Enabled")
        self.assertAwsError("NotFoundException", self.kms.enable_key, KeyId=MISSING_KEY)

    def test_blobs_of_a_disabled_key_do_not_decrypt(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"held")["CiphertextBlob"]
        self.kms.disable_key(KeyId=key_id)
        self.assertAwsError("DisabledException", self.kms.decrypt, CiphertextBlob=blob)
        self.kms.enable_key(KeyId=key_id)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"held")

    def test_update_key_description(self):
        key_id = self.kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
        self.kms.update_key_description(KeyId=key_id, Description="after")
        self.assertEqual(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"], "after")
        self.kms.update_key_description(KeyId=key_id, Description="")
        self.assertEqual(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"], "")


class Aliases(KmsdTestCase):
    def test_alias_lifecycle(self):
        first = self.kms.create_key()["KeyMetadata"]
        second = self.kms.create_key()["KeyMetadata"]
        self.kms.create_alias(AliasName="alias/life", TargetKeyId=first["Arn"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/life")["KeyMetadata"]["KeyId"], first["KeyId"])
        self.kms.update_alias(AliasName="alias/life", TargetKeyId=second["KeyId"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/life")["KeyMetadata"]["KeyId"], second["KeyId"])
        listed = self.kms.list_aliases(KeyId=second["KeyId"])["Aliases"]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0]["AliasName"], "alias/life")
        self.assertEqual(listed[0]["AliasArn"], ARN_PREFIX + "alias/life")
        self.assertEqual(listed[0]["TargetKeyId"], second["KeyId"])
        self.assertIn("CreationDate", listed[0])
        self.assertEqual(self.kms.list_aliases(KeyId=first["KeyId"])["Aliases"], [])
        self.kms.delete_alias(AliasName="alias/life")
        self.assertAwsError("NotFoundException", self.kms.describe_key, KeyId="alias/life")
        self.assertAwsError("NotFoundException", self.kms.delete_alias, AliasName="alias/life")

    def test_alias_rules(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName="alias/taken", TargetKeyId=key_id)
        self.assertAwsError("AlreadyExistsException", self.kms.create_alias, AliasName="alias/taken", TargetKeyId=key_id)
        self.assertAwsError("ValidationException", self.kms.create_alias, AliasName="no-prefix", TargetKeyId=key_id)
        self.assertAwsError("NotAuthorizedException", self.kms.create_alias, AliasName="alias/aws/s3", TargetKeyId=key_id)
        self.assertAwsError("ValidationException", self.kms.create_alias, AliasName="alias/bad name!", TargetKeyId=key_id)
        self.assertAwsError("NotFoundException", self.kms.create_alias, AliasName="alias/x", TargetKeyId=MISSING_KEY)
        self.assertAwsError("ValidationException", self.kms.create_alias, AliasName="alias/x", TargetKeyId="alias/taken")
        self.assertAwsError("NotFoundException", self.kms.update_alias, AliasName="alias/absent", TargetKeyId=key_id)
        self.assertAwsError("NotFoundException", self.kms.list_aliases, KeyId=MISSING_KEY)

    def test_list_aliases_paginates(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        names = {f"alias/page-{i}" for i in range(7)}
        for name in names:
            self.kms.create_alias(AliasName=name, TargetKeyId=key_id)
        seen = []
        for page in self.kms.get_paginator("list_aliases").paginate(KeyId=key_id, PaginationConfig={"PageSize": 3}):
            self.assertLessEqual(len(page["Aliases"]), 3)
            seen += [a["AliasName"] for a in page["Aliases"]]
        self.assertEqual(sorted(seen), sorted(names))
        self.assertEqual(seen, sorted(seen))
        everything = [a["AliasName"] for p in self.kms.get_paginator("list_aliases").paginate() for a in p["Aliases"]]
        self.assertTrue(names <= set(everything))


class Crypto(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.kms.create_key()["KeyMetadata"]
        cls.kms.create_alias(AliasName="alias/crypto", TargetKeyId=cls.key["KeyId"])

    def test_encrypt_decrypt_round_trip_with_every_key_form(self):
        for form in (self.key["KeyId"], self.key["Arn"], "alias/crypto", ARN_PREFIX + "alias/crypto"):
            encrypted = self.kms.encrypt(KeyId=form, Plaintext=b"secret", EncryptionContext={"a": "b"})
            self.assertEqual(encrypted["KeyId"], self.key["Arn"])
            self.assertEqual(encrypted["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
            decrypted = self.kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"a": "b"})
            self.assertEqual(decrypted["Plaintext"], b"secret")
            self.assertEqual(decrypted["KeyId"], self.key["Arn"])
            self.assertEqual(self.kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], KeyId=form,
                                              EncryptionContext={"a": "b"})["Plaintext"], b"secret")

    def test_plaintext_size_limits(self):
        self.assertEqual(self.kms.decrypt(CiphertextBlob=self.kms.encrypt(
            KeyId=self.key["KeyId"], Plaintext=b"x" * 4096)["CiphertextBlob"])["Plaintext"], b"x" * 4096)
        error = self.assertAwsError("ValidationException", self.unchecked.encrypt, KeyId=self.key["KeyId"], Plaintext=b"x" * 4097)
        self.assertIn("plaintext", error.response["Error"]["Message"])
        self.assertNotIn("xxxx", error.response["Error"]["Message"])

    def test_each_encryption_is_fresh(self):
        a = self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
        b = self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
        self.assertNotEqual(a, b)

    def test_wrong_context_fails(self):
        blob = self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"p", EncryptionContext={"user": "alice"})["CiphertextBlob"]
        for context in ({}, {"user": "bob"}, {"user": "alice", "extra": "1"}, {"User": "alice"}):
            self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=blob, EncryptionContext=context)

    def test_tampered_blob_fails(self):
        blob = bytearray(self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"p")["CiphertextBlob"])
        for position in (0, 1, 20, 30, 40, 50, len(blob) - 1):
            tampered = bytearray(blob)
            tampered[position] ^= 0x01
            with self.assertRaises(self.kms.exceptions.ClientError) as raised:
                self.kms.decrypt(CiphertextBlob=bytes(tampered))
            self.assertIn(raised.exception.response["Error"]["Code"],
                          ("InvalidCiphertextException",), position)
        self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=bytes(blob[:-1]))
        self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=b"not a blob")

    def test_decrypt_with_another_key_id_is_incorrect_key(self):
        other = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
        self.assertAwsError("IncorrectKeyException", self.kms.decrypt, CiphertextBlob=blob, KeyId=other)
        self.assertAwsError("NotFoundException", self.kms.decrypt, CiphertextBlob=blob, KeyId=MISSING_KEY)

    def test_generate_data_key_sizes(self):
        for kwargs, size in (({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16),
                             ({"NumberOfBytes": 1}, 1), ({"NumberOfBytes": 1024}, 1024)):
            result = self.kms.generate_data_key(KeyId="alias/crypto", EncryptionContext={"k": "v"}, **kwargs)
            self.assertEqual(len(result["Plaintext"]), size)
            self.assertEqual(result["KeyId"], self.key["Arn"])
            self.assertEqual(self.kms.decrypt(CiphertextBlob=result["CiphertextBlob"],
                                              EncryptionContext={"k": "v"})["Plaintext"], result["Plaintext"])
        self.assertAwsError("ValidationException", self.kms.generate_data_key, KeyId="alias/crypto")
        self.assertAwsError("ValidationException", self.kms.generate_data_key, KeyId="alias/crypto", KeySpec="AES_256", NumberOfBytes=32)
        self.assertAwsError("ValidationException", self.unchecked.generate_data_key, KeyId="alias/crypto", NumberOfBytes=1025)
        self.assertAwsError("ValidationException", self.kms.generate_data_key, KeyId="alias/crypto", KeySpec="AES_512")

    def test_generate_data_key_without_plaintext(self):
        result = self.kms.generate_data_key_without_plaintext(KeyId=self.key["KeyId"], KeySpec="AES_256")
        self.assertNotIn("Plaintext", result)
        self.assertEqual(len(self.kms.decrypt(CiphertextBlob=result["CiphertextBlob"])["Plaintext"]), 32)

    def test_re_encrypt_moves_a_blob_to_another_key_and_context(self):
        other = self.kms.create_key()["KeyMetadata"]
        blob = self.kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"moving", EncryptionContext={"from": "1"})["CiphertextBlob"]
        moved = self.kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"from": "1"},
                                    DestinationKeyId=other["KeyId"], DestinationEncryptionContext={"to": "2"})
        self.assertEqual(moved["SourceKeyId"], self.key["Arn"])
        self.assertEqual(moved["KeyId"], other["Arn"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"to": "2"})["Plaintext"], b"moving")
        self.assertAwsError("InvalidCiphertextException", self.kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=other["KeyId"])
        self.assertAwsError("IncorrectKeyException", self.kms.re_encrypt, CiphertextBlob=blob, SourceKeyId=other["KeyId"],
                            SourceEncryptionContext={"from": "1"}, DestinationKeyId=other["KeyId"])

    def test_generate_random(self):
        first = self.kms.generate_random(NumberOfBytes=64)["Plaintext"]
        self.assertEqual(len(first), 64)
        self.assertNotEqual(first, self.kms.generate_random(NumberOfBytes=64)["Plaintext"])
        self.assertEqual(len(self.kms.generate_random(NumberOfBytes=1024)["Plaintext"]), 1024)
        self.assertAwsError("ValidationException", self.unchecked.generate_random, NumberOfBytes=1025)
        self.assertAwsError("ValidationException", self.unchecked.generate_random, NumberOfBytes=0)

    def test_non_symmetric_algorithms_are_refused(self):
        self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=self.key["KeyId"], Plaintext=b"p",
                            EncryptionAlgorithm="RSAES_OAEP_SHA_256")


if __name__ == "__main__":
    unittest.main()
