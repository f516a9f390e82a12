"""A history that stays true when pipelines race and controllers do what they do (issue 27 items 1, 2, 3, 5 and
issue 26 items 3-5): `record` judges the revision it follows, names what it records, and never takes another
identity's place. The races are driven in order: each step waits for the exact state the next one needs."""

import json
import signal
import time

import pytest

from tests import contract, manifests
from tests import scenarios as sc

WF_A = ("--workflow-id", "wf-A", *sc.MAPPING)
WF_B = ("--workflow-id", "wf-B", *sc.MAPPING)
REASON = sc.PREFIX + "status-reason"


def rs_of(ns, app, image):
    return sc.rs_by_image(ns, app).get(image)


def record_of(ns, app, image):
    rs = rs_of(ns, app, image)
    return sc.harness_annotations(rs) if rs else {}


def wait_recorded(ns, app, image, status, workflow):
    """Until the revision running `image` carries `status` for `workflow` (a follower's first write)."""
    return ns.wait_until(lambda: (lambda r: r.get(sc.STATUS) == status and r.get(sc.WORKFLOW_ID) == workflow)(
        record_of(ns, app, image)), f"{image} recorded {status} for {workflow}", timeout=90)


def good_first_revision(ns, app, tag="1", **kw):
    sc.deploy_and_record(ns, f"deployment/{app}", manifests.deployment(app, f"example.test/{app}:{tag}", **kw),
                         "Succeeded", *sc.IDENTITY)


# -- issue 27 item 1, issue 26 item 5: a followed revision that stops being live is not Succeeded ----------------


def test_follow_notices_at_once_that_a_rollback_replaced_its_revision(ns):
    good_first_revision(ns, "m")
    ns.apply(manifests.deployment("m", "example.test/m:2-broken"))
    follower = sc.start_plugin(ns, "record", "deployment/m", "--follow", "--timeout", "120s", *sc.IDENTITY)
    wait_recorded(ns, "m", "example.test/m:2-broken", "InProgress", "wf1")
    ns.plugin("rollback", "deployment/m", check=True)
    rolled_back = time.monotonic()
    proc = sc.finish(follower)
    noticed = time.monotonic() - rolled_back
    print(f"\nthe follower ended {noticed:.1f}s after the rollback")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "revision 2 was replaced by a rollback to revision 3" in proc.stderr, proc.stderr
    record = record_of(ns, "m", "example.test/m:2-broken")
    assert (record[sc.STATUS], record[REASON]) == ("Failed", "rolled back to revision 3"), record
    assert noticed < 15, f"the follower took {noticed:.1f}s to notice the rollback"
    history = ns.plugin_json("history", "deployment/m")
    assert [r["revision"] for r in history["revisions"] if r["status"] == "Succeeded"] == [3]
    assert sc.live_image(ns, name="m") == "example.test/m:1"


def test_follow_of_a_revision_another_pipeline_superseded_is_not_succeeded(ns):
    good_first_revision(ns, "s")
    ns.apply(manifests.deployment("s", "example.test/s:2-fromA-broken"))
    follower = sc.start_plugin(ns, "record", "deployment/s", "--follow", "--timeout", "120s", *WF_A)
    wait_recorded(ns, "s", "example.test/s:2-fromA-broken", "InProgress", "wf-A")
    ns.apply(manifests.deployment("s", "example.test/s:3-fromB"))
    ns.rollout_status("deployment/s")  # B's pods are Ready
    proc = sc.finish(follower)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "revision 2 was superseded by revision 3" in proc.stderr, proc.stderr
    record = record_of(ns, "s", "example.test/s:2-fromA-broken")
    assert (record[sc.STATUS], record[sc.WORKFLOW_ID], record[REASON]) == (
        "InProgress", "wf-A", "superseded by revision 3"), record
    history = ns.plugin_json("history", "deployment/s", *WF_A)
    assert history["rollbackTarget"] is None or history["rollbackTarget"] != 2
    row = next(r for r in history["revisions"] if r["revision"] == 2)
    assert row["statusReason"] == "superseded by revision 3"


# -- issue 27 item 2: --rollback-on-failure only while the followed revision is live ---------------------------


def test_rollback_on_failure_leaves_another_pipelines_revision_alone(ns):
    good_first_revision(ns, "s")
    ns.apply(manifests.deployment("s", "example.test/s:2-fromA-broken"))
    follower = sc.start_plugin(ns, "record", "deployment/s", "--follow", "--rollback-on-failure", "--timeout", "8s",
                               *WF_A)
    wait_recorded(ns, "s", "example.test/s:2-fromA-broken", "InProgress", "wf-A")
    ns.apply(manifests.deployment("s", "example.test/s:3-fromB-broken"))
    proc = sc.finish(follower)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "superseded by revision 3" in proc.stderr and "not rolled back" in proc.stderr, proc.stderr
    assert sc.live_image(ns, name="s") == "example.test/s:3-fromB-broken"
    assert not any(k == sc.ROLLED_BACK_FROM for rs in sc.replicasets(ns, "s")["s"] for k in sc.harness_annotations(rs))


# -- issue 27 item 3, issue 26 item 4: one record per revision, on the revision meant --------------------------


def test_a_second_follower_with_another_workflow_is_refused(ns):
    good_first_revision(ns, "dual")
    ns.apply(manifests.deployment("dual", "example.test/dual:2-broken", progress_deadline=30))
    first = sc.start_plugin(ns, "record", "deployment/dual", "--follow", "--timeout", "5s", *WF_A)
    wait_recorded(ns, "dual", "example.test/dual:2-broken", "InProgress", "wf-A")
    second = ns.plugin("record", "deployment/dual", "--follow", "--timeout", "5s", *WF_B)
    assert second.returncode == 1, second.stdout + second.stderr
    assert second.stderr.startswith("error: ") and len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "recorded InProgress for workflow wf-A" in second.stderr and "--force" in second.stderr
    assert sc.finish(first).returncode == 4
    record = record_of(ns, "dual", "example.test/dual:2-broken")
    assert (record[sc.STATUS], record[sc.WORKFLOW_ID]) == ("Failed", "wf-A")


def test_a_record_naming_its_images_never_lands_on_another_pipelines_revision(ns):
    good_first_revision(ns, "dual")
    ns.apply(manifests.deployment("dual", "example.test/dual:2-fromA"))
    sc.wait_for_revisions(ns, {"dual": 2})
    ns.apply(manifests.deployment("dual", "example.test/dual:3-fromB"))
    sc.wait_for_revisions(ns, {"dual": 3})
    a = sc.start_plugin(ns, "record", "deployment/dual", "--follow", "--image", "example.test/dual:2-fromA", *WF_A)
    b = sc.start_plugin(ns, "record", "deployment/dual", "--follow", "--image", "example.test/dual:3-fromB", *WF_B)
    a, b = sc.finish(a), sc.finish(b)
    assert a.returncode == 4 and "revision 2 was superseded by revision 3" in a.stderr, a.stdout + a.stderr
    assert b.returncode == 0, b.stdout + b.stderr
    two, three = record_of(ns, "dual", "example.test/dual:2-fromA"), record_of(ns, "dual", "example.test/dual:3-fromB")
    assert (two[sc.STATUS], two[sc.WORKFLOW_ID]) == ("InProgress", "wf-A"), two
    assert (three[sc.STATUS], three[sc.WORKFLOW_ID]) == ("Succeeded", "wf-B"), three

    # Not on the live revision: A's own InProgress revision 2 takes A's outcome, B's record stays as it was.
    late = ns.plugin("record", "deployment/dual", "--status", "Failed", "--revision", "2", *WF_A)
    assert late.returncode == 0, late.stdout + late.stderr
    assert record_of(ns, "dual", "example.test/dual:2-fromA")[sc.STATUS] == "Failed"
    assert record_of(ns, "dual", "example.test/dual:3-fromB") == three


def test_record_refuses_a_template_the_last_apply_did_not_apply(ns):
    good_first_revision(ns, "dual")
    ns.apply(manifests.deployment("dual", "example.test/dual:2"))
    ns.kubectl("set", "image", "deployment/dual", "app=example.test/dual:9-hand")
    sc.wait_for_revisions(ns, {"dual": 3})
    before = {rs["metadata"]["name"]: sc.harness_annotations(rs) for rs in sc.replicasets(ns, "dual")["dual"]}
    proc = ns.plugin("record", "deployment/dual", "--status", "Succeeded", *WF_A)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "example.test/dual:9-hand" in proc.stderr and "example.test/dual:2" in proc.stderr, proc.stderr
    assert {rs["metadata"]["name"]: sc.harness_annotations(rs) for rs in sc.replicasets(ns, "dual")["dual"]} == before


def test_a_redeploy_by_another_workflow_does_not_replace_the_record(ns):
    good_first_revision(ns, "w")
    sc.deploy_and_record(ns, "deployment/w", manifests.deployment("w", "example.test/w:2"), "Succeeded", *sc.IDENTITY)
    ns.apply(manifests.deployment("w", "example.test/w:1"))  # wf2 deploys the same template: the controller reuses it
    ns.rollout_status("deployment/w")
    proc = ns.plugin("record", "deployment/w", "--status", "Succeeded", "--workflow-id", "wf2", *sc.MAPPING)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "recorded Succeeded for workflow wf1" in proc.stderr and "--force" in proc.stderr, proc.stderr
    assert record_of(ns, "w", "example.test/w:1")[sc.WORKFLOW_ID] == "wf1"
    other = ns.plugin("record", "deployment/w", "--status", "Succeeded", "--workflow-id", "wf9", "--service-id",
                      "other", "--infra-id", "otherinf")
    assert other.returncode == 1 and "service svc" in other.stderr, other.stderr
    assert ns.plugin_json("history", "deployment/w")["liveRevision"] == 3
    forced = ns.plugin("record", "deployment/w", "--status", "Succeeded", "--workflow-id", "wf2", *sc.MAPPING,
                       "--force")
    assert forced.returncode == 0, forced.stderr
    assert record_of(ns, "w", "example.test/w:1")[sc.WORKFLOW_ID] == "wf2"


# -- issue 27 item 5: OnDelete and partitioned rollouts ---------------------------------------------------------


def running_pod(ns, image):
    """The workload's pod (app=odb) once one runs `image`, as the node simulator leaves it (Ready unless broken)."""
    return ns.wait_until(lambda: next((p for p in ns.items("pods", "-l", "app=odb")
                                       if p["spec"]["containers"][0]["image"] == image
                                       and p["status"].get("phase") == "Running"
                                       and not p["metadata"].get("deletionTimestamp")), None),
                         f"a pod running {image}", timeout=90)


@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
def test_on_delete_is_judged_from_its_pods(ns, kind):
    make = manifests.statefulset if kind == "statefulset" else manifests.daemonset
    # kubectl rollout status refuses OnDelete: wait for the pod instead
    ns.apply(manifests.on_delete(make("odb", "example.test/odb:1")))
    old = running_pod(ns, "example.test/odb:1")
    ns.plugin("record", f"{kind}/odb", "--status", "Succeeded", *sc.IDENTITY, check=True)
    ns.apply(manifests.on_delete(make("odb", "example.test/odb:2-broken")))
    ns.wait_until(lambda: ns.get(kind, "odb")["status"].get("observedGeneration") == 2, "generation 2 observed")
    ns.kubectl("delete", "pod", old["metadata"]["name"], "--wait=false")
    replaced = running_pod(ns, "example.test/odb:2-broken")
    assert not any(c["type"] == "Ready" and c["status"] == "True" for c in replaced["status"]["conditions"])
    proc = ns.plugin("record", f"{kind}/odb", "--follow", "--timeout", "6s", *sc.IDENTITY)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "0 of 1 pods on this revision ready" in proc.stderr, proc.stderr
    history = ns.plugin_json("history", f"{kind}/odb")
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [(2, "Failed"), (1, "Succeeded")]


def partitioned(image, partition):
    obj = json.loads(manifests.statefulset("part", image))
    obj["spec"]["replicas"] = 3
    obj["spec"]["podManagementPolicy"] = "Parallel"
    obj["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    return json.dumps(obj)


def test_a_partitioned_rollout_is_recorded_as_such_and_a_rollback_warns(ns):
    sc.deploy_and_record(ns, "statefulset/part", partitioned("example.test/part:1", 0), "Succeeded", *sc.IDENTITY)
    ns.apply(partitioned("example.test/part:2", 2))
    proc = ns.plugin("record", "statefulset/part", "--follow", "--timeout", "90s", *sc.IDENTITY)
    assert proc.returncode == 0, proc.stderr
    assert "partitioned: 1 of 3 pods" in proc.stdout, proc.stdout
    history = ns.plugin("history", "statefulset/part", check=True).stdout
    assert "partitioned: 1 of 3 pods" in history, history
    sc.deploy_and_record(ns, "statefulset/part", partitioned("example.test/part:3-broken", 0), "Failed",
                         *sc.IDENTITY)
    rollback = ns.plugin("rollback", "statefulset/part", check=True)
    assert "revision 2 ran on 1 of 3 pods only (partitioned); this rollback takes it to all 3 pods" in (
        rollback.stderr), rollback.stderr


# -- issue 26 item 3 (record --follow's part): Ctrl-C says what it left recorded -------------------------------


def interrupted_follow(ns, *flags: str):
    """m:2-broken followed (with `flags`), recorded InProgress, then Ctrl-C: what the follower ended with."""
    good_first_revision(ns, "m")
    ns.apply(manifests.deployment("m", "example.test/m:2-broken"))
    follower = sc.start_plugin(ns, "record", "deployment/m", "--follow", "--timeout", "120s", *sc.IDENTITY, *flags)
    wait_recorded(ns, "m", "example.test/m:2-broken", "InProgress", "wf1")
    follower.send_signal(signal.SIGINT)
    return sc.finish(follower)


def test_interrupted_follow_says_what_it_left_recorded(ns):
    proc = interrupted_follow(ns)
    assert proc.returncode == 130, proc.stderr
    assert ("interrupted: deployment/m revision 2 is left recorded InProgress for workflow wf1; record its outcome "
            f"with: kubectl harness-rollback record deployment/m --revision 2 --status Failed -n {ns.name} "
            "(or --status Succeeded)") in proc.stderr, proc.stderr


def test_interrupted_follow_with_json_prints_the_record_left_in_progress(ns):
    """Issue 32: the document of an interrupted follow holds the record as written (InProgress), not only the
    error; stderr names the revision and the command that finishes it, as without -o json."""
    proc = interrupted_follow(ns, "-o", "json")
    assert proc.returncode == 130, proc.stderr
    document = contract.validated(proc.stdout, "json", "RecordResult")
    assert (document["error"]["reason"], document["error"]["exitCode"]) == ("INTERRUPTED", 130), document
    assert (document["workload"], document["revision"], document["status"], document["workflowId"]) == (
        "deployment/m", 2, "InProgress", "wf1"), document
    assert "revision 2 is left recorded InProgress" in document["error"]["message"], document
    assert f"record deployment/m --revision 2 --status Failed -n {ns.name}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


# -- the tester's finding 1: a record without --image/--revision that cannot tell whose deploy is live ---------


def test_record_refuses_when_two_deploys_since_the_last_record_leave_it_unsure_whose_is_live(ns):
    good_first_revision(ns, "web")
    ns.apply(manifests.deployment("web", "example.test/web:2"))  # pipeline A
    sc.wait_for_revisions(ns, {"web": 2})
    ns.apply(manifests.deployment("web", "example.test/web:3-broken"))  # pipeline B, before A records
    sc.wait_for_revisions(ns, {"web": 3})
    before = {rs["metadata"]["name"]: sc.harness_annotations(rs) for rs in sc.replicasets(ns, "web")["web"]}
    for who in (WF_A, WF_B):  # neither can tell which of revisions 2 and 3 is its own
        proc = ns.plugin("record", "deployment/web", "--follow", "--rollback-on-failure", "--timeout", "90s", *who)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "revisions 2 (example.test/web:2) and 3 (example.test/web:3-broken)" in proc.stderr, proc.stderr
        assert "--image" in proc.stderr and "--revision" in proc.stderr, proc.stderr
    assert {rs["metadata"]["name"]: sc.harness_annotations(rs) for rs in sc.replicasets(ns, "web")["web"]} == before
    assert sc.live_image(ns) == "example.test/web:3-broken"
    named = ns.plugin("record", "deployment/web", "--status", "InProgress", "--image", "example.test/web:3-broken",
                      *WF_B)
    assert named.returncode == 0, named.stdout + named.stderr
    assert record_of(ns, "web", "example.test/web:3-broken")[sc.WORKFLOW_ID] == "wf-B"
    assert record_of(ns, "web", "example.test/web:2") == {}



def test_the_command_an_interrupted_follow_prints_works_after_a_newer_deploy(ns):
    printed = interrupted_follow(ns).stderr
    command = printed.split("record its outcome with: kubectl ")[1].split(" (or --status Succeeded)")[0]
    ns.apply(manifests.deployment("m", "example.test/m:3"))  # the next deploy, before anyone runs it
    sc.wait_for_revisions(ns, {"m": 3})
    proc = ns.cluster.run(*command.split(), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record_of(ns, "m", "example.test/m:2-broken")[sc.STATUS] == "Failed"
    assert record_of(ns, "m", "example.test/m:3") == {}


def test_ctrl_c_before_the_record_is_written_says_nothing_was_recorded(ns, proxied):
    from tests.cluster.faultproxy import Rule, freeze

    good_first_revision(ns, "m")
    ns.apply(manifests.deployment("m", "example.test/m:2-broken"))
    sc.wait_for_revisions(ns, {"m": 2})
    proxied.proxy.add_rule(Rule(freeze(), "GET", "/deployments/m$"))  # the first read never answers
    follower = sc.start_plugin(ns, "record", "deployment/m", "--follow", "--timeout", "120s", *sc.IDENTITY,
                               env=proxied.env)
    ns.wait_until(lambda: proxied.proxy.count("GET", "/deployments/m$"), "the plugin's first read")
    follower.send_signal(signal.SIGINT)
    proc = sc.finish(follower)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: interrupted: nothing recorded on deployment/m"], proc.stderr
    assert record_of(ns, "m", "example.test/m:2-broken") == {}
