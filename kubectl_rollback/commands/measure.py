"""Measuring a revision (issue 31, docs/verify.md): an Argo Rollouts AnalysisTemplate read (a file, or from the
cluster) and prepared for one revision (its args: --arg, declared values and Secrets, the built-in ones), the
measurements taken with Argo Rollouts' semantics (the decisions are verdict.py's; this module sleeps and queries),
and the annotations a verdict writes. `verify`, `record --follow --verify` and the watcher all measure with it.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from kubectl_rollback import analysis, interrupts, prometheus, verdict
from kubectl_rollback.commands import workload_history
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import NoTargetError, NotFoundError, RollbackError, UsageError
from kubectl_rollback.kube import SECRETS, Kube, Resource
from kubectl_rollback.records import Status, now_rfc3339
from kubectl_rollback.verdict import Measurement, Phase

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
    metric: Optional[str] = None  # the metric that decided, when not Successful ...
    value: Optional[str] = None  # ... and its last value that was not Successful


@dataclasses.dataclass(frozen=True)
class Measured:
    """One measurement as it is taken: the line on stderr."""

    measurement: Measurement
    number: int  # counted measurements so far (Errors are not counted, as in Argo Rollouts)
    count: int

    def line(self) -> str:
        m = self.measurement
        value = verdict.shown(m.value) if m.value is not None else "-"
        text = f"{m.metric}: {value} {m.phase.value} ({self.number} of {self.count})"
        return text + (f": {m.message}" if m.message and m.phase is not Phase.SUCCESSFUL else "")


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


def names_cluster_template(spec: str) -> bool:
    """Whether --verify (or harness.io/verify) names an AnalysisTemplate or ClusterAnalysisTemplate, not a file."""
    return _IN_CLUSTER.fullmatch(spec) is not None


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
    sleep: Callable[[float], None] = interrupts.sleep,
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
    every = tuple(m for metric in prepared.metrics for m in taken[metric.name])
    status = verdict.recorded_status(phase, inconclusive_fails)
    if phase is Phase.SUCCESSFUL:
        return Verdict(phase, "", every, status)
    name = next(m.name for m in prepared.metrics if assessments[m.name].phase is phase)
    message = _redact(verdict.deciding(name, assessments[name], taken[name]), prepared.secrets)
    last = verdict.last_unsuccessful(taken[name])
    return Verdict(phase, message, every, status, name, last.value if last is not None else None)


def prepare_for(kube: Kube, name: str, revision: Revision, seen: workload_history.WorkloadHistory,
                template: analysis.Template, source: str, given: Sequence[Tuple[str, str]]) -> Analysis:
    """The template prepared for this revision of workload `name`: the built-in args are its own and those of the
    rollback target in `seen` (the baseline)."""
    target = seen.target if seen.target is not None and seen.target.name != revision.name else None
    baseline = (target.number, target.template_hash) if target is not None else None
    no_baseline = None if target is not None else (seen.problem.message if seen.problem else
                                                   f"revision {revision.number} is itself the last good one")
    builtins = verdict.builtin_args(kube.namespace, name, (revision.number, revision.template_hash), baseline)
    return prepare(kube, template, source, given, builtins, no_baseline)


def verification_annotations(result: Verdict) -> dict:
    return {
        verdict.VERIFICATION: result.phase.value,
        verdict.VERIFICATION_MESSAGE: result.message[: 1000] or None,
        verdict.VERIFICATION_METRIC: result.metric,
        verdict.VERIFICATION_VALUE: result.value[: 200] if result.value is not None else None,
        verdict.VERIFIED_AT: now_rfc3339(),
    }


def _redacted(measurement: Measurement, secrets: Sequence[str]) -> Measurement:
    if measurement.message is None:
        return measurement
    return dataclasses.replace(measurement, message=_redact(measurement.message, secrets))


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
