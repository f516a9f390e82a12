"""Pure decisions of an analysis, with Argo Rollouts' semantics (analysis/analysis.go, utils/evaluate; docs/verify.md
says where verify differs): the phase of one measurement from the conditions, of a metric from its measurements and
limits, of the whole analysis from its metrics, when the next measurement is due, and the record a phase gives.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Tuple

from kubectl_rollback.records import PREFIX, Status

if TYPE_CHECKING:
    from kubectl_rollback.analysis import Metric

# The verification annotations on a revision object (docs/annotations.md).
VERIFICATION = PREFIX + "verification"  # Successful, Failed, Inconclusive or Error
VERIFICATION_MESSAGE = PREFIX + "verification-message"  # the failing metric, its value and condition; or the reason
VERIFIED_AT = PREFIX + "verified-at"
# A number as Go's strconv prints it in a measured value: the shortest text that reads back as the same float64.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SHOWN_DIGITS = 15  # a float64 holds 15 significant decimal digits for sure; the 16th and 17th are float noise
VERIFICATION_METRIC = PREFIX + "verification-metric"  # the metric that decided an analysis not Successful ...
VERIFICATION_VALUE = PREFIX + "verification-value"  # ... and its last value that was not Successful


class Phase(str, enum.Enum):
    SUCCESSFUL = "Successful"
    RUNNING = "Running"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    FAILED = "Failed"

    def __str__(self) -> str:
        return self.value


# Argo Rollouts' order, best first (utils/analysis IsWorse): the analysis takes its worst metric's phase.
_ORDER = (Phase.SUCCESSFUL, Phase.RUNNING, Phase.INCONCLUSIVE, Phase.ERROR, Phase.FAILED)


@dataclasses.dataclass(frozen=True)
class Measurement:
    metric: str
    phase: Phase  # Successful, Failed, Inconclusive or Error
    value: Optional[str]  # the result as Argo Rollouts prints it ("0.25", "[0.25,0.5]"); None when none came back
    message: Optional[str] = None  # why it is an Error, or which condition decided
    at: str = ""  # RFC 3339


@dataclasses.dataclass(frozen=True)
class PhaseAssessment:
    phase: Phase
    reason: str  # for a completed phase: why, in Argo Rollouts' words ("failed (2) > failureLimit (1)")


def measurement_phase(metric: Metric, result: Any) -> Tuple[Phase, Optional[str]]:
    """Argo Rollouts' EvaluateResult: with both conditions, neither true is Inconclusive; with one, its negation is
    the other; with none, Successful. A condition that cannot be evaluated on this result is an Error."""
    # Here, not at the top: `history` reads recorded verifications through this module, and the condition language
    # and the analysis templates (13 dataclasses) would cost every history run a tenth of its start-up.
    from kubectl_rollback import condition

    try:
        success = metric.success is not None and condition.evaluate(metric.success, result)
        failure = metric.failure is not None and condition.evaluate(metric.failure, result)
    except condition.ConditionValueError as exc:
        return Phase.ERROR, f"cannot evaluate the condition: {exc}"
    if metric.success is None and metric.failure is None:
        return Phase.SUCCESSFUL, None
    if metric.failure is None:
        failure = not success
    elif metric.success is None:
        success = not failure
    if failure:
        which = (f"failureCondition {metric.failure_condition!r} is true" if metric.failure is not None
                 else f"successCondition {metric.success_condition!r} is false")
        return Phase.FAILED, which
    if not success:
        return Phase.INCONCLUSIVE, "neither successCondition nor failureCondition is true"
    return Phase.SUCCESSFUL, None


def counted(measurements: Iterable[Measurement]) -> int:
    """Measurements that count towards `count`: every one but Errors (those are retried)."""
    return sum(1 for m in measurements if m.phase is not Phase.ERROR)


def assess_metric(metric: Metric, measurements: Sequence[Measurement]) -> PhaseAssessment:
    """Argo Rollouts' assessMetricStatus: the limits first (a later rule wins: Error over Inconclusive over Failed),
    then Successful once `count` measurements counted, else still Running."""
    failed = sum(1 for m in measurements if m.phase is Phase.FAILED)
    inconclusive = sum(1 for m in measurements if m.phase is Phase.INCONCLUSIVE)
    consecutive_errors = 0
    for measurement in reversed(measurements):
        if measurement.phase is not Phase.ERROR:
            break
        consecutive_errors += 1
    if consecutive_errors > metric.consecutive_error_limit:
        return PhaseAssessment(Phase.ERROR, f"consecutiveErrors ({consecutive_errors}) > consecutiveErrorLimit "
                                       f"({metric.consecutive_error_limit})")
    if inconclusive > metric.inconclusive_limit:
        return PhaseAssessment(Phase.INCONCLUSIVE, f"inconclusive ({inconclusive}) > inconclusiveLimit "
                                              f"({metric.inconclusive_limit})")
    if metric.failure_limit >= 0 and failed > metric.failure_limit:
        return PhaseAssessment(Phase.FAILED, f"failed ({failed}) > failureLimit ({metric.failure_limit})")
    if counted(measurements) >= metric.count:
        return PhaseAssessment(Phase.SUCCESSFUL, f"count ({metric.count}) reached")
    return PhaseAssessment(Phase.RUNNING, "")


def analysis_phase(assessments: Iterable[PhaseAssessment]) -> Phase:
    """The worst phase of the metrics; an analysis with a metric Failed, Error or Inconclusive ends there, as an
    AnalysisRun terminates (metrics still Running are not measured further)."""
    phases = [a.phase for a in assessments]
    worst = max(phases, key=_ORDER.index, default=Phase.SUCCESSFUL)
    if worst in (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE):
        return worst
    return Phase.RUNNING if Phase.RUNNING in phases else Phase.SUCCESSFUL


def next_due(metric: Metric, measurements: Sequence[Measurement], started: float, last_finished: float) -> float:
    """When the metric's next measurement is due (monotonic seconds): after `initialDelay` for the first, then
    `interval` after the last one finished, or Argo Rollouts' 10 s after an Error."""
    from kubectl_rollback.analysis import ERROR_RETRY_INTERVAL  # not at the top: see measurement_phase

    if not measurements:
        return started + metric.initial_delay
    wait = ERROR_RETRY_INTERVAL if measurements[-1].phase is Phase.ERROR else metric.interval
    return last_finished + wait


def recorded_status(phase: Phase, inconclusive_fails: bool) -> Status:
    """The record a finished analysis gives its revision: Successful -> Succeeded, Failed -> Failed; Inconclusive
    and Error leave it InProgress (nothing is rolled back on a measurement we could not trust), or Failed with
    --on-inconclusive=fail."""
    if phase is Phase.SUCCESSFUL:
        return Status.SUCCEEDED
    if phase is Phase.FAILED or inconclusive_fails:
        return Status.FAILED
    return Status.IN_PROGRESS


def replaces(verdict_status: Status, recorded: Status) -> bool:
    """Whether a verdict's record replaces the revision's record: an undecided verdict (Inconclusive or Error, left
    InProgress) never replaces an outcome someone or something already decided (Succeeded, Failed): a live revision
    made InProgress again would turn the revision before it into a rollback target where there was none."""
    return not (verdict_status is Status.IN_PROGRESS and recorded in (Status.SUCCEEDED, Status.FAILED))


@dataclasses.dataclass(frozen=True)
class Verification:
    """The verdict recorded on a revision (what `history` shows of it)."""

    phase: str
    metric: Optional[str]
    value: Optional[str]
    message: Optional[str]
    verified_at: Optional[str]

    def cell(self) -> str:
        measured = f"={shown(self.value)}" if self.value is not None else ""
        return self.phase + (f" {self.metric}{measured}" if self.metric else "")


def shown(value: str) -> str:
    """A measured value for a person: each number to 15 significant digits, so that 0.1 + 0.2, which Prometheus
    prints 0.30000000000000004, reads 0.3 (NaN and +Inf as they are). Display only: -o json|yaml and the recorded
    annotations keep the value as it came back."""
    return _NUMBER.sub(lambda number: format(float(number.group()), f".{_SHOWN_DIGITS}g"), value)


def recorded_verification(annotations: Optional[Mapping[str, Any]]) -> Optional[Verification]:
    """The verification annotations of a revision object, None when it was never verified."""
    annotations = annotations or {}
    phase = annotations.get(VERIFICATION)
    if not isinstance(phase, str):
        return None

    def text(key: str) -> Optional[str]:
        value = annotations.get(key)
        return value if isinstance(value, str) else None

    return Verification(phase, text(VERIFICATION_METRIC), text(VERIFICATION_VALUE), text(VERIFICATION_MESSAGE),
                        text(VERIFIED_AT))


def last_unsuccessful(measurements: Sequence[Measurement]) -> Optional[Measurement]:
    return next((m for m in reversed(measurements) if m.phase is not Phase.SUCCESSFUL), None)


def deciding(metric: str, assessment: PhaseAssessment, measurements: Sequence[Measurement]) -> str:
    """One line saying why the analysis ended as it did: the metric, its last value and what decided."""
    last = last_unsuccessful(measurements)
    line = f"metric {metric} {assessment.phase.value}: {assessment.reason}"
    if last is not None:
        line += f"; last value {last.value if last.value is not None else 'none'}"
        if last.message:
            line += f" ({last.message})"
    return line


def builtin_args(namespace: str, workload: str, revision: Tuple[int, str], baseline: Optional[Tuple[int, str]]) -> dict:
    """The args verify fills when a template declares them with no value: the live revision's number and
    pod-template-hash, and the rollback target's (the baseline) when there is one."""
    args = {"namespace": namespace, "workload": workload, "revision": str(revision[0]),
            "pod-template-hash": revision[1]}
    if baseline is not None:
        args.update({"baseline-revision": str(baseline[0]), "baseline-pod-template-hash": baseline[1]})
    return args
