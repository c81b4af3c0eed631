"""pytest conftest that runs moto's KMS tests against a real kmsd instead of moto's mocks.

Copied (by scripts/run-public-suites) as conftest.py beside a checkout of moto's tests/ folder.
It replaces moto's `mock_aws` decorator and context manager: each mocked test gets a fresh kmsd
(new data dir, port 0, any region, moto's account id 123456789012), and every boto3 client or
resource for kms, iam or sts made inside it is pointed at that kmsd with the root's credentials.
Clients of any other service are refused with a skip, and AWS_ENDPOINT_URL points every other
client at a closed loopback port, so no test ever reaches out of the machine.

Environment: KMSD_BINARY (the kmsd to run), KMSD_ACCOUNT_ID (default 123456789012),
KMSD_MOTO_LENIENT=1 (leave out CreateKey's Policy when it is not JSON: see _drop_non_json_policy).
"""
import functools
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading

import boto3
import boto3.session
import pytest

KMSD_BINARY = os.environ.get("KMSD_BINARY", "kmsd")
ACCOUNT_ID = os.environ.get("KMSD_ACCOUNT_ID", "123456789012")
SERVED = {"kms", "iam", "sts"}
LENIENT = os.environ.get("KMSD_MOTO_LENIENT") == "1"

# No client made outside a mock (or for a service kmsd does not serve) may leave loopback.
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# moto's tests take this branch when the server is not in-process (no clock tricks).
os.environ["TEST_SERVER_MODE"] = "true"


class _Kmsd:
    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="kmsd-moto-")
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        env = dict(os.environ)
        env["KMSD_ROOT_ACCESS_KEY_ID"] = self.access_key
        env["KMSD_ROOT_SECRET_ACCESS_KEY"] = self.secret_key
        self.process = subprocess.Popen(
            [KMSD_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--region", "*", "--account-id", ACCOUNT_ID, "--no-access-log", "--log-level",
             "warn"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output = []
        timer = threading.Timer(20, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self.output.append(line)
                match = re.search(r"listening on (\S+)", line)
                if match:
                    self.endpoint = match.group(1)
                    break
            else:
                raise RuntimeError("kmsd did not start:\n" + "".join(self.output))
        finally:
            timer.cancel()
        self._drain = threading.Thread(target=lambda: [self.output.append(l) for l in self.process.stdout],
                                       daemon=True)
        self._drain.start()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._drain.join(timeout=5)
        shutil.rmtree(self.data_dir, ignore_errors=True)


_active = []  # the kmsd of the innermost mock
_original_client = boto3.session.Session.client
_original_resource = boto3.session.Session.resource


def _redirect(kwargs, service_name):
    if service_name not in SERVED:
        pytest.skip(f"needs the {service_name} service, which kmsd does not serve")
    if not _active:
        return kwargs
    server = _active[-1]
    kwargs = dict(kwargs)
    kwargs["endpoint_url"] = server.endpoint
    kwargs["aws_access_key_id"] = server.access_key
    kwargs["aws_secret_access_key"] = server.secret_key
    kwargs.pop("aws_session_token", None)
    return kwargs


def _drop_non_json_policy(params, **_):
    """KMSD_MOTO_LENIENT=1: leave out a Policy that is not JSON (moto's tests pass "my policy",
    which AWS refuses with MalformedPolicyDocumentException), so the rest of the test still runs."""
    policy = params.get("Policy")
    if isinstance(policy, str):
        try:
            json.loads(policy)
        except ValueError:
            del params["Policy"]


def _client(self, service_name, *args, **kwargs):
    client = _original_client(self, service_name, *args, **_redirect(kwargs, service_name))
    if service_name == "kms" and LENIENT:
        client.meta.events.register("provide-client-params.kms.CreateKey", _drop_non_json_policy)
    return client


def _resource(self, service_name, *args, **kwargs):
    return _original_resource(self, service_name, *args, **_redirect(kwargs, service_name))


boto3.session.Session.client = _client
boto3.session.Session.resource = _resource


class KmsdMock:
    """Stands in for moto's mock_aws: decorator (function or class) and context manager."""

    def __init__(self, func=None, config=None):
        self._func = func
        self._server = None

    def __enter__(self):
        self._server = _Kmsd()
        _active.append(self._server)
        return self

    def __exit__(self, *exc):
        _active.remove(self._server)
        self._server.stop()
        self._server = None

    def start(self, reset=True):
        self.__enter__()

    def stop(self):
        self.__exit__(None, None, None)

    def __call__(self, func):
        return _decorate(func)


def _decorate(target):
    if inspect.isclass(target):
        # As moto does for a class: each test method (with its setup and teardown) in a fresh mock.
        setup = getattr(target, "setup_method", None)
        teardown = getattr(target, "teardown_method", None)

        def setup_method(self, *args):
            self._kmsd_mock = KmsdMock()
            self._kmsd_mock.start()
            if setup:
                setup(self, *args)

        def teardown_method(self, *args):
            try:
                if teardown:
                    teardown(self, *args)
            finally:
                self._kmsd_mock.stop()

        target.setup_method = setup_method
        target.teardown_method = teardown_method
        return target

    @functools.wraps(target)
    def wrapper(*args, **kwargs):
        with KmsdMock():
            return target(*args, **kwargs)
    return wrapper


def mock_aws(func=None, config=None):
    if func is not None and callable(func):
        return _decorate(func)
    return KmsdMock(config=config)


import moto  # noqa: E402  (patched after boto3 so moto's own import sees the originals)

moto.mock_aws = mock_aws


# moto's own internals (its models, utilities, server), no request to any server: not run.
MOTO_INTERNAL_MODULES = {"test_utils.py", "test_model.py", "test_server.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.fspath.basename in MOTO_INTERNAL_MODULES:
            item.add_marker(pytest.mark.skip(reason="tests moto's internals, not the KMS API"))


@pytest.fixture(scope="function")
def account_id():
    """moto's fixture of the same name: the account the tests expect in ARNs."""
    return ACCOUNT_ID
