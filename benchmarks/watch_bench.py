"""`make bench`, case 7: `watch` over many Deployments: its resident memory, and the delay from a rollout's end
(completion or failure) to its record.

Both ends of the delay are seen by one observer in the benchmark process, watching Deployments and ReplicaSets
through the plugin's own Kube.watch: the moment the Deployment event saying "rolled out" (observedGeneration caught
up, every count at its target) or "ProgressDeadlineExceeded" arrives, and the moment the ReplicaSet event carrying
the watcher's Succeeded/Failed record arrives. The observer's own latency is in both, so it cancels out. The bench
plane runs no node: a rollout of 0 replicas completes as soon as the controller has observed it, and one of 1
replica stays Pending until its progress deadline (5 s) fails it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

from kubectl_rollback.errors import ApiError
from kubectl_rollback.kube import DEPLOYMENTS, REPLICASETS, ConnectionOptions, Kube
from tests.cluster.controlplane import terminate

NAMESPACE = "bench-watch"
STATUS = "harness.io/status"
MEMORY_TARGET_MIB = 100
P95_TARGET_SECONDS = 2.0
FAILING_SHARE = 6  # one Deployment in this many gets a rollout that fails


class Observer:
    """When each Deployment's rollout ended and when its outcome was recorded, as seen from here."""

    def __init__(self, kube: Kube):
        self.kube = kube
        self.ended: Dict[str, float] = {}  # deployment -> when its rollout to the new image ended
        self.recorded: Dict[str, float] = {}  # deployment -> when the record of that ending arrived
        self.image = ""
        self._stop = threading.Event()

    def start(self) -> None:
        for resource, handle in ((DEPLOYMENTS, self._deployment), (REPLICASETS, self._replicaset)):
            _, version = self.kube.list_versioned(resource)
            threading.Thread(target=self._follow, args=(resource, version, handle), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _follow(self, resource, version: str, handle) -> None:
        while not self._stop.is_set():
            try:
                for event in self.kube.watch(resource, version, timeout_seconds=60):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        handle(obj, time.monotonic())
            except ApiError:  # a broken stream: resume; a missed event shows as a timeout of the case
                time.sleep(0.2)

    def _deployment(self, obj: dict, now: float) -> None:
        name = obj["metadata"]["name"]
        if name in self.ended or _image(obj) != self.image:
            return
        status = obj.get("status") or {}
        if status.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        failed = (conditions.get("Progressing") or {}).get("reason") == "ProgressDeadlineExceeded"
        desired = obj["spec"].get("replicas", 1)
        done = all((status.get(k) or 0) == desired for k in ("updatedReplicas", "availableReplicas", "replicas"))
        if failed or done:
            self.ended[name] = now

    def _replicaset(self, obj: dict, now: float) -> None:
        owner = next((o["name"] for o in obj["metadata"].get("ownerReferences") or []), None)
        status = (obj["metadata"].get("annotations") or {}).get(STATUS)
        if owner and owner not in self.recorded and _image(obj) == self.image and status in ("Succeeded", "Failed"):
            self.recorded[owner] = now


def _image(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def rss_mib(pid: int) -> tuple:
    """(current, peak) resident memory of a process, from /proc (VmRSS, VmHWM)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = int(value.split()[0]) / 1024 if value.strip().endswith("kB") else 0
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def run(bench, count: int, create_namespace: Callable, create_deployment: Callable, wait_synced: Callable,
        progress: Callable[[str], None], broke: type) -> List[str]:
    """Build `count` Deployments, start the watcher, roll every one out once more, and report (markdown lines).
    The helpers and the exception that says the benchmark broke are run.py's."""
    api = bench.api
    create_namespace(api, NAMESPACE)
    names = [f"w{i:03d}" for i in range(count)]
    for name in names:
        create_deployment(api, NAMESPACE, name, "example.test/app:1")
    wait_synced(api, NAMESPACE)
    log = Path(bench.env.get("TMPDIR", "/tmp")) / f"khr-bench-watch-{time.time_ns()}.log"
    out = log.open("w")
    proc = subprocess.Popen([bench.kubectl, "harness-rollback", "watch", "-n", NAMESPACE, "--log-format", "json"],
                            env=bench.env, stdout=out, stderr=subprocess.STDOUT)
    try:
        progress(f"case 7: the watcher records the first revision of {count} Deployments")
        _wait(lambda: _count(log, "Succeeded") >= count, f"{count} first records", 300, broke)
        kube = Kube.connect(ConnectionOptions(kubeconfig=bench.env["KUBECONFIG"], namespace=NAMESPACE))
        observer = Observer(kube)
        observer.image = "example.test/app:2"
        observer.start()
        progress(f"case 7: rolling out {count} Deployments, one in {FAILING_SHARE} failing")
        for i, name in enumerate(names):
            body: dict = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": observer.image}]}}}}
            if i % FAILING_SHARE == 0:  # a pod that no node runs: Pending until the deadline fails the rollout
                body["spec"].update(replicas=1, progressDeadlineSeconds=5)
            api.patch(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}", body)
        _wait(lambda: len(observer.recorded) >= count and len(observer.ended) >= count, "every outcome", 300, broke)
        current, peak = rss_mib(proc.pid)
        observer.stop()
        delays = sorted(max(0.0, observer.recorded[n] - observer.ended[n]) for n in names)
    finally:
        terminate(proc)
        out.close()
        log.unlink(missing_ok=True)
    median = statistics.median(delays)
    p95 = delays[max(0, int(round(0.95 * len(delays))) - 1)]
    failing = len(range(0, count, FAILING_SHARE))
    verdict = {True: "met", False: "missed"}
    return [
        f"## 7. `watch`: {count} Deployments", "",
        f"`kubectl harness-rollback watch -n {NAMESPACE}` running while every Deployment rolls out once more "
        f"({count - failing} complete, {failing} fail by their progress deadline). The delay runs from the "
        "Deployment event that ends the rollout to the ReplicaSet event that carries its record, both seen by one "
        "observer. Memory is the watcher's (the plugin process kubectl execs), from /proc.", "",
        "| measure | value | target | result |", "|---|---|---|---|",
        f"| resident memory (VmRSS now / VmHWM peak) | {current:.0f} / {peak:.0f} MiB | < {MEMORY_TARGET_MIB} MiB "
        f"| {verdict[peak < MEMORY_TARGET_MIB]} |",
        f"| delay to the record, median | {median * 1000:.0f} ms | | |",
        f"| delay to the record, p95 | {p95 * 1000:.0f} ms | < {P95_TARGET_SECONDS:.0f} s "
        f"| {verdict[p95 < P95_TARGET_SECONDS]} |",
        f"| delay to the record, max | {delays[-1] * 1000:.0f} ms | | |", "",
    ]


def _count(log: Path, outcome: str) -> int:
    total = 0
    for text in log.read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        total += line.get("event") == "recorded" and line.get("outcome") == outcome
    return total


def _wait(ready: Callable[[], bool], what: str, timeout: float, broke: type) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise broke(f"case 7: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)
