"""Running `kubectl harness-rollback watch` in the cluster tests as a user runs it: a child process (kubectl finds
the plugin), its JSON decision log in a file, SIGTERM in the fixture's teardown; and reading the records it writes."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, List, Optional

from tests.cluster.controlplane import terminate
from tests.scenarios import PREFIX, STATUS, harness_annotations, rs_by_image

RECORDED_BY = PREFIX + "recorded-by"
AUTO_ROLLBACK_AT = PREFIX + "auto-rollback-at"
AUTO_ROLLBACK_OUTCOME = PREFIX + "auto-rollback-outcome"
RECORDED_REVISION = PREFIX + "recorded-revision"


class WatchProcess:
    """`kubectl harness-rollback watch ...` in the background, its JSON decision log in a file."""

    def __init__(self, ns, args: tuple, log: Path, env: Optional[dict] = None):
        self.ns = ns
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [ns.cluster.kubectl_bin, "harness-rollback", "watch", "-n", ns.name, "--log-format", "json", *args],
            env=env or ns.cluster.env, stdout=self._out, stderr=subprocess.STDOUT, text=True)
        ns.wait_until(lambda: self.lines("started") or self.proc.poll() is not None, "the watcher to start",
                      timeout=60)
        assert self.proc.poll() is None, f"watch exited {self.proc.returncode}:\n{log.read_text()}"

    def lines(self, event: Optional[str] = None) -> List[dict]:
        found = []
        for text in self.log.read_text().splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue  # warnings from the plugin's other modules are plain text
            if event is None or line.get("event") == event:
                found.append(line)
        return found

    def stop(self) -> float:
        """SIGTERM, as the kubelet sends it; returns how long the process took to exit."""
        started = time.monotonic()
        terminate(self.proc)
        self._out.close()
        return time.monotonic() - started


def start_watch_fixture(ns, tmp_path):
    """The `start_watch` fixture: start(*args, env=None) -> WatchProcess; every one started is stopped after."""
    started: List[WatchProcess] = []

    def start(*args: str, env: Optional[dict] = None) -> WatchProcess:
        process = WatchProcess(ns, args, tmp_path / f"watch-{len(started)}.log", env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def record_of(ns, app: str, image: str) -> dict:
    rs = rs_by_image(ns, app).get(image)
    return harness_annotations(rs) if rs else {}


def controller_revision_record(ns, name: str, image: str) -> dict:
    """The harness.io/* annotations of the ControllerRevision of StatefulSet/DaemonSet `name` that holds `image`."""
    for revision in ns.items("controllerrevisions"):
        template = revision["data"]["spec"]["template"]
        owner = (revision["metadata"].get("ownerReferences") or [{}])[0].get("name")
        if owner == name and template["spec"]["containers"][0]["image"] == image:
            return harness_annotations(revision)
    return {}


def wait_for_status(ns, app: str, image: str, status: str, timeout: float = 120,
                    read: Callable[..., dict] = record_of) -> dict:
    """Until the revision of `app` holding `image` is recorded `status` (read from its ReplicaSet by default)."""
    def recorded() -> Optional[dict]:
        annotations = read(ns, app, image)
        return annotations if annotations.get(STATUS) == status else None

    return ns.wait_until(recorded, f"{app} {image} recorded {status}", timeout=timeout, interval=0.5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str) -> tuple:
    """(status, body) of a GET to the watcher's health server."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
