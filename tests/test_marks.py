"""Revisions marked bad and barriers (issue 22 item 1), on the real control plane: with revisions 1, 2 (barrier),
3 (marked bad) recorded Succeeded and 4 Failed, rollback goes to 2; with 2 marked bad too it stops at the barrier
(exit 3 naming it); --override-barrier crosses it and is recorded; pruning revision 2 does not lift it; the
watcher's auto-rollback never crosses it."""

from __future__ import annotations

import json

import pytest

from tests import manifests
from tests import scenarios as sc
from tests.cluster.controlplane import on_oldest_server
from tests.watching import start_watch_fixture, wait_for_status

start_watch = pytest.fixture(start_watch_fixture)

MARKED_BAD = sc.PREFIX + "marked-bad"
BARRIER = sc.PREFIX + "barrier"
BARRIERS = sc.PREFIX + "barriers"
BARRIER_CROSSED = sc.PREFIX + "barrier-crossed"
SCHEMA = "orders schema v2"


def four_revisions(ns, history_limit: int = 10) -> None:
    """Revisions 1, 2, 3 rolled out and recorded Succeeded, 4 broken and recorded Failed (live)."""
    for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3", "Succeeded"), ("4-broken", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}",
                                                                        history_limit=history_limit),
                             status, *sc.IDENTITY)


def rs_annotations(ns, tag: str) -> dict:
    rs = sc.rs_by_image(ns, "web").get(f"example.test/web:{tag}")
    return (rs or {}).get("metadata", {}).get("annotations") or {}


def user_name(ns):
    """Who the API server takes the admin kubeconfig for (None on 1.20: no SelfSubjectReview before 1.27)."""
    if on_oldest_server():
        return None
    return ns.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout


def test_rollback_skips_a_revision_marked_bad_and_stops_at_the_barrier(ns):
    four_revisions(ns)
    marked = ns.plugin_json("mark-bad", "deployment/web", "--revision", "3", "--reason", "corrupts carts")
    assert marked["revision"] == 3 and marked["changed"] and marked["reason"] == "corrupts carts"
    assert marked["by"] == user_name(ns) and sc.RFC3339.fullmatch(marked["at"])
    placed = ns.plugin_json("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA)
    assert placed["revision"] == 2 and placed["reason"] == SCHEMA
    # Kept on the revision object and on the workload, by number and template hash.
    rs2 = sc.rs_by_image(ns, "web")["example.test/web:2"]
    template_hash = rs2["metadata"]["labels"]["pod-template-hash"]
    assert json.loads(rs2["metadata"]["annotations"][BARRIER])["templateHash"] == template_hash
    listed = json.loads(ns.get("deployment", "web")["metadata"]["annotations"][BARRIERS])
    assert [(b["revision"], b["templateHash"], b["reason"]) for b in listed] == [(2, template_hash, SCHEMA)]
    assert json.loads(rs_annotations(ns, "3")[MARKED_BAD])["reason"] == "corrupts carts"

    table = ns.plugin("history", "deployment/web", check=True).stdout
    assert f"barrier: revision 2: {SCHEMA}" in table
    rows = {line.split()[0]: line for line in table.splitlines() if line[:1].isdigit()}
    assert "skipped: marked bad (corrupts carts)" in rows["3"]
    assert "rollback target" in rows["2"] and f"barrier ({SCHEMA})" in rows["2"]
    shown = ns.plugin_json("history", "deployment/web")
    assert shown["rollbackTarget"] == 2 and [b["revision"] for b in shown["barriers"]] == [2]
    by_number = {r["revision"]: r for r in shown["revisions"]}
    assert by_number[3]["markedBad"]["reason"] == "corrupts carts" and by_number[2]["markedBad"] is None

    result = ns.plugin_json("rollback", "deployment/web")
    assert result["to"]["revision"] == 2 and result["barrierCrossed"] is None
    assert {"revision": 3, "reason": "marked bad (corrupts carts)"} in result["skipped"]
    assert sc.live_image(ns) == "example.test/web:2"


def test_a_barrier_with_nothing_good_above_it_stops_the_rollback_until_overridden(ns):
    four_revisions(ns)
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    for number in ("3", "2"):
        ns.plugin("mark-bad", "deployment/web", "--revision", number, "--reason", "bad data", check=True)
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]

    stopped = ns.plugin("rollback", "deployment/web")
    assert stopped.returncode == 3, stopped
    assert f"the barrier at revision 2 ({SCHEMA}) stops the rollback" in stopped.stderr
    assert "--override-barrier --reason" in stopped.stderr and "Traceback" not in stopped.stderr
    named = ns.plugin("rollback", "deployment/web", "--to-revision", "1")
    assert named.returncode == 3 and f"revision 1 is behind the barrier at revision 2 ({SCHEMA})" in named.stderr
    bad = ns.plugin("rollback", "deployment/web", "--to-revision", "3")
    assert bad.returncode == 2 and "revision 3 is marked bad (bad data); pass --force" in bad.stderr
    lone = ns.plugin("rollback", "deployment/web", "--override-barrier")
    assert lone.returncode == 2 and "--reason" in lone.stderr
    # Nothing of it changed the cluster.
    assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before
    assert sc.live_image(ns) == "example.test/web:4-broken"

    crossed = ns.plugin_json("rollback", "deployment/web", "--override-barrier", "--reason", "restore from backup")
    assert crossed["to"]["revision"] == 1 and crossed["barrierCrossed"]["barrier"]["revision"] == 2
    assert sc.live_image(ns) == "example.test/web:1"
    audit = json.loads(rs_annotations(ns, "1")[BARRIER_CROSSED])
    assert audit["barrier"] == 2 and audit["reason"] == "restore from backup"
    assert audit["by"] == user_name(ns) and sc.RFC3339.fullmatch(audit["at"])


def test_pruning_the_barrier_revision_does_not_lift_the_barrier(ns):
    if on_oldest_server():
        pytest.skip("1.20's controller prunes by creationTimestamp: web:1's ReplicaSet, created first, goes before "
                    "revision 2's (kubernetes/kubernetes#82570)")
    for tag in ("1", "2", "3"):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"),
                             "Succeeded", *sc.IDENTITY)
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    # web:1 applied again, with revisionHistoryLimit 0: the controller reuses its ReplicaSet as revision 4, which
    # keeps revision 1 in its revision-history (a template from before the barrier, recorded Succeeded again), and
    # once that rollout completes prunes every other revision, the barrier's among them.
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1", history_limit=0),
                         "Succeeded", *sc.IDENTITY)
    ns.wait_until(lambda: [sc.revision_of(rs) for rs in sc.replicasets(ns, "web").get("web", [])] == [4],
                  "revisions 1 to 3 to be pruned", timeout=90)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:5-broken",
                                                                     history_limit=0), "Failed", *sc.IDENTITY)

    table = ns.plugin("history", "deployment/web", check=True).stdout
    assert f"barrier: revision 2: {SCHEMA}" in table
    stopped = ns.plugin("rollback", "deployment/web")
    assert stopped.returncode == 3, stopped
    assert f"the barrier at revision 2 ({SCHEMA}) stops the rollback" in stopped.stderr
    assert "4: behind the barrier at revision 2" in stopped.stderr
    assert sc.live_image(ns) == "example.test/web:5-broken"


def test_auto_rollback_stops_at_a_barrier_and_says_so_in_an_event(ns, start_watch):
    start_watch("--auto-rollback")
    for tag in ("1", "2"):  # recorded by the watcher, under its own identity
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        wait_for_status(ns, "web", f"example.test/web:{tag}", "Succeeded")
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    ns.plugin("mark-bad", "deployment/web", "--revision", "2", "--reason", "bad data", check=True)
    ns.apply(manifests.deployment("web", "example.test/web:3-broken", progress_deadline=10))
    wait_for_status(ns, "web", "example.test/web:3-broken", "Failed")

    def skipped():
        return [e for e in ns.items("events") if e["reason"] == "HarnessAutoRollbackSkipped"]

    events = ns.wait_until(skipped, "an Event saying why the auto-rollback was skipped", timeout=60)
    assert f"the barrier at revision 2 ({SCHEMA}) stops the rollback" in events[0]["message"]
    assert sc.live_image(ns) == "example.test/web:3-broken"
    assert not [e for e in ns.items("events") if e["reason"] == "HarnessRollback"]


def test_a_pinned_copy_of_a_revision_stays_behind_its_barrier_and_under_its_mark(ns):
    """Revision 4, made by `rollback --pin-digests` from revision 1, is revision 1 (its record says so): the barrier at
    2 still stands before it, and marking revision 1 bad marks its pinned copy too."""
    for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3-broken", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"), status,
                             *sc.IDENTITY)
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    ns.plugin("mark-bad", "deployment/web", "--revision", "2", "--reason", "bad data", check=True)
    pinned = ns.plugin_json("rollback", "deployment/web", "--pin-digests", "--override-barrier", "--reason", "INC-7",
                            "--wait")
    assert pinned["to"]["revision"] == 4 and pinned["to"]["statusReason"] == "revision 1 pinned to its recorded digests"
    assert sc.live_image(ns).startswith("example.test/web:1@sha256:")
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:5"), "Succeeded",
                         *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:6-broken"), "Failed",
                         *sc.IDENTITY)
    ns.plugin("mark-bad", "deployment/web", "--revision", "5", "--reason", "slow", check=True)
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]

    stopped = ns.plugin("rollback", "deployment/web", "--dry-run=server")
    assert stopped.returncode == 3, stopped
    assert f"the barrier at revision 2 ({SCHEMA}) stops the rollback" in stopped.stderr
    assert "4: behind the barrier at revision 2" in stopped.stderr

    ns.plugin("mark-bad", "deployment/web", "--revision", "1", "--reason", "leaks memory", check=True)
    rows = {r["revision"]: r for r in ns.plugin_json("history", "deployment/web")["revisions"]}
    assert "leaks memory" in rows[4]["markedBad"]["reason"]
    named = ns.plugin("rollback", "deployment/web", "--to-revision", "4", "--override-barrier", "--reason", "x")
    assert named.returncode == 2 and "revision 4 is marked bad" in named.stderr and "leaks memory" in named.stderr
    assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before


def test_a_statefulset_template_restored_from_behind_a_barrier_stays_behind_it(ns):
    """A StatefulSet's ControllerRevision of revision 1, renumbered 4 by a rollback across the barrier at 2, keeps no
    former numbers: the barrier's own record of the templates behind it keeps revision 4 behind."""
    for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3-broken", "Failed")):
        sc.deploy_and_record(ns, "statefulset/db", manifests.statefulset("db", f"example.test/db:{tag}"), status,
                             *sc.IDENTITY)
    ns.plugin("barrier", "statefulset/db", "--revision", "2", "--reason", SCHEMA, check=True)
    ns.plugin("mark-bad", "statefulset/db", "--revision", "2", "--reason", "bad data", check=True)
    crossed = ns.plugin_json("rollback", "statefulset/db", "--override-barrier", "--reason", "INC", "--wait")
    assert crossed["to"]["revision"] == 1 and sc.live_image(ns, "statefulset", "db") == "example.test/db:1"
    sc.deploy_and_record(ns, "statefulset/db", manifests.statefulset("db", "example.test/db:5-broken"), "Failed",
                         *sc.IDENTITY)
    assert {r["revision"] for r in ns.plugin_json("history", "statefulset/db")["revisions"]} == {2, 3, 4, 5}
    before = ns.get("statefulset", "db")["metadata"]["resourceVersion"]

    stopped = ns.plugin("rollback", "statefulset/db")
    assert stopped.returncode == 3, stopped
    assert f"the barrier at revision 2 ({SCHEMA}) stops the rollback" in stopped.stderr
    assert "4: behind the barrier at revision 2" in stopped.stderr
    assert ns.get("statefulset", "db")["metadata"]["resourceVersion"] == before



def test_a_revision_skipped_with_no_target_left_still_says_why_in_history(ns):
    four_revisions(ns)
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    for number in ("3", "2"):
        ns.plugin("mark-bad", "deployment/web", "--revision", number, "--reason", "bad data", check=True)

    table = ns.plugin("history", "deployment/web", check=True).stdout
    rows = {line.split()[0]: line for line in table.splitlines() if line[:1].isdigit()}
    assert "skipped: marked bad (bad data)" in rows["3"] and "skipped: marked bad (bad data)" in rows["2"]
    assert f"skipped: behind the barrier at revision 2 ({SCHEMA})" in rows["1"]
    shown = ns.plugin_json("history", "deployment/web")
    assert shown["rollbackTarget"] is None
    assert {"revision": 1, "reason": f"behind the barrier at revision 2 ({SCHEMA})"} in shown["skipped"]


def test_marking_or_setting_a_barrier_again_keeps_the_first_reason(ns):
    for tag in ("1", "2"):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"),
                             "Succeeded", *sc.IDENTITY)
    for verb, key in (("mark-bad", MARKED_BAD), ("barrier", BARRIER)):
        ns.plugin(verb, "deployment/web", "--revision", "1", "--reason", "first", check=True)
        same = ns.plugin_json(verb, "deployment/web", "--revision", "1", "--reason", "first")
        assert not same["changed"] and same["reason"] == "first"
        before = ns.get("deployment", "web")["metadata"]["resourceVersion"]
        other = ns.plugin(verb, "deployment/web", "--revision", "1", "--reason", "second")
        assert other.returncode == 2, other
        line = other.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line
        assert "(first; set by" in line and f"{verb} deployment/web --revision 1 --clear" in line, line
        assert json.loads(rs_annotations(ns, "1")[key])["reason"] == "first"
        assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before


def test_a_template_from_behind_the_barrier_deployed_again_after_pruning_stays_behind_it(ns):
    """web:1's ReplicaSet is pruned after the barrier at 2 was set; web:1 applied again gets a new ReplicaSet (revision
    4, no former numbers): the template hash the barrier kept puts it behind."""
    for tag in ("1", "2", "3"):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"),
                             "Succeeded", *sc.IDENTITY)
        if tag == "1":  # so that 1.20's controller prunes revision 1, not 2 made in the same second
            sc.wait_past_creation_second(ns, sc.rs_by_image(ns, "web")["example.test/web:1"], "revision 1")
    ns.plugin("barrier", "deployment/web", "--revision", "2", "--reason", SCHEMA, check=True)
    ns.apply(manifests.deployment("web", "example.test/web:3", history_limit=1))
    ns.wait_until(lambda: "example.test/web:1" not in sc.rs_by_image(ns, "web"), "web:1's ReplicaSet to be pruned")
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1", history_limit=1),
                         "Succeeded", *sc.IDENTITY)
    assert sc.revision_of(sc.rs_by_image(ns, "web")["example.test/web:1"]) == 4
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:5-broken",
                                                                     history_limit=1), "Failed", *sc.IDENTITY)
    ns.plugin("mark-bad", "deployment/web", "--revision", "3", "--reason", "slow", check=True)

    stopped = ns.plugin("rollback", "deployment/web")
    assert stopped.returncode == 3, stopped
    assert "4: behind the barrier at revision 2" in stopped.stderr
    assert sc.live_image(ns) == "example.test/web:5-broken"


def test_another_reason_is_refused_with_a_clear_command_that_can_be_pasted(ns):
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                         *sc.IDENTITY)
    for verb in ("mark-bad", "barrier"):
        ns.plugin(verb, "deployment/web", "--revision", "1", "--reason", "first", check=True)
        proc = ns.plugin(verb, "deployment/web", "--revision", "1", "--reason", "second")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.rstrip().endswith(f"take it off first: kubectl harness-rollback {verb} deployment/web "
                                             f"--revision 1 --clear -n {ns.name}"), proc.stderr
