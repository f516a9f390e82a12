"""Fixtures for the tests that run against the real control plane (tests/cluster) through the real kubectl."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.cluster.controlplane import ControlPlane, bin_dir, sigterm_as_interrupt
from tests.cluster.nodesim import NodeSimulator
from tests.scenarios import gitops_crds_installed, wait_until

_namespaces = itertools.count(1)
VENV_BIN = str(Path(sys.executable).parent)


def pytest_configure(config) -> None:
    """A suite started as a background job of a script (`make test &`, nohup) has SIGINT ignored, and every plugin
    the tests start would inherit that and never see the Ctrl-C the interrupt tests send (they would hang until
    their time limit). Python's own Ctrl-C handler here makes the children start with SIGINT at its default."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Cluster:
    """The running control plane, the node simulator, and helpers to drive kubectl and the plugin."""

    def __init__(self, plane: ControlPlane, sim: NodeSimulator, workdir: Path):
        self.plane = plane
        self.sim = sim
        self.api = plane.admin_api()
        self.kubeconfig = plane.admin_kubeconfig
        self.kubectl_bin = str(bin_dir() / "kubectl")
        self.cache_dir = str(workdir / "kube-cache")
        path = os.pathsep.join([VENV_BIN, str(bin_dir()), os.environ.get("PATH", "")])
        self.env = dict(os.environ, KUBECONFIG=self.kubeconfig, KUBECACHEDIR=self.cache_dir, PATH=path)
        self.env.pop("KUBECTL_HARNESS_ROLLBACK_DEBUG", None)

    def run(self, *args: str, check: bool = True, env: dict = None, input: str = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.kubectl_bin, *args], env=env or self.env, capture_output=True, text=True, input=input,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    @contextlib.contextmanager
    def namespace(self, name: str) -> Iterator[Namespace]:
        """A namespace for the duration of the block, deleted afterwards."""
        self.api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        try:
            yield Namespace(self, name)
        finally:
            try:
                self.api.delete(f"/api/v1/namespaces/{name}")
            except Exception:  # teardown of a namespace must not fail the test; the cluster goes away anyway
                pass


class Namespace:
    """One test's namespace, with kubectl and `kubectl harness-rollback` bound to it."""

    def __init__(self, cluster: Cluster, name: str):
        self.cluster = cluster
        self.name = name

    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.cluster.run(*args, "-n", self.name, **kw)

    def plugin(self, *args: str, check: bool = False, **kw) -> subprocess.CompletedProcess:
        """The plugin exactly as a user runs it: `kubectl harness-rollback ...`, found by kubectl on PATH."""
        proc = self.cluster.run("harness-rollback", *args, "-n", self.name, check=False, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"harness-rollback {' '.join(args)} exited {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def plugin_json(self, *args: str, **kw) -> dict:
        proc = self.plugin(*args, "-o", "json", check=True, **kw)
        return json.loads(proc.stdout)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def get(self, kind: str, name: str) -> dict:
        return json.loads(self.kubectl("get", kind, name, "-o", "json").stdout)

    def items(self, kind: str, *selector: str) -> list:
        return json.loads(self.kubectl("get", kind, *selector, "-o", "json").stdout)["items"]

    wait_until = staticmethod(wait_until)  # tests/scenarios.py's, as ns.wait_until(...)

    def rollout_status(self, kind_name: str, timeout: str = "90s") -> None:
        self.kubectl("rollout", "status", kind_name, f"--timeout={timeout}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the service-account key; install it (apt-get install openssl)")
    workdir = tmp_path_factory.mktemp("cluster")
    sigterm_as_interrupt()  # a killed run still tears the cluster down
    yield from _started_cluster(workdir, ControlPlane(workdir))


def _started_cluster(workdir: Path, plane: ControlPlane) -> Iterator[Cluster]:
    """The control plane started, with a node simulator for it, as a Cluster; both stopped afterwards, pass or fail."""
    try:
        plane.start()
    except RuntimeError as exc:
        pytest.fail(f"the test cluster did not start: {exc}")
    sim = NodeSimulator(plane.admin_api())
    try:
        sim.start()
        yield Cluster(plane, sim, workdir)
    finally:
        sim.stop()
        plane.stop()


@pytest.fixture(scope="module")
def second_cluster(cluster, tmp_path_factory):
    """Another cluster on this machine, for the runs across kubeconfig contexts (tests/test_fleet.py): its own
    kube-apiserver, kube-controller-manager and node simulator, on the session cluster's etcd under a prefix of its
    own. Started by the modules that ask for it only, and stopped after them."""
    workdir = tmp_path_factory.mktemp("second-cluster")
    yield from _started_cluster(workdir, ControlPlane(workdir, etcd_url=cluster.plane.etcd_url,
                                                      etcd_prefix="/second-cluster"))


@pytest.fixture
def ns(cluster, request) -> Namespace:
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-") + f"-{next(_namespaces)}"
    with cluster.namespace(name) as namespace:
        yield namespace


class Proxied:
    """A fault-injection proxy in front of the cluster, and a kubeconfig (admin) that goes through it."""

    def __init__(self, proxy, kubeconfig: str, cluster: Cluster):
        self.proxy = proxy
        self.kubeconfig = kubeconfig
        self.env = dict(cluster.env, KUBECONFIG=kubeconfig)


@pytest.fixture
def proxied(cluster, tmp_path):
    from tests.cluster.controlplane import ADMIN_TOKEN
    from tests.cluster.faultproxy import FaultProxy, kubeconfig_for

    with FaultProxy(cluster.plane.server, cluster.plane.ca_file) as proxy:
        path = tmp_path / "proxy.kubeconfig"
        path.write_text(kubeconfig_for(proxy, ADMIN_TOKEN))
        yield Proxied(proxy, str(path), cluster)


@pytest.fixture(scope="module")
def gitops_crds(cluster):
    """The GitOps owners' CustomResourceDefinitions (scenarios.gitops_crds_installed) for one module."""
    with gitops_crds_installed(cluster):
        yield


def pytest_collection_modifyitems(items) -> None:
    """Every test that uses the control plane (directly or through `ns`, `proxied`, ...) is marked `cluster`, so
    `-m "not cluster"` selects the fast tests; modules that start a control plane of their own mark themselves."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and "cluster" in getattr(item, "fixturenames", ()):
        plane_cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
        if plane_cluster is not None:
            report.sections.append(("control plane logs", plane_cluster.plane.log_tail(20)))
            if plane_cluster.sim.errors:
                report.sections.append(("node simulator errors", "\n".join(plane_cluster.sim.errors)))
