"""Messages for the person at the terminal: warnings and progress on stderr, so stdout stays machine-readable."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator

_thread = threading.local()  # the prefix of this thread's lines: the context it works on, in a run across contexts


@contextlib.contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Every line this thread prints here during the block starts with `prefix` (several contexts at once)."""
    _thread.prefix = prefix
    try:
        yield
    finally:
        _thread.prefix = ""


def _prefix() -> str:
    return getattr(_thread, "prefix", "")


def warn(message: str) -> None:
    print(f"{_prefix()}warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"{_prefix()}error: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(_prefix() + message, file=sys.stderr)


class StatusLine:
    """One status line that rewrites itself on a terminal, and prints each new state once elsewhere (CI logs)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty() and not _prefix()  # several contexts' lines cannot share one rewritten line
        self._last = ""

    def update(self, message: str) -> None:
        if message == self._last:
            return
        self._last = message
        if self._tty:
            sys.stderr.write("\r\033[K" + message)
            sys.stderr.flush()
        else:
            info(message)

    def done(self) -> None:
        if self._tty and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()
