"""Every row of the exit-code table (errors.ExitCode, README's "Exit codes"), produced by a real run through kubectl
(issue 32 item 2): each code has a case here, and a code without one fails the test that checks the table's rows.

The cases are also the scripts' view of each exit: the one line on stderr, no traceback, nothing changed."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from kubectl_rollback.errors import ExitCode
from tests import contract, manifests
from tests import scenarios as sc

# The live revision's workload, deployed once per case: web:1 rolled out and recorded Succeeded.
GOOD = manifests.deployment("web", "example.test/web:1")


def first_deploy(ns) -> None:
    sc.deploy_and_record(ns, "deployment/web", GOOD, "Succeeded", *sc.IDENTITY)


def failed_first_deploy(ns) -> None:
    """web:1, the first deploy, recorded Failed: nothing to go back to."""
    sc.deploy_and_record(ns, "deployment/web", GOOD, "Failed", *sc.IDENTITY)


def broken_rollout(ns) -> None:
    """web:1 Succeeded, then web:2-broken applied: its pods never get ready, so a rollout follower never ends."""
    first_deploy(ns)
    ns.apply(manifests.deployment("web", "example.test/web:2-broken"))


def target_account_gone(ns) -> None:
    """web:1 (running as ServiceAccount web-sa) Succeeded, web:2 Failed, then web-sa deleted: the target's pods
    could not start, so the pre-flight blocks the rollback to web:1 before it writes."""
    ns.kubectl("create", "serviceaccount", "web-sa")
    for image, status in (("example.test/web:1", "Succeeded"), ("example.test/web:2", "Failed")):
        manifest = json.loads(manifests.deployment("web", image))
        manifest["spec"]["template"]["spec"]["serviceAccountName"] = "web-sa"
        sc.deploy_and_record(ns, "deployment/web", json.dumps(manifest), status, *sc.IDENTITY)
    ns.kubectl("delete", "serviceaccount", "web-sa")


def unreachable_template(tmp_path: Path) -> str:
    """An AnalysisTemplate whose Prometheus is nowhere (port 9 refuses at once): its first measurement is an Error,
    and a consecutiveErrorLimit of 0 ends the analysis Error."""
    path = tmp_path / "template.json"
    path.write_text(json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "unreachable"},
        "spec": {"metrics": [{"name": "errors", "successCondition": "result[0] < 1", "consecutiveErrorLimit": 0,
                              "provider": {"prometheus": {"address": "http://127.0.0.1:9", "query": "up"}}}]},
    }))
    return str(path)


def interrupted_follow(ns, *args: str, signum: int = signal.SIGINT) -> subprocess.CompletedProcess:
    """`record --follow` of a rollout that never ends, and Ctrl-C (or `signum`) once it follows (its InProgress
    record is on the broken revision: record prints nothing before the rollout ends)."""
    proc = sc.start_plugin(ns, "record", "deployment/web", "--follow", *sc.IDENTITY, *args)
    ns.wait_until(lambda: sc.harness_annotations(sc.rs_by_image(ns, "web").get("example.test/web:2-broken") or {})
                  .get(sc.STATUS) == "InProgress", "the follower's InProgress record on web:2-broken")
    proc.send_signal(signum)
    return sc.finish(proc, timeout=60)


# One real run per exit code: (set-up, the command, the kind its -o json|yaml document has). The command gets the
# namespace, a temporary folder, and the output flags to pass.
CASES: Dict[ExitCode, tuple] = {
    ExitCode.OK: (first_deploy, lambda ns, tmp, *a: ns.plugin("history", "deployment/web", *a), "HistoryResult"),
    ExitCode.ERROR: (first_deploy, lambda ns, tmp, *a: ns.plugin("rollback", "deployment/nope", *sc.IDENTITY, *a),
                     "RollbackResult"),
    ExitCode.USAGE: (first_deploy, lambda ns, tmp, *a: ns.plugin("rollback", "deployment/web", "--timeout", "5s", *a),
                     "RollbackResult"),
    ExitCode.NO_TARGET: (failed_first_deploy, lambda ns, tmp, *a: ns.plugin("rollback", "deployment/web", *a),
                         "RollbackResult"),
    ExitCode.PREFLIGHT_BLOCKED: (target_account_gone, lambda ns, tmp, *a: ns.plugin(
        "rollback", "deployment/web", *sc.IDENTITY, *a), "RollbackResult"),
    ExitCode.WAIT_FAILED: (broken_rollout, lambda ns, tmp, *a: ns.plugin(
        "record", "deployment/web", "--follow", "--timeout", "2s", *sc.IDENTITY, *a), "RecordResult"),
    ExitCode.INCONCLUSIVE: (first_deploy, lambda ns, tmp, *a: ns.plugin(
        "verify", "deployment/web", "--verify", unreachable_template(tmp), "--no-record", *a), "VerifyResult"),
    ExitCode.INTERRUPTED: (broken_rollout, lambda ns, tmp, *a: interrupted_follow(ns, *a), "RecordResult"),
    ExitCode.TERMINATED: (broken_rollout, lambda ns, tmp, *a: interrupted_follow(ns, *a, signum=signal.SIGTERM),
                          "RecordResult"),
}


def test_every_exit_code_has_a_real_case():
    assert set(CASES) == set(ExitCode)


@pytest.mark.parametrize("fmt", ["table", "json", "yaml"])
@pytest.mark.parametrize("code", list(ExitCode), ids=lambda c: f"{int(c)}-{c.name}")
def test_each_exit_code_for_real(ns, tmp_path, code, fmt):
    """The code, one line on stderr, and with -o json|yaml the document on stdout: its kind's schema, the error
    named as the exit code (null on success)."""
    set_up, command, kind = CASES[code]
    set_up(ns)
    before = sc.workload_state(ns)
    done = command(ns, tmp_path, "-o", fmt)
    assert done.returncode == code, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if code != ExitCode.OK:
        assert done.stderr.strip().splitlines()[-1].startswith("error: "), done.stderr
    if code in (ExitCode.ERROR, ExitCode.USAGE, ExitCode.NO_TARGET, ExitCode.PREFLIGHT_BLOCKED):
        assert sc.workload_state(ns) == before  # refused before any write
    if fmt == "table":
        return
    document = contract.validated(done.stdout, fmt, kind)
    if code == ExitCode.OK:
        assert document["error"] is None
    else:
        assert (document["error"]["reason"], document["error"]["exitCode"]) == (code.name, int(code))
        assert document["error"]["message"] in done.stderr or code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)


def test_history_with_no_target_exits_0_and_says_so(ns):
    failed_first_deploy(ns)
    done = ns.plugin("history", "deployment/web")
    assert done.returncode == ExitCode.OK, done.stderr
    assert "no rollback target: " in done.stdout, done.stdout


def test_missing_harness_release_history_is_an_error_as_documented(ns):
    done = ns.plugin("history", "--harness-release", "nope")
    assert done.returncode == ExitCode.ERROR, done.stderr
    assert "nope" in done.stderr.strip().splitlines()[-1]
    releases = (Path(__file__).parent.parent / "docs" / "releases.md").read_text()
    documented = "no history at all (no release secret, secret or configmap r): exit code 1, for `history`"
    assert documented in " ".join(releases.lower().split())


@pytest.mark.parametrize("flags", [(), sc.IDENTITY], ids=["recorded-identity", "identity-flags"])
def test_paused_deployment_is_refused_with_1_whatever_the_identity_flags(ns, flags):
    # Revision 2 live and unrecorded: without flags, no identity; with them, a target (revision 1).
    first_deploy(ns)
    ns.apply(manifests.deployment("web", "example.test/web:2"))
    ns.rollout_status("deployment/web")
    ns.kubectl("rollout", "pause", "deployment/web")
    before = sc.workload_state(ns)
    done = ns.plugin("rollback", "deployment/web", *flags)
    assert done.returncode == ExitCode.ERROR, done.stderr
    assert "is paused" in done.stderr, done.stderr
    assert sc.workload_state(ns) == before


@pytest.mark.parametrize("verb", [("rollback", "deployment/web"),
                                  ("record", "deployment/web", "--status", "Succeeded", *sc.IDENTITY)],
                         ids=["rollback", "record"])
def test_timeout_without_the_wait_it_bounds_is_refused(ns, verb):
    first_deploy(ns)
    before = sc.workload_state(ns)
    done = ns.plugin(*verb, "--timeout", "5s")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "--timeout" in done.stderr, done.stderr
    assert sc.workload_state(ns) == before


def test_request_timeout_0_means_no_limit(ns):
    first_deploy(ns)
    done = ns.plugin("history", "deployment/web", "--request-timeout", "0")
    assert done.returncode == ExitCode.OK, done.stderr
