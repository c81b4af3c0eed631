"""Secrets stay out of core files and other processes (docs/SECURITY.md, "Memory and core dumps").

A kmsd that served data keys and an Encrypt is killed with SIGSEGV, with the core limit it
inherits raised to unlimited: by default no file anywhere we can look holds the data keys, the root
key or the plaintext; with --allow-core-dumps a core is written, and still holds none of the
secrets kept in the secure arena. /proc/PID/status shows the locked memory.
"""
import glob
import mmap
import os
import pwd
import resource
import shutil
import signal
import tempfile
import time
import unittest

from kmsd_harness import KMSD_BINARY, KmsdServer

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
DEADLINE_SECONDS = 15


def unlimited_cores():
    """Runs in the child before exec: only kmsd's own hardening may then prevent a core."""
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"/proc/{pid}/status has no {name}")


def core_file_limit(pid):
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max core file size"):
                return line.split()[4:6]  # soft, hard
    raise AssertionError("no core limit in /proc/PID/limits")


def files_under(*directories):
    for directory in directories:
        for root, _, names in os.walk(directory):
            for name in names:
                yield os.path.join(root, name)


def file_contains(path, needle):
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return data.find(needle) >= 0
    except (PermissionError, FileNotFoundError, IsADirectoryError):
        return False


def core_directory(working_dir):
    """Where the kernel writes cores under the current core_pattern, or None when it pipes them
    to a program (systemd-coredump, apport) or names a directory we cannot read."""
    with open(CORE_PATTERN) as pattern_file:
        pattern = pattern_file.read().strip()
    if pattern.startswith("|"):
        return None
    directory = os.path.dirname(pattern) if "/" in pattern else ""
    directory = os.path.join(working_dir, directory) if not os.path.isabs(directory) else directory
    return directory if os.path.isdir(directory) else None


class SecretHygieneTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kmsd-hygiene-")
        os.chmod(self.work, 0o777)
        self.data_dir = os.path.join(self.work, "data")
        self.addCleanup(shutil.rmtree, self.work, True)

    def serve_secrets(self, server):
        """Data keys and an Encrypt; returns {what: secret bytes} to look for afterwards."""
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        secrets = {}
        for i in range(4):
            secrets[f"data key {i}"] = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
        plaintext = b"hygiene-plaintext:" + os.urandom(24)
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], plaintext)
        secrets["Encrypt plaintext"] = plaintext
        with open(os.path.join(self.data_dir, "root.key"), "rb") as root_key:
            secrets["root key"] = root_key.read()
        self.assertEqual(len(secrets["root key"]), 32)
        secrets["root secret access key"] = server.secret_key.encode()
        return secrets

    def crash(self, server):
        pid = server.process.pid
        os.kill(pid, signal.SIGSEGV)
        server.process.wait(timeout=DEADLINE_SECONDS)
        self.assertEqual(server.process.returncode, -signal.SIGSEGV)
        # A core piped to a program may still be being written; give it a moment to finish.
        time.sleep(0.5)
        return pid

    def start(self, extra_args=(), as_user=None):
        options = {"preexec_fn": unlimited_cores, "cwd": self.work}
        binary = os.path.abspath(KMSD_BINARY)
        if as_user is not None:
            # A copy the other user can surely run (the build dir may be private to root).
            binary = shutil.copy(binary, os.path.join(self.work, "kmsd"))
            os.chmod(binary, 0o755)
            for root, directories, names in os.walk(self.work):
                for name in directories + names + [""]:
                    os.chown(os.path.join(root, name), as_user.pw_uid, as_user.pw_gid)
            options.update(user=as_user.pw_uid, group=as_user.pw_gid, extra_groups=[])
        server = KmsdServer(data_dir=self.data_dir, extra_args=list(extra_args),
                            binary=binary,
                            popen_options=options)
        self.addCleanup(server.stop)
        return server.start()

    def test_by_default_no_core_and_no_file_holds_a_secret(self):
        # As root, run kmsd as another user: then a non-dumpable kmsd's /proc/PID files belong to
        # root instead of that user, which shows PR_SET_DUMPABLE 0 from outside.
        os.makedirs(self.data_dir)
        runner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        server = self.start(as_user=runner)
        pid = server.process.pid
        secrets = self.serve_secrets(server)

        locked_kib = int(status_field(pid, "VmLck").split()[0])
        self.assertGreater(locked_kib, 0, "no memory locked: key material could reach swap")
        self.assertEqual(core_file_limit(pid), ["0", "0"])
        owner = os.stat(f"/proc/{pid}/status").st_uid
        self.assertEqual(owner, 0, "kmsd is dumpable: /proc/PID is not owned by root")
        self.assertNotEqual(int(status_field(pid, "Uid").split()[1]), 0)

        self.crash(server)
        places = [self.work]
        directory = core_directory(self.work)
        if directory is not None and directory != self.work:
            places.append(directory)
        for path in files_under(*places):
            if path == os.path.join(self.data_dir, "root.key"):
                continue
            self.assertFalse(os.path.basename(path).startswith("core"), f"a core was written: {path}")
            for what, secret in secrets.items():
                self.assertFalse(file_contains(path, secret), f"{path} holds the {what}")

    def test_allowed_core_dumps_leave_the_secure_arena_out(self):
        os.makedirs(self.data_dir)
        directory = core_directory(self.work)
        if directory is None:
            with open(CORE_PATTERN) as pattern:
                previous = pattern.read()
            try:
                with open(CORE_PATTERN, "w") as pattern:
                    pattern.write(os.path.join(self.work, "core"))
                self.addCleanup(lambda: open(CORE_PATTERN, "w").write(previous))
            except OSError as error:
                self.skipTest(f"cores are piped to a program and {CORE_PATTERN} is not writable "
                              f"here ({error}); the default case is still tested")
            directory = self.work
        server = self.start(extra_args=["--allow-core-dumps"])
        pid = server.process.pid
        secrets = self.serve_secrets(server)
        self.assertGreater(int(status_field(pid, "VmLck").split()[0]), 0)
        self.assertIn("core dumps allowed", "\n".join(server.log_lines()))

        self.crash(server)
        cores = [path for path in glob.glob(os.path.join(directory, "core*"))
                 if os.path.getmtime(path) >= time.time() - 120]
        self.assertTrue(cores, f"no core written to {directory} with --allow-core-dumps")
        for core in cores:
            self.addCleanup(lambda path=core: os.path.exists(path) and os.remove(path))
            self.assertGreater(os.path.getsize(core), 0)
            for what, secret in secrets.items():
                self.assertFalse(file_contains(core, secret), f"the core holds the {what}")
            # The core is real: it holds what is not secret, such as the account id.
            self.assertTrue(file_contains(core, b"111122223333"), "the core seems empty")


if __name__ == "__main__":
    unittest.main()
