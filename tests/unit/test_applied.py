"""applied.py: the last-applied configuration and the template's field ownership after a rollback (pure)."""

from __future__ import annotations

import json

from kubectl_rollback import applied
from kubectl_rollback.workloads.deployment import DeploymentKind

POD_TEMPLATE = DeploymentKind.template_path
POD_TEMPLATE_FIELDS = applied.fields_path(POD_TEMPLATE)

TEMPLATE_1 = {"metadata": {"labels": {"app": "api"}},
              "spec": {"containers": [{"name": "app", "image": "api:1", "env": [{"name": "A"}, {"name": "B"}]}]}}
TEMPLATE_2 = {"metadata": {"labels": {"app": "api"}},
              "spec": {"containers": [{"name": "app", "image": "api:2", "env": [{"name": "A"}]}]}}
FIELDS_1 = {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {},
                                                              "f:env": {'k:{"name":"A"}': {}, 'k:{"name":"B"}': {}}}}}}
FIELDS_2 = {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {},
                                                              "f:env": {'k:{"name":"A"}': {}}}}}}


def workload(template: dict, last_applied: bool = True, managed: list = None, annotations: dict = None) -> dict:
    meta: dict = {"name": "api", "annotations": dict(annotations or {}), "managedFields": managed or []}
    if last_applied:
        config = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                  "spec": {"replicas": 3, "template": template}}
        meta["annotations"][applied.LAST_APPLIED] = json.dumps(config)
    return {"metadata": meta, "spec": {"template": template}}


def entry(manager: str, operation: str, template_fields: dict = None, other: dict = None) -> dict:
    fields = dict(other or {})
    if template_fields is not None:
        fields = applied.graft(fields, POD_TEMPLATE_FIELDS, template_fields)
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields}


REPLICAS = {"f:spec": {"f:replicas": {}}}


def test_record_keeps_the_applied_template_and_the_apply_owners():
    applied_one = workload(TEMPLATE_1, managed=[entry("kubectl", "Apply", FIELDS_1, REPLICAS)])
    kept = applied.revision_annotations(applied_one, POD_TEMPLATE)
    assert json.loads(kept[applied.APPLIED_TEMPLATE]) == TEMPLATE_1
    assert json.loads(kept[applied.TEMPLATE_OWNERS]) == [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "fields": FIELDS_1}
    ]


def test_record_of_a_workload_never_applied_removes_both_keys():
    kept = applied.revision_annotations(workload(TEMPLATE_1, last_applied=False,
                                                 managed=[entry("kubectl-create", "Update", FIELDS_1)]), POD_TEMPLATE)
    assert kept == {applied.APPLIED_TEMPLATE: None, applied.TEMPLATE_OWNERS: None}


def test_plan_puts_the_recorded_template_in_last_applied_and_changes_nothing_else():
    live = workload(TEMPLATE_2)
    stored = {applied.APPLIED_TEMPLATE: json.dumps(TEMPLATE_1)}
    plan = applied.plan(live, stored, {"derived": True}, "deployment/api", 1, POD_TEMPLATE)
    restored = json.loads(plan.last_applied)
    before = json.loads(live["metadata"]["annotations"][applied.LAST_APPLIED])
    assert restored["spec"]["template"] == TEMPLATE_1
    restored["spec"]["template"] = TEMPLATE_2
    assert restored == before  # replicas, metadata and the rest stay as they were
    assert plan.notes == () and not plan.server_side


def test_plan_derives_the_applied_template_from_the_revision_and_says_so():
    plan = applied.plan(workload(TEMPLATE_2), {}, TEMPLATE_1, "deployment/api", 1, POD_TEMPLATE)
    assert json.loads(plan.last_applied)["spec"]["template"] == TEMPLATE_1
    assert len(plan.notes) == 1 and "no applied template recorded" in plan.notes[0]


def test_plan_leaves_a_workload_never_applied_alone():
    plan = applied.plan(workload(TEMPLATE_2, last_applied=False, managed=[entry("kubectl-create", "Update", FIELDS_2)]),
                        {}, TEMPLATE_1, "deployment/api", 1, POD_TEMPLATE)
    assert plan.last_applied is None and not plan.server_side and plan.notes == ()
    managed = [entry("x", "Update", FIELDS_1)]
    assert applied.managed_fields_after(managed, plan, managed, "t") is None


def test_plan_notes_helm_ownership_and_what_a_client_side_helm_upgrade_keeps():
    helm_updates = [entry("helm", "Update", FIELDS_2)]  # Helm 3, or Helm 4 with --server-side=false
    plan = applied.plan(workload(TEMPLATE_2, managed=helm_updates, annotations={applied.HELM_RELEASE: "shop"}), {},
                        TEMPLATE_1, "d/api", 1, POD_TEMPLATE)
    (note,) = [note for note in plan.notes if "Helm release shop" in note]
    assert "fields this rollback restored that the chart no longer sets stay" in note and "helm rollback shop" in note


def test_a_helm_release_applied_server_side_gets_exactly_its_chart_on_the_next_upgrade():
    helm_applies = [entry("helm", "Apply", FIELDS_2)]  # Helm 4's default
    plan = applied.plan(workload(TEMPLATE_2, managed=helm_applies, annotations={applied.HELM_RELEASE: "shop"}), {},
                        TEMPLATE_1, "d/api", 1, POD_TEMPLATE)
    (note,) = [note for note in plan.notes if "Helm release shop" in note]
    assert "the next helm upgrade gives exactly its chart's manifest" in note and "stay" not in note
    assert "helm rollback shop" in note


def test_recorded_owners_replace_the_template_ownership_of_every_manager():
    before = [entry("kubectl", "Apply", FIELDS_2, REPLICAS)]
    after_write = [entry("kubectl", "Apply", FIELDS_2, REPLICAS), entry(applied.PLUGIN_MANAGER, "Update", FIELDS_1)]
    owners = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "fields": FIELDS_1}]
    plan = applied.plan(workload(TEMPLATE_2, managed=before), {applied.TEMPLATE_OWNERS: json.dumps(owners)},
                        TEMPLATE_1, "deployment/api", 1, POD_TEMPLATE)

    fields = applied.managed_fields_after(after_write, plan, before, "2026-01-01T00:00:00Z")

    assert fields == [entry("kubectl", "Apply", FIELDS_1, REPLICAS)]  # the plugin's entry had only template fields


def test_without_recorded_owners_the_plugin_hands_its_template_fields_to_the_one_applier():
    before = [entry("kubectl", "Apply", FIELDS_2, REPLICAS)]
    after_write = [entry("kubectl", "Apply", FIELDS_2, REPLICAS),
                   entry(applied.PLUGIN_MANAGER, "Update", FIELDS_1, {"f:metadata": {"f:annotations": {"f:x": {}}}})]
    plan = applied.plan(workload(TEMPLATE_2, managed=before), {}, TEMPLATE_1, "deployment/api", 1, POD_TEMPLATE)

    fields = applied.managed_fields_after(after_write, plan, before, "t")

    assert fields == [entry("kubectl", "Apply", applied.union(FIELDS_2, FIELDS_1), REPLICAS),
                      entry(applied.PLUGIN_MANAGER, "Update", None, {"f:metadata": {"f:annotations": {"f:x": {}}}})]
    assert any("recorded without its field owners" in note for note in plan.notes)


def test_restored_config_keys_go_to_the_one_manager_that_applied_the_content_before():
    data = ("f:data",)
    before = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
               "fieldsV1": {"f:data": {"f:k": {}}}}]
    after_restore = before + [{"manager": applied.PLUGIN_MANAGER, "operation": "Update", "apiVersion": "v1",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}, "f:keep": {}}}}]
    assert applied.hand_over(after_restore, before, (data, ("f:binaryData",)), "t") == [
        dict(before[0], fieldsV1={"f:data": {"f:k": {}, "f:keep": {}}})]
    # nobody applied it server-side (client-side apply or kubectl create): ownership stays as the server set it
    updater = [dict(before[0], operation="Update", manager="kubectl-client-side-apply")]
    assert applied.hand_over(updater + after_restore[1:], updater, (data,), "t") is None


def test_already_consistent_ownership_needs_no_write():
    owners = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "fields": FIELDS_1}]
    managed = [entry("kubectl", "Apply", FIELDS_1, REPLICAS)]
    plan = applied.plan(workload(TEMPLATE_1, managed=managed), {applied.TEMPLATE_OWNERS: json.dumps(owners)},
                        TEMPLATE_1, "deployment/api", 1, POD_TEMPLATE)
    assert applied.managed_fields_after(managed, plan, managed, "t") is None


def test_with_annotation_adds_to_a_json_patch_and_to_a_strategic_patch():
    ops = applied.with_annotation("json", [{"op": "replace", "path": "/spec/template", "value": {}}], "a/b~c", "v")
    assert ops[-1] == {"op": "add", "path": "/metadata/annotations/a~1b~0c", "value": "v"}
    body = applied.with_annotation("strategic", {"metadata": {"resourceVersion": "7"}}, "k", "v")
    assert body == {"metadata": {"resourceVersion": "7", "annotations": {"k": "v"}}}


def test_without_prunes_parents_it_empties():
    assert applied.without({"f:spec": {"f:template": {"f:x": {}}, ".": {}}}, POD_TEMPLATE_FIELDS) == {}
    assert applied.without({"f:spec": {"f:template": {}, "f:replicas": {}}}, POD_TEMPLATE_FIELDS) == REPLICAS


def test_a_kind_whose_template_lives_elsewhere_keeps_and_restores_it_there():
    """The template path is the kind's (WorkloadKind.template_path), not spec.template for every kind."""
    path = ("spec", "workload", "template")
    config = {"kind": "Toy", "spec": {"replicas": 2, "workload": {"template": TEMPLATE_1}}}
    toy = {"metadata": {"name": "api", "annotations": {applied.LAST_APPLIED: json.dumps(config)}, "managedFields": [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
         "fieldsV1": applied.graft({}, applied.fields_path(path), FIELDS_1)}]}}
    kept = applied.revision_annotations(toy, path)
    assert json.loads(kept[applied.APPLIED_TEMPLATE]) == TEMPLATE_1
    assert json.loads(kept[applied.TEMPLATE_OWNERS])[0]["fields"] == FIELDS_1
    plan = applied.plan(toy, {applied.APPLIED_TEMPLATE: json.dumps(TEMPLATE_2)}, {}, "toy/api", 1, path)
    restored = {"kind": "Toy", "spec": {"replicas": 2, "workload": {"template": TEMPLATE_2}}}
    assert json.loads(plan.last_applied) == restored
    assert plan.server_side and applied.revision_annotations(toy, POD_TEMPLATE)[applied.APPLIED_TEMPLATE] is None
