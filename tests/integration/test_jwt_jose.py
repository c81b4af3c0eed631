"""A JWT signed through kmsd's Sign verifies in jose (npm), a well-known JWT library that is not
kmsd's (issue 13): ES256 with an ECC_NIST_P256 key (the DER ECDSA signature KMS returns, converted
to JOSE's r||s), ES384 with ECC_NIST_P384, RS256 with RSA_2048 (RSASSA_PKCS1_V1_5_SHA_256),
PS256 (RSASSA_PSS_SHA_256) and EdDSA with ECC_NIST_EDWARDS25519 (ED25519_SHA_512, RFC 8037: the
64-byte signature KMS returns is already JOSE's); a token with a changed claim or signature does
not verify.

jose comes from tests/integration/js (package.json and its committed package-lock.json), installed
by `npm ci` here; the test is skipped, saying so, only when the npm registry cannot be reached."""
import base64
import json
import os
import shutil
import subprocess
import unittest

from kmsd_harness import KmsdTestCase

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NPM_TIMEOUT = 180
# AWS's signing algorithm and the JOSE one for each key spec, with its r and s length for ECDSA.
CASES = [
    ("ES256", "ECC_NIST_P256", "ECDSA_SHA_256", 32),
    ("ES384", "ECC_NIST_P384", "ECDSA_SHA_384", 48),
    ("RS256", "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", None),
    ("PS256", "RSA_2048", "RSASSA_PSS_SHA_256", None),
    ("EdDSA", "ECC_NIST_EDWARDS25519", "ED25519_SHA_512", None),
]
UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET",
               "ENETUNREACH", "network", "getaddrinfo")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_jose(signature, size):
    """An ECDSA signature as KMS returns it (DER SEQUENCE of INTEGER r, s) as JOSE's r||s, each
    left-padded to the curve's size (RFC 7518 3.4)."""
    def read(data, offset, tag):
        if data[offset] != tag:
            raise ValueError(f"expected tag {tag:#x} at {offset}")
        length = data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[offset:offset + count], "big")
            offset += count
        return data[offset:offset + length], offset + length

    sequence, end = read(signature, 0, 0x30)
    if end != len(signature):
        raise ValueError("trailing bytes after the signature")
    r, offset = read(sequence, 0, 0x02)
    s, offset = read(sequence, offset, 0x02)
    if offset != len(sequence):
        raise ValueError("trailing bytes in the signature")
    return b"".join(n.lstrip(b"\0").rjust(size, b"\0") for n in (r, s))


def npm_ci():
    """Installs jose from the committed lock file, once; returns None or why the registry is out
    of reach (a skip), and fails on any other npm error."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        raise AssertionError("node and npm are required (scripts/install-deps installs them)")
    marker = os.path.join(JS_DIR, "node_modules", "jose", "package.json")
    lock = os.path.join(JS_DIR, "package-lock.json")
    if os.path.exists(marker) and os.path.getmtime(marker) >= os.path.getmtime(lock):
        return None
    try:
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"npm ci did not finish within {NPM_TIMEOUT} s (registry unreachable?)"
    if result.returncode != 0:
        if any(word in result.stderr for word in UNREACHABLE):
            return f"the npm registry is unreachable: {result.stderr.strip()[:300]}"
        raise AssertionError(f"npm ci failed: {result.stderr}")
    os.utime(marker)
    return None


class JwtSignedThroughKmsd(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        unreachable = npm_ci()
        if unreachable:
            raise unittest.SkipTest(f"skipped: jose cannot be installed: {unreachable}")
        super().setUpClass()
        cls.keys = {}

    def key(self, spec):
        if spec not in self.keys:
            key_id = self.kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            self.keys[spec] = (key_id, self.kms.get_public_key(KeyId=key_id)["PublicKey"])
        return self.keys[spec]

    def sign_jwt(self, alg, spec, algorithm, size, claims):
        key_id, _ = self.key(spec)
        header = {"alg": alg, "typ": "JWT", "kid": key_id}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        signature = self.kms.sign(KeyId=key_id, Message=signing_input.encode(), MessageType="RAW",
                                  SigningAlgorithm=algorithm)["Signature"]
        if size:
            signature = der_to_jose(signature, size)
        return signing_input + "." + b64url(signature)

    def jose_verify(self, tokens):
        """[(token, alg, spec)] -> jose's verdict for each."""
        request = [{"token": token, "alg": alg,
                    "publicKeyDer": base64.b64encode(self.key(spec)[1]).decode()}
                   for token, alg, spec in tokens]
        result = subprocess.run(["node", os.path.join(JS_DIR, "verify_jwt.mjs")],
                                input=json.dumps(request), capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_jose_verifies_jwts_signed_through_kmsd(self):
        claims = {"sub": "alice", "iss": "kmsd-test", "aud": "jose", "scope": "read write"}
        tokens = [(self.sign_jwt(alg, spec, algorithm, size, claims), alg, spec)
                  for alg, spec, algorithm, size in CASES]
        for (token, alg, _), verdict in zip(tokens, self.jose_verify(tokens)):
            with self.subTest(alg=alg):
                self.assertTrue(verdict["valid"], verdict.get("error"))
                self.assertEqual(verdict["payload"], claims)
                self.assertEqual(verdict["alg"], alg)

    def test_jose_refuses_a_changed_claim_or_signature(self):
        tokens = []
        for alg, spec, algorithm, size in CASES:
            token = self.sign_jwt(alg, spec, algorithm, size, {"sub": "alice", "admin": False})
            header, _, signature = token.split(".")
            forged = b64url(json.dumps({"sub": "alice", "admin": True}).encode())
            tokens.append((f"{header}.{forged}.{signature}", alg, spec))
            raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            raw[len(raw) // 2] ^= 1
            tokens.append((f"{token.rsplit('.', 1)[0]}.{b64url(bytes(raw))}", alg, spec))
        for (_, alg, _), verdict in zip(tokens, self.jose_verify(tokens)):
            with self.subTest(alg=alg):
                self.assertFalse(verdict["valid"])
                self.assertIn("ERR_JWS_SIGNATURE_VERIFICATION_FAILED", verdict["error"])

    def test_der_signature_is_not_a_jose_signature(self):
        """The conversion is needed: jose refuses KMS's DER ECDSA signature as it is."""
        key_id, _ = self.key("ECC_NIST_P256")
        header = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps({"sub": "alice"}).encode())
        der = self.kms.sign(KeyId=key_id, Message=f"{header}.{payload}".encode(),
                            MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        self.assertEqual(der[0], 0x30)
        self.assertEqual(len(der_to_jose(der, 32)), 64)
        verdict = self.jose_verify([(f"{header}.{payload}.{b64url(der)}", "ES256",
                                     "ECC_NIST_P256")])[0]
        self.assertFalse(verdict["valid"])


if __name__ == "__main__":
    unittest.main()
