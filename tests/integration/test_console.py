"""The web console (docs/CONSOLE.md): kmsd serves its static files at /console/ with strict
headers and nothing outside its directory; then Debian's chromium, driven by Playwright
(console/browser_test.mjs), signs in, manages a key, reads the audit trail and meets AccessDenied
as a limited IAM identity, all against this real kmsd. Screenshots go to KMSD_CONSOLE_SCREENSHOTS
(docs/console/ to refresh the documentation's) or a temporary dir."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import botocore.exceptions

from kmsd_harness import ACCOUNT_ID, KmsdServer

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("KMSD_BUILD_DIR", os.path.join(HERE, "../../build"))
CONSOLE_DIR = os.environ.get("KMSD_CONSOLE_DIR", os.path.join(BUILD_DIR, "console"))
WEB_DIR = os.environ.get("KMSD_WEB_DIR", os.path.join(BUILD_DIR, "web"))
CHROMIUM = "/usr/bin/chromium"
LIMITED_USER = "console-viewer"


def raw_request(endpoint, method, path, headers=None):
    """One request with the path sent exactly as given (no client-side normalization)."""
    parsed = urllib.parse.urlparse(endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def console_missing():
    if not os.path.isfile(os.path.join(CONSOLE_DIR, "index.html")):
        return f"no built console in {CONSOLE_DIR} (cmake -DKMSD_CONSOLE=ON)"
    return None


@unittest.skipIf(console_missing(), console_missing())
class ConsoleFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer(extra_args=["--console-dir", CONSOLE_DIR]).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def get(self, path, method="GET"):
        return raw_request(self.server.endpoint, method, path)

    def test_index_is_served_with_strict_headers(self):
        status, headers, body = self.get("/console/")
        self.assertEqual(status, 200)
        self.assertIn(b'<div id="app">', body)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(headers["cache-control"], "no-cache")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        policy = headers["content-security-policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'"):
            self.assertIn(directive, policy)
        self.assertNotIn("unsafe", policy)

    def test_assets_named_by_hash_are_cached_for_good(self):
        _, _, body = self.get("/console/")
        script = body.decode().split('src="/console/')[1].split('"')[0]
        status, headers, _ = self.get("/console/" + script)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(headers["cache-control"], "public, max-age=31536000, immutable")

    def test_head_has_no_body_and_other_methods_are_refused(self):
        status, headers, body = self.get("/console/index.html", "HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        status, headers, _ = self.get("/console/index.html", "DELETE")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")

    def test_bare_path_redirects(self):
        status, headers, _ = self.get("/console")
        self.assertEqual(status, 301)
        self.assertEqual(headers["location"], "/console/")

    def test_no_path_reaches_outside_the_console_directory(self):
        # root-credentials does not exist with credentials from the environment; the data dir's
        # files and /etc/passwd do.
        for path in ("/console/../seal.json", "/console/%2e%2e/seal.json", "/console/..%2fseal.json",
                     "/console/assets/../../../../etc/passwd", "/console//etc/passwd",
                     "/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/console/assets/",
                     "/console/assets", "/console/.."):
            status, _, body = self.get(path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"root:", body, path)

    def test_console_requests_are_not_audited_and_need_no_credentials(self):
        status, _, _ = self.get("/console/")
        self.assertEqual(status, 200)
        # The API beside it still refuses unsigned requests.
        status, _, _ = self.get("/")
        self.assertNotEqual(status, 200)

    def test_no_console_flag_leaves_the_path_to_the_api(self):
        with KmsdServer(extra_args=["--console-dir", CONSOLE_DIR, "--no-console"]) as server:
            status, headers, _ = raw_request(server.endpoint, "GET", "/console/")
            self.assertNotEqual(status, 200)
            self.assertNotIn("content-security-policy", headers)

    def test_a_console_dir_without_index_stops_the_start(self):
        empty = tempfile.mkdtemp(prefix="kmsd-console-empty-")
        try:
            with self.assertRaises(RuntimeError) as raised:
                KmsdServer(extra_args=["--console-dir", empty]).__enter__()
            self.assertIn("has no index.html", str(raised.exception))
        finally:
            shutil.rmtree(empty, ignore_errors=True)


def browser_missing():
    if console_missing():
        return console_missing()
    if not os.path.isdir(os.path.join(WEB_DIR, "node_modules", "playwright-core")):
        return f"playwright-core is not installed in {WEB_DIR} (the console build's npm ci)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (scripts/install-deps installs chromium)"
    return None


@unittest.skipIf(browser_missing(), browser_missing())
class ConsoleInABrowser(unittest.TestCase):
    def test_browser_walkthrough(self):
        with KmsdServer(extra_args=["--console-dir", CONSOLE_DIR]) as server:
            iam = server.client(service="iam")
            iam.create_user(UserName=LIMITED_USER)
            iam.put_user_policy(UserName=LIMITED_USER, PolicyName="console-limited", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                    "kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus"]}]}))
            limited = iam.create_access_key(UserName=LIMITED_USER)["AccessKey"]
            # A role the limited user may assume: the browser signs in with its session token.
            iam.put_user_policy(UserName=LIMITED_USER, PolicyName="assume", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
            role = iam.create_role(RoleName="console-auditor", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}}]}))
            iam.put_role_policy(RoleName="console-auditor", PolicyName="list", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Resource": "*", "Action": ["kms:ListKeys", "kms:ListAliases"]}]}))
            session = server.client(service="sts", access_key=limited["AccessKeyId"],
                                    secret_key=limited["SecretAccessKey"]).assume_role(
                RoleArn=role["Role"]["Arn"], RoleSessionName="browser")["Credentials"]

            # The server's own words for a malformed policy, which the console must show as-is.
            kms = server.client()
            malformed = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Maybe", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "kms:*", "Resource": "*"}]})
            with self.assertRaises(botocore.exceptions.ClientError) as raised:
                kms.create_key(Policy=malformed)  # refused: no key is made
            message = raised.exception.response["Error"]["Message"]
            # Enough keys for three pages of the keys table, a few of them disabled.
            for index in range(55):
                key_id = kms.create_key(Description=f"bulk key {index}")["KeyMetadata"]["KeyId"]
                if index % 20 == 0:
                    kms.disable_key(KeyId=key_id)
            audit = "1" if self.has_lookup_events(server) else "0"

            shots = os.environ.get("KMSD_CONSOLE_SCREENSHOTS") or tempfile.mkdtemp(prefix="kmsd-console-shots-")
            os.makedirs(shots, exist_ok=True)
            env = dict(os.environ, KMSD_WEB_DIR=WEB_DIR, KMSD_ENDPOINT=server.endpoint,
                       ROOT_ACCESS_KEY_ID=server.access_key, ROOT_SECRET_ACCESS_KEY=server.secret_key,
                       LIMITED_USER=LIMITED_USER, LIMITED_ACCESS_KEY_ID=limited["AccessKeyId"],
                       LIMITED_SECRET_ACCESS_KEY=limited["SecretAccessKey"],
                       SESSION_ACCESS_KEY_ID=session["AccessKeyId"],
                       SESSION_SECRET_ACCESS_KEY=session["SecretAccessKey"],
                       SESSION_TOKEN=session["SessionToken"],
                       MALFORMED_POLICY=malformed, MALFORMED_POLICY_MESSAGE=message,
                       SCREENSHOT_DIR=shots, KMSD_CONSOLE_AUDIT=audit, CHROMIUM=CHROMIUM)
            try:
                run = subprocess.run(["node", os.path.join(HERE, "console", "browser_test.mjs")],
                                     env=env, capture_output=True, text=True, timeout=150)
            except subprocess.TimeoutExpired as expired:
                self.fail(f"browser test over 150 s:\n{expired.stdout}\n{expired.stderr}")
            print(run.stdout, run.stderr)
            self.assertEqual(run.returncode, 0, f"{run.stdout}\n{run.stderr}\nscreenshots: {shots}")
            self.assertIn("browser test: all steps passed", run.stdout)
            if not os.environ.get("KMSD_CONSOLE_SCREENSHOTS"):
                shutil.rmtree(shots, ignore_errors=True)

    @staticmethod
    def has_lookup_events(server):
        try:
            server.client(service="cloudtrail").lookup_events(MaxResults=1)
            return True
        except botocore.exceptions.ClientError:
            return False


if __name__ == "__main__":
    unittest.main()
