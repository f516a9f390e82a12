"""A workload kind added the way docs/architecture.md says (tests/toykind: one module, one registry line, loaded
into the plugin through PYTHONPATH), on the real control plane: rolled back where its CRD is installed, and where it
is not, every loop over the kinds (`watch`, `history --all`, `--release-name`, the default config restore's
"shared with" check) still runs, and says once that it skipped the toy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import manifests
from tests.cluster.api import ApiFailure
from tests.scenarios import (
    IDENTITY,
    RELEASE,
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM,
    crds_installed,
    create_owner,
    labelled,
    live_image,
    record_annotation_args,
    wait_until,
)
from tests.test_completion import complete
from tests.watching import start_watch_fixture, wait_for_status

TOY = ("example.test", "v1", "toys", "Toy", "toy")
TOY_KIND = str(Path(__file__).parent / "toykind")
SKIPPED = "warning: skipped toy: this cluster does not serve toys.example.test (get, list, watch)"

start_watch = pytest.fixture(start_watch_fixture)


def with_toy(ns) -> dict:
    """The environment in which the plugin has the toy kind registered (tests/toykind/sitecustomize.py)."""
    path = os.pathsep.join(p for p in (TOY_KIND, ns.cluster.env.get("PYTHONPATH")) if p)
    return dict(ns.cluster.env, PYTHONPATH=path)


def toy_spec(image: str) -> dict:
    return {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}}


def new_revision(ns, toy: dict, number: int, status: str) -> str:
    """What the toy's controller does after a change: a ControllerRevision it owns holding the pod template, here
    with the pipeline's record of `status` on it already."""
    record = dict(pair.split("=", 1) for pair in record_annotation_args(status))
    name = f"{toy['metadata']['name']}-{number}"
    owner = {"apiVersion": "example.test/v1", "kind": "Toy", "name": toy["metadata"]["name"],
             "uid": toy["metadata"]["uid"], "controller": True}
    # Created through kubectl, which sends `data` in Go's encoding as a controller does: in any other (Python's
    # spaces), every later write of the object, even of its annotations, is refused ("data: field is immutable").
    ns.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "labels": {"app": "web"}, "annotations": record, "ownerReferences": [owner]},
        "revision": number, "data": {"spec": {"template": toy["spec"]["template"]}}}))
    return name


def test_a_toy_kind_is_rolled_back_to_its_last_good_revision(ns):
    env = with_toy(ns)
    with crds_installed(ns.cluster, (TOY,)):
        path = create_owner(ns, TOY, "web", toy_spec("example.test/web:1"))
        good = new_revision(ns, ns.cluster.api.get(path), 1, "Succeeded")
        toy = ns.cluster.api.patch(path, {"spec": toy_spec("example.test/web:2-broken")})
        new_revision(ns, toy, 2, "Failed")
        history = ns.plugin_json("history", "toy/web", *IDENTITY, env=env)
        assert history["rollbackTarget"] == 1
        assert [(r["revision"], r["status"]) for r in history["revisions"]] == [(2, "Failed"), (1, "Succeeded")]
        proc = ns.plugin("rollback", "toy/web", *IDENTITY, "-o", "json", env=env)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["changed"] and result["to"]["revision"] == 1
        toy = ns.cluster.api.get(path)
        assert toy["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/web:1"
        audit = ns.get("controllerrevision", good)["metadata"]["annotations"]
        assert audit.get(ROLLED_BACK_FROM) == "2" and ROLLED_BACK_AT in audit, (audit, result)


@pytest.fixture
def toy_crd_absent(cluster) -> None:
    """No toys served (the CRD of another test may still be going away)."""
    def gone() -> bool:  # the group may stay served for another test's kind (test_harness_release's widgets)
        try:
            served = cluster.api.get("/apis/example.test/v1")
        except ApiFailure as exc:
            if exc.status == 404:
                return True
            raise
        return all(r.get("name") != "toys" for r in served.get("resources") or [])

    wait_until(gone, "toys.example.test to be served no more", timeout=120)


def test_without_the_toy_crd_watch_history_all_and_release_name_run_and_say_so_once(ns, start_watch, toy_crd_absent):
    env = with_toy(ns)
    watcher = start_watch(env=env)
    for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
        ns.apply(labelled(manifests.deployment("web", f"example.test/web:{tag}", progress_deadline=10), RELEASE))
        wait_for_status(ns, "web", f"example.test/web:{tag}", status)
    assert watcher.log.read_text().count(SKIPPED) == 1
    everything = ns.plugin("history", "--all", "-o", "json", env=env)
    assert everything.returncode == 0 and everything.stderr.count(SKIPPED) == 1, everything.stderr
    assert [w["workload"] for w in json.loads(everything.stdout)["workloads"]] == ["deployment/web"]
    release = ns.plugin("rollback", "--release-name", "r1", env=env)
    assert release.returncode == 0 and release.stderr.count(SKIPPED) == 1, release.stderr
    assert live_image(ns) == "example.test/web:1"


def test_without_the_toy_crd_a_default_config_restore_still_checks_the_other_workloads(ns, toy_crd_absent):
    env = with_toy(ns)
    for greeting, tag, status in (("A", "1", "Succeeded"), ("B", "2-broken", "Failed")):
        ns.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
                             "data": {"greeting": greeting}}))
        manifest = json.loads(manifests.deployment("web", f"example.test/web:{tag}"))
        manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "greeting"}}}]
        ns.apply(json.dumps(manifest))
        if status == "Succeeded":
            ns.rollout_status("deployment/web")
        ns.plugin("record", "deployment/web", "--status", status, *IDENTITY, check=True, env=env)
    proc = ns.plugin("rollback", "deployment/web", *IDENTITY, env=env)
    assert proc.returncode == 0 and proc.stderr.count(SKIPPED) == 1, proc.stderr
    assert "ConfigMap/app-config: restored" in proc.stdout, proc.stdout
    assert ns.get("configmap", "app-config")["data"]["greeting"] == "A"
    assert live_image(ns) == "example.test/web:1"


def test_without_the_toy_crd_a_toy_named_on_the_command_line_is_one_line_that_says_why(ns, toy_crd_absent):
    proc = ns.plugin("rollback", "toy/web", *IDENTITY, env=with_toy(ns))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("error: cannot get toy/web: this cluster does not serve toys.example.test (is its "
                           "CustomResourceDefinition installed?)\n")


def completed_kinds(ns, env: dict) -> list:
    """The kinds `kubectl harness-rollback rollback <TAB>` offers in the namespace, through the real kubectl."""
    kinds, _ = complete(ns.cluster, "rollback", "-n", ns.name, "", env=env)
    return kinds


def test_completion_offers_the_toy_only_where_the_cluster_serves_it(ns, toy_crd_absent):
    env = with_toy(ns)
    assert completed_kinds(ns, env) == ["deployment/", "statefulset/", "daemonset/", "service/"]
    with crds_installed(ns.cluster, (TOY,)):
        create_owner(ns, TOY, "web", toy_spec("example.test/web:1"))
        assert completed_kinds(ns, env) == ["deployment/", "statefulset/", "daemonset/", "toy/", "service/"]
        assert complete(ns.cluster, "rollback", "-n", ns.name, "toy/", env=env)[0] == ["toy/web"]
