"""record, history and rollback of a Deployment, through `kubectl harness-rollback` on the real cluster."""

import json

import pytest

from tests import manifests
from tests import scenarios as sc


def deploy(ns, tag, workflow, status, name="web", mapping=sc.MAPPING, **kw):
    """One pipeline run of deployment/NAME with image example.test/web:TAG."""
    sc.deploy_and_record(ns, f"deployment/{name}", manifests.deployment(name, f"example.test/web:{tag}", **kw),
                         status, "--workflow-id", workflow, *mapping)


@pytest.fixture
def five(ns):
    """sc.FIVE_RUNS, each good revision rolled out before it is recorded."""
    sc.five_revisions(ns, rollout=True)
    return ns


def test_history_and_rollback_agree_on_the_last_successful_revision(five):
    ns = five
    history = ns.plugin_json("history", "deployment/web", "--workflow-id", "wf1")
    assert [r["revision"] for r in history["revisions"]] == [5, 4, 3, 2, 1]
    assert [r["status"] for r in history["revisions"]] == ["Failed", "Succeeded", "Failed", "Succeeded", "Succeeded"]
    assert [r["revision"] for r in history["revisions"] if r["note"] == "rollback target"] == [2]
    assert [r["revision"] for r in history["revisions"] if r["live"]] == [5]
    assert history["identity"]["clusterName"] == "test-cluster"
    assert history["revisions"][0]["images"] == ["example.test/web:5-broken"]

    result = ns.plugin_json("rollback", "deployment/web", "--workflow-id", "wf1")
    assert (result["from"]["revision"], result["to"]["revision"], result["changed"]) == (5, 2, True)
    assert sc.live_image(ns) == "example.test/web:2"
    ns.rollout_status("deployment/web")


def test_any_workflow_rolls_back_to_the_other_workflows_success(five):
    ns = five
    history = ns.plugin_json("history", "deployment/web", "--any-workflow")
    assert history["rollbackTarget"] == 4
    proc = ns.plugin("rollback", "deployment/web", "--any-workflow", check=True)
    assert "from revision 5 (Failed; workflow wf1; example.test/web:5-broken)" in proc.stdout
    assert "to revision 4 (Succeeded; workflow wf2; example.test/web:4)" in proc.stdout
    assert sc.live_image(ns) == "example.test/web:4"


def test_identity_defaults_to_the_live_record_and_books_the_rollback(five):
    ns = five
    ns.plugin("rollback", "deployment/web", check=True)  # workflow wf1 and mapping from revision 5's record
    assert sc.live_image(ns) == "example.test/web:2"
    ns.rollout_status("deployment/web")
    history = ns.plugin_json("history", "deployment/web")
    live = next(r for r in history["revisions"] if r["live"])
    # the controller renumbers the reused ReplicaSet: revision 2 is now 6, and it keeps its record
    assert (live["revision"], live["status"], live["workflowId"]) == (6, "Succeeded", "wf1")
    assert live["rolledBackFrom"] == 5 and live["rolledBackAt"]


def test_never_rolls_back_to_another_mapping(ns):
    deploy(ns, "1", "wf1", "Succeeded", mapping=("--service-id", "other", "--infra-id", "infra"))
    deploy(ns, "2-broken", "wf1", "Failed")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 3, proc.stderr
    assert "no other revision is recorded Succeeded" in proc.stderr
    assert "1: another infrastructure mapping (service other)" in proc.stderr
    assert sc.live_image(ns) == "example.test/web:2-broken"


def test_new_revision_after_a_rollback_carries_no_record_it_did_not_earn(five):
    ns = five
    ns.plugin("rollback", "deployment/web", check=True)
    ns.rollout_status("deployment/web")
    ns.apply(manifests.deployment("web", "example.test/web:7"))
    ns.rollout_status("deployment/web")
    newest = max(ns.items("rs", "-l", "app=web"), key=sc.revision_of)
    assert newest["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/web:7"
    assert not any(k.startswith("harness.io/") for k in newest["metadata"].get("annotations", {}))
    assert not any(k.startswith("harness.io/") for k in ns.get("deployment", "web")["metadata"].get("annotations", {}))
    history = ns.plugin_json("history", "deployment/web", "--workflow-id", "wf1")
    assert history["revisions"][0]["status"] == "Unknown"


def test_to_revision_matches_kubectl_rollout_undo_on_a_twin(ns):
    for name in ("web", "twin"):
        for tag in ("1", "2", "3"):
            deploy(ns, tag, "wf1", "Succeeded", name=name, labels={"twin": name})
    ns.plugin("rollback", "deployment/web", "--to-revision", "1", check=True)
    ns.kubectl("rollout", "undo", "deployment/twin", "--to-revision=1")
    ours = ns.get("deployment", "web")["spec"]["template"]
    theirs = ns.get("deployment", "twin")["spec"]["template"]
    for template in (ours, theirs):
        template["metadata"]["labels"].pop("app")
        template["metadata"]["labels"].pop("twin")
    assert ours == theirs
    assert ours["spec"]["containers"][0]["image"] == "example.test/web:1"


def test_first_deployment_exits_3(ns):
    deploy(ns, "1-broken", "wf1", "Failed")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 3
    assert "first deployment" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_all_failed_exits_3_naming_the_skipped(ns):
    deploy(ns, "1-broken", "wf1", "Failed")
    deploy(ns, "2-broken", "wf1", "Failed")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 3
    assert "every other revision recorded for workflow=wf1" in proc.stderr and "1: recorded Failed" in proc.stderr


def test_pruned_target_exits_3(ns):
    deploy(ns, "1", "wf1", "Succeeded", history_limit=1)
    # Created within the same second as revision 1, revision 2 may be the one pruned, and revision 1 would still be
    # there to roll back to.
    (first,) = ns.items("rs", "-l", "app=web")
    sc.wait_past_creation_second(ns, first, "revision 1")
    deploy(ns, "2", "wf2", "Succeeded", history_limit=1)
    deploy(ns, "3", "wf2", "Succeeded", history_limit=1)

    def only_revision_2_at_zero_and_3():
        sets = {sc.revision_of(rs): rs for rs in ns.items("rs", "-l", "app=web")}
        return sorted(sets) == [2, 3] and sets[2]["spec"]["replicas"] == (sets[2]["status"].get("replicas") or 0) == 0

    ns.wait_until(only_revision_2_at_zero_and_3, "the controller to prune revision 1 and keep revision 2 at zero")
    deploy(ns, "4-broken", "wf1", "Failed", history_limit=1)
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 3, proc.stderr
    assert "revision 1 was pruned (revisionHistoryLimit)" in proc.stderr
    assert sc.live_image(ns) == "example.test/web:4-broken"


def test_dry_run_changes_nothing_and_shows_the_diff(five):
    ns = five
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]
    proc = ns.plugin("rollback", "deployment/web", "--dry-run", check=True)
    assert "(dry run)" in proc.stdout
    assert "-  - image: example.test/web:5-broken" in proc.stdout
    assert "+  - image: example.test/web:2" in proc.stdout
    server = ns.plugin("rollback", "deployment/web", "--dry-run=server", check=True)
    assert "(server dry run)" in server.stdout
    assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before
    rs_annotations = [rs["metadata"].get("annotations", {}) for rs in ns.items("rs", "-l", "app=web")]
    assert not any("harness.io/rolled-back-from" in a for a in rs_annotations)


def test_wait_succeeds_on_a_healthy_rollout(five):
    proc = five.plugin("rollback", "deployment/web", "--wait", "--timeout", "90s")
    assert proc.returncode == 0, proc.stderr
    assert "rolled out" in proc.stderr
    status = five.get("deployment", "web")["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == 1


def test_wait_fails_with_4_when_the_target_never_becomes_ready(ns):
    deploy(ns, "1-broken", "wf1", "Failed")
    ns.plugin("record", "deployment/web", "--status", "Succeeded", check=True)  # a record that lies
    deploy(ns, "2-broken", "wf1", "Failed")
    proc = ns.plugin("rollback", "deployment/web", "--wait", "--timeout", "5s")
    assert proc.returncode == 4, proc.stderr
    assert "gave up after --timeout 5s" in proc.stderr
    assert sc.live_image(ns) == "example.test/web:1-broken"


def test_wait_fails_with_4_when_a_newer_deploy_takes_over_before_the_target_is_ready(ns):
    deploy(ns, "1-broken", "wf1", "Failed")
    ns.plugin("record", "deployment/web", "--status", "Succeeded", check=True)  # a record that lies
    deploy(ns, "2-broken", "wf1", "Failed")
    waiter = sc.start_plugin(ns, "rollback", "deployment/web", "--to-revision", "1", "--force", "--wait",
                             "--timeout", "90s", "-o", "json")
    sc.wait_until(lambda: sc.live_image(ns) == "example.test/web:1-broken", "the rollback's template write")
    ns.kubectl("set", "image", "deployment/web", "app=example.test/web:3")  # another pipeline deploys meanwhile
    proc = sc.finish(waiter)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "rolled back" in proc.stderr and "stopped being live before its rollout completed" in proc.stderr, \
        proc.stderr
    assert "kubectl harness-rollback history deployment/web" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["rolledOut"] is False
    assert sc.live_image(ns) == "example.test/web:3"


def test_nothing_to_do_when_the_target_template_is_live(ns):
    deploy(ns, "1", "wf1", "Succeeded")
    deploy(ns, "2", "wf1", "Succeeded")
    proc = ns.plugin("rollback", "deployment/web", "--to-revision", "2")
    assert proc.returncode == 0 and "nothing to do" in proc.stdout


def test_record_follow_records_the_outcome(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ok = ns.plugin("record", "deployment/web", "--follow", *sc.IDENTITY, "--timeout", "60s")
    assert ok.returncode == 0, ok.stderr
    ns.apply(manifests.deployment("web", "example.test/web:2-broken", progress_deadline=3))
    failed = ns.plugin("record", "deployment/web", "--follow", *sc.IDENTITY, "--timeout", "60s")
    assert failed.returncode == 4, failed.stderr
    assert "exceeded its progress deadline" in failed.stderr
    statuses = [r["status"] for r in ns.plugin_json("history", "deployment/web")["revisions"]]
    assert statuses == ["Failed", "Succeeded"]


def test_record_keeps_earlier_identity_and_needs_one_first_time(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    missing = ns.plugin("record", "deployment/web", "--status", "Succeeded")
    assert missing.returncode == 2 and "--workflow-id, --service-id, --infra-id" in missing.stderr
    ns.plugin("record", "deployment/web", "--status", "InProgress", *sc.IDENTITY,
              "--release-number", "42", check=True)
    ns.plugin("record", "deployment/web", "--status", "Succeeded", check=True)
    rev = ns.plugin_json("history", "deployment/web")["revisions"][0]
    assert (rev["status"], rev["workflowId"], rev["serviceId"]) == ("Succeeded", "wf1", "svc")
    assert rev["releaseNumber"] == "42"
    assert rev["artifact"] == "example.test/web:1"


def test_history_table_marks_live_and_target(five):
    proc = five.plugin("history", "deployment/web", check=True)
    lines = proc.stdout.splitlines()
    assert any(line.startswith("5 ") and line.rstrip().endswith("live") for line in lines)
    assert any(line.startswith("2 ") and line.rstrip().endswith("rollback target") for line in lines)
    assert "rollback target: revision 2" in proc.stdout
    wide = five.plugin("history", "deployment/web", "-o", "wide", check=True)
    assert "CHANGE-CAUSE" in wide.stdout and "infra" in wide.stdout
    yaml_out = five.plugin("history", "deployment/web", "-o", "yaml", check=True)
    assert "rollbackTarget: 2" in yaml_out.stdout


def test_records_copied_from_the_deployment_manifest_are_still_read_with_a_warning(ns):
    """Records once put in a manifest (or left on the Deployment by `kubectl rollout undo`) reach the ReplicaSet by
    the controller's copy: history still reads them, and says the workload must not carry them."""
    record = {sc.STATUS: "Succeeded", "harness.io/workflow-id": "wf1", "harness.io/service-id": "svc",
              "harness.io/infra-id": "infra", "harness.io/cluster-name": "test-cluster"}
    ns.apply(manifests.deployment("web", "example.test/web:1", annotations=record))
    ns.rollout_status("deployment/web")
    proc = ns.plugin("history", "deployment/web", "-o", "json", check=True)
    rev = json.loads(proc.stdout)["revisions"][0]
    assert (rev["status"], rev["workflowId"]) == ("Succeeded", "wf1")
    assert "warning: deployment/web carries harness.io/status, harness.io/workflow-id" in proc.stderr


def test_record_refuses_a_deployment_whose_own_annotations_the_controller_would_copy_over_it(ns):
    ns.apply(manifests.deployment("m", "example.test/m:1", annotations={"harness.io/workflow-id": "wfM"}))
    ns.rollout_status("deployment/m")
    proc = ns.plugin("record", "deployment/m", "--status", "Succeeded", *sc.IDENTITY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "deployment/m carries harness.io/workflow-id in its own annotations" in proc.stderr
    (rs,) = sc.replicasets(ns, "m")["m"]
    assert sc.STATUS not in rs["metadata"]["annotations"]  # nothing recorded
    # the fix it prints, as the on-call engineer copies it; then the record holds through the controller's syncs
    command = proc.stderr[proc.stderr.index("kubectl annotate "):].split()
    ns.kubectl(*command[1:])
    ns.plugin("record", "deployment/m", "--status", "Succeeded", *sc.IDENTITY, check=True)
    sc.resync(ns, "m")
    (rs,) = sc.replicasets(ns, "m")["m"]
    assert (rs["metadata"]["annotations"][sc.STATUS], rs["metadata"]["annotations"]["harness.io/workflow-id"]) == (
        "Succeeded", "wf1")


def test_rollback_refuses_a_deployment_carrying_a_release_number_it_would_stamp_on_the_target(ns):
    for tag, status in (("1", "Succeeded"), ("2", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"), status,
                             *sc.IDENTITY, "--release-number", tag)
    ns.kubectl("annotate", "deployment/web", "harness.io/release-number=2")
    for dry in ((), ("--dry-run",)):
        proc = ns.plugin("rollback", "deployment/web", *dry)
        assert proc.returncode == 1 and "carries harness.io/release-number" in proc.stderr, proc.stderr
    assert sc.live_image(ns) == "example.test/web:2"
    one = sc.rs_by_image(ns, "web")["example.test/web:1"]
    assert one["metadata"]["annotations"]["harness.io/release-number"] == "1"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("rollback", "deployment/missing"), 1, 'deployments.apps "missing" not found'),
        (("rollback", "deployment/Bad_Name"), 2, "not a valid object name"),
        (("rollback", "pod/web"), 2, "supported kinds are daemonset, deployment, statefulset"),
        (("history", "deployment/web", "--context", "nope"), 2, 'context "nope" does not exist'),
        (("rollback", "deployment/web", "--dry-run=maybe"), 2, "must be client, server or none"),
        (("record", "deployment/web", "--status", "Great"), 2, "must be one of Succeeded, Failed, InProgress"),
        (("rollback", "deployment/web", "--to-revision", "x"), 2, "--to-revision"),
        (("history", "pod/web"), 2, "'pod' is not a workload this plugin keeps a history of"),
        (("rollback", "deployment/web", "--force"), 2, "pass --to-revision N with it"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ns, args, code, message):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.rollout_status("deployment/web")
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]
    proc = ns.plugin(*args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before


def test_unreachable_server_is_one_line(ns, cluster, tmp_path):
    from tests.cluster.controlplane import free_port, kubeconfig_text

    config = tmp_path / "dead.kubeconfig"
    config.write_text(kubeconfig_text(f"https://127.0.0.1:{free_port()}", cluster.plane.ca_file, "admin", "t"))
    proc = ns.plugin("history", "deployment/web", "--kubeconfig", str(config), "--request-timeout", "2s")
    assert proc.returncode == 1
    assert "cannot reach the API server" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_forbidden_names_verb_resource_and_namespace(ns, cluster):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    env = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)
    proc = ns.plugin("history", "deployment/web", env=env)
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert 'cannot get resource "deployments" in API group "apps" in the namespace' in line, line
    assert "docs/rbac.yaml" in line and len(line.splitlines()) == 1


def test_python_m_and_both_executable_names_work(ns, cluster):
    import subprocess
    import sys

    for argv in ([sys.executable, "-m", "kubectl_rollback", "--version"], ["kubectl-harness-rollback", "--version"],
                 ["kubectl-harness_rollback", "--version"]):
        proc = subprocess.run(argv, env=cluster.env, capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.startswith("kubectl-harness-rollback "), argv
    listed = cluster.run("plugin", "list", check=False)
    assert "kubectl-harness_rollback" in listed.stdout



def test_record_will_not_fail_a_revision_a_rollback_restored(five):
    """A pipeline recording its (failed) outcome after someone already rolled back must not stamp the restored,
    good revision Failed: that would hide the last good revision from the next rollback."""
    ns = five
    ns.plugin("rollback", "deployment/web", check=True)
    late = ns.plugin("record", "deployment/web", "--status", "Failed")
    assert late.returncode == 1 and "because a rollback restored it" in late.stderr and "--force" in late.stderr
    assert ns.plugin_json("history", "deployment/web")["revisions"][0]["status"] == "Succeeded"
    ns.plugin("record", "deployment/web", "--status", "Failed", "--force", check=True)
    assert ns.plugin_json("history", "deployment/web")["revisions"][0]["status"] == "Failed"


def test_a_good_revision_pruned_at_history_limit_0_is_not_called_the_first_deployment(ns):
    deploy(ns, "1", "wf1", "Succeeded", history_limit=0)
    deploy(ns, "2", "wf1", "Failed", history_limit=0)  # its pods are ready (a failed verification): 1 goes to zero
    ns.wait_until(lambda: [sc.revision_of(rs) for rs in ns.items("rs", "-l", "app=web")] == [2],
                  "the controller to prune revision 1 (revisionHistoryLimit 0)")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == 3, proc.stderr
    assert "first deployment" not in proc.stderr
    assert "revision 1 was pruned (revisionHistoryLimit) and cannot be restored" in proc.stderr, proc.stderr


def test_a_succeeded_record_with_damaged_fields_is_never_the_target(ns):
    for tag in ("1", "2", "3", "4"):
        deploy(ns, tag, "wf1", "Succeeded")
    deploy(ns, "5-broken", "wf1", "Failed")
    by_revision = {sc.revision_of(rs): rs["metadata"]["name"] for rs in ns.items("rs", "-l", "app=web")}
    for revision, damage in ((2, {sc.WORKFLOW_ID: "w" * 120_000}), (3, {sc.PREFIX + "recorded-at": "9999-99-99"}),
                             (4, {sc.PREFIX + "release-number": "-1e309"})):
        sc.annotate_quickly(ns, by_revision[revision], damage)
    listed = ns.plugin_json("history", "deployment/web", "--any-workflow")
    assert {r["revision"]: r["status"] for r in listed["revisions"]} == {
        1: "Succeeded", 2: "Unknown", 3: "Unknown", 4: "Unknown", 5: "Failed"}
    assert listed["rollbackTarget"] == 1
    proc = ns.plugin("rollback", "deployment/web", "--any-workflow")
    assert proc.returncode == 0, proc.stderr
    assert sc.live_image(ns) == "example.test/web:1"


def test_kubectl_habits_are_taken_or_refused_naming_kubectls_spelling(ns):
    deploy(ns, "1", "wf1", "Succeeded")
    deploy(ns, "2", "wf1", "Failed")
    two_words = ns.plugin("history", "deploy", "web")
    assert two_words.returncode == 0 and "deployment/web in namespace" in two_words.stdout, two_words.stderr
    for printer, said in (("name", "kubectl's -o name is not offered here"),
                          ("jsonpath={.revisions[0].revision}", "kubectl's -o jsonpath=... is not offered here")):
        refused = ns.plugin("history", "deployment/web", "-o", printer)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    for timeout in ("0", "500ms", "1m30s"):
        proc = ns.plugin("history", "deployment/web", "--request-timeout", timeout)
        assert proc.returncode == 0, (timeout, proc.stderr)
    short = ns.plugin("history", "deployment/web", "--request-timeout", "1ms")  # taken; loopback may answer in time
    assert short.returncode == 0 or (short.returncode == 1 and len(short.stderr.strip().splitlines()) == 1), short
    assert "Traceback" not in short.stderr
    forced = ns.plugin("rollback", "deployment/web", "--force")
    assert forced.returncode == 2 and "pass --to-revision N with it" in forced.stderr, forced.stderr
    spaced = ns.plugin("rollback", "deployment", "web", "--dry-run", "server")
    assert spaced.returncode == 0 and "(server dry run)" in spaced.stdout, spaced.stderr
    failed = ns.plugin("rollback", "deployment/web", "--to-revision", "2")
    assert failed.returncode == 2 and "recorded Failed; pass --force" in failed.stderr, failed.stderr
    zero = ns.plugin("rollback", "deployment/web", "--to-revision", "0")
    assert zero.returncode == 0, zero.stderr
    assert "--to-revision 0: rolling back to the rollback target" in zero.stderr
    assert "to revision 1 (Succeeded" in zero.stdout and sc.live_image(ns) == "example.test/web:1"
