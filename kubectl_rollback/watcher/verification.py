"""The watcher's analyses (issue 31): for a workload annotated `harness.io/verify: analysistemplate/NAME` (or
clusteranalysistemplate/NAME), each rollout the watcher records is measured once it completes, with `verify`'s own
pieces (the template read from the cluster, the built-in args, the measurement loop).

An analysis takes minutes, so each runs in a thread of its own: the reconcile loop goes on recording the other
workloads meanwhile. Its verdict is written as the loop writes any outcome (the watcher's record, preconditioned on
the record the analysis started from), and a Failed one is then rolled back by the loop's auto-rollback path (the
mark, then the outcome). Nothing is kept in memory that a restart would need: a watcher killed during an analysis
leaves the revision InProgress with no verdict, and the next one (or the next leader) measures it again.
"""

from __future__ import annotations

import datetime
import threading
from typing import Callable, Optional, Set, Tuple

from kubectl_rollback.commands import measure, workload_history
from kubectl_rollback.errors import ApiError, ForbiddenError, NotFoundError, RollbackError, UsageError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.records import Status
from kubectl_rollback.verdict import Phase
from kubectl_rollback.watcher import reaction
from kubectl_rollback.watcher.log import DecisionLog
from kubectl_rollback.watcher.metrics import Metrics
from kubectl_rollback.workloads.base import WorkloadKind

Write = Callable[[WorkloadKind, dict, reaction.Workload, reaction.Reaction], None]


class Analyses:
    """The analyses running now, at most one per revision object; `write` records a verdict as the loop records."""

    def __init__(self, kube: Kube, settings: reaction.Settings, log: DecisionLog, metrics: Metrics,
                 is_leader: Callable[[], bool], write: Write):
        self.kube = kube
        self.settings = settings
        self.log = log
        self.metrics = metrics
        self.is_leader = is_leader
        self.write = write
        self._running: Set[Tuple[str, str, int]] = set()  # (namespace, revision object, revision number)
        self._lock = threading.Lock()

    def start(self, kind: WorkloadKind, workload: dict, view: reaction.Workload, requeue: Callable[[], None]) -> None:
        """Start the analysis of the live revision, unless it is running already (every resync asks again);
        `requeue` queues the workload once it is over (so that a Failed verdict is rolled back at once)."""
        assert view.live is not None
        key = (view.namespace, view.live.name, view.live.number)
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)
            self.metrics.analyses_running.set(len(self._running))
        self.log.line("verifying", workload=view.display, namespace=view.namespace, revision=view.live.number,
                      analysis=view.annotations[reaction.VERIFY].strip())
        threading.Thread(target=self._run, args=(key, kind, workload, view, requeue),
                         name=f"verify-{view.live.name}", daemon=True).start()

    def _run(self, key: Tuple[str, str, int], kind: WorkloadKind, workload: dict, view: reaction.Workload,
             requeue: Callable[[], None]) -> None:
        try:
            found = self._analyse(kind, workload, view)
            if found is None or not self.is_leader():
                return  # an API failure (logged; the next resync tries again), or another replica acts now
            self.metrics.analyses.labels(found.phase.value).inc()
            why = f"analysis {view.annotations[reaction.VERIFY].strip()} {found.phase.value}"
            decision = reaction.verdict(view, self.settings, found.status, why + (f": {found.message}" if
                                      found.message else ""), datetime.datetime.now(datetime.timezone.utc))
            assert decision.annotations is not None
            decision.annotations.update(measure.verification_annotations(found))
            self.write(kind, workload, view, decision)
        except Exception as exc:  # a bug must not end the thread silently: the next resync tries again
            why = exc.message if isinstance(exc, RollbackError) else f"unexpected {type(exc).__name__}: {exc}"
            self.log.line("error", workload=view.display, namespace=view.namespace, why=why)
        finally:
            with self._lock:
                self._running.discard(key)
                self.metrics.analyses_running.set(len(self._running))
            requeue()

    def _analyse(self, kind: WorkloadKind, workload: dict, view: reaction.Workload) -> Optional[measure.Verdict]:
        """The verdict, or None after an API failure worth retrying. A template that cannot be used (not a cluster
        template, missing, forbidden, refused, no baseline) is an Error verdict: it stays InProgress, saying why."""
        live = view.live
        assert live is not None
        spec = view.annotations[reaction.VERIFY].strip()
        fields = dict(workload=view.display, namespace=view.namespace, revision=live.number)
        kube = self.kube.in_namespace(view.namespace)
        try:
            if not measure.names_cluster_template(spec):
                raise UsageError(f"{reaction.VERIFY} {spec!r}: the watcher reads analysistemplate/NAME or "
                                 "clusteranalysistemplate/NAME only (not a file)")
            template, source = measure.load_template(kube, spec)
            revisions = kind.revisions(kube, workload)
            seen = workload_history.from_revisions(kube, kind, workload, revisions, IdentityFlags())
            prepared = measure.prepare_for(kube, view.name, live, seen, template, source, ())
        except ApiError as exc:
            if not isinstance(exc, (NotFoundError, ForbiddenError)):
                self.log.line("error", **fields, why=f"analysis not started: {exc.message}")
                return None
            return measure.Verdict(Phase.ERROR, exc.message, (), Status.IN_PROGRESS)
        except RollbackError as exc:  # refused: the template, its args, no baseline, no Argo Rollouts CRDs
            return measure.Verdict(Phase.ERROR, exc.message, (), Status.IN_PROGRESS)

        def measured(progress: measure.Measured) -> None:
            m = progress.measurement
            self.log.line("measured", **fields, metric=m.metric, value=m.value, outcome=m.phase.value,
                          count=f"{progress.number} of {progress.count}", why=m.message)

        return measure.run_analysis(prepared, False, measured)
