"""What krew's `validate-krew-manifest` enforces (the krew-index CI runs it on every added or changed manifest),
for tests/unit/test_krew_manifest.py (the repository's manifest) and tests/test_krew_archive.py (the built one).

It follows krew's internal/index/validation/validate.go and cmd/validate-krew-manifest/main.go: structural checks,
then every platform's selector must match a supported os/arch pair and no pair may be matched by two platforms.
Selectors are matched like metav1.LabelSelectorAsSelector: matchLabels and matchExpressions with In, NotIn, Exists
and DoesNotExist, all ANDed, against the labels {os, arch}.
"""

from __future__ import annotations

import re
from pathlib import Path

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
SAFE_NAME = re.compile(r"^[\w-]+$")
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
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


def platform_problems(platform) -> list:
    if not isinstance(platform, dict):
        return [f"platform must be a mapping, not {type(platform).__name__}"]
    problems = []
    if not platform.get("uri"):
        problems.append("`uri` has to be set")
    sha = platform.get("sha256")
    if not sha:
        problems.append("`sha256` sum has to be set")
    elif not isinstance(sha, str) or not SHA256.match(sha):
        problems.append(f"`sha256` value {sha} is not valid, must match pattern {SHA256.pattern}")
    if not platform.get("bin"):
        problems.append("`bin` has to be set")
    if "files" in platform and platform["files"] is not None:
        files = platform["files"]
        if not isinstance(files, list) or len(files) == 0:
            problems.append("`files` has to be unspecified or non-empty")
        else:
            for op in files:
                if not isinstance(op, dict) or not op.get("from"):
                    problems.append(f"`files` entry {op!r}: `from` field has to be set")
                elif not op.get("to"):
                    problems.append(f"`files` entry {op!r}: `to` field has to be set")
    problems += [f"invalid platform selector: {p}" for p in selector_problems(platform.get("selector"))]
    return problems


def validate_manifest(manifest, file_name: str) -> list:
    """Every rule of validate-krew-manifest that fails, short of installing: [] for a valid manifest."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a mapping"]
    errors = []
    if not file_name.endswith(".yaml"):
        errors.append(f"expected manifest extension '.yaml' but found {Path(file_name).suffix!r}")
    name = file_name[: -len(".yaml")] if file_name.endswith(".yaml") else file_name
    if manifest.get("apiVersion") != API_VERSION:
        errors.append(f"apiVersion={manifest.get('apiVersion')!r} is not supported, must be {API_VERSION!r}")
    if manifest.get("kind") != "Plugin":
        errors.append(f"kind={manifest.get('kind')!r}, but only 'Plugin' is supported")
    if not SAFE_NAME.match(name) or name.upper() in WINDOWS_RESERVED:
        errors.append(f"the plugin name {name!r} is not allowed, must match {SAFE_NAME.pattern}")
    metadata = manifest.get("metadata") or {}
    if metadata.get("name") != name:
        errors.append(f"plugin should be named {name!r}, not {metadata.get('name')!r}")
    spec = manifest.get("spec") or {}
    short = spec.get("shortDescription")
    if not short:
        errors.append("should have a short description")
    elif "\r" in str(short) or "\n" in str(short):
        errors.append("should not have line breaks in short description")
    platforms = spec.get("platforms") or []
    if not platforms:
        errors.append("should have a platform specified")
    version = spec.get("version")
    if not version:
        errors.append("should have a version specified")
    elif not SEMVER.match(str(version)):
        errors.append(f"failed to parse plugin version {version!r} (semantic version with a leading 'v')")
    for i, platform in enumerate(platforms):
        errors += [f"platforms[{i}]: {p}" for p in platform_problems(platform)]
    if errors:
        return errors  # krew stops after the structural checks
    for i, platform in enumerate(platforms):
        if not matched_platforms(platform["selector"]):
            errors.append(f"spec.platforms[{i}]'s selector doesn't match any supported platforms")
    for os_, arch in SUPPORTED_PLATFORMS:
        hits = [i for i, p in enumerate(platforms) if selector_matches(p["selector"], {"os": os_, "arch": arch})]
        if len(hits) > 1:
            errors.append(f"multiple spec.platforms (at indexes {hits}) have overlapping selectors that select "
                          f"os={os_}/arch={arch}")
    return errors
