#!/usr/bin/env python3
"""Build the krew archive of kubectl harness-rollback and write its sha256 into plugin-manifest.yaml.

    python packaging/build_dist.py --out dist [--manifest plugin-manifest.yaml]   # make dist
    python packaging/build_dist.py --lock                                         # make lock

The archive, dist/kubectl-harness-rollback_v<version>.tar.gz, holds:

* kubectl-harness_rollback: a zipapp (stdlib `zipapp`) with the shebang `#!/usr/bin/env python3`, bundling the
  kubectl_rollback package (the files git tracks or would track: no caches, no build leftovers) and exactly the
  wheels packaging/requirements.lock names, installed with `pip install --require-hashes --no-deps --target` and
  stripped of compiled extensions, so one file runs on Linux and macOS on any CPU. A dependency that cannot run
  without its extension makes the build fail (the bundle is import-checked).
  `kubectl-harness_rollback __complete WORD...` answers shell completion (kubectl_rollback.completion).
* kubectl_complete-harness_rollback: the completer kubectl (1.26+) runs from PATH on TAB, a shell script that asks
  the plugin on PATH (`kubectl-harness_rollback __complete "$@"`). krew links only the plugin onto PATH, so the
  user copies this one there (README, "Shell completion"); asking through PATH keeps the copy valid across upgrades.
* LICENSE.

The lock is written by --lock: setup.cfg's install_requires resolved for the oldest Python that python_requires
allows (a dependency must also be met on every newer Python and on Linux and macOS), each distribution pinned to one
version and its wheel's sha256. The build refuses a lock that no longer matches install_requires.

The archive is reproducible: the same commit gives the same bytes on any machine, on any day, from any folder.
Entries are sorted, with one fixed timestamp (1980-01-01, also for SOURCE_DATE_EPOCH: the manifest holds one
sha256), fixed owners and modes; zip entries are stored (not deflated), and the tar is gzipped at level 9 with no
name and no time in its header, so zlib is the only compressor, once. Nothing of the build's folder, clock, umask
or user gets in.

Then the manifest's spec.version, every platform's uri and sha256 are rewritten in place (the rest of the file,
comments included, is left as it is), and the archive path and sha256 are printed.
"""

from __future__ import annotations

import argparse
import configparser
import email.parser
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipapp
import zipfile
import zlib
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "kubectl_rollback"
PLUGIN = "harness-rollback"
BIN = "kubectl-harness_rollback"  # krew links kubectl-<name> with dashes turned into underscores
COMPLETER = "kubectl_complete-harness_rollback"  # kubectl's name for the plugin's completer: kubectl_complete-<name>
COMPLETE_ARG = "__complete"  # cobra's name for "complete these words", which cobra-built plugins answer too
ARCHIVE = "kubectl-harness-rollback_v{version}.tar.gz"
LOCK = ROOT / "packaging" / "requirements.lock"
INTERPRETER = "/usr/bin/env python3"
# The zip format cannot hold a date before 1980. SOURCE_DATE_EPOCH is not honoured on purpose: a CI that sets it to
# the commit's time would build an archive that differs from the one the manifest names.
FIXED_EPOCH = 315532800  # 1980-01-01T00:00:00Z
# Wheels are fetched as if for this platform; every compiled file in them is dropped afterwards, so the choice only
# decides which wheel of a package that has no pure-Python one donates its Python sources (PyYAML).
DONOR_PLATFORM = "manylinux2014_x86_64"
# Markers of the dependencies are evaluated on each of these (pip evaluates them for the interpreter running it).
TARGET_PLATFORMS = ({"sys_platform": "linux", "platform_system": "Linux"},
                    {"sys_platform": "darwin", "platform_system": "Darwin"})
NEWEST_PYTHON_MINOR = 14
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
DROPPED_DIST_INFO = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
# Top-level modules that only re-export a compiled extension, dropped with it.
EXTENSION_SHIMS = ("_yaml",)  # PyYAML's old alias of yaml._yaml (libyaml bindings)
MAX_RESOLVE_ROUNDS = 10

MAIN_PY = '''\
"""Entry point of the kubectl-harness_rollback zipapp, written by packaging/build_dist.py.

The first run unpacks the bundled packages into $XDG_CACHE_HOME (default ~/.cache)/kubectl-harness-rollback/zipapp/
<build id>/, and every run imports them from there, where Python keeps their bytecode: imported straight from the
zip, they are compiled again on every run. The copy is trusted only as ssh and pip trust a folder: it and every
folder from the cache root down are this user's, real folders (no links), writable by no one else; and only while
its files are the ones unpacked (.complete lists each file's size and modification time; a copy that differs is
unpacked again). Otherwise, with KUBECTL_HARNESS_ROLLBACK_NO_EXTRACT=1, or where the cache cannot be written, the
packages are imported from the zip. A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
"""
import os
import sys

if sys.version_info < ({major}, {minor}):
    sys.stderr.write("kubectl-harness-rollback needs Python >= {major}.{minor}, this is %s\\n" % sys.version.split()[0])
    sys.exit(1)

BUILD_ID = "{build_id}"
UNPACK_PREFIX = ".unpack-"  # then the unpacking process's id: a folder whose process is gone was abandoned
ABANDONED_AFTER = 3600  # seconds; an unpack takes well under one, so an older folder is abandoned whatever its pid
UNUSED_AFTER = 30 * 86400  # seconds; the copies of other builds unpacked longer ago are removed


def _private(path):
    """A real folder of this user's that no one else may write."""
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _listing(top, names):
    """What .complete records: the size, modification time and name of each unpacked file."""
    lines = []
    for name in names:
        st = os.stat(os.path.join(top, name))
        lines.append("%d %d %s\\n" % (st.st_size, st.st_mtime_ns, name))
    return "".join(lines)


def _intact(target):
    """The copy's files are still those its .complete lists, in size and modification time."""
    try:
        with open(os.path.join(target, ".complete"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        for line in lines:
            size, mtime, name = line.split(" ", 2)
            st = os.stat(os.path.join(target, name))
            if st.st_size != int(size) or st.st_mtime_ns != int(mtime):
                return False
    except (OSError, ValueError):
        return False
    return bool(lines)


def _abandoned(name, path):
    import time

    try:
        if time.time() - os.lstat(path).st_mtime > ABANDONED_AFTER:
            return True
        os.kill(int(name[len(UNPACK_PREFIX):].split("-", 1)[0]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        pass
    return False


def _prune(parent):
    """Remove the copies of other builds unpacked over a month ago, and unpacks whose process is gone."""
    import shutil
    import time

    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        try:
            if name.startswith(UNPACK_PREFIX):
                stale = _abandoned(name, path)
            else:
                unpacked_at = os.path.getmtime(os.path.join(path, ".complete"))
                stale = name != BUILD_ID and time.time() - unpacked_at > UNUSED_AFTER
        except OSError:
            stale = name != BUILD_ID
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def _unpack(archive, parent, target):
    """Unpack into a fresh folder, then put it in the copy's place (a damaged or unfinished copy is moved aside and
    removed); a run that meets a copy another run just put there keeps that one."""
    import shutil
    import tempfile
    import zipfile

    tmp = tempfile.mkdtemp(prefix="%s%d-" % (UNPACK_PREFIX, os.getpid()), dir=parent)
    old = tmp + "-old"
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n != "__main__.py" and not n.endswith("/")]
            zf.extractall(tmp, names)
        with open(os.path.join(tmp, ".complete"), "w", encoding="utf-8") as f:
            f.write(_listing(tmp, names))
        if os.path.lexists(target) and not (_private(target) and _intact(target)):
            os.rename(target, old)
        os.rename(tmp, target)
    except OSError:  # another run put its copy there first, or the cache cannot be written
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    _prune(parent)


def _unpacked(archive):
    if os.environ.get("KUBECTL_HARNESS_ROLLBACK_NO_EXTRACT") or not os.path.isfile(archive):
        return None
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".cache")
    parent = os.path.join(root, "kubectl-harness-rollback", "zipapp")
    folders = (root, os.path.dirname(parent), parent)
    target = os.path.join(parent, BUILD_ID)
    try:
        for folder in folders:
            if not os.path.isdir(folder):
                os.mkdir(folder, 0o700)
    except OSError:
        return None
    if not all(_private(folder) for folder in folders):
        return None
    if not (_private(target) and _intact(target)):
        try:
            _unpack(archive, parent, target)
        except Exception:  # a zip that cannot be read whole is imported from directly, and says what is wrong there
            return None
    return target if _private(target) and _intact(target) else None


_archive = os.path.dirname(os.path.abspath(__file__))
_dir = _unpacked(_archive)
if _dir:
    sys.path[:] = [_dir] + [p for p in sys.path if os.path.abspath(p) != _archive]
    sys.dont_write_bytecode = False  # the cache is ours: keep the bytecode there whatever PYTHONDONTWRITEBYTECODE says

from kubectl_rollback import launch  # noqa: E402

if os.path.basename(sys.argv[0]) == "{completer}":  # `completion install`'s link to the plugin: the completer
    launch.completer(sys.argv[1:])
elif sys.argv[1:2] == ["{complete_arg}"]:  # the completer script asks the plugin itself
    launch.completer(sys.argv[2:])
else:
    launch.plugin()
'''

COMPLETER_SH = f'''\
#!/bin/sh
# Shell completion of `kubectl harness-rollback`: on TAB, kubectl (1.26 and newer) runs
# {COMPLETER} from PATH. krew users: `kubectl harness-rollback completion install` links the plugin itself under
# this name instead. It asks the plugin found on PATH, so a copy stays right when the plugin is upgraded.
exec {BIN} {COMPLETE_ARG} "$@"
'''


class BuildError(Exception):
    pass


def log(message: str) -> None:
    print(f"build_dist: {message}", file=sys.stderr, flush=True)


# -- project metadata ------------------------------------------------------------------------------------------


def read_version(root: Path = ROOT) -> str:
    text = (root / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        raise BuildError(f"no __version__ in {PACKAGE}/__init__.py")
    return match.group(1)


def read_setup_cfg(root: Path = ROOT) -> tuple:
    """(install_requires, oldest supported Python as (major, minor)) from setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg", encoding="utf-8")
    requires = [line.strip() for line in cfg.get("options", "install_requires", fallback="").splitlines()]
    requires = [line for line in requires if line and not line.startswith("#")]
    python_requires = cfg.get("options", "python_requires", fallback=">=3.9")
    match = re.search(r">=\s*(\d+)\.(\d+)", python_requires)
    if not match:
        raise BuildError(f"cannot read the oldest Python from python_requires {python_requires!r}")
    return requires, (int(match.group(1)), int(match.group(2)))


# -- dependencies ----------------------------------------------------------------------------------------------


def installed_dists(site: Path) -> dict:
    """canonical name -> (version, Requires-Python, [Requires-Dist]) of every distribution in a --target folder."""
    dists = {}
    for info in sorted(site.glob("*.dist-info")):
        meta = email.parser.Parser().parsestr((info / "METADATA").read_text(encoding="utf-8", errors="replace"))
        dists[canonicalize_name(meta["Name"])] = (meta["Version"], meta.get("Requires-Python") or "",
                                                  meta.get_all("Requires-Dist") or [])
    return dists


def marker_environments(oldest: tuple) -> list:
    envs = []
    for minor in range(oldest[1], max(oldest[1], NEWEST_PYTHON_MINOR) + 1):
        for platform in TARGET_PLATFORMS:
            env = default_environment()
            env.update(platform, python_version=f"{oldest[0]}.{minor}", python_full_version=f"{oldest[0]}.{minor}.0",
                       implementation_name="cpython", platform_python_implementation="CPython", os_name="posix")
            envs.append(env)
    return envs


def check_closure(site: Path, requires: list, oldest: tuple) -> tuple:
    """What the installed set lacks: (requirements missing or unmet for some supported Python or OS,
    {name: {versions whose Requires-Python excludes the oldest supported Python}}, names of every installed
    distribution the requirements reach)."""
    dists = installed_dists(site)
    envs = marker_environments(oldest)
    oldest_text = f"{oldest[0]}.{oldest[1]}"
    too_new = {}
    for name, (version, requires_python, _) in dists.items():
        if requires_python and not SpecifierSet(requires_python).contains(oldest_text, prereleases=True):
            too_new.setdefault(name, set()).add(version)
    missing, seen, reached = [], set(), set()
    queue = [Requirement(r) for r in requires]
    while queue:
        req = queue.pop(0)
        name = canonicalize_name(req.name)
        key = (name, str(req.specifier), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        reached.add(name)
        if name not in dists or not req.specifier.contains(dists[name][0], prereleases=True):
            missing.append(req)
            continue
        for text in dists[name][2]:
            dep = Requirement(text)
            extras = [""] + sorted(req.extras)
            if dep.marker is None or any(dep.marker.evaluate(dict(env, extra=e)) for env in envs for e in extras):
                dep.marker = None
                queue.append(dep)
    return missing, too_new, reached & set(dists)


def pip_install(site: Path, args: list, oldest: tuple) -> None:
    """pip install --target site, of wheels for the oldest supported Python (compiled ones from DONOR_PLATFORM)."""
    if site.exists():
        shutil.rmtree(site)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(site), "--only-binary=:all:", "--python-version", f"{oldest[0]}.{oldest[1]}",
           "--implementation", "cp", "--abi", f"cp{oldest[0]}{oldest[1]}", "--platform", DONOR_PLATFORM, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"pip install failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def resolve(site: Path, requires: list, oldest: tuple, workdir: Path) -> list:
    """The dependency closure for Python >= oldest on Linux and macOS, installed into site: returns the lock's
    entries, sorted (canonical name, version, wheel file name, sha256).

    pip evaluates environment markers for the interpreter that runs it, and trusts an index that does not publish
    Requires-Python, so the result is checked: a distribution that excludes the oldest Python is excluded and a
    requirement some supported Python or OS needs is added, and pip resolves again."""
    wanted, excluded = list(requires), {}
    constraints, report = workdir / "constraints.txt", workdir / "report.json"
    for _ in range(MAX_RESOLVE_ROUNDS):
        constraints.write_text("".join(f"{name}{','.join('!=' + v for v in sorted(versions))}\n"
                                       for name, versions in sorted(excluded.items())), encoding="utf-8")
        pip_install(site, ["--constraint", str(constraints), "--report", str(report), *wanted], oldest)
        missing, too_new, _ = check_closure(site, requires, oldest)
        if not missing and not too_new:
            installed = json.loads(report.read_text(encoding="utf-8"))["install"]
            return sorted((canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"],
                           item["download_info"]["url"].rsplit("/", 1)[-1],
                           item["download_info"]["archive_info"]["hashes"]["sha256"]) for item in installed)
        for name, versions in too_new.items():
            log(f"excluding {name} {', '.join(sorted(versions))}: needs a newer Python than {oldest[0]}.{oldest[1]}")
            excluded.setdefault(name, set()).update(versions)
        for req in missing:
            if canonicalize_name(req.name) not in too_new:
                log(f"adding {req}: needed on some supported Python or OS")
                wanted.append(str(req))
    raise BuildError(f"the dependencies did not settle in {MAX_RESOLVE_ROUNDS} rounds of pip install")


def write_lock(lock: Path, entries: list, requires: list, oldest: tuple) -> None:
    python = f"{oldest[0]}.{oldest[1]}"
    lines = [f"# Every distribution the krew archive bundles, for Python >= {python} on Linux and macOS,",
             "# pinned to one wheel by its sha256 (pip's --require-hashes format).",
             f"# Written by `make lock` from setup.cfg's install_requires: {', '.join(requires)}.",
             "# Read by `make dist`. Do not edit by hand: change setup.cfg, then run `make lock`.", ""]
    for name, version, wheel, sha256 in entries:
        lines += [f"{name}=={version} \\", f"    --hash=sha256:{sha256}", f"    # {wheel}"]
    lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def install_locked(site: Path, lock: Path, requires: list, oldest: tuple) -> dict:
    """Install the lock's wheels, checked against their hashes, into site; returns installed_dists. A lock that
    no longer satisfies install_requires, or holds what they do not need, is refused."""
    if not lock.is_file():
        raise BuildError(f"no {lock.name}: run `make lock` (packaging/build_dist.py --lock) to write it")
    pip_install(site, ["--no-deps", "--require-hashes", "--requirement", str(lock)], oldest)
    missing, too_new, reached = check_closure(site, requires, oldest)
    unneeded = set(installed_dists(site)) - reached
    if missing or too_new or unneeded:
        problems = ([f"lacks {req}" for req in missing] + [f"{name} needs a newer Python" for name in sorted(too_new)]
                    + [f"{name} is not needed" for name in sorted(unneeded)])
        raise BuildError(f"{lock.name} does not match setup.cfg's install_requires ({'; '.join(problems)}): "
                         "run `make lock` and commit the lock")
    return installed_dists(site)


def strip_site(site: Path) -> list:
    """Drop compiled extensions, bytecode, scripts and install records; returns the compiled files dropped."""
    dropped = []
    for name in ("bin", *EXTENSION_SHIMS):
        shutil.rmtree(site / name, ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        rel = path.relative_to(site).as_posix()
        if path.is_dir():
            if path.name == "__pycache__":
                shutil.rmtree(path)
            continue
        if path.name.endswith(COMPILED_SUFFIXES) or ".so." in path.name:
            dropped.append(rel)
            path.unlink()
        elif path.suffix in (".pyc", ".pyo") or (path.parent.name.endswith(".dist-info")
                                                 and path.name in DROPPED_DIST_INFO):
            path.unlink()
    return sorted(dropped)


def package_files(root: Path) -> list:
    """The package's files, relative to root: those git tracks or would track (not ignored), so caches, editor
    leftovers and build products stay out; outside a git checkout, every file but caches and compiled ones."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                 "--", PACKAGE], capture_output=True, check=True).stdout.decode().split("\0")
        names = [name for name in listed if name and (root / name).is_file()]  # a deleted, not yet staged file
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(root).as_posix() for p in (root / PACKAGE).rglob("*") if p.is_file()]
    return sorted(n for n in names if "__pycache__" not in n and not n.endswith((".pyc", ".pyo", *COMPILED_SUFFIXES)))


def copy_package(root: Path, staging: Path) -> None:
    for name in package_files(root):
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, staging / name)


# -- reproducible archives -------------------------------------------------------------------------------------


def zip_date_time() -> tuple:
    return time.gmtime(max(FIXED_EPOCH, 315532800))[:6]


def write_zip(staging: Path, target: Path) -> None:
    """A zip of staging: sorted entries (folders too, for namespace packages), fixed times and modes, stored: the
    tar's gzip compresses it better across files, and only one zlib run has to be the same everywhere."""
    stamp = zip_date_time()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        entries = [(p.relative_to(staging).as_posix() + ("/" if p.is_dir() else ""), p) for p in staging.rglob("*")]
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, stamp)
            info.create_system = 3  # Unix, whatever the building OS: the modes below are Unix modes
            if path.is_dir():
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                zf.writestr(info, path.read_bytes())


def payload_id(staging: Path) -> str:
    """A digest of every file's path and content: the unpacked copy's folder name, the same for the same bundle."""
    digest = hashlib.sha256()
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        digest.update(path.relative_to(staging).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def build_zipapp(staging: Path, target: Path, oldest: tuple) -> str:
    """The zipapp of staging (which gets a __main__.py); returns its build id."""
    build_id = payload_id(staging)
    main_py = MAIN_PY.format(major=oldest[0], minor=oldest[1], build_id=build_id, complete_arg=COMPLETE_ARG,
                             completer=COMPLETER)
    (staging / "__main__.py").write_text(main_py, encoding="utf-8")
    plain = target.with_name(target.name + ".zip")
    write_zip(staging, plain)
    # zipapp copies an existing archive behind the shebang and marks the result executable.
    zipapp.create_archive(plain, target, interpreter=INTERPRETER)
    plain.unlink()
    target.chmod(0o755)
    return build_id


def build_tarball(members: list, target: Path) -> None:
    """A .tar.gz of (name, path, mode) members: in the given order, root-owned, fixed mtimes, no gzip name/time."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, path, mode in members:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, FIXED_EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    with open(target, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buffer.getvalue())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- checks ----------------------------------------------------------------------------------------------------


def verify_zipapp(pyz: Path, completer: Path, site_tops: list, version: str, build_id: str, workdir: Path) -> None:
    """Run the bundle with this interpreter, isolated from every site-packages (-I -S): every bundled top-level
    module imports from the zip, and --version, --help, a completion and a real command (against an unreachable API
    server: the kubeconfig loader and the HTTP client run) work, unpacked into a cache and straight from the zip.
    The completer script, with the bundle on PATH, completes too."""
    isolated = [sys.executable, "-I", "-S"]
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(pyz)!r})\n"
        f"for name in {site_tops!r}:\n"
        "    importlib.import_module(name)\n"
        "import yaml, kubectl_rollback.cli, kubectl_rollback.kube\n"
        "assert yaml.load('a: [1, 2]', Loader=yaml.SafeLoader) == {'a': [1, 2]}\n"
    )
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: ns}}]\n",
        encoding="utf-8",
    )
    history = [*isolated, str(pyz), "history", "deployment/web", "--kubeconfig", str(kubeconfig),
               "--request-timeout", "2s"]
    cache = workdir / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KUBECTL_HARNESS_ROLLBACK"))}
    env["XDG_CACHE_HOME"] = str(cache)
    checks = [  # what, command, exit code (None: any but 0), text the output must hold, extra environment
        ("import every bundled module", [*isolated, "-c", code], 0, None, {}),
        ("--version", [*isolated, str(pyz), "--version"], 0, f"kubectl-harness-rollback {version}", {}),
        ("--help", [*isolated, str(pyz), "--help"], 0, "rollback", {}),
        ("completion", [*isolated, str(pyz), COMPLETE_ARG, "ro"], 0, "rollback\t", {}),
        ("the completer script", [str(completer), "rollback", "-o", ""], 0, "json\n",
         {"PATH": os.pathsep.join([str(pyz.parent), env.get("PATH", "")])}),
        ("history, unpacked", history, None, "cannot reach the API server", {}),
        ("history, from the zip", history, None, "cannot reach the API server",
         {"KUBECTL_HARNESS_ROLLBACK_NO_EXTRACT": "1"}),
    ]
    for what, cmd, want_code, want_text, extra in checks:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(env, **extra),
                              stdin=subprocess.DEVNULL)
        output = proc.stdout + proc.stderr
        bad = proc.returncode != want_code if want_code is not None else proc.returncode == 0
        if bad or "Traceback" in output or (want_text and want_text not in output):
            raise BuildError(f"the zipapp failed its check ({what}), exit {proc.returncode}:\n{output}")
    if not (cache / "kubectl-harness-rollback" / "zipapp" / build_id / ".complete").is_file():
        raise BuildError("the zipapp did not unpack itself into its cache")


# -- manifest --------------------------------------------------------------------------------------------------


def update_manifest(manifest: Path, version: str, archive_name: str, sha256: str) -> None:
    """Rewrite spec.version, every platform's uri and sha256, keeping the rest of the file as it is."""
    text = manifest.read_text(encoding="utf-8")
    homepage = re.search(r"^\s+homepage:\s*['\"]?(\S+?)['\"]?\s*$", text, re.M)
    if not homepage:
        raise BuildError(f"{manifest}: no spec.homepage to build the release uri from")
    uri = f"{homepage.group(1).rstrip('/')}/releases/download/v{version}/{archive_name}"
    replacements = (
        (r"^(  version:[ \t]*).*$", rf"\g<1>v{version}", 1),
        (r"^(\s*(?:-\s+)?uri:[ \t]*).*$", rf"\g<1>{uri}", 0),
        (r"^(\s*(?:-\s+)?sha256:[ \t]*).*$", rf"\g<1>{sha256}", 0),
    )
    for pattern, replacement, count in replacements:
        text, n = re.subn(pattern, replacement, text, count=count, flags=re.M)
        if n == 0:
            raise BuildError(f"{manifest}: no line matches {pattern!r}")
    manifest.write_text(text, encoding="utf-8")


# -- main ------------------------------------------------------------------------------------------------------


def lock(root: Path = ROOT) -> Path:
    """Resolve setup.cfg's install_requires afresh and write the lock."""
    requires, oldest = read_setup_cfg(root)
    with tempfile.TemporaryDirectory(prefix="krew-lock-") as tmp:
        log(f"resolving {', '.join(requires)} for Python >= {oldest[0]}.{oldest[1]} (pip install --target)")
        entries = resolve(Path(tmp) / "site", requires, oldest, Path(tmp))
    target = root / LOCK.relative_to(ROOT)
    write_lock(target, entries, requires, oldest)
    log("locked " + ", ".join(f"{name} {version}" for name, version, _, _ in entries))
    return target


def build(out: Path, manifest: Path, root: Path = ROOT) -> tuple:
    version = read_version(root)
    requires, oldest = read_setup_cfg(root)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / ARCHIVE.format(version=version)
    with tempfile.TemporaryDirectory(prefix="krew-dist-") as tmp:
        work = Path(tmp)
        site = work / "site"
        lock_file = root / LOCK.relative_to(ROOT)
        log(f"installing {lock_file.relative_to(root)} (pip install --require-hashes --no-deps --target)")
        dists = install_locked(site, lock_file, requires, oldest)
        log("bundling " + ", ".join(f"{name} {dists[name][0]}" for name in sorted(dists)))
        dropped = strip_site(site)
        if dropped:
            log("dropped compiled extensions (pure-Python fallbacks are used): " + ", ".join(dropped))
        site_tops = sorted({p.stem if p.is_file() else p.name for p in site.iterdir()
                            if (p.is_dir() and not p.name.endswith(".dist-info") and not p.name.startswith("."))
                            or p.suffix == ".py"})
        if (site / PACKAGE).exists():
            raise BuildError(f"a dependency installed a {PACKAGE} package")
        copy_package(root, site)
        pyz = work / BIN
        build_id = build_zipapp(site, pyz, oldest)
        completer = work / COMPLETER
        completer.write_text(COMPLETER_SH, encoding="utf-8")
        completer.chmod(0o755)
        log(f"checking the zipapp ({pyz.stat().st_size} bytes, build id {build_id})")
        verify_zipapp(pyz, completer, site_tops, version, build_id, work)
        members = [(BIN, pyz, 0o755), (COMPLETER, completer, 0o755), ("LICENSE", root / "LICENSE", 0o644)]
        build_tarball(members, archive)
        log(f"archive {archive.stat().st_size} bytes (zipapp {pyz.stat().st_size}, zlib {zlib.ZLIB_RUNTIME_VERSION})")
    sha256 = sha256_of(archive)
    update_manifest(manifest, version, archive.name, sha256)
    return archive, sha256


def main(argv: list = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist)")
    parser.add_argument("--manifest", type=Path, default=ROOT / "plugin-manifest.yaml",
                        help="krew manifest to update in place (default: plugin-manifest.yaml)")
    parser.add_argument("--lock", action="store_true",
                        help=f"resolve the dependencies afresh into {LOCK.relative_to(ROOT)} instead of building")
    args = parser.parse_args(argv)
    if not args.manifest.is_file():
        parser.error(f"{args.manifest}: no such file")
    try:
        if args.lock:
            print(lock())
            return 0
        archive, sha256 = build(args.out, args.manifest)
    except BuildError as exc:
        print(f"build_dist: error: {exc}", file=sys.stderr)
        return 1
    print(archive)
    print(f"sha256 {sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
