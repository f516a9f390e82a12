"""The one simulated piece: a node, since no kubelet can run here.

It registers a Node, binds pending pods to it, marks them Running and Ready with a pod IP from a documentation
range (so ReplicaSets report available replicas, Endpoints fill in and `kubectl rollout status` completes), and
finishes deleting pods that are terminating. Pods with an image matching `broken` stay Running but not Ready, so
a Deployment's progress deadline expires: a failed rollout, as a crash-looping release would give.

Each container status reports the `imageID` a kubelet with Docker would (`docker-pullable://REPO@sha256:...`): the
digest the tag points at in `registry` when the pod starts, which the tests control (`push` a tag again: pods started
after it run the new digest, the ones already running keep theirs); a tag pushed as None reports no repository digest
(`sha256:...`, an image built on the node). Tags never pushed point at a digest of their own name.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import re
import threading
from typing import Dict, Optional

from tests.cluster.api import Api, ApiFailure

NODE_NAME = "sim-node"
HOST_IP = "192.0.2.1"
DEFAULT_BROKEN = re.compile(r"broken")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_ips():
    # 192.0.2.0/24 and 203.0.113.0/24 (RFC 5737): never routed, never reached.
    for n in itertools.cycle(range(2, 255 * 2)):
        yield f"192.0.2.{n}" if n < 255 else f"203.0.113.{n - 253}"


class NodeSimulator:
    def __init__(self, api: Api, broken: re.Pattern = DEFAULT_BROKEN, interval: float = 0.2):
        self.api = api
        self.broken = broken
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._ips = _pod_ips()
        self.errors: list = []
        self.registry: Dict[str, Optional[str]] = {}  # image reference -> the digest its tag points at now

    def push(self, image: str, digest: Optional[str]) -> None:
        """Point tag `image` (repo:tag) at `digest` (sha256:...), or at no repository digest (None)."""
        self.registry[image] = digest

    def image_id(self, image: str) -> str:
        repository, _, pinned = image.partition("@")
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        digest = pinned or self.registry.get(image, "sha256:" + hashlib.sha256(image.encode()).hexdigest())
        if digest is None:
            return "sha256:" + hashlib.sha256(b"local " + image.encode()).hexdigest()
        return f"docker-pullable://{repository}@{digest}"

    def start(self) -> NodeSimulator:
        self._register_node()
        self._thread = threading.Thread(target=self._run, name="node-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _register_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
            },
        }
        try:
            self.api.post("/api/v1/nodes", node)
        except ApiFailure as exc:
            if exc.status != 409:
                raise
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000"}
        self.api.patch(
            f"/api/v1/nodes/{NODE_NAME}/status",
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "addresses": [{"type": "InternalIP", "address": HOST_IP}],
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "KubeletReady",
                         "lastHeartbeatTime": _now(), "lastTransitionTime": _now()},
                    ],
                }
            },
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # keep simulating; the tests see the effect, and errors are kept for reports
                self.errors.append(repr(exc))
                del self.errors[:-20]

    def tick(self) -> None:
        pods = self.api.get("/api/v1/pods")["items"]
        for pod in pods:
            meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            try:
                if meta.get("deletionTimestamp"):
                    self.api.delete(path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
                elif not spec.get("nodeName"):
                    self.api.post(path + "/binding", {
                        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
                    })
                elif status.get("phase") != "Running":
                    self.api.patch(path + "/status", {"status": self._running_status(pod)})
            except ApiFailure as exc:
                if exc.status not in (404, 409):
                    raise

    def _running_status(self, pod: dict) -> dict:
        containers = pod["spec"].get("containers") or []
        ready = not any(self.broken.search(c.get("image", "")) for c in containers)
        flag = "True" if ready else "False"
        now = _now()
        ip = next(self._ips)
        return {
            "phase": "Running",
            "hostIP": HOST_IP,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {
                    "name": c["name"], "image": c.get("image", ""), "imageID": self.image_id(c.get("image", "")),
                    "ready": ready,
                    "restartCount": 0 if ready else 3, "started": True,
                    "state": {"running": {"startedAt": now}},
                }
                for c in containers
            ],
        }
