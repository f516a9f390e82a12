"""GitOps awareness on the real cluster (docs/gitops.md): the CustomResourceDefinitions of Argo CD's Application and
Flux's Kustomization (exact groups, versions and names, minimal schemas), and a thread that plays their controller:
every second it puts Git's manifest back unless the owner is paused (Argo CD: self-heal off; Flux: suspended)."""

import json
import re
import shlex
import threading
import time
from pathlib import Path

import pytest

from tests import manifests
from tests import scenarios as sc
from tests.cluster.controlplane import on_oldest_server
from tests.scenarios import ARGO, FLUX, HELM, create_owner

RBAC_YAML = Path(__file__).resolve().parents[1] / "docs" / "rbac.yaml"
GIT_IMAGE = "example.test/web:2-broken"  # what Git says: the failed release 2
GOOD_IMAGE = "example.test/web:1"
PAUSED_BY = "harness.io/gitops-paused"
def reverts(owner: dict) -> bool:
    """What the controller does: Argo CD heals drift with self-heal on; Flux reconciles unless suspended."""
    spec = owner.get("spec") or {}
    if owner["kind"] == "Application":  # Argo CD's IsAutomatedSyncEnabled (`enabled` nil or true), then GetSelfHeal
        automated = (spec.get("syncPolicy") or {}).get("automated")
        enabled = isinstance(automated, dict) and automated.get("enabled") is not False
        return enabled and automated.get("selfHeal") is True
    return spec.get("suspend") is not True


class GitController(threading.Thread):
    """Plays Argo CD or Flux: every second, unless paused, puts Git's pod template back on deployment/web."""

    def __init__(self, ns, owner: str, template: dict):
        super().__init__(daemon=True)
        self.ns, self.owner, self.template = ns, owner, template
        self.stopped = threading.Event()
        self.ticks = 0
        self.failure = None

    def run(self) -> None:
        api = self.ns.cluster.api
        path = f"/apis/apps/v1/namespaces/{self.ns.name}/deployments/web"
        while not self.stopped.is_set():
            try:
                if reverts(api.get(self.owner)):
                    api.patch(path, {"spec": {"template": self.template}}, kind="strategic-merge")
                self.ticks += 1
            except Exception as exc:  # reported by stop(): a dead controller must fail the test, not pass it
                self.failure = exc
                return
            self.stopped.wait(1.0)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)
        assert not self.is_alive(), "the controller thread did not stop"
        assert self.failure is None, f"the controller thread failed: {self.failure!r}"


def deploy_owned(ns, metadata: dict) -> dict:
    """Release 1 Succeeded, release 2 (Git's) Failed and live; `metadata` (labels, annotations) on the Deployment.
    Returns Git's pod template."""
    for image, status in ((GOOD_IMAGE, "Succeeded"), (GIT_IMAGE, "Failed")):
        manifest = json.loads(manifests.deployment("web", image))
        manifest["metadata"].update(metadata)
        sc.deploy_and_record(ns, "deployment/web", json.dumps(manifest), status, "--workflow-id", "wf1",
                             *sc.MAPPING)
    return json.loads(manifests.deployment("web", GIT_IMAGE))["spec"]["template"]


def argo_metadata(ns, app: str) -> dict:
    return {"annotations": {"argocd.argoproj.io/tracking-id": f"{app}:apps/Deployment:{ns.name}/web"}}


def flux_metadata(ns, name: str) -> dict:
    return {"labels": {"kustomize.toolkit.fluxcd.io/name": name, "kustomize.toolkit.fluxcd.io/namespace": ns.name}}


@pytest.fixture
def controller():
    """Start a GitController with start(ns, owner, template); it is always stopped at teardown."""
    started = []

    def start(ns, owner: str, template: dict) -> GitController:
        loop = GitController(ns, owner, template)
        started.append(loop)
        loop.start()
        return loop

    yield start
    for loop in started:
        loop.stop()


def image(ns) -> str:
    return sc.live_image(ns)


def rollback(ns, *args: str):
    return ns.plugin("rollback", "deployment/web", "--argocd-namespace", ns.name, *args)


def holds_for(ns, loop: GitController, seconds: float) -> None:
    """The rolled-back image stays while the controller runs at least `seconds` more of its ticks."""
    first = loop.ticks
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert image(ns) == GOOD_IMAGE, "the controller undid the rollback"
        time.sleep(0.5)
    assert loop.ticks - first >= seconds - 2, f"the controller ran only {loop.ticks - first} times"


APP_SYNC = {"automated": {"selfHeal": True, "prune": True}}


def test_argo_default_refuses_and_changes_nothing(ns, gitops_crds, controller):
    template = deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    controller(ns, app_path, template)
    before = (ns.get("deployment", "web")["metadata"]["resourceVersion"],
              ns.cluster.api.get(app_path)["metadata"]["resourceVersion"])
    proc = rollback(ns)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Argo CD Application {ns.name}/shop" in lines[0], proc.stderr
    assert "revert the change in Git" in lines[0] and "--gitops=pause" in lines[0] and "--gitops=ignore" in lines[0]
    after = (ns.get("deployment", "web")["metadata"]["resourceVersion"],
             ns.cluster.api.get(app_path)["metadata"]["resourceVersion"])
    assert after == before and image(ns) == GIT_IMAGE


def test_argo_pause_holds_and_resume_restores_self_heal(ns, gitops_crds, controller):
    template = deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC, "source": {"path": "web"}})
    loop = controller(ns, app_path, template)
    proc = rollback(ns, "--gitops=pause")
    assert proc.returncode == 0, proc.stderr
    assert "resume deployment/web" in proc.stderr and "revert the change in Git" in proc.stderr
    app = ns.cluster.api.get(app_path)
    assert app["spec"]["syncPolicy"]["automated"] == {"selfHeal": False, "prune": True}
    stamp = json.loads(app["metadata"]["annotations"][PAUSED_BY])
    assert (stamp["field"], stamp["before"], stamp["after"], stamp["reason"]) == (
        "spec.syncPolicy.automated.selfHeal", True, False, "rollback of deployment/web")
    assert image(ns) == GOOD_IMAGE
    holds_for(ns, loop, 10)
    shown = ns.plugin("history", "deployment/web", "--argocd-namespace", ns.name, check=True)
    assert f"managed by Argo CD Application {ns.name}/shop" in shown.stderr and "paused" in shown.stderr

    resumed = ns.plugin("resume", "deployment/web", "--argocd-namespace", ns.name)
    assert resumed.returncode == 0, resumed.stderr
    app = ns.cluster.api.get(app_path)
    assert app["spec"] == {"syncPolicy": APP_SYNC, "source": {"path": "web"}}
    assert PAUSED_BY not in (app["metadata"].get("annotations") or {})
    ns.wait_until(lambda: image(ns) == GIT_IMAGE, "the controller to put Git's template back after resume")


def test_argo_resume_leaves_a_self_heal_someone_changed_since(ns, gitops_crds):
    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    assert rollback(ns, "--gitops=pause").returncode == 0
    ns.cluster.api.patch(app_path, {"spec": {"syncPolicy": {"automated": None}}})  # someone turned auto-sync off
    proc = ns.plugin("resume", "deployment/web", "--argocd-namespace", ns.name)
    assert proc.returncode == 1 and "changed since the pause" in proc.stderr, proc.stderr
    app = ns.cluster.api.get(app_path)
    assert "automated" not in app["spec"]["syncPolicy"] and PAUSED_BY in app["metadata"]["annotations"]


def test_argo_ignore_warns_and_the_controller_reverts_it(ns, gitops_crds, controller):
    template = deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    proc = rollback(ns, "--gitops=ignore")
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr.lower() and "will undo this rollback" in proc.stderr
    assert image(ns) == GOOD_IMAGE
    assert PAUSED_BY not in (ns.cluster.api.get(app_path)["metadata"].get("annotations") or {})
    controller(ns, app_path, template)
    ns.wait_until(lambda: image(ns) == GIT_IMAGE, "the controller to undo the ignored rollback")


def test_argo_auto_sync_off_rolls_back_with_a_note(ns, gitops_crds, controller):
    template = deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": {}})
    loop = controller(ns, app_path, template)
    proc = rollback(ns)
    assert proc.returncode == 0, proc.stderr
    assert "will not undo the rollback (auto-sync is off)" in proc.stderr
    assert "--gitops" not in proc.stderr
    holds_for(ns, loop, 3)


def test_argo_auto_sync_disabled_by_enabled_false_rolls_back_with_a_note(ns, gitops_crds, controller):
    """Argo CD's SyncPolicyAutomated.Enabled (a *bool): false turns auto-sync, and so self-heal, off."""
    template = deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": {"automated": {"enabled": False, "selfHeal": True}}})
    loop = controller(ns, app_path, template)
    proc = rollback(ns)
    assert proc.returncode == 0, proc.stderr
    assert "will not undo the rollback (auto-sync is off: automated.enabled is false)" in proc.stderr, proc.stderr
    holds_for(ns, loop, 3)


def test_a_config_only_rollback_is_guarded_and_pipelines_read_the_owner_in_json(ns, gitops_crds):
    """The live template is the last good one and only its ConfigMap changed: the rollback writes the ConfigMap and
    restarts the pods, so it meets the same GitOps check as a template rollback, and -o json says what was done."""
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"mode": "good"}}
    manifest = json.loads(manifests.deployment("web", GOOD_IMAGE))
    manifest["metadata"].update(argo_metadata(ns, "shop"))
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "mode"}}}]
    ns.apply(json.dumps(cfg))
    sc.deploy_and_record(ns, "deployment/web", json.dumps(manifest), "Succeeded", "--workflow-id", "wf1", *sc.MAPPING)
    ns.apply(json.dumps(dict(cfg, data={"mode": "broken"})))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})

    def mode() -> str:
        return ns.get("configmap", "web-config")["data"]["mode"]

    described = json.loads(ns.plugin("history", "deployment/web", "--argocd-namespace", ns.name, "-o", "json",
                                     check=True).stdout)["gitops"]
    assert (described["owner"], described["undoesRollbacks"]) == (f"Argo CD Application {ns.name}/shop", True)
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]
    refused = rollback(ns)
    assert refused.returncode == 1 and "--gitops=pause" in refused.stderr, refused.stderr
    assert mode() == "broken" and ns.get("deployment", "web")["metadata"]["resourceVersion"] == before
    proc = rollback(ns, "--gitops=pause", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)
    assert "its config was restored" in done["message"] and mode() == "good"
    assert (done["gitops"]["action"], done["gitops"]["undoesRollbacks"]) == ("paused", True)
    assert any("resume deployment/web" in note for note in done["gitops"]["notes"])
    assert json.loads(ns.cluster.api.get(app_path)["metadata"]["annotations"][PAUSED_BY])["before"] is True


def test_argo_label_tracking_needs_the_application(ns, gitops_crds):
    deploy_owned(ns, {"labels": {"app.kubernetes.io/instance": "shop"}})
    create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    proc = rollback(ns)
    assert proc.returncode == 1 and f"Argo CD Application {ns.name}/shop" in proc.stderr, proc.stderr
    # Under another --argocd-namespace there is no Application of that name: the label alone is no owner.
    proc = ns.plugin("rollback", "deployment/web", "--argocd-namespace", "default")
    assert proc.returncode == 0 and "Argo CD" not in proc.stderr, proc.stderr
    assert image(ns) == GOOD_IMAGE


def test_rbac_that_hides_the_application_warns_and_rolls_back(ns, gitops_crds):
    deploy_owned(ns, argo_metadata(ns, "shop"))
    create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    ns.kubectl("apply", "-f", str(RBAC_YAML))
    ns.kubectl("create", "rolebinding", "gitops-rollback", "--role=harness-rollback-rollback", "--user=gitops-user")
    proc = rollback(ns, "--as", "gitops-user")
    assert proc.returncode == 0, proc.stderr
    assert f"Argo CD Application {ns.name}/shop, which we may not read (RBAC)" in proc.stderr
    assert image(ns) == GOOD_IMAGE


def test_a_pause_asked_by_a_user_who_may_not_read_the_application_is_refused(ns, gitops_crds):
    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    ns.kubectl("apply", "-f", str(RBAC_YAML))
    ns.kubectl("create", "rolebinding", "gitops-rollback", "--role=harness-rollback-rollback", "--user=gitops-user")
    before = (ns.get("deployment", "web")["metadata"]["resourceVersion"],
              ns.cluster.api.get(app_path)["metadata"]["resourceVersion"])
    proc = rollback(ns, "--gitops=pause", "--as", "gitops-user")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert "--gitops=pause cannot pause it: nothing was changed" in lines[0], lines[0]
    after = (ns.get("deployment", "web")["metadata"]["resourceVersion"],
             ns.cluster.api.get(app_path)["metadata"]["resourceVersion"])
    assert after == before and image(ns) == GIT_IMAGE


def test_flux_pause_and_resume_restore_suspend_exactly(ns, gitops_crds, controller):
    template = deploy_owned(ns, flux_metadata(ns, "apps"))
    path = create_owner(ns, FLUX, "apps", {"interval": "1m", "path": "./web"})
    loop = controller(ns, path, template)
    refused = rollback(ns)
    assert refused.returncode == 1 and f"Flux Kustomization {ns.name}/apps" in refused.stderr, refused.stderr
    assert image(ns) == GIT_IMAGE and "suspend" not in ns.cluster.api.get(path)["spec"]

    proc = rollback(ns, "--gitops=pause")
    assert proc.returncode == 0, proc.stderr
    kustomization = ns.cluster.api.get(path)
    assert kustomization["spec"]["suspend"] is True and PAUSED_BY in kustomization["metadata"]["annotations"]
    holds_for(ns, loop, 10)

    assert ns.plugin("resume", "deployment/web").returncode == 0
    kustomization = ns.cluster.api.get(path)
    assert kustomization["spec"] == {"interval": "1m", "path": "./web"}  # suspend was absent: absent again
    assert PAUSED_BY not in (kustomization["metadata"].get("annotations") or {})
    ns.wait_until(lambda: image(ns) == GIT_IMAGE, "Flux to put Git's template back after resume")


def test_bluegreen_service_refused_then_paused_and_resumed(ns, gitops_crds):
    sc.apply_all(ns, sc.bluegreen_objects("web"))
    sc.settle_bluegreen(ns, ["web"])
    ns.kubectl("annotate", "service/web", f"argocd.argoproj.io/tracking-id=shop:/Service:{ns.name}/web")
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    refused = ns.plugin("rollback", "service/web", "--argocd-namespace", ns.name)
    assert refused.returncode == 1 and f"service/web is managed by Argo CD Application {ns.name}/shop" in (
        refused.stderr), refused.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")

    proc = ns.plugin("rollback", "service/web", "--gitops=pause", "--argocd-namespace", ns.name)
    assert proc.returncode == 0, proc.stderr
    assert sc.selectors(ns, "web") == ("blue", "green") and "resume service/web" in proc.stderr
    shown = ns.plugin("history", "service/web", "--argocd-namespace", ns.name, check=True)
    assert f"managed by Argo CD Application {ns.name}/shop" in shown.stderr and "paused" in shown.stderr
    assert ns.cluster.api.get(app_path)["spec"]["syncPolicy"] == {"automated": {"selfHeal": False, "prune": True}}

    assert ns.plugin("resume", "service/web", "--argocd-namespace", ns.name).returncode == 0
    app = ns.cluster.api.get(app_path)
    assert app["spec"]["syncPolicy"] == APP_SYNC and PAUSED_BY not in (app["metadata"].get("annotations") or {})


def test_flux_helmrelease_refused_then_paused_and_resumed(ns, gitops_crds):
    deploy_owned(ns, {"labels": {"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": ns.name}})
    path = create_owner(ns, HELM, "web", {"interval": "5m", "suspend": False})
    refused = rollback(ns)
    assert refused.returncode == 1 and f"Flux HelmRelease {ns.name}/web" in refused.stderr, refused.stderr
    assert image(ns) == GIT_IMAGE
    assert rollback(ns, "--gitops=pause").returncode == 0
    assert ns.cluster.api.get(path)["spec"] == {"interval": "5m", "suspend": True} and image(ns) == GOOD_IMAGE
    assert ns.plugin("resume", "deployment/web").returncode == 0
    release = ns.cluster.api.get(path)
    assert release["spec"] == {"interval": "5m", "suspend": False}  # false before: false again, not removed
    assert PAUSED_BY not in (release["metadata"].get("annotations") or {})


def test_the_printed_resume_command_works_when_copied(ns, gitops_crds):
    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    proc = rollback(ns, "--gitops=pause")
    assert proc.returncode == 0, proc.stderr
    printed = re.search(r"then run: (kubectl harness-rollback resume .*)$", proc.stderr, re.M)
    assert printed, proc.stderr
    assert printed.group(1) == (f"kubectl harness-rollback resume deployment/web -n {ns.name} "
                                f"--argocd-namespace {ns.name}")
    # The stamp says who paused (the user the API server takes the caller for: SelfSubjectReview, served from 1.27),
    # or why it cannot (1.20 serves no SelfSubjectReview).
    stamp = json.loads(ns.cluster.api.get(app_path)["metadata"]["annotations"][PAUSED_BY])
    if on_oldest_server():
        assert stamp["by"].startswith("kubectl-harness-rollback (user unknown: no SelfSubjectReview answered"), stamp
    else:
        assert stamp["by"] == "admin with kubectl-harness-rollback", stamp
    copied = ns.cluster.run(*shlex.split(printed.group(1))[1:])  # as typed in a shell, without -n added
    assert copied.returncode == 0 and "restored to true" in copied.stdout, copied.stderr
    assert ns.cluster.api.get(app_path)["spec"]["syncPolicy"] == APP_SYNC


def test_resume_that_cannot_find_the_owner_says_so_in_its_own_words(ns, gitops_crds):
    deploy_owned(ns, argo_metadata(ns, "shop"))
    create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    proc = ns.plugin("resume", "deployment/web")  # the Application is in ns, not in argocd
    assert proc.returncode == 1
    assert "cannot resume:" in proc.stderr and "pass --argocd-namespace" in proc.stderr, proc.stderr
    assert "rolling back" not in proc.stderr


@pytest.mark.parametrize("target", ["deployment/web", "service/web"])
def test_resume_typed_by_hand_finds_the_application_the_pause_was_in(ns, gitops_crds, target):
    """Issue 26: a person typing `resume KIND/NAME` without --argocd-namespace, after a pause of an Application in
    another namespace than argocd: the pause left on the object where the Application is, and resume uses it."""
    if target == "deployment/web":
        deploy_owned(ns, argo_metadata(ns, "shop"))
    else:
        sc.apply_all(ns, sc.bluegreen_objects("web"))
        sc.settle_bluegreen(ns, ["web"])
        ns.kubectl("annotate", "service/web", f"argocd.argoproj.io/tracking-id=shop:/Service:{ns.name}/web")
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    before = ns.plugin("resume", target)  # nothing paused yet: not found, in its own words
    assert before.returncode == 1 and "pass --argocd-namespace" in before.stderr, before.stderr
    dry = ns.plugin("rollback", target, "--gitops=pause", "--argocd-namespace", ns.name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "harness.io/gitops-paused-in" not in (ns.get(*target.split("/"))["metadata"].get("annotations") or {})
    paused = ns.plugin("rollback", target, "--gitops=pause", "--argocd-namespace", ns.name)
    assert paused.returncode == 0, paused.stderr
    assert ns.cluster.api.get(app_path)["spec"]["syncPolicy"]["automated"]["selfHeal"] is False
    resumed = ns.plugin("resume", target)  # as typed by hand: no --argocd-namespace
    assert resumed.returncode == 0 and "restored to true" in resumed.stdout, resumed.stdout + resumed.stderr
    app = ns.cluster.api.get(app_path)
    assert app["spec"]["syncPolicy"] == APP_SYNC and PAUSED_BY not in (app["metadata"].get("annotations") or {})
