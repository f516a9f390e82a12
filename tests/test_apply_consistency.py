"""After a rollback, the next apply of a manifest by the same means gives exactly that manifest's template
(issue 12, docs/apply-consistency.md): real kubectl, client-side and server-side apply, Deployment and StatefulSet.
kubectl's own `rollout undo` runs in the same test on a twin workload and shows the bug, so the check can fail."""

from __future__ import annotations

import json

import pytest

from tests.scenarios import IDENTITY

KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet"}
RELEASE_1 = ("registry.test/api:1", [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}])
RELEASE_2 = ("registry.test/api:2", [{"name": "A", "value": "a"}])  # drops B, recorded Failed
RELEASE_3 = ("registry.test/api:3", [{"name": "A", "value": "a"}])  # the next deploy


def manifest(kind: str, name: str, release: tuple) -> str:
    image, env = release
    spec: dict = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "app", "image": image, "env": env}],
            },
        },
    }
    if kind == "statefulset":
        spec["serviceName"] = name
    return json.dumps({"apiVersion": "apps/v1", "kind": KINDS[kind], "metadata": {"name": name}, "spec": spec})


def apply(ns, kind: str, name: str, release: tuple, server_side: bool, check: bool = True):
    args = ["apply", "--server-side"] if server_side else ["apply"]
    return ns.kubectl(*args, "-f", "-", input=manifest(kind, name, release), check=check)


def container(ns, kind: str, name: str) -> dict:
    return ns.get(kind, name)["spec"]["template"]["spec"]["containers"][0]


def deploy_and_record(ns, kind: str, name: str, release: tuple, status: str, server_side: bool) -> None:
    apply(ns, kind, name, release, server_side)
    # the workload's current revision must back the applied template before record marks it
    ns.wait_until(lambda: _observed_image(ns, kind, name) == release[0], f"{kind}/{name} to run {release[0]}")
    ns.plugin("record", f"{kind}/{name}", "--status", status, "--workflow-id", "wf", *IDENTITY, check=True)


def _observed_image(ns, kind: str, name: str) -> str:
    obj = ns.get(kind, name)
    status = obj.get("status") or {}
    if status.get("observedGeneration", 0) < obj["metadata"]["generation"]:
        return ""
    if kind == "statefulset" and status.get("updateRevision") is None:
        return ""
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("server_side", [False, True], ids=["client-side-apply", "server-side-apply"])
def test_next_apply_after_rollback_gives_the_manifest(ns, kind, server_side):
    ours, theirs = "api", "undo"
    for name in (ours, theirs):
        deploy_and_record(ns, kind, name, RELEASE_1, "Succeeded", server_side)
        deploy_and_record(ns, kind, name, RELEASE_2, "Failed", server_side)

    ns.plugin("rollback", f"{kind}/{ours}", check=True)
    ns.kubectl("rollout", "undo", f"{kind}/{theirs}")
    for name in (ours, theirs):
        assert container(ns, kind, name)["image"] == RELEASE_1[0]  # both rollbacks restored release 1

    applied_ours = apply(ns, kind, ours, RELEASE_3, server_side, check=False)
    applied_theirs = apply(ns, kind, theirs, RELEASE_3, server_side, check=False)

    assert applied_ours.returncode == 0, applied_ours.stderr
    assert "conflict" not in applied_ours.stderr
    ours_now = container(ns, kind, ours)
    assert (ours_now["image"], ours_now["env"]) == RELEASE_3  # B is gone: exactly release 3's template
    # kubectl's rollout undo, same steps: client-side apply keeps the stale B, server-side apply conflicts
    if server_side:
        assert applied_theirs.returncode != 0 and "conflict" in applied_theirs.stderr, applied_theirs.stderr
        assert container(ns, kind, theirs)["image"] == RELEASE_1[0]
    else:
        assert applied_theirs.returncode == 0, applied_theirs.stderr
        assert container(ns, kind, theirs)["env"] == RELEASE_1[1]


def test_a_workload_never_applied_keeps_no_last_applied_and_no_borrowed_owners(ns):
    """Created with `kubectl create`: the rollback adds no last-applied configuration and hands nothing to anyone."""
    ns.kubectl("create", "-f", "-", input=manifest("deployment", "plain", RELEASE_1))
    ns.wait_until(lambda: _observed_image(ns, "deployment", "plain") == RELEASE_1[0], "release 1 observed")
    ns.plugin("record", "deployment/plain", "--status", "Succeeded", "--workflow-id", "wf", *IDENTITY, check=True)
    ns.kubectl("set", "image", "deployment/plain", f"app={RELEASE_2[0]}")
    ns.wait_until(lambda: _observed_image(ns, "deployment", "plain") == RELEASE_2[0], "release 2 observed")
    ns.plugin("record", "deployment/plain", "--status", "Failed", "--workflow-id", "wf", *IDENTITY, check=True)

    ns.plugin("rollback", "deployment/plain", check=True)

    obj = json.loads(ns.kubectl("get", "deployment", "plain", "-o", "json", "--show-managed-fields").stdout)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == RELEASE_1[0]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (obj["metadata"].get("annotations") or {})
    assert not [m for m in obj["metadata"]["managedFields"] if m["operation"] == "Apply"]


def test_helm_managed_workload_gets_a_note_about_the_next_helm_upgrade(ns):
    for release, status in ((RELEASE_1, "Succeeded"), (RELEASE_2, "Failed")):
        deploy_and_record(ns, "deployment", "chart", release, status, server_side=False)
    ns.kubectl("annotate", "deployment/chart", "meta.helm.sh/release-name=shop")

    rolled = ns.plugin("rollback", "deployment/chart", check=True)

    assert "Helm release shop" in rolled.stderr and "helm rollback shop" in rolled.stderr


@pytest.mark.parametrize("server_side", [False, True])
def test_a_server_dry_run_says_what_the_rollback_would_do_to_the_next_apply(ns, server_side):
    """Release 1 made by `kubectl create` (recorded without an applied template or field owners), release 2 applied
    client-side or server-side and owned by a Helm release: a server dry run changes nothing, so each of its notes
    says what the rollback would do (one said the last-applied configuration "now holds" the revision's template)."""
    ns.kubectl("create", "-f", "-", input=manifest("deployment", "chart", RELEASE_1))
    ns.wait_until(lambda: _observed_image(ns, "deployment", "chart") == RELEASE_1[0], "release 1 observed")
    ns.plugin("record", "deployment/chart", "--status", "Succeeded", "--workflow-id", "wf", *IDENTITY, check=True)
    method = ["--server-side", "--force-conflicts"] if server_side else []  # kubectl create's manager owns the image
    ns.kubectl("apply", *method, "-f", "-", input=manifest("deployment", "chart", RELEASE_2))
    ns.kubectl("annotate", "deployment/chart", "meta.helm.sh/release-name=shop")
    ns.wait_until(lambda: _observed_image(ns, "deployment", "chart") == RELEASE_2[0], "release 2 observed")
    ns.plugin("record", "deployment/chart", "--status", "Failed", "--workflow-id", "wf", *IDENTITY, check=True)

    dry = ns.plugin("rollback", "deployment/chart", "--dry-run=server", check=True)

    # client-side: the last-applied configuration and Helm's next upgrade; server-side: the field owners and Helm's
    notes = [line for line in dry.stderr.splitlines() if line.startswith("deployment/chart")]
    assert len(notes) == 2 and all(" would " in note for note in notes), dry.stderr
    assert container(ns, "deployment", "chart")["image"] == RELEASE_2[0]
