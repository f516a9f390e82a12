"""`history` and `rollback` across kubeconfig contexts (--contexts a,b or --all-contexts): the command `--context X`
runs, once per context, at most --max-parallel at a time, and one report of what each did.

Each context gets exactly what its own command would get: its own client (connection, namespace, the cluster name
its identity defaults to), its own history and target, its own result document. A failure ends that context's run
only (an unreachable server, an RBAC denial, a bad kubeconfig entry); --fail-fast starts no context after the first
failure. Ctrl-C (or SIGTERM) starts no context either, and stops each running one at its next safe point as it stops
`--context X` (interrupts.check): a write already started finishes with its book-keeping, a context that has not
written does not write, a wait stops (the rollout goes on); then the report is printed. PipeCD's reviewers settled on
the same default for their multi-cluster rollback: carry on past a failed cluster (pipe-cd/pipecd#5765).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from kubectl_rollback import console, decide, interrupts, kubeconfig, output, render
from kubectl_rollback.decide import FleetOutcome, FleetRow
from kubectl_rollback.errors import ExitCode, Interrupted, ReportedError, RollbackError, UsageError
from kubectl_rollback.options import FleetRequest, OutputFormat

if TYPE_CHECKING:
    from kubectl_rollback.kube import Kube

Connect = Callable[[str], "Kube"]  # a client for one context, every other connection flag as given
Act = Callable[["Kube", output.Progress], output.Result]  # what `--context X` runs, its progress sent where asked


@dataclasses.dataclass(frozen=True)
class ContextRun:
    context: str
    cluster: Optional[str]  # the cluster the kubeconfig's context names
    row: FleetRow
    document: Optional[dict] = None  # what the context's own command prints with -o json; None: not run

    def data(self) -> dict:
        return {"context": self.context, "cluster": self.cluster, "outcome": self.row.outcome.value,
                "fromRevision": self.row.from_revision, "toRevision": self.row.to_revision,
                "message": self.row.message, "result": self.document}


@dataclasses.dataclass(frozen=True)
class FleetResult(output.Result):
    """One row per context, in the order the contexts were named."""

    verb: str
    runs: List[ContextRun]
    interrupted: bool = False  # Ctrl-C (or SIGTERM): the contexts not yet started were not

    document_kind = output.FLEET_KIND

    def table(self, wide: bool) -> str:
        return render.fleet_table(self.runs)

    def data(self) -> Any:
        return {"verb": self.verb, "contexts": [run.data() for run in self.runs],
                "summary": render.fleet_counts(self.runs)}

    def failure(self) -> Optional[RollbackError]:
        summary = render.fleet_summary(self.runs)
        if self.interrupted:
            stopped = Interrupted(f"interrupted: {summary}; the contexts not started were left as they were")
            stopped.exit_code = interrupts.stopped_code()
            return stopped
        code = decide.fleet_exit_code(run.row.outcome for run in self.runs)
        return ReportedError(code, summary) if code != ExitCode.OK else None  # each failure is in its context's row


def run(verb: str, request: FleetRequest, kubeconfig_path: Optional[str], connect: Connect, act: Act,
        fmt: OutputFormat) -> FleetResult:
    clusters = dict(kubeconfig.contexts(kubeconfig_path))
    names = _named(request, clusters)
    unknown = [name for name in names if name not in clusters]
    if unknown:
        raise UsageError(f"--contexts: the kubeconfig has no context {', '.join(unknown)} (contexts: "
                         f"{', '.join(clusters) or 'none'})")
    if not names:
        raise UsageError("--all-contexts: the kubeconfig has no contexts; pass --kubeconfig or set KUBECONFIG")
    runs: Dict[str, ContextRun] = {}  # each worker writes its own context's, then says so on `finished`
    finished: queue.Queue = queue.Queue()
    started: List[str] = []
    interrupted = False
    try:
        while len(started) < len(names) and not (request.fail_fast and _failed(runs)):
            if len(started) - len(runs) >= request.max_parallel:
                finished.get()
                continue
            with interrupts.deferred():  # a context started is one waited for
                name = names[len(started)]
                started.append(name)
                threading.Thread(target=_run_one, args=(verb, name, clusters[name], connect, act, fmt, runs, finished),
                                 name=f"context {name}").start()
    except KeyboardInterrupt:
        interrupted = True
        console.info(f"interrupted: no further context starts; the {len(started) - len(runs)} running stop at "
                     "their next safe point")
    interrupted = _wait(started, runs, finished) or interrupted
    why = "interrupted" if interrupted else "--fail-fast: a context failed"
    return FleetResult(verb, [runs.get(name) or _not_started(name, clusters[name], why) for name in names],
                       interrupted)


def stopped_before_any(verb: str, request: FleetRequest, kubeconfig_path: Optional[str]) -> FleetResult:
    """The report of a run stopped before it started a context (a Ctrl-C while the command line started up)."""
    clusters = dict(kubeconfig.contexts(kubeconfig_path))
    return FleetResult(verb, [_not_started(name, clusters.get(name), "interrupted")
                              for name in _named(request, clusters)], interrupted=True)


def _named(request: FleetRequest, clusters: Dict[str, Optional[str]]) -> List[str]:
    return list(request.contexts) or list(clusters)


def _wait(started: List[str], runs: Dict[str, ContextRun], finished: queue.Queue) -> bool:
    """Wait for every context started; whether a Ctrl-C came meanwhile. It stops each at its next safe point (a
    poll, a write's start), so the wait is short and a second Ctrl-C has nothing more to stop."""
    interrupted = False
    while any(name not in runs for name in started):
        try:
            finished.get()
        except KeyboardInterrupt:
            interrupted = True
    return interrupted


def _failed(runs: Dict[str, ContextRun]) -> bool:
    # a copy: a worker may add its row meanwhile (list() of a dict's values is one step under the GIL)
    return any(run.row.outcome is FleetOutcome.FAILED for run in list(runs.values()))


def _not_started(name: str, cluster: Optional[str], why: str) -> ContextRun:
    return ContextRun(name, cluster, FleetRow(FleetOutcome.NOT_STARTED, None, None, f"not started ({why})"))


def _run_one(verb: str, name: str, cluster: Optional[str], connect: Connect, act: Act, fmt: OutputFormat,
             runs: Dict[str, ContextRun], finished: queue.Queue) -> None:
    """One context, as `--context NAME` runs it, its lines on stderr prefixed with the context; its row goes into
    `runs` however it ends."""
    document: dict = {}
    try:
        with console.prefixed(f"[{name}] "):
            document = _document(verb, name, connect, act, fmt)
    finally:
        runs[name] = ContextRun(name, cluster, decide.fleet_row(verb, document) if document else _lost(), document)
        finished.put(name)


def _lost() -> FleetRow:
    return FleetRow(FleetOutcome.FAILED, None, None, "ended without a result (see its lines on stderr)")


def _document(verb: str, name: str, connect: Connect, act: Act, fmt: OutputFormat) -> dict:
    tell = output.on_stderr(fmt)
    try:
        result = act(connect(name), tell)
        failure = result.failure()
        tell(result)  # what its own command would print, as it would print it
        if failure is not None and failure.message:
            console.error(failure.message)
        return output.document(verb, result.data(), failure)
    except (RollbackError, KeyboardInterrupt) as exc:  # KeyboardInterrupt: stopped before anything was written
        failure = exc if isinstance(exc, RollbackError) else Interrupted("interrupted")
        if failure.exit_code == ExitCode.INTERRUPTED:
            failure.exit_code = interrupts.stopped_code()  # as main() gives it
        console.error(failure.message)
        return output.error_document(verb, failure)
    except Exception as exc:  # a bug met in one context: the others' report still comes, this row says it
        line = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}; this is a bug, please report it"
        console.error(line)
        return output.document(verb, None, RollbackError(line))
