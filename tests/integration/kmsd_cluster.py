"""Several kmsd nodes on one etcd cluster (issue 12), for the cluster tests: one root of trust
(root.key copied before each later node's first start), one set of root credentials, a node id
each, and kill -9 / restart of any node with its data dir.

    with EtcdCluster(3) as etcd, KmsdNodes(etcd, 3, extra_args=[...]) as nodes:
        nodes[0].client()
        nodes.kill(1); nodes.restart(1)
"""
import os
import re
import shutil
import time

from kmsd_harness import KmsdServer

LEADS = "scheduler: this node leads"
NO_LONGER_LEADS = "scheduler: this node no longer leads"


class KmsdNodes:
    def __init__(self, etcd, count, extra_args=(), env=None):
        self.etcd = etcd
        self.count = count
        self.extra_args = list(extra_args)
        self.env = env
        self.nodes = []

    def _args(self, i):
        return ["--storage", "etcd", "--etcd-endpoints", self.etcd.endpoints,
                "--node-id", f"node-{i}", *self.extra_args]

    def __enter__(self):
        try:
            first = KmsdServer(extra_args=self._args(0), env=self.env).start()
            self.nodes.append(first)
            for i in range(1, self.count):
                node = KmsdServer(extra_args=self._args(i), env=self.env,
                                  access_key=first.access_key, secret_key=first.secret_key)
                os.makedirs(node.data_dir, exist_ok=True)
                shutil.copy2(os.path.join(first.data_dir, "root.key"),
                             os.path.join(node.data_dir, "root.key"))
                self.nodes.append(node.start())
        except BaseException:
            self.close()
            raise
        return self

    def __getitem__(self, i):
        return self.nodes[i]

    def __len__(self):
        return len(self.nodes)

    def close(self):
        for node in self.nodes:
            node.__exit__(None, None, None)

    def __exit__(self, *exc):
        self.close()

    @property
    def data_dirs(self):
        return [node.data_dir for node in self.nodes]

    def running(self, i):
        node = self.nodes[i]
        return node.process is not None and node.process.poll() is None

    def kill(self, i):
        """kill -9 of node i (its data dir stays)."""
        node = self.nodes[i]
        if self.running(i):
            node.process.kill()
            node.process.wait(timeout=10)
        node.stop()  # collects its output; the process is gone already

    def restart(self, i):
        self.nodes[i].output = []
        self.nodes[i].start()

    def leads(self, i):
        """Whether node i (running) said last that it leads the scheduler."""
        if not self.running(i):
            return False
        for line in reversed(self.nodes[i].log_lines()):
            if LEADS in line:
                return True
            if NO_LONGER_LEADS in line:
                return False
        return False

    def leader(self, timeout=20, other_than=None):
        """The running node that leads the scheduler (waits, bounded, for one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leading = [i for i in range(len(self.nodes)) if i != other_than and self.leads(i)]
            if len(leading) == 1:
                return leading[0]
            time.sleep(0.05)
        raise AssertionError(f"no single scheduler leader within {timeout} s")


def key_id_of(arn):
    return re.sub(r"^.*:key/", "", arn)
