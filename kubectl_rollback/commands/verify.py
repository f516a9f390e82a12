"""verify: run a metric analysis (an Argo Rollouts AnalysisTemplate, Prometheus queries) on the live revision of a
workload and record its verdict on that revision (docs/verify.md).

Everything that can be refused is refused before the first query: the template's fields, its args (declared,
--arg, Secrets, the built-in ones), its conditions and the identity the record needs. Then the measurements run
(commands/measure.py), and the outcome is written by `record`'s writer of a verdict.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from kubectl_rollback import console, render
from kubectl_rollback.commands import record, wait, workload_history
from kubectl_rollback.commands.measure import Measured, Verdict, load_template, prepare_for, run_analysis
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import InconclusiveError, RollbackError, WaitFailedError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import RecordRequest, VerifyRequest
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import STATUS, Status
from kubectl_rollback.verdict import Phase
from kubectl_rollback.workloads.base import WorkloadKind


@dataclasses.dataclass(frozen=True)
class VerifyResult(Printed):
    display: str
    namespace: str
    revision: Revision
    source: str
    verdict: Verdict
    recorded: Optional[str]  # the status the revision is recorded with now; None with --no-record or refused
    refused: Optional[RollbackError] = None  # why the verdict was not recorded (the analysis ran all the same)

    def table(self, wide: bool) -> str:
        outcome = f"analysis {self.source} {self.verdict.phase.value}"
        if self.verdict.message:
            outcome += f": {self.verdict.message}"
        where = f"{self.display} revision {self.revision.number} ({self.revision.name})"
        if self.refused is not None:
            return f"{where}: {outcome}; not recorded"
        if self.recorded is None:
            return f"{where}: {outcome}; not recorded (--no-record)"
        if self.recorded != self.verdict.status.value:  # an undecided verdict keeps the outcome recorded before
            return f"{where}: {outcome}; still recorded {self.recorded}"
        return f"{where}: {outcome}; recorded {self.recorded}"

    def data(self) -> Any:
        return {
            "workload": self.display,
            "namespace": self.namespace,
            "revision": self.revision.number,
            "name": self.revision.name,
            "analysis": self.source,
            "recorded": self.recorded,
            **render.verification_dict(self.verdict),
        }

    def failure(self) -> Optional[RollbackError]:
        """A verdict that could not be recorded ends with that refusal; else Failed ends the command with exit 4 (as
        a failed rollout), Inconclusive or Error with exit 7."""
        if self.refused is not None:
            return self.refused
        if self.verdict.status is Status.FAILED:
            return WaitFailedError(f"{self.display} revision {self.revision.number}: analysis "
                                   f"{self.verdict.phase.value}: {self.verdict.message}")
        if self.verdict.phase is not Phase.SUCCESSFUL:
            return InconclusiveError(f"{self.display} revision {self.revision.number}: analysis "
                                     f"{self.verdict.phase.value}, nothing rolled back: {self.verdict.message}")
        return None


def run(kube: Kube, kind: WorkloadKind, name: str, request: VerifyRequest,
        on_progress: Callable[[Measured], None]) -> VerifyResult:
    template, source = load_template(kube, request.spec)
    # As record: right after an apply, the controller may not have made the new revision yet.
    workload = wait.wait_observed(kube, kind, kind.get(kube, name))
    seen = workload_history.from_revisions(kube, kind, workload, kind.revisions(kube, workload), request.flags)
    live = next((r for r in seen.revisions if r.live), None)
    if live is None:
        raise RollbackError(f"{kind.display(name)} has no revision for its current template yet (is it paused?); "
                            "verify again once the controller has created it")
    state = kind.rollout_state(workload, live.name)
    if not state.done:
        console.warn(f"{kind.display(name)} revision {live.number} has not finished rolling out ({state.message}); "
                     "measuring it as it is")
    if request.record:  # before measuring: a verdict that could not be recorded would be measured for nothing
        record.identity_for(kube, kind.display(name), live, request.flags, ", or pass --no-record")
    prepared = prepare_for(kube, name, live, seen, template, source, request.args)
    result = run_analysis(prepared, request.inconclusive_fails, on_progress)
    display = kind.display(name)
    if not request.record:
        return VerifyResult(display, kube.namespace, live, source, result, None)
    try:
        written = record.record_verdict(kube, kind, workload, live, RecordRequest(flags=request.flags), result)
    except RollbackError as refused:  # the measurements stay in the result (-o json), with the refusal as its error
        return VerifyResult(display, kube.namespace, live, source, result, None, refused)
    return VerifyResult(display, kube.namespace, live, source, result, written.annotations[STATUS])


