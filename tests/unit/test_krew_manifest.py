"""plugin-manifest.yaml against what krew's `validate-krew-manifest` enforces (tests/krew_validation.py), short of
the real install, which tests/test_krew_archive.py stands in for; and that validator against broken manifests.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

import kubectl_rollback
from tests.krew_validation import (
    API_VERSION,
    SEMVER,
    SHA256,
    SUPPORTED_PLATFORMS,
    matched_platforms,
    selector_matches,
    validate_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "plugin-manifest.yaml"
INDEX_FILE_NAME = "harness-rollback.yaml"  # its name in krew-index: plugins/harness-rollback.yaml

LICENSE_NAMES = {"license", "license.txt", "license.md", "licenses", "licenses.txt", "licenses.md"}
# krew warns (it does not fail) past these line lengths
LINE_LIMITS = {"shortDescription": 70, "description": 80, "caveats": 80}


# -- the manifest ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_manifest_passes_validate_krew_manifest(manifest):
    assert validate_manifest(manifest, INDEX_FILE_NAME) == []


def test_top_level_fields(manifest):
    assert manifest["apiVersion"] == API_VERSION
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "harness-rollback" == INDEX_FILE_NAME[: -len(".yaml")]
    spec = manifest["spec"]
    assert spec["homepage"] == "https://github.com/kubectl-harness-rollback/kubectl-harness-rollback"
    assert 0 < len(spec["shortDescription"].split()) <= 10, "krew asks for a few words"
    assert spec["description"].strip() and spec["caveats"].strip()
    assert "python3" in spec["caveats"] and "3.9" in spec["caveats"]


def test_version_is_the_package_version(manifest):
    assert SEMVER.match(manifest["spec"]["version"])
    assert manifest["spec"]["version"] == "v" + kubectl_rollback.__version__


def test_one_platform_for_linux_and_darwin_on_every_arch(manifest):
    (platform,) = manifest["spec"]["platforms"]
    matched = matched_platforms(platform["selector"])
    assert matched == [(o, a) for o, a in SUPPORTED_PLATFORMS if o in ("linux", "darwin")]
    assert not any(o == "windows" for o, _ in matched), "a shebang zipapp cannot run through krew on Windows"


def test_platform_ships_the_bin_and_a_licence(manifest):
    (platform,) = manifest["spec"]["platforms"]
    version = kubectl_rollback.__version__
    assert platform["uri"] == (
        "https://github.com/kubectl-harness-rollback/kubectl-harness-rollback/releases/download/"
        f"v{version}/kubectl-harness-rollback_v{version}.tar.gz"
    )
    assert isinstance(platform["sha256"], str) and SHA256.match(platform["sha256"]), "run make dist"
    # krew links kubectl-<name> with dashes turned into underscores, so `kubectl harness-rollback` finds it
    assert platform["bin"] == "kubectl-harness_rollback"
    assert {"from": "kubectl-harness_rollback", "to": "."} in platform["files"]
    assert {"from": "LICENSE", "to": "."} in platform["files"]
    installed = {Path(op["from"]).name if op["to"] == "." else op["to"] for op in platform["files"]}
    assert platform["bin"] in installed
    assert installed & LICENSE_NAMES or {n.lower() for n in installed} & LICENSE_NAMES, \
        "krew-index's install check wants a licence file"


def test_bin_is_the_console_script_name():
    assert "kubectl-harness_rollback = kubectl_rollback.launch:plugin" in (ROOT / "setup.cfg").read_text()


def test_lines_fit_krew_limits(manifest):
    for field, limit in LINE_LIMITS.items():
        for line in manifest["spec"][field].splitlines():
            assert len(line) <= limit or " " not in line.strip(), f"{field}: line over {limit}: {line!r}"


def test_build_script_rewrites_the_same_fields():
    text = MANIFEST.read_text(encoding="utf-8")
    assert len(re.findall(r"^\s*sha256:", text, re.M)) == 1
    assert len(re.findall(r"^  version:", text, re.M)) == 1


# -- the validator finds what is wrong ---------------------------------------------------------------------------


def _good() -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "Plugin",
        "metadata": {"name": "harness-rollback"},
        "spec": {
            "version": "v1.2.3",
            "shortDescription": "Do a thing",
            "platforms": [{
                "selector": {"matchLabels": {"os": "linux", "arch": "amd64"}},
                "uri": "https://example.invalid/a.tar.gz",
                "sha256": "a" * 64,
                "bin": "kubectl-harness_rollback",
            }],
        },
    }


def _set(path: str, value):
    def mutate(m):
        *parents, last = path.split(".")
        node = m
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


_DELETE = object()
P = "spec.platforms.0"

BROKEN = [
    ("apiVersion", _set("apiVersion", "krew.googlecontainertools.github.com/v1alpha1"), "apiVersion="),
    ("kind", _set("kind", "Plugins"), "kind="),
    ("name differs", _set("metadata.name", "harness_rollback"), "plugin should be named"),
    ("no shortDescription", _set("spec.shortDescription", _DELETE), "should have a short description"),
    ("LF in shortDescription", _set("spec.shortDescription", "two\nlines"), "line breaks"),
    ("CR in shortDescription", _set("spec.shortDescription", "two\rlines"), "line breaks"),
    ("no version", _set("spec.version", _DELETE), "should have a version"),
    ("version without v", _set("spec.version", "1.2.3"), "failed to parse plugin version"),
    ("version not semver", _set("spec.version", "v1.2"), "failed to parse plugin version"),
    ("version leading zero", _set("spec.version", "v1.02.3"), "failed to parse plugin version"),
    ("no platforms", _set("spec.platforms", []), "should have a platform"),
    ("no uri", _set(f"{P}.uri", ""), "`uri` has to be set"),
    ("no sha256", _set(f"{P}.sha256", _DELETE), "`sha256` sum has to be set"),
    ("uppercase sha256", _set(f"{P}.sha256", "A" * 64), "is not valid"),
    ("short sha256", _set(f"{P}.sha256", "a" * 63), "is not valid"),
    ("no bin", _set(f"{P}.bin", _DELETE), "`bin` has to be set"),
    ("empty files", _set(f"{P}.files", []), "unspecified or non-empty"),
    ("files without to", _set(f"{P}.files", [{"from": "x"}]), "`to` field"),
    ("files without from", _set(f"{P}.files", [{"to": "."}]), "`from` field"),
    ("nil selector", _set(f"{P}.selector", None), "nil selector"),
    ("empty selector", _set(f"{P}.selector", {}), "empty selector"),
    ("unsupported key", _set(f"{P}.selector", {"matchLabels": {"os": "linux", "distro": "debian"}}),
     "'distro' not supported"),
    ("unsupported expression key", _set(f"{P}.selector", {"matchExpressions": [
        {"key": "kernel", "operator": "Exists"}]}), "'kernel' not supported"),
    ("empty matchLabels", _set(f"{P}.selector", {"matchLabels": {}, "matchExpressions": [
        {"key": "os", "operator": "Exists"}]}), "`matchLabels` specified but empty"),
    ("empty matchExpressions", _set(f"{P}.selector", {"matchLabels": {"os": "linux"}, "matchExpressions": []}),
     "`matchExpressions` specified but empty"),
    ("bad operator", _set(f"{P}.selector", {"matchExpressions": [{"key": "os", "operator": "Is",
                                                                   "values": ["linux"]}]}), "not a valid"),
    ("In without values", _set(f"{P}.selector", {"matchExpressions": [{"key": "os", "operator": "In"}]}),
     "can't be empty"),
    ("matches nothing", _set(f"{P}.selector", {"matchLabels": {"os": "plan9"}}), "doesn't match any supported"),
    ("contradiction", _set(f"{P}.selector", {"matchLabels": {"os": "linux"}, "matchExpressions": [
        {"key": "os", "operator": "NotIn", "values": ["linux"]}]}), "doesn't match any supported"),
]


def test_good_fixture_is_valid():
    assert validate_manifest(_good(), "harness-rollback.yaml") == []


@pytest.mark.parametrize("mutate, expected", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_validator_reports_each_broken_rule(mutate, expected):
    broken = _good()
    mutate(broken)
    errors = validate_manifest(broken, "harness-rollback.yaml")
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("file_name, expected", [
    ("harness-rollback.yml", "expected manifest extension"),
    ("other-name.yaml", "plugin should be named"),
    ("harness rollback.yaml", "is not allowed"),
    ("nul.yaml", "is not allowed"),
    ("LPT3.yaml", "is not allowed"),
])
def test_validator_checks_the_file_name(file_name, expected):
    errors = validate_manifest(_good(), file_name)
    assert any(expected in e for e in errors), errors


def test_validator_finds_overlapping_platforms():
    m = _good()
    second = copy.deepcopy(m["spec"]["platforms"][0])
    second["selector"] = {"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux", "darwin"]}]}
    m["spec"]["platforms"].append(second)
    errors = validate_manifest(m, "harness-rollback.yaml")
    assert errors == ["multiple spec.platforms (at indexes [0, 1]) have overlapping selectors that select "
                      "os=linux/arch=amd64"]
    second["selector"]["matchExpressions"].append({"key": "arch", "operator": "NotIn", "values": ["amd64"]})
    assert validate_manifest(m, "harness-rollback.yaml") == []


def test_validator_reports_everything_wrong_with_a_broken_manifest(manifest):
    broken = copy.deepcopy(manifest)
    broken["apiVersion"] = "v1"
    broken["spec"]["version"] = kubectl_rollback.__version__  # no leading v
    platform = broken["spec"]["platforms"][0]
    platform["sha256"] = "0x" + "f" * 62
    platform["files"] = [{"from": "LICENSE"}]
    platform["selector"]["matchLabels"] = {"platform": "linux"}
    errors = validate_manifest(broken, INDEX_FILE_NAME)
    assert len(errors) == 5, errors
    for text in ("apiVersion=", "failed to parse plugin version", "`sha256` value", "`to` field",
                 "key 'platform' not supported"):
        assert any(text in e for e in errors), (text, errors)


# -- selector matching -------------------------------------------------------------------------------------------

LINUX_AMD64 = {"os": "linux", "arch": "amd64"}


@pytest.mark.parametrize("selector, expected", [
    ({"matchLabels": {"os": "linux"}}, True),
    ({"matchLabels": {"os": "linux", "arch": "arm64"}}, False),
    ({"matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin", "linux"]}]}, True),
    ({"matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin"]}]}, False),
    ({"matchExpressions": [{"key": "arch", "operator": "NotIn", "values": ["arm64"]}]}, True),
    ({"matchExpressions": [{"key": "arch", "operator": "NotIn", "values": ["amd64"]}]}, False),
    ({"matchExpressions": [{"key": "os", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "os", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"os": "linux"}, "matchExpressions": [{"key": "arch", "operator": "In", "values": ["arm"]}]},
     False),
    ({"matchExpressions": [{"key": "os", "operator": "Bogus", "values": ["linux"]}]}, False),  # invalid: nothing
])
def test_selector_matches(selector, expected):
    assert selector_matches(selector, LINUX_AMD64) is expected


def test_not_in_and_does_not_exist_match_a_missing_label():
    assert selector_matches({"matchExpressions": [{"key": "arch", "operator": "NotIn", "values": ["amd64"]}]},
                            {"os": "linux"})
    assert selector_matches({"matchExpressions": [{"key": "arch", "operator": "DoesNotExist"}]}, {"os": "linux"})
    assert not selector_matches({"matchExpressions": [{"key": "arch", "operator": "In", "values": ["amd64"]}]},
                                {"os": "linux"})
