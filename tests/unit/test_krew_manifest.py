"""plugin-manifest.yaml's own rules: its fields, version, the one platform for Linux and macOS on every CPU, the
licence, krew's line limits, what make dist rewrites. krew's validation and install themselves are the real ones, in
tests/test_krew_lifecycle.py (krew-index's validate-krew-manifest, kubectl krew install).
"""

from __future__ import annotations

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
