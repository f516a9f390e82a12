"""Reliability on the real cluster: every injected fault against every operation, rollbacks racing each other and
`record`, bad data left in the cluster, and secrets that must never reach the terminal.

The end state is always read with the real kubectl, straight from the API server (never through the fault proxy),
and each fault case also checks in the proxy's log that its fault really fired, so that no case passes vacuously.
"""

from __future__ import annotations

import base64
import gzip
import json
import re

import pytest

from tests import manifests
from tests import scenarios as sc
from tests.cluster.faultproxy import Rule, drop_response, latency, reset, status

# -- the fault matrix ------------------------------------------------------------------------------------------

FAULTS = ("latency", "429", "500", "503", "reset", "drop_response", "timeout")
OPS = ("record", "history", "rollback", "bluegreen")
SLUG = {"latency": "latency", "429": "429", "500": "500", "503": "503", "reset": "reset", "drop_response": "drop",
        "timeout": "timeout"}
PREFIX = {"record": "rec", "history": "his", "rollback": "rb", "bluegreen": "bg"}
LATENCY_SECONDS = 1.5
# "timeout": the first attempt is held by the proxy longer than --request-timeout, then forwarded all the same, so
# the server sees it after the client's retry: a write that arrives late, twice.
HELD_SECONDS = 4
REQUEST_TIMEOUT = "2s"
STAGE_FAULTS = ("drop_response",)


def case_name(op: str, fault: str) -> str:
    return f"{PREFIX[op]}-{SLUG[fault]}"


def target_of(op: str, name: str) -> tuple:
    """(method, path regex) of the requests a fault hits: the operation's write, or for history its reads."""
    return {
        "record": ("PATCH", rf"/replicasets/{name}-[a-z0-9]+$"),
        "history": ("GET", rf"/deployments/{name}$|/replicasets$"),
        "rollback": ("PATCH", rf"/deployments/{name}$"),
        "bluegreen": ("PATCH", rf"/services/{name}$"),
    }[op]


def make_rule(op: str, fault: str, name: str) -> Rule:
    method, path = target_of(op, name)
    # the operation's write itself: a rollback's pre-flight sends it first with dryRun=All, which passes untouched
    if fault == "latency":
        return Rule(latency(LATENCY_SECONDS), method, path, times=None, dry_runs=False)
    if fault == "timeout":
        return Rule(latency(HELD_SECONDS), method, path, times=1, dry_runs=False)
    if fault == "429":
        return Rule(status(429, retry_after=1), method, path, times=2, dry_runs=False)
    if fault in ("500", "503"):
        return Rule(status(int(fault)), method, path, times=2, dry_runs=False)
    if fault == "reset":
        return Rule(reset(), method, path, times=2, dry_runs=False)
    if op == "history":  # a read has no "applied but unanswered": reset the LIST of ReplicaSets instead
        return Rule(reset(), "GET", r"/replicasets$", times=2)
    return Rule(drop_response(), method, path, times=1, dry_runs=False)


def command(op: str, name: str) -> tuple:
    # --cluster-name: the proxy's kubeconfig names its cluster "faultproxy"
    return {
        "record": ("record", f"deployment/{name}", "--status", "Succeeded", *sc.IDENTITY,
                   "--cluster-name", sc.CLUSTER_NAME, "--release-number", "7"),
        "history": ("history", f"deployment/{name}", "-o", "json"),
        "rollback": ("rollback", f"deployment/{name}"),
        "bluegreen": ("rollback", f"service/{name}"),
    }[op]


@pytest.fixture(scope="module")
def world(cluster):
    """One namespace holding an independent copy of each operation's starting state per fault, built together:
    record: one unrecorded revision; history and rollback: wf1 Succeeded (1), Failed (2), InProgress and live (3);
    Blue/Green: blue Succeeded and ready on the stage Service, green Failed and live on the primary."""
    with cluster.namespace("reliability-matrix") as ns:
        records = [case_name("record", f) for f in FAULTS]
        three = [case_name(op, f) for op in ("history", "rollback") for f in FAULTS]
        bluegreen = [case_name("bluegreen", f) for f in FAULTS] + [f"bgs-{SLUG[f]}" for f in STAGE_FAULTS]
        objects = [manifests.deployment(d, f"example.test/{d}:1") for d in records + three]
        for app in bluegreen:
            objects += sc.bluegreen_objects(app)
        sc.apply_all(ns, objects)
        for count, tag in ((1, None), (2, "2-broken"), (3, "3-broken")):
            if tag:
                sc.apply_all(ns, [manifests.deployment(d, f"example.test/{d}:{tag}") for d in three])
            current = sc.wait_for_revisions(ns, dict.fromkeys(three + (records if count == 1 else []), count))
        by_revision = {d: {sc.revision_of(rs): rs["metadata"]["name"] for rs in current[d]} for d in three}
        for number, state in ((1, "Succeeded"), (2, "Failed"), (3, "InProgress")):
            sc.annotate(ns, "rs", [by_revision[d][number] for d in three], *sc.record_annotation_args(state))
        sc.settle_bluegreen(ns, bluegreen)
        # a status write by a controller between an operation's read and its preconditioned write would add a 409
        # (and a retry) to the requests that assert_fault_fired counts
        sc.wait_at_rest(ns, records + three)
        yield ns


def outcomes(proxy, op: str, name: str) -> list:
    method, path = target_of(op, name)
    probe = Rule(reset(), method, path)
    return [seen.outcome for seen in proxy.requests if probe.matches(seen.method, seen.path) and not seen.dry_run]


def assert_fault_fired(proxy, rule: Rule, op: str, fault: str, name: str) -> None:
    seen = outcomes(proxy, op, name)
    if fault == "latency":
        assert rule.used >= 1 and seen and all(o == 200 for o in seen), seen
    elif fault == "timeout":
        assert rule.used == 1, seen
        if op != "history":
            # The held first attempt reaches the server after the client's retry. A write preconditioned on the
            # resourceVersion it was decided from (rollback, Blue/Green) is refused (409); record's merge of its
            # own keys is applied again, identical (see test_late_copy_of_an_old_record_...).
            seen = sc.wait_until(lambda: (lambda s: s if len(s) >= 2 else None)(outcomes(proxy, op, name)),
                                 f"the held write to reach the server within {HELD_SECONDS}s", timeout=30, interval=0.2)
            assert 200 in seen and set(seen) <= {200, 409}, seen
            if op != "record":
                assert 409 in seen, seen
    elif fault in ("429", "500", "503"):
        assert rule.used == 2 and seen.count(int(fault)) == 2 and seen[-1] == 200, seen
    elif fault == "reset" or op == "history":
        assert rule.used == 2 and [o for o in seen if o == "reset"] == ["reset", "reset"], seen
        assert seen[-1] == 200, seen
    else:  # drop_response on a write: applied, unanswered, then retried
        assert rule.used == 1 and seen[0] == "drop_response" and seen[1:] and set(seen[1:]) <= {200, 409}, seen
        if op != "record":  # preconditioned: the retry of the applied write is refused as stale
            assert seen[:2] == ["drop_response", 409], seen


def check_record(ns, name: str, proc) -> None:
    (rs,) = sc.replicasets(ns, name)[name]
    annotations = sc.harness_annotations(rs)
    assert {k: annotations.get(f"harness.io/{k}") for k in ("status", "workflow-id", "service-id", "infra-id",
                                                              "cluster-name", "release-number", "artifact")} == {
        "status": "Succeeded", "workflow-id": "wf1", "service-id": "svc", "infra-id": "infra",
        "cluster-name": sc.CLUSTER_NAME, "release-number": "7", "artifact": f"example.test/{name}:1"}
    assert sc.malformed_harness_annotations(rs) == []


def check_history(ns, name: str, proc, baseline: dict) -> None:
    data = json.loads(proc.stdout)
    assert data == baseline  # the same complete answer as without faults
    assert [r["revision"] for r in data["revisions"]] == [3, 2, 1]
    assert [r["status"] for r in data["revisions"]] == ["InProgress", "Failed", "Succeeded"]
    assert (data["liveRevision"], data["rollbackTarget"], data["problem"]) == (3, 1, None)
    assert data["identity"]["workflowId"] == "wf1" and data["identity"]["clusterName"] == sc.CLUSTER_NAME


def check_rollback(ns, name: str, proc, fault: str) -> None:
    assert f"rolled back from revision 3 (InProgress; workflow wf1; example.test/{name}:3-broken)" in proc.stdout
    # Revision 1 keeps its number in the message unless the decision was made again after the controller had
    # renumbered it (4), as after a lost answer (or, under heavy load, a held write that landed before its retry).
    assert re.search(rf"to revision [14] \(Succeeded; workflow wf1; example\.test/{name}:1\)", proc.stdout), proc.stdout
    if fault == "drop_response":
        assert "confirmed from a fresh read" in proc.stdout
    elif fault != "timeout":
        assert f"to revision 1 (Succeeded; workflow wf1; example.test/{name}:1)" in proc.stdout
    deployment = ns.get("deployment", name)
    assert sc.image_of(deployment) == f"example.test/{name}:1"
    by_image = sc.rs_by_image(ns, name)
    target, left = by_image[f"example.test/{name}:1"], by_image[f"example.test/{name}:3-broken"]
    assert sc.template_without_hash(deployment["spec"]["template"]) == sc.template_without_hash(
        target["spec"]["template"])
    assert sc.harness_annotations(left)[sc.STATUS] == "Failed"
    assert sc.harness_annotations(left)[sc.WORKFLOW_ID] == "wf1"
    assert sc.harness_annotations(target)[sc.STATUS] == "Succeeded"
    assert sc.harness_annotations(target)[sc.ROLLED_BACK_FROM] == "3"
    for rs in by_image.values():
        assert sc.malformed_harness_annotations(rs) == []


def check_bluegreen(ns, name: str, proc, fault: str) -> None:
    routed, completed = f"service/{name} routed from green to blue", "completed the interrupted switch"
    if fault == "drop_response":
        assert completed in proc.stdout, proc.stdout
    elif fault == "timeout":
        assert routed in proc.stdout or completed in proc.stdout, proc.stdout
    else:
        assert routed in proc.stdout, proc.stdout
    assert sc.selectors(ns, name) == ("blue", "green")
    annotations = sc.harness_annotations(ns.get("service", name))
    assert (annotations[sc.ROLLED_BACK_FROM], annotations[sc.ROLLED_BACK_TO]) == ("green", "blue")
    assert sc.RFC3339.fullmatch(annotations[sc.ROLLED_BACK_AT])


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("op", OPS)
def test_fault_matrix(world, proxied, op, fault):
    ns, name = world, case_name(op, fault)
    baseline = ns.plugin_json("history", f"deployment/{name}") if op == "history" else None  # no proxy, no fault
    rule = proxied.proxy.add_rule(make_rule(op, fault, name))
    extra = ("--request-timeout", REQUEST_TIMEOUT) if fault == "timeout" else ()
    proc = ns.plugin(*command(op, name), *extra, env=proxied.env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr, proc.stderr
    assert_fault_fired(proxied.proxy, rule, op, fault, name)
    if op == "record":
        check_record(ns, name, proc)
    elif op == "history":
        check_history(ns, name, proc, baseline)
    elif op == "rollback":
        check_rollback(ns, name, proc, fault)
    else:
        check_bluegreen(ns, name, proc, fault)


@pytest.mark.parametrize("fault", STAGE_FAULTS)
def test_bluegreen_stage_write_applied_but_unanswered(world, proxied, fault):
    """The primary is switched, then the stage write reaches the server but its answer is lost. The switch is
    complete: traffic must end up on blue, whatever the plugin believed for a moment."""
    ns, name = world, f"bgs-{SLUG[fault]}"
    rule = proxied.proxy.add_rule(Rule(drop_response(), "PATCH", rf"/services/{name}-stage$", times=1,
                                       dry_runs=False))
    proc = ns.plugin("rollback", f"service/{name}", env=proxied.env)
    assert rule.used == 1
    assert "Traceback" not in proc.stderr
    final = sc.selectors(ns, name)
    assert final[0] != final[1], f"both Services left on {final[0]}"
    assert (proc.returncode, final) == (0, ("blue", "green")), (
        f"exit {proc.returncode}, selectors (primary, stage) = {final}\n{proc.stdout}\n{proc.stderr}")


LATE_SECONDS = 10


def test_late_copy_of_an_old_record_does_not_overwrite_a_newer_one(ns, proxied):
    """`record --status InProgress` whose first attempt is held past --request-timeout: the client retries, the
    retry lands, the pipeline goes on and records Succeeded; then the held copy of the old InProgress write reaches
    the server. A write preconditioned on the resourceVersion it was decided from is refused then (409); a plain
    merge would put InProgress back over the newer Succeeded."""
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    # At rest first: a status write by the controller (its pod becoming ready) between record's read and its retry
    # makes the retry lose a race (409) and write once more, and `late` below would read [409, 200] while the held
    # copy is still on its way.
    sc.wait_at_rest(ns, ["web"])
    rule = proxied.proxy.add_rule(Rule(latency(LATE_SECONDS), "PATCH", r"/replicasets/web-[a-z0-9]+$", times=1))
    first = ns.plugin("record", "deployment/web", "--status", "InProgress", *sc.IDENTITY,
                      "--cluster-name", sc.CLUSTER_NAME, "--request-timeout", REQUEST_TIMEOUT, env=proxied.env)
    assert first.returncode == 0, first.stderr
    assert rule.used == 1
    late = outcomes(proxied.proxy, "record", "web")
    assert late == [200], f"the held copy must still be on its way: {late}"  # else the timing proves nothing
    second = ns.plugin("record", "deployment/web", "--status", "Succeeded", check=True)  # straight to the server
    assert "recorded Succeeded" in second.stdout
    seen = sc.wait_until(lambda: (lambda s: s if len(s) >= 2 else None)(outcomes(proxied.proxy, "record", "web")),
                         "the held copy to reach the server", timeout=LATE_SECONDS + 30, interval=0.2)
    (rs,) = sc.replicasets(ns, "web")["web"]
    final = sc.harness_annotations(rs)[sc.STATUS]
    assert final == "Succeeded", (
        f"the late copy of the InProgress write was applied ({seen}) over the newer Succeeded record: "
        f"harness.io/status is {final}")


# -- concurrency -----------------------------------------------------------------------------------------------

RACE_ITERATIONS = 20
RECORD_RACE_ITERATIONS = 8


def fail_again(ns, broken_rs: str, status_value: str) -> dict:
    """Put the broken template back (the controller reuses its ReplicaSet), record it `status_value`, and wait
    until the controller has made it the newest revision. Returns that ReplicaSet."""
    sc.set_image_quickly(ns, "web", "example.test/web:5-broken")
    sc.annotate_quickly(ns, broken_rs, {sc.STATUS: status_value})

    def settled():
        deployment, sets = sc.workload_state_quickly(ns)
        if (deployment.get("status") or {}).get("observedGeneration") != deployment["metadata"]["generation"]:
            return None
        return sets[-1] if sets[-1]["metadata"]["name"] == broken_rs else None

    return ns.wait_until(settled, "the broken revision to be the newest again", timeout=120, interval=0.2)


def test_two_rollbacks_at_once_one_wins(ns):
    """Two `rollback` processes started together, 20 times: exactly one changes the Deployment, the other finds
    nothing to do, and the records stay whole. The live revision alternates between InProgress (the winner must
    record it Failed) and Failed."""
    sc.five_revisions(ns)
    by_image = sc.rs_by_image(ns, "web")
    broken = by_image["example.test/web:5-broken"]["metadata"]["name"]
    target = by_image["example.test/web:2"]["metadata"]["name"]
    seen = {"another client rolled it back first": 0, "plain nothing to do": 0}
    for iteration in range(RACE_ITERATIONS):
        if iteration:
            live = fail_again(ns, broken, "InProgress" if iteration % 2 else "Failed")
        else:
            live = sc.workload_state_quickly(ns)[1][-1]
        assert live["metadata"]["name"] == broken
        live_number = sc.revision_of(live)
        first, second = sc.run_together(ns, ("rollback", "deployment/web"), ("rollback", "deployment/web"))
        context = f"iteration {iteration}\n{first.stdout}{first.stderr}\n{second.stdout}{second.stderr}"
        assert (first.returncode, second.returncode) == (0, 0), context
        winners = [p for p in (first, second) if "rolled back from" in p.stdout]
        losers = [p for p in (first, second) if "nothing to do" in p.stdout]
        assert (len(winners), len(losers)) == (1, 1), context
        assert f"rolled back from revision {live_number} " in winners[0].stdout, context
        key = "another client rolled it back first"
        seen[key if key in losers[0].stdout else "plain nothing to do"] += 1
        deployment, sets = sc.workload_state(ns)
        sets = {rs["metadata"]["name"]: rs for rs in sets}
        assert sc.image_of(deployment) == "example.test/web:2", context
        assert sc.template_without_hash(deployment["spec"]["template"]) == sc.template_without_hash(
            sets[target]["spec"]["template"]), context
        assert [p for rs in sets.values() for p in sc.malformed_harness_annotations(rs)] == [], context
        target_record = sc.harness_annotations(sets[target])
        assert (target_record[sc.STATUS], target_record[sc.WORKFLOW_ID]) == ("Succeeded", "wf1"), context
        assert target_record[sc.ROLLED_BACK_FROM] == str(live_number), context
        assert sc.harness_annotations(sets[broken])[sc.STATUS] == "Failed", context
    print(f"\n{RACE_ITERATIONS} rollback races, the loser said: {seen}")


def test_record_racing_a_rollback_loses_no_record(ns):
    """`record --status Failed` for the live (InProgress) revision started together with `rollback`: the revision
    that was live ends up Failed, and the rollback target keeps every annotation it had, its Succeeded included."""
    sc.five_revisions(ns)
    by_image = sc.rs_by_image(ns, "web")
    broken = by_image["example.test/web:5-broken"]["metadata"]["name"]
    target = by_image["example.test/web:2"]["metadata"]["name"]
    landed_on_target, refused = [], 0
    for iteration in range(RECORD_RACE_ITERATIONS):
        live = fail_again(ns, broken, "InProgress")
        before = {rs["metadata"]["name"]: sc.harness_annotations(rs) for rs in sc.workload_state_quickly(ns)[1]}
        assert before[target][sc.STATUS] == "Succeeded"
        # named by its image: fail_again sets it by hand, so the last apply's images are another revision's
        record, rollback = sc.run_together(ns, ("record", "deployment/web", "--status", "Failed", "--image",
                                                "example.test/web:5-broken"),
                                           ("rollback", "deployment/web"))
        context = (f"iteration {iteration}\nrecord: {record.stdout}{record.stderr}\n"
                   f"rollback: {rollback.stdout}{rollback.stderr}")
        assert rollback.returncode == 0, context
        # record may refuse, in one line, to judge a revision it did not deploy; it must not crash
        assert record.returncode in (0, 1) and "Traceback" not in record.stderr, context
        if record.returncode:
            assert len(record.stderr.strip().splitlines()) == 1 and record.stderr.startswith("error: "), context
            refused += 1
        assert f"rolled back from revision {sc.revision_of(live)} " in rollback.stdout, context
        deployment, sets = sc.workload_state(ns)
        after = {rs["metadata"]["name"]: rs for rs in sets}
        assert sc.image_of(deployment) == "example.test/web:2", context
        assert [p for rs in after.values() for p in sc.malformed_harness_annotations(rs)] == [], context
        # the revision that was live is recorded Failed, by record or by the rollback's book-keeping
        assert sc.harness_annotations(after[broken])[sc.STATUS] == "Failed", context
        # no key of the target's record is gone or changed (its status is checked below); the rollback's audit is there
        target_now = sc.harness_annotations(after[target])
        assert set(before[target]) <= set(target_now), context
        for key in ("workflow-id", "service-id", "infra-id", "cluster-name", "artifact"):
            assert target_now.get(f"harness.io/{key}") == before[target].get(f"harness.io/{key}"), context
        assert target_now[sc.ROLLED_BACK_FROM] == str(sc.revision_of(live)), context
        if target_now[sc.STATUS] != "Succeeded":
            landed_on_target.append(context)
            sc.annotate_quickly(ns, target, {sc.STATUS: "Succeeded"})  # so that the next iteration starts the same
    print(f"\n{RECORD_RACE_ITERATIONS} record/rollback races: the record landed on the rollback target "
          f"{len(landed_on_target)} times; record refused {refused} times")
    assert not landed_on_target, (
        f"in {len(landed_on_target)} of {RECORD_RACE_ITERATIONS} races `record --status Failed` read the Deployment "
        "after the rollback's write and recorded the rollback target (the last good revision) Failed; the first:\n"
        + landed_on_target[0])


# -- bad data in the cluster -----------------------------------------------------------------------------------

LONG = 5000


@pytest.fixture
def littered(ns):
    """Five revisions whose records a human or another tool has damaged; revision 1 is the only sound target."""
    tags = ["1", "2", "3", "4", "5-broken"]
    for count, tag in enumerate(tags, start=1):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        sc.wait_for_revisions(ns, {"web": count})
    names = {sc.image_of(rs): rs["metadata"]["name"] for rs in sc.replicasets(ns, "web")["web"]}
    rs = {n: names[f"example.test/web:{tag}"] for n, tag in enumerate(tags, start=1)}
    sc.annotate(ns, "rs", [rs[1]], *sc.record_annotation_args("Succeeded"))
    # 2: a status nobody wrote; and an artifact with a line break in it
    sc.annotate(ns, "rs", [rs[2]], *sc.record_annotation_args("Succeeded"), f"{sc.STATUS}=Succeded!!",
                "harness.io/artifact=web:2\nrm -rf /")
    # 3: Succeeded, but its workflow id is 5000 characters (someone else's data), its dates are not dates
    sc.annotate(ns, "rs", [rs[3]], *sc.record_annotation_args("Succeeded"), f"{sc.WORKFLOW_ID}={'w' * LONG}",
                "harness.io/recorded-at=yesterday", f"{sc.ROLLED_BACK_FROM}=the-moon", "harness.io/rolled-back-at=soon")
    # 4: a 5000-character status
    sc.annotate(ns, "rs", [rs[4]], *sc.record_annotation_args("Succeeded"), f"{sc.STATUS}={'S' * LONG}")
    sc.annotate(ns, "rs", [rs[5]], *sc.record_annotation_args("Failed"))
    return ns


def test_history_survives_garbage_records(littered):
    ns = littered
    proc = ns.plugin("history", "deployment/web", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error:" not in proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["revision"]: r for r in data["revisions"]}
    # revision 3 says Succeeded, but with damaged fields (a workflow id too long, recorded-at "yesterday"): a record
    # with any damaged field is not trusted at all (README: garbage records are Unknown, never a target)
    assert [r["status"] for r in data["revisions"]] == ["Failed", "Unknown", "Unknown", "Unknown", "Succeeded"]
    assert rows[3]["workflowId"] is None and rows[3]["recordedAt"] is None  # damaged values are not shown as data
    assert rows[2]["artifact"] is None
    assert data["rollbackTarget"] == 1
    skipped = {s["revision"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) >= {2, 3, 4}, skipped
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert any("harness.io/status='Succeded!!'" in w and "Unknown" in w for w in warnings), proc.stderr
    assert any(f"harness.io/workflow-id is {LONG} characters long" in w for w in warnings), proc.stderr
    assert any("harness.io/recorded-at" in w and "is not an RFC 3339 UTC time" in w for w in warnings), proc.stderr
    assert any(f"harness.io/status is {LONG} characters long" in w for w in warnings), proc.stderr
    assert any("harness.io/artifact contains control characters" in w for w in warnings), proc.stderr
    assert all(len(line) < 400 for line in proc.stderr.splitlines()), "a warning echoes a huge value"
    assert "w" * 100 not in proc.stderr + proc.stdout and "S" * 100 not in proc.stderr + proc.stdout

    table = ns.plugin("history", "deployment/web")
    assert table.returncode == 0 and "Traceback" not in table.stderr
    lines = table.stdout.splitlines()
    assert any(line.startswith("2 ") and "Unknown" in line for line in lines), table.stdout
    assert any(line.startswith("4 ") and "Unknown" in line for line in lines), table.stdout
    assert "rollback target: revision 1" in table.stdout


def test_rollback_is_not_confused_by_garbage_records(littered):
    ns = littered
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "to revision 1 (Succeeded; workflow wf1; example.test/web:1)" in proc.stdout
    assert sc.image_of(ns.get("deployment", "web")) == "example.test/web:1"


# -- secrets ---------------------------------------------------------------------------------------------------

TOKEN_MARKER = "Tk-9f3a61c2-NEVER-PRINT-ME"
SECRET_MARKER = "S3cr3t-Payload-7d41"


@pytest.mark.parametrize("args", [("history", "deployment/web"), ("rollback", "deployment/web"),
                                  ("record", "deployment/web", "--status", "Failed"), ("rollback", "service/web")])
def test_rejected_token_is_never_printed(ns, cluster, tmp_path, args):
    from tests.cluster.controlplane import kubeconfig_text

    config = tmp_path / "wrong-token.kubeconfig"
    config.write_text(kubeconfig_text(cluster.plane.server, cluster.plane.ca_file, "admin", TOKEN_MARKER))
    proc = ns.plugin(*args, "--kubeconfig", str(config))
    assert proc.returncode == 1, proc.stderr
    assert "Unauthorized (401)" in proc.stderr and "credentials in the kubeconfig were rejected" in proc.stderr
    assert TOKEN_MARKER not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


CORRUPT_HISTORIES = {
    # invalid YAML, the marker at the place a parser error points at
    "unclosed-flow": (f"releases: [{{number: 1, status: Failed, note: {SECRET_MARKER}", None),
    "undefined-alias": (f"version: v1\nreleases: *{SECRET_MARKER}\n", None),
    "undefined-tag-handle": (f"version: v1\nreleases: !{SECRET_MARKER}! x\n", None),
    "bad-int-tag": (f"version: v1\nreleases:\n- number: !!int {SECRET_MARKER}\n", None),
    "undefined-alias-gzip": (f"version: v1\nreleases: *{SECRET_MARKER}\n", "gzip"),
    # valid YAML, the marker where a field is expected
    "bad-status-field": (f"version: v1\nreleases:\n- number: 2\n  status: {SECRET_MARKER}\n"
                         "- number: 1\n  status: Succeeded\n", None),
}


@pytest.mark.parametrize("case", list(CORRUPT_HISTORIES))
def test_corrupt_history_secret_is_never_quoted(ns, case):
    payload, compressed = CORRUPT_HISTORIES[case]
    raw = payload.encode()
    data = {"releaseHistory": base64.b64encode(gzip.compress(raw) if compressed else raw).decode()}
    if compressed:
        data["isReleaseHistoryCompressed"] = base64.b64encode(b"\x01").decode()
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rel"}, "data": data}))
    for args in (("history", "--harness-release", "rel"), ("rollback", "--harness-release", "rel")):
        proc = ns.plugin(*args)
        assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
        # invalid YAML: error (1); the valid but odd one has no target (3), or lists (0)
        assert proc.returncode in (0, 1, 3), proc.stderr
        assert 'Secret "rel"' in proc.stderr
        output = proc.stdout + proc.stderr
        assert SECRET_MARKER not in output and SECRET_MARKER.lower() not in output, (
            f"{' '.join(args)} printed the Secret's decoded payload:\n{output}")
