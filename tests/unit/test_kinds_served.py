"""The registry's answer "which kinds can I use here" (workloads.usable) and the kind facts a new kind sets
(patch_type, template_path), through the fake API."""

from typing import Tuple

import pytest

from kubectl_rollback import workloads
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import NotFoundError
from kubectl_rollback.kube import CONTROLLER_REVISIONS, DAEMONSETS, DEPLOYMENTS, STATEFULSETS, Resource
from kubectl_rollback.records import Record
from kubectl_rollback.workloads.base import WorkloadKind
from kubectl_rollback.workloads.deployment import DeploymentKind
from kubectl_rollback.workloads.statefulset import StatefulSetKind
from tests.fakekube import FakeKube

CRONS = Resource("example.test", "v1", "crons", "Cron")


class CronKind(WorkloadKind):
    """A made-up kind whose pod template sits deeper than spec.template, as a CronJob's does."""

    name = "cron"
    aliases = ("cron",)
    resource = CRONS
    revision_resource = CONTROLLER_REVISIONS
    template_path: Tuple[str, ...] = ("spec", "jobTemplate", "spec", "template")


@pytest.fixture
def registry(monkeypatch):
    """The built-in kinds and the cron kind registered, nothing said yet; the real registry as it was afterwards."""
    monkeypatch.setattr(workloads, "KINDS", list(workloads.KINDS))
    monkeypatch.setattr(workloads, "BY_ALIAS", dict(workloads.BY_ALIAS))
    monkeypatch.setattr(workloads, "_said_skipped", set())
    workloads.register(CronKind())


def target(template: dict) -> Revision:
    return Revision(number=1, name="r1", record=Record(), images=(), created_at=None, live=False,
                    template=template)


def test_a_kind_the_cluster_does_not_serve_is_left_out_and_said_once(registry, capsys):
    kube = FakeKube("ns")
    kube.not_served.add(CRONS)
    assert [kind.name for kind in workloads.usable(kube)] == ["deployment", "statefulset", "daemonset"]
    assert [kind.name for kind in workloads.usable(kube.in_namespace("other"))] == [
        "deployment", "statefulset", "daemonset"]
    assert capsys.readouterr().err.splitlines() == [
        "warning: skipped cron: this cluster does not serve crons.example.test (get, list, watch)"]
    assert workloads.BY_ALIAS["cron"].resource == CRONS  # still a kind the command line takes by name


def test_kinds_whose_revision_objects_are_not_served_are_left_out_too(registry, capsys):
    kube = FakeKube("ns")
    kube.not_served.add(CONTROLLER_REVISIONS)
    assert [kind.resource for kind in workloads.usable(kube)] == [DEPLOYMENTS]
    err = capsys.readouterr().err
    assert [kind for kind in ("statefulset", "daemonset", "cron") if f"skipped {kind}:" in err] == [
        "statefulset", "daemonset", "cron"]
    assert STATEFULSETS.qualified not in err and DAEMONSETS.qualified not in err  # their revision objects are


def test_the_rollback_patch_replaces_the_template_where_the_kind_keeps_it_in_its_patch_type():
    workload = {"metadata": {"resourceVersion": "7"}}
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "img:1"}]}}
    assert CronKind().rollback_patch(workload, target(template)) == ("json", [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "replace", "path": "/spec/jobTemplate/spec/template", "value": template}])
    assert StatefulSetKind().rollback_patch(workload, target(template)) == ("strategic", {
        "metadata": {"resourceVersion": "7"}, "spec": {"template": dict(template, **{"$patch": "replace"})}})
    patch_type, ops = DeploymentKind().rollback_patch(workload, target(template))
    assert patch_type == "json" and ops[1] == {"op": "replace", "path": "/spec/template", "value": template}


def test_a_workload_of_a_kind_the_cluster_does_not_serve_is_not_blamed_on_its_name():
    kube = FakeKube("ns")
    with pytest.raises(NotFoundError) as missing:
        CronKind().get(kube, "nightly")
    assert "check the name" in missing.value.message  # served, but no such object: the name is the suspect
    kube.not_served.add(CRONS)
    with pytest.raises(NotFoundError) as unserved:
        CronKind().get(kube, "nightly")
    assert unserved.value.message == ("cannot get cron/nightly: this cluster does not serve crons.example.test (is "
                                      "its CustomResourceDefinition installed?)")
