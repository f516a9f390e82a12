"""history and rollback across kubeconfig contexts (issue 23) through the fake API: each context run as `--context X`
would run it (its own client, its cluster name in the identity), one row per context, the exit code they add up to
(1 if any failed, else 3 if any had no target, else 0), --fail-fast, and the flags' checks."""

import json
import signal
import threading

import pytest
import yaml

from kubectl_rollback import decide, interrupts, kubeconfig, output
from kubectl_rollback.commands import wait
from kubectl_rollback.decide import FleetOutcome
from kubectl_rollback.errors import ApiError, ExitCode, UsageError
from kubectl_rollback.kube import DEPLOYMENTS
from kubectl_rollback.options import FleetRequest, IdentityFlags
from tests import contract
from tests.fakekube import FakeKube, add_deployment, recorded
from tests.unit.entry_points import FLAGS, fleet_run, until_the_main_thread_was_told

GOOD_THEN_UNFINISHED = [recorded("Succeeded"), recorded("InProgress")]
GOOD_THEN_UNRECORDED = [recorded("Succeeded"), {}]  # the identity's cluster is then the context's


def kubeconfig_file(tmp_path, contexts) -> str:
    path = tmp_path / "fleet.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.invalid"}}
                     for cluster in dict.fromkeys(cluster for _, cluster in contexts)],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": name, "context": {"cluster": cluster, "user": "u"}} for name, cluster in contexts],
    }))
    return str(path)


def cluster(cluster_name="test-cluster", annotations=GOOD_THEN_UNFINISHED) -> FakeKube:
    kube = FakeKube(namespace="ns", cluster_name=cluster_name)
    add_deployment(kube, "web", ["img:1", "img:2"], annotations=annotations)
    return kube


def image(kube: FakeKube) -> str:
    return kube.server.get(DEPLOYMENTS, "ns", "web")["spec"]["template"]["spec"]["containers"][0]["image"]


def validated(verb: str, result) -> dict:
    """The -o json document of the run, checked against docs/schemas/FleetResult.json."""
    text = json.dumps(output.document(verb, result.data(), result.failure(), result.document_kind))
    return contract.validated(text, "json", "FleetResult")


def rows(result):
    return [(run.context, run.cluster, run.row.outcome, run.row.from_revision, run.row.to_revision)
            for run in result.runs]


def test_each_context_rolls_back_on_its_own_and_one_unreachable_fails_its_row_only(tmp_path):
    path = kubeconfig_file(tmp_path, [("east", "test-cluster"), ("down", "gone"), ("west", "test-cluster")])
    east, west = cluster(), cluster(annotations=[recorded("Succeeded"), recorded("Succeeded")])
    unreachable = ApiError("cannot get deployments.apps \"web\": cannot reach the API server at https://gone.invalid")
    result = fleet_run("rollback", {"east": east, "down": unreachable, "west": west}, path, "deployment/web", FLAGS,
                       FleetRequest(("east", "down", "west")))
    assert rows(result) == [("east", "test-cluster", FleetOutcome.ROLLED_BACK, 2, 1),
                            ("down", "gone", FleetOutcome.FAILED, None, None),
                            ("west", "test-cluster", FleetOutcome.NOTHING_TO_DO, 2, 2)]
    assert image(east) == "img:1" and image(west) == "img:2"
    assert result.runs[1].row.message == unreachable.message
    assert int(result.failure().exit_code) == ExitCode.ERROR
    data = validated("rollback", result)
    assert data["error"]["exitCode"] == 1
    assert data["summary"]["rolled back"] == 1 and data["summary"]["failed"] == 1
    # each entry holds the document that context's own command prints
    east_doc, down_doc = data["contexts"][0]["result"], data["contexts"][1]["result"]
    assert (east_doc["kind"], east_doc["changed"], east_doc["to"]["revision"], east_doc["error"]) == (
        "RollbackResult", True, 1, None)
    assert down_doc == {"apiVersion": "harness.io/v1", "kind": "RollbackResult",
                        "error": {"reason": "ERROR", "exitCode": 1, "message": unreachable.message}}


def test_the_cluster_name_of_each_context_is_its_own_identity(tmp_path):
    # revision 1 is recorded for cluster test-cluster and the live one carries no record, so the identity's cluster
    # is the context's: the context whose client is for another cluster finds no target there
    path = kubeconfig_file(tmp_path, [("east", "test-cluster"), ("west", "west-cluster")])
    east, west = cluster(annotations=GOOD_THEN_UNRECORDED), cluster("west-cluster", GOOD_THEN_UNRECORDED)
    result = fleet_run("rollback", {"east": east, "west": west}, path, "deployment/web",
                       IdentityFlags("wf1", "svc", "infra"), FleetRequest(all_contexts=True))
    assert [r[2] for r in rows(result)] == [FleetOutcome.ROLLED_BACK, FleetOutcome.NO_TARGET]
    assert image(west) == "img:2"
    assert int(result.failure().exit_code) == ExitCode.NO_TARGET
    assert result.data()["contexts"][1]["result"]["error"]["reason"] == "NO_TARGET"


def test_a_dry_run_changes_no_context_and_says_what_each_would_do(tmp_path):
    path = kubeconfig_file(tmp_path, [("east", "test-cluster"), ("west", "test-cluster")])
    east, west = cluster(), cluster()
    result = fleet_run("rollback", {"east": east, "west": west}, path, "deployment/web", FLAGS,
                       FleetRequest(all_contexts=True), mode="client")
    assert [r[2:] for r in rows(result)] == [(FleetOutcome.WOULD_ROLL_BACK, 2, 1)] * 2
    assert image(east) == image(west) == "img:2"
    assert result.failure() is None


def test_fail_fast_one_at_a_time_starts_nothing_after_the_first_failure(tmp_path):
    path = kubeconfig_file(tmp_path, [("a", "test-cluster"), ("b", "test-cluster"), ("c", "test-cluster")])
    b, c = cluster(), cluster()
    bad_entry = UsageError('context "a" names cluster "nowhere", which the kubeconfig does not define')
    result = fleet_run("rollback", {"a": bad_entry, "b": b, "c": c}, path, "deployment/web", FLAGS,
                       FleetRequest(all_contexts=True, max_parallel=1, fail_fast=True))
    assert [r[2] for r in rows(result)] == [FleetOutcome.FAILED, FleetOutcome.NOT_STARTED, FleetOutcome.NOT_STARTED]
    assert image(b) == image(c) == "img:2"
    assert result.runs[1].document is None and "--fail-fast" in result.runs[1].row.message
    assert validated("rollback", result)["contexts"][2]["result"] is None
    assert int(result.failure().exit_code) == ExitCode.ERROR


def test_ctrl_c_before_a_context_wrote_stops_it_unwritten_and_starts_no_further_one(tmp_path):
    path = kubeconfig_file(tmp_path, [("a", "test-cluster"), ("b", "test-cluster"), ("c", "test-cluster")])
    a, b, c = cluster(), cluster(), cluster()
    interrupts.install()  # the command line's handlers: a Ctrl-C is remembered, and stops every context

    def ctrl_c_while_a_connects():
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # as a terminal's Ctrl-C reaches it
        until_the_main_thread_was_told()
        return a

    result = fleet_run("rollback", {"a": ctrl_c_while_a_connects, "b": b, "c": c}, path, "deployment/web", FLAGS,
                       FleetRequest(all_contexts=True, max_parallel=1))
    assert [r[2] for r in rows(result)] == [FleetOutcome.INTERRUPTED, FleetOutcome.NOT_STARTED,
                                            FleetOutcome.NOT_STARTED]
    assert image(a) == image(b) == image(c) == "img:2"
    assert result.runs[0].row.message == "interrupted: deployment/web was not rolled back"
    assert result.runs[1].row.message == "not started (interrupted)"
    document = validated("rollback", result)
    assert document["error"]["reason"] == "INTERRUPTED" and "1 interrupted, 2 not started" in document["error"][
        "message"]
    assert document["contexts"][0]["result"]["error"]["exitCode"] == ExitCode.INTERRUPTED


def test_sigterm_during_a_wait_stops_it_and_the_row_says_what_was_rolled_back(tmp_path, monkeypatch):
    """The context's wait stops as `--context a --wait` stops on SIGTERM: its own document (changed, from, to, the
    TERMINATED error saying the rollout goes on), its row rolled back, FROM and TO filled."""
    path = kubeconfig_file(tmp_path, [("a", "test-cluster"), ("b", "test-cluster")])
    a, b = cluster(), cluster()  # the fake's rollout never completes: a waits until stopped
    interrupts.install()
    # The signal goes once the wait has begun: sent as soon as a's template is written, it is held until the
    # write's book-keeping is done, and the run then stops before the wait ("interrupted:", not "while waiting").
    waiting = threading.Event()
    follow = wait.wait_for_rollout

    def wait_for_rollout(*args, **kwargs):
        waiting.set()
        return follow(*args, **kwargs)

    monkeypatch.setattr(wait, "wait_for_rollout", wait_for_rollout)

    def sigterm_once_a_waits():
        if waiting.wait(timeout=60):  # a run that never waits fails on its own assertions, not by hanging here
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    threading.Thread(target=sigterm_once_a_waits, daemon=True).start()
    result = fleet_run("rollback", {"a": a, "b": b}, path, "deployment/web", FLAGS,
                       FleetRequest(all_contexts=True, max_parallel=1), wait=True)
    assert rows(result) == [("a", "test-cluster", FleetOutcome.ROLLED_BACK, 2, 1),
                            ("b", "test-cluster", FleetOutcome.NOT_STARTED, None, None)]
    assert image(b) == "img:2"
    message = result.runs[0].row.message
    assert message.startswith("interrupted while waiting: deployment/web rolled back 2 -> 1; the rollout goes on; "
                              "follow it with: kubectl rollout status deployment/web")
    document = validated("rollback", result)
    assert (document["error"]["reason"], document["error"]["exitCode"]) == ("TERMINATED", 143)
    assert int(result.failure().exit_code) == ExitCode.TERMINATED
    own = document["contexts"][0]["result"]
    assert (own["changed"], own["from"]["revision"], own["to"]["revision"]) == (True, 2, 1)
    assert (own["error"]["reason"], own["error"]["message"]) == ("TERMINATED", message)


def test_history_shows_each_context_and_exits_0_with_or_without_a_target(tmp_path):
    path = kubeconfig_file(tmp_path, [("east", "test-cluster"), ("west", "west-cluster")])
    east, west = cluster(annotations=GOOD_THEN_UNRECORDED), cluster("west-cluster", GOOD_THEN_UNRECORDED)
    result = fleet_run("history", {"east": east, "west": west}, path, "deployment/web",
                       IdentityFlags("wf1", "svc", "infra"), FleetRequest(all_contexts=True))
    assert [r[2:] for r in rows(result)] == [(FleetOutcome.SHOWN, 2, 1), (FleetOutcome.SHOWN, 2, None)]
    assert result.runs[0].row.message == "rollback target: revision 1"
    assert result.runs[1].row.message == result.data()["contexts"][1]["result"]["problem"]
    assert validated("history", result)["contexts"][0]["result"]["kind"] == "HistoryResult"
    assert result.failure() is None


def test_a_context_the_kubeconfig_does_not_have_is_a_usage_error_before_any_runs(tmp_path):
    path = kubeconfig_file(tmp_path, [("east", "test-cluster")])
    east = cluster()
    with pytest.raises(UsageError, match="no context nowhere"):
        fleet_run("rollback", {"east": east}, path, "deployment/web", FLAGS, FleetRequest(("east", "nowhere")))
    assert image(east) == "img:2"


def test_contexts_are_listed_in_the_kubeconfig_order(tmp_path):
    path = kubeconfig_file(tmp_path, [("zeta", "z"), ("alpha", "a")])
    assert kubeconfig.contexts(path) == [("zeta", "z"), ("alpha", "a")]


@pytest.mark.parametrize("args, message", [
    (("a,b", True, None, False, None), "--contexts and --all-contexts"),
    (("a", False, None, False, "a"), "--context names one context"),
    (("a,,b", False, None, False, None), "an empty name"),
    (("a,b,a", False, None, False, None), "names a twice"),
    (("a", False, 0, False, None), "--max-parallel must be 1 or more"),
    ((None, False, 2, False, None), "--max-parallel is for a run across contexts"),
    ((None, False, None, True, None), "--fail-fast is for a run across contexts"),
])
def test_fleet_flags_are_checked_before_any_request(args, message):
    with pytest.raises(UsageError, match=message):
        FleetRequest.parse(*args)


def test_fleet_flags_parsed():
    assert FleetRequest.parse(None, False, None, False, "a") is None
    assert FleetRequest.parse(" a, b ", False, None, True, None) == FleetRequest(("a", "b"), False, 4, True)
    assert FleetRequest.parse(None, True, 1, False, None) == FleetRequest((), True, 1, False)


def test_the_exit_code_is_1_for_any_failure_else_3_for_any_no_target():
    assert decide.fleet_exit_code([FleetOutcome.NO_TARGET, FleetOutcome.FAILED]) == ExitCode.ERROR
    assert decide.fleet_exit_code([FleetOutcome.ROLLED_BACK, FleetOutcome.NO_TARGET]) == ExitCode.NO_TARGET
    assert decide.fleet_exit_code([FleetOutcome.ROLLED_BACK, FleetOutcome.NOTHING_TO_DO]) == ExitCode.OK


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_ctrl_c_during_start_up_still_reports_every_context_not_started(tmp_path, monkeypatch, capsys, fmt):
    """Before any context started (the command line still starting, connecting), the report is the fleet's, not one
    context's error document."""
    from kubectl_rollback import targets
    from tests.unit.test_exit_codes import run_main

    def ctrl_c_during_start_up(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(targets, "select", ctrl_c_during_start_up)
    path = kubeconfig_file(tmp_path, [("east", "prod-us"), ("west", "prod-eu")])
    code, out, err = run_main(monkeypatch, capsys, "rollback", "deployment/web", "--all-contexts", "--kubeconfig", path,
                              "-o", fmt)
    assert code == ExitCode.INTERRUPTED and err.endswith("error: interrupted\n")
    if fmt == "table":
        assert out.splitlines()[1:] == ["east       prod-us    not started  -       -     not started (interrupted)",
                                        "west       prod-eu    not started  -       -     not started (interrupted)",
                                        "2 contexts: 2 not started"], out
        return
    document = contract.validated(out, "json", "FleetResult")
    assert [(c["context"], c["outcome"]) for c in document["contexts"]] == [("east", "not started"),
                                                                            ("west", "not started")]
    assert document["error"]["reason"] == "INTERRUPTED"
