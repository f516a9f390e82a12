"""GitOps owners, the pure decisions (kubectl_rollback/gitops.py): detection, whether the owner would revert, and the
pause/resume patches."""

import json

import pytest

from kubectl_rollback import gitops
from kubectl_rollback.commands.workload import WorkloadTarget
from kubectl_rollback.errors import RollbackError, UsageError
from kubectl_rollback.kube import DEPLOYMENTS
from kubectl_rollback.options import (
    DryRun,
    GitOpsMode,
    HistoryRequest,
    ResumeRequest,
    RollbackRequest,
    parse_gitops_mode,
)
from kubectl_rollback.workloads.deployment import DeploymentKind
from tests.fakekube import add_deployment, recorded, track_by_argo_cd
from tests.unit.entry_points import FLAGS


def obj(annotations=None, labels=None, namespace="shop"):
    return {"metadata": {"name": "web", "namespace": namespace, "annotations": annotations or {},
                         "labels": labels or {}}}


def application(automated=None, rv="7"):
    spec = {"syncPolicy": {"automated": automated}} if automated is not None else {"syncPolicy": {}}
    return {"metadata": {"name": "web", "namespace": "argocd", "resourceVersion": rv}, "spec": spec}


def test_tracking_id_names_the_application_in_the_argocd_namespace():
    owner = gitops.find_owner(obj({gitops.ARGO_TRACKING_ID: "shop-app:apps/Deployment:shop/web"}), "gitops")
    assert owner == gitops.Owner(gitops.APPLICATIONS, "shop-app", "gitops")
    assert owner.display == "Argo CD Application gitops/shop-app"


def test_tracking_id_of_an_application_in_any_namespace():
    owner = gitops.find_owner(obj({gitops.ARGO_TRACKING_ID: "team_shop-app:apps/Deployment:shop/web"}), "argocd")
    assert (owner.name, owner.namespace) == ("shop-app", "team")


def test_flux_labels_name_kustomization_then_helmrelease():
    k = gitops.find_owner(obj(labels={"kustomize.toolkit.fluxcd.io/name": "apps",
                                      "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}), "argocd")
    assert (k.resource, k.name, k.namespace) == (gitops.KUSTOMIZATIONS, "apps", "flux-system")
    h = gitops.find_owner(obj(labels={"helm.toolkit.fluxcd.io/name": "web"}), "argocd")
    assert (h.resource, h.name, h.namespace, h.display) == (gitops.HELMRELEASES, "web", "shop",
                                                            "Flux HelmRelease shop/web")


def test_instance_label_is_only_a_candidate_and_nothing_is_no_owner():
    owner = gitops.find_owner(obj(labels={gitops.ARGO_INSTANCE_LABEL: "web"}), "argocd")
    assert owner.by_label_only and (owner.name, owner.namespace) == ("web", "argocd")
    assert gitops.find_owner(obj(), "argocd") is None


@pytest.mark.parametrize("automated, reverts", [(None, False), ({}, False), ({"selfHeal": False}, False),
                                                ({"selfHeal": True, "prune": True}, True),
                                                ({"enabled": True, "selfHeal": True}, True),
                                                ({"enabled": None, "selfHeal": True}, True),
                                                ({"enabled": False, "selfHeal": True}, False)])
def test_application_reverts_only_with_self_heal(automated, reverts):
    owner = gitops.Owner(gitops.APPLICATIONS, "web", "argocd")
    assert gitops.assess(owner, application(automated)).reverts is reverts


@pytest.mark.parametrize("spec, reverts", [({}, True), ({"suspend": False}, True), ({"suspend": True}, False)])
def test_flux_reverts_unless_suspended(spec, reverts):
    owner = gitops.Owner(gitops.KUSTOMIZATIONS, "apps", "flux-system")
    assert gitops.assess(owner, {"metadata": {}, "spec": spec}).reverts is reverts


def test_refusal_names_the_owner_and_both_ways_forward_in_one_line():
    owner = gitops.Owner(gitops.APPLICATIONS, "web", "argocd")
    resume = "kubectl harness-rollback resume deployment/web -n shop --argocd-namespace gitops"
    line = gitops.refusal("deployment/web", owner, gitops.assess(owner, application({"selfHeal": True})), resume)
    assert "\n" not in line
    assert "Argo CD Application argocd/web" in line and "revert the change in Git" in line
    assert "--gitops=pause" in line and "--gitops=ignore" in line and f"({resume} later)" in line
    assert gitops.reminder("deployment/web", owner, True, resume, False).endswith(f", then run: {resume}")


def test_pause_then_resume_restores_exactly_and_removes_the_stamp():
    owner = gitops.Owner(gitops.APPLICATIONS, "web", "argocd")
    before = application({"selfHeal": True, "prune": True}, rv="7")
    patch = gitops.pause_patch(owner, before, "2026-01-01T00:00:00Z", "rollback of deployment/web",
                               gitops.paused_by("alice"))
    assert patch["metadata"]["resourceVersion"] == "7"
    assert patch["spec"] == {"syncPolicy": {"automated": {"selfHeal": False}}}
    stamp = json.loads(patch["metadata"]["annotations"][gitops.PAUSED_BY])
    assert stamp == {"field": "spec.syncPolicy.automated.selfHeal", "before": True, "after": False,
                     "at": "2026-01-01T00:00:00Z", "by": "alice with kubectl-harness-rollback",
                     "reason": "rollback of deployment/web"}
    paused = application({"selfHeal": False, "prune": True}, rv="8")
    paused["metadata"]["annotations"] = patch["metadata"]["annotations"]
    plan = gitops.resume_plan(owner, paused, "deployment/web")
    assert plan.patch == {"metadata": {"resourceVersion": "8", "annotations": {gitops.PAUSED_BY: None}},
                          "spec": {"syncPolicy": {"automated": {"selfHeal": True}}}}
    assert not plan.changed_since


def test_the_stamp_says_who_paused_or_why_it_cannot():
    assert gitops.paused_by("alice") == "alice with kubectl-harness-rollback"
    assert gitops.paused_by(None) == ("kubectl-harness-rollback (user unknown: no SelfSubjectReview answered, which "
                                      "API servers serve from Kubernetes 1.27)")


def test_flux_resume_removes_a_suspend_that_was_absent():
    owner = gitops.Owner(gitops.KUSTOMIZATIONS, "apps", "flux-system")
    patch = gitops.pause_patch(owner, {"metadata": {"resourceVersion": "3"}, "spec": {}}, "t", "r",
                               gitops.paused_by(None))
    assert patch["spec"] == {"suspend": True}
    paused = {"metadata": {"resourceVersion": "4", "annotations": patch["metadata"]["annotations"]},
              "spec": {"suspend": True}}
    assert gitops.resume_plan(owner, paused, "deployment/web").patch["spec"] == {"suspend": None}


def test_resume_changes_nothing_when_someone_changed_it_since_or_no_pause():
    owner = gitops.Owner(gitops.KUSTOMIZATIONS, "apps", "flux-system")
    patch = gitops.pause_patch(owner, {"metadata": {"resourceVersion": "3"}, "spec": {}}, "t", "r",
                               gitops.paused_by(None))
    unsuspended = {"metadata": {"resourceVersion": "5", "annotations": patch["metadata"]["annotations"]},
                   "spec": {"suspend": False}}
    plan = gitops.resume_plan(owner, unsuspended, "deployment/web")
    assert plan.patch is None and plan.changed_since and "changed since the pause" in plan.message
    untouched = gitops.resume_plan(owner, {"metadata": {"resourceVersion": "5"}, "spec": {}}, "deployment/web")
    assert untouched.patch is None and not untouched.changed_since


def test_gitops_mode_flag():
    assert parse_gitops_mode("Pause") is GitOpsMode.PAUSE
    with pytest.raises(UsageError, match="--gitops 'later': must be one of fail, pause, ignore"):
        parse_gitops_mode("later")


# -- through the fake API: the hook in rollback KIND/NAME, and resume ------------------------------------------------


WEB = WorkloadTarget(DeploymentKind(), "web")


@pytest.fixture
def owned(fake):
    """deployment/web (revision 2 Failed and live, 1 Succeeded), tracked by Application argocd/web with self-heal."""
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), recorded("Failed")])
    track_by_argo_cd(fake, "web")
    return fake


def image(fake):
    return fake.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"]


def roll_back(fake, mode):
    return WEB.rollback(fake, RollbackRequest(flags=FLAGS, gitops=mode), lambda p: None)


def test_fail_refuses_and_writes_nothing(owned):
    with pytest.raises(RollbackError, match="managed by Argo CD Application argocd/web"):
        roll_back(owned, GitOpsMode.FAIL)
    assert owned.writes(dry_runs=False) == [] and image(owned) == "img:2"


def test_pause_rolls_back_and_resume_restores(owned):
    result = roll_back(owned, GitOpsMode.PAUSE)
    assert result.data()["gitops"] == {"owner": "Argo CD Application argocd/web", "undoesRollbacks": True,
                                       "action": "paused", "notes": list(result.notes())}
    app = owned.stored(gitops.APPLICATIONS, "web", namespace="argocd")
    assert image(owned) == "img:1" and app["spec"]["syncPolicy"]["automated"] == {"selfHeal": False}
    assert gitops.stamp_of(app)["before"] is True
    assert any("resume deployment/web" in note for note in result.notes())
    resumed = WEB.resume(owned, ResumeRequest())
    app = owned.stored(gitops.APPLICATIONS, "web", namespace="argocd")
    assert resumed.resumed and app["spec"]["syncPolicy"]["automated"] == {"selfHeal": True}
    assert gitops.PAUSED_BY not in (app["metadata"].get("annotations") or {})


def test_an_owner_we_may_not_read_gets_a_warning_and_the_rollback_goes_on(owned):
    owned.fail("get", status=403, resource=gitops.APPLICATIONS)
    result = roll_back(owned, GitOpsMode.FAIL)
    assert image(owned) == "img:1" and any("we may not read (RBAC)" in w for w in result.warnings)


def test_a_pause_asked_for_an_owner_we_may_not_read_is_refused_before_any_write(owned):
    owned.fail("get", status=403, resource=gitops.APPLICATIONS)
    with pytest.raises(RollbackError, match="we may not read .*--gitops=pause cannot pause it: nothing was changed"):
        roll_back(owned, GitOpsMode.PAUSE)
    assert owned.writes(dry_runs=False) == [] and image(owned) == "img:2"


def test_the_owner_and_what_was_done_are_in_the_data_for_pipelines(owned):
    ignored = roll_back(owned, GitOpsMode.IGNORE).data()["gitops"]
    assert (ignored["action"], ignored["undoesRollbacks"]) == ("ignored", True)
    assert any("will undo this rollback" in note for note in ignored["notes"])
    history = WEB.history(owned, HistoryRequest(FLAGS)).data()["gitops"]
    assert (history["owner"], history["undoesRollbacks"], history["action"]) == (
        "Argo CD Application argocd/web", True, "none")


def test_no_owner_is_null_in_the_data(fake):
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), recorded("Failed")])
    assert roll_back(fake, GitOpsMode.FAIL).data()["gitops"] is None
    assert WEB.history(fake, HistoryRequest(FLAGS)).data()["gitops"] is None


def test_where_the_paused_application_is_is_read_from_the_pointer_only():
    assert gitops.paused_application_namespace(
        {"metadata": {"annotations": {gitops.PAUSED_APPLICATION_NAMESPACE: " apps "}}}) == "apps"
    for obj in ({}, {"metadata": {"annotations": {gitops.PAUSED_APPLICATION_NAMESPACE: ""}}},
                {"metadata": {"annotations": {gitops.PAUSED_APPLICATION_NAMESPACE: 7}}}):
        assert gitops.paused_application_namespace(obj) is None


@pytest.mark.parametrize("dry_run", [DryRun.CLIENT, DryRun.SERVER])
@pytest.mark.parametrize("mode", [GitOpsMode.PAUSE, GitOpsMode.IGNORE])
def test_a_dry_run_says_what_the_owner_would_do_and_what_git_would_need(owned, mode, dry_run):
    """A dry run changed nothing and paused nothing: no line of it tells to revert a change in Git or to resume,
    each says what the rollback would make necessary."""
    result = WEB.rollback(owned, RollbackRequest(flags=FLAGS, gitops=mode, dry_run=dry_run), lambda p: None)
    said = list(result.notes()) + list(result.gitops.warnings)
    assert said and all("would" in line.split() for line in said), said
    assert owned.writes(dry_runs=False) == [] and image(owned) == "img:2"
