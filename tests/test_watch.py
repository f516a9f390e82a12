"""`watch` on the real control plane: the watcher runs as a user runs it (`kubectl harness-rollback watch`, a child
process, stopped with SIGTERM in the fixture's teardown), rollouts come from the real kubectl and the node
simulator, and every check waits for the exact record it asserts."""

from __future__ import annotations

import json
import re
import time
from typing import List

import pytest

from tests import manifests
from tests.scenarios import (
    IDENTITY,
    PREFIX,
    STATUS,
    annotate,
    deploy_and_record,
    harness_annotations,
    live_image,
    resync,
    revision_of,
    rs_by_image,
)
from tests.watching import (
    AUTO_ROLLBACK_AT,
    AUTO_ROLLBACK_OUTCOME,
    RECORDED_BY,
    RECORDED_REVISION,
    WatchProcess,
    controller_revision_record,
    free_port,
    http_get,
    record_of,
    start_watch_fixture,
    wait_for_status,
)

start_watch = pytest.fixture(start_watch_fixture)


def test_watch_records_good_good_broken_and_rollback_finds_revision_2(ns, start_watch):
    start_watch()
    for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3-broken", "Failed")):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}", progress_deadline=10))
        record = wait_for_status(ns, "web", f"example.test/web:{tag}", status)
        assert record[RECORDED_BY] == "watch"
        assert record[PREFIX + "workflow-id"] == "watch"
        assert record[PREFIX + "service-id"] == "web"
        assert record[PREFIX + "infra-id"] == ns.name
        assert record[PREFIX + "cluster-name"] == "test-cluster"
    history = ns.plugin_json("history", "deployment/web")
    assert history["rollbackTarget"] == 2
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [
        (3, "Failed"), (2, "Succeeded"), (1, "Succeeded")]
    result = ns.plugin_json("rollback", "deployment/web")
    assert result["changed"] and result["to"]["revision"] == 2


def test_watch_takes_the_identity_defaults_of_the_workload_from_keys_the_records_never_use(ns, start_watch):
    """harness.io/default-* on the Deployment (the controller copies them onto its ReplicaSets too, where nothing
    reads them): the watcher's records carry that identity, and a pipeline's record on the same revision stays."""
    start_watch()
    defaults = {PREFIX + "default-workflow-id": "wfD", PREFIX + "default-service-id": "svcD"}
    ns.apply(manifests.deployment("web", "example.test/web:1", annotations=defaults))
    record = wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    assert (record[PREFIX + "workflow-id"], record[PREFIX + "service-id"]) == ("wfD", "svcD")
    assert record[PREFIX + "infra-id"] == ns.name
    ns.plugin("record", "deployment/web", "--status", "Failed", "--workflow-id", "wf1", *IDENTITY, check=True)
    resync(ns, "web")
    kept = record_of(ns, "web", "example.test/web:1")
    assert (kept[STATUS], kept[PREFIX + "workflow-id"]) == ("Failed", "wf1")


def test_pipeline_record_is_kept_while_watch_runs(ns, start_watch):
    start_watch()
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    # The pipeline says this good rollout failed (its own checks did): the watcher must leave that as written.
    ns.plugin("record", "deployment/web", "--status", "Failed", "--workflow-id", "wf1", *IDENTITY, check=True)
    ns.rollout_status("deployment/web")
    ns.apply(manifests.deployment("web", "example.test/web:2"))
    # Revision 2 recorded Succeeded by the watcher: it has handled every event about revision 1 before it.
    wait_for_status(ns, "web", "example.test/web:2", "Succeeded")
    kept = record_of(ns, "web", "example.test/web:1")
    assert kept[STATUS] == "Failed" and kept[PREFIX + "workflow-id"] == "wf1"
    assert kept[PREFIX + "service-id"] == "svc" and RECORDED_BY not in kept


def test_auto_rollback_rolls_a_failed_revision_back_exactly_once(ns, start_watch):
    watcher = start_watch("--auto-rollback")
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10))
    failed = wait_for_status(ns, "web", "example.test/web:2-broken", "Failed")
    assert failed[RECORDED_BY] == "watch"

    def rolled_back():
        deployment = ns.get("deployment", "web")
        return deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/web:1"

    ns.wait_until(rolled_back, "the watcher to roll web back to example.test/web:1", timeout=30)
    assert AUTO_ROLLBACK_AT in record_of(ns, "web", "example.test/web:2-broken")
    assert record_of(ns, "web", "example.test/web:1")[PREFIX + "rolled-back-from"] == "2"
    # The failed revision says how its auto-rollback ended, and the watcher has recorded the rollback's own rollout
    # (web:1 again, as revision 3): it has looked at web since, and rolled back once.
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2-broken").get(AUTO_ROLLBACK_OUTCOME)
                  == "rolled back to revision 1", "the auto-rollback's outcome", timeout=30)
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "3"
                  and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded",
                  "revision 3 (web:1 again) recorded Succeeded", timeout=60)
    rollbacks = [e for e in ns.items("events") if e["reason"] == "HarnessRollback"]
    assert len(rollbacks) == 1, rollbacks
    assert len(watcher.lines("rolled-back")) == 1


def test_a_revision_rolled_out_again_is_a_new_outcome_recorded_and_rolled_back(ns, start_watch, monkeypatch):
    start_watch("--auto-rollback")
    for tag in ("1", "3"):
        ns.apply(manifests.deployment("w", f"example.test/w:{tag}", progress_deadline=10))
        wait_for_status(ns, "w", f"example.test/w:{tag}", "Succeeded")
    # w:1 again, and this time its pods never become Ready (what it needs is gone): the controller scales revision
    # 1's ReplicaSet back up as revision 3, and its progress deadline expires. Applied while paused: a Deployment
    # whose Progressing condition still says NewReplicaSetAvailable may never time out when an old ReplicaSet comes
    # back (the controller's DeploymentTimedOut skips that reason, and whether it sees progress first is a race);
    # resuming sets DeploymentResumed, from which the deadline always counts.
    monkeypatch.setattr(ns.cluster.sim, "broken", re.compile(r"broken|example\.test/w:1$"))
    ns.kubectl("rollout", "pause", "deployment/w")
    ns.apply(manifests.deployment("w", "example.test/w:1", progress_deadline=10))

    def paused_with_w1():
        deployment = ns.get("deployment", "w")
        progressing = [c for c in deployment["status"].get("conditions") or [] if c["type"] == "Progressing"]
        return (deployment["status"].get("observedGeneration") == deployment["metadata"]["generation"]
                and [c["reason"] for c in progressing] == ["DeploymentPaused"])

    ns.wait_until(paused_with_w1, "the controller to see w:1 applied while paused", timeout=30)
    ns.kubectl("rollout", "resume", "deployment/w")

    def failed_as_revision_3():
        rs = rs_by_image(ns, "w")["example.test/w:1"]
        annotations = rs["metadata"].get("annotations") or {}
        return revision_of(rs) == 3 and annotations.get(STATUS) == "Failed" and annotations

    failed = ns.wait_until(failed_as_revision_3, "revision 3 (w:1 again) recorded Failed", timeout=90)
    assert failed[RECORDED_REVISION] == "3" and failed[RECORDED_BY] == "watch"
    ns.wait_until(lambda: live_image(ns, name="w") == "example.test/w:3", "the rollback to w:3", timeout=60)
    # The rollback is itself a new rollout of w:3 (revision 4): recorded Succeeded for revision 4.
    ns.wait_until(lambda: record_of(ns, "w", "example.test/w:3").get(RECORDED_REVISION) == "4"
                  and record_of(ns, "w", "example.test/w:3")[STATUS] == "Succeeded",
                  "revision 4 (w:3 again) recorded Succeeded", timeout=60)
    assert [e["reason"] for e in ns.items("events") if e["reason"].startswith("HarnessRollback")] == \
        ["HarnessRollback"]
    history = ns.plugin_json("history", "deployment/w")
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [(4, "Succeeded"), (3, "Failed")]


def rolled_back_events(ns) -> List[dict]:
    return [e for e in ns.items("events") if e["reason"] == "HarnessRollback"]


def test_a_marked_failed_revision_still_live_is_rolled_back_by_the_next_watcher_once(ns, start_watch):
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                      *IDENTITY)
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                      *IDENTITY)
    # A watcher marked revision 2 and was killed (kill -9) before it rolled back.
    broken = rs_by_image(ns, "web")["example.test/web:2-broken"]["metadata"]["name"]
    annotate(ns, "rs", [broken], f"{AUTO_ROLLBACK_AT}=2026-12-07T00:00:00Z")
    watcher = start_watch("--auto-rollback")
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the next watcher to finish the rollback",
                  timeout=60)
    outcome = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2-broken").get(AUTO_ROLLBACK_OUTCOME),
                            "the outcome written on the marked revision", timeout=30)
    assert outcome == "rolled back to revision 1"
    assert len(rolled_back_events(ns)) == 1
    assert [line["outcome"] for line in watcher.lines("rolled-back")] == ["revision 1"]


def test_an_auto_rollback_that_fails_is_retried_and_done(ns, start_watch, proxied):
    from tests.cluster.faultproxy import Rule, status

    watcher = start_watch("--auto-rollback", env=proxied.env)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    # Every attempt of the first rollback's template write is refused: that rollback fails after its retries.
    refused = proxied.proxy.add_rule(Rule(status(503), method="PATCH", path="/deployments/web$", times=5,
                                          dry_runs=False))  # the write, not the pre-flight's dry run of it
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:2-broken", "Failed")
    ns.wait_until(lambda: watcher.lines("rollback-failed"), "the first rollback to fail", timeout=60)
    assert refused.used == 5
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the retried rollback", timeout=60)
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2-broken").get(AUTO_ROLLBACK_OUTCOME),
                  "the outcome written on the failed revision", timeout=30)
    assert len(rolled_back_events(ns)) == 1
    assert not [e for e in ns.items("events") if e["reason"] == "HarnessAutoRollbackSkipped"]
    assert len(watcher.lines("rolled-back")) == 1


def test_auto_rollback_without_a_target_says_why_in_an_event(ns, start_watch):
    start_watch()
    ns.apply(manifests.deployment("web", "example.test/web:1-broken", progress_deadline=10,
                                  annotations={PREFIX + "auto-rollback": "true"}))
    wait_for_status(ns, "web", "example.test/web:1-broken", "Failed")

    def skipped():
        return [e for e in ns.items("events") if e["reason"] == "HarnessAutoRollbackSkipped"]

    events = ns.wait_until(skipped, "an Event saying why the auto-rollback was skipped", timeout=30)
    assert "first deployment" in events[0]["message"]
    assert ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example.test/web:1-broken"


def test_watch_sigterm_exits_within_5_seconds(ns, start_watch):
    watcher = start_watch()
    assert watcher.stop() < 5
    assert watcher.proc.returncode == 0
    assert watcher.lines("stopped")


def test_watch_bad_flag_is_one_line_exit_2(ns):
    proc = ns.plugin("watch", "--log-format", "xml")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --log-format 'xml': must be text or json"]


def recorded_lines(watcher: WatchProcess) -> List[tuple]:
    return [(line["revision"], line["outcome"]) for line in watcher.lines("recorded")]


def test_faults_dropped_streams_410_and_an_api_server_outage_leave_the_same_records(ns, start_watch, proxied):
    from tests.cluster.faultproxy import Rule, reset, status

    watcher = start_watch(env=proxied.env)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    # 410 Gone on the next watch or list of Deployments and ReplicaSets, and every open stream dropped.
    gone = [proxied.proxy.add_rule(Rule(status(410, message="too old resource version"), method="GET",
                                        path=f"/{plural}$")) for plural in ("deployments", "replicasets")]
    assert proxied.proxy.cut_connections() > 0
    ns.apply(manifests.deployment("web", "example.test/web:2", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:2", "Succeeded")
    assert all(rule.used == 1 for rule in gone)
    # The API server "restarts": every connection cut, every request refused, while revision 3 rolls out and
    # fails; the watcher sees it only when it relists.
    outage = proxied.proxy.add_rule(Rule(reset(), times=None))
    proxied.proxy.cut_connections()
    ns.apply(manifests.deployment("web", "example.test/web:3-broken", progress_deadline=10))

    def deadline_exceeded():
        conditions = ns.get("deployment", "web").get("status", {}).get("conditions") or []
        return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)

    ns.wait_until(deadline_exceeded, "revision 3 to exceed its progress deadline", timeout=90)
    assert STATUS not in record_of(ns, "web", "example.test/web:3-broken")  # nobody could record it
    proxied.proxy.clear_rules()
    assert outage.used > 0
    wait_for_status(ns, "web", "example.test/web:3-broken", "Failed")
    assert [line["resource"] for line in watcher.lines("relist")]
    assert proxied.proxy.count("GET", "/replicasets$") > 2
    # Each revision's outcome recorded exactly once; nothing recorded twice.
    outcomes = [o for o in recorded_lines(watcher) if o[1] != "InProgress"]
    assert sorted(outcomes) == [(1, "Succeeded"), (2, "Succeeded"), (3, "Failed")]
    assert len(set(recorded_lines(watcher))) == len(recorded_lines(watcher))


def lease_holder(ns) -> str:
    return (ns.get("lease", "harness-rollback-watch").get("spec") or {}).get("holderIdentity") or ""


def test_two_watchers_one_leader_records_once_and_a_killed_leader_is_replaced(ns, start_watch):
    args = ("--leader-elect", "--lease-duration", "6s")
    first = start_watch(*args)
    ns.wait_until(lambda: first.lines("leader"), "the first watcher to lead", timeout=30)
    second = start_watch(*args)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    assert not second.lines("leader") and not second.lines("recorded")
    assert len([o for o in recorded_lines(first) if o[1] == "Succeeded"]) == 1
    first.proc.kill()  # no chance to release the lease
    killed = time.monotonic()
    # A rollout while nobody leads: the new leader records it when it takes over.
    ns.apply(manifests.deployment("web", "example.test/web:2", progress_deadline=10))
    ns.wait_until(lambda: second.lines("leader"), "the second watcher to take over", timeout=30)
    assert time.monotonic() - killed < 6 + 2, "takeover within the lease duration (and one retry period)"
    assert lease_holder(ns) == second.lines("leader")[0]["identity"]
    wait_for_status(ns, "web", "example.test/web:2", "Succeeded")
    assert [o for o in recorded_lines(second) if o[1] == "Succeeded"] == [(2, "Succeeded")]


def test_sigterm_releases_the_lease(ns, start_watch):
    leader = start_watch("--leader-elect")
    ns.wait_until(lambda: leader.lines("leader"), "the watcher to lead", timeout=30)
    assert lease_holder(ns)
    assert leader.stop() < 5
    assert lease_holder(ns) == ""


def test_record_follow_rollback_on_failure_rolls_back_and_still_exits_4(ns):
    follow = ("record", "deployment/web", "--follow", "--rollback-on-failure", "--timeout", "90s",
              "--workflow-id", "wf1", *IDENTITY)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    assert ns.plugin(*follow).returncode == 0
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10))
    proc = ns.plugin(*follow)
    assert proc.returncode == 4, proc.stderr
    assert "recorded revision 2 Failed" in proc.stderr and "rolled back from revision 2" in proc.stderr
    assert ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/web:1"
    assert record_of(ns, "web", "example.test/web:2-broken")[STATUS] == "Failed"
    assert record_of(ns, "web", "example.test/web:1")[PREFIX + "rolled-back-from"] == "2"


def test_rollback_on_failure_needs_follow(ns):
    proc = ns.plugin("record", "deployment/web", "--status", "Failed", "--rollback-on-failure")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --rollback-on-failure acts on the rollout --follow waits for; pass --follow with it"]


def test_statefulsets_fail_after_the_progress_deadline(ns, start_watch):
    # StatefulSets only: in the test cluster a DaemonSet schedules no pod on the simulated node (desired 0), so every
    # DaemonSet rollout is complete at once, for kubectl's `rollout status` as for the watcher.
    start_watch("--progress-deadline", "8s")
    for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
        ns.apply(manifests.statefulset("db", f"example.test/db:{tag}"))
        record = wait_for_status(ns, "db", f"example.test/db:{tag}", status, read=controller_revision_record)
        assert record[RECORDED_BY] == "watch" and record[PREFIX + "service-id"] == "db"
    assert ns.plugin_json("history", "statefulset/db")["rollbackTarget"] == 1


def health(port: int, path: str = "/healthz") -> int:
    return http_get(f"http://127.0.0.1:{port}{path}")[0]


def test_frozen_connections_are_given_up_and_records_resume_within_60_seconds(ns, start_watch, proxied):
    from tests.cluster.faultproxy import Rule, freeze

    port = free_port()
    watcher = start_watch("--health-address", f"127.0.0.1:{port}", env=proxied.env)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    # Every connection open now goes silent, kept open with no FIN or RST (watch streams and pooled connections
    # alike); new connections work.
    assert proxied.proxy.freeze_connections() > 0
    frozen_at = time.monotonic()
    ns.apply(manifests.deployment("web", "example.test/web:2", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:2", "Succeeded", timeout=60)
    assert time.monotonic() - frozen_at < 60
    assert watcher.lines("relist")
    assert health(port) == 200
    # Now nothing gets through, new connections included: the watcher says it is blind.
    proxied.proxy.add_rule(Rule(freeze(), times=None))
    proxied.proxy.freeze_connections()
    ns.apply(manifests.deployment("web", "example.test/web:3", progress_deadline=10))
    ns.wait_until(lambda: health(port) == 503, "/healthz to say the watcher is blind", timeout=60)
    assert health(port, "/livez") == 200  # not blind long enough for a restart to be the cure
    assert STATUS not in record_of(ns, "web", "example.test/web:3")
    proxied.proxy.clear_rules()
    working_at = time.monotonic()
    wait_for_status(ns, "web", "example.test/web:3", "Succeeded", timeout=60)
    assert time.monotonic() - working_at < 60
    # Every kind sees again once its own request held by the freeze has timed out (a watch: 40 s) and it relisted.
    ns.wait_until(lambda: health(port) == 200, "/healthz to say the watcher sees again", timeout=60)
    metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1]
    assert 'harness_rollback_watch_stream_age_seconds{resource="replicasets"}' in metrics
    assert sorted(o for o in recorded_lines(watcher) if o[1] == "Succeeded") == [
        (1, "Succeeded"), (2, "Succeeded"), (3, "Succeeded")]


def test_sigterm_while_every_connection_is_frozen_still_exits_within_5_seconds(ns, start_watch, proxied):
    from tests.cluster.faultproxy import Rule, freeze

    leader = start_watch("--leader-elect", env=proxied.env)
    ns.wait_until(lambda: leader.lines("leader"), "the watcher to lead", timeout=30)
    proxied.proxy.add_rule(Rule(freeze(), times=None))
    proxied.proxy.freeze_connections()
    assert leader.stop() < 5  # the Lease cannot be released: it expires by itself
    assert leader.proc.returncode == 0


def auto_rollback_metric(port: int, result: str) -> float:
    text = http_get(f"http://127.0.0.1:{port}/metrics")[1]
    found = re.search(rf'harness_rollback_auto_rollbacks_total{{result="{result}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def rs_annotations(ns, app: str, image: str) -> dict:
    return rs_by_image(ns, app)[image]["metadata"].get("annotations") or {}


def killed_after_the_template_write(ns, broken_image: str, revision: int) -> str:
    """BROKEN_IMAGE deployed and recorded Failed; the leader marked it, wrote web:1's template back (the controller
    runs it again as REVISION) and was killed (kill -9). Returns the mark's time."""
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", broken_image), "Failed", *IDENTITY,
                      rollout=False)
    broken = rs_by_image(ns, "web")[broken_image]["metadata"]["name"]
    marked_at = "2026-12-07T00:00:00Z"
    annotate(ns, "rs", [broken], f"{AUTO_ROLLBACK_AT}={marked_at}")
    ns.apply(manifests.deployment("web", "example.test/web:1"))  # the rollback's template write
    ns.wait_until(lambda: revision_of(rs_by_image(ns, "web")["example.test/web:1"]) == revision,
                  f"web:1 to run again as revision {revision}")
    return marked_at


def test_a_rollback_whose_watcher_was_killed_after_the_template_write_is_finished_by_the_next_once(ns, start_watch):
    """The leader marked revision 4, wrote the template of revision 3 (web:1) and was killed (kill -9) before its
    book-keeping: web:1 runs again as revision 5, still carrying the audit of an older rollback (from 2), and revision
    4 has the mark and no outcome. The next watcher finishes the book-keeping, once."""
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                      *IDENTITY)
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                      *IDENTITY, rollout=False)
    ns.plugin("rollback", "deployment/web", check=True)  # the older rollback: web:1 again as revision 3
    ns.rollout_status("deployment/web")
    marked_at = killed_after_the_template_write(ns, "example.test/web:4-broken", 5)
    assert rs_annotations(ns, "web", "example.test/web:1")[PREFIX + "rolled-back-from"] == "2"
    port = free_port()
    watcher = start_watch("--auto-rollback", "--health-address", f"127.0.0.1:{port}")
    outcome = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:4-broken").get(AUTO_ROLLBACK_OUTCOME),
                            "the next watcher to write the outcome", timeout=60)
    assert outcome.startswith("rolled back to revision 3 ") and "stopped" in outcome, outcome
    audit = rs_annotations(ns, "web", "example.test/web:1")
    restored = rs_by_image(ns, "web")["example.test/web:1"]["metadata"]["name"]
    assert (audit[PREFIX + "rolled-back-from"], audit[PREFIX + "rolled-back-on"]) == ("4", restored)
    assert audit[PREFIX + "rolled-back-at"] > marked_at
    events = rolled_back_events(ns)
    assert len(events) == 2, events
    assert len([e for e in events if "rolled back from revision 4 to revision 3" in e["message"]]) == 1, events
    assert [line["outcome"] for line in watcher.lines("rolled-back")] == ["revision 3"]
    assert auto_rollback_metric(port, "rolled-back") == 1
    assert live_image(ns) == "example.test/web:1"
    # Another watcher, after this one: nothing left to finish. It records web:6 only after it has looked at web.
    watcher.stop()
    again = start_watch("--auto-rollback")
    ns.apply(manifests.deployment("web", "example.test/web:6"))
    wait_for_status(ns, "web", "example.test/web:6", "Succeeded")
    assert len(rolled_back_events(ns)) == 2
    assert not again.lines("rolled-back") and not again.lines("rollback-skipped")


def test_a_marked_revision_replaced_by_a_newer_deploy_gets_an_outcome_that_says_so(ns, start_watch):
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                      *IDENTITY)
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                      *IDENTITY, rollout=False)
    broken = rs_by_image(ns, "web")["example.test/web:2-broken"]["metadata"]["name"]
    annotate(ns, "rs", [broken], f"{AUTO_ROLLBACK_AT}=2026-12-07T00:00:00Z")
    # Killed before its template write; a pipeline deployed web:3 since.
    ns.apply(manifests.deployment("web", "example.test/web:3"))
    ns.rollout_status("deployment/web")
    watcher = start_watch("--auto-rollback")
    outcome = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2-broken").get(AUTO_ROLLBACK_OUTCOME),
                            "the outcome written on the marked revision", timeout=60)
    assert outcome.startswith("replaced: deployment/web runs revision 3 "), outcome
    wait_for_status(ns, "web", "example.test/web:3", "Succeeded")
    assert live_image(ns) == "example.test/web:3"
    assert not rolled_back_events(ns)
    assert [line["outcome"] for line in watcher.lines("rollback-skipped")] == ["replaced"]


def test_a_watcher_that_starts_as_follower_says_so(ns, start_watch):
    args = ("--leader-elect", "--lease-duration", "6s")
    first = start_watch(*args)
    ns.wait_until(lambda: first.lines("leader"), "the first watcher to lead", timeout=30)
    second = start_watch(*args)
    follower = ns.wait_until(lambda: second.lines("follower"), "the second watcher to say it follows", timeout=30)
    assert follower[0]["lease"] == "harness-rollback-watch" and follower[0]["identity"]
    assert lease_holder(ns) == first.lines("leader")[0]["identity"]
    assert not second.lines("leader")


@pytest.mark.parametrize("after", [1.0, 1.5, 2.0])
def test_sigint_while_watch_starts_up_stops_it_even_when_it_inherited_sigint_ignored(ns, after):
    """A shell script's background job (`kubectl harness-rollback watch &`) starts with SIGINT ignored. The watcher
    took SIGINT over only once it ran, after its imports and connection (~2.5 s here): one sent before was dropped
    by the kernel, and the watcher ran on for good (issue 29's 'first SIGINT ignored for ~10 minutes'). It takes it
    over first thing now (kubectl_rollback/launch.py); only the start of kubectl and of Python stand before that."""
    import signal
    import subprocess

    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "watch", "-n", ns.name], env=ns.cluster.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(after)  # a moment of its start-up, not a wait for a state: any moment must do
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"watch ignored a SIGINT sent {after}s after it started") from None
    assert proc.returncode in (0, 130), stderr


def test_a_record_copied_by_rollout_undo_is_trusted_by_nobody(ns, start_watch):
    """Issue 27: `kubectl rollout undo` copies the restored ReplicaSet's record onto the Deployment, whose controller
    copies it onto the ReplicaSet of the next deploy: a Succeeded record it never earned. Its recorded-on names the
    ReplicaSet it was written on, so history, rollback and the watcher read it as the copy it is."""
    def deploy(tag: str) -> str:
        return manifests.deployment("web", f"example.test/web:{tag}", progress_deadline=10)

    deploy_and_record(ns, "deployment/web", deploy("1"), "Succeeded", *IDENTITY)
    deploy_and_record(ns, "deployment/web", deploy("2-broken"), "Failed", *IDENTITY, rollout=False)
    ns.kubectl("rollout", "undo", "deployment/web")  # back to web:1, its record copied onto the Deployment
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the undo")
    good = rs_by_image(ns, "web")["example.test/web:1"]["metadata"]["name"]
    ns.apply(deploy("3-broken"))  # the next deploy fails; client-side apply keeps the copied keys on the Deployment
    copy = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:3-broken").get(STATUS),
                         "the controller's copy on the new ReplicaSet")
    assert copy == "Succeeded"  # what the controller copied: not a record

    shown = ns.plugin("history", "deployment/web", *IDENTITY, "-o", "json", check=True)
    revisions = {r["images"][0]: r for r in json.loads(shown.stdout)["revisions"]}
    live = revisions["example.test/web:3-broken"]
    assert live["status"] == "Unknown" and f"copy of the record of ReplicaSet {good}" in live["statusReason"], live
    assert json.loads(shown.stdout)["rollbackTarget"] == revisions["example.test/web:1"]["revision"]

    refused = ns.plugin("rollback", "deployment/web", *IDENTITY)  # the Deployment still carries the copies
    assert refused.returncode == 1 and "kubectl annotate " in refused.stderr, refused.stderr
    ns.kubectl(*refused.stderr[refused.stderr.index("kubectl annotate "):].split()[1:])
    dry = ns.plugin("rollback", "deployment/web", *IDENTITY, "--dry-run", check=True)
    assert "to revision" in dry.stdout and "example.test/web:1" in dry.stdout.split(" to revision ")[1], dry.stdout

    # The watcher judges the live revision itself: its pods never become Ready, so it fails and is rolled back.
    start_watch("--auto-rollback", *IDENTITY)
    failed = wait_for_status(ns, "web", "example.test/web:3-broken", "Failed")
    assert failed[RECORDED_BY] == "watch" and failed[PREFIX + "workflow-id"] == "wf1", failed
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the watcher's rollback to web:1", timeout=60)


# What `kubectl rollout undo` leaves as it was on the Deployment (kubectl's annotationsToSkip); every other annotation
# of the ReplicaSet it goes back to replaces the Deployment's.
UNDO_SKIPS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
              "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
              "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to")


def undo_while_paused(ns, app: str, image: str) -> None:
    """`kubectl rollout undo deployment/APP --to-revision=<the ReplicaSet of IMAGE>`, written as kubectl writes it
    (its template, and its annotations over the Deployment's), while paused: kubectl refuses to undo a paused
    Deployment, and an old ReplicaSet scaled back up from NewReplicaSetAvailable may never time out (see above)."""
    rs = rs_by_image(ns, app)[image]
    deployment = ns.get("deployment", app)
    kept = {k: v for k, v in (deployment["metadata"].get("annotations") or {}).items() if k in UNDO_SKIPS}
    copied = {k: v for k, v in (rs["metadata"].get("annotations") or {}).items() if k not in UNDO_SKIPS}
    template = rs["spec"]["template"]
    template["metadata"]["labels"].pop("pod-template-hash", None)
    ns.kubectl("rollout", "pause", f"deployment/{app}")
    ns.kubectl("patch", f"deployment/{app}", "--type", "json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": {**kept, **copied}}]))
    ns.wait_until(lambda: ns.get("deployment", app)["status"].get("observedGeneration")
                  == ns.get("deployment", app)["metadata"]["generation"], "the controller to see the undo")
    ns.kubectl("rollout", "resume", f"deployment/{app}")


def plugin_keys(obj: dict) -> dict:
    """The plugin's record and auto-rollback keys an object carries (harness.io/auto-rollback and default-* are a
    workload's own settings)."""
    return {k: v for k, v in harness_annotations(obj).items()
            if k != PREFIX + "auto-rollback" and not k.startswith(PREFIX + "default-")}


def test_rollout_undo_onto_a_failed_revision_is_recorded_failed_and_rolled_back_again(ns, start_watch):
    """Issue 29b.1: `rollout undo` onto a revision recorded Failed (and auto-rolled back) puts its record and its
    auto-rollback keys on the Deployment, whose controller copies them onto the ReplicaSet on every sync. The watcher
    went silent; it takes the keys off the Deployment's metadata (log line, Event), then records and rolls back."""
    watcher = start_watch("--auto-rollback")
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:2-broken", "Failed")
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "3"
                  and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded",
                  "the auto-rollback's rollout (web:1 as revision 3) recorded Succeeded", timeout=60)
    assert AUTO_ROLLBACK_OUTCOME in record_of(ns, "web", "example.test/web:2-broken")

    undo_while_paused(ns, "web", "example.test/web:2-broken")  # revision 4: the broken image again
    broken = rs_by_image(ns, "web")["example.test/web:2-broken"]

    def failed_as_revision_4():
        record = record_of(ns, "web", "example.test/web:2-broken")
        return (record.get(STATUS) == "Failed" and record.get(RECORDED_REVISION) == "4"
                and record.get(PREFIX + "recorded-on", "").split("/")[1:] == [broken["metadata"]["name"],
                                                                                broken["metadata"]["uid"]]
                and record)

    failed = ns.wait_until(failed_as_revision_4, "revision 4 (web:2-broken again) recorded Failed", timeout=90)
    assert AUTO_ROLLBACK_OUTCOME not in failed or failed[AUTO_ROLLBACK_OUTCOME] == "rolled back to revision 3"
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the rollback of revision 4", timeout=60)
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "5"
                  and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded",
                  "revision 5 (web:1 again) recorded Succeeded", timeout=60)
    assert not plugin_keys(ns.get("deployment", "web"))
    assert [line["revision"] for line in watcher.lines("rolled-back")] == [2, 4]
    assert len(rolled_back_events(ns)) == 2
    cleaned = [e for e in ns.items("events") if e["reason"] == "HarnessRecordKeysRemoved"]
    assert len(cleaned) == 1 and cleaned[0]["involvedObject"]["name"] == "web", cleaned
    assert len(watcher.lines("cleaned")) == 1
    assert len([line for line in watcher.lines("recorded") if line["revision"] == 4]) <= 2


def test_rollout_undo_onto_a_succeeded_revision_writes_no_loop_and_a_scale_is_not_a_rollout(ns, start_watch):
    """Issue 29b.2: after `rollout undo` onto a Succeeded revision, the controller copied the Deployment's keys back
    over each record the watcher wrote (100 writes in 12 s), then a failed deploy went unrecorded; later every scale
    flipped the live revision to InProgress ("revision 1 rolled out again")."""
    port = free_port()
    watcher = start_watch("--auto-rollback", "--health-address", f"127.0.0.1:{port}")
    for tag in ("1", "2"):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}", progress_deadline=10))
        wait_for_status(ns, "web", f"example.test/web:{tag}", "Succeeded")
    ns.kubectl("rollout", "undo", "deployment/web")  # web:1 again, as revision 3
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "3"
                  and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded"
                  and not plugin_keys(ns.get("deployment", "web")),
                  "revision 3 recorded Succeeded and the Deployment without copied keys", timeout=60)
    ns.apply(manifests.deployment("web", "example.test/web:4-broken", progress_deadline=10))
    failed = wait_for_status(ns, "web", "example.test/web:4-broken", "Failed")
    assert failed[RECORDED_REVISION] == "4", failed
    ns.wait_until(lambda: live_image(ns) == "example.test/web:1", "the rollback of revision 4", timeout=60)
    ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "5"
                  and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded",
                  "revision 5 (web:1 again) recorded Succeeded", timeout=60)
    before = len(watcher.lines("recorded"))
    ns.kubectl("scale", "deployment/web", "--replicas", "3")
    ns.rollout_status("deployment/web")
    resync(ns, "web")  # the controller has copied the Deployment's annotations onto the live ReplicaSet again
    # One worker takes workloads in turn: once a Deployment created now is recorded, web's changes were looked at.
    ns.apply(manifests.deployment("probe", "example.test/probe:1"))
    wait_for_status(ns, "probe", "example.test/probe:1", "Succeeded")
    record = record_of(ns, "web", "example.test/web:1")
    assert (record[STATUS], record[RECORDED_REVISION]) == ("Succeeded", "5"), record
    assert {line["workload"] for line in watcher.lines("recorded")[before:]} == {"deployment/probe"}, \
        watcher.lines("recorded")[before:]
    # Revisions 1 to 5, each InProgress then done at most: no write loop.
    assert len([line for line in watcher.lines("recorded") if line["workload"] == "deployment/web"]) <= 10


def test_a_leader_killed_between_the_audit_and_the_event_is_finished_with_one_event_and_one_count(ns, start_watch):
    """Issue 29b.3: the leader wrote the template of revision 3 (web:1) and its audit, and was killed before the
    HarnessRollback Event. The next watcher took the audit for 'Event written too': no Event, no metric count."""
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                      *IDENTITY)
    killed_after_the_template_write(ns, "example.test/web:2-broken", 3)
    good = rs_by_image(ns, "web")["example.test/web:1"]["metadata"]["name"]
    annotate(ns, "rs", [good], f"{PREFIX}rolled-back-from=2", f"{PREFIX}rolled-back-at=2026-12-07T00:00:01Z",
             f"{PREFIX}rolled-back-on={good}")  # its audit, and then the kill
    port = free_port()
    watcher = start_watch("--auto-rollback", "--health-address", f"127.0.0.1:{port}")
    outcome = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2-broken").get(AUTO_ROLLBACK_OUTCOME),
                            "the next watcher to write the outcome", timeout=60)
    assert outcome.startswith("rolled back to revision 1 "), outcome
    events = rolled_back_events(ns)
    assert len(events) == 1 and "rolled back from revision 2 to revision 1" in events[0]["message"], events
    assert auto_rollback_metric(port, "rolled-back") == 1
    assert [line["outcome"] for line in watcher.lines("rolled-back")] == ["revision 1"]
    # A watcher after it finds the Event there: not written twice.
    watcher.stop()
    again = start_watch("--auto-rollback")
    ns.apply(manifests.deployment("web", "example.test/web:4"))
    wait_for_status(ns, "web", "example.test/web:4", "Succeeded")
    assert len(rolled_back_events(ns)) == 1 and not again.lines("rolled-back")


def test_a_lease_that_cannot_be_taken_is_said_once_and_the_watcher_is_not_ready(ns, start_watch):
    """Issue 29b.5: --leader-elect with a Lease namespace that does not exist: a silent follower for ever, /healthz
    200, leader metric 0. One line says why (the API's 404), and readiness says not ready while it lasts."""
    port = free_port()
    missing = f"{ns.name}-missing"
    watcher = start_watch("-n", missing, "--leader-elect", "--lease-duration", "3s",
                          "--health-address", f"127.0.0.1:{port}")
    line = ns.wait_until(lambda: [x for x in watcher.lines("error") if x.get("lease")], "the line about the lease",
                         timeout=30)[0]
    assert "not found" in line["why"] and missing in line["why"], line
    status, body = http_get(f"http://127.0.0.1:{port}/healthz")
    assert status == 503 and "lease" in body, (status, body)
    assert re.search(r"^harness_rollback_leader 0\.0$", http_get(f"http://127.0.0.1:{port}/metrics")[1], re.M)
    ns.kubectl("create", "namespace", missing)
    try:
        ns.wait_until(lambda: watcher.lines("leader"), "the watcher to lead once the namespace exists", timeout=30)
        ns.wait_until(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200, "ready again", timeout=30)
        # It tried every 0.5 s until then: the line is said when the problem starts, not at every try.
        assert len([x for x in watcher.lines("error") if x.get("lease")]) == 1
    finally:
        ns.kubectl("delete", "namespace", missing, "--wait=false")


def test_repeated_signals_while_watch_stops_still_exit_0(ns, tmp_path):
    """Issue 29b.6: a script's background job (SIGINT ignored when it starts) given `kill -INT; sleep .2; kill -INT;
    kill -TERM; kill -INT` once running exited 130; docs/watch.md says 0 once it has started, as one SIGINT does."""
    import signal
    import subprocess

    log = tmp_path / "watch.log"
    with log.open("w") as out:
        proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "watch", "-n", ns.name, "--leader-elect",
                                 "--log-format", "json"], env=ns.cluster.env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        try:
            ns.wait_until(lambda: '"event": "leader"' in log.read_text(), "the watcher to lead", timeout=60)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)  # the pattern of the report, not a wait for a state
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
                proc.send_signal(signum)
            assert proc.wait(timeout=15) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert '"event": "stopped"' in log.read_text() and "Traceback" not in log.read_text()


DECISIONS = ("recorded", "skipped", "cleaned", "rolled-back", "rollback-skipped", "rollback-failed")


def test_a_paused_leader_resumed_after_a_takeover_writes_and_decides_nothing(ns, start_watch):
    """Issue 29b.4: a leader paused (SIGSTOP) while a follower took over and rolled back, then resumed (SIGCONT),
    acted on its backlog before its lease loop ran: 'rolled-back ... nothing to do' and a second HarnessRollback
    Event. A deposed leader makes no write and logs no decision: the lease is checked right before each write."""
    import signal

    args = ("--leader-elect", "--lease-duration", "6s", "--auto-rollback")
    first = start_watch(*args)
    ns.wait_until(lambda: first.lines("leader"), "the first watcher to lead", timeout=30)
    second = start_watch(*args)
    ns.wait_until(lambda: second.lines("follower"), "the second watcher to follow", timeout=30)
    ns.apply(manifests.deployment("web", "example.test/web:1", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:1", "Succeeded")
    first.proc.send_signal(signal.SIGSTOP)
    try:
        ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=10))
        ns.wait_until(lambda: second.lines("leader"), "the second watcher to take over", timeout=30)
        ns.wait_until(lambda: record_of(ns, "web", "example.test/web:1").get(RECORDED_REVISION) == "3"
                      and record_of(ns, "web", "example.test/web:1")[STATUS] == "Succeeded",
                      "the takeover's rollback (web:1 as revision 3) recorded Succeeded", timeout=90)
        before = len(first.lines())
    finally:
        first.proc.send_signal(signal.SIGCONT)
    ns.wait_until(lambda: first.lines("follower"), "the resumed watcher to see it follows", timeout=30)
    ns.apply(manifests.deployment("probe", "example.test/probe:1"))
    wait_for_status(ns, "probe", "example.test/probe:1", "Succeeded")
    after = [line for line in first.lines()[before:] if line["event"] in DECISIONS]
    assert after == [], after
    assert len(rolled_back_events(ns)) == 1
    assert record_of(ns, "web", "example.test/web:2-broken")[AUTO_ROLLBACK_OUTCOME] == "rolled back to revision 1"
