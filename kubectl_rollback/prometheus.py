"""The Prometheus seam: one instant query over HTTP(S) (`/api/v1/query`), through urllib3 and the proxy handling that
kube.py talks to the API server with, and its answer as the `result` a condition sees, as Argo Rollouts' prometheus
provider gives it: a scalar is a float, a vector (or a matrix) a list of floats. Every failure is one
PrometheusError with a line saying why; the analysis counts it as a measurement Error.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any, Dict, Tuple

from kubectl_rollback.analysis import Prometheus
from kubectl_rollback.kube import _pool_manager
from kubectl_rollback.kubeconfig import proxy_from_environment


class PrometheusError(Exception):
    pass


def query(provider: Prometheus) -> Tuple[Any, str]:
    """(result, the result as Argo Rollouts prints it) of the provider's query, now."""
    import urllib3

    url = provider.address.rstrip("/") + "/api/v1/query"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PrometheusError(f"address {provider.address!r} is not an http:// or https:// URL")
    pool_args: Dict[str, Any] = {
        "cert_reqs": "CERT_NONE" if provider.insecure else "CERT_REQUIRED",
        "ca_certs": None,
        "retries": False,  # a failed query is a measurement Error; the analysis retries it (consecutiveErrorLimit)
        "timeout": urllib3.Timeout(connect=min(10.0, provider.timeout), read=provider.timeout),
    }
    # HTTP(S)_PROXY and NO_PROXY as Argo Rollouts' provider (Go's http.ProxyFromEnvironment) and kubectl take them.
    proxy = proxy_from_environment(url)
    pool = _pool_manager(proxy, pool_args) if proxy else urllib3.PoolManager(**pool_args)
    if provider.insecure:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    headers = {"Accept": "application/json", "User-Agent": "kubectl-harness-rollback",
               "Content-Type": "application/x-www-form-urlencoded"}
    headers.update(dict(provider.headers))
    body = urllib.parse.urlencode({"query": provider.query})
    try:
        response = pool.request("POST", url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        raise PrometheusError(f"cannot reach Prometheus at {provider.address}: {_cause(exc)}") from None
    finally:
        pool.clear()
    return parse_answer(response.status, response.data)


def parse_answer(status: int, data: bytes) -> Tuple[Any, str]:
    """The answer of /api/v1/query as (result, printed): pure, for the unit tests."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise PrometheusError(f"Prometheus answered HTTP {status} with no JSON: {data[:200]!r}")
    if answer.get("status") != "success":
        raise PrometheusError(f"Prometheus answered HTTP {status}: {answer.get('errorType', 'error')}: "
                              f"{answer.get('error', 'no message')}")
    payload: Dict[str, Any] = answer.get("data") or {}
    result_type = payload.get("resultType")
    result: Any = payload.get("result")
    try:  # float() reads Prometheus's "NaN", "+Inf" and "-Inf" as they are written
        if result_type == "scalar":
            value = float(result[1])
            return value, _format(value)
        if result_type == "vector":
            values = [float(sample["value"][1]) for sample in result]
        elif result_type == "matrix":
            values = [float(point[1]) for series in result for point in series["values"]]
        else:
            raise PrometheusError(f"Prometheus answered a {result_type} result; only scalar, vector and matrix are "
                                  "supported")
    except (TypeError, KeyError, IndexError, ValueError):
        raise PrometheusError(f"Prometheus answered a malformed {result_type} result") from None
    return values, "[" + ",".join(_format(v) for v in values) + "]"


def _format(value: float) -> str:
    """As Go's strconv prints a float64 in Argo Rollouts' measurement values (NaN, +Inf, 0.25, 1)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value).removesuffix(".0") if value == int(value) and abs(value) < 1e16 else repr(value)


def _cause(exc: Exception) -> str:
    """urllib3's error without the object repr it starts with: "Failed to establish a new connection: [Errno 111]
    Connection refused", "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "... Read timed out"."""
    text = str(getattr(exc, "reason", None) or exc)
    return text.split(">: ", 1)[-1] if text.startswith("<") else text
