"""pytest conftest that runs LocalStack's KMS tests (tests/aws/services/kms/test_kms.py) against a
real kmsd, and checks every error they record against the answer AWS gave when LocalStack recorded
its snapshots (tests/aws/services/kms/test_kms.snapshot.json, recorded against real AWS).

Copied by scripts/run-public-suites as conftest.py at the root of a scratch dir holding that test
file at the same path. It provides the fixtures the file uses (aws_client, kms_create_key, ...),
small stand-ins for the few localstack modules it imports, and a snapshot whose match() compares an
error's Code and Message with AWS's recorded ones (key ARNs, ids and regions normalised); other
recorded responses are compared only by their members' names, and only when
KMSD_LOCALSTACK_SHAPES names a file to list the differences in. Only tests marked markers.aws.validated run.

One kmsd serves the whole session: any region, account 111111111111 (the account in the
recordings), fresh data dir. Environment: KMSD_BINARY.
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import types
import uuid

import boto3
import botocore.config
import pytest

KMSD_BINARY = os.environ.get("KMSD_BINARY", "kmsd")
ACCOUNT_ID = "111111111111"
REGION = "us-east-1"
SECONDARY_REGION = "us-west-2"
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing but kmsd is ever reached


# --- stand-ins for the localstack modules the test file imports -------------------------------

def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


class _Markers:
    """markers.aws.validated and friends: validated runs, everything else is skipped."""

    def __getattr__(self, name):
        if name == "validated":
            return pytest.mark.aws_validated
        if name in ("aws", "snapshot"):
            return self
        if name == "skip_snapshot_verify":
            return lambda *args, **kwargs: (lambda function: function)
        return pytest.mark.skip(reason=f"LocalStack marks this test {name}, not validated on AWS")


def _not_available(*args, **kwargs):
    pytest.skip("needs LocalStack's own internals")


for name in ("localstack", "localstack.services", "localstack.services.kms", "localstack.testing",
             "localstack.testing.aws", "localstack.utils", "localstack_snapshot",
             "localstack_snapshot.snapshots"):
    _module(name)
# The numbers LocalStack's tests take from its own blob format; only their sizes matter here.
_module("localstack.services.kms.models", HEADER_LEN=68, IV_LEN=16, ON_DEMAND_ROTATION_LIMIT=10,
        Ciphertext=_not_available, _serialize_ciphertext_blob=_not_available)
_module("localstack.services.kms.utils", get_hash_algorithm=_not_available)
_module("localstack.testing.aws.util", in_default_partition=lambda: True, is_aws_cloud=lambda: True)
_module("localstack.testing.pytest", markers=_Markers())
_module("localstack.utils.crypto", encrypt=_not_available)
_module("localstack.utils.strings", short_uid=lambda: uuid.uuid4().hex[:8],
        to_str=lambda value: value.decode() if isinstance(value, bytes) else str(value))


def _poll_condition(condition, timeout=10.0, interval=0.5):
    import time
    deadline = time.monotonic() + min(timeout, 30)
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


_module("localstack.utils.sync", poll_condition=_poll_condition)
_module("localstack_snapshot.snapshots.transformer", RegexTransformer=lambda *a, **k: None)


# --- kmsd ----------------------------------------------------------------------------------------

class _Kmsd:
    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="kmsd-localstack-")
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        env = dict(os.environ, KMSD_ROOT_ACCESS_KEY_ID=self.access_key,
                   KMSD_ROOT_SECRET_ACCESS_KEY=self.secret_key)
        self.process = subprocess.Popen(
            [KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--region", "*", "--account-id", ACCOUNT_ID, "--no-access-log", "--log-level", "warn"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        timer = threading.Timer(20, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                match = re.search(r"listening on (\S+)", line)
                if match:
                    self.endpoint = match.group(1)
                    break
            else:
                raise RuntimeError("kmsd did not start")
        finally:
            timer.cancel()
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def client(self, service, region_name=None, config=None):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region_name or REGION,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=(config or botocore.config.Config()).merge(
                                botocore.config.Config(retries={"max_attempts": 1})))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class _Clients:
    def __init__(self, server, region_name=None, config=None):
        self._server, self._region, self._config = server, region_name, config

    def __getattr__(self, service):
        if service not in ("kms", "iam", "sts"):
            pytest.skip(f"needs the {service} service, which kmsd does not serve")
        client = self._server.client(service, self._region, self._config)
        setattr(self, service, client)
        return client


@pytest.fixture(scope="session")
def kmsd_server():
    server = _Kmsd()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aws_client(kmsd_server):
    return _Clients(kmsd_server)


@pytest.fixture(scope="session")
def aws_client_factory(kmsd_server):
    return lambda region_name=None, config=None, **_: _Clients(kmsd_server, region_name, config)


@pytest.fixture(scope="session")
def region_name():
    return REGION


@pytest.fixture(scope="session")
def secondary_region_name():
    return SECONDARY_REGION


@pytest.fixture(scope="session")
def account_id():
    return ACCOUNT_ID


@pytest.fixture
def kms_create_key(aws_client_factory):
    def create(region_name=None, **kwargs):
        kwargs.setdefault("Description", f"test description - {uuid.uuid4().hex[:8]}")
        return aws_client_factory(region_name=region_name).kms.create_key(**kwargs)["KeyMetadata"]
    return create


@pytest.fixture
def kms_replicate_key(aws_client_factory):
    return lambda region_from=None, **kwargs: aws_client_factory(
        region_name=region_from).kms.replicate_key(**kwargs)


@pytest.fixture
def kms_key(kms_create_key):
    return kms_create_key()


@pytest.fixture
def kms_create_alias(kms_create_key, aws_client):
    def create(**kwargs):
        kwargs.setdefault("AliasName", f"alias/{uuid.uuid4().hex[:8]}")
        if "TargetKeyId" not in kwargs:
            kwargs["TargetKeyId"] = kms_create_key()["KeyId"]
        aws_client.kms.create_alias(**kwargs)
        return kwargs["AliasName"]
    return create


@pytest.fixture
def kms_create_grant(kms_create_key, aws_client):
    def create(**kwargs):
        kwargs.setdefault("Operations", ["Decrypt", "Encrypt"])
        kwargs.setdefault("GranteePrincipal", f"arn:aws:iam::{ACCOUNT_ID}:root")
        if "KeyId" not in kwargs:
            kwargs["KeyId"] = kms_create_key()["KeyId"]
        return aws_client.kms.create_grant(**kwargs)["GrantId"], kwargs["KeyId"]
    return create


@pytest.fixture
def kms_grant_and_key(kms_key, aws_client):
    user = aws_client.sts.get_caller_identity()["Arn"]
    grant = aws_client.kms.create_grant(KeyId=kms_key["KeyId"], GranteePrincipal=user,
                                        Operations=["Decrypt", "Encrypt"])
    return [grant, kms_key]


# --- the snapshot: AWS's recorded errors ---------------------------------------------------------

_ARN = re.compile(r"arn:(aws|<partition>):kms:[^:\s']+:[^:\s']+:(key|alias)/[^\s'.]+")
_KEY_ID = re.compile(r"<key-id(:\d+)?>|<resource:\d+>|\b(mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?"
                     r"[0-9a-f]{4}-?[0-9a-f]{12}\b|mrk-[0-9a-f]{32}")
_PLACEHOLDERS = re.compile(r"<(key-arn|mrk-key-arn|key-material-id)(:\d+)?>|\b[0-9a-f]{64}\b")


def _normalise(message):
    message = _ARN.sub("<ARN>", message or "")
    message = _PLACEHOLDERS.sub(lambda m: "<ARN>" if "arn" in m.group(0) else "<ID>", message)
    message = _KEY_ID.sub("<ID>", message)
    return message.replace("<secondary-region>", SECONDARY_REGION).replace("<region>", REGION)


class _Snapshot:
    def __init__(self, recorded):
        self._recorded = recorded

    def __getattr__(self, name):  # add_transformer, transform.*, skip_snapshot_verify, ...
        return lambda *args, **kwargs: None

    def match(self, name, value):
        expected = self._recorded.get(name)
        if not isinstance(expected, dict):
            return
        if "Error" not in expected:
            _compare_members(name, expected, value)
            return
        actual = value.get("Error") if isinstance(value, dict) else None
        assert actual is not None, f"{name}: AWS answered {expected['Error']}, kmsd succeeded"
        want = (expected["Error"].get("Code"), _normalise(expected["Error"].get("Message")))
        got = (actual.get("Code"), _normalise(actual.get("Message")))
        assert got == want, f"{name}: AWS answered {want}, kmsd {got}"


SHAPES_FILE = os.environ.get("KMSD_LOCALSTACK_SHAPES")  # where to list members that differ


def _compare_members(name, expected, actual, path=""):
    """KMSD_LOCALSTACK_SHAPES=FILE: list the members AWS answered that kmsd did not, and the other
    way round (names only, every level of dicts; a report, not a failure)."""
    if not SHAPES_FILE or not isinstance(actual, dict):
        return
    want = {key for key in expected if key != "ResponseMetadata"}
    got = {key for key in actual if key != "ResponseMetadata"}
    if want != got:
        with open(SHAPES_FILE, "a") as out:
            out.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]} {name}{path}: "
                      f"AWS only {sorted(want - got)}, kmsd only {sorted(got - want)}\n")
    for key in want & got:
        if isinstance(expected[key], dict):
            _compare_members(name, expected[key], actual[key], f"{path}.{key}")
        elif isinstance(expected[key], list) and expected[key] and isinstance(actual[key], list):
            if isinstance(expected[key][0], dict) and actual[key]:
                _compare_members(name, expected[key][0], actual[key][0], f"{path}.{key}[0]")


_SNAPSHOTS = {}


@pytest.fixture
def snapshot(request):
    path = os.path.join(os.path.dirname(str(request.node.fspath)), "test_kms.snapshot.json")
    if path not in _SNAPSHOTS:
        _SNAPSHOTS[path] = json.load(open(path)) if os.path.exists(path) else {}
    recorded = _SNAPSHOTS[path].get(request.node.nodeid, {}).get("recorded-content", {})
    shot = _Snapshot(recorded)
    shot.transform = _Snapshot({})
    return shot


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("aws_validated") is None:
            item.add_marker(pytest.mark.skip(reason="not marked validated against AWS"))
        if "MultiAccounts" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason="needs a second account"))


def pytest_configure(config):
    config.addinivalue_line("markers", "aws_validated: LocalStack validated this test on AWS")
