# requires: modern-boto3
"""Asymmetric and HMAC keys (issue 13) through boto3 and the aws CLI, proved by tools that are not
kmsd's: every signature kmsd makes verifies in `openssl dgst -verify` / `openssl pkeyutl -verify`
with the public key from GetPublicKey; HMACs are deterministic, verify, and refuse a flipped bit;
operations refuse keys of the wrong kind as AWS does; the audit trail records the algorithms and
never the message, signature or MAC."""
import base64
import hashlib
import json
import os
import shutil
import tempfile
import unittest

from kmsd_harness import MODERN_AWS_CLI, KmsdTestCase, audit_records, openssl

MESSAGE = b"kmsd signs this; openssl checks it. SECRET-MESSAGE-4711"
DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}

SIGNING = {
    "RSA_2048": ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                 "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
                 "RSASSA_PSS_SHA_512"],
    "RSA_3072": ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_512"],
    "RSA_4096": ["RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_384"],
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
}


class AsymmetricKeys(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="kmsd-asym-")
        cls.keys = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def key(self, spec, usage="SIGN_VERIFY"):
        if (spec, usage) not in self.keys:
            created = self.kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
            self.keys[(spec, usage)] = created
        return self.keys[(spec, usage)]

    def public_key_pem(self, key_id):
        """GetPublicKey's DER SubjectPublicKeyInfo, converted to PEM by openssl."""
        answer = self.kms.get_public_key(KeyId=key_id)
        der = os.path.join(self.work, f"{key_id}.der")
        pem = os.path.join(self.work, f"{key_id}.pem")
        with open(der, "wb") as out:
            out.write(answer["PublicKey"])
        openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem)
        return pem, answer

    def openssl_verifies(self, pem, algorithm, message, signature):
        """`openssl dgst -verify` over the raw message, with AWS's PSS parameters."""
        digest = "-sha" + algorithm.rsplit("_", 1)[1]
        message_path = os.path.join(self.work, "message")
        signature_path = os.path.join(self.work, "signature")
        with open(message_path, "wb") as out:
            out.write(message)
        with open(signature_path, "wb") as out:
            out.write(signature)
        options = []
        if "PSS" in algorithm:
            options = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        result = openssl("dgst", digest, "-verify", pem, *options, "-signature", signature_path,
                         message_path, check=False)
        return result.returncode == 0 and b"Verified OK" in result.stdout

    def test_describe_key_lists_the_algorithms_of_the_key_s_kind(self):
        rsa = self.key("RSA_2048")
        self.assertEqual(rsa["SigningAlgorithms"], SIGNING["RSA_2048"])
        self.assertNotIn("EncryptionAlgorithms", rsa)
        self.assertEqual(rsa["KeySpec"], "RSA_2048")
        self.assertEqual(rsa["CustomerMasterKeySpec"], "RSA_2048")
        described = self.kms.describe_key(KeyId=rsa["KeyId"])["KeyMetadata"]
        self.assertEqual(described["SigningAlgorithms"], SIGNING["RSA_2048"])
        encryption = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        self.assertEqual(encryption["EncryptionAlgorithms"], ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
        self.assertNotIn("SigningAlgorithms", encryption)
        agreement = self.key("ECC_NIST_P256", "KEY_AGREEMENT")
        self.assertEqual(agreement["KeyAgreementAlgorithms"], ["ECDH"])
        mac = self.key("HMAC_384", "GENERATE_VERIFY_MAC")
        self.assertEqual(mac["MacAlgorithms"], ["HMAC_SHA_384"])
        self.assertNotIn("EncryptionAlgorithms", mac)
        symmetric = self.kms.create_key()["KeyMetadata"]
        self.assertEqual(symmetric["EncryptionAlgorithms"], ["SYMMETRIC_DEFAULT"])
        self.assertNotIn("SigningAlgorithms", symmetric)

    def test_create_key_refuses_usages_and_specs_as_aws(self):
        self.assertAwsError("ValidationException", self.kms.create_key, KeySpec="HMAC_256",
                            KeyUsage="ENCRYPT_DECRYPT")
        self.assertAwsError("ValidationException", self.kms.create_key, KeySpec="ECC_SECG_P256K1",
                            KeyUsage="KEY_AGREEMENT")
        error = self.assertAwsError("UnsupportedOperationException", self.kms.create_key,
                                    KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")
        self.assertIn("ML-DSA", error.response["Error"]["Message"])

    def test_every_signature_verifies_in_openssl(self):
        for spec, algorithms in SIGNING.items():
            key_id = self.key(spec)["KeyId"]
            pem, answer = self.public_key_pem(key_id)
            self.assertEqual(answer["KeySpec"], spec)
            self.assertEqual(answer["KeyUsage"], "SIGN_VERIFY")
            self.assertEqual(answer["SigningAlgorithms"], self.key(spec)["SigningAlgorithms"])
            for algorithm in algorithms:
                with self.subTest(spec=spec, algorithm=algorithm):
                    signed = self.kms.sign(KeyId=key_id, Message=MESSAGE, MessageType="RAW",
                                           SigningAlgorithm=algorithm)
                    self.assertEqual(signed["SigningAlgorithm"], algorithm)
                    self.assertTrue(self.openssl_verifies(pem, algorithm, MESSAGE, signed["Signature"]))
                    self.assertFalse(self.openssl_verifies(pem, algorithm, MESSAGE + b"!",
                                                           signed["Signature"]))
                    # A DIGEST message signs the same message: openssl verifies it over the raw one.
                    digest = DIGESTS[algorithm.rsplit("_", 1)[1]](MESSAGE).digest()
                    signed_digest = self.kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                                                  SigningAlgorithm=algorithm)
                    self.assertTrue(self.openssl_verifies(pem, algorithm, MESSAGE,
                                                          signed_digest["Signature"]))
                    verified = self.kms.verify(KeyId=key_id, Message=MESSAGE, MessageType="RAW",
                                               Signature=signed_digest["Signature"],
                                               SigningAlgorithm=algorithm)
                    self.assertTrue(verified["SignatureValid"])

    def test_pkeyutl_verifies_a_digest_signature(self):
        key_id = self.key("ECC_NIST_P384")["KeyId"]
        pem, _ = self.public_key_pem(key_id)
        digest = hashlib.sha384(MESSAGE).digest()
        signature = self.kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_384")["Signature"]
        digest_path = os.path.join(self.work, "digest")
        signature_path = os.path.join(self.work, "digest.sig")
        with open(digest_path, "wb") as out:
            out.write(digest)
        with open(signature_path, "wb") as out:
            out.write(signature)
        result = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-in", digest_path,
                         "-sigfile", signature_path, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Signature Verified Successfully", result.stdout)

    def test_verify_refuses_a_bad_signature_and_a_wrong_digest_length(self):
        key_id = self.key("ECC_NIST_P256")["KeyId"]
        signature = bytearray(self.kms.sign(KeyId=key_id, Message=MESSAGE,
                                            SigningAlgorithm="ECDSA_SHA_256")["Signature"])
        signature[-1] ^= 1
        self.assertAwsError("KMSInvalidSignatureException", self.kms.verify, KeyId=key_id,
                            Message=MESSAGE, Signature=bytes(signature),
                            SigningAlgorithm="ECDSA_SHA_256")
        self.assertAwsError("ValidationException", self.kms.sign, KeyId=key_id,
                            Message=b"\0" * 31, MessageType="DIGEST",
                            SigningAlgorithm="ECDSA_SHA_256")
        self.assertAwsError("InvalidKeyUsageException", self.kms.sign, KeyId=key_id,
                            Message=MESSAGE, SigningAlgorithm="RSASSA_PSS_SHA_256")

    def test_hmac_is_deterministic_verifies_and_refuses_a_flipped_bit(self):
        key_id = self.key("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
        first = self.kms.generate_mac(KeyId=key_id, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")
        second = self.kms.generate_mac(KeyId=key_id, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(len(first["Mac"]), 32)
        self.assertEqual(first["Mac"], second["Mac"])
        self.assertEqual(first["MacAlgorithm"], "HMAC_SHA_256")
        verified = self.kms.verify_mac(KeyId=key_id, Message=MESSAGE, Mac=first["Mac"],
                                       MacAlgorithm="HMAC_SHA_256")
        self.assertTrue(verified["MacValid"])
        flipped = bytearray(first["Mac"])
        flipped[0] ^= 0x80
        self.assertAwsError("KMSInvalidMacException", self.kms.verify_mac, KeyId=key_id,
                            Message=MESSAGE, Mac=bytes(flipped), MacAlgorithm="HMAC_SHA_256")
        self.assertAwsError("InvalidKeyUsageException", self.kms.generate_mac, KeyId=key_id,
                            Message=MESSAGE, MacAlgorithm="HMAC_SHA_512")
        # Another HMAC key makes another MAC.
        other = self.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        other_mac = self.kms.generate_mac(KeyId=other["KeyMetadata"]["KeyId"], Message=MESSAGE,
                                          MacAlgorithm="HMAC_SHA_256")
        self.assertNotEqual(other_mac["Mac"], first["Mac"])

    def test_operations_refuse_keys_of_the_wrong_kind(self):
        signing = self.key("ECC_NIST_P256")["KeyId"]
        mac = self.key("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
        rsa_encryption = self.key("RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
        symmetric = self.kms.create_key()["KeyMetadata"]["KeyId"]
        error = self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=signing,
                                    Plaintext=b"x")
        self.assertIn("SIGN_VERIFY", error.response["Error"]["Message"])
        self.assertAwsError("InvalidKeyUsageException", self.kms.generate_data_key, KeyId=mac,
                            KeySpec="AES_256")
        self.assertAwsError("InvalidKeyUsageException", self.kms.generate_data_key,
                            KeyId=rsa_encryption, KeySpec="AES_256")
        self.assertAwsError("InvalidKeyUsageException", self.kms.sign, KeyId=symmetric,
                            Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        self.assertAwsError("InvalidKeyUsageException", self.kms.generate_mac, KeyId=signing,
                            Message=b"m", MacAlgorithm="HMAC_SHA_256")
        self.assertAwsError("UnsupportedOperationException", self.kms.get_public_key, KeyId=mac)
        self.assertAwsError("UnsupportedOperationException", self.kms.enable_key_rotation,
                            KeyId=signing)
        self.assertAwsError("UnsupportedOperationException", self.kms.get_key_rotation_status,
                            KeyId=mac)

    def test_aws_cli_signs_and_verifies(self):
        key_id = self.key("ECC_NIST_P256")["KeyId"]
        message_path = os.path.join(self.work, "cli-message")
        with open(message_path, "wb") as out:
            out.write(MESSAGE)
        signed = self.server.aws("sign", "--key-id", key_id, "--message", f"fileb://{message_path}",
                                 "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256",
                                 cli=MODERN_AWS_CLI)
        self.assertEqual(signed["SigningAlgorithm"], "ECDSA_SHA_256")
        signature_path = os.path.join(self.work, "cli-signature")
        with open(signature_path, "wb") as out:
            out.write(base64.b64decode(signed["Signature"]))
        verified = self.server.aws("verify", "--key-id", key_id, "--message",
                                   f"fileb://{message_path}", "--message-type", "RAW",
                                   "--signature", f"fileb://{signature_path}",
                                   "--signing-algorithm", "ECDSA_SHA_256", cli=MODERN_AWS_CLI)
        self.assertTrue(verified["SignatureValid"])
        public = self.server.aws("get-public-key", "--key-id", key_id, cli=MODERN_AWS_CLI)
        self.assertEqual(public["KeySpec"], "ECC_NIST_P256")
        pem, _ = self.public_key_pem(key_id)
        self.assertTrue(self.openssl_verifies(pem, "ECDSA_SHA_256", MESSAGE,
                                              base64.b64decode(signed["Signature"])))

    def test_audit_records_algorithms_but_never_message_signature_or_mac(self):
        key_id = self.key("ECC_NIST_P256")["KeyId"]
        signature = self.kms.sign(KeyId=key_id, Message=MESSAGE, MessageType="RAW",
                                  SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        self.kms.verify(KeyId=key_id, Message=MESSAGE, Signature=signature,
                        SigningAlgorithm="ECDSA_SHA_256")
        mac_key = self.key("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
        mac = self.kms.generate_mac(KeyId=mac_key, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")["Mac"]
        records = audit_records(self.server.data_dir)
        sign = [r for r in records if r["eventName"] == "Sign"][-1]
        self.assertEqual(sign["requestParameters"]["signingAlgorithm"], "ECDSA_SHA_256")
        self.assertEqual(sign["requestParameters"]["messageType"], "RAW")
        self.assertIn(key_id, sign["requestParameters"]["keyId"])
        self.assertIsNone(sign.get("responseElements"))
        generate_mac = [r for r in records if r["eventName"] == "GenerateMac"][-1]
        self.assertEqual(generate_mac["requestParameters"]["macAlgorithm"], "HMAC_SHA_256")
        trail = json.dumps(records)
        for secret in (MESSAGE, signature, mac):
            self.assertNotIn(base64.b64encode(secret).decode(), trail)
        self.assertNotIn("SECRET-MESSAGE-4711", trail)


if __name__ == "__main__":
    unittest.main()
