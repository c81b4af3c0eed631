"""The kms envelope tool end to end against the real kmsd: round trips of every shape, streams,
several keys, where it finds endpoint and credentials, and how it fails (exit code, message, no
partial output left behind). EnvelopeCase is shared with test_envelope_interop.py."""
import json
import os
import pty
import re
import select
import stat
import subprocess
import tempfile
import time
import unittest

from kmsd_harness import KmsdServer
from test_tls import make_certificate

KMS = os.environ.get("KMS_BINARY", os.path.join(os.path.dirname(__file__), "../../build/kms"))
SIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
UNSIGNED = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"
MIB = 1024 * 1024

# Exit codes (docs/ENVELOPE.md).
REFUSED, USAGE, KMS_ERROR, IO_ERROR = 1, 2, 3, 4


class EnvelopeCase(unittest.TestCase):
    """One kmsd and two keys per class; kms runs with the credentials in its environment."""

    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer().__enter__()
        kms = cls.server.client()
        cls.key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.second_arn = kms.create_key()["KeyMetadata"]["Arn"]
        cls.work = tempfile.mkdtemp(prefix="kms-envelope-")
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID=cls.server.access_key,
                       AWS_SECRET_ACCESS_KEY=cls.server.secret_key, AWS_REGION=cls.server.region,
                       AWS_ENDPOINT_URL=cls.server.endpoint, HOME=cls.work)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_KMS", "AWS_DEFAULT_REGION"):
            cls.env.pop(name, None)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        subprocess.run(["rm", "-rf", cls.work], check=False)

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def kms(self, *args, check=True, stdin=None, env=None):
        result = subprocess.run([KMS, *args], env=env or self.env, capture_output=True, input=stdin,
                                timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"kms {' '.join(args)}: {result.stderr.decode()}")
        return result

    def assertRefused(self, result, exit_code, fragment):
        self.assertEqual(result.returncode, exit_code, result.stderr)
        self.assertIn(fragment.encode(), result.stderr)

    def leftovers(self):
        return [name for name in os.listdir(self.work) if ".kms-partial-" in name]


class EnvelopeCli(EnvelopeCase):
    def test_round_trips_every_size_with_both_suites(self):
        # 1 MiB is exactly one pipeline block: the message ends with an empty final frame.
        for algorithm in (SIGNED, UNSIGNED):
            for size in (0, 1, 4095, 4096, 4097, MIB, 3 * MIB + 5):
                data = os.urandom(size)
                self.kms("encrypt", "--algorithm", algorithm, "--key-id", self.key_arn, "--context",
                         "purpose=test", self.write("plain", data), self.path("sealed"))
                sealed = self.read("sealed")
                self.assertEqual(sealed[0], 2)
                if size >= 64:
                    self.assertNotIn(data[:64], sealed)
                self.kms("decrypt", "--context", "purpose=test", self.path("sealed"), self.path("opened"))
                self.assertEqual(self.read("opened"), data, (algorithm, size))

    def test_frame_lengths_and_single_threaded(self):
        data = os.urandom(300_000)
        for frame_length, threads in (("1", "2"), ("1000", "0"), ("65536", "1"), ("1048576", "4")):
            self.kms("--threads", threads, "encrypt", "--frame-length", frame_length, "--key-id",
                     self.key_arn, self.write("f", data), self.path("f.enc"))
            self.kms("--threads", threads, "decrypt", self.path("f.enc"), self.path("f.out"))
            self.assertEqual(self.read("f.out"), data, frame_length)

    def test_streams_through_stdin_and_stdout(self):
        data = os.urandom(2 * MIB + 1)
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=data).stdout
        self.assertEqual(self.kms("decrypt", "-", "-", stdin=sealed).stdout, data)

    def test_writing_to_a_device_leaves_the_device_alone(self):
        # kms renames a finished temporary file over a regular OUTPUT; a device must never be
        # replaced that way (an early version turned /dev/null into a file).
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"to the void").stdout
        self.kms("decrypt", self.write("void.enc", sealed), "/dev/null")
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/null").st_mode))

    def test_output_through_a_symlink_replaces_the_target(self):
        self.write("target", b"old")
        link = self.path("link")
        if not os.path.lexists(link):
            os.symlink(self.path("target"), link)
        self.kms("encrypt", "--key-id", self.key_arn, self.write("s", b"new"), link)
        self.assertTrue(os.path.islink(link))
        self.kms("decrypt", self.path("target"), self.path("s.out"))
        self.assertEqual(self.read("s.out"), b"new")

    def test_several_keys_each_open_the_message(self):
        data = b"shared by two keys"
        self.kms("encrypt", "--key-id", self.key_arn, "--key-id", self.second_arn, self.write("two", data),
                 self.path("two.enc"))
        kms = self.server.client()
        kms.disable_key(KeyId=self.key_arn)
        try:
            self.kms("decrypt", self.path("two.enc"), self.path("two.out"))
            self.assertEqual(self.read("two.out"), data)
        finally:
            kms.enable_key(KeyId=self.key_arn)
        self.assertRefused(self.kms("decrypt", "--max-encrypted-data-keys", "1", self.path("two.enc"),
                                    self.path("two.out2"), check=False),
                           REFUSED, "2 encrypted data keys")

    def test_damaged_messages_are_refused_and_leave_no_output(self):
        data = os.urandom(3 * MIB)
        self.kms("encrypt", "--frame-length", "1024", "--key-id", self.key_arn, "--context", "a=1",
                 self.write("p", data), self.path("c"))
        sealed = self.read("c")
        cases = {
            "truncated mid-way": (sealed[: len(sealed) // 2], "truncated"),
            "truncated before the signature": (sealed[:-50], "truncated"),
            "a flipped bit deep in the body": (sealed[:2 * MIB] + bytes([sealed[2 * MIB] ^ 1]) + sealed[2 * MIB + 1:],
                                               "authentication"),
            "a flipped bit in the signature": (sealed[:-3] + bytes([sealed[-3] ^ 1]) + sealed[-2:], "signature"),
            "not a message": (b"hello world" * 10, "not a valid encrypted message"),
            "extended": (sealed + b"x", "bytes follow"),
        }
        for name, (message, fragment) in cases.items():
            result = self.kms("decrypt", self.write("bad", message), self.path("out"), check=False)
            self.assertRefused(result, REFUSED, fragment)
            self.assertFalse(os.path.exists(self.path("out")), name)
        self.assertEqual(self.leftovers(), [])

    def test_a_damaged_stream_fails_loudly(self):
        sealed = self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=os.urandom(3 * MIB)).stdout
        result = self.kms("decrypt", "-", "-", stdin=sealed[:-10], check=False)
        self.assertRefused(result, REFUSED, "discard")
        # Nothing of the last block (up to 1 MiB) is released before the end checks out.
        self.assertLessEqual(len(result.stdout), 2 * MIB)

    def test_wrong_context_and_unknown_keys(self):
        self.kms("encrypt", "--key-id", self.key_arn, "--context", "a=1", self.write("ctx", b"x"),
                 self.path("ctx.enc"))
        self.assertRefused(self.kms("decrypt", "--context", "a=2", self.path("ctx.enc"), self.path("o"),
                                    check=False), REFUSED, "a=2")
        # Strict mode: only data keys under the given key ARNs.
        self.assertRefused(self.kms("decrypt", "--key-id", self.second_arn, self.path("ctx.enc"), self.path("o"),
                                    check=False), REFUSED, "--key-id")
        self.kms("decrypt", "--key-id", self.second_arn, "--key-id", self.key_arn, self.path("ctx.enc"),
                 self.path("strict.out"))
        self.assertEqual(self.read("strict.out"), b"x")
        self.assertRefused(self.kms("encrypt", "--key-id", "alias/absent", self.path("ctx"), self.path("o"),
                                    check=False), KMS_ERROR, "NotFoundException")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "--context", "aws-crypto-x=1",
                                    self.path("ctx"), self.path("o"), check=False), USAGE, "reserved")
        self.assertFalse(os.path.exists(self.path("o")))
        self.assertEqual(self.leftovers(), [])

    def test_usage_and_io_errors(self):
        self.assertEqual(self.kms("encrypt", self.path("nothing"), self.path("o"), check=False).returncode, USAGE)
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, self.path("absent"), self.path("o"),
                                    check=False), IO_ERROR, "absent")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "--algorithm", "AES_128", "-", "-",
                                    check=False, stdin=b""), USAGE, "AES_128")
        bad_secret = dict(self.env, AWS_SECRET_ACCESS_KEY="wrong")
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"x", check=False,
                                    env=bad_secret), KMS_ERROR, "InvalidSignatureException")

    def test_endpoint_and_credentials_as_the_aws_tools_find_them(self):
        os.makedirs(self.path(".aws"), exist_ok=True)
        with open(self.path(".aws/credentials"), "w") as f:
            f.write(f"[kmsd]\naws_access_key_id = {self.server.access_key}\n"
                    f"aws_secret_access_key = {self.server.secret_key}\n")
        with open(self.path(".aws/config"), "w") as f:
            f.write("[profile kmsd]\nregion = us-east-1\n")
        env = {k: v for k, v in self.env.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
        self.kms("--profile", "kmsd", "encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=env)
        self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=dict(env, AWS_PROFILE="kmsd"))
        self.assertEqual(self.kms("--profile", "absent", "encrypt", "--key-id", self.key_arn, "-", "-",
                                  stdin=b"x", check=False, env=env).returncode, USAGE)
        # The service-specific endpoint variable wins over the global one, the flag over both.
        dead = "http://127.0.0.1:9"
        self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"e",
                 env=dict(self.env, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_KMS=self.server.endpoint))
        self.kms("--endpoint-url", self.server.endpoint, "encrypt", "--key-id", self.key_arn, "-", "-",
                 stdin=b"e", env=dict(self.env, AWS_ENDPOINT_URL_KMS=dead))
        self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"e", check=False,
                                    env=dict(self.env, AWS_ENDPOINT_URL=dead)), KMS_ERROR, "cannot reach")


class KmsCommandLine(EnvelopeCase):
    """The command line as the aws CLI's users expect it: --version, exit codes, global options
    anywhere, endpoints from the profile, a User-Agent, errors that name the fix, progress."""

    def bare_env(self, *drop):
        return {k: v for k, v in self.env.items() if k not in drop}

    def test_version_help_and_usage_exit_codes(self):
        with open(os.path.join(os.path.dirname(__file__), "../../CMakeLists.txt")) as f:
            version = re.search(r"project\(kmsd VERSION (\S+)", f.read()).group(1)
        result = self.kms("--version")
        self.assertEqual(result.stdout.decode().strip(), f"kms {version}")
        helped = self.kms("--help")
        self.assertIn(b"Exit codes: 0 done", helped.stdout)
        self.assertIn(b"before or after the subcommand", helped.stdout)
        for args in (["frobnicate"], [], ["encrypt", "--no-such-flag", "-", "-"], ["--progress", "--no-progress",
                                                                                    "decrypt", "-", "-"]):
            self.assertEqual(self.kms(*args, check=False, stdin=b"").returncode, USAGE, args)

    def test_global_options_after_the_subcommand(self):
        env = self.bare_env("AWS_ENDPOINT_URL", "AWS_REGION")
        place = ["--endpoint-url", self.server.endpoint, "--region", self.server.region, "--threads", "1"]
        sealed = self.kms("encrypt", "--key-id", self.key_arn, *place, "-", "-", stdin=b"anywhere", env=env)
        opened = self.kms("decrypt", "-", "-", *place, stdin=sealed.stdout, env=env)
        self.assertEqual(opened.stdout, b"anywhere")
        # Before the subcommand still works, and a flag after it wins like one before it.
        self.kms(*place, "decrypt", "-", "-", stdin=sealed.stdout, env=env)
        self.assertRefused(self.kms("decrypt", "--endpoint-url", "http://127.0.0.1:9", "-", "-",
                                    stdin=sealed.stdout, check=False), KMS_ERROR,
                           "cannot reach KMS at http://127.0.0.1:9 (from --endpoint-url)")

    def write_config(self, text):
        os.makedirs(self.path(".aws"), exist_ok=True)
        with open(self.path(".aws/config"), "w") as f:
            f.write(text)

    def test_endpoint_from_the_profile_and_its_services_section(self):
        env = self.bare_env("AWS_ENDPOINT_URL")
        dead = "http://127.0.0.1:9"
        try:
            self.write_config(f"[default]\nendpoint_url = {self.server.endpoint}\n")
            self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=env)
            # The services section's kms endpoint wins over the profile's own.
            self.write_config(f"[profile local]\nendpoint_url = {dead}\nservices = kmsd\n"
                              f"[services kmsd]\nkms =\n  endpoint_url = {self.server.endpoint}\n")
            local = dict(env, AWS_PROFILE="local")  # the keys stay the environment's
            self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", env=local)
            # The environment wins over the profile, and the message says where the endpoint came from.
            self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", check=False,
                                        env=dict(local, AWS_ENDPOINT_URL=dead)),
                               KMS_ERROR, "(from AWS_ENDPOINT_URL)")
            self.write_config(f"[default]\nendpoint_url = {dead}\n")
            self.assertRefused(self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"p", check=False,
                                        env=env), KMS_ERROR, "(from endpoint_url in [default])")
            # Ignoring configured endpoints leaves the flag (never AWS itself in a test).
            self.kms("encrypt", "--key-id", self.key_arn, "--endpoint-url", self.server.endpoint, "-", "-",
                     stdin=b"p", env=dict(env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true",
                                          AWS_ENDPOINT_URL_KMS=dead))
        finally:
            os.remove(self.path(".aws/config"))

    def test_every_request_names_kms_and_its_version(self):
        self.kms("encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"agent")
        version = self.kms("--version").stdout.decode().split()[1]
        agents = set()
        audit_dir = os.path.join(self.server.data_dir, "audit")
        deadline = time.monotonic() + 10
        while f"kms/{version}" not in agents and time.monotonic() < deadline:
            for name in os.listdir(audit_dir):
                if name.endswith(".jsonl") or name.endswith(".json"):
                    with open(os.path.join(audit_dir, name)) as f:
                        agents |= {json.loads(line).get("userAgent") for line in f if line.strip()}
            time.sleep(0.05)
        self.assertIn(f"kms/{version}", agents)

    def test_a_wrong_region_names_the_servers_region(self):
        result = self.kms("encrypt", "--key-id", self.key_arn, "--region", "eu-west-1", "-", "-", stdin=b"x",
                          check=False)
        self.assertRefused(result, KMS_ERROR, "InvalidSignatureException")
        self.assertIn(b"This endpoint serves region 'us-east-1', not 'eu-west-1'", result.stderr)
        # The aws CLI shows the same message.
        code, _, stderr = self.server.aws_profiles({}, "kms", "list-keys", "--region", "eu-west-1", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("This endpoint serves region 'us-east-1'", stderr)

    def test_decrypt_key_id_must_be_a_key_arn(self):
        key_id = self.key_arn.split("/")[-1]
        self.server.client().create_alias(AliasName="alias/cli-decrypt", TargetKeyId=key_id)
        sealed = self.kms("encrypt", "--key-id", "alias/cli-decrypt", "-", "-", stdin=b"by alias").stdout
        for given, what in (("alias/cli-decrypt", "an alias name"), (key_id, "a key id"),
                            (self.key_arn.replace(f"key/{key_id}", "alias/cli-decrypt"), "an alias ARN")):
            result = self.kms("decrypt", "--key-id", given, "-", "-", stdin=sealed, check=False)
            self.assertRefused(result, USAGE, "wants a key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY_ID)")
            self.assertIn(f"'{given}' is {what}".encode(), result.stderr)
            self.assertEqual(result.stdout, b"")
        # The ARN that describe-key shows, as the message says, opens it.
        arn = self.server.client().describe_key(KeyId="alias/cli-decrypt")["KeyMetadata"]["Arn"]
        self.assertEqual(self.kms("decrypt", "--key-id", arn, "-", "-", stdin=sealed).stdout, b"by alias")

    def test_progress_is_off_when_stderr_is_not_a_terminal(self):
        data = os.urandom(9 * MIB)
        sealed = self.kms("encrypt", "--key-id", self.key_arn, self.write("big", data), "-")
        self.assertEqual(sealed.stderr, b"")
        opened = self.kms("decrypt", "-", "-", stdin=sealed.stdout)
        self.assertEqual(opened.stderr, b"")
        self.assertEqual(opened.stdout, data)

    def test_progress_forced_reaches_one_hundred_percent_and_leaves_stdout_alone(self):
        data = os.urandom(9 * MIB)
        sealed = self.kms("--progress", "encrypt", "--key-id", self.key_arn, self.write("big", data), "-")
        self.assertRegex(sealed.stderr, rb"\r\[#{20}\] 100%  9\.0 MiB / 9\.0 MiB.*\n$")
        opened = self.kms("decrypt", "--progress", "-", "-", stdin=sealed.stdout)  # a pipe: size unknown
        self.assertEqual(opened.stdout, data)
        self.assertRegex(opened.stderr, rb"\r9\.\d MiB .*/s *\n$")
        small = self.kms("decrypt", "--progress", self.write("small.enc", self.kms(
            "encrypt", "--key-id", self.key_arn, "-", "-", stdin=b"tiny").stdout), "-")
        self.assertEqual(small.stdout, b"tiny")
        self.assertIn(b"100%", small.stderr)

    def run_on_terminal(self, *args):
        """Runs kms with stderr on a pseudo-terminal; returns (exit code, stdout, what the terminal showed)."""
        main, secondary = pty.openpty()
        try:
            process = subprocess.Popen([KMS, *args], env=self.env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=secondary)
            os.close(secondary)
            shown = b""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                ready, _, _ = select.select([main], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(main, 65536)
                    except OSError:  # the terminal closed: kms is done
                        break
                    if not chunk:
                        break
                    shown += chunk
                elif process.poll() is not None:
                    break
            stdout = process.stdout.read()
            process.stdout.close()
            return process.wait(timeout=60), stdout, shown
        finally:
            os.close(main)

    def test_progress_on_a_terminal_for_large_inputs_only(self):
        big = self.write("big", os.urandom(12 * MIB))
        code, stdout, shown = self.run_on_terminal("encrypt", "--key-id", self.key_arn, big, self.path("big.enc"))
        self.assertEqual(code, 0, shown)
        self.assertEqual(stdout, b"")
        self.assertIn(b"100%  12.0 MiB / 12.0 MiB", shown)
        code, _, shown = self.run_on_terminal("--no-progress", "decrypt", self.path("big.enc"), self.path("big.out"))
        self.assertEqual((code, shown), (0, b""))
        self.assertEqual(self.read("big.out"), self.read("big"))
        small = self.write("small", b"small")
        code, _, shown = self.run_on_terminal("encrypt", "--key-id", self.key_arn, small, self.path("small.enc"))
        self.assertEqual((code, shown), (0, b""))


class EnvelopeOverHttps(unittest.TestCase):
    def test_https_endpoints_are_verified_against_the_ca_bundle(self):
        with tempfile.TemporaryDirectory() as directory:
            certificates = []
            for name in ("server", "stranger"):
                os.makedirs(os.path.join(directory, name))
                certificates.append(make_certificate(os.path.join(directory, name)))
            (cert, key), (stranger, _) = certificates
            with KmsdServer(extra_args=["--tls-cert", cert, "--tls-key", key]) as server:
                self.assertTrue(server.endpoint.startswith("https://"))
                env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
                           AWS_REGION=server.region, AWS_ENDPOINT_URL=server.endpoint, AWS_CA_BUNDLE=cert)
                key_arn = create_key_over_tls(server, cert)
                sealed = subprocess.run([KMS, "encrypt", "--key-id", key_arn, "-", "-"], env=env,
                                        input=b"over tls", capture_output=True, timeout=60)
                self.assertEqual(sealed.returncode, 0, sealed.stderr)
                opened = subprocess.run([KMS, "decrypt", "-", "-"], env=env, input=sealed.stdout,
                                        capture_output=True, timeout=60)
                self.assertEqual(opened.stdout, b"over tls", opened.stderr)
                untrusted = subprocess.run([KMS, "encrypt", "--key-id", key_arn, "-", "-"],
                                           env=dict(env, AWS_CA_BUNDLE=stranger), input=b"x",
                                           capture_output=True, timeout=60)
                self.assertEqual(untrusted.returncode, KMS_ERROR)
                self.assertIn(b"cannot reach KMS", untrusted.stderr)


def create_key_over_tls(server, cert):
    import boto3
    kms = boto3.client("kms", endpoint_url=server.endpoint, region_name=server.region,
                       aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key, verify=cert)
    return kms.create_key()["KeyMetadata"]["Arn"]


if __name__ == "__main__":
    unittest.main()
