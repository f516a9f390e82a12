"""Messages for the person at the terminal: warnings and progress on stderr, so stdout stays machine-readable."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(message, file=sys.stderr)


class StatusLine:
    """One status line that rewrites itself on a terminal, and prints each new state once elsewhere (CI logs)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = ""

    def update(self, message: str) -> None:
        if message == self._last:
            return
        self._last = message
        if self._tty:
            sys.stderr.write("\r\033[K" + message)
            sys.stderr.flush()
        else:
            print(message, file=sys.stderr)

    def done(self) -> None:
        if self._tty and self._last:
            sys.stderr.write("\n")
            sys.stderr.flush()
