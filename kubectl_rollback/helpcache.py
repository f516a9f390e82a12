"""`--help` and `--version` without importing the command line: what such a run printed is kept, and printed again.

Rendering help goes through typer and click, whose imports alone take about twice kubectl's whole `rollout --help`.
kubectl's own help is a Go struct in memory; ours is a file under $XDG_CACHE_HOME (default ~/.cache)/
kubectl-harness-rollback/help/, written by the first run that printed it (launch.py). A kept text is printed only for
exactly the same invocation of exactly the same code: its first line is the key, which holds the arguments, the
terminal width click wraps to, the locale click's gettext reads, the Python version, and the size and modification
time of every file of this package and of typer's and click's first files (any edit or upgrade gives a new key).
Only output-only invocations qualify ([], [-h|--help], [VERB, -h|--help], [--version]); only a run that exited 0
having printed something is kept. The folders are trusted as the zipapp's unpacked copy is (cachedir.py): this
user's real folders, writable by no one else; anything else, or a cache that cannot be written, means no cache, never
an error.
"""

from __future__ import annotations

import os
import sys

from kubectl_rollback import cachedir

TYPE_CHECKING = False  # not typing's: importing typing costs as much as the rest of a kept --help
if TYPE_CHECKING:
    from typing import List, Optional

HELP_FLAGS = ("-h", "--help")
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # what gettext reads for click's "Usage:" etc.
RENDERED_BY = ("typer", "click")
UNUSED_AFTER = 30 * 86400  # seconds; a kept text not printed for this long is removed by the next write


def cacheable(args: List[str]) -> bool:
    """The invocations that only print text the code alone decides: the help of the plugin or of one verb, and the
    version."""
    if args in ([], ["--version"]) or (len(args) == 1 and args[0] in HELP_FLAGS):
        return True
    return len(args) == 2 and args[1] in HELP_FLAGS and not args[0].startswith("-")


def lookup(args: List[str]) -> Optional[str]:
    """The text an earlier run of the same invocation printed, or None."""
    where = _place(args)
    if where is None:
        return None
    path, key = where
    try:
        with open(path, encoding="utf-8") as kept:
            if kept.readline() != key + "\n" or os.fstat(kept.fileno()).st_uid != os.getuid():
                return None
            text = kept.read()
        os.utime(path)  # last printed now: kept while in use
    except (OSError, UnicodeDecodeError):
        return None
    return text


def store(args: List[str], text: str) -> None:
    """Keep what the invocation printed; any failure leaves the cache as it was."""
    where = _place(args, create=True)
    if where is None:
        return
    path, key = where
    if cachedir.write(path, key + "\n" + text):
        _prune(os.path.dirname(path))


class Recorder:
    """sys.stdout for one run: everything written goes to the real stdout, and a copy is kept for `store`."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._parts: List[str] = []

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self._parts.append(text)  # after the write: what the stream refused (click probes it with b"") is not kept
        return written

    def text(self) -> str:
        return "".join(self._parts)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _place(args: List[str], create: bool = False) -> Optional[tuple]:
    """The kept text's file and its key, or None where there can be no cache."""
    folder = cachedir.private_folder("help", create)
    fingerprint = _fingerprint()
    if folder is None or fingerprint is None:
        return None
    import zlib

    key = repr((args, _width_inputs(), [os.environ.get(v, "") for v in LOCALE_VARIABLES], sys.version, fingerprint))
    return os.path.join(folder, f"{zlib.crc32(key.encode('utf-8')):08x}"), key


def _width_inputs() -> tuple:
    """What click's help width comes from: shutil.get_terminal_size() reads COLUMNS, else stdout's terminal (shutil
    itself is not imported: it would double the time of a kept --help)."""
    try:
        terminal = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        terminal = None
    return os.environ.get("COLUMNS"), terminal


def _fingerprint() -> Optional[list]:
    """Size and modification time of every file of this package, and of typer's and click's first files; None when
    they are not plain files (imported from a zip)."""
    from importlib.machinery import PathFinder  # importlib.util's find_spec costs as much as the rest of the lookup

    package = os.path.dirname(os.path.abspath(__file__))
    files = []
    try:
        for spec in map(PathFinder.find_spec, RENDERED_BY):
            if spec is None or not spec.origin:
                return None
            files.append(spec.origin)
        pending = [package]
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                        pending.append(entry.path)
                    elif entry.name.endswith(".py"):
                        files.append(entry.path)
        return [(path, st.st_size, st.st_mtime_ns) for path, st in ((p, os.stat(p)) for p in sorted(files))]
    except (OSError, ImportError, ValueError):
        return None


def _prune(folder: str) -> None:
    import time

    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > UNUSED_AFTER:
                    cachedir.remove(entry.path)
    except OSError:
        pass


