"""The watcher's reconcile step through the fake API: what it writes, what it leaves, and auto-rollback once."""

from __future__ import annotations

import io

from kubectl_rollback.kube import DEPLOYMENTS, EVENTS, REPLICASETS
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import RECORDED_BY, STATUS
from kubectl_rollback.watcher import decide
from kubectl_rollback.watcher.log import DecisionLog
from kubectl_rollback.watcher.loop import Watcher
from kubectl_rollback.watcher.metrics import Metrics
from tests.fakekube import FakeKube, add_deployment, recorded, rolled_out_deployment_status

WEB = ("Deployment", "default", "web")


def watcher(kube: FakeKube, auto_rollback: bool = False, leader: bool = True) -> tuple:
    log = io.StringIO()
    settings = decide.Settings(IdentityFlags(), kube.cluster_name, 600, auto_rollback)
    w = Watcher(kube, settings, False, DecisionLog("json", log), Metrics(), is_leader=lambda: leader)
    w.prime()
    return w, log


def annotations(kube: FakeKube, name: str) -> dict:
    return kube.stored(REPLICASETS, name)["metadata"].get("annotations") or {}


def test_the_live_unrecorded_revision_is_recorded_succeeded_as_the_watchers_own_and_no_other():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1", "web:2"])
    w, log = watcher(kube)
    w.reconcile(WEB)
    live = annotations(kube, "web-h2")
    assert live[STATUS] == "Succeeded" and live[RECORDED_BY] == "watch"
    assert live["harness.io/service-id"] == "web" and live["harness.io/infra-id"] == "default"
    assert STATUS not in annotations(kube, "web-h1")  # history before the watcher is not guessed at
    assert '"event": "recorded"' in log.getvalue() and '"revision": 2' in log.getvalue()


def test_a_follower_decides_nothing():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1"])
    w, _ = watcher(kube, leader=False)
    w.reconcile(WEB)
    assert kube.writes() == []


def test_a_record_written_by_a_pipeline_between_read_and_write_is_kept():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1"])
    w, log = watcher(kube)

    def pipeline(server):
        server.patch(REPLICASETS, "default", "web-h1", {"metadata": {"annotations": recorded("Failed")}})

    kube.before("patch", pipeline)
    w.reconcile(WEB)
    kept = annotations(kube, "web-h1")
    assert kept[STATUS] == "Failed" and kept["harness.io/workflow-id"] == "wf1" and RECORDED_BY not in kept
    assert '"event": "skipped"' in log.getvalue()


def test_auto_rollback_goes_to_the_last_succeeded_revision_once():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1", "web:2-broken"],
                   annotations=[recorded("Succeeded"), recorded("Failed")])
    w, _ = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    image = kube.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "web:1"
    assert decide.AUTO_ROLLBACK_AT in annotations(kube, "web-h2")
    # The template is back on web:1, but a restarted watcher that still saw web:2 live must not act again.
    kube.server.patch(DEPLOYMENTS, "default", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "web:2-broken"}]}}}}, "strategic")
    kube.server.set_status(DEPLOYMENTS, "default", "web",
                           rolled_out_deployment_status(kube.stored(DEPLOYMENTS, "web")))
    again, _ = watcher(kube, auto_rollback=True)
    observed = again.observe(WEB)
    assert observed is not None and observed[2].live is not None and observed[2].live.number == 2
    writes = len(kube.writes(DEPLOYMENTS))
    again.reconcile(WEB)
    assert len(kube.writes(DEPLOYMENTS)) == writes


def test_auto_rollback_with_no_target_leaves_the_workload_and_says_why_in_an_event():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1-broken"], annotations=[recorded("Failed")])
    w, log = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    assert kube.writes(DEPLOYMENTS) == []
    events = kube.server.list(EVENTS, "default")
    assert [e["reason"] for e in events] == ["HarnessAutoRollbackSkipped"]
    assert "first deployment" in events[0]["message"]
    assert '"event": "rollback-skipped"' in log.getvalue()
