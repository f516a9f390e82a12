"""The analysis spec: Argo Rollouts' AnalysisTemplate / ClusterAnalysisTemplate (argoproj.io/v1alpha1), the subset
issue 31 supports (docs/verify.md). Pure: a parsed YAML/JSON document in, typed metrics out, or a UsageError naming
the first field outside the subset, so nothing starts on a template that would not be analysed as written.

Two steps, as Argo Rollouts resolves a template: `check_template` looks at the field names and the declared args
(before any argument is known), `resolve_metrics` substitutes `{{args.NAME}}` into every string of the metrics and
types them (durations, counts, limits, conditions).
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any, Dict, Mapping, Optional, Tuple

from kubectl_rollback import condition
from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import parse_duration

API_VERSION = "argoproj.io/v1alpha1"
KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")

_TOP_FIELDS = {"apiVersion", "kind", "metadata", "spec"}
_SPEC_FIELDS = {"metrics", "args"}
_ARG_FIELDS = {"name", "value", "valueFrom"}
_VALUE_FROM_FIELDS = {"secretKeyRef"}
_SECRET_KEY_REF_FIELDS = {"name", "key"}
_METRIC_FIELDS = {
    "name", "interval", "initialDelay", "count", "successCondition", "failureCondition", "failureLimit",
    "inconclusiveLimit", "consecutiveErrorLimit", "provider",
}
_PROVIDERS = {"prometheus"}
_PROMETHEUS_FIELDS = {"address", "query", "timeout", "headers", "insecure"}
_HEADER_FIELDS = {"key", "value"}

# Argo Rollouts' defaults (utils/defaults, metricproviders/prometheus).
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
DEFAULT_PROMETHEUS_TIMEOUT = 30.0
ERROR_RETRY_INTERVAL = 10.0  # after a measurement Error, the next one comes this much later (DefaultErrorRetryInterval)

_ARG_REFERENCE = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")


@dataclasses.dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclasses.dataclass(frozen=True)
class Argument:
    name: str
    value: Optional[str] = None  # declared `value`
    secret: Optional[SecretRef] = None  # declared `valueFrom.secretKeyRef`


@dataclasses.dataclass(frozen=True)
class Template:
    kind: str
    name: str
    args: Tuple[Argument, ...]
    metrics: Tuple[Mapping[str, Any], ...]  # as written: typed by resolve_metrics once the args are known


@dataclasses.dataclass(frozen=True)
class Prometheus:
    address: str
    query: str
    timeout: float
    headers: Tuple[Tuple[str, str], ...]
    insecure: bool


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    count: int  # how many measurements (Successful, Failed or Inconclusive; Errors are retried and not counted)
    interval: float  # seconds between measurements
    initial_delay: float
    success_condition: Optional[str]
    failure_condition: Optional[str]
    failure_limit: int  # negative: no limit, as in Argo Rollouts
    inconclusive_limit: int
    consecutive_error_limit: int
    prometheus: Prometheus
    success: Optional[condition.Node] = None
    failure: Optional[condition.Node] = None


def check_template(document: Any, source: str) -> Template:
    """The template's shape: every field in the supported subset, one UsageError naming the first that is not."""
    where = _Where(source)
    _object(document, where, _TOP_FIELDS)
    if document.get("apiVersion") != API_VERSION or document.get("kind") not in KINDS:
        raise where.error(
            f"is {document.get('apiVersion')!r} {document.get('kind')!r}; expected {API_VERSION} "
            f"{' or '.join(KINDS)}"
        )
    name = str((document.get("metadata") or {}).get("name") or source)
    spec = _object(document.get("spec"), where.at("spec"), _SPEC_FIELDS)
    at_spec = where.at("spec")
    args = tuple(_argument(arg, where.at(f"spec.args[{i}]")) for i, arg in enumerate(_list(spec, "args", at_spec)))
    metrics = _list(spec, "metrics", at_spec)
    if not metrics:
        raise where.at("spec.metrics").error("is empty: nothing to measure")
    first_of: Dict[str, int] = {}
    for i, metric in enumerate(metrics):
        _check_metric(metric, where.at(f"spec.metrics[{i}]"))
        if metric["name"] in first_of:  # Argo Rollouts refuses them too: a verdict names its metric
            raise where.at(f"spec.metrics[{i}].name").error(
                f"{metric['name']!r} is the name of spec.metrics[{first_of[metric['name']]}] too; give each metric "
                "its own name")
        first_of[metric["name"]] = i
    return Template(document["kind"], name, args, tuple(metrics))


def references(template: Template) -> Tuple[str, ...]:
    """The arg names the metrics use ({{args.NAME}}), in order of first use."""
    found: Dict[str, None] = {}
    for metric in template.metrics:
        for text in _strings(metric):
            found.update((name, None) for name in _ARG_REFERENCE.findall(text))
    return tuple(found)


def resolve_metrics(template: Template, args: Mapping[str, str], source: str) -> Tuple[Metric, ...]:
    """The metrics with every {{args.NAME}} replaced and typed; UsageError for a bad value or condition."""
    resolved = []
    for i, metric in enumerate(template.metrics):
        where = _Where(source).at(f"spec.metrics[{i}]")
        resolved.append(_metric(_substitute(metric, args, where), where))
    return tuple(resolved)


@dataclasses.dataclass(frozen=True)
class _Where:
    source: str
    path: str = ""

    def at(self, path: str) -> _Where:
        return _Where(self.source, f"{self.path}.{path}" if self.path else path)

    def error(self, message: str) -> UsageError:
        return UsageError(f"{self.source}: {self.path or 'the template'} {message}")


def _object(value: Any, where: _Where, allowed: set) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error("is not an object")
    for key in value:
        if key not in allowed:
            raise where.at(str(key)).error(f"is not supported (supported here: {', '.join(sorted(allowed))})")
    return value


def _list(parent: Mapping[str, Any], key: str, where: _Where) -> list:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.at(key).error("is not a list")
    return value


def _argument(value: Any, where: _Where) -> Argument:
    arg = _object(value, where, _ARG_FIELDS)
    name = _text(arg.get("name"), where.at("name"))
    if "valueFrom" in arg and "value" in arg:
        raise where.error("has both value and valueFrom; give one")
    if "valueFrom" in arg:
        value_from = _object(arg["valueFrom"], where.at("valueFrom"), _VALUE_FROM_FIELDS)
        ref_where = where.at("valueFrom.secretKeyRef")
        ref = _object(value_from.get("secretKeyRef"), ref_where, _SECRET_KEY_REF_FIELDS)
        return Argument(name, secret=SecretRef(_text(ref.get("name"), ref_where.at("name")),
                                               _text(ref.get("key"), ref_where.at("key"))))
    return Argument(name, value=None if arg.get("value") is None else _scalar(arg["value"], where.at("value")))


def _check_metric(value: Any, where: _Where) -> None:
    metric = _object(value, where, _METRIC_FIELDS)
    _text(metric.get("name"), where.at("name"))
    provider = _object(metric.get("provider"), where.at("provider"), _PROVIDERS)
    prometheus = _object(provider.get("prometheus"), where.at("provider.prometheus"), _PROMETHEUS_FIELDS)
    for i, header in enumerate(_list(prometheus, "headers", where.at("provider.prometheus"))):
        _object(header, where.at(f"provider.prometheus.headers[{i}]"), _HEADER_FIELDS)


def _metric(metric: Mapping[str, Any], where: _Where) -> Metric:
    prometheus = metric["provider"]["prometheus"]
    p_where = where.at("provider.prometheus")
    interval = _duration(metric.get("interval"), where.at("interval"))
    count = _integer(metric.get("count"), where.at("count"), default=0)
    if count < 0:
        raise where.at("count").error("must not be negative")
    if interval is None and count > 1:
        raise where.at("count").error(f"is {count} with no interval; set an interval between the measurements")
    if interval is not None and count == 0:
        # Argo Rollouts measures such a metric until the rollout ends; verify has to end, so it wants a count.
        said = "is missing" if metric.get("count") is None else "is 0"
        raise where.at("count").error(f"{said}: with an interval, give how many measurements to take")
    success, failure = metric.get("successCondition"), metric.get("failureCondition")
    timeout = _integer(prometheus.get("timeout"), p_where.at("timeout"), default=int(DEFAULT_PROMETHEUS_TIMEOUT))
    if timeout <= 0:
        raise p_where.at("timeout").error("must be more than zero seconds")
    inconclusive_limit = _integer(metric.get("inconclusiveLimit"), where.at("inconclusiveLimit"), default=0)
    error_limit = _integer(metric.get("consecutiveErrorLimit"), where.at("consecutiveErrorLimit"),
                           default=DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    if inconclusive_limit < 0 or error_limit < 0:
        raise where.error("inconclusiveLimit and consecutiveErrorLimit must not be negative")
    return Metric(
        name=_text(metric["name"], where.at("name")),
        count=max(count, 1),
        interval=interval or 0.0,
        initial_delay=_duration(metric.get("initialDelay"), where.at("initialDelay")) or 0.0,
        success_condition=None if success is None else _text(success, where.at("successCondition")),
        failure_condition=None if failure is None else _text(failure, where.at("failureCondition")),
        failure_limit=_integer(metric.get("failureLimit"), where.at("failureLimit"), default=0),
        inconclusive_limit=inconclusive_limit,
        consecutive_error_limit=error_limit,
        prometheus=Prometheus(
            address=_address(prometheus.get("address"), p_where.at("address")),
            query=_text(prometheus.get("query"), p_where.at("query")),
            timeout=float(timeout),
            headers=tuple((_text(h.get("key"), p_where.at("headers.key")), _scalar(h.get("value", ""), p_where))
                          for h in prometheus.get("headers") or ()),
            insecure=_boolean(prometheus.get("insecure", False), p_where.at("insecure")),
        ),
        success=None if success is None else _condition(success, where.at("successCondition")),
        failure=None if failure is None else _condition(failure, where.at("failureCondition")),
    )


def _condition(text: str, where: _Where) -> condition.Node:
    try:
        return condition.parse(text)
    except condition.ConditionSyntaxError as exc:
        raise where.error(f"{text.strip()!r}: {exc} (docs/verify.md lists the supported expressions)") from None


def _substitute(value: Any, args: Mapping[str, str], where: _Where) -> Any:
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            if match.group(1) not in args:
                raise where.error(f"uses {{{{args.{match.group(1)}}}}}, which has no value: pass --arg "
                                  f"{match.group(1)}=VALUE or declare it in spec.args")
            return args[match.group(1)]

        return _ARG_REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {key: _substitute(item, args, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, args, where) for item in value]
    return value


def _strings(value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return tuple(text for item in items for text in _strings(item))


def _text(value: Any, where: _Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error("is missing or not a string")
    return value


def _address(value: Any, where: _Where) -> str:
    """Prometheus's base URL, checked once the args are filled: a typo would otherwise be a measurement Error each
    time, and an analysis ending Error (or Failed, with --on-inconclusive=fail) on a revision that may be healthy."""
    address = _text(value, where)
    parts = urllib.parse.urlsplit(address.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise where.error(f"{address!r} is not an http:// or https:// URL")
    return address


def _scalar(value: Any, where: _Where) -> str:
    """A string field that YAML may have read as a number (Argo's docs write `value: 9090`)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise where.error("is not a string")
    return str(value)


def _integer(value: Any, where: _Where, default: int) -> int:
    """An int-or-string field (a string after {{args}} substitution), as Argo Rollouts' IntOrString."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?\d+", str(value).strip()):
        raise where.error(f"{value!r} is not an integer")
    return int(str(value).strip())


def _duration(value: Any, where: _Where) -> Optional[float]:
    if value is None or value == "":
        return None
    return parse_duration(str(value), f"{where.source}: {where.path}")


def _boolean(value: Any, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.error("is not true or false")
    return value
