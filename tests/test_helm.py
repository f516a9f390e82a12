"""Real Helm (helm v4, built by tests/cluster/build.sh) and the plugin on one release: install a small chart
(tests/charts/web), upgrade it to a failing release, roll back with the plugin, `helm upgrade` again, `helm history`.
The note the plugin prints for a Helm-managed workload must say what the next `helm upgrade` then does, for both of
Helm's apply methods (server-side, Helm 4's default, and client-side, Helm 3's three-way merge)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cluster.controlplane import bin_dir
from tests.scenarios import IDENTITY

CHART = str(Path(__file__).parent / "charts" / "web")
RELEASE_1 = ("registry.test/web:1", [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}])
RELEASE_2 = ("registry.test/web:2-broken", [{"name": "A", "value": "a"}])  # drops B, never becomes ready
RELEASE_3 = ("registry.test/web:3", [{"name": "A", "value": "a"}])  # the next helm upgrade


class Helm:
    def __init__(self, ns, home: Path):
        self.ns = ns
        self.binary = str(bin_dir() / "helm")
        self.env = dict(ns.cluster.env, HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
                        HELM_DATA_HOME=str(home / "data"))

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.binary, *args, "--namespace", self.ns.name], env=self.env, capture_output=True,
                              text=True, timeout=180)
        assert proc.returncode == 0, f"helm {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def deploy(self, verb: str, release: tuple, *flags: str) -> None:
        image, env = release
        self(verb, "web", CHART, "--set", f"image={image}", "--set-json", f"env={json.dumps(env)}", *flags)


def container(ns) -> dict:
    return ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]


def wait_observed(ns, image: str) -> None:
    """The controller has seen the Deployment's current template (and made its ReplicaSet), so `record` marks the
    revision that backs `image`."""
    def observed():
        web = ns.get("deployment", "web")
        return ((web.get("status") or {}).get("observedGeneration", 0) >= web["metadata"]["generation"]
                and web["spec"]["template"]["spec"]["containers"][0]["image"] == image)
    ns.wait_until(observed, f"the deployment controller to observe {image}")


@pytest.mark.parametrize("server_side", [True, False], ids=["server-side", "client-side"])
def test_helm_upgrade_after_a_plugin_rollback(ns, tmp_path, server_side):
    helm = Helm(ns, tmp_path)
    helm.deploy("install", RELEASE_1, f"--server-side={str(server_side).lower()}")
    ns.rollout_status("deployment/web")
    ns.plugin("record", "deployment/web", "--status", "Succeeded", *IDENTITY, check=True)
    helm.deploy("upgrade", RELEASE_2)
    wait_observed(ns, RELEASE_2[0])
    ns.plugin("record", "deployment/web", "--status", "Failed", *IDENTITY, check=True)

    rollback = ns.plugin("rollback", "deployment/web", *IDENTITY, check=True)
    assert (container(ns)["image"], container(ns)["env"]) == RELEASE_1
    (note,) = [line for line in rollback.stderr.splitlines() if "belongs to Helm release web" in line]
    history = json.loads(helm("history", "web", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]  # unaware

    helm.deploy("upgrade", RELEASE_3)
    image, env = container(ns)["image"], container(ns)["env"]
    if server_side:  # Helm owns the template fields again, so its apply drops B as the chart does
        assert "the next helm upgrade gives exactly its chart's manifest" in note, note
        assert (image, env) == RELEASE_3
    else:  # the three-way merge from release 2's manifest (no B) to release 3's (no B) leaves the live B alone
        assert "fields this rollback restored that the chart no longer sets stay" in note, note
        assert (image, env) == (RELEASE_3[0], RELEASE_1[1])
    history = json.loads(helm("history", "web", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
