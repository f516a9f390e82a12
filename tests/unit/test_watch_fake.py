"""The watcher's reconcile step through the fake API: what it writes, what it leaves, and auto-rollback once."""

from __future__ import annotations

import io
import threading
import time
from typing import Optional

from kubectl_rollback import records
from kubectl_rollback.commands import watch as watch_command
from kubectl_rollback.kube import DEPLOYMENTS, EVENTS, PODS, REPLICASETS
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import RECORDED_BY, STATUS
from kubectl_rollback.watcher import reaction
from kubectl_rollback.watcher.log import DecisionLog
from kubectl_rollback.watcher.loop import BLIND_RESTART_SECONDS, Health, Watcher
from kubectl_rollback.watcher.metrics import Metrics
from tests.fakekube import FakeKube, add_deployment, recorded, rolled_out_deployment_status

WEB = ("Deployment", "default", "web")


def watcher(kube: FakeKube, auto_rollback: bool = False, leader: bool = True) -> tuple:
    log = io.StringIO()
    settings = reaction.Settings(IdentityFlags(), kube.cluster_name, 600, auto_rollback)
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


def test_a_record_costs_one_list_of_pods_from_the_servers_cache_and_one_write():
    """The one reconcile worker waits for each request: a consistent list of pods waits for the API server's cache to
    catch up (up to 100 ms on 1.35), and every workload queued behind it waited too (make bench, case 7)."""
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1", "web:2"])
    w, _ = watcher(kube)
    kube.calls.clear()
    w.reconcile(WEB)
    assert [(c.verb, c.resource, c.from_cache) for c in kube.calls] == [("list", PODS, True),
                                                                        ("patch", REPLICASETS, False)]
    kube.calls.clear()
    w.reconcile(WEB)  # recorded: nothing more to ask or write
    assert kube.calls == []


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
    assert records.AUTO_ROLLBACK_AT in annotations(kube, "web-h2")
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
    assert annotations(kube, "web-h1")[records.AUTO_ROLLBACK_OUTCOME].startswith("refused: ")


def test_a_marked_failed_revision_left_undone_is_rolled_back_by_the_next_watcher():
    kube = FakeKube()
    marked = dict(recorded("Failed"), **{records.AUTO_ROLLBACK_AT: "2026-01-02T03:00:00Z"})
    add_deployment(kube, "web", ["web:1", "web:2-broken"], annotations=[recorded("Succeeded"), marked])
    w, log = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    assert kube.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME] == "rolled back to revision 1"
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_AT] == "2026-01-02T03:00:00Z"  # not marked twice
    assert '"event": "rolled-back"' in log.getvalue()


def test_an_auto_rollback_that_fails_is_retried_after_a_backoff_and_done_once():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1", "web:2-broken"], annotations=[recorded("Succeeded"), recorded("Failed")])
    w, log = watcher(kube, auto_rollback=True)
    kube.fail("patch", nth=2, status=503, resource=DEPLOYMENTS)  # 1: the pre-flight's dry run
    w.reconcile(WEB)
    assert len(kube.writes(DEPLOYMENTS, dry_runs=False)) == 1
    assert records.AUTO_ROLLBACK_OUTCOME not in annotations(kube, "web-h2")
    assert '"event": "rollback-failed"' in log.getvalue() and "next in 2s" in log.getvalue()
    assert w.metrics.rollbacks_pending._value.get() == 1
    w.reconcile(WEB)  # within the backoff: nothing
    assert len(kube.writes(DEPLOYMENTS, dry_runs=False)) == 1
    w._retries[WEB] = (1, 0.0)  # the backoff is over
    w.reconcile(WEB)
    assert kube.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME] == "rolled back to revision 1"
    assert w.metrics.rollbacks_pending._value.get() == 0
    assert [e["reason"] for e in kube.server.list(EVENTS, "default")] == ["HarnessRollback"]


def test_health_is_ready_while_every_kind_sees_changes_and_alive_until_blind_for_long():
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1"])
    w, _ = watcher(kube)
    assert w.health() == Health(True, True, "ok")
    replicasets = w.revisions["ReplicaSet"]
    replicasets.failing_since = time.monotonic() - 30
    replicasets.failure = "cannot watch replicasets.apps: the stream broke (read timed out)"
    health = w.health()
    assert not health.ready and health.alive
    assert health.why == "replicasets.apps: failing for 30s: cannot watch replicasets.apps: the stream broke " \
                         "(read timed out)"
    replicasets.failing_since = time.monotonic() - BLIND_RESTART_SECONDS - 1
    assert not w.health().alive


def test_the_stop_signal_handler_takes_no_lock_the_main_thread_may_hold():
    """A signal handler runs in the main thread, which may hold threading's own non-reentrant locks when SIGINT or
    SIGTERM comes (CPython: the Event's `_cond` inside stop.wait(), `_active_limbo_lock` inside Thread.start());
    taking one of them again there hung for ever. The handler runs here in a thread that plays the main thread, with
    both held."""
    stop = threading.Event()
    signalled = watch_command.Signalled()
    handler_returned = threading.Event()

    def main_thread_holding_the_locks() -> None:
        with stop._cond, threading._active_limbo_lock:
            signalled(2, None)
            handler_returned.set()

    threading.Thread(target=main_thread_holding_the_locks, daemon=True).start()
    assert handler_returned.wait(5), "the signal handler blocked on a lock its own thread holds"
    assert signalled.received


def test_the_health_port_serves_its_four_paths_and_nothing_else():
    import urllib.error
    import urllib.request

    from kubectl_rollback.watcher.serve import serve

    server = serve(("127.0.0.1", 0), Metrics(), lambda: Health(True, True, ""))
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for path in ("/healthz", "/readyz", "/livez", "/metrics"):
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                assert answer.status == 200, path
        try:
            urllib.request.urlopen(base + "/foo", timeout=10)
            status = 200
        except urllib.error.HTTPError as refused:
            status = refused.code
        assert status == 404  # it answered 200 with the metrics
    finally:
        server.shutdown()


def killed_after_the_template_write(audit: Optional[dict] = None) -> FakeKube:
    """Revision 2 (web:2-broken) marked; revision 1's template written back, which the controller runs again as
    revision 3; `audit` on it (what the killed watcher got to write)."""
    kube = FakeKube()
    again = dict(recorded("Succeeded"), **{"deployment.kubernetes.io/revision": "3",
                                           "deployment.kubernetes.io/revision-history": "1"}, **(audit or {}))
    marked = dict(recorded("Failed"), **{records.AUTO_ROLLBACK_AT: "2026-01-02T03:00:00Z"})
    add_deployment(kube, "web", ["web:1", "web:2-broken"], live=0, annotations=[again, marked])
    return kube


def test_a_rollback_whose_watcher_was_killed_after_the_template_write_gets_its_book_keeping_once():
    """Revision 2 marked, the template of revision 1 written (the controller runs it again as revision 3), then
    kill -9: no outcome, no audit, no Event. The next watcher writes them; one more reconcile writes nothing."""
    kube = killed_after_the_template_write()
    w, log = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME].startswith("rolled back to revision 1 (")
    audit = annotations(kube, "web-h1")
    assert (audit["harness.io/rolled-back-from"], audit["harness.io/rolled-back-on"]) == ("2", "web-h1")
    assert [e["message"].split(" by ")[0] for e in kube.server.list(EVENTS, "default")] == [
        "rolled back from revision 2 to revision 1 (Succeeded)"]
    assert w.metrics.rollbacks.labels("rolled-back")._value.get() == 1
    assert '"event": "rolled-back"' in log.getvalue()
    assert kube.writes(DEPLOYMENTS) == []  # the template was written already
    next_watcher, _ = watcher(kube, auto_rollback=True)
    next_watcher.reconcile(WEB)
    assert len(kube.writes(EVENTS)) == 1 and len(kube.server.list(EVENTS, "default")) == 1


def test_a_marked_revision_whose_audit_was_written_before_the_kill_gets_its_event_and_outcome_once():
    """Killed between the audit and the Event (issue 29b): the audit stays as written, the Event and the metric
    count come from the watcher that writes the outcome; the next one finds the Event and writes no second."""
    kube = killed_after_the_template_write({"harness.io/rolled-back-from": "2", "harness.io/rolled-back-on": "web-h1",
                                            "harness.io/rolled-back-at": "2026-01-02T03:00:01Z"})
    w, _ = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME].startswith("rolled back to revision 1 (")
    assert annotations(kube, "web-h1")["harness.io/rolled-back-at"] == "2026-01-02T03:00:01Z"
    assert [e["message"].split(" by ")[0] for e in kube.server.list(EVENTS, "default")] == [
        "rolled back from revision 2 to revision 1 (Succeeded)"]
    assert w.metrics.rollbacks.labels("rolled-back")._value.get() == 1
    # Killed again, after the Event and before the outcome: the next watcher writes the outcome, not the Event.
    kube.server.patch(REPLICASETS, "default", "web-h2", {"metadata": {"annotations": {
        records.AUTO_ROLLBACK_OUTCOME: None}}})
    next_watcher, _ = watcher(kube, auto_rollback=True)
    next_watcher.reconcile(WEB)
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME].startswith("rolled back to revision 1 (")
    assert len(kube.server.list(EVENTS, "default")) == 1


def test_a_marked_revision_a_newer_deploy_replaced_gets_an_outcome_that_says_so():
    kube = FakeKube()
    marked = dict(recorded("Failed"), **{records.AUTO_ROLLBACK_AT: "2026-01-02T03:00:00Z"})
    add_deployment(kube, "web", ["web:1", "web:2-broken", "web:3"], annotations=[recorded("Succeeded"), marked, {}])
    w, log = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    assert annotations(kube, "web-h2")[records.AUTO_ROLLBACK_OUTCOME].startswith(
        "replaced: deployment/web runs revision 3 (web:3) now")
    assert "harness.io/rolled-back-from" not in annotations(kube, "web-h1")
    assert kube.server.list(EVENTS, "default") == [] and kube.writes(DEPLOYMENTS) == []
    assert '"outcome": "replaced"' in log.getvalue()
    w.reconcile(WEB)  # now the live revision is recorded, as any other
    assert annotations(kube, "web-h3")[STATUS] == "Succeeded"


def test_record_keys_on_the_workload_are_taken_off_its_metadata_first_and_said():
    """`kubectl rollout undo` copies a revision's record and auto-rollback keys onto the Deployment, whose controller
    copies them back over every record written on its live revision: off the metadata they go, template untouched,
    before anything is recorded (issue 29b)."""
    kube = FakeKube()
    add_deployment(kube, "web", ["web:1", "web:2-broken"], annotations=[recorded("Succeeded"), recorded("Failed")])
    copied = dict(recorded("Failed"), **{records.AUTO_ROLLBACK_OUTCOME: "rolled back to revision 1",
                                         records.RECORDED_REVISION: "2", "harness.io/default-service-id": "svcD"})
    kube.server.patch(DEPLOYMENTS, "default", "web", {"metadata": {"annotations": copied}})
    template = kube.stored(DEPLOYMENTS, "web")["spec"]["template"]
    w, log = watcher(kube, auto_rollback=True)
    w.reconcile(WEB)
    deployment = kube.stored(DEPLOYMENTS, "web")
    assert deployment["metadata"]["annotations"] == {"harness.io/default-service-id": "svcD"}
    assert deployment["spec"]["template"] == template
    assert annotations(kube, "web-h2") == dict(recorded("Failed"), **{"deployment.kubernetes.io/revision": "2"})
    events = [e for e in kube.server.list(EVENTS, "default") if e["reason"] == "HarnessRecordKeysRemoved"]
    assert len(events) == 1 and "harness.io/auto-rollback-outcome" in events[0]["message"]
    assert '"event": "cleaned"' in log.getvalue()
    w.prime()  # the watched copies, as the watch streams would bring them
    w.reconcile(WEB)  # now it acts on what the revision says: web:2-broken is Failed, rolled back
    assert kube.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
