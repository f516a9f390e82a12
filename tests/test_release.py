"""Whole releases (--release-name, --all) and Harness's own release history (--harness-release)."""

import json

import pytest

from tests import harness_fixtures as hf
from tests import manifests
from tests import scenarios as sc


def deploy_release(ns, tag, status):
    """One pipeline run of release r1: a Deployment, a StatefulSet and a DaemonSet."""
    made = {"deployment/web": manifests.deployment("web", f"example.test/web:{tag}"),
            "statefulset/db": manifests.statefulset("db", f"example.test/db:{tag}"),
            "daemonset/agent": manifests.daemonset("agent", f"example.test/agent:{tag}")}
    for workload, manifest in made.items():
        sc.deploy_and_record(ns, workload, sc.labelled(manifest, sc.RELEASE), status, *sc.IDENTITY)


def images(ns):
    return {kind: sc.live_image(ns, kind, name)
            for kind, name in (("deployment", "web"), ("statefulset", "db"), ("daemonset", "agent"))}


@pytest.fixture
def release(ns):
    ns.apply(manifests.deployment("other", "example.test/other:1"))  # not in the release
    deploy_release(ns, "1", "Succeeded")
    deploy_release(ns, "2-broken", "Failed")
    return ns


def test_release_rolls_back_every_workload(release):
    ns = release
    plan = ns.plugin_json("history", "--release-name", "r1")
    assert sorted(w["workload"] for w in plan["workloads"]) == ["daemonset/agent", "deployment/web", "statefulset/db"]
    assert {w["workload"]: w["rollbackTarget"] for w in plan["workloads"]} == {
        "deployment/web": 1, "statefulset/db": 1, "daemonset/agent": 1}
    everything = ns.plugin_json("history", "--all")
    assert "deployment/other" in [w["workload"] for w in everything["workloads"]]

    proc = ns.plugin("rollback", "--release-name", "r1")
    assert proc.returncode == 0, proc.stderr
    assert "3 workloads: 3 rolled back, 0 nothing to do, 0 no target, 0 failed" in proc.stdout
    assert proc.stdout.index("WORKLOAD") < proc.stdout.index("rolled back from")  # the plan comes first
    assert images(ns) == {"deployment": "example.test/web:1", "statefulset": "example.test/db:1",
                          "daemonset": "example.test/agent:1"}
    again = ns.plugin_json("rollback", "--release-name", "r1")
    assert again["summary"]["nothing to do"] == 3


def test_a_dry_run_says_would_and_counts_as_the_real_run(release):
    ns = release
    ns.plugin("rollback", "daemonset/agent", check=True)  # the release's agent needs nothing any more
    # web's canary, in the release too: deleted with web's rollback, not a workload of its own
    ns.apply(sc.labelled(manifests.canary("web", "example.test/web:2-canary"), sc.RELEASE))
    for mode, said in (("client", "(dry run)"), ("server", "(server dry run)")):
        dry = ns.plugin("rollback", "--release-name", "r1", f"--dry-run={mode}")
        assert dry.returncode == 0, dry.stderr
        assert f"3 workloads: 2 would roll back, 1 nothing to do, 0 no target, 0 failed {said}" in dry.stdout
        assert "deployment/web: would roll back: deployment/web would be rolled back from revision 2" in dry.stdout
        assert "daemonset/agent: nothing to do: " in dry.stdout and ": rolled back:" not in dry.stdout
        assert "\n  deployment/web-canary would be deleted (canary)\n" in dry.stdout, dry.stdout
        data = ns.plugin_json("rollback", "--release-name", "r1", f"--dry-run={mode}")
        assert data["dryRun"] == mode and {r["dryRun"] for r in data["results"]} == {mode}
        assert data["summary"] == {"rolled back": 2, "nothing to do": 1, "no target": 0, "blocked": 0,
                                   "failed": 0}
    assert images(ns)["deployment"] == "example.test/web:2-broken"
    real = ns.plugin_json("rollback", "--release-name", "r1")
    assert real["dryRun"] == "none" and real["summary"] == data["summary"]
    assert [r["canaries"] for r in real["results"] if r["workload"] == "deployment/web"] == [["deployment/web-canary"]]


def test_one_workload_failing_does_not_stop_the_others(release, cluster):
    ns = release
    ns.kubectl("create", "role", "no-ds-patch", "--verb=get,list,patch",
               "--resource=deployments,statefulsets,replicasets,controllerrevisions")
    ns.kubectl("create", "role", "ds-read", "--verb=get,list", "--resource=daemonsets")
    ns.kubectl("create", "role", "events", "--verb=create", "--resource=events")
    for role in ("no-ds-patch", "ds-read", "events"):
        ns.kubectl("create", "rolebinding", role, f"--role={role}", "--user=limited")
    env = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)

    def every_binding_in_effect():  # each takes a moment to reach the authorizer; one in effect says nothing of another
        grants = (("patch", "deployments"), ("get", "daemonsets"), ("create", "events"))
        return all(ns.kubectl("auth", "can-i", verb, resource, env=env, check=False).stdout.strip() == "yes"
                   for verb, resource in grants)

    ns.wait_until(every_binding_in_effect, "the three RoleBindings to be in effect")
    proc = ns.plugin("rollback", "--release-name", "r1", "-o", "json", env=env)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    outcomes = {r["workload"]: r["outcome"] for r in result["results"]}
    assert outcomes == {"deployment/web": "rolled back", "statefulset/db": "rolled back", "daemonset/agent": "failed"}
    failed = next(r for r in result["results"] if r["outcome"] == "failed")
    assert 'cannot patch resource "daemonsets"' in failed["message"]
    assert images(ns)["daemonset"] == "example.test/agent:2-broken"
    assert images(ns)["deployment"] == "example.test/web:1"


def test_unknown_release_exits_1(ns):
    # exit 1 as a missing workload or Harness release is (issue 32: both release flags agree), not 3 (no target)
    proc = ns.plugin("rollback", "--release-name", "nope")
    assert proc.returncode == 1 and "harness.io/release-name=nope" in proc.stderr


@pytest.mark.parametrize("compressed, secret", [(None, False), ("zlib", False), ("gzip", True), (None, True)])
def test_harness_release_history_rolls_back_to_the_recorded_revision(ns, compressed, secret):
    sc.deploy_three_revisions(ns)
    releases = [
        hf.release_entry(3, "Failed", [hf.workload_entry("Deployment", "web", ns.name, "3")]),
        hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "2")]),
        hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "1")]),
    ]
    data = hf.build_history_data(releases, compressed, secret)
    kind = "Secret" if secret else "ConfigMap"
    ns.apply(json.dumps({"apiVersion": "v1", "kind": kind, "metadata": {"name": "release-abc"}, "data": data}))
    before = ns.get(kind.lower(), "release-abc")["metadata"]["resourceVersion"]

    listed = ns.plugin_json("history", "--harness-release", "release-abc")
    assert [r["number"] for r in listed["releases"]] == [3, 2, 1]
    assert (listed["current"], listed["target"]) == (3, 2)
    table = ns.plugin("history", "--harness-release", "release-abc", check=True).stdout
    assert "deployment/web@2" in table and "rollback target" in table

    proc = ns.plugin("rollback", "--harness-release", "release-abc")
    assert proc.returncode == 0, proc.stderr
    assert sc.live_image(ns) == "example.test/web:2"
    # Harness's book-keeping (docs/releases.md): release 2 now names the number the rollback gave its revision
    assert ns.get(kind.lower(), "release-abc")["metadata"]["resourceVersion"] != before
    restored = sc.revision_of(sc.rs_by_image(ns, "web")["example.test/web:2"])
    listed = ns.plugin_json("history", "--harness-release", "release-abc")
    assert [(r["number"], [w["revision"] for w in r["workloads"]]) for r in listed["releases"]] == [
        (3, [3]), (2, [restored]), (1, [1])]


def test_harness_release_with_a_pruned_revision_is_reported(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.rollout_status("deployment/web")
    releases = [
        hf.release_entry(9, "Failed", [hf.workload_entry("Deployment", "web", ns.name, "9")]),
        hf.release_entry(8, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "7")]),
    ]
    data = hf.build_history_data(releases, None, False)
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rel"}, "data": data}))
    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 3
    assert "revision 7 is not in the history" in proc.stdout and "pruned" in proc.stdout


def test_corrupt_harness_history_is_one_line(ns):
    data = {hf.HISTORY_KEY: "releases: [unclosed", hf.FLAG_KEY: "false"}
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": data}))
    proc = ns.plugin("history", "--harness-release", "bad")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'ConfigMap "bad"' in lines[0] and "releaseHistory" in lines[0], proc.stderr
    missing = ns.plugin("history", "--harness-release", "absent")
    assert missing.returncode == 1 and 'no ConfigMap or Secret named "absent"' in missing.stderr
