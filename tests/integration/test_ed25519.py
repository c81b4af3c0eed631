# requires: modern-boto3
"""Ed25519 KMS keys (ECC_NIST_EDWARDS25519, issue 13) through boto3 1.43 and the aws CLI, proved by
verifiers that are not kmsd's: a pure Ed25519 signature (ED25519_SHA_512, MessageType RAW)
verifies in `openssl pkeyutl -verify -rawin` with GetPublicKey's key; a signature OpenSSL makes
with an imported private key verifies in kmsd; an Ed25519ph signature (ED25519_PH_SHA_512,
MessageType DIGEST) verifies in the small RFC 8032 verifier below (Python integers, independent
of libsodium), which shows that kmsd hashes the caller's SHA-512 digest once more, as AWS's
service model says. Each algorithm refuses the other MessageType; the audit trail records the
algorithm and MessageType, never the message or signature."""
import base64
import hashlib
import json
import os
import shutil
import tempfile
import unittest

from kmsd_harness import MODERN_AWS_CLI, KmsdTestCase, audit_records, openssl

MESSAGE = b"kmsd signs this with Ed25519; others check it. SECRET-ED-MESSAGE-2551"
ALGORITHMS = ["ED25519_SHA_512", "ED25519_PH_SHA_512"]

# ---- RFC 8032 (5.1) verification with Python integers, for Ed25519ph and pure Ed25519.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_MINUS_ONE = pow(2, (P - 1) // 4, P)


def _add(a, b):
    """Edwards addition in extended coordinates (X, Y, Z, T), RFC 8032 5.1.4."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % P
    e2 = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(scalar, point):
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _decode_point(data):
    """RFC 8032 5.1.3; None for a string that is not a point."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_MINUS_ONE % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


_BASE_Y = 4 * pow(5, -1, P) % P
BASE = _decode_point(_BASE_Y.to_bytes(32, "little"))


def rfc8032_verify(public_key, message, signature, prehash):
    """Ed25519 (prehash False) or Ed25519ph with an empty context (prehash True: the message is
    hashed with SHA-512 first, and dom2(1, "") prefixes the challenge hash)."""
    if len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    prefix = b""
    if prehash:
        prefix = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])
        message = hashlib.sha512(message).digest()
    k = int.from_bytes(hashlib.sha512(prefix + signature[:32] + public_key + message).digest(),
                       "little") % L
    return _equal(_multiply(8 * s, BASE), _add(_multiply(8, r), _multiply(8 * k, a)))


class Ed25519Keys(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="kmsd-ed25519-")
        cls.created = cls.kms.create_key(KeySpec="ECC_NIST_EDWARDS25519",
                                         KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        cls.key_id = cls.created["KeyId"]
        cls.public_der = cls.kms.get_public_key(KeyId=cls.key_id)["PublicKey"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)
        super().tearDownClass()

    def path(self, name, data=None):
        path = os.path.join(self.work, name)
        if data is not None:
            with open(path, "wb") as out:
                out.write(data)
        return path

    def wrap_for_import(self, key_id, der, name):
        """GetParametersForImport (RSAES_OAEP_SHA_256, RSA_2048), then OpenSSL wraps the PKCS#8
        file der with the wrapping key: (the parameters, the wrapped material)."""
        parameters = self.kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
        wrapped = self.path(f"{name}-wrapped.bin")
        openssl("pkeyutl", "-encrypt", "-in", der, "-out", wrapped,
                "-inkey", self.path(f"{name}-wrapping.der", parameters["PublicKey"]), "-keyform",
                "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt",
                "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
        with open(wrapped, "rb") as source:
            return parameters, source.read()

    def raw_public_key(self, der):
        # RFC 8410: SubjectPublicKeyInfo of id-Ed25519 (1.3.101.112), then the 32-byte point.
        self.assertEqual(der[:12], bytes.fromhex("302a300506032b6570032100"))
        self.assertEqual(len(der), 44)
        return der[12:]

    def openssl_verifies(self, public_der, message, signature):
        public_pem = self.path("public.pem")
        openssl("pkey", "-pubin", "-inform", "DER", "-in", self.path("public.der", public_der),
                "-out", public_pem)
        result = openssl("pkeyutl", "-verify", "-pubin", "-inkey", public_pem, "-rawin",
                         "-in", self.path("message.bin", message),
                         "-sigfile", self.path("signature.bin", signature), check=False)
        return result.returncode == 0 and b"Signature Verified Successfully" in result.stdout

    def test_independent_verifier_passes_rfc8032_vectors(self):
        """The verifier itself against RFC 8032 7.1 TEST 2 and 7.3 TEST abc, and a flipped bit."""
        test2 = bytes.fromhex(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
            "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        key2 = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        self.assertTrue(rfc8032_verify(key2, b"\x72", test2, prehash=False))
        abc = bytes.fromhex(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a20"
            "03d062adf5aaa10b8c61e636062aaad11c2a26083406")
        key_abc = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
        self.assertTrue(rfc8032_verify(key_abc, b"abc", abc, prehash=True))
        self.assertFalse(rfc8032_verify(key_abc, b"abc", abc, prehash=False))
        self.assertFalse(rfc8032_verify(key_abc, b"abd", abc, prehash=True))
        self.assertFalse(rfc8032_verify(key_abc, b"abc", abc[:-1] + b"\x07", prehash=True))

    def test_create_describe_and_get_public_key_as_aws(self):
        self.assertEqual(self.created["KeySpec"], "ECC_NIST_EDWARDS25519")
        self.assertEqual(self.created["KeyUsage"], "SIGN_VERIFY")
        self.assertEqual(self.created["SigningAlgorithms"], ALGORITHMS)
        self.assertNotIn("EncryptionAlgorithms", self.created)
        described = self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]
        self.assertEqual(described["SigningAlgorithms"], ALGORITHMS)
        self.assertEqual(described["KeySpec"], "ECC_NIST_EDWARDS25519")
        public = self.kms.get_public_key(KeyId=self.key_id)
        self.assertEqual(public["KeySpec"], "ECC_NIST_EDWARDS25519")
        self.assertEqual(public["KeyUsage"], "SIGN_VERIFY")
        self.assertEqual(public["SigningAlgorithms"], ALGORITHMS)
        self.raw_public_key(public["PublicKey"])
        text = openssl("pkey", "-pubin", "-inform", "DER", "-text", "-noout",
                       "-in", self.path("describe.der", public["PublicKey"])).stdout
        self.assertIn(b"ED25519 Public-Key", text)
        # Ed25519 keys sign only.
        for usage in ("KEY_AGREEMENT", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC"):
            self.assertAwsError("ValidationException", self.kms.create_key,
                                KeySpec="ECC_NIST_EDWARDS25519", KeyUsage=usage)

    def test_pure_ed25519_signature_verifies_in_openssl_pkeyutl(self):
        signed = self.kms.sign(KeyId=self.key_id, Message=MESSAGE, MessageType="RAW",
                               SigningAlgorithm="ED25519_SHA_512")
        self.assertEqual(signed["SigningAlgorithm"], "ED25519_SHA_512")
        signature = signed["Signature"]
        self.assertEqual(len(signature), 64)
        self.assertTrue(self.openssl_verifies(self.public_der, MESSAGE, signature))
        self.assertTrue(rfc8032_verify(self.raw_public_key(self.public_der), MESSAGE, signature,
                                       prehash=False))
        verified = self.kms.verify(KeyId=self.key_id, Message=MESSAGE, MessageType="RAW",
                                   Signature=signature, SigningAlgorithm="ED25519_SHA_512")
        self.assertTrue(verified["SignatureValid"])
        tampered = bytes([signature[0] ^ 1]) + signature[1:]
        self.assertFalse(self.openssl_verifies(self.public_der, MESSAGE, tampered))
        self.assertAwsError("KMSInvalidSignatureException", self.kms.verify, KeyId=self.key_id,
                            Message=MESSAGE, MessageType="RAW", Signature=tampered,
                            SigningAlgorithm="ED25519_SHA_512")
        # MessageType defaults to RAW.
        self.assertEqual(self.kms.sign(KeyId=self.key_id, Message=MESSAGE,
                                       SigningAlgorithm="ED25519_SHA_512")["Signature"], signature)

    def test_ed25519ph_signature_hashes_the_digest_again_and_verifies_independently(self):
        digest = hashlib.sha512(MESSAGE).digest()
        signature = self.kms.sign(KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
        self.assertEqual(len(signature), 64)
        public = self.raw_public_key(self.public_der)
        # Ed25519ph's message M is the 64-byte digest: PH(M) = SHA-512(digest).
        self.assertTrue(rfc8032_verify(public, digest, signature, prehash=True))
        # Not Ed25519ph of the original message (that would hash it only once) nor pure Ed25519.
        self.assertFalse(rfc8032_verify(public, MESSAGE, signature, prehash=True))
        self.assertFalse(rfc8032_verify(public, digest, signature, prehash=False))
        self.assertFalse(self.openssl_verifies(self.public_der, digest, signature))
        self.assertTrue(self.kms.verify(KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                                        Signature=signature,
                                        SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"])
        for index in (0, 31, 32, 63):
            tampered = bytearray(signature)
            tampered[index] ^= 0x80
            self.assertAwsError("KMSInvalidSignatureException", self.kms.verify,
                                KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                                Signature=bytes(tampered), SigningAlgorithm="ED25519_PH_SHA_512")
        self.assertAwsError("KMSInvalidSignatureException", self.kms.verify, KeyId=self.key_id,
                            Message=digest, MessageType="DIGEST", Signature=signature[:63],
                            SigningAlgorithm="ED25519_PH_SHA_512")

    def test_each_algorithm_refuses_the_other_message_type(self):
        digest = hashlib.sha512(MESSAGE).digest()
        for call in (self.kms.sign, self.kms.verify):
            extra = {} if call == self.kms.sign else {"Signature": b"\0" * 64}
            error = self.assertAwsError("ValidationException", call, KeyId=self.key_id,
                                        Message=digest, MessageType="DIGEST",
                                        SigningAlgorithm="ED25519_SHA_512", **extra)
            self.assertIn("requires MessageType RAW", error.response["Error"]["Message"])
            error = self.assertAwsError("ValidationException", call, KeyId=self.key_id,
                                        Message=digest, MessageType="RAW",
                                        SigningAlgorithm="ED25519_PH_SHA_512", **extra)
            self.assertIn("requires MessageType DIGEST", error.response["Error"]["Message"])
            # No MessageType is RAW.
            self.assertAwsError("ValidationException", call, KeyId=self.key_id, Message=digest,
                                SigningAlgorithm="ED25519_PH_SHA_512", **extra)
            # A DIGEST is a SHA-512 digest: 64 bytes.
            for length in (32, 48, 63, 65):
                error = self.assertAwsError("ValidationException", call, KeyId=self.key_id,
                                            Message=digest[:length] if length < 64 else
                                            digest + b"x", MessageType="DIGEST",
                                            SigningAlgorithm="ED25519_PH_SHA_512", **extra)
                self.assertEqual(error.response["Error"]["Message"],
                                 "Digest is invalid length for algorithm ED25519_PH_SHA_512.")
            self.assertAwsError("InvalidKeyUsageException", call, KeyId=self.key_id,
                                Message=MESSAGE, MessageType="RAW",
                                SigningAlgorithm="ECDSA_SHA_256", **extra)
        # An ECDSA key does not take the Ed25519 algorithms.
        p256 = self.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
        self.assertAwsError("InvalidKeyUsageException", self.kms.sign,
                            KeyId=p256["KeyMetadata"]["KeyId"], Message=MESSAGE,
                            MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")

    def test_private_key_from_openssl_imports_and_signatures_cross_both_ways(self):
        pem = self.path("imported.pem")
        der = self.path("imported.der")
        openssl("genpkey", "-algorithm", "ED25519", "-out", pem)
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER", "-out", der)
        key_id = self.kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY",
                                     Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        self.assertEqual(self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"],
                         "PendingImport")
        parameters, encrypted = self.wrap_for_import(key_id, der, "imported")
        self.kms.import_key_material(KeyId=key_id, ImportToken=parameters["ImportToken"],
                                     EncryptedKeyMaterial=encrypted,
                                     ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        own_public = openssl("pkey", "-in", pem, "-pubout", "-outform", "DER").stdout
        self.assertEqual(self.kms.get_public_key(KeyId=key_id)["PublicKey"], own_public)
        # OpenSSL signs with the private key; kmsd verifies.
        message = self.path("imported-message.bin", MESSAGE)
        signature = openssl("pkeyutl", "-sign", "-inkey", pem, "-rawin", "-in", message).stdout
        self.assertEqual(len(signature), 64)
        self.assertTrue(self.kms.verify(KeyId=key_id, Message=MESSAGE, MessageType="RAW",
                                        Signature=signature,
                                        SigningAlgorithm="ED25519_SHA_512")["SignatureValid"])
        # Ed25519 is deterministic: kmsd's signature with the same key is OpenSSL's.
        signed = self.kms.sign(KeyId=key_id, Message=MESSAGE, MessageType="RAW",
                               SigningAlgorithm="ED25519_SHA_512")["Signature"]
        self.assertEqual(signed, signature)
        digest = hashlib.sha512(MESSAGE).digest()
        prehashed = self.kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
        self.assertTrue(rfc8032_verify(own_public[12:], digest, prehashed, prehash=True))

    def test_material_of_another_key_type_is_refused_for_an_ed25519_key(self):
        pem = self.path("p256.pem")
        der = self.path("p256.der")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pem)
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER", "-out", der)
        key_id = self.kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY",
                                     Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        parameters, encrypted = self.wrap_for_import(key_id, der, "p256")
        error = self.assertAwsError("IncorrectKeyMaterialException", self.kms.import_key_material,
                                    KeyId=key_id, ImportToken=parameters["ImportToken"],
                                    EncryptedKeyMaterial=encrypted,
                                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.assertIn("not an Ed25519 private key", error.response["Error"]["Message"])

    def test_multi_region_ed25519_key_signs(self):
        created = self.kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY",
                                      MultiRegion=True)["KeyMetadata"]
        self.assertTrue(created["KeyId"].startswith("mrk-"))
        self.assertTrue(created["MultiRegion"])
        signature = self.kms.sign(KeyId=created["KeyId"], Message=MESSAGE,
                                  SigningAlgorithm="ED25519_SHA_512")["Signature"]
        public = self.kms.get_public_key(KeyId=created["KeyId"])["PublicKey"]
        self.assertTrue(self.openssl_verifies(public, MESSAGE, signature))

    def test_deleted_key_signs_no_more(self):
        key_id = self.kms.create_key(KeySpec="ECC_NIST_EDWARDS25519",
                                     KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        self.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        self.assertAwsError("KMSInvalidStateException", self.kms.sign, KeyId=key_id,
                            Message=MESSAGE, SigningAlgorithm="ED25519_SHA_512")

    def test_aws_cli_signs_and_openssl_verifies(self):
        message_path = self.path("cli-message.bin", MESSAGE)
        signed = self.server.aws("sign", "--key-id", self.key_id, "--message",
                                 f"fileb://{message_path}", "--message-type", "RAW",
                                 "--signing-algorithm", "ED25519_SHA_512", cli=MODERN_AWS_CLI)
        self.assertEqual(signed["SigningAlgorithm"], "ED25519_SHA_512")
        signature = base64.b64decode(signed["Signature"])
        self.assertTrue(self.openssl_verifies(self.public_der, MESSAGE, signature))
        stderr = self.assertCliError("ValidationException", "sign", "--key-id", self.key_id,
                                     "--message", f"fileb://{message_path}", "--message-type",
                                     "RAW", "--signing-algorithm", "ED25519_PH_SHA_512")
        self.assertIn("requires MessageType DIGEST", stderr)

    def test_audit_records_algorithm_and_message_type_never_message_or_signature(self):
        digest = hashlib.sha512(MESSAGE).digest()
        signature = self.kms.sign(KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
        self.kms.verify(KeyId=self.key_id, Message=digest, MessageType="DIGEST",
                        Signature=signature, SigningAlgorithm="ED25519_PH_SHA_512")
        records = audit_records(self.server.data_dir)
        sign = [r for r in records if r["eventName"] == "Sign"][-1]
        self.assertEqual(sign["requestParameters"]["signingAlgorithm"], "ED25519_PH_SHA_512")
        self.assertEqual(sign["requestParameters"]["messageType"], "DIGEST")
        self.assertIn(self.key_id, sign["requestParameters"]["keyId"])
        verify = [r for r in records if r["eventName"] == "Verify"][-1]
        self.assertEqual(verify["requestParameters"]["signingAlgorithm"], "ED25519_PH_SHA_512")
        create = [r for r in records if r["eventName"] == "CreateKey"][0]
        self.assertIn("ECC_NIST_EDWARDS25519", json.dumps(create))
        trail = json.dumps(records)
        for secret in (MESSAGE, digest, signature):
            self.assertNotIn(base64.b64encode(secret).decode(), trail)
            self.assertNotIn(secret.hex(), trail)
        self.assertNotIn("SECRET-ED-MESSAGE-2551", trail)


if __name__ == "__main__":
    unittest.main()
