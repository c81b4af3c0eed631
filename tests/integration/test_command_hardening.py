"""The subcommands that hold secrets harden themselves as `kmsd serve` does (issue 16): `kmsd init`
(the root key and its shares), `kmsd unseal` (a share) and `kmsd seal migrate` (root keys, shares)
run with no core file allowed (RLIMIT_CORE 0/0) and not dumpable (PR_SET_DUMPABLE 0).

Each command is caught while it holds its secret: unseal and migrate wait for a share on stdin;
init is held mid-print of its 255 shares by a 4 KiB stdout pipe nobody reads yet. Not dumpable is
seen from outside: as root the command runs as `nobody`, and the kernel then gives /proc/PID to
root; as another user, reading /proc/PID/environ of a process of the same user is refused."""
import fcntl
import os
import pwd
import re
import resource
import shutil
import subprocess
import tempfile
import time
import unittest

from kmsd_harness import KMSD_BINARY

F_SETPIPE_SZ = 1031


def core_file_limit(pid):
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    raise AssertionError("no core limit in /proc/PID/limits")


def allow_cores():
    """Before exec: the command starts with cores allowed, so the 0 it shows is its own doing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


class SecretHoldingCommandsAreHardened(unittest.TestCase):
    def setUp(self):
        self.parent = tempfile.mkdtemp(prefix="kmsd-hardening-")
        os.chmod(self.parent, 0o755)
        self.data_dir = os.path.join(self.parent, "data")
        self.runner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.parent, ignore_errors=True)

    def start(self, *args, stdout=subprocess.PIPE):
        options = {}
        if self.runner:
            options = dict(user=self.runner.pw_uid, group=self.runner.pw_gid, extra_groups=[])
        process = subprocess.Popen([KMSD_BINARY, *args], stdin=subprocess.PIPE, stdout=stdout,
                                   stderr=subprocess.PIPE, text=True, preexec_fn=allow_cores,
                                   **options)
        self.processes.append(process)
        return process

    def wait_until_blocked(self, process):
        """Until the command sleeps (on stdin or stdout) rather than runs; bounded."""
        deadline = time.monotonic() + 20
        while True:
            self.assertIsNone(process.poll(), "the command ended instead of waiting")
            with open(f"/proc/{process.pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{process.pid}/wchan") as wchan:
                waiting = wchan.read()
            if state == "S" and waiting not in ("", "0"):
                return
            self.assertLess(time.monotonic(), deadline, "the command never waited")
            time.sleep(0.05)

    def assert_hardened(self, process):
        pid = process.pid
        self.assertEqual(core_file_limit(pid), ["0", "0"])
        if self.runner:
            # Not dumpable: the kernel hands the process's /proc files to root.
            self.assertNotEqual(self.runner.pw_uid, 0)
            self.assertEqual(os.stat(f"/proc/{pid}/status").st_uid, 0)
        else:
            with self.assertRaises(PermissionError):
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    environ.read()

    def test_init_unseal_and_seal_migrate_run_hardened(self):
        os.makedirs(self.data_dir)
        if self.runner:
            os.chown(self.data_dir, self.runner.pw_uid, self.runner.pw_gid)

        # init, held while printing its shares: a 4 KiB pipe, read only after the checks.
        read_end, write_end = os.pipe()
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
        init = self.start("init", "--data-dir", self.data_dir, "--shares", "255", "--threshold",
                          "2", stdout=write_end)
        os.close(write_end)
        self.wait_until_blocked(init)
        self.assert_hardened(init)
        with os.fdopen(read_end) as output:
            shares = re.findall(r"share \d+: (\S+)", output.read())
        self.assertEqual(init.wait(timeout=30), 0, init.stderr.read())
        self.assertEqual(len(shares), 255)

        # unseal, waiting for its share on stdin.
        unseal = self.start("unseal", "--data-dir", self.data_dir)
        self.wait_until_blocked(unseal)
        self.assert_hardened(unseal)
        unseal.stdin.close()
        self.assertEqual(unseal.wait(timeout=30), 1)  # no share given

        # seal migrate from shares, waiting for the second share on stdin.
        migrate = self.start("seal", "migrate", "--data-dir", self.data_dir, "--to", "file")
        migrate.stdin.write(shares[0] + "\n")
        migrate.stdin.flush()
        self.wait_until_blocked(migrate)
        self.assert_hardened(migrate)
        migrate.stdin.write(shares[1] + "\n")
        migrate.stdin.close()
        self.assertEqual(migrate.wait(timeout=30), 0, migrate.stderr.read())
        self.assertIn("now sealed by the file seal", migrate.stdout.read())


if __name__ == "__main__":
    unittest.main()
