"""Small manifests the cluster tests apply with the real kubectl."""

from __future__ import annotations

import json


def deployment(name: str, image: str, replicas: int = 1, labels: dict = None, history_limit: int = 10,
               progress_deadline: int = 600, annotations: dict = None) -> str:
    labels = dict(labels or {}, app=name)
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": history_limit,
            "progressDeadlineSeconds": progress_deadline,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
            },
        },
    })


def on_delete(manifest: str) -> str:
    """A StatefulSet or DaemonSet manifest with updateStrategy OnDelete. Its pods tolerate the test node's
    not-ready:NoSchedule taint, which the API server puts on a new Node and only the node lifecycle controller (not
    run here) would take off: without it a DaemonSet schedules no pod at all (desiredNumberScheduled 0)."""
    obj = json.loads(manifest)
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    obj["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}]
    return json.dumps(obj)


def statefulset(name: str, image: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
            },
        },
    })


def daemonset(name: str, image: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
            },
        },
    })


def colour_deployment(app: str, color: str, image: str, replicas: int = 2) -> str:
    """One colour of a Blue/Green pair: deployment APP-COLOR whose pods carry harness.io/color."""
    labels = {"app": app, "harness.io/color": color}
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-{color}"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
            },
        },
    })


def colour_service(name: str, app: str, color: str, role: str) -> str:
    """A Blue/Green Service (`role` primary or stage) selecting one colour of APP."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {f"harness.io/{role}-service": "true"}},
        "spec": {"selector": {"app": app, "harness.io/color": color}, "ports": [{"port": 80}]},
    })


def canary(app: str, image: str) -> str:
    """Harness's canary of deployment APP: APP-canary whose pods carry harness.io/track: canary."""
    labels = {"app": app, "harness.io/track": "canary"}
    return json.dumps({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-canary"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 0},
            },
        },
    })
