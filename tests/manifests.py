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
