"""verify: run a metric analysis (an Argo Rollouts AnalysisTemplate, Prometheus queries) on the live revision of a
workload and record its verdict on that revision (docs/verify.md).

Everything that can be refused is refused before the first query: the template's fields, its args (declared,
--arg, Secrets, the built-in ones), its conditions and the identity the record needs. Then the measurements run
with Argo Rollouts' semantics (the decisions are verdict.py's; this module sleeps and queries), and the outcome is
written by the same function `record` writes with, plus the verification annotations.

`run_analysis` is the piece `record --follow --verify` and `watch` call after a rollout completes (next step of
issue 31): a prepared `Analysis` in, the measured `Verdict` out.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from kubectl_rollback import analysis, console, prometheus, verdict
from kubectl_rollback.commands import record, wait, workload_history
from kubectl_rollback.decide import Revision, merge_identity, missing_flags
from kubectl_rollback.errors import (
    InconclusiveError,
    NoTargetError,
    NotFoundError,
    RollbackError,
    UsageError,
    WaitFailedError,
)
from kubectl_rollback.kube import SECRETS, Kube, Resource
from kubectl_rollback.options import RecordRequest, VerifyRequest
from kubectl_rollback.output import Result as Printed
from kubectl_rollback.records import Status, now_rfc3339
from kubectl_rollback.verdict import Measurement, Phase
from kubectl_rollback.workloads.base import WorkloadKind, annotate

ANALYSIS_TEMPLATES = Resource("argoproj.io", "v1alpha1", "analysistemplates", "AnalysisTemplate")
CLUSTER_ANALYSIS_TEMPLATES = Resource(
    "argoproj.io", "v1alpha1", "clusteranalysistemplates", "ClusterAnalysisTemplate", namespaced=False
)
_IN_CLUSTER = re.compile(
    r"(?P<kind>(?:cluster)?analysistemplates?)(?:\.argoproj\.io)?/(?P<name>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)",
    re.IGNORECASE,
)
REDACTED = "*****"  # what a Secret's value becomes in every message, as Argo Rollouts redacts it


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A template resolved for one revision: typed metrics, the Secret values to keep out of every message."""

    source: str  # FILE, analysistemplate/NAME or clusteranalysistemplate/NAME
    metrics: Tuple[analysis.Metric, ...]
    secrets: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Verdict:
    phase: Phase
    message: str  # which metric decided, its value and condition; "" when Successful
    measurements: Tuple[Measurement, ...]
    status: Status  # the record it gives the revision (verdict.recorded_status)


@dataclasses.dataclass(frozen=True)
class Measured:
    """One measurement as it is taken: the line on stderr."""

    measurement: Measurement
    number: int  # counted measurements so far (Errors are not counted, as in Argo Rollouts)
    count: int

    def line(self) -> str:
        m = self.measurement
        text = f"{m.metric}: {m.value if m.value is not None else '-'} {m.phase.value} ({self.number} of {self.count})"
        return text + (f": {m.message}" if m.message and m.phase is not Phase.SUCCESSFUL else "")


@dataclasses.dataclass(frozen=True)
class VerifyResult(Printed):
    display: str
    namespace: str
    revision: Revision
    source: str
    verdict: Verdict
    recorded: bool

    def table(self, wide: bool) -> str:
        outcome = f"analysis {self.source} {self.verdict.phase.value}"
        if self.verdict.message:
            outcome += f": {self.verdict.message}"
        where = f"{self.display} revision {self.revision.number} ({self.revision.name})"
        if not self.recorded:
            return f"{where}: {outcome}; not recorded (--no-record)"
        return f"{where}: {outcome}; recorded {self.verdict.status.value}"

    def data(self) -> Any:
        return {
            "workload": self.display,
            "namespace": self.namespace,
            "revision": self.revision.number,
            "name": self.revision.name,
            "analysis": self.source,
            "phase": self.verdict.phase.value,
            "message": self.verdict.message or None,
            "recorded": self.verdict.status.value if self.recorded else None,
            "measurements": [dataclasses.asdict(m) | {"phase": m.phase.value} for m in self.verdict.measurements],
        }

    def failure(self) -> Optional[RollbackError]:
        """Failed ends the command with exit 4 (as a failed rollout), Inconclusive or Error with exit 7."""
        if self.verdict.status is Status.FAILED:
            return WaitFailedError(f"{self.display} revision {self.revision.number}: analysis "
                                   f"{self.verdict.phase.value}: {self.verdict.message}")
        if self.verdict.phase is not Phase.SUCCESSFUL:
            return InconclusiveError(f"{self.display} revision {self.revision.number}: analysis "
                                     f"{self.verdict.phase.value}, nothing rolled back: {self.verdict.message}")
        return None


def load_template(kube: Kube, spec: str) -> Tuple[analysis.Template, str]:
    """The template of --verify and how to name it: analysistemplate/NAME or clusteranalysistemplate/NAME from the
    cluster, else a YAML or JSON file (read before any request, so a bad one is refused with no cluster at all)."""
    import yaml

    found = _IN_CLUSTER.fullmatch(spec)
    if found is None:
        try:
            with open(spec, encoding="utf-8") as stream:
                document = yaml.safe_load(stream)
        except OSError as exc:
            raise UsageError(f"--verify {spec}: cannot read it: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"--verify {spec}: not YAML: {str(exc).splitlines()[0]}") from None
        return analysis.check_template(document, spec), spec
    cluster_wide = found.group("kind").lower().startswith("cluster")
    resource = CLUSTER_ANALYSIS_TEMPLATES if cluster_wide else ANALYSIS_TEMPLATES
    source = f"{resource.kind.lower()}/{found.group('name')}"
    try:
        document = kube.get(resource, found.group("name"))
    except NotFoundError as exc:
        if exc.reason == "NotFound":  # the object is missing; otherwise the server does not serve the kind at all
            raise
        raise RollbackError(f"--verify {spec}: this cluster serves no {resource.qualified} (Argo Rollouts' CRDs "
                            "are not installed); install them, or pass the template as a file") from None
    return analysis.check_template(document, source), source


def prepare(
    kube: Kube, template: analysis.Template, source: str, given: Sequence[Tuple[str, str]], builtins: Dict[str, str],
    no_baseline: Optional[str],
) -> Analysis:
    """Every arg given a value (--arg, then the declared value or Secret, then the built-in ones) and the metrics
    typed; UsageError (or NoTargetError for a baseline arg with no rollback target) before anything is measured."""
    declared = {arg.name: arg for arg in template.args}
    for key, _ in given:
        if key not in declared:
            raise UsageError(f"--arg {key}: {source} declares no arg {key!r} "
                             f"(it declares: {', '.join(declared) or 'none'})")
    overrides = dict(given)
    values: Dict[str, str] = {}
    secrets: List[str] = []
    for arg in template.args:
        if arg.name in overrides:
            values[arg.name] = overrides[arg.name]
        elif arg.value is not None:
            values[arg.name] = arg.value
        elif arg.secret is not None:
            values[arg.name] = _secret_value(kube, arg.secret, source)
            secrets.append(values[arg.name])
        elif arg.name in builtins:
            values[arg.name] = builtins[arg.name]
        elif arg.name.startswith("baseline-") and no_baseline is not None:
            raise NoTargetError(f"{source} arg {arg.name} is the rollback target's, and there is none: {no_baseline}")
        else:
            raise UsageError(f"{source} arg {arg.name!r} has no value: pass --arg {arg.name}=VALUE")
    return Analysis(source, analysis.resolve_metrics(template, values, source), tuple(s for s in secrets if s))


def _secret_value(kube: Kube, ref: analysis.SecretRef, source: str) -> str:
    data = (kube.get(SECRETS, ref.name).get("data") or {})
    if ref.key not in data:
        raise UsageError(f"{source}: Secret {ref.name} has no key {ref.key!r}")
    return base64.b64decode(data[ref.key]).decode("utf-8", errors="replace")


def take_measurement(metric: analysis.Metric) -> Measurement:
    """One query and its phase; a query that fails is an Error measurement, never an exception."""
    at = now_rfc3339()
    try:
        result, printed = prometheus.query(metric.prometheus)
    except prometheus.PrometheusError as exc:
        return Measurement(metric.name, Phase.ERROR, None, str(exc), at)
    phase, message = verdict.measurement_phase(metric, result)
    return Measurement(metric.name, phase, printed, message, at)


def run_analysis(
    prepared: Analysis,
    inconclusive_fails: bool,
    on_progress: Callable[[Measured], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    measure: Callable[[analysis.Metric], Measurement] = take_measurement,
) -> Verdict:
    """Measure until the analysis ends: each metric when it is due (verdict.next_due), in order of due time."""
    started = clock()
    taken: Dict[str, List[Measurement]] = {m.name: [] for m in prepared.metrics}
    finished: Dict[str, float] = {m.name: started for m in prepared.metrics}
    while True:
        assessments = {m.name: verdict.assess_metric(m, taken[m.name]) for m in prepared.metrics}
        phase = verdict.analysis_phase(assessments.values())
        if phase is not Phase.RUNNING:
            break
        running = [m for m in prepared.metrics if assessments[m.name].phase is Phase.RUNNING]
        metric = min(running, key=lambda m: verdict.next_due(m, taken[m.name], started, finished[m.name]))
        delay = verdict.next_due(metric, taken[metric.name], started, finished[metric.name]) - clock()
        if delay > 0:
            sleep(delay)
        measurement = _redacted(measure(metric), prepared.secrets)
        taken[metric.name].append(measurement)
        finished[metric.name] = clock()
        on_progress(Measured(measurement, verdict.counted(taken[metric.name]), metric.count))
    message = ""
    if phase is not Phase.SUCCESSFUL:
        name = next(m.name for m in prepared.metrics if assessments[m.name].phase is phase)
        message = _redact(verdict.deciding(name, assessments[name], taken[name]), prepared.secrets)
    every = tuple(m for metric in prepared.metrics for m in taken[metric.name])
    return Verdict(phase, message, every, verdict.recorded_status(phase, inconclusive_fails))


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
    if request.record:
        identity = merge_identity(request.flags, kube.namespace, live.record, kube.cluster_name)
        missing = missing_flags(identity, recording=True)
        if missing:
            raise UsageError(f"recording the verdict needs {', '.join(missing)} (revision {live.number} has no "
                             "earlier record to take them from), or pass --no-record")
    target = seen.target if seen.target is not None and seen.target.name != live.name else None
    baseline = (target.number, pod_template_hash(target)) if target is not None else None
    no_baseline = None if target is not None else (seen.problem.message if seen.problem else
                                                   f"revision {live.number} is itself the last good one")
    builtins = verdict.builtin_args(kube.namespace, name, (live.number, pod_template_hash(live)), baseline)
    prepared = prepare(kube, template, source, request.args, builtins, no_baseline)
    result = run_analysis(prepared, request.inconclusive_fails, on_progress)
    if request.record:
        record_verdict(kube, kind, workload, live, request, result)
    return VerifyResult(kind.display(name), kube.namespace, live, source, result, request.record)


def record_verdict(kube: Kube, kind: WorkloadKind, workload: dict, revision: Revision, request: VerifyRequest,
                   result: Verdict) -> None:
    """The verdict on the revision: its record through `record`'s own writer (identity, the refusal to mark a
    revision a rollback restored, the preconditioned write), then the verification annotations. The revision is
    read again first: the analysis took minutes, and a revision someone recorded Failed meanwhile (a rollback left
    it, a person saw it fail) is not made Succeeded by a measurement that started before."""
    current = next((r for r in kind.revisions(kube, workload) if r.name == revision.name), None)
    if current is None:
        raise RollbackError(f"{kind.display(workload['metadata']['name'])} revision {revision.number} is gone "
                            f"(pruned during the analysis); the {result.phase.value} verdict is not recorded")
    if (result.status is not Status.FAILED and current.record.status is Status.FAILED
            and revision.record.status is not Status.FAILED):
        raise RollbackError(f"{kind.display(workload['metadata']['name'])} revision {revision.number} was recorded "
                            f"Failed during the analysis; the {result.phase.value} verdict is not recorded over it")
    record._write(kube, kind, workload, current, RecordRequest(flags=request.flags), result.status)
    annotate(kube, kind.revision_resource, current, verification_annotations(result))


def verification_annotations(result: Verdict) -> dict:
    return {
        verdict.VERIFICATION: result.phase.value,
        verdict.VERIFICATION_MESSAGE: result.message[: 1000] or None,
        verdict.VERIFIED_AT: now_rfc3339(),
    }


def pod_template_hash(revision: Revision) -> str:
    """The hash the revision's pods carry: a ReplicaSet's pod-template-hash label, else (a ControllerRevision) the
    hash its name ends with."""
    labels = ((revision.template or {}).get("metadata") or {}).get("labels") or {}
    return labels.get("pod-template-hash") or revision.name.rsplit("-", 1)[-1]


def _redacted(measurement: Measurement, secrets: Sequence[str]) -> Measurement:
    if measurement.message is None:
        return measurement
    return dataclasses.replace(measurement, message=_redact(measurement.message, secrets))


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
