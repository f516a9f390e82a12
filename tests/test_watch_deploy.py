"""deploy/watch.yaml on the real control plane: the whole manifest passes a server-side dry run, and the watcher
running with exactly its ServiceAccount's permissions (impersonated) records, rolls back, and serves /healthz and
/metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests import manifests
from tests.scenarios import PREFIX
from tests.watching import AUTO_ROLLBACK_AT, free_port, http_get, record_of, start_watch_fixture, wait_for_status

start_watch = pytest.fixture(start_watch_fixture)

MANIFEST = Path(__file__).resolve().parent.parent / "deploy" / "watch.yaml"
NAMESPACE = "harness-rollback"
SERVICE_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:harness-rollback-watch"


@pytest.fixture(scope="module")
def rbac_applied(cluster):
    """The manifest's Namespace for real, once for the module (a namespace being deleted takes no new objects)."""
    documents = list(yaml.safe_load_all(MANIFEST.read_text()))
    cluster.run("apply", "-f", "-", input=yaml.safe_dump_all([d for d in documents if d["kind"] == "Namespace"]))
    try:
        yield documents
    finally:
        cluster.run("delete", "clusterrolebinding,clusterrole", "harness-rollback-watch", "--ignore-not-found",
                    check=False)
        cluster.run("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_manifest_passes_a_server_side_dry_run(cluster, rbac_applied):
    proc = cluster.run("apply", "--dry-run=server", "-f", str(MANIFEST))
    kinds = {line.split("/")[0] for line in proc.stdout.splitlines()}
    assert {"namespace", "serviceaccount", "clusterrole.rbac.authorization.k8s.io", "deployment.apps",
            "role.rbac.authorization.k8s.io", "rolebinding.rbac.authorization.k8s.io",
            "clusterrolebinding.rbac.authorization.k8s.io"} <= kinds, proc.stdout
    deployment = next(d for d in rbac_applied if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz" and "--leader-elect" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_watcher_with_the_manifests_permissions_records_rolls_back_and_serves_metrics(cluster, ns, rbac_applied,
                                                                                       start_watch):
    rbac = [d for d in rbac_applied if d["kind"] not in ("Namespace", "Deployment")]
    cluster.run("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    for verb, resource in (("update", "deployments"), ("delete", "replicasets"), ("get", "secrets"),
                           ("patch", "pods")):
        proc = cluster.run("auth", "can-i", verb, resource, "-n", ns.name, "--as", SERVICE_ACCOUNT, check=False)
        assert proc.stdout.strip() == "no", f"the watcher must not {verb} {resource}"
    port = free_port()
    # The manifest's arguments: every namespace, the Lease in the watcher's own (the later -n wins over the
    # fixture's), as its ServiceAccount.
    watcher = start_watch("--all-namespaces", "-n", NAMESPACE, "--leader-elect", "--health-address",
                          f"127.0.0.1:{port}", "--as", SERVICE_ACCOUNT)
    ns.wait_until(lambda: watcher.lines("leader"), "the watcher to lead", timeout=30)
    assert http_get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
    annotations = {PREFIX + "auto-rollback": "true"}
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10, annotations=annotations))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10, annotations=annotations))
    wait_for_status(ns, "web", "example.test/web:2-broken", "Failed")
    ns.wait_until(lambda: AUTO_ROLLBACK_AT in record_of(ns, "web", "example.test/web:2-broken"),
                  "the auto-rollback", timeout=30)
    ns.wait_until(lambda: watcher.lines("rolled-back"), "the rollback to finish", timeout=30)
    assert ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/web:1"
    status, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert 'harness_rollback_outcomes_recorded_total{status="Failed"} 1.0' in metrics
    assert 'harness_rollback_auto_rollbacks_total{result="rolled-back"} 1.0' in metrics
    assert "harness_rollback_leader 1.0" in metrics
