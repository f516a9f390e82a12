"""A dry run changes nothing: for every kind of rollback target and both --dry-run modes, every object of every
resource type the plugin reads or writes in the namespace keeps its uid and resourceVersion, and none appears or
disappears. Each scenario is one a real rollback would write in as many ways as it can (template, canary delete,
config restore, selector swap, server-side apply), and is at rest before the first snapshot, so that only the
plugin could change anything. Then the dry run is held to what the real run does (`predicts`): it names the
objects that the run writes, no more and no fewer."""

from __future__ import annotations

import base64
import json
from typing import Callable, Dict, Tuple

import pytest

from tests import harness_fixtures as hf
from tests import manifests
from tests import scenarios as sc

# Every resource type a rollback reads or writes (the GitOps owners are not installed on the test cluster).
AUDITED = ("/apis/apps/v1/namespaces/{ns}/deployments", "/apis/apps/v1/namespaces/{ns}/replicasets",
           "/apis/apps/v1/namespaces/{ns}/statefulsets", "/apis/apps/v1/namespaces/{ns}/daemonsets",
           "/apis/apps/v1/namespaces/{ns}/controllerrevisions", "/api/v1/namespaces/{ns}/services",
           "/api/v1/namespaces/{ns}/configmaps", "/api/v1/namespaces/{ns}/secrets",
           "/api/v1/namespaces/{ns}/events")

Snapshot = Dict[Tuple[str, str], Tuple[str, str]]


def snapshot(ns, owners: Tuple[str, ...] = ()) -> Snapshot:
    """(kind, name) -> (uid, resourceVersion) of every audited object in the namespace, and of each object at a path
    in `owners`."""
    found = {}
    for path in owners:
        meta = ns.cluster.api.get(path)["metadata"]
        found[("owner", path)] = (meta["uid"], meta["resourceVersion"])
    for path in AUDITED:
        listed = ns.cluster.api.get(path.format(ns=ns.name))
        kind = listed["kind"].removesuffix("List")
        for obj in listed["items"]:
            meta = obj["metadata"]
            found[(kind, meta["name"])] = (meta["uid"], meta["resourceVersion"])
    return found


def audit(ns, *target: str, owners: Tuple[str, ...] = ()) -> Dict[str, str]:
    """Run `rollback TARGET --dry-run=MODE` in both modes; each must succeed and leave every object (and each GitOps
    owner at the paths `owners`) as it was. Returns what each mode printed (stdout, then stderr)."""
    before = snapshot(ns, owners)
    printed = {}
    for mode in ("client", "server"):
        proc = ns.plugin("rollback", *target, f"--dry-run={mode}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        after = snapshot(ns, owners)
        changed = {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()
                   if before.get(key) != after.get(key)}
        assert changed == {}, f"--dry-run={mode} changed {changed}\n{proc.stdout}"
        printed[mode] = proc.stdout + proc.stderr
    return printed


# The objects a rollback's -o json names as written (or, in a dry run, to be written); the revision objects'
# book-keeping (audit annotations), its Event and the pods the controllers replace are not named there, so the
# comparison leaves them out.
NAMED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "Secret")
WRITTEN_CONFIG = ("update", "recreate")


def named(document: dict) -> set:
    """kind/name (lower case) of every object a rollback's document says it writes: the workload (or each one of
    a release that is rolled back), its canaries and the config it restores, a Blue/Green pair's Services, and
    the objects of Harness's book-keeping."""
    if "stageService" in document:  # Blue/Green: both selectors switch
        return {document["service"], document["stageService"]}
    outcomes = document["results"] if "results" in document else [dict(document, outcome="rolled back")]
    found = set()
    for outcome in outcomes:
        if outcome["outcome"] != "rolled back":
            continue
        found |= {outcome["workload"], *outcome["canaries"]}
        found |= {c["object"] for c in outcome.get("config", ()) if c["action"] in WRITTEN_CONFIG}
    found |= {h["object"] for h in document.get("history", ()) if h["changes"]}
    return {name.lower() for name in found}


def predicts(ns, *target: str) -> None:
    """Issue 21: a dry run predicts the run. In both modes, `rollback TARGET --dry-run=MODE -o json` changes
    nothing and names the objects that the real run then writes, no more and no fewer (of NAMED_KINDS: a changed
    uid or resourceVersion, or an object that appears or goes)."""
    before = snapshot(ns)
    predicted = {}
    for mode in ("client", "server"):
        predicted[mode] = named(ns.plugin_json("rollback", *target, f"--dry-run={mode}"))
        assert snapshot(ns) == before, f"--dry-run={mode} changed the cluster"
    ns.plugin_json("rollback", *target)
    after = snapshot(ns)
    written = {f"{kind}/{name}".lower() for kind, name in before.keys() | after.keys()
               if kind in NAMED_KINDS and before.get((kind, name)) != after.get((kind, name))}
    assert predicted["client"] == predicted["server"] == written, (predicted, written)


def wait_until_settled(ns, what: str, settled: Callable[[dict], bool], kind: str, name: str) -> None:
    seen = []

    def check() -> bool:
        seen[:] = [ns.get(kind, name)]
        return settled(seen[0])

    try:
        ns.wait_until(check, what, timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {seen[0].get('status')}") from None


def observed(obj: dict) -> bool:
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]


def broken_and_rolled_out(statefulset: dict) -> bool:
    """Its one pod runs the broken revision, not ready: the controller has nothing left to do."""
    status = statefulset.get("status") or {}
    return observed(statefulset) and (status.get("updatedReplicas", 0), status.get("readyReplicas", 0)) == (1, 0)


def scheduled_as_wanted(daemonset: dict) -> bool:
    """The controller has observed the broken revision and scheduled its pods where it wants them (the simulated
    node may take none): it has nothing left to do."""
    status = daemonset.get("status") or {}
    wanted = status.get("desiredNumberScheduled", 0)
    return observed(daemonset) and status.get("updatedNumberScheduled", 0) == status.get("currentNumberScheduled",
                                                                                         0) == wanted


MAKERS = {"statefulset": manifests.statefulset, "daemonset": manifests.daemonset}
SETTLED = {"statefulset": broken_and_rolled_out, "daemonset": scheduled_as_wanted}


def with_config(manifest: str, configmap: str) -> str:
    """The workload's containers read every key of `configmap` (envFrom), so `record` snapshots it."""
    obj = json.loads(manifest)
    obj["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": configmap}}]
    return json.dumps(obj)


def config(mode: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                       "data": {"mode": mode}})


def web_with_canary_and_config(ns, labels: dict = None) -> None:
    """deployment/web: revision 1 Succeeded with config mode=good, revision 2 broken and Failed with mode=bad, and
    its canary deployment/web-canary: a rollback restores the template and the config, and deletes the canary."""
    for tag, mode, status in (("1", "good", "Succeeded"), ("2-broken", "bad", "Failed")):
        ns.apply(config(mode))
        manifest = with_config(manifests.deployment("web", f"example.test/web:{tag}"), "web-config")
        sc.deploy_and_record(ns, "deployment/web", sc.labelled(manifest, labels or {}), status, *sc.IDENTITY)
    ns.apply(manifests.canary("web", "example.test/web:2-canary"))
    sc.wait_at_rest(ns, ["web", "web-canary"])


def test_deployment_dry_runs_change_nothing(ns):
    web_with_canary_and_config(ns)
    printed = audit(ns, "deployment/web")
    for mode in ("client", "server"):
        assert "deployment/web-canary would be deleted (canary)" in printed[mode], printed[mode]
        assert "config: " in printed[mode], printed[mode]
    predicts(ns, "deployment/web")


def broken_second_revision(ns, kind: str, name: str, labels: dict = None) -> None:
    """KIND/NAME: revision 1 Succeeded, revision 2 broken and Failed, its controller at rest."""
    for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
        manifest = MAKERS[kind](name, f"example.test/{name}:{tag}")
        sc.deploy_and_record(ns, f"{kind}/{name}", sc.labelled(manifest, labels or {}), status, *sc.IDENTITY)
    wait_until_settled(ns, f"{kind}/{name}'s broken revision to be rolled out", SETTLED[kind], kind, name)


@pytest.mark.parametrize("kind, name", [("statefulset", "db"), ("daemonset", "agent")])
def test_controller_revision_kinds_dry_runs_change_nothing(ns, kind, name):
    broken_second_revision(ns, kind, name)
    printed = audit(ns, f"{kind}/{name}")
    assert f"{kind}/{name} would be rolled back from revision 2" in printed["server"], printed["server"]
    predicts(ns, f"{kind}/{name}")


def test_blue_green_service_dry_runs_change_nothing(ns):
    for manifest in sc.bluegreen_objects("shop"):
        ns.apply(manifest)
    sc.settle_bluegreen(ns, ["shop"])
    sc.wait_at_rest(ns, ["shop-blue", "shop-green"])
    printed = audit(ns, "service/shop")
    assert sc.selectors(ns, "shop") == ("green", "blue")
    for mode in ("client", "server"):  # nothing moved: not "stage service/shop-stage now green"
        assert ("service/shop would be routed from green to blue (stage service/shop-stage would then select green)"
                in printed[mode]), printed[mode]
    predicts(ns, "service/shop")


def test_release_dry_runs_change_nothing(ns):
    web_with_canary_and_config(ns, sc.RELEASE)
    broken_second_revision(ns, "statefulset", "db", sc.RELEASE)
    printed = audit(ns, "--release-name", "r1")
    for mode in ("client", "server"):
        assert "deployment/web-canary would be deleted (canary)" in printed[mode], printed[mode]
    predicts(ns, "--release-name", "r1")


def test_harness_release_dry_runs_change_nothing(ns):
    sc.deploy_three_revisions(ns)
    releases = [hf.release_entry(number, status, [hf.workload_entry("Deployment", "web", ns.name, str(number))])
                for number, status in ((3, "Failed"), (2, "Succeeded"), (1, "Succeeded"))]
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", releases)))
    sc.wait_at_rest(ns, ["web"])
    audit(ns, "--harness-release", "rel")
    predicts(ns, "--harness-release", "rel")


def test_declarative_harness_release_dry_runs_change_nothing(ns):
    def stored(tag: str, mode: str, password: str) -> list:
        return [json.loads(manifests.deployment("web", f"example.test/web:{tag}")), json.loads(config(mode)),
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret"}, "type": "Opaque",
                 "data": {"password": base64.b64encode(password.encode()).decode()}}]

    ns.apply(json.dumps(hf.release_secret("rel", 3, "Succeeded", stored("3", "good", "good"))))
    ns.apply(json.dumps(hf.release_secret("rel", 4, "Failed", stored("4-broken", "bad", "bad"))))
    for manifest in stored("4-broken", "bad", "bad"):
        ns.apply(json.dumps(manifest))
    sc.wait_at_rest(ns, ["web"])
    printed = audit(ns, "--harness-release", "rel")
    assert "example.test/web:3" in printed["server"], printed["server"]
    predicts(ns, "--harness-release", "rel")


def test_config_only_dry_runs_change_nothing(ns):
    """The live template is the last good one and only its ConfigMap changed since: the real run would restore the
    ConfigMap (preflight, write, field owners) and restart the pods; the dry runs do neither."""
    manifest = with_config(manifests.deployment("web", "example.test/web:1"), "web-config")
    ns.apply(config("good"))
    sc.deploy_and_record(ns, "deployment/web", manifest, "Succeeded", *sc.IDENTITY)
    ns.apply(config("bad"))
    sc.wait_at_rest(ns, ["web"])
    printed = audit(ns, "deployment/web")
    for mode in ("client", "server"):
        assert "its config would be restored" in printed[mode] and "web-config" in printed[mode], printed[mode]



def test_gitops_pause_dry_runs_change_nothing(ns, gitops_crds):
    """--gitops=pause would turn the Argo CD Application's self-heal off before the template write: the dry runs
    leave the Application as it is too."""
    for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
        manifest = json.loads(manifests.deployment("web", f"example.test/web:{tag}"))
        manifest["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": f"shop:apps/Deployment:{ns.name}/web"}
        sc.deploy_and_record(ns, "deployment/web", json.dumps(manifest), status, *sc.IDENTITY)
    app = sc.create_owner(ns, sc.ARGO, "shop", {"syncPolicy": {"automated": {"selfHeal": True}}})
    sc.wait_at_rest(ns, ["web"])
    printed = audit(ns, "deployment/web", "--gitops=pause", "--argocd-namespace", ns.name, owners=(app,))
    for mode in ("client", "server"):
        assert f"would pause Argo CD Application {ns.name}/shop" in printed[mode], printed[mode]
        assert "after the rollback you would revert the change in Git, then run: " in printed[mode], printed[mode]
