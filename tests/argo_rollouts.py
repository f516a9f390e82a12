"""Argo Rollouts' published files for the verify tests: its AnalysisTemplate CRDs (`manifests/crds/`) and the
templates of its documentation (`docs/features/analysis.md`), read from its Go module at a pinned release, as the Go
module proxy serves it (none of it is kept in this repository). v1.8.3: v1.9 and later put `default: ""` on fields of
the embedded pod template, which kube-apiserver 1.20 (the oldest supported server) refuses as an invalid default."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from tests.cluster.controlplane import go_cache

MODULE = "github.com/argoproj/argo-rollouts"
VERSION = "v1.8.3"


@functools.cache
def module_dir() -> Path:
    """The module's files, downloaded once into build.sh's Go module cache."""
    cache = go_cache()
    env = dict(os.environ, GOMODCACHE=str(cache / "mod"), GOCACHE=str(cache / "build"), GOFLAGS="-mod=mod",
               GOTOOLCHAIN="local")
    with tempfile.TemporaryDirectory() as outside_any_module:
        proc = subprocess.run(["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"], env=env,
                              cwd=outside_any_module, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download {MODULE}@{VERSION} failed: {proc.stdout}{proc.stderr}")
    return Path(json.loads(proc.stdout)["Dir"])


def crd(name: str) -> Path:
    return module_dir() / "manifests" / "crds" / name


def documented_single_measurement_template(name: str) -> str:
    """The AnalysisTemplate `name` of docs/features/analysis.md whose metrics have no interval (one measurement),
    exactly as published."""
    text = (module_dir() / "docs" / "features" / "analysis.md").read_text(encoding="utf-8")
    for block in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        try:
            document = yaml.safe_load(block)
        except yaml.YAMLError:  # several documents, or a fragment the page elides
            continue
        if (isinstance(document, dict) and document.get("kind") == "AnalysisTemplate"
                and document["metadata"]["name"] == name
                and not any("interval" in metric for metric in document["spec"]["metrics"])):
            return block
    raise LookupError(f"no single-measurement AnalysisTemplate {name} in {MODULE}@{VERSION}'s docs")
