"""The kmsd .deb (packaging/, docs/PACKAGING.md): built with cpack from the build tree, inspected with
dpkg-deb, installed with dpkg, checked where it landed (files, conffile, the kmsd user, the systemd
unit through `systemd-analyze verify`), the installed kmsd run as the kmsd user for a smoke check,
then purged.

Installing changes the machine, so this runs only as root (the CI machine) and only where no kmsd
package is installed already; otherwise it exits 77 (skipped) with a note. It leaves the machine as
it found it: the package purged and, when it created it, the kmsd user deleted.
"""
import gzip
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
import urllib.request

from kmsd_harness import KmsdServer

BUILD_DIR = os.environ.get("KMSD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
CPACK_CONFIG = os.path.join(BUILD_DIR, "CPackConfig.cmake")
STEP_TIMEOUT = 120  # seconds for any one command (cpack, dpkg, systemd-analyze)

INSTALLED_FILES = [
    "/usr/bin/kmsd", "/usr/bin/kms", "/usr/share/man/man8/kmsd.8.gz", "/usr/share/man/man1/kms.1.gz",
    "/usr/share/doc/kmsd/README.md", "/usr/share/doc/kmsd/docs/PACKAGING.md",
    "/lib/systemd/system/kmsd.service", "/etc/kmsd/kmsd.toml",
    "/usr/share/kmsd/console/index.html",  # the web console (docs/CONSOLE.md)
]
# Flags the default configuration leaves out on purpose (and --help, --config themselves).
NOT_IN_CONFIG = {"help", "config", "enable-test-clock"}


def run(*command, check=True, **options):
    """Runs a command with the step time bound; returns the CompletedProcess."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT, **options)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")
    return result


def dpkg(*args):
    """dpkg ARGS, waiting (bounded) while another dpkg or apt holds the lock."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        result = run("dpkg", *args, check=False)
        if result.returncode == 0 or "lock" not in result.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    if result.returncode != 0:
        raise AssertionError(f"dpkg {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")
    return result


def project_version():
    with open(CPACK_CONFIG) as config:
        return re.search(r'set\(CPACK_PACKAGE_VERSION "([^"]+)"\)', config.read()).group(1)


def why_not_runnable():
    """A reason to skip, or None."""
    if os.geteuid() != 0:
        return "installs a .deb with dpkg: run as root (CI does)"
    for tool in ("dpkg", "dpkg-deb", "cpack", "systemd-analyze", "dpkg-shlibdeps"):
        if not shutil.which(tool):
            return f"{tool} is missing (scripts/install-deps installs it)"
    if not os.path.exists(CPACK_CONFIG):
        return f"no {CPACK_CONFIG}: configure the build first"
    status = run("dpkg-query", "-W", "-f=${Status}", "kmsd", check=False).stdout
    if "installed" in status or "config-files" in status:
        return "a kmsd package is already on this machine; not replacing it"
    return None


def unit_directives(path):
    """{key: [values]} of a systemd unit file (keys may repeat)."""
    directives = {}
    with open(path) as unit:
        for line in unit:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                directives.setdefault(key, []).append(value)
    return directives


class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="kmsd-package-")
        cls.user_existed = _user_exists("kmsd")
        run("cpack", "--config", CPACK_CONFIG, "-G", "DEB", "-B", cls.work)
        debs = [name for name in os.listdir(cls.work) if name.endswith(".deb")]
        if len(debs) != 1:
            raise AssertionError(f"cpack made {debs} in {cls.work}")
        cls.deb = os.path.join(cls.work, debs[0])
        cls.version = project_version()
        cls.installed = False
        try:
            cls.install_output = dpkg("-i", cls.deb).stdout
            cls.installed = True
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.installed or "kmsd" in run("dpkg-query", "-W", "-f=${Package}", "kmsd",
                                                check=False).stdout:
                dpkg("--purge", "kmsd")
            if not cls.user_existed and _user_exists("kmsd"):
                run("userdel", "kmsd", check=False)
                if run("getent", "group", "kmsd", check=False).returncode == 0:
                    run("groupdel", "kmsd", check=False)
        finally:
            shutil.rmtree(cls.work, ignore_errors=True)

    # The .deb itself.

    def test_control_fields_name_the_package_version_and_computed_dependencies(self):
        fields = {}
        for field in ("Package", "Version", "Architecture", "Maintainer", "Section", "Priority",
                      "Depends", "Description"):
            fields[field] = run("dpkg-deb", "-f", self.deb, field).stdout.strip()
        self.assertEqual(fields["Package"], "kmsd")
        self.assertEqual(fields["Version"], f"{self.version}-1")
        self.assertEqual(fields["Architecture"], run("dpkg", "--print-architecture").stdout.strip())
        self.assertRegex(fields["Maintainer"], r"^.+ <[^@ ]+@[^@ ]+>$")
        self.assertEqual(fields["Section"], "admin")
        self.assertEqual(fields["Priority"], "optional")
        depends = [d.strip().split(" ")[0] for d in fields["Depends"].split(",")]
        self.assertIn("adduser", depends)
        # From dpkg-shlibdeps: the libraries kmsd links.
        for library in ("libc6", "libssl3", "libsqlite3-0", "libstdc++6", "libsodium23"):
            self.assertIn(library, depends)
        self.assertIn("\n kmsd is a self-hosted key management service", fields["Description"])

    def test_archive_holds_the_files_root_owned_and_the_config_as_conffile(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout.splitlines()
        entries = {}
        for line in listing:
            mode, owner, *_, path = line.split()
            entries[path.removeprefix(".")] = (mode, owner)
        for path in INSTALLED_FILES:
            self.assertIn(path, entries)
            self.assertEqual(entries[path][1], "root/root", path)
        self.assertEqual(entries["/usr/bin/kmsd"][0], "-rwxr-xr-x")
        self.assertEqual(entries["/etc/kmsd/kmsd.toml"][0], "-rw-r--r--")
        control = os.path.join(self.work, "control")
        run("dpkg-deb", "-e", self.deb, control)
        with open(os.path.join(control, "conffiles")) as conffiles:
            self.assertEqual(conffiles.read().split(), ["/etc/kmsd/kmsd.toml"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.stat(os.path.join(control, script)).st_mode & stat.S_IXUSR, script)

    # What dpkg -i left on the machine.

    def test_installed_files_are_in_place(self):
        for path in INSTALLED_FILES:
            self.assertTrue(os.path.isfile(path), path)
        listed = run("dpkg", "-L", "kmsd").stdout.split()
        self.assertIn("/usr/bin/kmsd", listed)
        self.assertIn("not started", self.install_output)

    def test_man_pages_document_every_command_from_its_help(self):
        with gzip.open("/usr/share/man/man8/kmsd.8.gz", "rt") as page:
            kmsd_page = page.read()
        self.assertIn('.TH KMSD "8"', kmsd_page)
        for text in ("COMMAND KMSD SERVE", "COMMAND KMSD AUDIT VERIFY", "data\\-dir"):
            self.assertIn(text, kmsd_page)
        with gzip.open("/usr/share/man/man1/kms.1.gz", "rt") as page:
            kms_page = page.read()
        for text in ('.TH KMS "1"', "COMMAND KMS ENCRYPT", "COMMAND KMS DECRYPT", "endpoint\\-url"):
            self.assertIn(text, kms_page)

    def test_postinst_made_the_kmsd_system_user_and_its_state_dir(self):
        user = pwd.getpwnam("kmsd")
        self.assertLess(user.pw_uid, 1000)  # a system user
        self.assertEqual(user.pw_dir, "/var/lib/kmsd")
        self.assertIn(user.pw_shell, ("/usr/sbin/nologin", "/bin/false"))
        state = os.stat("/var/lib/kmsd")
        self.assertEqual((state.st_uid, stat.S_IMODE(state.st_mode)), (user.pw_uid, 0o700))

    def test_systemd_unit_verifies_and_is_hardened(self):
        command = ["systemd-analyze", "verify"]
        if not shutil.which("man"):
            command.append("--man=no")  # Documentation=man:kmsd(8) is checked with man(1)
        result = run(*command, "/lib/systemd/system/kmsd.service", check=False)
        about_unit = [line for line in (result.stdout + result.stderr).splitlines() if "kmsd" in line]
        self.assertEqual(about_unit, [])
        self.assertEqual(result.returncode, 0, result.stderr)
        unit = unit_directives("/lib/systemd/system/kmsd.service")
        expected = {
            "User": "kmsd", "ExecStart": "/usr/bin/kmsd serve --config /etc/kmsd/kmsd.toml",
            "StateDirectory": "kmsd", "StateDirectoryMode": "0700", "ConfigurationDirectory": "kmsd",
            "Restart": "on-failure", "UMask": "0077", "LimitCORE": "0", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        }
        for key, value in expected.items():
            self.assertEqual(unit.get(key), [value], key)
        self.assertRegex(unit["LimitMEMLOCK"][0], r"^\d+[KMG]$")
        self.assertFalse(os.path.exists("/etc/systemd/system/multi-user.target.wants/kmsd.service"),
                         "the postinst must not enable kmsd")

    def test_default_config_names_every_serve_flag(self):
        with open("/etc/kmsd/kmsd.toml", "rb") as config_file:
            config = tomllib.load(config_file)
        self.assertEqual(config, {"listen": "127.0.0.1:7600", "data-dir": "/var/lib/kmsd"})
        with open("/etc/kmsd/kmsd.toml") as config_file:
            keys = set(re.findall(r"^#? ?([a-z][a-z0-9-]*) = ", config_file.read(), re.MULTILINE))
        help_text = run("/usr/bin/kmsd", "serve", "--help").stdout
        flags = set(re.findall(r"^\s+(?:-\w,)?--([a-z][a-z0-9-]*)", help_text, re.MULTILINE))
        self.assertIn("data-dir", flags)
        self.assertEqual(flags - NOT_IN_CONFIG - keys, set(), "flags missing from kmsd.toml")
        self.assertEqual(keys - flags, set(), "keys in kmsd.toml that kmsd serve does not know")

    def test_installed_programs_answer_help_and_version(self):
        self.assertIn("serve", run("/usr/bin/kmsd", "--help").stdout)
        self.assertIn("encrypt", run("/usr/bin/kms", "--help").stdout)
        self.assertEqual(run("/usr/bin/kmsd", "--version").stdout.strip(), f"kmsd {self.version}")
        self.assertIn(self.version, run("/usr/bin/kms", "--version").stdout)

    def test_installed_kmsd_serves_as_the_kmsd_user(self):
        parent = tempfile.mkdtemp(prefix="kmsd-package-data-")
        user = pwd.getpwnam("kmsd")
        os.chown(parent, user.pw_uid, user.pw_gid)
        data_dir = os.path.join(parent, "data")
        # The shipped configuration (kmsd refuses a key it does not know), its listen and data-dir
        # overridden by the harness's flags.
        server = KmsdServer(data_dir=data_dir, extra_args=["--config", "/etc/kmsd/kmsd.toml"],
                            binary="/usr/bin/kmsd",
                            popen_options={"user": "kmsd", "group": "kmsd", "extra_groups": []})
        try:
            with server:
                kms = server.client()
                key_id = kms.create_key(Description="package smoke")["KeyMetadata"]["KeyId"]
                blob = kms.encrypt(KeyId=key_id, Plaintext=b"smoke")["CiphertextBlob"]
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"smoke")
                # The console from its installed place, the default --console-dir.
                with urllib.request.urlopen(server.endpoint + "/console/", timeout=30) as page:
                    self.assertEqual(page.status, 200)
                    self.assertIn(b'<div id="app">', page.read())
            for name in ("kmsd.db", "root.key"):
                self.assertEqual(os.stat(os.path.join(data_dir, name)).st_uid, user.pw_uid, name)
        finally:
            shutil.rmtree(parent, ignore_errors=True)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


if __name__ == "__main__":
    reason = why_not_runnable()
    if reason:
        print(f"skipped: {reason}")
        sys.exit(77)
    unittest.main()
