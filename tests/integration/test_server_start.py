"""How kmsd starts and refuses to start: one owner per data dir, the port claimed before anything
is written, root credentials shown only once listening, the config file, logs, version and exit
codes. Real kmsd processes, real clients."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import botocore.exceptions

from kmsd_harness import KMSD_BINARY, KmsdServer


def run_kmsd(args, env_extra=None, timeout=20):
    """Runs kmsd to completion (for starts that must fail) and returns (exit code, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_ROOT")}
    env.update(env_extra or {})
    result = subprocess.run([KMSD_BINARY, *args], capture_output=True, text=True, env=env,
                            timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def audit_verify(data_dir):
    result = subprocess.run([KMSD_BINARY, "audit", "verify", "--data-dir", data_dir],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


class OneOwnerPerDataDir(unittest.TestCase):
    def test_a_second_server_on_the_same_data_dir_exits_naming_the_owner(self):
        with KmsdServer() as first:
            key = first.client().create_key()["KeyMetadata"]["KeyId"]
            code, output = run_kmsd(["serve", "--listen", "127.0.0.1:0", "--data-dir",
                                     first.data_dir])
            self.assertEqual(code, 1, output)
            self.assertIn(f"in use by another kmsd (pid {first.process.pid})", output)
            # The loser wrote nothing: the owner goes on serving the same key, and its trail is
            # whole.
            first.client().disable_key(KeyId=key)
            self.assertFalse(first.client().describe_key(KeyId=key)["KeyMetadata"]["Enabled"])
            first.stop()
            code, report = audit_verify(first.data_dir)
            self.assertEqual(code, 0, report)

    def test_make_run_twice_same_dir_and_port_leaves_the_trail_intact(self):
        with KmsdServer() as first:
            first.client().create_key()
            port = first.endpoint.rsplit(":", 1)[1]
            code, output = run_kmsd(["serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                     first.data_dir])
            self.assertEqual(code, 1, output)
            self.assertIn("in use by another kmsd", output)
            first.client().list_keys()
            first.stop()
            code, report = audit_verify(first.data_dir)
            self.assertEqual(code, 0, report)

    def test_the_lock_dies_with_its_process(self):
        server = KmsdServer()
        with server:
            key = server.client().create_key()["KeyMetadata"]["KeyId"]
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
            server.process.stdout.close()
            server.process = None
            server.start()  # no stale lock to clear by hand
            self.assertEqual(server.client().describe_key(KeyId=key)["KeyMetadata"]["KeyId"], key)

    def test_a_shared_audit_dir_has_one_owner_too(self):
        audit_dir = tempfile.mkdtemp(prefix="kmsd-audit-")
        try:
            with KmsdServer(extra_args=["--audit-dir", audit_dir]) as first:
                other_dir = tempfile.mkdtemp(prefix="kmsd-test-")
                code, output = run_kmsd(["serve", "--listen", "127.0.0.1:0", "--data-dir", other_dir,
                                         "--audit-dir", audit_dir])
                shutil.rmtree(other_dir, ignore_errors=True)
                self.assertEqual(code, 1, output)
                self.assertIn(f"{audit_dir} is in use by another kmsd (pid {first.process.pid})",
                              output)
        finally:
            shutil.rmtree(audit_dir, ignore_errors=True)


class PortBeforeAnythingIsWritten(unittest.TestCase):
    def start_on_a_busy_port(self, args_for_port):
        """Starts kmsd on a fresh data dir with a port some socket holds; returns (code, output,
        what the data dir holds afterwards)."""
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            data_dir = tempfile.mkdtemp(prefix="kmsd-test-")
            try:
                code, output = run_kmsd(["serve", "--data-dir", data_dir, *args_for_port(port)])
                return code, output, sorted(os.listdir(data_dir))
            finally:
                shutil.rmtree(data_dir, ignore_errors=True)

    def test_a_busy_port_fails_the_start_before_any_file_is_made(self):
        code, output, files = self.start_on_a_busy_port(lambda port: ["--listen", f"127.0.0.1:{port}"])
        self.assertEqual(code, 1, output)
        self.assertIn("Address already in use", output)
        # No root key, database, credentials or audit trail: only the lock file.
        self.assertEqual(files, ["kmsd.lock"])
        self.assertNotIn("AWS_SECRET_ACCESS_KEY", output)

    def test_a_busy_metrics_port_fails_the_start_before_any_file_is_made(self):
        code, output, files = self.start_on_a_busy_port(
            lambda port: ["--listen", "127.0.0.1:0", "--metrics-listen", f"127.0.0.1:{port}"])
        self.assertEqual(code, 1, output)
        self.assertIn("cannot listen on 127.0.0.1:", output)
        self.assertEqual(files, ["kmsd.lock"])


class RootCredentials(unittest.TestCase):
    def test_generated_credentials_are_shown_after_the_listening_line(self):
        server = KmsdServer()
        server.access_key = server.secret_key = ""  # let kmsd generate them
        with server:
            access_key, secret = server.generated_credentials()
            output = "".join(server.output)
            self.assertGreater(output.index(f"AWS_SECRET_ACCESS_KEY={secret}"), output.index("listening on"))
            self.assertIn("kept only sealed in the keystore", output)
            # Never in a file of the data dir in the clear.
            self.assertFalse(os.path.exists(os.path.join(server.data_dir, "root-credentials")))
            server.restart()
            again = "".join(server.output)
            # Every later start says where they are, never the secret again.
            self.assertIn(f"root access key id: {access_key} (its secret is sealed in the keystore)",
                          again)
            self.assertEqual(again.count(secret), 1)
            self.assertIn("Keys", server.client(access_key=access_key, secret_key=secret).list_keys())

    def test_credentials_from_the_environment_replace_the_sealed_ones_for_good(self):
        # The sealed credentials were lost or stolen: a start with KMSD_ROOT_* replaces them, and
        # they never work again, even once the environment no longer gives any.
        server = KmsdServer()
        server.access_key = server.secret_key = ""
        with server:
            old_key, old_secret = server.generated_credentials()
            server.stop()
            server.access_key, server.secret_key = "AKIAREPLACEMENT00000", "a-replacement-secret-0123"
            server.start()
            self.assertIn(f"replaces the root credentials sealed by an earlier start ({old_key}), "
                          "which are deleted", "".join(server.output))
            self.assertIn("Keys", server.client().list_keys())
            with self.assertRaises(botocore.exceptions.ClientError):
                server.client(access_key=old_key, secret_key=old_secret).list_keys()
            server.stop()
            entries = len(server.output)
            server.access_key = server.secret_key = ""
            server.start()
            new_key, new_secret = server.generated_credentials(since=entries)
            self.assertIn("Generated root credentials", "".join(server.output[entries:]))
            self.assertNotEqual(new_key, old_key)
            with self.assertRaises(botocore.exceptions.ClientError):
                server.client(access_key=old_key, secret_key=old_secret).list_keys()
            self.assertIn("Keys", server.client(access_key=new_key, secret_key=new_secret).list_keys())

    def test_a_plaintext_credentials_file_is_sealed_and_removed(self):
        # A data dir of an older kmsd (or restored from an older backup) holds root-credentials
        # in the clear: the start seals it into the keystore and removes the file, and the
        # credentials stay the same.
        server = KmsdServer()
        server.access_key = server.secret_key = ""
        path = os.path.join(server.data_dir, "root-credentials")
        os.makedirs(server.data_dir, exist_ok=True)
        access_key, secret = "AKIAOLDPLAINTEXTFILE", "old-plaintext-secret-0123456789"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{access_key}\n{secret}\n")
        try:
            server.start()
            try:
                self.assertFalse(os.path.exists(path))
                output = "".join(server.output)
                self.assertIn("are now sealed in the keystore and the plaintext file is removed", output)
                self.assertNotIn(secret, output)
                self.assertIn("Keys", server.client(access_key=access_key, secret_key=secret).list_keys())
                server.restart()
                self.assertIn("Keys", server.client(access_key=access_key, secret_key=secret).list_keys())
                for name in os.listdir(server.data_dir):
                    if os.path.isfile(os.path.join(server.data_dir, name)):
                        with open(os.path.join(server.data_dir, name), "rb") as f:
                            self.assertNotIn(secret.encode(), f.read(), name)
            finally:
                server.stop()
            # A file that disagrees with the sealed credentials: kmsd cannot tell which is meant,
            # so it refuses to start and changes nothing.
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write("AKIAANOTHERROOTKEY00\nanother-root-secret-0123456789\n")
            code, output = run_kmsd(["serve", "--listen", "127.0.0.1:0", "--data-dir", server.data_dir])
            self.assertEqual(code, 1, output)
            self.assertIn("holds other root credentials (access key id AKIAANOTHERROOTKEY00) than "
                          f"those sealed in the keystore ({access_key})", output)
            self.assertNotIn("another-root-secret", output)
            self.assertTrue(os.path.exists(path))
        finally:
            shutil.rmtree(server.data_dir, ignore_errors=True)

    def test_a_short_root_secret_is_refused(self):
        data_dir = tempfile.mkdtemp(prefix="kmsd-test-")
        try:
            code, output = run_kmsd(
                ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                env_extra={"KMSD_ROOT_ACCESS_KEY_ID": "AKIASHORTSECRET00000",
                           "KMSD_ROOT_SECRET_ACCESS_KEY": "fifteen-chars!!"})
            self.assertEqual(code, 1, output)
            self.assertIn("has 15 characters; it must have at least 16", output)
            self.assertNotIn("fifteen-chars!!", output)
            # A short secret in the credentials file is refused the same way.
            path = os.path.join(data_dir, "root-credentials")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write("AKIASHORTSECRET00000\nshort\n")
            code, output = run_kmsd(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
            self.assertEqual(code, 1, output)
            self.assertIn("it must have at least 16", output)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


class ConfigFileVersionAndExitCodes(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kmsd-config-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, text):
        path = os.path.join(self.dir, "kmsd.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_settings_come_from_the_file_and_flags_win(self):
        path = self.write('# kmsd settings\nregion = "eu-west-2"\naccount-id = "444455556666"\n'
                          'log-format = "json"\nscheduler-interval = 30\n')
        # The harness gives --region us-east-1 on the command line: it wins over the file's.
        with KmsdServer(extra_args=["--config", path]) as server:
            self.assertIn("region us-east-1, account 444455556666", "".join(server.output))
            arn = server.client().create_key()["KeyMetadata"]["Arn"]
            self.assertTrue(arn.startswith("arn:aws:kms:us-east-1:444455556666:key/"), arn)
            # log-format = "json" came from the file too.
            deadline = time.time() + 10
            while not any(line.startswith("{") for line in server.log_lines()):
                self.assertLess(time.time(), deadline, server.log_lines())
                time.sleep(0.05)

    def test_an_unknown_key_or_a_bad_value_is_a_usage_error(self):
        code, output = run_kmsd(["serve", "--config", self.write('listne = "127.0.0.1:0"\n')])
        self.assertEqual(code, 2, output)
        self.assertIn('unknown key "listne"', output)
        code, output = run_kmsd(["serve", "--config", self.write("audit-committers = 99\n")])
        self.assertEqual(code, 2, output)
        self.assertIn("audit-committers", output)
        code, output = run_kmsd(["serve", "--config", os.path.join(self.dir, "missing.toml")])
        self.assertEqual(code, 2, output)
        self.assertIn("cannot read the config file", output)

    def test_version_help_and_exit_codes(self):
        code, output = run_kmsd(["--version"])
        self.assertEqual(code, 0, output)
        self.assertRegex(output.strip(), r"^kmsd \d+\.\d+\.\d+$")
        code, output = run_kmsd(["serve", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("--config", output)
        self.assertEqual(run_kmsd(["serve", "--no-such-flag"])[0], 2)
        self.assertEqual(run_kmsd([])[0], 2)
        self.assertEqual(run_kmsd(["serve", "--log-format", "xml", "--data-dir", self.dir])[0], 2)
        self.assertEqual(run_kmsd(["serve", "--log-level", "loud", "--data-dir", self.dir])[0], 2)


class Logs(unittest.TestCase):
    def access_lines(self, server):
        return [line for line in server.log_lines()
                if re.match(r"^\S+ info access ", line) or '"logger":"access"' in line]

    def wait_for(self, predicate, server):
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = self.access_lines(server)
            if predicate(lines):
                return lines
            time.sleep(0.05)
        self.fail("access log lines never came:\n" + "\n".join(server.log_lines()))

    def test_text_access_log_has_one_line_per_request(self):
        with KmsdServer() as server:
            client = server.client()
            key = client.create_key()["KeyMetadata"]["KeyId"]
            with self.assertRaises(client.exceptions.NotFoundException):
                client.describe_key(KeyId="alias/missing")
            lines = self.wait_for(lambda lines: len(lines) >= 2, server)
            created, missing = lines[0].split(), lines[1].split()
            # <time> info access <id> <principal> <operation> <status> <error> <latency> <client>
            self.assertEqual(created[3:8], [created[3], f"arn:aws:iam::111122223333:root",
                                            "CreateKey", "200", "-"])
            self.assertRegex(created[8], r"^\d+\.\d{3}ms$")
            self.assertEqual(created[9], "127.0.0.1")
            self.assertEqual(missing[5:8], ["DescribeKey", "400", "NotFoundException"])
            self.assertNotIn(key, "\n".join(lines))  # no request bodies in the access log

    def test_json_lines_and_no_access_log(self):
        with KmsdServer(extra_args=["--log-format", "json"]) as server:
            server.client().list_keys()
            line = self.wait_for(lambda lines: len(lines) >= 1, server)[0]
            record = json.loads(line)
            self.assertEqual(record["logger"], "access")
            self.assertEqual(record["operation"], "ListKeys")
            self.assertEqual(record["status"], 200)
            self.assertRegex(record["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertGreaterEqual(record["latency_ms"], 0)
        with KmsdServer(extra_args=["--no-access-log"]) as server:
            server.client().list_keys()
            server.stop()
            self.assertEqual(self.access_lines(server), [])
            self.assertIn("shutting down", "\n".join(server.log_lines()))


if __name__ == "__main__":
    unittest.main()
