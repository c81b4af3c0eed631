"""The wire protocol and authentication, with hand-made requests signed by botocore's own SigV4
signer: hostile bodies get AWS's error types and the server keeps serving."""
import datetime
import http.client
import json
import unittest
import urllib.parse
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmsd_harness import KmsdTestCase


class Protocol(KmsdTestCase):
    def send(self, body, target="TrentService.ListKeys", sign=True, secret=None, access_key=None,
             region=None, headers=None, when=None):
        """Sends one request and returns (status, parsed JSON body)."""
        url = self.server.endpoint + "/"
        request_headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target:
            request_headers["X-Amz-Target"] = target
        request_headers.update(headers or {})
        data = body if isinstance(body, bytes) else body.encode()
        request = AWSRequest(method="POST", url=url, data=data, headers=request_headers)
        if sign:
            credentials = Credentials(access_key or self.server.access_key, secret or self.server.secret_key)
            signer = SigV4Auth(credentials, "kms", region or self.server.region)
            if when:
                with mock.patch("botocore.auth.datetime") as fake:
                    fake.datetime.utcnow.return_value = when
                    fake.datetime.now.return_value = when
                    signer.add_auth(request)
            else:
                signer.add_auth(request)
        parsed = urllib.parse.urlparse(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        try:
            connection.request("POST", "/", body=data, headers=dict(request.headers.items()))
            response = connection.getresponse()
            payload = response.read()
            self.assertTrue(response.getheader("x-amzn-RequestId"))
            return response.status, (json.loads(payload) if payload else None)
        finally:
            connection.close()

    def assertError(self, expected_type, status_and_body, expected_status=400):
        status, body = status_and_body
        self.assertEqual(body["__type"], expected_type, body)
        self.assertEqual(status, expected_status, body)
        self.assertTrue(body["message"])
        return body["message"]

    def tearDown(self):
        # Whatever a test sent, the server still serves well-formed requests.
        status, body = self.send("{}")
        self.assertEqual(status, 200, body)
        self.assertIn("Keys", body)

    def test_well_formed_request_is_served(self):
        status, body = self.send("{}")
        self.assertEqual(status, 200)
        self.assertFalse(body["Truncated"])

    def test_malformed_json_is_a_serialization_error(self):
        for bad in ("{", "not json", "[]", '"string"', "{\"Limit\": }", "\xff\xfe"):
            self.assertError("SerializationException", self.send(bad))

    def test_deep_nesting_is_refused_without_harm(self):
        self.assertError("SerializationException", self.send("[" * 100000 + "]" * 100000))

    def test_wrong_member_types_are_serialization_errors(self):
        self.assertError("SerializationException", self.send('{"Limit": "ten"}'))
        self.assertError("SerializationException", self.send('{"KeyId": 5}', target="TrentService.DescribeKey"))
        self.assertError("SerializationException", self.send('{"KeyId": "k", "Plaintext": "!!notbase64"}', target="TrentService.Encrypt"))
        self.assertError("SerializationException", self.send('{"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": {"a": 1}}', target="TrentService.Encrypt"))

    def test_missing_required_members_are_validation_errors(self):
        message = self.assertError("ValidationException", self.send("{}", target="TrentService.Encrypt"))
        self.assertIn("2 validation errors detected", message)
        self.assertIn("'keyId'", message)
        self.assertIn("Member must not be null", message)

    def test_unknown_operation(self):
        self.assertError("UnknownOperationException", self.send("{}", target="TrentService.MakeCoffee"))
        self.assertError("UnknownOperationException", self.send("{}", target="NotKms.ListKeys"))
        self.assertError("UnknownOperationException", self.send("{}", target=None))

    def test_oversize_body_is_refused(self):
        status, body = self.send('{"Description": "' + "d" * (1024 * 1024) + '"}', target="TrentService.CreateKey")
        self.assertEqual(status, 413)
        self.assertEqual(body["__type"], "RequestEntityTooLargeException")

    def test_missing_authentication(self):
        self.assertError("MissingAuthenticationTokenException", self.send("{}", sign=False), 403)

    def test_unknown_access_key(self):
        self.assertError("UnrecognizedClientException", self.send("{}", access_key="AKIAUNKNOWNUNKNOWN00"))

    def test_wrong_secret(self):
        message = self.assertError("InvalidSignatureException", self.send("{}", secret="wrong"))
        self.assertNotIn(self.server.secret_key, message)

    def test_wrong_region_scope(self):
        self.assertError("InvalidSignatureException", self.send("{}", region="eu-west-1"))

    def test_stale_and_future_dates_are_refused(self):
        now = datetime.datetime.utcnow()
        self.assertError("InvalidSignatureException", self.send("{}", when=now - datetime.timedelta(minutes=6)))
        self.assertError("InvalidSignatureException", self.send("{}", when=now + datetime.timedelta(minutes=6)))
        status, _ = self.send("{}", when=now - datetime.timedelta(minutes=4))
        self.assertEqual(status, 200)

    def test_boto3_with_wrong_credentials(self):
        client = self.server.client(secret_key="not-the-secret")
        with self.assertRaises(client.exceptions.ClientError) as raised:
            client.list_keys()
        self.assertEqual(raised.exception.response["Error"]["Code"], "InvalidSignatureException")
        client = self.server.client(access_key="AKIANOBODY0000000000")
        with self.assertRaises(client.exceptions.ClientError) as raised:
            client.list_keys()
        self.assertEqual(raised.exception.response["Error"]["Code"], "UnrecognizedClientException")


if __name__ == "__main__":
    unittest.main()
