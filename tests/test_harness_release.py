"""--harness-release against the real control plane and kubectl, with Harness's history in the bytes Harness writes
(tests/harness_fixtures.py): legacy (plain / gzip ConfigMap / gzip Secret), Secret R beside a stale ConfigMap R,
declarative releases (alone, and after legacy with the ConfigMap frozen), Blue/Green, custom workloads only, and
workload names a YAML 1.1 reader would mangle; Harness's skip rule (newest release Succeeded), its fall-back to the
legacy history, and its book-keeping after our rollback, which keeps its next `rollout undo --to-revision` working."""

from __future__ import annotations

import base64
import json

import pytest

from tests import harness_fixtures as hf
from tests import manifests
from tests import scenarios as sc
from tests.scenarios import ARGO, bluegreen_objects, create_owner, deploy_three_revisions, ready_endpoint_ips, selectors


def image(ns, name):
    return ns.get("deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]


def versions(ns, *objects):
    """resourceVersion of each (kind, name): equal before and after means nothing wrote the object."""
    return [ns.get(kind, name)["metadata"]["resourceVersion"] for kind, name in objects]


def legacy_releases(ns, name, revisions=("3", "2", "1")):
    return [hf.release_entry(3, "Failed", [hf.workload_entry("Deployment", name, ns.name, revisions[0])]),
            hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", name, ns.name, revisions[1])]),
            hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", name, ns.name, revisions[2])])]


@pytest.mark.parametrize("kind, compressed, name", [("ConfigMap", None, "on"), ("ConfigMap", "gzip", "0123"),
                                                    ("Secret", "gzip", "yes"), ("Secret", None, "null")],
                         ids=["plain-configmap", "gzip-configmap", "gzip-secret", "plain-secret"])
def test_legacy_history_in_harness_bytes(ns, kind, compressed, name):
    deploy_three_revisions(ns, name)
    ns.apply(json.dumps(hf.history_object(kind, "rel", legacy_releases(ns, name), compressed)))
    before = versions(ns, (kind.lower(), "rel"))

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert listed["source"] == f'{kind} "rel"' and listed["warnings"] == []
    assert [(r["number"], r["status"]) for r in listed["releases"]] == [(3, "Failed"), (2, "Succeeded"),
                                                                         (1, "Succeeded")]
    assert listed["releases"][1]["workloads"] == [
        {"kind": "Deployment", "name": name, "namespace": ns.name, "revision": 2, "custom": False}]
    assert listed["target"] == 2

    dry = ns.plugin("rollback", "--harness-release", "rel", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert image(ns, name) == f"example.test/{name}:3-broken"
    assert versions(ns, (kind.lower(), "rel")) == before  # the dry run wrote nothing
    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 0, proc.stderr
    assert image(ns, name) == f"example.test/{name}:2"
    # Harness's book-keeping: release 2 names the revision the rollback gave its ReplicaSet (release 3 was Failed)
    restored = sc.revision_of(sc.rs_by_image(ns, name)[f"example.test/{name}:2"])
    assert restored > 3 and stored_revisions(ns) == [(3, "Failed", [3]), (2, "Succeeded", [restored]),
                                                     (1, "Succeeded", [1])]
    assert f"{kind.lower()}/rel: history: release 2 deployment/{name} revision 2 -> {restored}" in proc.stdout


def stored_revisions(ns, name="rel"):
    """(number, status, [revision of each workload]) of each release Harness's history holds now."""
    listed = ns.plugin_json("history", "--harness-release", name)
    return [(r["number"], r["status"], [w["revision"] for w in r["workloads"]]) for r in listed["releases"]]


def test_after_our_rollback_the_rollout_undo_harness_runs_next_succeeds(ns):
    """Harness's stored history, booked by our rollback, still names revisions that exist: the next `kubectl rollout
    undo --to-revision=R` Harness runs for release 2 works (before, R was the number the undo had renumbered)."""
    deploy_three_revisions(ns)
    history = hf.history_object("ConfigMap", "rel", [
        hf.release_entry(3, "InProgress", [hf.workload_entry("Deployment", "web", ns.name, "3")]),
        hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "2")])])
    history["metadata"]["labels"] = {"harness.io/owned": "yes"}
    ns.apply(json.dumps(history))
    before = ns.get("configmap", "rel")

    dry = ns.plugin("rollback", "--harness-release", "rel", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert ("configmap/rel: history: release 3 would be marked Failed; release 2 would get the revisions the "
            "rollback gives its workloads") in dry.stdout
    assert ns.get("configmap", "rel")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    ns.plugin("rollback", "--harness-release", "rel", check=True)
    after = ns.get("configmap", "rel")
    stored = stored_revisions(ns)
    assert stored[0] == (3, "Failed", [3]) and stored[1][:2] == (2, "Succeeded")
    # every other byte of Harness's object as it was: its other key, its labels
    assert after["data"][hf.FLAG_KEY] == before["data"][hf.FLAG_KEY] == "true"
    assert after["metadata"]["labels"] == before["metadata"]["labels"]

    ns.apply(manifests.deployment("web", "example.test/web:4-broken"))  # Harness's next deploy fails too
    ns.wait_until(lambda: "example.test/web:4-broken" in sc.rs_by_image(ns, "web"), "the ReplicaSet of web:4-broken")
    undo = ns.kubectl("rollout", "undo", "deployment/web", f"--to-revision={stored[1][2][0]}", check=False)
    assert undo.returncode == 0, undo.stderr
    assert image(ns, "web") == "example.test/web:2"


def test_harness_next_rollout_undo_does_not_poison_the_workload_with_our_audit(ns):
    """`kubectl rollout undo` copies the restored ReplicaSet's annotations, our audit included, onto the Deployment,
    whose controller copies them onto every later ReplicaSet. The audit names the ReplicaSet it was written on, so:
    the workload is not refused, a later revision shows no rollback it never had, and the audit stays on its own."""
    deploy_three_revisions(ns)
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", [
        hf.release_entry(3, "InProgress", [hf.workload_entry("Deployment", "web", ns.name, "3")]),
        hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "2")])])))
    ns.plugin("rollback", "--harness-release", "rel", check=True)
    restored = stored_revisions(ns)[1][2][0]
    ns.apply(manifests.deployment("web", "example.test/web:4-broken"))  # Harness's next deploy fails
    ns.wait_until(lambda: "example.test/web:4-broken" in sc.rs_by_image(ns, "web"), "the ReplicaSet of web:4-broken")
    ns.kubectl("rollout", "undo", "deployment/web", f"--to-revision={restored}")  # Harness's own rollback
    ns.wait_until(lambda: image(ns, "web") == "example.test/web:2", "the undo")
    ns.apply(manifests.deployment("web", "example.test/web:5"))
    ns.rollout_status("deployment/web")

    shown = ns.plugin("history", "deployment/web", "-o", "json")
    assert shown.returncode == 0 and "carries harness.io/rolled-back" not in shown.stderr, shown.stderr
    revisions = {r["name"]: r for r in json.loads(shown.stdout)["revisions"]}
    by_image = sc.rs_by_image(ns, "web")
    assert revisions[by_image["example.test/web:5"]["metadata"]["name"]]["rolledBackFrom"] is None
    assert revisions[by_image["example.test/web:2"]["metadata"]["name"]]["rolledBackFrom"] == 3
    dry = ns.plugin("rollback", "deployment/web", "--to-revision",
                    str(sc.revision_of(by_image["example.test/web:2"])), "--force", "--dry-run")
    assert dry.returncode == 0 and "refusing to write" not in dry.stderr, dry.stdout + dry.stderr
    # the next rollback takes the copy off the Deployment in its template write; the audit stays on its own object
    ns.plugin("rollback", "deployment/web", "--to-revision", str(sc.revision_of(by_image["example.test/web:2"])),
              "--force", check=True)
    assert not {k for k in ns.get("deployment", "web")["metadata"].get("annotations", {}) if "rolled-back" in k}
    target = sc.rs_by_image(ns, "web")["example.test/web:2"]["metadata"]
    assert target["annotations"]["harness.io/rolled-back-on"] == target["name"]


def test_a_newest_release_that_succeeded_is_not_rolled_back_unless_asked_for(ns):
    for tag in ("1", "2", "3"):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        ns.rollout_status("deployment/web")
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", [
        hf.release_entry(n, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, str(n))]) for n in (3, 2, 1)
    ])))
    before = versions(ns, ("deployment", "web"), ("configmap", "rel"))

    assert ns.plugin_json("history", "--harness-release", "rel")["target"] is None
    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and '"No failed release found"' in lines[0] and "--release-number 3 or --force" in lines[0]
    assert versions(ns, ("deployment", "web"), ("configmap", "rel")) == before
    assert image(ns, "web") == "example.test/web:3"

    proc = ns.plugin("rollback", "--harness-release", "rel", "--release-number", "3")
    assert proc.returncode == 0, proc.stderr
    assert image(ns, "web") == "example.test/web:2"
    assert [status for _, status, _ in stored_revisions(ns)] == ["Failed", "Succeeded", "Succeeded"]


@pytest.mark.parametrize("declarative_status", ["Failed", "InProgress"])
def test_no_succeeded_release_secret_falls_back_to_the_legacy_history(ns, declarative_status):
    """Harness's migration rule: release Secrets exist but none Succeeded, so it rolls back from the legacy history
    (ConfigMap R, releases 1-2 from before the switch) and marks the declarative release Failed."""
    deploy_three_revisions(ns)
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", legacy_releases(ns, "web")[1:])))
    ns.apply(json.dumps(hf.release_secret("rel", 3, declarative_status, stored("3-broken", "bad", "s3cret-bad"))))

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert listed["source"] == 'ConfigMap "rel" and declarative release Secrets "harness.release.rel.<n>"'
    assert listed["sourceReason"].startswith('no declarative release Secret Succeeded, so Harness falls back to '
                                             'ConfigMap "rel" (its legacy history)')
    assert (listed["current"], listed["target"], listed["warnings"]) == (3, 2, [])
    table = ns.plugin("history", "--harness-release", "rel", check=True).stdout
    assert "no declarative release Secret Succeeded, so Harness falls back" in table.splitlines()[0]

    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert image(ns, "web") == "example.test/web:2"
    secret = ns.get("secret", "harness.release.rel.3")
    assert secret["metadata"]["labels"]["status"] == "Failed"
    restored = sc.revision_of(sc.rs_by_image(ns, "web")["example.test/web:2"])
    assert stored_revisions(ns)[1:] == [(2, "Succeeded", [restored]), (1, "Succeeded", [1])]


def test_secret_r_is_used_and_configmap_r_beside_it_is_stale(ns):
    deploy_three_revisions(ns)
    ns.apply(json.dumps(hf.history_object("Secret", "rel", legacy_releases(ns, "web"))))
    stale = legacy_releases(ns, "web", ("2", "1", "1"))[1:]  # releases 1-2: an older copy pointing at revision 1
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", stale)))

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert listed["source"] == 'Secret "rel"' and listed["target"] == 2
    assert listed["warnings"] == ['ConfigMap "rel" holds releases 1-2 left beside Secret "rel", which Harness reads '
                                  'first; ignored']
    table = ns.plugin("history", "--harness-release", "rel")
    assert 'ConfigMap "rel" holds releases 1-2' in table.stderr and 'Secret "rel" in namespace' in table.stdout
    ns.plugin("rollback", "--harness-release", "rel", check=True)
    assert image(ns, "web") == "example.test/web:2"


# -- declarative releases ------------------------------------------------------------------------------------------


def stored(tag, mode, password):
    """The rendered manifests of one declarative release: a Deployment, a ConfigMap and a Secret."""
    return [json.loads(manifests.deployment("web", f"example.test/web:{tag}")),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"mode": mode}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret"}, "type": "Opaque",
             "data": {"password": base64.b64encode(password.encode()).decode()}}]


@pytest.mark.parametrize("after_legacy", [False, True], ids=["declarative-only", "declarative-after-legacy"])
def test_declarative_rollback_re_applies_the_target_release(ns, after_legacy):
    if after_legacy:  # releases 1-2 were legacy; Harness left ConfigMap R frozen when the release went declarative
        ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", legacy_releases(ns, "web")[1:])))
    ns.apply(json.dumps(hf.release_secret("rel", 3, "Succeeded", stored("3", "good", "s3cret-good"))))
    ns.apply(json.dumps(hf.release_secret("rel", 4, "Failed", stored("4-broken", "bad", "s3cret-bad"))))
    for manifest in stored("4-broken", "bad", "s3cret-bad"):  # what release 4 applied
        ns.apply(json.dumps(manifest))
    harness_objects = [("secret", "harness.release.rel.3"), ("secret", "harness.release.rel.4")]
    harness_objects += [("configmap", "rel")] if after_legacy else []
    live = [("deployment", "web"), ("configmap", "web-config"), ("secret", "web-secret")]
    before = versions(ns, *harness_objects, *live)

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert listed["source"] == 'declarative release Secrets "harness.release.rel.<n>"'
    assert [(r["number"], r["status"]) for r in listed["releases"]] == [(4, "Failed"), (3, "Succeeded")]
    assert listed["releases"][1]["workloads"] == [
        {"kind": "Deployment", "name": "web", "namespace": None, "revision": None, "custom": False}]
    assert listed["target"] == 3
    assert listed["warnings"] == (['ConfigMap "rel" holds releases 1-2 from before the switch to declarative '
                                   'rollback; ignored'] if after_legacy else [])

    dry = ns.plugin("rollback", "--harness-release", "rel", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "-      - image: example.test/web:4-broken\n+      - image: example.test/web:3\n" in dry.stdout
    assert "-  mode: bad\n+  mode: good" in dry.stdout and "password: <hidden, changed>" in dry.stdout
    secret_values = ("s3cret", base64.b64encode(b"s3cret-good").decode(), base64.b64encode(b"s3cret-bad").decode())
    assert not any(value in dry.stdout + dry.stderr for value in secret_values)
    assert versions(ns, *harness_objects, *live) == before  # the dry run changed nothing
    server = ns.plugin("rollback", "--harness-release", "rel", "--dry-run=server")
    assert server.returncode == 0, server.stderr
    assert "-      - image: example.test/web:4-broken\n+      - image: example.test/web:3\n" in server.stdout
    assert "deployment/web: would roll back: would be configured" in server.stdout
    assert not any(value in server.stdout + server.stderr for value in secret_values)
    assert versions(ns, *harness_objects, *live) == before

    proc = ns.plugin("rollback", "--harness-release", "rel", "--wait", "--timeout", "120s")
    assert proc.returncode == 0, proc.stderr
    assert "; rolled out" in proc.stdout, proc.stdout
    for line in ("deployment/web: rolled back: configured (server-side apply",
                 "configmap/web-config: rolled back: configured", "secret/web-secret: rolled back: configured"):
        assert line in proc.stdout, proc.stdout
    assert not any(value in proc.stdout + proc.stderr for value in secret_values)
    assert image(ns, "web") == "example.test/web:3"
    assert ns.get("configmap", "web-config")["data"] == {"mode": "good"}
    assert base64.b64decode(ns.get("secret", "web-secret")["data"]["password"]) == b"s3cret-good"
    assert versions(ns, *harness_objects) == before[:len(harness_objects)]  # release 4 was Failed: nothing to book


def tracked(manifest_list, ns, app):
    """The manifests with Argo CD's tracking annotation on the Deployment, as Argo CD's sync leaves it."""
    for manifest in manifest_list:
        if manifest["kind"] == "Deployment":
            manifest["metadata"]["annotations"] = {
                "argocd.argoproj.io/tracking-id": f"{app}:apps/Deployment:{ns.name}/web"}
    return manifest_list


def test_declarative_rollback_of_an_argo_cd_owned_release_is_refused_or_paused(ns, gitops_crds):  # noqa: F811
    """An Argo CD Application with self-heal on would undo the re-apply: refused (exit 1, nothing changed, the dry
    run too) as every other rollback is, and rolled back with the Application paused under --gitops=pause."""
    app_path = create_owner(ns, ARGO, "shop-on", {"syncPolicy": {"automated": {"selfHeal": True}}})
    ns.apply(json.dumps(hf.release_secret("rel", 2, "Succeeded", tracked(stored("2", "good", "pw-2"), ns, "shop-on"))))
    ns.apply(json.dumps(hf.release_secret("rel", 3, "InProgress",
                                          tracked(stored("3-broken", "bad", "pw-3"), ns, "shop-on"))))
    for manifest in tracked(stored("3-broken", "bad", "pw-3"), ns, "shop-on"):
        ns.apply(json.dumps(manifest))
    objects = [("deployment", "web"), ("configmap", "web-config"), ("secret", "web-secret"),
               ("secret", "harness.release.rel.2"), ("secret", "harness.release.rel.3")]
    before = versions(ns, *objects) + [ns.cluster.api.get(app_path)["metadata"]["resourceVersion"]]

    for dry in ((), ("--dry-run",)):
        proc = ns.plugin("rollback", "--harness-release", "rel", "--argocd-namespace", ns.name, *dry)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"Argo CD Application {ns.name}/shop-on" in lines[0], proc.stderr
        assert "deployment/web" in lines[0] and "--gitops=pause" in lines[0]
        assert versions(ns, *objects) + [ns.cluster.api.get(app_path)["metadata"]["resourceVersion"]] == before

    proc = ns.plugin("rollback", "--harness-release", "rel", "--argocd-namespace", ns.name, "--gitops=pause",
                     "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert ns.cluster.api.get(app_path)["spec"]["syncPolicy"]["automated"] == {"selfHeal": False}
    assert image(ns, "web") == "example.test/web:2"
    result = json.loads(proc.stdout)
    gitops = {r["workload"]: r["gitops"] for r in result["results"]}
    assert gitops["deployment/web"]["action"] == "paused" and gitops["configmap/web-config"] is None


def test_a_release_number_newer_than_the_history_is_not_a_rollback_past_the_live_release(ns):
    """--release-number 4 over [3 Succeeded, 2 Succeeded]: as Harness picks it (§4.2 step 4), the newest Succeeded
    release older than 4 is release 3, the live one: nothing to roll back (exit 3), nothing written; never release 2
    with release 3 marked Failed."""
    for tag in ("1", "2", "3"):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        ns.rollout_status("deployment/web")
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel-web", [
        hf.release_entry(n, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, str(n))]) for n in (3, 2)
    ])))
    before = versions(ns, ("deployment", "web"), ("configmap", "rel-web"))
    for number, dry in (("4", ("--dry-run",)), ("4", ()), ("99", ())):
        proc = ns.plugin("rollback", "--harness-release", "rel-web", "--release-number", number, *dry)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"release {number} is not in the history" in lines[0], proc.stderr
        assert "release 3" in lines[0] and "would be marked Failed" not in proc.stdout
        assert versions(ns, ("deployment", "web"), ("configmap", "rel-web")) == before
    assert image(ns, "web") == "example.test/web:3"


def test_a_workload_in_another_namespace_is_shown_with_its_namespace(ns):
    """A legacy release of the history in namespace NS whose workload lives in namespace OTHER: the plan and the
    outcome say OTHER/deployment/web, never a bare deployment/web that reads as NS's."""
    with ns.cluster.namespace(f"{ns.name}-m3") as other:
        deploy_three_revisions(other)
        ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", [
            hf.release_entry(3, "InProgress", [hf.workload_entry("Deployment", "web", other.name, "3")]),
            hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", other.name, "2")])])))
        shown = ns.plugin("history", "--harness-release", "rel", check=True)
        assert f"{other.name}/deployment/web@2" in shown.stdout, shown.stdout
        proc = ns.plugin("rollback", "--harness-release", "rel")
        assert proc.returncode == 0, proc.stderr
        assert f"{other.name}/deployment/web: rolled back" in proc.stdout, proc.stdout
        assert image(other, "web") == "example.test/web:2"


# -- Blue/Green ------------------------------------------------------------------------------------------------


def test_blue_green_history_rolls_back_as_the_selector_swap(ns):
    for manifest in bluegreen_objects("shop"):  # green live on the primary (the swap ran), blue behind the stage
        ns.apply(manifest)
    ns.wait_until(lambda: ready_endpoint_ips(ns, "shop-stage"), "blue ready behind the stage Service", timeout=180)
    releases = [hf.single_workload_release_entry(2, "Failed", "Deployment", "shop-green", ns.name, "1"),
                hf.single_workload_release_entry(1, "Succeeded", "Deployment", "shop-blue", ns.name, "1")]
    releases[0]["bgEnvironment"], releases[1]["bgEnvironment"] = "stage", "primary"
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", releases)))
    workloads = versions(ns, ("deployment", "shop-blue"), ("deployment", "shop-green"), ("configmap", "rel"))

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert [r["bgEnvironment"] for r in listed["releases"]] == ["stage", "primary"] and listed["target"] == 1
    dry = ns.plugin("rollback", "--harness-release", "rel", "--dry-run")
    assert dry.returncode == 0
    assert "service/shop: would roll back: service/shop would be routed from green to blue" in dry.stdout
    assert selectors(ns, "shop") == ("green", "blue")
    ns.plugin("rollback", "--harness-release", "rel", check=True)
    assert selectors(ns, "shop") == ("blue", "green")
    assert versions(ns, ("deployment", "shop-blue"), ("deployment", "shop-green"), ("configmap", "rel")) == workloads
    again = ns.plugin("rollback", "--harness-release", "rel", check=True)
    assert "service/shop: nothing to do" in again.stdout  # routed to the target colour already


# -- custom workloads ----------------------------------------------------------------------------------------------

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "harnesswidgets.example.test"},
    "spec": {"group": "example.test", "scope": "Namespaced",
             "names": {"kind": "HarnessWidget", "plural": "harnesswidgets", "singular": "harnesswidget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def widget(size):
    return {"apiVersion": "example.test/v1", "kind": "HarnessWidget",
            "metadata": {"name": "gadget", "annotations": {"harness.io/managed-workload": "true"}},
            "spec": {"size": size}}


def test_a_release_of_custom_workloads_only_re_applies_their_stored_spec(ns):
    ns.cluster.run("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    ns.cluster.run("wait", "--for=condition=established", "crd/harnesswidgets.example.test", "--timeout=60s")
    ns.wait_until(lambda: ns.kubectl("apply", "-f", "-", input=json.dumps(widget(5)), check=False).returncode == 0,
                  "the custom resource to be served")
    releases = [dict(hf.release_entry(2, "Failed"), customWorkloads=[hf.custom_workload_entry(widget(5))]),
                dict(hf.release_entry(1, "Succeeded"), customWorkloads=[hf.custom_workload_entry(widget(2))])]
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", releases)))

    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert listed["problem"] is None and listed["target"] == 1
    assert listed["releases"][1]["workloads"] == [
        {"kind": "HarnessWidget", "name": "gadget", "namespace": None, "revision": None, "custom": True}]
    dry = ns.plugin("rollback", "--harness-release", "rel", "--dry-run")
    assert dry.returncode == 0 and "-  size: 5\n+  size: 2" in dry.stdout, dry.stdout + dry.stderr
    assert ns.get("harnesswidget", "gadget")["spec"] == {"size": 5}
    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 0 and "harnesswidget/gadget: rolled back: configured" in proc.stdout, proc.stderr
    assert ns.get("harnesswidget", "gadget")["spec"] == {"size": 2}
