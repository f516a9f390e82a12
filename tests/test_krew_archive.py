"""The krew archive, built for real: packaging/build_dist.py into a temporary folder, against a copy of
plugin-manifest.yaml (the repository's own file is never rewritten here), then unpacked and run the way krew and
kubectl run it. No cluster is needed; pip needs the package registry (its cache makes reruns quicker).

Slow (the dependency resolution of the build takes most of it), so the build runs once for the module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

import kubectl_rollback
from tests.cluster.controlplane import bin_dir
from tests.krew_validation import validate_manifest

pytestmark = pytest.mark.cluster  # runs the archive with the test environment's kubectl (tests/cluster/build.sh)
ROOT = Path(__file__).resolve().parents[1]
BUILD_DIST = ROOT / "packaging" / "build_dist.py"
MANIFEST = ROOT / "plugin-manifest.yaml"
VERSION = kubectl_rollback.__version__
BIN = "kubectl-harness_rollback"
ARCHIVE_NAME = f"kubectl-harness-rollback_v{VERSION}.tar.gz"


def _load_build_dist():
    spec = importlib.util.spec_from_file_location("build_dist", BUILD_DIST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kubectl() -> str:
    cached = bin_dir() / "kubectl"
    if cached.is_file():
        return str(cached)
    found = shutil.which("kubectl")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("no kubectl: neither the test environment's (make testenv) nor one on PATH")
    pytest.skip("no kubectl on PATH (make testenv builds one)")


class Built:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.out = tmp / "dist"
        self.manifest = tmp / "harness-rollback.yaml"  # its name in krew-index
        shutil.copyfile(MANIFEST, self.manifest)
        self.repo_manifest_before = MANIFEST.read_bytes()
        self.proc = subprocess.run(
            [sys.executable, str(BUILD_DIST), "--out", str(self.out), "--manifest", str(self.manifest)],
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )
        assert self.proc.returncode == 0, self.proc.stdout + self.proc.stderr
        self.archive = self.out / ARCHIVE_NAME
        self.extracted = tmp / "extracted"
        self.extracted.mkdir()
        with tarfile.open(self.archive) as tar:
            self.members = tar.getmembers()
            for member in self.members:  # flat, regular files only (checked below); no extraction filter on 3.9
                assert member.isfile() and "/" not in member.name, member.name
                target = self.extracted / member.name
                target.write_bytes(tar.extractfile(member).read())
                target.chmod(member.mode)
        self.cache = tmp / "xdg-cache"

    def env(self, **extra) -> dict:
        """The caller's environment, with the unpacked-copy cache in the temporary folder and nothing that could
        lend the bundle a package (PYTHONPATH, user site)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "KUBECTL_HARNESS_ROLLBACK_NO_EXTRACT")}
        env.update(XDG_CACHE_HOME=str(self.cache), PYTHONNOUSERSITE="1", **extra)
        return env

    def run(self, cmd: list, **extra) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=self.env(**extra),
                              stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("krew"))


def test_build_prints_the_archive_and_its_sha256(built):
    assert built.archive.is_file()
    lines = built.proc.stdout.splitlines()
    assert lines == [str(built.archive), f"sha256 {_sha256(built.archive)}"]


def test_sha256_version_and_uri_written_into_the_manifest_copy(built):
    manifest = yaml.safe_load(built.manifest.read_text(encoding="utf-8"))
    (platform,) = manifest["spec"]["platforms"]
    assert platform["sha256"] == _sha256(built.archive)
    assert manifest["spec"]["version"] == f"v{VERSION}"
    assert platform["uri"].endswith(f"/releases/download/v{VERSION}/{ARCHIVE_NAME}")
    assert validate_manifest(manifest, built.manifest.name) == []
    # only those lines changed, and the repository's manifest was left alone
    before = MANIFEST.read_text(encoding="utf-8").splitlines()
    after = built.manifest.read_text(encoding="utf-8").splitlines()
    changed = [a for b, a in zip(before, after) if a != b]
    assert len(before) == len(after) and all(re.match(r"\s*(sha256|uri|version):", a) for a in changed), changed
    assert MANIFEST.read_bytes() == built.repo_manifest_before


def test_archive_holds_the_bin_licence_and_readme(built):
    names = [m.name for m in built.members]
    expected = [BIN, "LICENSE"] + (["README.md"] if (ROOT / "README.md").exists() else [])
    assert names == expected
    modes = {m.name: m.mode for m in built.members}
    assert modes[BIN] == 0o755 and modes["LICENSE"] == 0o644
    assert {(m.uid, m.gid, m.mtime) for m in built.members} == {(0, 0, built.members[0].mtime)}
    assert (built.extracted / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    # every file the manifest installs is in the archive, and bin is one of them
    manifest = yaml.safe_load(built.manifest.read_text(encoding="utf-8"))
    (platform,) = manifest["spec"]["platforms"]
    assert {op["from"] for op in platform["files"]} <= set(names)
    assert platform["bin"] in names


def test_bin_is_a_pure_python_zipapp(built):
    pyz = built.extracted / BIN
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(pyz) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        for needed in ("__main__.py", "kubectl_rollback/__init__.py", "kubectl_rollback/cli.py",
                       "kubernetes/__init__.py", "typer/__init__.py", "tabulate/__init__.py", "yaml/__init__.py"):
            assert needed in names
        assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc")) or "__pycache__" in n]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)} or "SOURCE_DATE_EPOCH" in os.environ
        assert zf.read("kubectl_rollback/cli.py") == (ROOT / "kubectl_rollback" / "cli.py").read_bytes()


def test_extracted_bin_runs_directly(built):
    pyz = str(built.extracted / BIN)
    version = built.run([pyz, "--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kubectl-harness-rollback {VERSION}"
    help_ = built.run([pyz, "--help"])
    assert help_.returncode == 0, help_.stderr
    for verb in ("record", "history", "rollback"):
        assert verb in help_.stdout
    # it unpacked itself into the cache, where later runs import from
    unpacked = list((built.cache / "kubectl-harness-rollback" / "zipapp").glob("*/.complete"))
    assert len(unpacked) == 1
    # and it needs nothing from any site-packages, unpacked or straight from the zip
    for extra in ({}, {"KUBECTL_HARNESS_ROLLBACK_NO_EXTRACT": "1"}):
        isolated = built.run([sys.executable, "-I", "-S", pyz, "--version"], **extra)
        assert isolated.returncode == 0 and VERSION in isolated.stdout, isolated.stderr


def test_kubectl_finds_the_extracted_plugin(built, tmp_path):
    kubectl = _kubectl()
    path = os.pathsep.join([str(built.extracted), os.environ.get("PATH", "")])
    shutil.rmtree(built.cache, ignore_errors=True)  # a fresh cache shows that this very file ran
    version = built.run([kubectl, "harness-rollback", "--version"], PATH=path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kubectl-harness-rollback {VERSION}"
    assert list((built.cache / "kubectl-harness-rollback" / "zipapp").glob("*/.complete"))
    help_ = built.run([kubectl, "harness-rollback", "--help"], PATH=path)
    assert help_.returncode == 0 and "rollback" in help_.stdout, help_.stderr
    # a real command: the bundled kubeconfig loader and HTTP client run, against an API server that is not there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: ns}}]\n",
        encoding="utf-8",
    )
    history = built.run([kubectl, "harness-rollback", "history", "deployment/web", "--kubeconfig", str(kubeconfig),
                         "--request-timeout", "1s"], PATH=path)
    assert history.returncode == 1, history.stdout + history.stderr
    assert "cannot reach the API server" in history.stderr and "Traceback" not in history.stderr


def test_packaging_is_reproducible(built, tmp_path):
    """The zipapp rebuilt from its own payload, and the archive from the same members, are identical bytes: entry
    order, times, modes and owners do not depend on the disk or the clock."""
    build_dist = _load_build_dist()
    staging = tmp_path / "staging"
    with zipfile.ZipFile(built.extracted / BIN) as zf:
        zf.extractall(staging)
    (staging / "__main__.py").unlink()
    for i, path in enumerate(sorted(staging.rglob("*"))):  # other times and modes than the first build had
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
    rebuilt = tmp_path / BIN
    build_dist.build_zipapp(staging, rebuilt, build_dist.read_setup_cfg()[1])
    assert rebuilt.read_bytes() == (built.extracted / BIN).read_bytes()
    archive = tmp_path / ARCHIVE_NAME
    members = [(m.name, rebuilt if m.name == BIN else built.extracted / m.name, m.mode) for m in built.members]
    build_dist.build_tarball(members, archive)
    assert _sha256(archive) == _sha256(built.archive)
