"""The person at a terminal: a list to pick from with the keys, a yes/no question, colours. Standard library only
(termios, tty); `rollback -i` (commands/interactive.py) is its one user. Nothing here knows about revisions.

Keys are read in raw mode, so Ctrl-C arrives as a byte: it is raised as KeyboardInterrupt, as the signal would be.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import tty
from typing import Iterator, List, Optional, Sequence, TextIO

CTRL_C, CTRL_D, ESCAPE, BACKSPACES = "\x03", "\x04", "\x1b", ("\x7f", "\x08")
ARROWS = {"[A": "up", "[B": "down", "OA": "up", "OB": "down"}
HELP = "up/down or j/k: move   a number: go to that revision   Enter: choose   q: quit"


def interactive() -> bool:
    """A person on both ends: stdin and stdout are terminals (a pipeline never waits on a prompt)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def colours() -> bool:
    """Colours on a terminal only, and never with NO_COLOR set (no-color.org: any non-empty value)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if colours() else text


def coloured_diff(text: str) -> str:
    """A unified diff with removals red and additions green, as `diff --color` does."""
    def line(text: str) -> str:
        if text.startswith(("---", "+++")):
            return paint(text, "1")
        return paint(text, "31") if text.startswith("-") else paint(text, "32") if text.startswith("+") else \
            paint(text, "36") if text.startswith("@@") else text

    return "\n".join(line(t) for t in text.split("\n"))


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _key(fd: int) -> str:
    """One key: a character, "up", "down", "enter", "backspace"; Ctrl-C raises KeyboardInterrupt."""
    first = os.read(fd, 1).decode(errors="replace")
    if first == CTRL_C:
        raise KeyboardInterrupt
    if first == ESCAPE:
        rest = ""
        while len(rest) < 2 and select.select([fd], [], [], 0.05)[0]:
            rest += os.read(fd, 1).decode(errors="replace")
        return ARROWS.get(rest, "escape")
    if first in ("\r", "\n"):
        return "enter"
    if first in BACKSPACES:
        return "backspace"
    return "quit" if first == CTRL_D else first


class Screen:
    """Writes to the terminal in raw mode (every line ends in CR LF) and redraws a block of lines in place."""

    def __init__(self, out: TextIO = sys.stdout, fd: Optional[int] = None):
        self.out = out
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._drawn = 0

    def show(self, text: str) -> None:
        """Text that stays (a diff, findings): printed below the block, which is not redrawn any more."""
        self.out.write(text.replace("\n", "\r\n") + "\r\n")
        self.out.flush()
        self._drawn = 0

    def _draw(self, lines: Sequence[str]) -> None:
        if self._drawn:
            self.out.write(f"\033[{self._drawn}A\r\033[J")  # back to the block's first line, clear to the end
        self.out.write("".join(line + "\r\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def pick(self, header: Sequence[str], rows: Sequence[str], numbers: Sequence[int], selected: int) -> Optional[int]:
        """The index of the row chosen with Enter, starting at `selected`; None for q. The arrows and j/k move;
        digits typed go to the row of that number."""
        typed = ""
        with _raw(self.fd):
            while True:
                self._draw(self._picker(header, rows, selected, typed))
                key = _key(self.fd)
                if key == "enter":
                    if typed and int(typed.rstrip("?")) not in numbers:
                        typed = typed.rstrip("?") + "?"  # Enter never takes another row than the number typed
                        continue
                    return selected
                if key in ("q", "quit", "escape"):
                    return None
                if key in ("up", "k"):
                    selected, typed = max(selected - 1, 0), ""
                elif key.isdigit() or key == "backspace":
                    typed = typed.rstrip("?")
                    if key == "backspace":
                        typed = typed[:-1]
                    else:  # a digit that no revision number goes on with starts a new number
                        typed = typed + key if any(str(n).startswith(typed + key) for n in numbers) else key
                    if typed and int(typed) in numbers:
                        selected = list(numbers).index(int(typed))
                elif key in ("down", "j"):
                    selected, typed = min(selected + 1, len(rows) - 1), ""

    def _picker(self, header: Sequence[str], rows: Sequence[str], selected: int, typed: str) -> List[str]:
        lines = list(header)
        for index, row in enumerate(rows):
            lines.append(paint("> " + row, "7") if index == selected else "  " + row)
        shown = f"   revision {typed.rstrip('?')}: not in the list" if typed.endswith("?") else f"   revision: {typed}"
        lines.append(paint(HELP, "2") + (shown if typed else ""))
        return lines

    def confirm(self, question: str) -> bool:
        """`question` answered with y (True); n, Enter or q: False (the default, as [y/N] says)."""
        self.out.write(question + " ")
        self.out.flush()
        with _raw(self.fd):
            while True:
                key = _key(self.fd)
                if key.lower() in ("y", "n", "q", "enter", "quit", "escape"):
                    break
        self.show("y" if key.lower() == "y" else "n")
        return key.lower() == "y"
