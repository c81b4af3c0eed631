"""Starts the real kmsd for integration tests and gives clients pointed at it.

Runs under Debian's /usr/bin/python3 (boto3 1.26) and drives Debian's /usr/bin/aws. Every server
gets a fresh data dir and fresh credentials; port 0 lets the kernel pick a free port, which kmsd
prints on its first line.
"""
import json
import os
import re
import secrets
import shutil
import sys
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import boto3
import botocore.config

KMSD_BINARY = os.environ.get("KMSD_BINARY", os.path.join(os.path.dirname(__file__), "../../build/kmsd"))
AWS_CLI = "/usr/bin/aws"
# The aws CLI that belongs to this interpreter, when it is not Debian's (tests marked
# "requires: modern-boto3" run under a python3 whose awscli knows the 2024 KMS operations).
MODERN_AWS_CLI = os.path.join(sys.prefix, "bin", "aws")
REGION = "us-east-1"
ACCOUNT_ID = "111122223333"


class KmsdServer:
    """`with KmsdServer() as server:` runs kmsd until the block ends."""

    def __init__(self, data_dir=None, extra_args=(), env=None, access_key=None, secret_key=None,
                 binary=None, popen_options=None):
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="kmsd-test-")
        self.extra_args = list(extra_args)
        self.access_key = access_key or "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = REGION
        self.extra_env = env or {}
        # Another kmsd (an installed one) and Popen options (user= to run it as another user).
        self.binary = binary or KMSD_BINARY
        self.popen_options = popen_options or {}
        self.process = None
        self._reader = None
        self.endpoint = None
        self.output = []

    def start(self):
        env = dict(os.environ)
        env.update(self.extra_env)
        env["KMSD_ROOT_ACCESS_KEY_ID"] = self.access_key
        env["KMSD_ROOT_SECRET_ACCESS_KEY"] = self.secret_key
        self.process = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--region", self.region] + self.extra_args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            **self.popen_options)
        while True:
            line = self.process.stdout.readline()
            if not line:
                self.process.wait(timeout=10)
                raise RuntimeError("kmsd exited before listening:\n" + "".join(self.output))
            self.output.append(line)
            match = re.search(r"listening on (\S+)", line)
            if match:
                self.endpoint = match.group(1)
                # kmsd goes on writing (its access log): keep reading, or it would block on a
                # full pipe.
                self._reader = threading.Thread(target=self._drain, args=(self.process.stdout,),
                                                daemon=True)
                self._reader.start()
                return self

    def _drain(self, stream):
        for line in stream:
            self.output.append(line)

    def generated_credentials(self, timeout=10, since=0):
        """The root credentials a start without KMSD_ROOT_* generated and showed once, after its
        listening line: (access key id, secret), the latest shown in output[since:]."""
        deadline = time.monotonic() + timeout
        while True:
            text = "".join(self.output[since:])
            keys = re.findall(r"export AWS_ACCESS_KEY_ID=(\S+)", text)
            secrets_shown = re.findall(r"export AWS_SECRET_ACCESS_KEY=(\S+)", text)
            if keys and len(secrets_shown) == len(keys):
                return keys[-1], secrets_shown[-1]
            if time.monotonic() > deadline:
                raise AssertionError("kmsd showed no generated root credentials:\n" + text)
            time.sleep(0.05)

    def log_lines(self):
        """What kmsd has written so far (stdout and stderr), as lines."""
        return "".join(self.output).splitlines()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            if self._reader:
                self._reader.join(timeout=15)
                self._reader = None
            else:
                self.output.append(self.process.stdout.read())
            self.process.stdout.close()
        self.process = None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def signed_post(self, target, body):
        """Sends one SigV4-signed POST and returns (HTTP status, parsed JSON body)."""
        import http.client
        import urllib.parse
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=data, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        # A server of several regions ("us-east-1,eu-west-1"): sign for its first (default) one.
        region = self.region.split(",")[0].strip()
        region = REGION if region == "*" else region
        SigV4Auth(Credentials(self.access_key, self.secret_key), "kms", region).add_auth(request)
        parsed = urllib.parse.urlparse(self.endpoint)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        try:
            connection.request("POST", "/", body=data, headers=dict(request.headers.items()))
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def advance_clock(self, days=0, seconds=0):
        """Moves the server's service clock forward (test-clock servers only) and runs what falls due."""
        status, body = self.signed_post("KmsdTest.AdvanceClock", {"Seconds": int(days * 86400 + seconds)})
        if status != 200:
            raise AssertionError(f"advance clock failed: {status} {body}")
        return body["Now"]

    def client(self, access_key=None, secret_key=None, validate=True, service="kms",
               session_token=None):
        """A boto3 client (KMS unless service says iam or sts); validate=False skips botocore's own
        checks so the server's are tested."""
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            aws_session_token=session_token,
            config=botocore.config.Config(retries={"max_attempts": 1},
                                          parameter_validation=validate))

    def aws_profiles(self, profiles, *args, profile=None, check=True, cli=AWS_CLI):
        """Runs `aws ARGS` (any service) with a credentials file holding `profiles`
        ({name: (access_key, secret_key[, session_token])}, plus "default" = the root) and
        --profile when given. Returns the parsed JSON output, or with check=False
        (returncode, stdout, stderr)."""
        home = tempfile.mkdtemp(prefix="aws-home-")
        try:
            os.makedirs(os.path.join(home, ".aws"))
            every = {"default": (self.access_key, self.secret_key), **profiles}
            with open(os.path.join(home, ".aws", "credentials"), "w") as out:
                for name, keys in every.items():
                    out.write(f"[{name}]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n")
                    if len(keys) > 2:
                        out.write(f"aws_session_token = {keys[2]}\n")
            env = {"PATH": "/usr/bin:/bin", "HOME": home, "AWS_DEFAULT_REGION": self.region,
                   "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
            command = [cli, *args, "--endpoint-url", self.endpoint, "--output", "json"]
            if profile:
                command += ["--profile", profile]
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if not check:
            return result.returncode, result.stdout, result.stderr
        if result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def aws(self, *args, secret_key=None, check=True, stdin=None, cli=AWS_CLI):
        """Runs `aws kms ARGS` and returns the parsed JSON output (or None when there is none).
        With check=False returns (returncode, stdout, stderr)."""
        home = tempfile.mkdtemp(prefix="aws-home-")
        env = {
            "PATH": "/usr/bin:/bin", "HOME": home,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
            "AWS_DEFAULT_REGION": self.region, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
        }
        try:
            result = subprocess.run(
                [cli, "kms", *args, "--endpoint-url", self.endpoint, "--output", "json"],
                capture_output=True, text=True, env=env, input=stdin, timeout=60)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if not check:
            return result.returncode, result.stdout, result.stderr
        if result.returncode != 0:
            raise AssertionError(f"aws kms {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout) if result.stdout.strip() else None


TEST_CLOCK_ARGS = ("--enable-test-clock",)
TEST_CLOCK_ENV = {"KMSD_ALLOW_TEST_CLOCK": "yes"}


class KmsdTestCase(unittest.TestCase):
    """One kmsd per test class; self.kms is a boto3 client, self.server the server."""

    server_args = ()
    server_env = None

    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer(extra_args=cls.server_args, env=cls.server_env).__enter__()
        cls.kms = cls.server.client()
        cls.unchecked = cls.server.client(validate=False)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def assertAwsError(self, error_code, call, *args, **kwargs):
        """Asserts that a boto3 call fails with the given AWS error code; returns the error."""
        with self.assertRaises(self.kms.exceptions.ClientError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.response["Error"]["Code"], error_code,
                         raised.exception.response["Error"].get("Message"))
        return raised.exception

    def assertCliError(self, error_code, *args):
        code, _, stderr = self.server.aws(*args, check=False)
        self.assertNotEqual(code, 0)
        self.assertIn(f"({error_code})", stderr)
        return stderr


def kmsd_audit(*args):
    """Runs `kmsd audit ARGS` (verify, query, ...); returns the CompletedProcess."""
    return subprocess.run([KMSD_BINARY, "audit", *args], capture_output=True, text=True, timeout=60)


def audited_request_ids(audit_dir):
    """The requestID of every whole record in the trail files of audit_dir (a torn last line and
    a spare's zero padding are skipped)."""
    ids = set()
    for name in sorted(os.listdir(audit_dir)):
        if not (name.startswith("trail-") and name.endswith(".jsonl")):
            continue
        with open(os.path.join(audit_dir, name), "rb") as trail:
            for line in trail.read().split(b"\0")[0].split(b"\n"):
                if line.endswith(b"}"):
                    ids.add(json.loads(line).get("requestID"))
    return ids


def audit_records(data_dir):
    """Every audit record written so far, read from the trail files (a trail file may be
    zero-padded after its last record)."""
    import glob
    records = []
    for path in sorted(glob.glob(os.path.join(data_dir, "audit", "trail-*.jsonl"))):
        with open(path, encoding="utf-8") as trail:
            text = trail.read().split("\0", 1)[0]
        records.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return records


OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def openssl(*args, check=True):
    """Runs the openssl command line (a tool that is not kmsd's, for proofs); fails the test when
    it fails, unless check=False."""
    result = subprocess.run([OPENSSL, *args], capture_output=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {result.stderr.decode()}")
    return result
