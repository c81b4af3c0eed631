# requires: modern-boto3
"""RSA encryption, data key pairs and key agreement (issue 13) through boto3 and the aws CLI, proved
by OpenSSL, which is not kmsd's: RSA-OAEP ciphertext that `openssl pkeyutl -encrypt` makes with
GetPublicKey's key decrypts in kmsd; data key pairs load in `openssl pkey` and their public key is
the private key's; DeriveSharedSecret equals `openssl pkeyutl -derive` on the peer's side. Errors
are AWS's types, and the audit trail records the algorithms and specs but never a private key, a
shared secret or a plaintext."""
import base64
import json
import os
import shutil
import tempfile
import unittest

from kmsd_harness import ACCOUNT_ID, MODERN_AWS_CLI, REGION, KmsdTestCase, audit_records, openssl

PLAINTEXT = b"SECRET-PLAINTEXT-4711 sealed outside kmsd"
KEY_PAIR_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                  "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
CURVES = {"ECC_NIST_P256": ("P-256", 32), "ECC_NIST_P384": ("P-384", 48),
          "ECC_NIST_P521": ("P-521", 66)}


def arn(key_id):
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


class RsaKeyPairsAndAgreement(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="kmsd-rsa-")
        cls.keys = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def key(self, spec, usage):
        if (spec, usage) not in self.keys:
            created = self.kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
            self.keys[(spec, usage)] = created["KeyId"]
        return self.keys[(spec, usage)]

    def path(self, name, content=None):
        path = os.path.join(self.work, name)
        if content is not None:
            with open(path, "wb") as out:
                out.write(content)
        return path

    def read(self, path):
        with open(path, "rb") as source:
            return source.read()

    def public_key_pem(self, key_id):
        der = self.path(f"{key_id}.der", self.kms.get_public_key(KeyId=key_id)["PublicKey"])
        pem = self.path(f"{key_id}.pem")
        openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem)
        return pem

    # --- Encrypt, Decrypt, ReEncrypt with RSA keys ---

    def test_openssl_oaep_ciphertext_decrypts_in_kmsd(self):
        key_id = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        pem = self.public_key_pem(key_id)
        plain = self.path("oaep-plain", PLAINTEXT)
        for md, algorithm in (("sha256", "RSAES_OAEP_SHA_256"), ("sha1", "RSAES_OAEP_SHA_1")):
            with self.subTest(algorithm=algorithm):
                out = self.path(f"oaep-{md}.bin")
                openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", plain, "-out", out,
                        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}")
                decrypted = self.kms.decrypt(KeyId=key_id, CiphertextBlob=self.read(out),
                                             EncryptionAlgorithm=algorithm)
                self.assertEqual(decrypted["Plaintext"], PLAINTEXT)
                self.assertEqual(decrypted["EncryptionAlgorithm"], algorithm)
                self.assertEqual(decrypted["KeyId"], arn(key_id))

    def test_encrypt_gives_the_raw_oaep_ciphertext_of_the_modulus_length(self):
        for spec, length in (("RSA_2048", 256), ("RSA_3072", 384), ("RSA_4096", 512)):
            key_id = self.key(spec, "ENCRYPT_DECRYPT")
            with self.subTest(spec=spec):
                encrypted = self.kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT,
                                             EncryptionAlgorithm="RSAES_OAEP_SHA_256")
                self.assertEqual(len(encrypted["CiphertextBlob"]), length)
                self.assertEqual(encrypted["EncryptionAlgorithm"], "RSAES_OAEP_SHA_256")
                self.assertEqual(encrypted["KeyId"], arn(key_id))
                again = self.kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT,
                                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")
                self.assertNotEqual(again["CiphertextBlob"], encrypted["CiphertextBlob"])
                decrypted = self.kms.decrypt(KeyId=key_id,
                                             CiphertextBlob=encrypted["CiphertextBlob"],
                                             EncryptionAlgorithm="RSAES_OAEP_SHA_256")
                self.assertEqual(decrypted["Plaintext"], PLAINTEXT)

    def test_plaintext_limits_are_aws_s_per_spec_and_algorithm(self):
        key_id = self.key("RSA_3072", "ENCRYPT_DECRYPT")
        for algorithm, limit in (("RSAES_OAEP_SHA_1", 342), ("RSAES_OAEP_SHA_256", 318)):
            with self.subTest(algorithm=algorithm):
                self.kms.encrypt(KeyId=key_id, Plaintext=b"a" * limit,
                                 EncryptionAlgorithm=algorithm)
                error = self.assertAwsError("ValidationException", self.kms.encrypt,
                                            KeyId=key_id, Plaintext=b"a" * (limit + 1),
                                            EncryptionAlgorithm=algorithm)
                self.assertIn(str(limit), error.response["Error"]["Message"])

    def test_decrypt_needs_the_key_and_its_algorithm(self):
        key_id = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT,
                                EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
        self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=blob)
        error = self.assertAwsError("InvalidKeyUsageException", self.kms.decrypt, KeyId=key_id,
                                    CiphertextBlob=blob)
        self.assertEqual(error.response["Error"]["Message"],
                         "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
        self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, KeyId=key_id,
                            CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
        flipped = bytearray(blob)
        flipped[100] ^= 1
        self.assertAwsError("InvalidCiphertextException", self.kms.decrypt, KeyId=key_id,
                            CiphertextBlob=bytes(flipped), EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertAwsError("ValidationException", self.kms.decrypt, KeyId=key_id,
                            CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                            EncryptionContext={"purpose": "test"})

    def test_encrypt_refuses_algorithms_the_key_does_not_support(self):
        rsa = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        error = self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=rsa,
                                    Plaintext=PLAINTEXT)
        self.assertEqual(error.response["Error"]["Message"],
                         "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
        self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=rsa,
                            Plaintext=PLAINTEXT, EncryptionAlgorithm="SM2PKE")
        symmetric = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=symmetric,
                            Plaintext=PLAINTEXT, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
        signing = self.key("RSA_2048", "SIGN_VERIFY")
        error = self.assertAwsError("InvalidKeyUsageException", self.kms.encrypt, KeyId=signing,
                                    Plaintext=PLAINTEXT, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertIn("SIGN_VERIFY", error.response["Error"]["Message"])
        self.assertAwsError("ValidationException", self.kms.encrypt, KeyId=rsa,
                            Plaintext=PLAINTEXT, EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                            EncryptionContext={"purpose": "test"})

    def test_re_encrypt_moves_between_symmetric_and_rsa_keys_both_ways(self):
        rsa = self.key("RSA_4096", "ENCRYPT_DECRYPT")
        symmetric = self.kms.create_key()["KeyMetadata"]["KeyId"]
        blob = self.kms.encrypt(KeyId=symmetric, Plaintext=PLAINTEXT,
                                EncryptionContext={"stage": "one"})["CiphertextBlob"]
        to_rsa = self.kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"stage": "one"},
                                     DestinationKeyId=rsa,
                                     DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1")
        self.assertEqual(to_rsa["SourceKeyId"], arn(symmetric))
        self.assertEqual(to_rsa["KeyId"], arn(rsa))
        self.assertEqual(to_rsa["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(to_rsa["DestinationEncryptionAlgorithm"], "RSAES_OAEP_SHA_1")
        self.assertEqual(len(to_rsa["CiphertextBlob"]), 512)
        self.assertEqual(self.kms.decrypt(KeyId=rsa, CiphertextBlob=to_rsa["CiphertextBlob"],
                                          EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"],
                         PLAINTEXT)
        back = self.kms.re_encrypt(CiphertextBlob=to_rsa["CiphertextBlob"], SourceKeyId=rsa,
                                   SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                                   DestinationKeyId=symmetric,
                                   DestinationEncryptionContext={"stage": "two"})
        self.assertEqual(back["SourceEncryptionAlgorithm"], "RSAES_OAEP_SHA_1")
        self.assertEqual(back["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=back["CiphertextBlob"],
                                          EncryptionContext={"stage": "two"})["Plaintext"],
                         PLAINTEXT)
        self.assertAwsError("ValidationException", self.kms.re_encrypt,
                            CiphertextBlob=to_rsa["CiphertextBlob"],
                            SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                            DestinationKeyId=symmetric)
        self.assertAwsError("InvalidKeyUsageException", self.kms.re_encrypt, CiphertextBlob=blob,
                            SourceEncryptionContext={"stage": "one"}, DestinationKeyId=rsa)

    def test_aws_cli_encrypts_and_decrypts_with_an_rsa_key(self):
        key_id = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        plain = self.path("cli-plain", PLAINTEXT)
        encrypted = self.server.aws("encrypt", "--key-id", key_id, "--plaintext",
                                    f"fileb://{plain}", "--encryption-algorithm",
                                    "RSAES_OAEP_SHA_256", cli=MODERN_AWS_CLI)
        self.assertEqual(encrypted["EncryptionAlgorithm"], "RSAES_OAEP_SHA_256")
        blob = self.path("cli-blob", base64.b64decode(encrypted["CiphertextBlob"]))
        decrypted = self.server.aws("decrypt", "--key-id", key_id, "--ciphertext-blob",
                                    f"fileb://{blob}", "--encryption-algorithm",
                                    "RSAES_OAEP_SHA_256", cli=MODERN_AWS_CLI)
        self.assertEqual(base64.b64decode(decrypted["Plaintext"]), PLAINTEXT)

    # --- GenerateDataKeyPair[WithoutPlaintext] ---

    def test_every_data_key_pair_loads_in_openssl_and_its_public_key_is_the_private_keys(self):
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        for spec in KEY_PAIR_SPECS:
            with self.subTest(spec=spec):
                pair = self.kms.generate_data_key_pair(KeyId=wrapping, KeyPairSpec=spec,
                                                       EncryptionContext={"spec": spec})
                self.assertEqual(pair["KeyPairSpec"], spec)
                self.assertEqual(pair["KeyId"], arn(wrapping))
                private = self.path(f"{spec}.p8", pair["PrivateKeyPlaintext"])
                # PKCS#8 DER loads; the public key derived from it is the one kmsd answered.
                derived = self.path(f"{spec}.pub.der")
                openssl("pkey", "-inform", "DER", "-in", private, "-pubout", "-outform", "DER",
                        "-out", derived)
                self.assertEqual(self.read(derived), pair["PublicKey"])
                openssl("pkey", "-pubin", "-inform", "DER",
                        "-in", self.path(f"{spec}.pub", pair["PublicKey"]), "-noout")
                decrypted = self.kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"],
                                             EncryptionContext={"spec": spec})
                self.assertEqual(decrypted["Plaintext"], pair["PrivateKeyPlaintext"])
                self.assertAwsError("InvalidCiphertextException", self.kms.decrypt,
                                    CiphertextBlob=pair["PrivateKeyCiphertextBlob"])

    def test_without_plaintext_the_private_key_comes_only_from_decrypt(self):
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        pair = self.kms.generate_data_key_pair_without_plaintext(KeyId=wrapping,
                                                                 KeyPairSpec="ECC_NIST_P256")
        self.assertNotIn("PrivateKeyPlaintext", pair)
        self.assertEqual(pair["KeyPairSpec"], "ECC_NIST_P256")
        private = self.kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
        derived = self.path("without.pub.der")
        openssl("pkey", "-inform", "DER", "-in", self.path("without.p8", private), "-pubout",
                "-outform", "DER", "-out", derived)
        self.assertEqual(self.read(derived), pair["PublicKey"])

    def test_data_key_pairs_refuse_sm2_other_key_kinds_and_a_recipient(self):
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        error = self.assertAwsError("UnsupportedOperationException",
                                    self.kms.generate_data_key_pair, KeyId=wrapping,
                                    KeyPairSpec="SM2")
        self.assertIn("China", error.response["Error"]["Message"])
        for key_id in (self.key("RSA_2048", "ENCRYPT_DECRYPT"),
                       self.key("ECC_NIST_P256", "SIGN_VERIFY")):
            self.assertAwsError("InvalidKeyUsageException",
                                self.kms.generate_data_key_pair_without_plaintext, KeyId=key_id,
                                KeyPairSpec="RSA_2048")
        self.assertAwsError("ValidationException", self.unchecked.generate_data_key_pair,
                            KeyId=wrapping, KeyPairSpec="RSA_1024")
        self.assertAwsError("ValidationException", self.kms.generate_data_key_pair,
                            KeyId=wrapping, KeyPairSpec="ECC_NIST_P256",
                            Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                                       "AttestationDocument": b"not an attestation document"})

    def test_aws_cli_generates_a_data_key_pair(self):
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        pair = self.server.aws("generate-data-key-pair", "--key-id", wrapping, "--key-pair-spec",
                               "RSA_2048", cli=MODERN_AWS_CLI)
        self.assertEqual(pair["KeyPairSpec"], "RSA_2048")
        private = self.path("cli.p8", base64.b64decode(pair["PrivateKeyPlaintext"]))
        derived = self.path("cli.pub.der")
        openssl("pkey", "-inform", "DER", "-in", private, "-pubout", "-outform", "DER",
                "-out", derived)
        self.assertEqual(self.read(derived), base64.b64decode(pair["PublicKey"]))

    # --- DeriveSharedSecret ---

    def peer(self, curve):
        """A peer's key pair made by OpenSSL: (private PEM path, public DER bytes)."""
        private = self.path(f"peer-{curve}.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                "-out", private)
        public = self.path(f"peer-{curve}.pub.der")
        openssl("pkey", "-in", private, "-pubout", "-outform", "DER", "-out", public)
        return private, self.read(public)

    def test_shared_secret_equals_openssl_derive_on_the_peer_s_side(self):
        for spec, (curve, size) in CURVES.items():
            key_id = self.key(spec, "KEY_AGREEMENT")
            with self.subTest(spec=spec):
                peer_private, peer_public = self.peer(curve)
                derived = self.kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH",
                                                        PublicKey=peer_public)
                self.assertEqual(len(derived["SharedSecret"]), size)
                self.assertEqual(derived["KeyAgreementAlgorithm"], "ECDH")
                self.assertEqual(derived["KeyOrigin"], "AWS_KMS")
                self.assertEqual(derived["KeyId"], arn(key_id))
                secret = self.path(f"secret-{curve}")
                openssl("pkeyutl", "-derive", "-inkey", peer_private, "-peerkey",
                        self.public_key_pem(key_id), "-out", secret)
                self.assertEqual(derived["SharedSecret"], self.read(secret))

    def test_derive_shared_secret_validates_the_peer_key_as_aws(self):
        key_id = self.key("ECC_NIST_P256", "KEY_AGREEMENT")
        _, other_curve = self.peer("P-384")
        error = self.assertAwsError("ValidationException", self.kms.derive_shared_secret,
                                    KeyId=key_id, KeyAgreementAlgorithm="ECDH",
                                    PublicKey=other_curve)
        self.assertIn("same curve", error.response["Error"]["Message"])
        _, good = self.peer("P-256")
        off_curve = bytearray(good)
        off_curve[-1] ^= 1
        error = self.assertAwsError("ValidationException", self.kms.derive_shared_secret,
                                    KeyId=key_id, KeyAgreementAlgorithm="ECDH",
                                    PublicKey=bytes(off_curve))
        self.assertIn("not a valid point", error.response["Error"]["Message"])
        # Base64 of the DER instead of the DER (the CLI v1 mistake the docs warn about).
        self.assertAwsError("ValidationException", self.kms.derive_shared_secret, KeyId=key_id,
                            KeyAgreementAlgorithm="ECDH", PublicKey=base64.b64encode(good))
        rsa_public = self.kms.get_public_key(KeyId=self.key("RSA_2048", "SIGN_VERIFY"))["PublicKey"]
        self.assertAwsError("ValidationException", self.kms.derive_shared_secret, KeyId=key_id,
                            KeyAgreementAlgorithm="ECDH", PublicKey=rsa_public)
        self.assertAwsError("InvalidKeyUsageException", self.kms.derive_shared_secret,
                            KeyId=self.key("ECC_NIST_P256", "SIGN_VERIFY"),
                            KeyAgreementAlgorithm="ECDH", PublicKey=good)
        self.assertAwsError("ValidationException", self.unchecked.derive_shared_secret,
                            KeyId=key_id, KeyAgreementAlgorithm="X25519", PublicKey=good)

    def test_key_agreement_usage_is_for_nist_curves_only(self):
        described = self.kms.describe_key(KeyId=self.key("ECC_NIST_P521", "KEY_AGREEMENT"))
        self.assertEqual(described["KeyMetadata"]["KeyAgreementAlgorithms"], ["ECDH"])
        self.assertNotIn("SigningAlgorithms", described["KeyMetadata"])
        for spec in ("ECC_SECG_P256K1", "RSA_2048", "HMAC_256", "SYMMETRIC_DEFAULT"):
            self.assertAwsError("ValidationException", self.kms.create_key, KeySpec=spec,
                                KeyUsage="KEY_AGREEMENT")

    def test_dry_run_checks_everything_and_answers_dry_run_operation(self):
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertAwsError("DryRunOperationException", self.kms.generate_data_key_pair,
                            KeyId=wrapping, KeyPairSpec="ECC_NIST_P256", DryRun=True)
        key_id = self.key("ECC_NIST_P256", "KEY_AGREEMENT")
        _, peer_public = self.peer("P-256")
        self.assertAwsError("DryRunOperationException", self.kms.derive_shared_secret,
                            KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_public,
                            DryRun=True)
        # A DryRun that would fail answers the failure.
        _, other_curve = self.peer("P-384")
        self.assertAwsError("ValidationException", self.kms.derive_shared_secret, KeyId=key_id,
                            KeyAgreementAlgorithm="ECDH", PublicKey=other_curve, DryRun=True)
        rsa = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        self.assertAwsError("DryRunOperationException", self.kms.encrypt, KeyId=rsa,
                            Plaintext=PLAINTEXT, EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                            DryRun=True)

    def test_aws_cli_derives_a_shared_secret(self):
        key_id = self.key("ECC_NIST_P256", "KEY_AGREEMENT")
        peer_private, peer_public = self.peer("P-256")
        public_path = self.path("cli-peer.der", peer_public)
        derived = self.server.aws("derive-shared-secret", "--key-id", key_id,
                                  "--key-agreement-algorithm", "ECDH", "--public-key",
                                  f"fileb://{public_path}", cli=MODERN_AWS_CLI)
        secret = self.path("cli-secret")
        openssl("pkeyutl", "-derive", "-inkey", peer_private, "-peerkey",
                self.public_key_pem(key_id), "-out", secret)
        self.assertEqual(base64.b64decode(derived["SharedSecret"]), self.read(secret))

    # --- The audit trail ---

    def test_audit_records_algorithms_and_specs_but_no_secret(self):
        rsa = self.key("RSA_2048", "ENCRYPT_DECRYPT")
        blob = self.kms.encrypt(KeyId=rsa, Plaintext=PLAINTEXT,
                                EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
        self.kms.decrypt(KeyId=rsa, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        wrapping = self.kms.create_key()["KeyMetadata"]["KeyId"]
        pair = self.kms.generate_data_key_pair(KeyId=wrapping, KeyPairSpec="ECC_NIST_P256")
        agreement = self.key("ECC_NIST_P256", "KEY_AGREEMENT")
        _, peer_public = self.peer("P-256")
        secret = self.kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH",
                                               PublicKey=peer_public)["SharedSecret"]
        records = audit_records(self.server.data_dir)

        def last(name):
            return [r for r in records if r["eventName"] == name][-1]

        encrypt = last("Encrypt")
        self.assertEqual(encrypt["requestParameters"]["encryptionAlgorithm"], "RSAES_OAEP_SHA_256")
        self.assertIsNone(encrypt.get("responseElements"))
        self.assertEqual(last("Decrypt")["requestParameters"]["encryptionAlgorithm"],
                         "RSAES_OAEP_SHA_256")
        generate = last("GenerateDataKeyPair")
        self.assertEqual(generate["requestParameters"]["keyPairSpec"], "ECC_NIST_P256")
        self.assertIsNone(generate.get("responseElements"))
        derive = last("DeriveSharedSecret")
        self.assertEqual(derive["requestParameters"]["keyAgreementAlgorithm"], "ECDH")
        self.assertNotIn("publicKey", derive["requestParameters"])
        self.assertIsNone(derive.get("responseElements"))
        trail = json.dumps(records)
        for value in (PLAINTEXT, pair["PrivateKeyPlaintext"], secret):
            self.assertNotIn(base64.b64encode(value).decode(), trail)
        self.assertNotIn("SECRET-PLAINTEXT-4711", trail)


if __name__ == "__main__":
    unittest.main()
