"""`make cluster`: the control plane in the foreground prints its KUBECONFIG, serves kubectl, and stops cleanly on
Ctrl-C, leaving no process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.controlplane import bin_dir

pytestmark = pytest.mark.cluster  # each test starts a control plane of its own
ROOT = Path(__file__).resolve().parent.parent


def test_cluster_in_the_foreground_serves_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ, KHR_CLUSTER_DIR=str(tmp_path / "cluster"))
    proc = subprocess.Popen([sys.executable, "-m", "tests.cluster"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        kubeconfig = None
        deadline = time.monotonic() + 120
        while kubeconfig is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("export KUBECONFIG="):
                kubeconfig = line.strip().split("=", 1)[1]
        assert kubeconfig, "make cluster never printed its KUBECONFIG line"
        kubectl = subprocess.run([str(bin_dir() / "kubectl"), "get", "namespaces", "-o", "name"],
                                 env=dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=str(tmp_path / "cache")),
                                 capture_output=True, text=True, timeout=60)
        assert "namespace/default" in kubectl.stdout, kubectl.stderr
        assert len(processes_mentioning(str(tmp_path / "cluster"))) == 3  # etcd, apiserver, controller-manager
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert processes_mentioning(str(tmp_path / "cluster")) == []


def processes_mentioning(text: str) -> list:
    """Command lines of running processes that contain `text` (the cluster's work folder is in each of its)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if int(cmdline.parent.name) == os.getpid():
            continue
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_sigterm_also_stops_every_process(tmp_path):
    env = dict(os.environ, KHR_CLUSTER_DIR=str(tmp_path / "cluster"))
    proc = subprocess.Popen([sys.executable, "-m", "tests.cluster"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not proc.stdout.readline().startswith("export KUBECONFIG="):
            pass
        assert processes_mentioning(str(tmp_path / "cluster")), "the cluster did not start"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert processes_mentioning(str(tmp_path / "cluster")) == []
