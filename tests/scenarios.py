"""What the cluster tests share: the identity flags, annotation keys, readers of the cluster's state, waiting, and
set-ups. The bulk set-ups (the reliability tests') are built for speed: no rollout is waited for unless the
scenario needs ready pods (a Blue/Green target colour does), and records that are only the scenario's starting point
are written as the annotations of the public contract (docs/annotations.md) with kubectl, many ReplicaSets per call.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, TypeVar

from tests import manifests
from tests.cluster.api import ApiFailure
from tests.cluster.controlplane import on_oldest_server

REVISION = "deployment.kubernetes.io/revision"
COLOR = "harness.io/color"
PREFIX = "harness.io/"
STATUS = PREFIX + "status"
WORKFLOW_ID = PREFIX + "workflow-id"
ROLLED_BACK_FROM = PREFIX + "rolled-back-from"
ROLLED_BACK_AT = PREFIX + "rolled-back-at"
ROLLED_BACK_TO = PREFIX + "rolled-back-to"
RELEASE = {PREFIX + "release-name": "r1"}  # the label that puts a workload in release r1
MAPPING = ("--service-id", "svc", "--infra-id", "infra")  # the infrastructure mapping the tests record under
IDENTITY = ("--workflow-id", "wf1", *MAPPING)
CLUSTER_NAME = "test-cluster"  # the admin kubeconfig's cluster (tests/cluster/controlplane.py)
RECORD_KEYS = ("status", "workflow-id", "service-id", "infra-id", "cluster-name", "recorded-at")
STATUSES = ("Succeeded", "Failed", "InProgress")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


T = TypeVar("T")


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 60, interval: float = 0.3) -> T:
    """Poll `predicate` until it returns something true, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- reading the cluster ---------------------------------------------------------------------------------------


def image_of(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def live_image(ns, kind: str = "deployment", name: str = "web") -> str:
    """The image in the pod template of a workload as the API server has it now."""
    return image_of(ns.get(kind, name))


def revision_of(rs: dict) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))


def harness_annotations(obj: dict) -> dict:
    return {k: v for k, v in (obj["metadata"].get("annotations") or {}).items() if k.startswith(PREFIX)}


def replicasets(ns, app: Optional[str] = None) -> Dict[str, List[dict]]:
    """ReplicaSets by their `app` label (one `kubectl get`), each list oldest revision first."""
    selector = ("-l", f"app={app}") if app else ()
    by_app: Dict[str, List[dict]] = {}
    for rs in ns.items("rs", *selector):
        by_app.setdefault(rs["metadata"]["labels"].get("app", ""), []).append(rs)
    for items in by_app.values():
        items.sort(key=revision_of)
    return by_app


def rs_by_image(ns, app: str) -> Dict[str, dict]:
    """The ReplicaSets of one Deployment keyed by their image (each image is one revision in these scenarios)."""
    return {image_of(rs): rs for rs in replicasets(ns, app).get(app, [])}


def workload_state(ns, name: str = "web") -> tuple:
    """(Deployment `name`, its ReplicaSets oldest revision first) in one `kubectl get`."""
    deployment, sets = None, []
    for obj in ns.items("deployments,replicasets"):
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == name:
            deployment = obj
        elif obj["kind"] == "ReplicaSet" and obj["metadata"].get("labels", {}).get("app") == name:
            sets.append(obj)
    return deployment, sorted(sets, key=revision_of)


def at_rest(deployment: dict, sets: List[dict]) -> bool:
    """Whether the controllers have nothing left to write on a Deployment and its ReplicaSets: every generation
    observed, every ReplicaSet holding the replicas it wants, all available unless its image is broken (the node
    simulator never readies those), and the Deployment's counts adding them up. A client's preconditioned write
    can then only race other clients, never a status update."""
    def observed(obj: dict) -> bool:
        return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]

    replicas = available = 0
    for rs in sets:
        status, wanted = rs.get("status") or {}, rs["spec"]["replicas"]
        ready = 0 if "broken" in image_of(rs) else wanted
        if not observed(rs) or status.get("replicas", 0) != wanted or status.get("availableReplicas", 0) != ready:
            return False
        replicas, available = replicas + wanted, available + ready
    status = deployment.get("status") or {}
    return bool(sets) and observed(deployment) and (status.get("replicas", 0), status.get("availableReplicas", 0)) == (
        replicas, available)


def wait_at_rest(ns, names: Iterable[str], timeout: float = 180) -> None:
    """Until every Deployment named in `names` is at_rest, polling all of them with one `kubectl get`."""
    names = set(names)

    def resting():
        deployments, sets = {}, {}
        for obj in ns.items("deployments,replicasets"):
            if obj["kind"] == "Deployment":
                deployments[obj["metadata"]["name"]] = obj
            else:
                for owner in obj["metadata"].get("ownerReferences") or []:
                    sets.setdefault(owner["name"], []).append(obj)
        return all(name in deployments and at_rest(deployments[name], sets.get(name, [])) for name in names)

    wait_until(resting, f"{len(names)} Deployments and their ReplicaSets to be at rest", timeout=timeout,
               interval=0.5)


def template_without_hash(template: dict) -> dict:
    template = json.loads(json.dumps(template))
    template["metadata"].get("labels", {}).pop("pod-template-hash", None)
    return template


def malformed_harness_annotations(rs: dict) -> List[str]:
    """What is wrong with the harness.io/* annotations of one ReplicaSet ([] when all is well-formed)."""
    problems = []
    annotations = harness_annotations(rs)
    name = rs["metadata"]["name"]
    status = annotations.get(STATUS)
    if annotations and status not in STATUSES:
        problems.append(f"{name}: {STATUS}={status!r}")
    for key in ("workflow-id", "service-id", "infra-id", "cluster-name"):
        if status is not None and not annotations.get(PREFIX + key):
            problems.append(f"{name}: {PREFIX}{key} missing or empty next to a status")
    for key in ("recorded-at", "rolled-back-at"):
        value = annotations.get(PREFIX + key)
        if value is not None and not RFC3339.fullmatch(value):
            problems.append(f"{name}: {PREFIX}{key}={value!r} is not RFC 3339")
    rolled_from = annotations.get(ROLLED_BACK_FROM)
    if rolled_from is not None and not (rolled_from.isdigit() or rolled_from == "unknown"):
        problems.append(f"{name}: {ROLLED_BACK_FROM}={rolled_from!r}")
    if (rolled_from is None) != (annotations.get(ROLLED_BACK_AT) is None):
        problems.append(f"{name}: {ROLLED_BACK_FROM} and {ROLLED_BACK_AT} must come together")
    return problems


# -- writing the cluster ---------------------------------------------------------------------------------------


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_past_creation_second(ns, revision: dict, what: str) -> None:
    """Kubernetes 1.20's deployment controller prunes old ReplicaSets in creationTimestamp order (whole seconds, ties
    broken by name; by revision only from 1.21, kubernetes/kubernetes#82570). A test that asserts which revision is
    pruned creates the next one in a later second, so that the pruning order is the revision order. Only the 1.20
    leg waits: newer servers prune in revision order."""
    if not on_oldest_server():
        return
    ns.wait_until(lambda: now_rfc3339() > revision["metadata"]["creationTimestamp"],
                  f"the second in which {what} was created to pass")


def record_annotation_args(status: str, workflow: str = "wf1", service: str = "svc", infra: str = "infra") -> list:
    return [f"{STATUS}={status}", f"{WORKFLOW_ID}={workflow}", f"{PREFIX}service-id={service}",
            f"{PREFIX}infra-id={infra}", f"{PREFIX}cluster-name={CLUSTER_NAME}", f"{PREFIX}recorded-at={now_rfc3339()}"]


def labelled(manifest: str, labels: dict) -> str:
    """A workload manifest with `labels` added to its pod template (the controller copies them onto revisions)."""
    obj = json.loads(manifest)
    obj["spec"]["template"]["metadata"]["labels"].update(labels)
    return json.dumps(obj)


def deploy_and_record(ns, workload: str, manifest: str, status: str, *record_args: str, rollout: bool = True) -> None:
    """One pipeline run: apply, wait for the rollout when it should succeed (unless `rollout` is False), record the
    outcome with the real `record`."""
    ns.apply(manifest)
    if rollout and status == "Succeeded":
        ns.rollout_status(workload)
    ns.plugin("record", workload, "--status", status, *record_args, check=True)


def resync(ns, name: str) -> None:
    """Make the deployment controller sync deployment/NAME (a spec change) and wait until it has: that sync copies
    the Deployment's annotations onto its live ReplicaSet."""
    generation = ns.kubectl("patch", f"deployment/{name}", "-o", "jsonpath={.metadata.generation}", "-p",
                            json.dumps({"spec": {"minReadySeconds": 1}})).stdout
    ns.wait_until(lambda: ns.get("deployment", name)["status"].get("observedGeneration") == int(generation),
                  f"the controller to sync deployment/{name}")


def annotate(ns, kind: str, names: Iterable[str], *pairs: str) -> None:
    """One `kubectl annotate --overwrite` for many objects of one kind."""
    names = list(names)
    if names:
        ns.kubectl("annotate", "--overwrite", kind, *names, *pairs)


def apply_all(ns, manifest_texts: Iterable[str]) -> None:
    """Several manifests in one `kubectl apply` (a v1 List)."""
    items = [json.loads(text) for text in manifest_texts]
    if items:
        ns.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def wait_for_revisions(ns, wanted: Dict[str, int], timeout: float = 180) -> Dict[str, List[dict]]:
    """Until each Deployment (by app label) has at least `wanted[app]` numbered ReplicaSets; returns them."""
    def ready():
        current = replicasets(ns)
        counts = {app: sum(1 for rs in current.get(app, []) if revision_of(rs)) for app in wanted}
        return current if all(counts[app] >= n for app, n in wanted.items()) else None

    return wait_until(ready, f"revisions {wanted}", timeout=timeout, interval=0.5)


# (image tag, workflow, status) of five pipeline runs of one Deployment: wf1 ok, wf1 ok, wf1 failed, wf2 ok on the
# same mapping, wf1 failed and live. The target for wf1 is revision 2, for any workflow revision 4.
FIVE_RUNS = (("1", "wf1", "Succeeded"), ("2", "wf1", "Succeeded"), ("3-broken", "wf1", "Failed"),
             ("4", "wf2", "Succeeded"), ("5-broken", "wf1", "Failed"))


def five_revisions(ns, name: str = "web", rollout: bool = False) -> None:
    """FIVE_RUNS through the real `record`; rollouts of the good revisions are waited for only with `rollout`."""
    for tag, workflow, status in FIVE_RUNS:
        deploy_and_record(ns, f"deployment/{name}", manifests.deployment(name, f"example.test/{name}:{tag}"), status,
                          "--workflow-id", workflow, *MAPPING, rollout=rollout)


# -- Blue/Green ------------------------------------------------------------------------------------------------


def selectors(ns, app: str) -> tuple:
    """(primary, stage) colours of Blue/Green pair `app` / `app-stage`."""
    return tuple(ns.get("service", name)["spec"]["selector"][COLOR] for name in (app, f"{app}-stage"))


def ready_endpoint_ips(ns, name: str) -> list:
    subsets = ns.get("endpoints", name).get("subsets") or []
    return sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])


def bluegreen_objects(app: str) -> list:
    """Blue (tag 1) behind the stage Service, green (tag 2) live on the primary Service `app`."""
    return [manifests.colour_deployment(app, "blue", f"example.test/{app}:1", replicas=1),
            manifests.colour_deployment(app, "green", f"example.test/{app}:2", replicas=1),
            manifests.colour_service(app, app, "green", "primary"),
            manifests.colour_service(f"{app}-stage", app, "blue", "stage")]


def settle_bluegreen(ns, apps: List[str]) -> None:
    """Once bluegreen_objects(app) are applied, for each app: blue recorded Succeeded and ready behind the stage
    Service, green recorded Failed: the state in which `rollback service/APP` routes traffic back to blue."""
    wanted = {f"{app}-{color}" for app in apps for color in ("blue", "green")}

    def by_deployment():
        found = {}
        for rs in ns.items("rs"):
            owner = next((o["name"] for o in rs["metadata"].get("ownerReferences") or []), None)
            if owner in wanted and revision_of(rs):
                found[owner] = rs["metadata"]["name"]
        return found if len(found) == len(wanted) else None

    found = wait_until(by_deployment, "the Blue/Green ReplicaSets", timeout=180, interval=0.5)
    annotate(ns, "rs", [found[f"{app}-blue"] for app in apps], *record_annotation_args("Succeeded"))
    annotate(ns, "rs", [found[f"{app}-green"] for app in apps], *record_annotation_args("Failed"))

    def blue_ready():
        deployments = {d["metadata"]["name"]: d for d in ns.items("deployments")}
        if any(((deployments[f"{app}-blue"].get("status") or {}).get("availableReplicas") or 0) < 1 for app in apps):
            return False
        return all(ready_endpoint_ips(ns, f"{app}-stage") for app in apps)

    wait_until(blue_ready, "blue to be available behind every stage Service", timeout=180, interval=0.5)


# -- quick set-up steps through the test harness's own API client (no kubectl process per step) ---------------


def set_image_quickly(ns, name: str, image: str) -> None:
    """What `kubectl set image deployment/NAME app=IMAGE` does, as one strategic-merge patch."""
    ns.cluster.api.patch(f"/apis/apps/v1/namespaces/{ns.name}/deployments/{name}",
                         {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
                         kind="strategic-merge")


def annotate_quickly(ns, rs_name: str, annotations: dict) -> None:
    ns.cluster.api.patch(f"/apis/apps/v1/namespaces/{ns.name}/replicasets/{rs_name}",
                         {"metadata": {"annotations": annotations}})


def workload_state_quickly(ns, name: str = "web") -> tuple:
    """workload_state without kubectl, for polling."""
    base = f"/apis/apps/v1/namespaces/{ns.name}"
    deployment = ns.cluster.api.get(f"{base}/deployments/{name}")
    sets = ns.cluster.api.get(f"{base}/replicasets", labelSelector=f"app={name}")["items"]
    return deployment, sorted(sets, key=revision_of)


# -- running the plugin concurrently ---------------------------------------------------------------------------


def start_plugin(ns, *args: str, env: Optional[dict] = None) -> subprocess.Popen:
    """`kubectl harness-rollback ARGS -n NS` started without waiting, as ns.plugin runs it."""
    return subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", *args, "-n", ns.name],
                            env=env or ns.cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 180) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not finish within {timeout}s\n{out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_together(ns, *commands: tuple) -> List[subprocess.CompletedProcess]:
    """Start every command (a tuple of plugin arguments) before waiting for any."""
    procs = [start_plugin(ns, *command) for command in commands]
    return [finish(proc) for proc in procs]


def deploy_three_revisions(ns, name: str = "web") -> None:
    """Revisions 1 and 2 rolled out, 3 broken (never ready): what a Harness history typically points at."""
    for tag in ("1", "2", "3-broken"):
        ns.apply(manifests.deployment(name, f"example.test/{name}:{tag}"))
        if "broken" not in tag:
            ns.rollout_status(f"deployment/{name}")


# -- GitOps owners' CustomResourceDefinitions (docs/gitops.md): the exact groups, versions and names, minimal schemas

ARGO = ("argoproj.io", "v1alpha1", "applications", "Application", "application")
FLUX = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization", "kustomization")
HELM = ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease", "helmrelease")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd(group: str, version: str, plural: str, kind: str, singular: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": f"{kind}List"},
            "versions": [{"name": version, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def gitops_crds_installed(cluster) -> ContextManager[None]:
    """Argo CD's Application and Flux's Kustomization and HelmRelease CRDs, Established; deleted on the way out."""
    return crds_installed(cluster, (ARGO, FLUX, HELM))


@contextmanager
def crds_installed(cluster, specs: Iterable[tuple]) -> Iterator[None]:
    """The CRDs of `specs` (group, version, plural, kind, singular), Established; deleted on the way out."""
    paths = []
    try:
        for spec in specs:
            body = crd(*spec)
            path = f"{CRDS}/{body['metadata']['name']}"

            def created(body=body) -> bool:  # 409 while another module's copy is still being deleted
                try:
                    cluster.api.post(CRDS, body)
                    return True
                except ApiFailure as exc:
                    if exc.status != 409:
                        raise
                    return False

            wait_until(created, f"{path} to be created", timeout=120)
            paths.append(path)

            def established(path=path) -> bool:
                conditions = (cluster.api.get(path).get("status") or {}).get("conditions") or []
                return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

            wait_until(established, f"{path} to be Established")
        yield
    finally:
        for path in paths:
            try:
                cluster.api.delete(path)
            except (ApiFailure, OSError):
                pass


def owner_path(ns, spec: tuple, name: str) -> str:
    group, version, plural = spec[:3]
    return f"/apis/{group}/{version}/namespaces/{ns.name}/{plural}/{name}"


def create_owner(ns, spec: tuple, name: str, body_spec: dict) -> str:
    group, version, plural, kind = spec[:4]
    collection = f"/apis/{group}/{version}/namespaces/{ns.name}/{plural}"

    def created():  # the first write right after Established may still meet a 404 while the handler starts
        try:
            ns.cluster.api.post(collection, {"apiVersion": f"{group}/{version}", "kind": kind,
                                             "metadata": {"name": name}, "spec": body_spec})
            return True
        except ApiFailure as exc:
            if exc.status != 404:
                raise
            return False

    wait_until(created, f"{kind} {name} to be created")
    return owner_path(ns, spec, name)
