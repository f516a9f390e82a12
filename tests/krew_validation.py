"""Which os/arch pairs a krew platform selector selects, for tests/unit/test_krew_manifest.py's own rule that one
archive serves Linux and macOS on every CPU (krew checks only that selectors are valid and do not overlap).

krew-index's validation itself is the real one since issue 32: tests/test_krew_lifecycle.py runs krew's
validate-krew-manifest and `kubectl krew install` (tests/cluster/build.sh builds them) on the manifest `make dist`
writes. Selectors are matched like metav1.LabelSelectorAsSelector: matchLabels and matchExpressions with In, NotIn,
Exists and DoesNotExist, all ANDed, against the labels {os, arch}; an invalid one selects nothing, as in krew.
"""

from __future__ import annotations

import re

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
SHA256 = re.compile(r"^[a-f0-9]{64}$")
# krew: a leading "v", then k8s.io/apimachinery's ParseSemantic (three numbers, no leading zeros, -pre, +build)
SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
SUPPORTED_PLATFORMS = [
    ("windows", "386"), ("windows", "amd64"), ("windows", "arm64"),
    ("linux", "386"), ("linux", "amd64"), ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"),
    ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64"),
]
SELECTOR_KEYS = {"os", "arch"}
OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


# -- the validator -----------------------------------------------------------------------------------------------


def selector_problems(selector) -> list:
    """What krew's validateSelector and metav1.LabelSelectorAsSelector reject in a platform's selector."""
    if selector is None:
        return ["nil selector is not supported"]
    if not isinstance(selector, dict):
        return [f"selector must be a mapping, not {type(selector).__name__}"]
    problems = []
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        problems.append(f"unknown selector fields {sorted(unknown)}")
    labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if labels is None and not expressions:
        return problems + ["empty selector is not supported"]
    if labels is not None and not isinstance(labels, dict):
        return problems + ["`matchLabels` must be a mapping"]
    if expressions is not None and not isinstance(expressions, list):
        return problems + ["`matchExpressions` must be a list"]
    keys = list(labels or {}) + [e.get("key") if isinstance(e, dict) else None for e in expressions or []]
    problems += [f"key {key!r} not supported" for key in keys if key not in SELECTOR_KEYS]
    if labels is not None and len(labels) == 0:
        problems.append("`matchLabels` specified but empty")
    if expressions is not None and len(expressions) == 0:
        problems.append("`matchExpressions` specified but empty")
    for expr in expressions or []:
        if not isinstance(expr, dict):
            problems.append(f"matchExpressions entry {expr!r} is not a mapping")
            continue
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator not in OPERATORS:
            problems.append(f"{operator!r} is not a valid label selector operator")
        elif operator in ("In", "NotIn") and not values:
            problems.append(f"for 'in', 'notin' operators, values set can't be empty (key {expr.get('key')!r})")
        elif operator in ("Exists", "DoesNotExist") and values:
            problems.append(f"values set must be empty for exists and does not exist (key {expr.get('key')!r})")
    return problems


def selector_matches(selector, labels: dict) -> bool:
    """Whether a (valid) selector selects the labels. An invalid one selects nothing, as in krew."""
    if selector_problems(selector):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def matched_platforms(selector) -> list:
    return [(os_, arch) for os_, arch in SUPPORTED_PLATFORMS if selector_matches(selector, {"os": os_, "arch": arch})]
