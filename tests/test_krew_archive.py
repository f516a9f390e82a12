"""The krew archive, built for real: packaging/build_dist.py into a temporary folder, against a copy of
plugin-manifest.yaml (the repository's own file is never rewritten here), then unpacked and run the way krew and
kubectl run it, also on the oldest supported Python against the test cluster. pip needs the package registry (or
its cache) for the locked wheels.

The build runs once for the module, and once more from another folder to show that it is reproducible; the
repository's plugin-manifest.yaml must name the sha256 they give (`make dist` writes it).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
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
from tests import manifests
from tests.cluster.controlplane import bin_dir

pytestmark = pytest.mark.cluster  # runs the archive with the test environment's kubectl (tests/cluster/build.sh)
ROOT = Path(__file__).resolve().parents[1]
BUILD_DIST = ROOT / "packaging" / "build_dist.py"
MANIFEST = ROOT / "plugin-manifest.yaml"
VERSION = kubectl_rollback.__version__
BIN = "kubectl-harness_rollback"
COMPLETER = "kubectl_complete-harness_rollback"
ARCHIVE_NAME = f"kubectl-harness-rollback_v{VERSION}.tar.gz"
LOCK = ROOT / "packaging" / "requirements.lock"
OLDEST_PYTHON_SH = ROOT / "packaging" / "oldest_python.sh"
# What the bundle must not carry: rich and its helpers (typer-slim instead of typer), the kubernetes client and the
# HTTP stack it brings (an optional install, for the oidc auth-provider only).
NOT_BUNDLED = ("rich", "pygments", "markdown_it", "shellingham", "kubernetes", "requests", "oauthlib",
               "requests_oauthlib", "websocket", "certifi", "charset_normalizer", "idna", "dateutil", "six")


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


def _manifest_sha256(manifest: Path) -> str:
    (platform,) = yaml.safe_load(manifest.read_text(encoding="utf-8"))["spec"]["platforms"]
    return platform["sha256"]


def _build(build_dist: Path, out: Path, manifest: Path, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(build_dist), "--out", str(out), "--manifest", str(manifest)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=dict(os.environ, **env),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


class Built:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.out = tmp / "dist"
        self.manifest = tmp / "harness-rollback.yaml"  # its name in krew-index
        shutil.copyfile(MANIFEST, self.manifest)
        self.repo_manifest_before = MANIFEST.read_bytes()
        self.proc = _build(BUILD_DIST, self.out, self.manifest)
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
        env.update(XDG_CACHE_HOME=str(self.cache), PYTHONNOUSERSITE="1")
        env.update(extra)
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
    # only those lines changed, and the repository's manifest was left alone
    before = MANIFEST.read_text(encoding="utf-8").splitlines()
    after = built.manifest.read_text(encoding="utf-8").splitlines()
    changed = [a for b, a in zip(before, after) if a != b]
    assert len(before) == len(after) and all(re.match(r"\s*(sha256|uri|version):", a) for a in changed), changed
    assert MANIFEST.read_bytes() == built.repo_manifest_before


def test_archive_holds_the_bin_completer_and_licence(built):
    names = [m.name for m in built.members]
    assert names == [BIN, COMPLETER, "LICENSE"]
    modes = {m.name: m.mode for m in built.members}
    assert modes[BIN] == modes[COMPLETER] == 0o755 and modes["LICENSE"] == 0o644
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in built.members} == {(0, 0, "root", "root", 315532800)}
    raw = built.archive.read_bytes()  # gzip header: no file name (FLG 0), MTIME 0, XFL 2 (level 9), OS 255
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
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
                       "typer/__init__.py", "click/__init__.py", "tabulate/__init__.py", "yaml/__init__.py",
                       "urllib3/__init__.py", "socks.py"):
            assert needed in names
        assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc")) or "__pycache__" in n]
        assert not [n for n in names if n.split("/")[0] in NOT_BUNDLED or n.split(".")[0] in NOT_BUNDLED]
        infos = zf.infolist()
        assert {(i.date_time, i.compress_type, i.create_system) for i in infos} == {
            ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644, 0o40755}
        assert zf.read("kubectl_rollback/cli.py") == (ROOT / "kubectl_rollback" / "cli.py").read_bytes()
        # the package's files are what git lists (no caches, no leftovers), the dependencies exactly the lock's pins
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard",
                                 "kubectl_rollback"], capture_output=True, text=True, check=True).stdout.split()
        assert sorted(n for n in names if n.startswith("kubectl_rollback/") and not n.endswith("/")) == sorted(
            n for n in listed if (ROOT / n).is_file() and "__pycache__" not in n)
        bundled = {(re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2))
                   for m in (re.match(r"([^/]+)-([^-/]+)\.dist-info/$", n) for n in names) if m}
        locked = set(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", LOCK.read_text(encoding="utf-8"), re.M))
        assert bundled == locked and locked
        assert not [n for n in names if n.endswith(".dist-info/RECORD") or n.endswith("direct_url.json")]
        assert b"/tmp/" not in zf.read("__main__.py") and str(ROOT).encode() not in zf.read("__main__.py")


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


@pytest.mark.parametrize("args", [
    ["history", "deployment/web", "--bogus", "-o", "json"],
    ["rollbak", "deployment/web", "-o", "json"],
    ["rollback", "deployment/web", "--to-revision", "abc", "-o", "json"],
    ["history", "a", "b", "c", "-o", "json"],
])
def test_the_archives_bundled_click_turns_a_usage_mistake_into_one_line_and_exit_2(built, args):
    """The archive bundles the locked click (8.1 for Python 3.9), older than a development install's: a mistyped
    flag or verb must still be one line, exit 2 and the error document, never a traceback (a tester found one)."""
    proc = built.run([str(built.extracted / BIN), *args])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert json.loads(proc.stdout)["error"]["exitCode"] == 2


def test_the_archives_bundled_click_prints_the_help_for_a_bare_verb(built):
    proc = built.run([str(built.extracted / BIN)])
    assert proc.returncode == 0 and "history" in proc.stdout, proc.stderr


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


def test_kubectl_completes_through_the_archives_completer(built):
    """What a krew user gets after copying the completer next to the linked plugin: kubectl runs the completer,
    which asks the zipapp."""
    kubectl = _kubectl()
    path = os.pathsep.join([str(built.extracted), os.environ.get("PATH", "")])
    proc = built.run([kubectl, "__complete", "harness-rollback", "ro"], PATH=path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("rollback\t") and proc.stdout.splitlines()[-1] == ":4", proc.stdout
    formats = built.run([kubectl, "__complete", "harness-rollback", "history", "-o", ""], PATH=path)
    assert formats.stdout.splitlines() == ["table", "wide", "json", "yaml", ":4"], formats.stdout + formats.stderr


def _build_id(built) -> str:
    with zipfile.ZipFile(built.extracted / BIN) as zf:
        return re.search(r'^BUILD_ID = "(\w+)"$', zf.read("__main__.py").decode(), re.M).group(1)


def _copy_of(built, cache: Path) -> Path:
    """Where the zipapp keeps its unpacked copy under the cache root `cache`."""
    return cache / "kubectl-harness-rollback" / "zipapp" / _build_id(built)


def _listing(copy: Path) -> str:
    """A .complete as the zipapp writes it (size, modification time and name of each file): what someone who plants
    a copy would write so that it passes the check of its files."""
    files = sorted(p for p in copy.rglob("*") if p.is_file() and p.name != ".complete" and "__pycache__" not in p.parts)
    return "".join(f"{p.stat().st_size} {p.stat().st_mtime_ns} {p.relative_to(copy).as_posix()}\n" for p in files)


def _version_from(built, cache: Path, **extra) -> subprocess.CompletedProcess:
    proc = built.run([str(built.extracted / BIN), "--version"], XDG_CACHE_HOME=str(cache), **extra)
    assert proc.returncode == 0 and proc.stdout.strip() == f"kubectl-harness-rollback {VERSION}", (
        proc.stdout + proc.stderr)
    assert not proc.stderr, proc.stderr
    return proc


def _plant(built, cache: Path, marker: Path) -> Path:
    """A copy whose plugin writes `marker` when it runs, with a .complete that matches its files."""
    copy = _copy_of(built, cache)
    _version_from(built, cache)  # a real copy to start from
    cli = copy / "kubectl_rollback" / "cli.py"
    cli.write_text(f"open({str(marker)!r}, 'w').close()\n" + cli.read_text(encoding="utf-8"), encoding="utf-8")
    (copy / ".complete").write_text(_listing(copy), encoding="utf-8")
    return copy


def _as_root():
    if os.getuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the cache ownership tests chown folders: CI runs them as root")
        pytest.skip("chown needs root (CI runs as root)")


NOBODY = 65534


def test_a_copy_planted_by_another_user_never_runs(built, tmp_path):
    """A shared cache (a CI runner's XDG_CACHE_HOME under /tmp): a copy another uid put at the build id's place, with
    a .complete that matches its files, is moved aside and replaced by one of our own; its code never runs."""
    _as_root()
    cache, marker = tmp_path / "shared-cache", tmp_path / "planted-code-ran"
    copy = _plant(built, cache, marker)
    subprocess.run(["chown", "-R", str(NOBODY), str(copy)], check=True)
    _version_from(built, cache)
    assert not marker.exists()
    assert copy.stat().st_uid == os.getuid() and (copy / ".complete").stat().st_uid == os.getuid()
    assert "planted-code-ran" not in (copy / "kubectl_rollback" / "cli.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("level", ["root", "plugin", "zipapp"])
def test_a_cache_someone_else_can_write_is_not_used(built, tmp_path, level):
    """A cache root, or a folder on the way down to the copies, owned by another user or writable by others: the
    copy there is not imported from (the zipapp imports from itself) and nothing is written there."""
    _as_root()
    cache, marker = tmp_path / "shared-cache", tmp_path / "planted-code-ran"
    copy = _plant(built, cache, marker)
    folder = {"root": cache, "plugin": cache / "kubectl-harness-rollback", "zipapp": copy.parent}[level]
    for change in (["chown", str(NOBODY), str(folder)], ["chmod", "0777", str(folder)]):
        before = sorted(str(p) for p in cache.rglob("*") if "__pycache__" not in p.parts)
        subprocess.run(change, check=True)
        _version_from(built, cache)
        assert not marker.exists(), change
        assert sorted(str(p) for p in cache.rglob("*") if "__pycache__" not in p.parts) == before, change
        subprocess.run(["chown", str(os.getuid()), str(folder)], check=True)
        folder.chmod(0o755)


def test_a_relative_xdg_cache_home_is_ignored(built, tmp_path):
    """The XDG spec: a relative path is invalid. The copy goes under $HOME/.cache, nothing into the working folder."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    proc = subprocess.run([str(built.extracted / BIN), "--version"], capture_output=True, text=True, timeout=120,
                          cwd=work, env=built.env(XDG_CACHE_HOME="relative-cache", HOME=str(home)),
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and VERSION in proc.stdout, proc.stdout + proc.stderr
    assert list(work.iterdir()) == []
    assert (_copy_of(built, home / ".cache") / ".complete").is_file()


def test_a_damaged_copy_is_unpacked_again(built, tmp_path):
    """A copy marked complete whose files changed (a disk error, a half-written file) is noticed and repaired on
    the next run, instead of failing every run with an ImportError."""
    cache = tmp_path / "cache"
    _version_from(built, cache)
    cli = _copy_of(built, cache) / "kubectl_rollback" / "cli.py"
    with zipfile.ZipFile(built.extracted / BIN) as zf:
        original = zf.read("kubectl_rollback/cli.py")
    assert cli.read_bytes() == original
    cli.write_bytes(b"raise ImportError('damaged')\n")
    _version_from(built, cache)
    assert cli.read_bytes() == original
    (_copy_of(built, cache) / "kubectl_rollback" / "render.py").unlink()
    _version_from(built, cache)
    assert (_copy_of(built, cache) / "kubectl_rollback" / "render.py").is_file()


def test_a_folder_left_without_complete_is_replaced_once(built, tmp_path):
    """Garbage at the build id's place (no .complete) is replaced by a real copy on the next run, and the run
    after that uses it as it is (it used to unpack again on every run)."""
    cache = tmp_path / "cache"
    copy = _copy_of(built, cache)
    copy.mkdir(parents=True)
    (copy / "garbage").write_text("x")
    _version_from(built, cache)
    assert not (copy / "garbage").exists() and (copy / ".complete").is_file()
    unpacked = (copy / ".complete").stat()
    _version_from(built, cache)
    again = (copy / ".complete").stat()
    assert (again.st_ino, again.st_mtime_ns) == (unpacked.st_ino, unpacked.st_mtime_ns)
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]


def test_an_unpack_killed_halfway_is_cleaned_up(built, tmp_path):
    """A run killed while it unpacks leaves its folder; the next run that unpacks removes it (its process is gone),
    and keeps the folder of an unpack still under way."""
    cache = tmp_path / "cache"
    parent = _copy_of(built, cache).parent
    parent.mkdir(parents=True)
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, sys, tempfile\n"
         f"d = tempfile.mkdtemp(prefix='.unpack-%d-' % os.getpid(), dir={str(parent)!r})\n"
         "open(os.path.join(d, 'half-written.py'), 'w').write('x' * 100000)\n"
         "os.kill(os.getpid(), 9)\n"],
        timeout=60)
    assert killed.returncode == -9
    (leftover,) = parent.iterdir()
    under_way = parent / f".unpack-{os.getpid()}-inflight"  # this test's own process stands for a live unpack
    under_way.mkdir()
    _version_from(built, cache)
    assert not leftover.exists()
    assert under_way.is_dir()
    assert sorted(p.name for p in parent.iterdir()) == sorted([_build_id(built), under_way.name])


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


def _oidc_kubeconfig(path: Path, id_token: str) -> Path:
    oidc = {"name": "oidc", "config": {"client-id": "x", "idp-issuer-url": "https://issuer.invalid",
                                       "id-token": id_token, "refresh-token": "r"}}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"auth-provider": oidc}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}],
    }), encoding="utf-8")
    return path


def _jwt(exp: int) -> str:
    return ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                    for part in ({"alg": "none"}, {"sub": "ann", "exp": exp})) + ".c2ln"


def test_oidc_needs_the_kubernetes_package_only_to_refresh(built, tmp_path):
    """The kubernetes client is not bundled. An unexpired oidc id-token is used as it is (as kubectl does): the
    zipapp, isolated from every site-packages, gets as far as the API server. An expired one needs a refresh, which
    needs the package: one line naming it, exit 1."""
    run = [sys.executable, "-I", "-S", str(built.extracted / BIN), "history", "deployment/web",
           "--request-timeout", "1s", "--kubeconfig"]
    fresh = built.run([*run, str(_oidc_kubeconfig(tmp_path / "fresh", _jwt(32503680000)))])
    assert fresh.returncode == 1 and "cannot reach the API server" in fresh.stderr, fresh.stdout + fresh.stderr
    expired = built.run([*run, str(_oidc_kubeconfig(tmp_path / "expired", _jwt(1_600_000_000)))])
    assert expired.returncode == 1, expired.stdout + expired.stderr
    assert expired.stderr.count("\n") == 1 and "Traceback" not in expired.stderr, expired.stderr
    assert ('cannot use context "c": its oidc id-token has expired, and refreshing it needs the Python package '
            "kubernetes") in expired.stderr
    assert "pip install 'kubernetes>=24'" in expired.stderr


def test_two_builds_in_two_folders_give_the_same_bytes(built, tmp_path):
    """The sources (what git lists, as make dist bundles them) copied into another folder, with other file times
    and modes, built later under another umask and TMPDIR: the same archive, byte for byte."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    other = tmp_path / "another clone" / "kubectl-harness-rollback"
    for i, name in enumerate(n for n in listed if n and (ROOT / n).is_file()):
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, other / name)
        os.chmod(other / name, 0o600 if i % 2 else 0o664)
        os.utime(other / name, (1_800_000_000 + i, 1_800_000_000 + i))
    subprocess.run(["git", "-C", str(other), "init", "-q"], check=True)  # files git would track: all of them
    (tmp_path / "tmp").mkdir()
    old_umask = os.umask(0o077)
    try:
        _build(other / "packaging" / "build_dist.py", tmp_path / "out", other / "plugin-manifest.yaml",
               TMPDIR=str(tmp_path / "tmp"), TZ="Pacific/Kiritimati", LC_ALL="C")
    finally:
        os.umask(old_umask)
    assert _sha256(tmp_path / "out" / ARCHIVE_NAME) == _sha256(built.archive)
    assert _manifest_sha256(other / "plugin-manifest.yaml") == _sha256(built.archive)


def test_a_lock_that_does_not_match_install_requires_is_refused(tmp_path):
    """setup.cfg changed without `make lock`: the build stops with one message saying so, and builds nothing."""
    copy = tmp_path / "checkout"
    for name in ("setup.cfg", "LICENSE", "plugin-manifest.yaml"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, copy / name)
    shutil.copytree(ROOT / "packaging", copy / "packaging")
    shutil.copytree(ROOT / "kubectl_rollback", copy / "kubectl_rollback", ignore=shutil.ignore_patterns("__pycache__"))
    setup_cfg = (copy / "setup.cfg").read_text(encoding="utf-8")
    (copy / "setup.cfg").write_text(setup_cfg.replace("install_requires =\n", "install_requires =\n    six>=1.16\n"),
                                    encoding="utf-8")
    lock = (copy / "packaging" / "requirements.lock").read_text(encoding="utf-8")
    (copy / "packaging" / "requirements.lock").write_text(  # and a pin lost: pysocks
        re.sub(r"^pysocks==.*?(?=^\S)", "", lock, flags=re.M | re.S), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(copy / "packaging" / "build_dist.py"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = proc.stderr.splitlines()[-1]
    assert error.startswith("build_dist: error: requirements.lock does not match setup.cfg's install_requires"), error
    assert "lacks six>=1.16" in error and "lacks PySocks>=1.7" in error and error.endswith("run `make lock` and "
                                                                                         "commit the lock")
    assert not (tmp_path / "out" / ARCHIVE_NAME).exists()
    assert (copy / "plugin-manifest.yaml").read_bytes() == MANIFEST.read_bytes()


def test_the_manifest_names_the_archive_make_dist_builds(built):
    """plugin-manifest.yaml is committed with the sha256 of the archive this tree builds: a change to the plugin, the
    lock, LICENSE or the packaging that was not followed by `make dist` fails here."""
    assert _manifest_sha256(MANIFEST) == _sha256(built.archive), (
        "plugin-manifest.yaml's sha256 is not the archive's this tree builds: run `make dist` and commit "
        "plugin-manifest.yaml")


@pytest.fixture(scope="module")
def oldest_python() -> str:
    """A folder whose python3 is the oldest Python setup.cfg allows (packaging/oldest_python.sh provides it)."""
    proc = subprocess.run(["bash", str(OLDEST_PYTHON_SH)], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"no oldest Python: packaging/oldest_python.sh exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.strip()


def test_archive_runs_through_kubectl_on_the_oldest_python(built, oldest_python, ns, tmp_path):
    """What a krew user on the oldest supported Python gets: kubectl finds the unpacked plugin, `python3` on PATH is
    3.9, and --version and history (with -n, -o, --as: the options typer must see) work against the test cluster."""
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.rollout_status("deployment/web")
    ns.plugin("record", "deployment/web", "--status", "Succeeded", "--workflow-id", "wf1", "--service-id", "svc",
              "--infra-id", "infra", check=True)
    path = os.pathsep.join([oldest_python, str(built.extracted), str(bin_dir()), os.environ.get("PATH", "")])
    env = dict(ns.cluster.env, PATH=path, XDG_CACHE_HOME=str(tmp_path / "cache"))
    python = subprocess.run(["python3", "-c", "import sys; print(sys.version_info[:2])"], env=env,
                            capture_output=True, text=True, check=True)
    assert python.stdout.strip() == "(3, 9)", python.stdout
    version = ns.cluster.run("harness-rollback", "--version", env=env)
    assert version.stdout.strip() == f"kubectl-harness-rollback {VERSION}", version.stderr
    history = ns.cluster.run("harness-rollback", "history", "deployment/web", "-n", ns.name, "-o", "json",
                             "--as", "system:admin", "--as-group", "system:masters", env=env)
    assert "Traceback" not in history.stderr, history.stderr
    (revision,) = json.loads(history.stdout)["revisions"]
    assert revision["status"] == "Succeeded" and revision["workflowId"] == "wf1", revision
    assert list((tmp_path / "cache" / "kubectl-harness-rollback" / "zipapp").glob("*/.complete"))
