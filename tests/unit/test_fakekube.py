"""The fake API itself: it must refuse what kube-apiserver refuses, or the tests through it prove nothing."""

import pytest

from kubectl_rollback.errors import ApiError, ConflictError, NotFoundError
from kubectl_rollback.kube import CONTROLLER_REVISIONS, DEPLOYMENTS, REPLICASETS, SERVICES
from kubectl_rollback.options import DryRun
from tests.fakekube import add_deployment, parse_selector


def service(name, color="blue"):
    return {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web", "harness.io/color": color}}}


def test_every_write_gets_a_new_resource_version_and_a_stale_one_is_refused_with_409(fake):
    created = fake.create(SERVICES, service("web"))
    first = created["metadata"]["resourceVersion"]
    patched = fake.patch(SERVICES, "web", {"metadata": {"resourceVersion": first},
                                           "spec": {"selector": {"harness.io/color": "green"}}})
    assert int(patched["metadata"]["resourceVersion"]) > int(first)
    with pytest.raises(ConflictError) as refused:
        fake.patch(SERVICES, "web", {"metadata": {"resourceVersion": first},
                                     "spec": {"selector": {"harness.io/color": "blue"}}})
    assert refused.value.status == 409 and not refused.value.ambiguous
    assert refused.value.message.startswith('cannot patch services "web" in namespace "ns": Conflict (409)')
    assert fake.stored(SERVICES, "web")["spec"]["selector"]["harness.io/color"] == "green"


def test_generation_follows_spec_changes_and_status_is_ignored_on_the_main_endpoint(fake):
    deployment, _ = add_deployment(fake, "web", ["img:1", "img:2"])
    assert deployment["metadata"]["generation"] == 1
    labelled = fake.patch(DEPLOYMENTS, "web", {"metadata": {"labels": {"team": "a"}}, "status": {"replicas": 9}})
    assert labelled["metadata"]["generation"] == 1 and labelled["status"] == deployment["status"]
    scaled = fake.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 3}})
    assert scaled["metadata"]["generation"] == 2


def test_json_patch_ops_and_a_missing_path_is_a_422(fake):
    fake.create(SERVICES, service("web"))
    fake.patch(SERVICES, "web", [{"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}},
                                 {"op": "replace", "path": "/spec/selector/app", "value": "api"},
                                 {"op": "remove", "path": "/metadata/labels/app"}], "json")
    stored = fake.stored(SERVICES, "web")
    assert stored["metadata"]["annotations"] == {"a/b": "1"}
    assert stored["spec"]["selector"]["app"] == "api" and stored["metadata"]["labels"] == {}
    with pytest.raises(ApiError) as invalid:
        fake.patch(SERVICES, "web", [{"op": "remove", "path": "/metadata/annotations/c~1d"}], "json")
    assert invalid.value.status == 422


def test_strategic_replace_directive_replaces_the_map_and_others_are_not_guessed(fake):
    fake.create(CONTROLLER_REVISIONS, {"metadata": {"name": "r1"}, "data": {"spec": {"template": {
        "metadata": {"labels": {"app": "db", "extra": "x"}}}}}, "revision": 1})
    fake.patch(CONTROLLER_REVISIONS, "r1", {"data": {"spec": {"template": {
        "$patch": "replace", "metadata": {"labels": {"app": "db"}}}}}}, "strategic")
    template = fake.stored(CONTROLLER_REVISIONS, "r1")["data"]["spec"]["template"]
    assert template == {"metadata": {"labels": {"app": "db"}}}
    with pytest.raises(NotImplementedError):
        fake.patch(CONTROLLER_REVISIONS, "r1", {"data": {"$retainKeys": ["spec"]}}, "strategic")


def test_label_selectors_in_the_forms_the_api_accepts():
    labels = {"app": "web", "tier": "front"}
    assert parse_selector("app=web,tier in (front,back)")(labels)
    assert parse_selector("app==web,tier notin (back),!color,tier")(labels)
    assert not parse_selector("app!=web")(labels)
    assert not parse_selector("color")(labels)
    assert not parse_selector("tier in (back, middle)")(labels)


def test_list_filters_by_namespace_and_selector(fake):
    add_deployment(fake, "web", ["img:1", "img:2"])
    add_deployment(fake, "api", ["img:1"])
    add_deployment(fake.in_namespace("other"), "web", ["img:1"])
    names = [rs["metadata"]["name"] for rs in fake.list(REPLICASETS, label_selector="app=web")]
    assert names == ["web-h1", "web-h2"]
    assert [d["metadata"]["namespace"] for d in fake.list(DEPLOYMENTS, namespace="other")] == ["other"]


def test_delete_checks_the_uid_and_takes_the_dependents(fake):
    deployment, sets = add_deployment(fake, "web", ["img:1", "img:2"])
    with pytest.raises(ConflictError):
        fake.delete(DEPLOYMENTS, "web", uid="someone-else")
    fake.bound_to(DryRun.SERVER).delete(DEPLOYMENTS, "web", uid=deployment["metadata"]["uid"])
    assert fake.stored(DEPLOYMENTS, "web") is not None
    fake.delete(DEPLOYMENTS, "web", uid=deployment["metadata"]["uid"])
    assert fake.stored(DEPLOYMENTS, "web") is None and fake.list(REPLICASETS) == []
    with pytest.raises(NotFoundError):
        fake.get(DEPLOYMENTS, "web")


def test_a_dry_run_patch_answers_the_result_and_stores_nothing(fake):
    fake.create(SERVICES, service("web"))
    before = fake.stored(SERVICES, "web")
    answer = fake.bound_to(DryRun.SERVER).patch(SERVICES, "web", {"spec": {"selector": {"harness.io/color": "green"}}})
    assert answer["spec"]["selector"]["harness.io/color"] == "green"
    assert fake.stored(SERVICES, "web") == before


def test_an_injected_error_hits_only_the_nth_call_it_names(fake):
    fake.create(SERVICES, service("web"))
    fake.create(SERVICES, service("web-stage"))
    fake.fail("get", nth=2, status=503, resource=SERVICES, name="web")
    fake.get(SERVICES, "web")
    fake.get(SERVICES, "web-stage")  # not counted: another name
    with pytest.raises(ApiError) as failed:
        fake.get(SERVICES, "web")
    assert failed.value.status == 503 and "ServiceUnavailable (503)" in failed.value.message
    assert fake.get(SERVICES, "web")["metadata"]["name"] == "web"


def test_an_error_after_the_write_landed(fake):
    fake.create(SERVICES, service("web"))
    fake.fail("patch", status=504, applied=True)
    with pytest.raises(ApiError):
        fake.patch(SERVICES, "web", {"spec": {"selector": {"harness.io/color": "green"}}})
    assert fake.stored(SERVICES, "web")["spec"]["selector"]["harness.io/color"] == "green"


def test_a_lost_answer_lands_and_the_retry_meets_the_precondition(fake):
    rv = fake.create(SERVICES, service("web"))["metadata"]["resourceVersion"]
    fake.lose_answer("patch")
    with pytest.raises(ConflictError) as retried:
        fake.patch(SERVICES, "web", {"metadata": {"resourceVersion": rv},
                                     "spec": {"selector": {"harness.io/color": "green"}}})
    assert retried.value.ambiguous
    assert fake.stored(SERVICES, "web")["spec"]["selector"]["harness.io/color"] == "green"


def test_a_lost_answer_of_a_write_without_precondition_is_answered_by_the_retry(fake):
    fake.create(SERVICES, service("web"))
    fake.lose_answer("patch")
    answer = fake.patch(SERVICES, "web", {"metadata": {"annotations": {"k": "v"}}})
    assert answer["metadata"]["annotations"] == {"k": "v"}


def test_a_concurrent_writer_acts_just_before_the_call(fake):
    rv = fake.create(SERVICES, service("web"))["metadata"]["resourceVersion"]
    fake.before("patch", lambda server: server.patch(SERVICES, "ns", "web", {"metadata": {"labels": {"x": "1"}}}))
    with pytest.raises(ConflictError) as lost:
        fake.patch(SERVICES, "web", {"metadata": {"resourceVersion": rv}, "spec": {"selector": {"app": "api"}}})
    assert not lost.value.ambiguous
    stored = fake.stored(SERVICES, "web")
    assert stored["metadata"]["labels"]["x"] == "1" and stored["spec"]["selector"]["app"] == "web"
    assert [c.verb for c in fake.calls] == ["create", "patch"]  # the other client's write is not ours
