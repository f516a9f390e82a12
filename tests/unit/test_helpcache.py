"""--help and --version printed from the kept text of an earlier run (kubectl_rollback/helpcache.py): the same bytes
as the command line prints, never for another invocation, width, locale or code, and only from a private folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_rollback import helpcache

# Prints, on stderr after the run, whether the command line was imported: a kept text is printed without it.
RUN = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("cli imported: %s" % ("kubectl_rollback.cli" in sys.modules)))
from kubectl_rollback.launch import plugin
sys.argv[0] = "kubectl-harness_rollback"
plugin()
"""


def run(cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    environ.update(XDG_CACHE_HOME=str(cache), **env)
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=environ,
                          timeout=60)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    return folder


def kept_files(cache: Path) -> list:
    folder = cache / "kubectl-harness-rollback" / "help"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("args", [(), ("--help",), ("-h",), ("history", "--help"), ("rollback", "-h"),
                                  ("--version",)])
def test_the_second_run_prints_the_same_bytes_without_the_command_line(cache, args):
    first = run(cache, *args)
    second = run(cache, *args)
    assert (first.returncode, first.stderr) == (0, "cli imported: True")
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, "cli imported: False")
    assert first.stdout.strip()


def test_another_width_or_locale_is_rendered_afresh(cache):
    wide = run(cache, "history", "--help")
    narrow = run(cache, "history", "--help", COLUMNS="60")
    assert narrow.stderr == "cli imported: True"
    assert narrow.stdout.splitlines()[0] == "Usage: kubectl harness-rollback history "  # wrapped at 58 columns
    assert wide.stdout.splitlines()[0] == "Usage: kubectl harness-rollback history [OPTIONS] [KIND/NAME]"
    assert run(cache, "history", "--help", COLUMNS="60").stdout == narrow.stdout
    assert run(cache, "history", "--help", LANGUAGE="de").stderr == "cli imported: True"
    assert len(kept_files(cache)) == 3


def test_only_a_successful_run_is_kept(cache):
    unknown = run(cache, "nosuch", "--help")
    assert unknown.returncode == 2
    assert kept_files(cache) == []
    assert run(cache, "nosuch", "--help").stderr.endswith("cli imported: True")


def test_a_folder_others_may_write_is_not_used(cache):
    cache.chmod(0o777)
    first = run(cache, "--help")
    assert kept_files(cache) == []
    assert run(cache, "--help").stdout == first.stdout


def test_a_kept_text_for_another_key_is_not_printed(cache):
    first = run(cache, "--help")
    [name] = kept_files(cache)
    kept = cache / "kubectl-harness-rollback" / "help" / name
    key, text = kept.read_text().split("\n", 1)
    kept.write_text(key.replace("'--help'", "'-h'") + "\n" + "something else\n")
    again = run(cache, "--help")
    assert (again.stdout, again.stderr) == (first.stdout, "cli imported: True")


def test_an_edited_file_of_the_package_changes_the_key(tmp_path, monkeypatch):
    package = tmp_path / "kubectl_rollback"
    shutil.copytree(Path(helpcache.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(helpcache, "__file__", str(package / "helpcache.py"))
    before = helpcache._fingerprint()
    os.utime(package / "cli.py", ns=(0, 0))
    assert before is not None and helpcache._fingerprint() != before


@pytest.mark.parametrize("args, cacheable", [
    ([], True), (["--help"], True), (["-h"], True), (["--version"], True), (["history", "--help"], True),
    (["history", "-h"], True), (["history", "deployment/web", "--help"], False), (["history"], False),
    (["-n", "--help"], False), (["--version", "--help"], False), (["history", "deployment/web"], False),
])
def test_only_output_only_invocations_are_cacheable(args, cacheable):
    assert helpcache.cacheable(args) is cacheable
