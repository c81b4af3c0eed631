"""Starts a real etcd cluster (Debian's /usr/bin/etcd 3.4) on loopback for integration tests.

Each member gets free loopback ports and a data dir of its own under one temp dir; the ETCD_*
variables of the environment are cleared, so neither a host's settings nor its etcd service (on
2379/2380) is ever used. Every wait is bounded. Members run under `setpriv --pdeathsig KILL`, so
they die with the test process however it ends.

    with EtcdCluster(3) as cluster:
        cluster.endpoints            # "http://127.0.0.1:P1,http://127.0.0.1:P2,..."
        cluster.kill(cluster.leader())   # kill -9
        cluster.start(i)             # back, with its data
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment():
    """This process's environment without etcd's own variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "3"
    return env


def make_tls_files(directory):
    """A test CA, a member certificate for 127.0.0.1 (server and peer) and a client certificate:
    ca.pem, member.pem/member.key, client.pem/client.key in directory."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=30)

    os.makedirs(directory, exist_ok=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kmsd test etcd CA")
    for name, usage in (("member", "serverAuth,clientAuth"), ("client", "clientAuth")):
        with open(os.path.join(directory, f"{name}.ext"), "w") as ext:
            ext.write(f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=kmsd test {name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


class EtcdCluster:
    def __init__(self, size=3, start_timeout=30, tls=False):
        """tls: members serve clients and peers over TLS and require client certificates
        (files in self.tls_dir: ca.pem, client.pem, client.key)."""
        self.size = size
        self.start_timeout = start_timeout
        self.dir = tempfile.mkdtemp(prefix="kmsd-etcd-")
        self.scheme = "https" if tls else "http"
        self.tls_dir = os.path.join(self.dir, "tls") if tls else None
        if tls:
            make_tls_files(self.tls_dir)
        self.client_ports = [free_port() for _ in range(size)]
        self.peer_ports = [free_port() for _ in range(size)]
        self.names = [f"m{i}" for i in range(size)]
        self.processes = [None] * size
        self.initial_cluster = ",".join(
            f"{name}={self.scheme}://127.0.0.1:{port}"
            for name, port in zip(self.names, self.peer_ports))

    # ---- members
    def client_url(self, i):
        return f"{self.scheme}://127.0.0.1:{self.client_ports[i]}"

    def tls_file(self, name):
        return os.path.join(self.tls_dir, name)

    def _etcdctl_tls(self):
        if not self.tls_dir:
            return []
        return ["--cacert", self.tls_file("ca.pem"), "--cert", self.tls_file("client.pem"),
                "--key", self.tls_file("client.key")]

    @property
    def endpoints(self):
        return ",".join(self.client_url(i) for i in range(self.size))

    def data_dir(self, i):
        return os.path.join(self.dir, self.names[i])

    def start(self, i, wait=True):
        """Starts member i (again, with its data after a kill)."""
        assert self.processes[i] is None or self.processes[i].poll() is not None
        client, peer = self.client_url(i), f"{self.scheme}://127.0.0.1:{self.peer_ports[i]}"
        tls = []
        if self.tls_dir:
            member, key, ca = (self.tls_file(n) for n in ("member.pem", "member.key", "ca.pem"))
            tls = ["--cert-file", member, "--key-file", key, "--client-cert-auth",
                   "--trusted-ca-file", ca, "--peer-cert-file", member, "--peer-key-file", key,
                   "--peer-client-cert-auth", "--peer-trusted-ca-file", ca]
        log = open(os.path.join(self.dir, f"{self.names[i]}.log"), "ab")
        self.processes[i] = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", ETCD, "--name", self.names[i],
             "--data-dir", self.data_dir(i),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", self.initial_cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", os.path.basename(self.dir),
             "--logger", "zap", "--log-level", "error", *tls],
            stdout=log, stderr=log, env=clean_environment())
        log.close()
        if wait:
            self.wait_healthy([i])

    def kill(self, i):
        """kill -9 of member i."""
        process = self.processes[i]
        if process and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def running(self, i):
        return self.processes[i] is not None and self.processes[i].poll() is None

    def healthy(self, i):
        """True when member i answers and has a leader (etcd's /health)."""
        context = None
        if self.tls_dir:
            context = ssl.create_default_context(cafile=self.tls_file("ca.pem"))
            context.load_cert_chain(self.tls_file("client.pem"), self.tls_file("client.key"))
        try:
            with urllib.request.urlopen(self.client_url(i) + "/health", timeout=1,
                                        context=context) as response:
                return json.loads(response.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, members=None, timeout=None):
        members = range(self.size) if members is None else members
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while not all(self.healthy(i) for i in members):
            for i in members:
                if self.processes[i] and self.processes[i].poll() is not None:
                    raise RuntimeError(f"etcd member {i} exited: see {self.dir}/{self.names[i]}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd members {list(members)} not healthy in time")
            time.sleep(0.1)

    def status(self, i):
        """etcdctl endpoint status of member i (member_id, leader, revision, ...) or None."""
        result = subprocess.run(
            [ETCDCTL, "--endpoints", self.client_url(i), "--command-timeout=2s",
             *self._etcdctl_tls(), "endpoint", "status", "-w", "json"],
            capture_output=True, text=True, env=clean_environment(), timeout=10)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)[0]["Status"]

    def leader(self, timeout=10):
        """The index of the member that leads now."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(self.size):
                if not self.running(i):
                    continue
                status = self.status(i)
                if status and status.get("leader") and \
                        status["header"]["member_id"] == status["leader"]:
                    return i
            time.sleep(0.2)
        raise RuntimeError("no etcd leader")

    def etcdctl(self, *args):
        return subprocess.run([ETCDCTL, "--endpoints", self.endpoints, "--command-timeout=5s",
                               *self._etcdctl_tls(), *args], capture_output=True, text=True,
                              env=clean_environment(), timeout=30)

    # ---- the whole cluster
    def __enter__(self):
        try:
            for i in range(self.size):
                self.start(i, wait=False)
            self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        for i in range(self.size):
            self.kill(i)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()
