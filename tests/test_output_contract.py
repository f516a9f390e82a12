"""The -o json|yaml contract (issue 32 item 1, docs/output.md): every verb's document validated against its kind's
schema in docs/schemas/, in success and after failures that come with a result, with the names and types the issue
found inconsistent: record's fields, rolledBackFrom an integer, skipped as the table says, a dry run's message."""

from __future__ import annotations

import pytest

from kubectl_rollback.errors import ExitCode
from tests import contract, manifests
from tests import scenarios as sc


def document(ns, kind: str, *args: str, fmt: str = "json", code: ExitCode = ExitCode.OK) -> dict:
    done = ns.plugin(*args, "-o", fmt)
    assert done.returncode == code, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    return contract.validated(done.stdout, fmt, kind)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_history_rollback_and_record_documents(ns, fmt):
    sc.five_revisions(ns)  # wf1: 1 ok, 2 ok, 3 failed, wf2: 4 ok, wf1: 5 failed and live; wf1's target is 2
    history = document(ns, "HistoryResult", "history", "deployment/web", fmt=fmt)
    assert history["rollbackTarget"] == 2 and history["error"] is None
    table = ns.plugin("history", "deployment/web", check=True).stdout
    assert "skipped: another workflow (wf2)" in table and "skipped: recorded Failed" in table, table
    assert history["skipped"] == [{"revision": 4, "reason": "another workflow (wf2)"},
                                  {"revision": 3, "reason": "recorded Failed"}]
    assert {r["revision"]: r["note"] for r in history["revisions"]}[2] == "rollback target"
    document(ns, "HistoryResult", "history", "--all", fmt=fmt)

    dry = document(ns, "RollbackResult", "rollback", "deployment/web", "--dry-run", fmt=fmt)
    assert dry["dryRun"] == "client" and dry["message"].endswith("(dry run)") and not dry["changed"]
    assert dry["skipped"] == history["skipped"]
    done = document(ns, "RollbackResult", "rollback", "deployment/web", fmt=fmt)
    assert done["changed"] and (done["from"]["revision"], done["to"]["revision"]) == (5, 2)
    assert not done["message"].endswith("dry run)")
    live = next(r for r in document(ns, "HistoryResult", "history", "deployment/web", fmt=fmt)["revisions"]
                if r["live"])
    assert live["rolledBackFrom"] == 5  # an integer, as `revision` is

    recorded = document(ns, "RecordResult", "record", "deployment/web", "--status", "Succeeded", "--image",
                        "example.test/web:2", "--release-number", "7", fmt=fmt)
    assert (recorded["status"], recorded["workflowId"], recorded["serviceId"], recorded["releaseNumber"]) == (
        "Succeeded", "wf1", "svc", "7")
    assert "annotations" not in recorded and recorded["rollback"] is None
    resumed = document(ns, "ResumeResult", "resume", "deployment/web", fmt=fmt)
    assert resumed["resumed"] is False


def test_record_follow_rollback_on_failure_says_whether_and_where_it_rolled_back(ns):
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                         *sc.IDENTITY)
    ns.apply(manifests.deployment("web", "example.test/web:2-broken"))
    out = document(ns, "RecordResult", "record", "deployment/web", "--follow", "--timeout", "3s",
                   "--rollback-on-failure", *sc.IDENTITY, code=ExitCode.WAIT_FAILED)
    assert (out["revision"], out["status"]) == (2, "Failed")
    assert out["rollback"]["rolledBack"] is True and out["rollback"]["toRevision"] == 1, out["rollback"]
    assert (out["error"]["reason"], out["error"]["exitCode"]) == ("WAIT_FAILED", 4)
    assert sc.live_image(ns) == "example.test/web:1"


def test_rollback_wait_that_fails_prints_the_rollback_it_did(ns):
    # Revision 1 recorded Succeeded but broken now: the rollback to it is written, its rollout never completes.
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1-broken-now"),
                         "Succeeded", *sc.IDENTITY, rollout=False)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    out = document(ns, "RollbackResult", "rollback", "deployment/web", "--wait", "--timeout", "3s",
                   code=ExitCode.WAIT_FAILED)
    assert out["changed"] and out["to"]["revision"] == 1 and out["rolledOut"] is False
    assert out["error"]["reason"] == "WAIT_FAILED" and "but the rollout did not complete" in out["error"]["message"]
    assert sc.live_image(ns) == "example.test/web:1-broken-now"


def test_blue_green_and_release_documents(ns):
    sc.apply_all(ns, sc.bluegreen_objects("web"))
    sc.settle_bluegreen(ns, ["web"])
    shown = document(ns, "HistoryResult", "history", "service/web")
    assert (shown["liveColor"], shown["targetColor"]) == ("green", "blue")
    dry = document(ns, "RollbackResult", "rollback", "service/web", "--dry-run", fmt="yaml")
    assert dry["dryRun"] == "client" and not dry["changed"]

    for name in ("api", "db"):  # release r1: api's last good revision is 1, db has no target (exit 3)
        sc.deploy_and_record(ns, f"deployment/{name}", sc.labelled(
            manifests.deployment(name, f"example.test/{name}:1"), sc.RELEASE), "Succeeded" if name == "api" else
            "Failed", *sc.IDENTITY, rollout=False)
    sc.deploy_and_record(ns, "deployment/api", sc.labelled(manifests.deployment("api", "example.test/api:2"),
                                                           sc.RELEASE), "Failed", *sc.IDENTITY, rollout=False)
    plan = document(ns, "HistoryResult", "history", "--release-name", "r1")
    assert {w["workload"]: w["rollbackTarget"] for w in plan["workloads"]} == {"deployment/api": 1,
                                                                               "deployment/db": None}
    outcome = document(ns, "RollbackResult", "rollback", "--release-name", "r1", "--dry-run",
                       code=ExitCode.NO_TARGET)
    assert outcome["summary"]["no target"] == 1 and outcome["error"]["reason"] == "NO_TARGET"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_mark_bad_and_barrier_documents_and_the_marks_history_and_rollback_show(ns, fmt):
    # Issue 32b item 1: mark-bad and barrier printed `kind: Result` with a payload, which Result.json refuses; the
    # marks' fields in history and rollback (markedBad, digests, barriers, barrierCrossed) had no schema.
    for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"), status,
                             *sc.IDENTITY)
    marked = document(ns, "MarkBadResult", "mark-bad", "deployment/web", "--revision", "2", "--reason", "bad carts",
                      fmt=fmt)
    assert (marked["kind"], marked["revision"], marked["reason"], marked["error"]) == (
        "MarkBadResult", 2, "bad carts", None)
    placed = document(ns, "BarrierResult", "barrier", "deployment/web", "--revision", "2", "--reason", "schema v2",
                      fmt=fmt)
    assert (placed["kind"], placed["revision"], placed["cleared"]) == ("BarrierResult", 2, False)
    refused = document(ns, "MarkBadResult", "mark-bad", "deployment/web", "--revision", "99", "--reason", "x",
                       fmt=fmt, code=ExitCode.NO_TARGET)
    assert refused["error"]["reason"] == "NO_TARGET"

    history = document(ns, "HistoryResult", "history", "deployment/web", fmt=fmt)
    assert [b["revision"] for b in history["barriers"]] == [2] and history["rollbackTarget"] is None
    assert {r["revision"]: r["markedBad"] and r["markedBad"]["reason"] for r in history["revisions"]} == {
        1: None, 2: "bad carts", 3: None}
    crossed = document(ns, "RollbackResult", "rollback", "deployment/web", "--to-revision", "1", "--force",
                       "--override-barrier", "--reason", "restore", fmt=fmt)
    assert crossed["barrierCrossed"]["barrier"]["revision"] == 2 and crossed["to"]["revision"] == 1
    live = next(r for r in document(ns, "HistoryResult", "history", "deployment/web", fmt=fmt)["revisions"]
                if r["live"])
    assert live["barrierCrossed"]["reason"] == "restore"

    cleared = document(ns, "BarrierResult", "barrier", "deployment/web", "--revision", "2", "--clear", fmt=fmt)
    assert cleared["cleared"] and cleared["changed"] and "reason" not in cleared
    document(ns, "MarkBadResult", "mark-bad", "deployment/web", "--revision", "2", "--clear", fmt=fmt)


def test_a_release_that_does_not_exist_is_exit_1_by_either_flag_and_named_in_the_message(ns):
    # Issue 32b item 4: --release-name nosuch exited 3 (no target) where --harness-release nosuch exits 1 (no such
    # release), and the latter's message named "release NAME" (a placeholder) instead of the release.
    for flag in ("--release-name", "--harness-release"):
        out = document(ns, "RollbackResult", "rollback", flag, "nosuch", code=ExitCode.ERROR)
        assert out["error"]["reason"] == "ERROR" and "nosuch" in out["error"]["message"], out
        assert "release NAME" not in out["error"]["message"]
    assert ns.plugin("history", "--harness-release", "nosuch").returncode == ExitCode.ERROR
