# requires: modern-boto3
"""Imported key material (issue 13) through boto3 and the aws CLI, proved with tools that are not
kmsd's: key material wrapped by the `openssl` CLI (pkeyutl RSA-OAEP with SHA-256 and SHA-1; `enc
-id-aes256-wrap-pad` + pkeyutl for RSA_AES_KEY_WRAP) imports; RSA and EC private keys made by
`openssl genpkey` import into asymmetric EXTERNAL keys, and signatures cross between OpenSSL and
kmsd both ways. Keys of Origin EXTERNAL wait in PendingImport and refuse cryptography as AWS does;
deleted or expired material (the scheduler, under the test clock) makes old blobs fail until the
same material is imported again; errors and audit records are what AWS gives."""
import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import boto3
import botocore.config

from kmsd_harness import (MODERN_AWS_CLI, TEST_CLOCK_ARGS, TEST_CLOCK_ENV, KmsdServer,
                          KmsdTestCase, audit_records)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
NO_EXPIRY = "KEY_MATERIAL_DOES_NOT_EXPIRE"
MESSAGE = b"signed by one side, verified by the other"


def openssl(*args, check=True):
    result = subprocess.run([OPENSSL, *args], capture_output=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {result.stderr.decode()}")
    return result


class OpenSslWrapper:
    """Wraps material the way AWS's developer guide does it with the openssl CLI."""

    def __init__(self, work):
        self.work = work

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as out:
            out.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as source:
            return source.read()

    def oaep(self, public_key_der, material_path, digest, out_name):
        self.write("wrapping.der", public_key_der)
        openssl("pkeyutl", "-encrypt", "-in", material_path, "-out", self.path(out_name),
                "-inkey", self.path("wrapping.der"), "-keyform", "DER", "-pubin",
                "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{digest}",
                "-pkeyopt", f"rsa_mgf1_md:{digest}")
        return self.read(out_name)

    def wrap(self, parameters, algorithm, material_path):
        digest = "sha1" if algorithm.endswith("SHA_1") else "sha256"
        if algorithm.startswith("RSAES_OAEP"):
            return self.oaep(parameters["PublicKey"], material_path, digest, "wrapped.bin")
        aes_key = os.urandom(32)
        self.write("aes.bin", aes_key)
        openssl("enc", "-id-aes256-wrap-pad", "-K", aes_key.hex(), "-iv", "A65959A6",
                "-in", material_path, "-out", self.path("material-wrapped.bin"))
        wrapped_key = self.oaep(parameters["PublicKey"], self.path("aes.bin"), digest,
                                "aes-wrapped.bin")
        return wrapped_key + self.read("material-wrapped.bin")


class ImportedKeyMaterial(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="kmsd-import-")
        cls.wrapper = OpenSslWrapper(cls.work)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def external_key(self, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT"):
        return self.kms.create_key(KeySpec=spec, KeyUsage=usage,
                                   Origin="EXTERNAL")["KeyMetadata"]["KeyId"]

    def import_file(self, key_id, material_path, algorithm="RSAES_OAEP_SHA_256",
                    wrapping_spec="RSA_2048", **extra):
        parameters = self.kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_spec)
        wrapped = self.wrapper.wrap(parameters, algorithm, material_path)
        if "ValidTo" not in extra:
            extra.setdefault("ExpirationModel", NO_EXPIRY)
        return self.kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                            EncryptedKeyMaterial=wrapped, **extra)

    def material_file(self, name, data):
        return self.wrapper.write(name, data)

    def state(self, key_id):
        return self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]

    def test_external_key_waits_in_pending_import_and_refuses_cryptography(self):
        key_id = self.external_key()
        meta = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual((meta["Origin"], meta["KeyState"], meta["Enabled"]),
                         ("EXTERNAL", "PendingImport", False))
        self.assertNotIn("ExpirationModel", meta)
        error = self.assertAwsError("KMSInvalidStateException", self.kms.encrypt, KeyId=key_id,
                                    Plaintext=b"x")
        self.assertEqual(error.response["Error"]["Message"], f"{meta['Arn']} is pending import.")
        self.assertAwsError("KMSInvalidStateException", self.kms.generate_data_key, KeyId=key_id,
                            KeySpec="AES_256")
        self.assertAwsError("KMSInvalidStateException", self.kms.enable_key, KeyId=key_id)
        ecc = self.external_key("ECC_NIST_P256", "SIGN_VERIFY")
        self.assertAwsError("KMSInvalidStateException", self.kms.sign, KeyId=ecc, Message=b"m",
                            SigningAlgorithm="ECDSA_SHA_256")
        self.assertAwsError("KMSInvalidStateException", self.kms.get_public_key, KeyId=ecc)
        hmac_key = self.external_key("HMAC_384", "GENERATE_VERIFY_MAC")
        self.assertAwsError("KMSInvalidStateException", self.kms.generate_mac, KeyId=hmac_key,
                            Message=b"m", MacAlgorithm="HMAC_SHA_384")

    def test_symmetric_material_wrapped_by_openssl_oaep_sha256_and_sha1_imports(self):
        material = os.urandom(32)
        path = self.material_file("symmetric.bin", material)
        for algorithm in ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"):
            key_id = self.external_key()
            imported = self.import_file(key_id, path, algorithm, "RSA_3072")
            self.assertRegex(imported["KeyMaterialId"], "^[a-f0-9]{64}$")
            meta = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
            self.assertEqual(meta["KeyState"], "Enabled")
            self.assertEqual(meta["ExpirationModel"], NO_EXPIRY)
            self.assertEqual(meta["CurrentKeyMaterialId"], imported["KeyMaterialId"])
            blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"hello")["CiphertextBlob"]
            self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"hello")

    def test_symmetric_material_wrapped_by_openssl_aes_key_wrap_imports(self):
        path = self.material_file("symmetric-kwp.bin", os.urandom(32))
        for algorithm in ("RSA_AES_KEY_WRAP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1"):
            key_id = self.external_key()
            self.import_file(key_id, path, algorithm, "RSA_2048")
            self.assertEqual(self.state(key_id), "Enabled")

    def test_hmac_material_imports_and_macs_as_openssl_computes(self):
        material = os.urandom(64)
        key_id = self.external_key("HMAC_256", "GENERATE_VERIFY_MAC")
        self.import_file(key_id, self.material_file("hmac.bin", material))
        mac = self.kms.generate_mac(KeyId=key_id, Message=MESSAGE, MacAlgorithm="HMAC_SHA_256")
        message = self.material_file("message.bin", MESSAGE)
        expected = openssl("dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{material.hex()}",
                           "-binary", message)
        self.assertEqual(mac["Mac"], expected.stdout)

    def genpkey_pkcs8(self, name, *algorithm):
        pem = self.wrapper.path(f"{name}.pem")
        der = self.wrapper.path(f"{name}.der")
        openssl("genpkey", *algorithm, "-out", pem)
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER", "-out", der)
        return pem, der

    def signatures_cross(self, key_id, pem, algorithm, digest):
        message = self.material_file("message.bin", MESSAGE)
        # OpenSSL signs with the private key; kmsd verifies.
        signature = openssl("dgst", f"-{digest}", "-sign", pem, message).stdout
        self.kms.verify(KeyId=key_id, Message=MESSAGE, Signature=signature,
                        SigningAlgorithm=algorithm)
        # kmsd signs; OpenSSL verifies with the public key it derives itself.
        public = self.wrapper.path("public.pem")
        openssl("pkey", "-in", pem, "-pubout", "-out", public)
        signed = self.kms.sign(KeyId=key_id, Message=MESSAGE, SigningAlgorithm=algorithm)
        path = self.material_file("kmsd.sig", signed["Signature"])
        verified = openssl("dgst", f"-{digest}", "-verify", public, "-signature", path, message,
                           check=False)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

    def test_rsa_private_key_from_openssl_genpkey_imports_and_signs_both_ways(self):
        pem, der = self.genpkey_pkcs8("rsa", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
        key_id = self.external_key("RSA_2048", "SIGN_VERIFY")
        # AWS: RSA private keys only with an RSA_AES wrapping algorithm.
        self.assertAwsError("UnsupportedOperationException", self.kms.get_parameters_for_import,
                            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                            WrappingKeySpec="RSA_4096")
        imported = self.import_file(key_id, der, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
        self.assertNotIn("KeyMaterialId", imported)
        self.signatures_cross(key_id, pem, "RSASSA_PKCS1_V1_5_SHA_256", "sha256")
        own_public = openssl("pkey", "-in", pem, "-pubout", "-outform", "DER").stdout
        self.assertEqual(self.kms.get_public_key(KeyId=key_id)["PublicKey"], own_public)

    def test_ec_private_key_from_openssl_genpkey_imports_and_signs_both_ways(self):
        pem, der = self.genpkey_pkcs8("ec", "-algorithm", "EC", "-pkeyopt",
                                      "ec_paramgen_curve:P-384")
        key_id = self.external_key("ECC_NIST_P384", "SIGN_VERIFY")
        self.import_file(key_id, der, "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048")
        self.signatures_cross(key_id, pem, "ECDSA_SHA_384", "sha384")
        # The wrong curve is refused as AWS refuses it.
        other = self.external_key("ECC_NIST_P256", "SIGN_VERIFY")
        self.assertAwsError("IncorrectKeyMaterialException", self.import_file, other, der,
                            "RSA_AES_KEY_WRAP_SHA_256")

    def test_get_parameters_for_import_refusals(self):
        generated = self.kms.create_key()["KeyMetadata"]
        error = self.assertAwsError("UnsupportedOperationException",
                                    self.kms.get_parameters_for_import, KeyId=generated["KeyId"],
                                    WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                    WrappingKeySpec="RSA_2048")
        self.assertEqual(error.response["Error"]["Message"],
                         f"{generated['Arn']} origin is AWS_KMS which is not valid for this operation.")
        key_id = self.external_key()
        for algorithm, spec in (("RSAES_PKCS1_V1_5", "RSA_2048"), ("SM2PKE", "SM2")):
            self.assertAwsError("UnsupportedOperationException", self.kms.get_parameters_for_import,
                                KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
        p521 = self.external_key("ECC_NIST_P521", "SIGN_VERIFY")
        self.assertAwsError("UnsupportedOperationException", self.kms.get_parameters_for_import,
                            KeyId=p521, WrappingAlgorithm="RSAES_OAEP_SHA_1",
                            WrappingKeySpec="RSA_2048")
        self.assertAwsError("ValidationException", self.unchecked.get_parameters_for_import,
                            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_512",
                            WrappingKeySpec="RSA_2048")
        self.assertAwsError("NotFoundException", self.kms.get_parameters_for_import,
                            KeyId="alias/none", WrappingAlgorithm="RSAES_OAEP_SHA_256",
                            WrappingKeySpec="RSA_2048")
        parameters = self.kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        valid_for = parameters["ParametersValidTo"] - datetime.datetime.now(datetime.timezone.utc)
        self.assertAlmostEqual(valid_for.total_seconds(), 24 * 3600, delta=120)

    def test_import_errors_are_awss(self):
        path = self.material_file("errors.bin", os.urandom(32))
        key_id = self.external_key()
        other = self.external_key()
        parameters = self.kms.get_parameters_for_import(
            KeyId=other, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        wrapped = self.wrapper.wrap(parameters, "RSAES_OAEP_SHA_256", path)
        self.assertAwsError("InvalidImportTokenException", self.kms.import_key_material,
                            KeyId=key_id, ImportToken=parameters["ImportToken"],
                            EncryptedKeyMaterial=wrapped, ExpirationModel=NO_EXPIRY)
        # KEY_MATERIAL_EXPIRES (the default) without ValidTo.
        self.assertAwsError("ValidationException", self.kms.import_key_material,
                            KeyId=other, ImportToken=parameters["ImportToken"],
                            EncryptedKeyMaterial=wrapped)
        self.assertAwsError("InvalidCiphertextException", self.kms.import_key_material,
                            KeyId=other, ImportToken=parameters["ImportToken"],
                            EncryptedKeyMaterial=wrapped[:-1] + bytes([wrapped[-1] ^ 1]),
                            ExpirationModel=NO_EXPIRY)
        self.import_file(other, path)
        different = self.material_file("different.bin", os.urandom(32))
        self.assertAwsError("IncorrectKeyMaterialException", self.import_file, other, different)
        short = self.material_file("short.bin", os.urandom(16))
        self.assertAwsError("IncorrectKeyMaterialException", self.import_file, key_id, short)
        self.assertAwsError("UnsupportedOperationException", self.kms.enable_key_rotation,
                            KeyId=other)
        # On-demand rotation of an imported key needs new material imported for it first.
        error = self.assertAwsError("KMSInvalidStateException", self.kms.rotate_key_on_demand,
                                    KeyId=other)
        arn = self.kms.describe_key(KeyId=other)["KeyMetadata"]["Arn"]
        self.assertEqual(error.response["Error"]["Message"],
                         f"No available key material pending rotation for the key: {arn}.")
        self.assertFalse(self.kms.get_key_rotation_status(KeyId=other)["KeyRotationEnabled"])

    def test_deleted_material_fails_old_blobs_until_the_same_material_returns(self):
        path = self.material_file("deleted.bin", os.urandom(32))
        key_id = self.external_key()
        material_id = self.import_file(key_id, path)["KeyMaterialId"]
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
        deleted = self.kms.delete_imported_key_material(KeyId=key_id)
        self.assertEqual(deleted["KeyMaterialId"], material_id)
        self.assertEqual(self.state(key_id), "PendingImport")
        self.assertAwsError("KMSInvalidStateException", self.kms.decrypt, CiphertextBlob=blob)
        self.import_file(key_id, path, "RSA_AES_KEY_WRAP_SHA_256",
                         KeyMaterialId=material_id, ImportType="EXISTING_KEY_MATERIAL")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"kept")

    def rows(self, key_id, include="ALL_KEY_MATERIAL"):
        return self.kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial=include)["Rotations"]

    def test_new_material_rotates_on_demand_and_old_blobs_keep_their_material(self):
        first_path = self.material_file("first.bin", os.urandom(32))
        second_path = self.material_file("second.bin", os.urandom(32))
        key_id = self.external_key()
        first = self.import_file(key_id, first_path, KeyMaterialDescription="first one")
        old_blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
        # Without ImportType, other material is refused: it defaults to EXISTING_KEY_MATERIAL.
        self.assertAwsError("IncorrectKeyMaterialException", self.import_file, key_id,
                            second_path)
        second = self.import_file(key_id, second_path, "RSA_AES_KEY_WRAP_SHA_256",
                                  ImportType="NEW_KEY_MATERIAL",
                                  KeyMaterialDescription="second one")
        self.assertNotEqual(second["KeyMaterialId"], first["KeyMaterialId"])
        meta = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(meta["CurrentKeyMaterialId"], first["KeyMaterialId"])
        self.assertEqual(self.rows(key_id, "ROTATIONS_ONLY"), [])
        rows = self.rows(key_id)
        self.assertEqual([(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"],
                           r["KeyMaterialDescription"]) for r in rows],
                         [(first["KeyMaterialId"], "CURRENT", "IMPORTED", "first one"),
                          (second["KeyMaterialId"], "PENDING_ROTATION", "IMPORTED", "second one")])
        self.assertTrue(all("RotationDate" not in r and "RotationType" not in r for r in rows))
        self.assertEqual(rows[0]["ExpirationModel"], NO_EXPIRY)
        # One new material at a time, in AWS's words.
        third_path = self.material_file("third.bin", os.urandom(32))
        error = self.assertAwsError("KMSInvalidStateException", self.import_file, key_id,
                                    third_path, ImportType="NEW_KEY_MATERIAL")
        self.assertIn(f"cannot be imported into KMS key {key_id}, because another key material "
                      f"(id: {second['KeyMaterialId']}) is pending rotation.",
                      error.response["Error"]["Message"])

        self.assertEqual(self.kms.rotate_key_on_demand(KeyId=key_id)["KeyId"], meta["Arn"])
        meta = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(meta["CurrentKeyMaterialId"], second["KeyMaterialId"])
        rotations = self.rows(key_id, "ROTATIONS_ONLY")
        self.assertEqual(len(rotations), 1)
        self.assertEqual((rotations[0]["KeyMaterialId"], rotations[0]["KeyMaterialState"],
                          rotations[0]["RotationType"]),
                         (second["KeyMaterialId"], "CURRENT", "ON_DEMAND"))
        self.assertIn("RotationDate", rotations[0])
        self.assertEqual([r["KeyMaterialState"] for r in self.rows(key_id)],
                         ["NON_CURRENT", "CURRENT"])
        new_blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
        old = self.kms.decrypt(CiphertextBlob=old_blob)
        self.assertEqual((old["Plaintext"], old["KeyMaterialId"]), (b"old", first["KeyMaterialId"]))
        new = self.kms.decrypt(CiphertextBlob=new_blob)
        self.assertEqual((new["Plaintext"], new["KeyMaterialId"]),
                         (b"new", second["KeyMaterialId"]))
        moved = self.kms.re_encrypt(CiphertextBlob=old_blob, DestinationKeyId=key_id)
        self.assertEqual((moved["SourceKeyMaterialId"], moved["DestinationKeyMaterialId"]),
                         (first["KeyMaterialId"], second["KeyMaterialId"]))
        data_key = self.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        self.assertEqual(data_key["KeyMaterialId"], second["KeyMaterialId"])

        # The old material deleted: the whole key waits for it; its reimport brings all back.
        deleted = self.kms.delete_imported_key_material(KeyId=key_id,
                                                        KeyMaterialId=first["KeyMaterialId"])
        self.assertEqual(deleted["KeyMaterialId"], first["KeyMaterialId"])
        self.assertEqual(self.state(key_id), "PendingImport")
        self.assertEqual([r["ImportState"] for r in self.rows(key_id)],
                         ["PENDING_IMPORT", "IMPORTED"])
        self.assertAwsError("KMSInvalidStateException", self.kms.decrypt, CiphertextBlob=new_blob)
        self.import_file(key_id, first_path, ImportType="EXISTING_KEY_MATERIAL",
                         KeyMaterialId=first["KeyMaterialId"])
        self.assertEqual(self.state(key_id), "Enabled")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=old_blob)["Plaintext"], b"old")
        # Audited with the new members, never the material.
        records = [r for r in audit_records(self.server.data_dir)
                   if key_id in json.dumps(r.get("requestParameters"))]
        imports = [r["requestParameters"] for r in records
                   if r["eventName"] == "ImportKeyMaterial" and "errorCode" not in r]
        self.assertIn({"importType": "NEW_KEY_MATERIAL", "keyMaterialDescription": "second one"},
                      [{k: p[k] for k in ("importType", "keyMaterialDescription") if k in p}
                       for p in imports])
        self.assertEqual(imports[-1]["keyMaterialId"], first["KeyMaterialId"])
        deletes = [r for r in records if r["eventName"] == "DeleteImportedKeyMaterial"]
        self.assertEqual(deletes[-1]["requestParameters"]["keyMaterialId"],
                         first["KeyMaterialId"])
        self.assertIn("RotateKeyOnDemand", [r["eventName"] for r in records])

    def test_material_pending_rotation_is_deleted_without_touching_the_key(self):
        key_id = self.external_key()
        self.import_file(key_id, self.material_file("kept.bin", os.urandom(32)))
        pending = self.import_file(key_id, self.material_file("dropped.bin", os.urandom(32)),
                                   ImportType="NEW_KEY_MATERIAL")
        deleted = self.kms.delete_imported_key_material(KeyId=key_id,
                                                        KeyMaterialId=pending["KeyMaterialId"])
        self.assertEqual(deleted["KeyMaterialId"], pending["KeyMaterialId"])
        self.assertEqual(self.state(key_id), "Enabled")
        self.assertEqual(len(self.rows(key_id)), 1)
        self.assertAwsError("NotFoundException", self.kms.delete_imported_key_material,
                            KeyId=key_id, KeyMaterialId=pending["KeyMaterialId"])
        # Another new material may take its place.
        self.import_file(key_id, self.material_file("other.bin", os.urandom(32)),
                         ImportType="NEW_KEY_MATERIAL")
        self.assertEqual([r["KeyMaterialState"] for r in self.rows(key_id)],
                         ["CURRENT", "PENDING_ROTATION"])

    def test_generated_symmetric_keys_name_their_material_too(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        first = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        self.assertRegex(first, "^[a-f0-9]{64}$")
        blob = self.kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        self.kms.rotate_key_on_demand(KeyId=key_id)
        second = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        self.assertNotEqual(first, second)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["KeyMaterialId"], first)
        self.assertEqual([(r["KeyMaterialId"], r["KeyMaterialState"]) for r in self.rows(key_id)],
                         [(first, "NON_CURRENT"), (second, "CURRENT")])
        self.assertTrue(all("ImportState" not in r for r in self.rows(key_id)))
        pair = self.kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
        self.assertEqual(pair["KeyMaterialId"], second)
        hmac = self.kms.create_key(KeySpec="HMAC_256",
                                   KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
        self.assertNotIn("CurrentKeyMaterialId", hmac)

    def test_the_whole_road_with_the_aws_cli(self):
        def aws(*args, check=True):
            return self.server.aws(*args, check=check, cli=MODERN_AWS_CLI)

        key_id = aws("create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
        parameters = aws("get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm",
                         "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048")
        token = self.wrapper.write("cli-token.bin", base64.b64decode(parameters["ImportToken"]))
        path = self.material_file("cli.bin", os.urandom(32))
        wrapped = self.wrapper.oaep(base64.b64decode(parameters["PublicKey"]), path, "sha256",
                                    "cli-wrapped.bin")
        self.assertTrue(wrapped)
        valid_to = (datetime.datetime.now(datetime.timezone.utc) +
                    datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        imported = aws("import-key-material", "--key-id", key_id, "--import-token",
                       f"fileb://{token}", "--encrypted-key-material",
                       f"fileb://{self.wrapper.path('cli-wrapped.bin')}", "--expiration-model",
                       "KEY_MATERIAL_EXPIRES", "--valid-to", valid_to)
        self.assertEqual(len(imported["KeyMaterialId"]), 64)
        meta = aws("describe-key", "--key-id", key_id)["KeyMetadata"]
        self.assertEqual(meta["KeyState"], "Enabled")
        self.assertEqual(meta["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
        self.assertIn("ValidTo", meta)
        # New material and its rotation, by the CLI's own flags.
        new_path = self.material_file("cli-new.bin", os.urandom(32))
        parameters = aws("get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm",
                         "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048")
        token = self.wrapper.write("cli-token.bin", base64.b64decode(parameters["ImportToken"]))
        self.wrapper.oaep(base64.b64decode(parameters["PublicKey"]), new_path, "sha256",
                          "cli-wrapped.bin")
        added = aws("import-key-material", "--key-id", key_id, "--import-token",
                    f"fileb://{token}", "--encrypted-key-material",
                    f"fileb://{self.wrapper.path('cli-wrapped.bin')}", "--expiration-model",
                    NO_EXPIRY, "--import-type", "NEW_KEY_MATERIAL",
                    "--key-material-description", "from the CLI")
        listed = aws("list-key-rotations", "--key-id", key_id, "--include-key-material",
                     "ALL_KEY_MATERIAL")["Rotations"]
        self.assertEqual(listed[-1]["KeyMaterialId"], added["KeyMaterialId"])
        self.assertEqual(listed[-1]["KeyMaterialState"], "PENDING_ROTATION")
        aws("rotate-key-on-demand", "--key-id", key_id)
        meta = aws("describe-key", "--key-id", key_id)["KeyMetadata"]
        self.assertEqual(meta["CurrentKeyMaterialId"], added["KeyMaterialId"])
        aws("delete-imported-key-material", "--key-id", key_id)
        code, _, stderr = aws("encrypt", "--key-id", key_id, "--plaintext", "aGk=", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("KMSInvalidStateException", stderr)

    def test_audit_records_the_import_but_never_token_or_material(self):
        material = os.urandom(32)
        path = self.material_file("audited.bin", material)
        key_id = self.external_key()
        parameters = self.kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048")
        wrapped = self.wrapper.wrap(parameters, "RSA_AES_KEY_WRAP_SHA_256", path)
        self.kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                     EncryptedKeyMaterial=wrapped, ExpirationModel=NO_EXPIRY)
        self.assertAwsError("IncorrectKeyMaterialException", self.import_file, key_id,
                            self.material_file("other.bin", os.urandom(32)))
        self.kms.delete_imported_key_material(KeyId=key_id)
        records = [r for r in audit_records(self.server.data_dir)
                   if key_id in json.dumps(r.get("requestParameters"))]
        by_name = {}
        for record in records:
            by_name.setdefault(record["eventName"], []).append(record)
        get = by_name["GetParametersForImport"][0]
        self.assertEqual(get["requestParameters"]["wrappingAlgorithm"], "RSA_AES_KEY_WRAP_SHA_256")
        self.assertEqual(get["requestParameters"]["wrappingKeySpec"], "RSA_2048")
        imports = by_name["ImportKeyMaterial"]
        self.assertEqual(imports[0]["requestParameters"]["expirationModel"], NO_EXPIRY)
        self.assertNotIn("errorCode", imports[0])
        self.assertEqual(imports[-1]["errorCode"], "IncorrectKeyMaterialException")
        self.assertIn("DeleteImportedKeyMaterial", by_name)
        trail = json.dumps(audit_records(self.server.data_dir))
        for secret in (parameters["ImportToken"], parameters["PublicKey"], wrapped, material):
            self.assertNotIn(base64.b64encode(secret).decode(), trail)


class ImportedMaterialExpiry(unittest.TestCase):
    """The scheduler under kmsd's test clock: material expires at its ValidTo, tokens after 24 h."""

    def test_expired_material_is_deleted_and_the_same_material_brings_blobs_back(self):
        with KmsdServer(extra_args=TEST_CLOCK_ARGS, env=TEST_CLOCK_ENV) as server:
            kms = server.client()
            work = tempfile.mkdtemp(prefix="kmsd-import-expiry-")
            try:
                wrapper = OpenSslWrapper(work)
                path = wrapper.write("material.bin", os.urandom(32))
                key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
                now = server.advance_clock(seconds=1)

                def import_material(valid_to=None):
                    parameters = kms.get_parameters_for_import(
                        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                        WrappingKeySpec="RSA_2048")
                    wrapped = wrapper.wrap(parameters, "RSAES_OAEP_SHA_256", path)
                    extra = ({"ValidTo": valid_to} if valid_to else {"ExpirationModel": NO_EXPIRY})
                    kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                            EncryptedKeyMaterial=wrapped, **extra)
                    return parameters, wrapped

                import_material(datetime.datetime.fromtimestamp(now + 3600, datetime.timezone.utc))
                meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
                self.assertEqual(meta["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
                self.assertEqual(int(meta["ValidTo"].timestamp()), now + 3600)
                blob = kms.encrypt(KeyId=key_id, Plaintext=b"until then")["CiphertextBlob"]
                # The test clock also moves with real time: a margin either side of ValidTo (the
                # exact second is the unit test's).
                server.advance_clock(seconds=3300)
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"until then")
                server.advance_clock(seconds=600)
                meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
                self.assertEqual(meta["KeyState"], "PendingImport")
                self.assertNotIn("ValidTo", meta)
                with self.assertRaises(kms.exceptions.KMSInvalidStateException):
                    kms.decrypt(CiphertextBlob=blob)
                parameters, wrapped = import_material()
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"until then")
                # The token of that import ends 24 h later, its wrapping key with it.
                server.advance_clock(days=1)
                with self.assertRaises(kms.exceptions.ExpiredImportTokenException):
                    kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                            EncryptedKeyMaterial=wrapped,
                                            ExpirationModel=NO_EXPIRY)
            finally:
                shutil.rmtree(work, ignore_errors=True)


class MultiRegionImportedKeyMaterial(unittest.TestCase):
    """Multi-Region keys of Origin EXTERNAL in a kmsd serving two regions: each replica imports its
    primary's material (wrapped by openssl), and a rotation to new material waits for every
    replica (PENDING_MULTI_REGION_IMPORT_AND_ROTATION)."""

    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer()
        cls.server.region = "us-east-1,eu-west-1"
        cls.server.start()
        cls.kms = {region: boto3.client(
            "kms", endpoint_url=cls.server.endpoint, region_name=region,
            aws_access_key_id=cls.server.access_key, aws_secret_access_key=cls.server.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1}))
            for region in ("us-east-1", "eu-west-1")}
        cls.work = tempfile.mkdtemp(prefix="kmsd-import-mrk-")
        cls.wrapper = OpenSslWrapper(cls.work)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        cls.server.stop()

    def import_into(self, region, key_id, path, **extra):
        kms = self.kms[region]
        parameters = kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        wrapped = self.wrapper.wrap(parameters, "RSAES_OAEP_SHA_256", path)
        return kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                       EncryptedKeyMaterial=wrapped, ExpirationModel=NO_EXPIRY,
                                       **extra)

    def error_code(self, call, **kwargs):
        with self.assertRaises(self.kms["us-east-1"].exceptions.ClientError) as raised:
            call(**kwargs)
        return raised.exception.response["Error"]["Code"]

    def states(self, region, key_id):
        rows = self.kms[region].list_key_rotations(KeyId=key_id,
                                                   IncludeKeyMaterial="ALL_KEY_MATERIAL")
        return [(r["KeyMaterialState"], r["ImportState"]) for r in rows["Rotations"]]

    def test_replicas_import_the_primarys_material_and_rotate_with_it(self):
        east, west = self.kms["us-east-1"], self.kms["eu-west-1"]
        key = east.create_key(Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]
        key_id = key["KeyId"]
        self.assertTrue(key_id.startswith("mrk-"))
        # AWS replicates a primary that has its material.
        self.assertEqual(self.error_code(east.replicate_key, KeyId=key_id,
                                         ReplicaRegion="eu-west-1"), "KMSInvalidStateException")
        first = self.wrapper.write("mrk-first.bin", os.urandom(32))
        imported = self.import_into("us-east-1", key_id, first)
        replica = east.replicate_key(KeyId=key_id, ReplicaRegion="eu-west-1")
        self.assertEqual(replica["ReplicaKeyMetadata"]["KeyState"], "PendingImport")
        other = self.wrapper.write("mrk-other.bin", os.urandom(32))
        with self.assertRaises(west.exceptions.IncorrectKeyMaterialException):
            self.import_into("eu-west-1", key_id, other)
        self.assertEqual(self.import_into("eu-west-1", key_id, first)["KeyMaterialId"],
                         imported["KeyMaterialId"])
        blob = east.encrypt(KeyId=key_id, Plaintext=b"across")["CiphertextBlob"]
        self.assertEqual(west.decrypt(CiphertextBlob=blob)["Plaintext"], b"across")

        # New material: the primary first, then every replica, then the rotation.
        second = self.wrapper.write("mrk-second.bin", os.urandom(32))
        self.assertEqual(self.error_code(self.import_into, region="eu-west-1", key_id=key_id,
                                         path=second, ImportType="NEW_KEY_MATERIAL"),
                         "UnsupportedOperationException")
        added = self.import_into("us-east-1", key_id, second, ImportType="NEW_KEY_MATERIAL")
        self.assertEqual(self.states("us-east-1", key_id),
                         [("CURRENT", "IMPORTED"),
                          ("PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "IMPORTED")])
        self.assertEqual(self.error_code(east.rotate_key_on_demand, KeyId=key_id),
                         "KMSInvalidStateException")
        self.import_into("eu-west-1", key_id, second)
        self.assertEqual(self.states("us-east-1", key_id),
                         [("CURRENT", "IMPORTED"), ("PENDING_ROTATION", "IMPORTED")])
        east.rotate_key_on_demand(KeyId=key_id)
        self.assertEqual(west.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"],
                         added["KeyMaterialId"])
        rotated = west.encrypt(KeyId=key_id, Plaintext=b"rotated")
        opened = east.decrypt(CiphertextBlob=rotated["CiphertextBlob"])
        self.assertEqual((opened["Plaintext"], opened["KeyMaterialId"]),
                         (b"rotated", added["KeyMaterialId"]))
        self.assertEqual(west.decrypt(CiphertextBlob=blob)["KeyMaterialId"],
                         imported["KeyMaterialId"])
        # A replica's material deleted: that replica waits; the primary does not.
        west.delete_imported_key_material(KeyId=key_id)
        self.assertEqual(west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"],
                         "PendingImport")
        self.assertEqual(east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"], "Enabled")


if __name__ == "__main__":
    unittest.main()
