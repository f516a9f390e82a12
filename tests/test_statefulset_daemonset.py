"""StatefulSets and DaemonSets: the same verbs as a Deployment, over ControllerRevisions."""

import json

import pytest

from tests import manifests
from tests import scenarios as sc

MAKERS = {"statefulset": manifests.statefulset, "daemonset": manifests.daemonset}


def template_without_app(ns, kind, name):
    template = ns.get(kind, name)["spec"]["template"]
    template["metadata"]["labels"].pop("app")
    return template


@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
def test_three_revisions_roll_back_to_the_second_like_kubectl_undo(ns, kind):
    for name in ("app", "twin"):
        for tag, status in (("1", "Succeeded"), ("2", "Succeeded"), ("3-broken", "Failed")):
            sc.deploy_and_record(ns, f"{kind}/{name}", MAKERS[kind](name, f"example.test/app:{tag}"), status,
                                 *sc.IDENTITY)
    history = ns.plugin_json("history", f"{kind}/app")
    assert [(r["revision"], r["status"]) for r in history["revisions"]] == [
        (3, "Failed"), (2, "Succeeded"), (1, "Succeeded")]
    assert history["liveRevision"] == 3 and history["rollbackTarget"] == 2

    result = ns.plugin_json("rollback", f"{kind}/app")
    assert (result["from"]["revision"], result["to"]["revision"], result["changed"]) == (3, 2, True)
    ns.kubectl("rollout", "undo", f"{kind}/twin", "--to-revision=2")
    ours, theirs = template_without_app(ns, kind, "app"), template_without_app(ns, kind, "twin")
    assert ours == theirs
    assert ours["spec"]["containers"][0]["image"] == "example.test/app:2"


def test_daemonset_rollback_waits_for_the_rollout(ns):
    for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
        sc.deploy_and_record(ns, "daemonset/agent", manifests.daemonset("agent", f"example.test/agent:{tag}"), status,
                             *sc.IDENTITY)
    proc = ns.plugin("rollback", "daemonset/agent", "--wait", "--timeout", "90s")
    assert proc.returncode == 0, proc.stderr
    assert "rolled out" in proc.stderr
    history = json.loads(ns.plugin("history", "daemonset/agent", "-o", "json", check=True).stdout)
    live = next(r for r in history["revisions"] if r["live"])
    assert live["images"] == ["example.test/agent:1"] and live["rolledBackFrom"] == 2
