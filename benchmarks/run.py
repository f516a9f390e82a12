"""`make bench`: the plugin against kubectl, side by side, on the real test control plane.

Starts etcd, kube-apiserver (audit log on) and kube-controller-manager in a temporary folder, builds the scenarios
through the API, then times each case's commands in the same run: one warm-up run each, then --reps runs
interleaved with the case's other commands (so load from elsewhere on the machine hits them alike), reporting
medians and ratios. Peak memory comes from os.wait4 (the rusage of that one child), API requests from the
audit log. The markdown goes to stdout, and for a full run to docs/benchmarks.md (or --out).

A missed target is a result, not an error: the exit status is non-zero only when the benchmark itself broke
(the cluster did not start, a scenario could not be built, or a command that must work failed).

    python benchmarks/run.py             # full run, writes docs/benchmarks.md
    python benchmarks/run.py --quick     # smoke run: 2 repetitions, 50 Deployments in case 4, writes nothing
    python benchmarks/run.py --only-watch --deployments 100    # case 7 alone (the watcher at two commits)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import functools
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import watch_bench  # noqa: E402
from kubectl_rollback import __version__, records  # noqa: E402
from tests.cluster.api import Api  # noqa: E402
from tests.cluster.controlplane import ControlPlane, bin_dir, missing_binaries  # noqa: E402

VENV_BIN = Path(sys.executable).parent  # as tests/conftest.py: the plugin installed next to this interpreter
PLUGIN = VENV_BIN / "kubectl-harness_rollback"
IDENTITY = ("--workflow-id", "wf-bench", "--service-id", "svc-bench", "--infra-id", "infra-bench")
CLIENT_AGENT_PREFIX = "kubectl"  # kubectl's "kubectl/v1.35..." and the plugin's "kubectl-harness-rollback"
BUILD_WORKERS = 16
HISTORY_DEPENDENCIES = ("typer", "urllib3", "yaml", "tabulate")  # what a history run imports besides the stdlib
BUILD_BUDGET_SECONDS = 300
MIB = 1024  # ru_maxrss is in KiB on Linux


class BenchmarkBroke(Exception):
    """The benchmark itself failed (not a missed target): the run exits non-zero."""


# -- running one command -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    seconds: float
    returncode: int
    maxrss_kib: int
    stdout: bytes
    stderr: str

    def first_error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[0].strip() if lines else f"exit {self.returncode}, nothing on stderr"


def run_once(argv: list, env: dict) -> Run:
    """Wall-clock time (perf_counter around the process) and the peak RSS of that one child (os.wait4, not
    RUSAGE_CHILDREN, which is a maximum over every child so far). Output goes to files: no pipe to drain."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Run(seconds, proc.returncode, usage.ru_maxrss, out.read(), err.read().decode("utf-8", "replace"))


class AuditLog:
    """Requests by kubectl and the plugin, counted from the API server's audit log between two offsets."""

    def __init__(self, path: str):
        self.path = path

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def settled_offset(self, quiet: float = 0.3, limit: float = 5.0) -> int:
        """The log's size once it has stopped growing for `quiet` seconds: events of a request that already
        answered can still be on their way to the file."""
        deadline = time.monotonic() + limit
        size = self._size()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self._size()
            if now == size:
                break
            size = now
        return size

    def requests_since(self, offset: int) -> collections.Counter:
        end = self.settled_offset()
        with open(self.path, "rb") as log:
            log.seek(offset)
            chunk = log.read(end - offset)
        verbs: collections.Counter = collections.Counter()
        for line in chunk.splitlines():
            event = json.loads(line)
            if event.get("stage") == "ResponseComplete" and event.get("userAgent", "").startswith(
                CLIENT_AGENT_PREFIX
            ):
                verbs[event.get("verb", "?")] += 1
        return verbs


# -- the cluster, and how commands reach it ----------------------------------------------------------------------


class BenchPlane(ControlPlane):
    """The test control plane, but the controller manager may send more than its default 20 requests a second:
    making case 4's ReplicaSets is then bound by the machine, not by client-side throttling (at 20 QPS, about 5
    requests per new revision make 3,000 revisions take 10 minutes). Nothing else changes."""

    CONTROLLER_FLAGS = ["--kube-api-qps=500", "--kube-api-burst=1000"]

    def _spawn(self, name: str, args: list):
        if name == "kube-controller-manager":
            args = args + self.CONTROLLER_FLAGS
        return super()._spawn(name, args)


class Bench:
    """The running control plane, the environment kubectl and the plugin run in, and setup helpers."""

    def __init__(self, plane: ControlPlane, workdir: Path):
        self.plane = plane
        self.api: Api = plane.admin_api()
        self.audit = AuditLog(plane.audit_log)
        self.kubectl = str(bin_dir() / "kubectl")
        path = os.pathsep.join([str(VENV_BIN), str(bin_dir()), os.environ.get("PATH", "")])
        self.env = dict(
            os.environ, KUBECONFIG=plane.admin_kubeconfig, KUBECACHEDIR=str(workdir / "kube-cache"), PATH=path
        )
        self.env.pop("KUBECTL_HARNESS_ROLLBACK_DEBUG", None)
        # What a user's install has: pip compiles the plugin's bytecode when it installs it, and the zipapp keeps its
        # own in its cache; a PYTHONDONTWRITEBYTECODE of this machine's would time compiling every module, every run.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        # --help's kept texts (helpcache.py) start empty, here: the warm-up run keeps them, as a user's first run does.
        self.env["XDG_CACHE_HOME"] = str(workdir / "cache")
        self.workdir = workdir
        self.krew_env: Optional[dict] = None  # set by install_krew_archive

    def check(self, *argv: str) -> str:
        """Run a setup command (not measured); its failure breaks the benchmark."""
        proc = subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            raise BenchmarkBroke(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def plugin_record(self, namespace: str, name: str, status: str) -> None:
        self.check(self.kubectl, "harness-rollback", "record", f"deployment/{name}", "-n", namespace,
                   "--status", status, *IDENTITY)


def deployment_path(namespace: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments" + (f"/{name}" if name else "")


def create_namespace(api: Api, namespace: str) -> None:
    api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})


def create_deployment(api: Api, namespace: str, name: str, image: str) -> None:
    """replicas 0: the controller still makes a ReplicaSet per template, and no pod (or node) is needed."""
    labels = {"app": name}
    api.post(deployment_path(namespace), {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    })


def set_image(api: Api, namespace: str, name: str, image: str) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    api.patch(deployment_path(namespace, name), body)  # merge: the one container list is replaced


def image_of(api: Api, namespace: str, name: str) -> str:
    return api.get(deployment_path(namespace, name))["spec"]["template"]["spec"]["containers"][0]["image"]


def wait_synced(api: Api, namespace: str, timeout: float = 180) -> None:
    """Until the controller has seen every Deployment's last change: observedGeneration is written after the
    sync that creates the new ReplicaSet, so each template change has its revision once this returns."""
    deadline = time.monotonic() + timeout
    while True:
        items = api.get(deployment_path(namespace))["items"]
        behind = [d for d in items if (d.get("status") or {}).get("observedGeneration", 0)
                  < d["metadata"]["generation"]]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise BenchmarkBroke(f"{len(behind)} Deployments in {namespace} not synced by the controller "
                                 f"after {timeout:.0f}s")
        time.sleep(0.1)


def replicasets(api: Api, namespace: str) -> list:
    return api.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets")["items"]


# -- cases: commands, targets ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Command:
    key: str  # unique across cases; targets refer to it
    argv: list
    label: str = ""  # the command line as the tables show it; by default argv, programs without their folder
    prepare: Optional[Callable[[], None]] = None  # before every run, untimed (e.g. give a rollback something to undo)
    verify: Optional[Callable[[Run], Optional[str]]] = None  # after every run, untimed: what is wrong, or None
    reps: Optional[int] = None  # fewer runs than --reps, for the slow ones
    warmup: bool = True
    optional: bool = False  # still being built: a usage error means "not available", and no failure is fatal
    env: Optional[dict] = None  # the environment it runs in, if not the bench's (the krew archive's)

    def __post_init__(self) -> None:
        self.label = self.label or shlex.join([Path(self.argv[0]).name, *self.argv[1:]])


@dataclasses.dataclass(frozen=True)
class Target:
    what: str
    subject: str
    limit: float
    reference: Optional[str] = None  # None: an absolute limit on the subject's value
    metric: str = "time"  # time (median s), requests (API requests), memory (peak RSS, MiB)
    strict: bool = False  # value < limit rather than <=


@dataclasses.dataclass
class Case:
    number: int
    title: str
    baseline: str  # the command the table's ratio column divides by
    commands: list
    targets: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Measurement:
    command: Command
    times: list = dataclasses.field(default_factory=list)
    maxrss_kib: list = dataclasses.field(default_factory=list)
    requests: Optional[collections.Counter] = None
    problem: Optional[str] = None  # "not available: ..." or "failed: ..."

    @property
    def ok(self) -> bool:
        return self.problem is None and bool(self.times)

    def value(self, metric: str) -> Optional[float]:
        if not self.ok:
            return None
        if metric == "time":
            return statistics.median(self.times)
        if metric == "memory":
            return max(self.maxrss_kib) / MIB
        if metric == "requests":
            return float(sum(self.requests.values())) if self.requests is not None else None
        raise ValueError(metric)


def plugin_argv(bench: Bench, *args: str) -> list:
    """What the user types: kubectl finds kubectl-harness_rollback on PATH and execs it."""
    return [bench.kubectl, "harness-rollback", *args]


def expect_exit_zero(run: Run) -> Optional[str]:
    return None if run.returncode == 0 else f"exit {run.returncode}: {run.first_error_line()}"


def install_krew_archive(bench: Bench) -> None:
    """Build the krew archive into the bench's folder (packaging/build_dist.py, as tests/test_krew_archive.py does:
    the repository's manifest is left alone) and put its files where kubectl finds them, as krew links them."""
    out, manifest, folder = bench.workdir / "krew-dist", bench.workdir / "krew-manifest.yaml", bench.workdir / "krew"
    shutil.copyfile(ROOT / "plugin-manifest.yaml", manifest)
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "build_dist.py"), "--out", str(out),
                           "--manifest", str(manifest)], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BenchmarkBroke(f"packaging/build_dist.py exited {proc.returncode}: {proc.stderr.strip()}")
    folder.mkdir()
    with tarfile.open(proc.stdout.splitlines()[0]) as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name:
                raise BenchmarkBroke(f"the krew archive holds an unexpected member {member.name!r}")
            (folder / member.name).write_bytes(tar.extractfile(member).read())
            (folder / member.name).chmod(member.mode)
    # The zipapp's `#!/usr/bin/env python3` finds the interpreter this bench runs on, in a virtual environment with
    # nothing installed: a user's plain python3, not a pyenv shim (a shell script) nor one whose site-packages hooks
    # import something at every start. kubectl finds the archive's plugin before the pip install's.
    python = bench.workdir / "krew-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(python)], check=True, timeout=120)
    path = [str(folder), str(python / "bin"), str(bin_dir()), os.environ.get("PATH", "")]
    bench.krew_env = dict(bench.env, PATH=os.pathsep.join(path), XDG_CACHE_HOME=str(bench.workdir / "krew-cache"))


def krew_twin(bench: Bench, command: Command) -> list:
    """The same kubectl command with the krew archive's plugin, when it is installed."""
    if bench.krew_env is None:
        return []
    label = command.label.replace("(pip)", "(krew archive)")
    return [Command(f"{command.key}-krew", command.argv, label, env=bench.krew_env)]


def help_case(bench: Bench) -> Case:
    plugin = Command("plugin-help", plugin_argv(bench, "--help"), "kubectl harness-rollback --help (pip)")
    # A cache folder others may write is not used (helpcache.py): every run renders the help through typer and click.
    shared = bench.workdir / "shared-cache"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    return Case(1, "--help", "kubectl-help", [
        plugin, *krew_twin(bench, plugin),
        Command("plugin-help-direct", [str(PLUGIN), "--help"]),
        Command("plugin-help-rendered", plugin_argv(bench, "--help"),
                "kubectl harness-rollback --help (pip, rendered: no kept text)",
                env=dict(bench.env, XDG_CACHE_HOME=str(shared))),
        Command("kubectl-help", [bench.kubectl, "rollout", "--help"]),
        Command("python-floor", [sys.executable, "-c", "pass"]),
        Command("typer-floor", [sys.executable, "-c", "import typer"]),
    ], targets=[Target("--help <= 2x kubectl rollout --help (pip)", "plugin-help", 2.0, "kubectl-help")]
        + ([Target("--help <= 2x kubectl rollout --help (krew archive)", "plugin-help-krew", 2.0, "kubectl-help")]
           if bench.krew_env else []),
        notes=["`--help` prints the text the first run printed (helpcache.py, kept under $XDG_CACHE_HOME for the "
               "same arguments, terminal width, locale and files of the plugin, typer and click); the rendered row "
               "is every run going through typer and click, as every run did before, and `python -c pass` and "
               "`import typer` are that interpreter's floors."])


def history_case(bench: Bench, namespace: str = "bench-history", revisions: int = 10) -> Case:
    """One Deployment, `revisions` revisions, each recorded with `kubectl harness-rollback record`: mostly
    Succeeded, every third Failed, the live one InProgress (so there is a rollback target to find)."""
    create_namespace(bench.api, namespace)
    create_deployment(bench.api, namespace, "x", "bench.example/x:1")
    for number in range(1, revisions + 1):
        if number > 1:
            set_image(bench.api, namespace, "x", f"bench.example/x:{number}")
        wait_synced(bench.api, namespace)
        status = "InProgress" if number == revisions else "Failed" if number % 3 == 0 else "Succeeded"
        bench.plugin_record(namespace, "x", status)
    args = ("history", "deployment/x", "-n", namespace)
    plugin = Command("plugin-history", plugin_argv(bench, *args), f"kubectl harness-rollback {shlex.join(args)} (pip)")
    return Case(2, f"history of one Deployment ({revisions} recorded revisions)", "kubectl-history", [
        plugin, *krew_twin(bench, plugin),
        Command("plugin-history-direct", [str(PLUGIN), *args]),
        Command("kubectl-history", [bench.kubectl, "rollout", "history", "deployment/x", "-n", namespace]),
        Command("import-floor", [sys.executable, "-c", "import kubernetes"]),
        Command("dependency-floor", [sys.executable, "-c", f"import {', '.join(HISTORY_DEPENDENCIES)}"]),
    ], targets=[
        Target("history <= 1.5x the import-kubernetes floor (direct)", "plugin-history-direct", 1.5, "import-floor"),
        Target("history <= 1.5x the import-kubernetes floor (via kubectl)", "plugin-history", 1.5, "import-floor"),
        Target("history <= 3x kubectl rollout history (pip)", "plugin-history", 3.0, "kubectl-history"),
    ] + ([Target("history <= 3x kubectl rollout history (krew archive)", "plugin-history-krew", 3.0,
                 "kubectl-history")] if bench.krew_env else []),
        notes=["The import-kubernetes floor is the plugin's own interpreter starting and importing the `kubernetes` "
               "package, nothing else; the dependency floor is it importing the libraries a history run needs "
               f"({', '.join(HISTORY_DEPENDENCIES)}), nothing of the plugin's own."])


class Twin:
    """A Deployment that is given a new, bad template before every run, so that each timed rollback really writes.

    Both twins start from the same good template; before each run the next `bad-N` image goes in (untimed) and the
    controller makes its ReplicaSet. The plugin's twin also gets that revision recorded InProgress, as a pipeline
    would. Either rollback must then put the good image back, which is checked after every run."""

    GOOD = "bench.example/web:good"

    def __init__(self, bench: Bench, namespace: str, name: str, record: bool):
        self.bench, self.namespace, self.name, self.record = bench, namespace, name, record
        self.bad = 0
        create_deployment(bench.api, namespace, name, self.GOOD)

    def break_it(self) -> None:
        self.bad += 1
        set_image(self.bench.api, self.namespace, self.name, f"bench.example/web:bad-{self.bad}")
        wait_synced(self.bench.api, self.namespace)
        if self.record:
            self.bench.plugin_record(self.namespace, self.name, "InProgress")

    def verify(self, run: Run) -> Optional[str]:
        problem = expect_exit_zero(run)
        image = image_of(self.bench.api, self.namespace, self.name)
        return problem or (None if image == self.GOOD else f"deployment/{self.name} left at {image}, not rolled back")


def rollback_case(bench: Bench, namespace: str = "bench-rollback") -> Case:
    create_namespace(bench.api, namespace)
    plugin_twin = Twin(bench, namespace, "web-plugin", record=True)
    kubectl_twin = Twin(bench, namespace, "web-kubectl", record=False)
    wait_synced(bench.api, namespace)
    bench.plugin_record(namespace, plugin_twin.name, "Succeeded")
    args = ("rollback", f"deployment/{plugin_twin.name}", "-n", namespace)
    undo = ("rollout", "undo", f"deployment/{kubectl_twin.name}", "-n", namespace)
    return Case(3, "rollback one Deployment (a real write every run)", "kubectl-undo", [
        Command("plugin-rollback", plugin_argv(bench, *args), prepare=plugin_twin.break_it, verify=plugin_twin.verify),
        Command("kubectl-undo", [bench.kubectl, *undo], prepare=kubectl_twin.break_it, verify=kubectl_twin.verify),
    ], targets=[
        Target("rollback <= 5x kubectl rollout undo", "plugin-rollback", 5.0, "kubectl-undo"),
        Target("rollback API requests <= kubectl rollout undo's", "plugin-rollback", 1.0, "kubectl-undo",
               metric="requests"),
    ], notes=["Before every run (untimed) each twin gets a new image `bad-N` and the controller makes its "
              "ReplicaSet; the plugin's is recorded InProgress. After every run the good image must be back."])


def build_namespace(bench: Bench, namespace: str, count: int, revisions: int, recorded: int) -> list:
    """`count` Deployments with `revisions` ReplicaSets each, made by the controller: create them all, then change
    every template `revisions - 1` times, one round at a time (a change made before the controller synced the
    previous one would never get its own ReplicaSet). Records go straight onto the ReplicaSets of the first
    `recorded` Deployments. Returns the Deployment names."""
    names = [f"d-{i:03d}" for i in range(count)]
    create_namespace(bench.api, namespace)
    with ThreadPoolExecutor(BUILD_WORKERS) as pool:
        images = [f"bench.example/{n}:1" for n in names]
        list(pool.map(functools.partial(create_deployment, bench.api, namespace), names, images))
        wait_synced(bench.api, namespace, timeout=600)
        for number in range(2, revisions + 1):
            images = [f"bench.example/{n}:{number}" for n in names]
            list(pool.map(functools.partial(set_image, bench.api, namespace), names, images))
            wait_synced(bench.api, namespace, timeout=600)
        sets = replicasets(bench.api, namespace)
        if len(sets) != count * revisions:
            raise BenchmarkBroke(f"{namespace}: {len(sets)} ReplicaSets, expected {count * revisions}")
        with_records = set(names[:recorded])
        chosen = [rs for rs in sets if rs["metadata"]["labels"].get("app") in with_records]
        list(pool.map(functools.partial(record_directly, bench.api, namespace), chosen))
    return names


def record_directly(api: Api, namespace: str, rs: dict) -> None:
    """The annotations `record` writes (docs/annotations.md), for the scenario only: revision 3 Failed, the rest
    Succeeded."""
    revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    annotations = {
        records.WORKFLOW_ID: IDENTITY[1], records.SERVICE_ID: IDENTITY[3], records.INFRA_ID: IDENTITY[5],
        records.CLUSTER_NAME: "test-cluster", records.STATUS: "Failed" if revision == "3" else "Succeeded",
        records.RECORDED_AT: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    api.patch(f"/apis/apps/v1/namespaces/{namespace}/replicasets/{rs['metadata']['name']}",
              {"metadata": {"annotations": annotations}})


def namespace_case(bench: Bench, count: int, reps: int, namespace: str = "bench-wide", revisions: int = 10) -> Case:
    start = time.monotonic()
    names = build_namespace(bench, namespace, count, revisions, recorded=min(10, count))
    built = time.monotonic() - start
    total = count * revisions
    progress(f"case 4: {count} Deployments x {revisions} revisions built in {built:.0f}s")
    loop = (f"for d in {' '.join(names)}; do {shlex.quote(bench.kubectl)} rollout history deployment/$d "
            f"-n {namespace}; done")
    args = ("history", "--all", "-n", namespace, "-o", "json")
    notes = [f"Scenario: {count} Deployments x {revisions} revisions = {total} ReplicaSets (replicas 0), made by "
             f"the deployment controller from template changes sent with {BUILD_WORKERS} threads, in {built:.0f}s; "
             f"the ReplicaSets of {min(10, count)} Deployments carry records.",
             f"The shell loop runs at most 3 times (no warm-up: it is {count} kubectl runs on a warm cache)."]
    if built > BUILD_BUDGET_SECONDS:
        notes.append(f"The build took longer than its {BUILD_BUDGET_SECONDS}s budget: the controller, with "
                     "--concurrent-deployment-syncs=10 on this machine, is the bottleneck.")
    return Case(4, f"history across a namespace ({count} Deployments, {total} ReplicaSets)", "kubectl-get-rs", [
        Command("plugin-history-all", plugin_argv(bench, *args), verify=json_naming(names), optional=True),
        Command("kubectl-loop", ["bash", "-c", loop], reps=min(reps, 3), warmup=False,
                label=f"for d in <{count} Deployments>; do kubectl rollout history deployment/$d -n {namespace}; done"),
        Command("kubectl-get-rs", [bench.kubectl, "get", "rs", "-n", namespace, "-o", "json"],
                verify=items_are(total)),
    ], targets=[
        Target("namespace-wide history <= 0.1x the kubectl loop", "plugin-history-all", 0.1, "kubectl-loop"),
        Target("namespace-wide history <= 2x kubectl get rs -o json", "plugin-history-all", 2.0, "kubectl-get-rs"),
        Target("namespace-wide history peak memory < 150 MiB", "plugin-history-all", 150, metric="memory",
               strict=True),
    ], notes=notes)


def json_naming(names: list) -> Callable[[Run], Optional[str]]:
    """The output is JSON and names every Deployment: a command that silently reports less is not measured."""

    def verify(run: Run) -> Optional[str]:
        problem = expect_exit_zero(run)
        if problem:
            return problem
        try:
            json.loads(run.stdout)
        except ValueError as exc:
            return f"the output is not JSON: {exc}"
        text = run.stdout.decode("utf-8", "replace")
        left_out = [name for name in names if f'"{name}' not in text and f"/{name}" not in text]
        return f"{len(left_out)} Deployments missing from the output, e.g. {left_out[0]}" if left_out else None

    return verify


def items_are(expected: int) -> Callable[[Run], Optional[str]]:
    def verify(run: Run) -> Optional[str]:
        problem = expect_exit_zero(run)
        got = len(json.loads(run.stdout)["items"]) if not problem else None
        return problem or (None if got == expected else f"{got} items, expected {expected}")

    return verify


# -- measuring ---------------------------------------------------------------------------------------------------


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def execute(bench: Bench, m: Measurement, timed: bool, count: bool) -> None:
    command = m.command
    if command.prepare:
        command.prepare()
    offset = bench.audit.settled_offset() if count else 0
    run = run_once(command.argv, command.env or bench.env)
    problem = (command.verify or expect_exit_zero)(run)
    if problem:
        unavailable = command.optional and run.returncode == 2  # a usage error: the verb or flag is not there yet
        m.problem = ("not available: " if unavailable else "failed: ") + problem
        progress(f"{command.label}: {m.problem}")
        return
    if count:
        m.requests = bench.audit.requests_since(offset)
    if timed:
        m.times.append(run.seconds)
        m.maxrss_kib.append(run.maxrss_kib)


def measure(bench: Bench, case: Case, reps: int) -> dict:
    """A warm-up run of each command, then the runs interleaved: A B C, A B C, ... The first timed run of each
    command also counts its API requests (the audit log settles before and after it, outside the timing)."""
    results = {c.key: Measurement(c) for c in case.commands}
    for command in case.commands:
        if command.warmup:
            execute(bench, results[command.key], timed=False, count=False)
    for rep in range(reps):
        for command in case.commands:
            m = results[command.key]
            if m.problem is None and rep < (command.reps or reps):
                progress(f"case {case.number} run {rep + 1}/{command.reps or reps}: {command.label[:80]}")
                execute(bench, m, timed=True, count=rep == 0)
    return results


# -- reporting ---------------------------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def fmt_value(value: float, metric: str) -> str:
    if metric == "time":
        return fmt_seconds(value)
    if metric == "memory":
        return f"{value:.0f} MiB"
    return f"{value:.0f} requests"


def fmt_requests(requests: Optional[collections.Counter]) -> str:
    if requests is None:
        return "-"
    verbs = ", ".join(f"{verb} {n}" for verb, n in sorted(requests.items()))
    return f"{sum(requests.values())} ({verbs})" if verbs else "0"


def table(header: list, rows: list) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def case_table(case: Case, results: dict) -> list:
    base = results[case.baseline].value("time")
    rows = []
    for command in case.commands:
        m = results[command.key]
        if not m.ok:
            rows.append([f"`{command.label}`", 0, m.problem or "no runs", "", "", "", "", ""])
            continue
        median = m.value("time")
        ratio = "1.00x (baseline)" if command.key == case.baseline else f"{median / base:.2f}x" if base else "-"
        rows.append([f"`{command.label}`", len(m.times), fmt_seconds(median), fmt_seconds(min(m.times)),
                     fmt_seconds(max(m.times)), ratio, f"{max(m.maxrss_kib) / MIB:.0f} MiB",
                     fmt_requests(m.requests)])
    header = ["command", "runs", "median", "min", "max", "x baseline", "peak RSS", "API requests"]
    return table(header, rows)


def judge(target: Target, results: dict) -> list:
    subject = results[target.subject]
    reference = results[target.reference] if target.reference else None
    missing = [m for m in (subject, reference) if m is not None and not m.ok]
    limit = f"< {target.limit:g} MiB" if target.metric == "memory" else f"<= {target.limit:g}x"
    if missing:
        return [target.what, "-", limit, f"n/a ({missing[0].command.key}: {missing[0].problem or 'no runs'})"]
    value = subject.value(target.metric)
    ref = reference.value(target.metric) if reference else None
    if value is None or (reference is not None and ref is None):
        return [target.what, "-", limit, "n/a (not measured)"]
    if reference is None:
        measured, ratio = fmt_value(value, target.metric), value
    else:
        ratio = value / ref if ref else float("inf")
        measured = f"{ratio:.2f}x ({fmt_value(value, target.metric)} vs {fmt_value(ref, target.metric)})"
    passed = ratio < target.limit if target.strict else ratio <= target.limit
    if passed:
        return [target.what, measured, limit, "PASS"]
    over = f"missed by {ratio / target.limit - 1:.0%}"
    if reference is not None and target.metric == "time":
        over += f" (needs <= {fmt_seconds(reference.value('time') * target.limit)})"
    return [target.what, measured, limit, f"**MISS**, {over}"]


def memory_rows(case: Case, results: dict) -> list:
    rows = []
    for command in case.commands:
        m = results[command.key]
        peak = f"{max(m.maxrss_kib) / MIB:.0f} MiB" if m.ok else m.problem or "no runs"
        median = f"{statistics.median(m.maxrss_kib) / MIB:.0f} MiB" if m.ok else ""
        rows.append([f"`{command.label}`", peak, median])
    return rows


def machine_facts(bench: Bench, args: argparse.Namespace) -> list:
    def first(path: str, prefix: str) -> str:
        try:
            return next(line.split(":", 1)[1].strip() for line in open(path) if line.startswith(prefix))
        except (OSError, StopIteration):
            return "?"

    kubectl = json.loads(bench.check(bench.kubectl, "version", "--client", "-o", "json"))["clientVersion"]
    server = bench.api.get("/version")["gitVersion"]
    memory_kib = int(first("/proc/meminfo", "MemTotal").split()[0] or 0)
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "?"
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{first('/proc/cpuinfo', 'model name')}, nproc {len(os.sched_getaffinity(0))}"),
        ("memory", f"{memory_kib / MIB / 1024:.1f} GiB"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"),
        ("kubectl", kubectl["gitVersion"]),
        ("kube-apiserver", f"{server} (etcd, kube-controller-manager, audit log on, loopback)"),
        ("plugin", f"kubectl-harness-rollback {__version__}, git {commit}"),
        ("runs", f"1 warm-up + {args.reps} timed per command, interleaved" + (" (--quick)" if args.quick else "")),
    ]


def report(facts: list, cases: list, results: dict, watch_lines: list = ()) -> str:
    out = ["# Benchmarks: kubectl harness-rollback vs kubectl", "",
           "Made by `make bench` (`benchmarks/run.py`) against the real test control plane, every case side by side "
           "with kubectl in the same run. Times are wall-clock around the whole process (perf_counter), median of "
           "the timed runs; peak RSS is the child's ru_maxrss from os.wait4 (through kubectl, the maximum over "
           "kubectl and the plugin it execs); API requests are the audit log's ResponseComplete events whose "
           "user agent is kubectl's or the plugin's, for the first timed run. Shared machines are noisy: read the "
           "ratios rather than the milliseconds. Where the plugin's start-up time goes, before and after issue 24, "
           "counted in instructions: [startup.md](startup.md).", ""]
    out += table(["", ""], [[k, v] for k, v in facts]) + ["", "## Targets", ""]
    out += table(["target", "measured", "limit", "result"],
                 [judge(t, results) for case in cases for t in case.targets]) + [""]
    for case in cases:
        out += [f"## {case.number}. {case.title}", ""] + case_table(case, results) + [""]
        out += [f"- {note}" for note in case.notes] + ([""] if case.notes else [])
    wide = next(c for c in cases if c.number == 4)
    out += ["## 5. Peak memory (case 4)", "", "For the shell loop: the largest single kubectl of the loop.", ""]
    out += table(["command", "peak RSS (max of runs)", "median"], memory_rows(wide, results)) + [""]
    out += ["## 6. API requests per command", ""]
    out += table(["command", "requests (by verb)"],
                 [[f"`{m.command.label}`", fmt_requests(m.requests)]
                  for m in results.values() if m.requests is not None])
    if watch_lines:
        out += [""] + list(watch_lines)
    return "\n".join(out) + "\n"


# -- main --------------------------------------------------------------------------------------------------------


def parse_args(argv: Optional[list]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=None, help="timed runs per command (default 7, --quick 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 runs, 50 Deployments in case 4")
    parser.add_argument("--deployments", type=int, default=None, help="Deployments in case 4 (default 300)")
    parser.add_argument("--only-watch", action="store_true",
                        help="case 7 alone, over --deployments Deployments, writes nothing unless --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the markdown (default docs/benchmarks.md; --quick writes only here)")
    args = parser.parse_args(argv)
    args.reps = args.reps or (2 if args.quick else 7)
    args.deployments = args.deployments or (50 if args.quick else 300)
    if args.out is None and not (args.quick or args.only_watch):
        args.out = ROOT / "docs" / "benchmarks.md"
    if args.reps < 1 or args.deployments < 1:
        parser.error("--reps and --deployments must be at least 1")
    return args


def preflight() -> None:
    missing = missing_binaries()
    if missing:
        raise BenchmarkBroke(f"missing from {bin_dir()}: {', '.join(missing)}; build them with `make testenv`")
    if not os.access(PLUGIN, os.X_OK):
        raise BenchmarkBroke(f"{PLUGIN} not found: install the plugin into this interpreter's environment "
                             "(`make install`, or pip install -e .)")
    if not shutil.which("openssl"):
        raise BenchmarkBroke("openssl is needed to start the control plane (apt-get install openssl)")


def benchmark(args: argparse.Namespace, workdir: Path) -> tuple:
    """Start the cluster, build and measure every case; returns (markdown, broken?). Stops the cluster always."""
    progress(f"starting the control plane in {workdir} ...")
    plane = BenchPlane(workdir, audit=True)
    try:
        plane.start()
        bench = Bench(plane, workdir)
        if args.only_watch:
            facts = table(["", ""], [[k, v] for k, v in machine_facts(bench, args)])
            return "\n".join(facts + [""] + watch_case(bench, args)), False
        progress("building the krew archive ...")
        install_krew_archive(bench)
        facts = machine_facts(bench, args)
        results: dict = {}
        cases = []
        for build in (help_case, history_case, rollback_case,
                      lambda b: namespace_case(b, args.deployments, args.reps)):
            case = build(bench)
            progress(f"case {case.number}: {case.title}")
            results.update(measure(bench, case, args.reps))
            cases.append(case)
        broken = any(m.problem for m in results.values() if not m.command.optional)
        return report(facts, cases, results, watch_case(bench, args)), broken
    finally:
        progress("stopping the control plane")
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not leave etcd and co. behind
            signal.signal(signum, signal.SIG_IGN)
        plane.stop()


def watch_case(bench: Bench, args: argparse.Namespace) -> list:
    progress(f"case 7: watch over {args.deployments} Deployments")
    return watch_bench.run(bench, args.deployments, create_namespace, create_deployment, wait_synced, progress,
                           BenchmarkBroke)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # stop the cluster on kill too, not only on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="khr-bench-"))
    try:
        preflight()
        markdown, broken = benchmark(args, workdir)
    except BenchmarkBroke as exc:
        progress(f"the benchmark broke: {exc}")
        return 1
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown)
        progress(f"wrote {args.out}")
    if broken:
        progress("a command that must work failed (see the tables): the measurements are incomplete")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
