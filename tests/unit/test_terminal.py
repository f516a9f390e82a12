"""terminal.py through a real pseudo-terminal (pty.openpty): the keys move and pick, a typed number jumps, Ctrl-C is
raised as KeyboardInterrupt, [y/N] defaults to no; colours only on a terminal and never with NO_COLOR."""

import io
import os
import pty
import termios
import threading
import time

import pytest

from kubectl_rollback import terminal

ROWS = ["5  live", "4  skipped", "3  rollback target", "2", "1"]
NUMBERS = [5, 4, 3, 2, 1]


@pytest.fixture
def keyboard():
    """(typing, Screen): what is typed on the pty's master side is what the Screen reads from its terminal. The keys
    are typed once the Screen has put the terminal in raw mode (which discards keys typed ahead, as it should: a `y`
    typed before the question is no answer to it)."""
    master, slave = pty.openpty()
    shown = io.StringIO()
    typists = []

    def type_(keys: str) -> None:
        def when_raw() -> None:
            deadline = time.monotonic() + 10
            while termios.tcgetattr(slave)[3] & termios.ICANON and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(master, keys.encode())

        typists.append(threading.Thread(target=when_raw, daemon=True))
        typists[-1].start()

    yield type_, terminal.Screen(shown, slave), shown
    for typist in typists:
        typist.join(10)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize("keys, picked", [
    ("\r", 2),  # Enter: the preselected row
    ("\x1b[A\x1b[A\r", 0),  # up arrow twice
    ("jjjjjj\r", 4),  # stops at the last row
    ("k\r", 1),
    ("1\r", 4),  # a typed revision number
    ("9\x7f4\r", 1),  # no revision 9; backspace, then 4
    ("q", None),
])
def test_the_keys_move_and_pick(keyboard, keys, picked):
    type_, screen, shown = keyboard
    type_(keys)
    assert screen.pick(["header"], ROWS, NUMBERS, 2) == picked
    assert "> 3  rollback target" in shown.getvalue()


def test_ctrl_c_is_an_interrupt_in_the_list_and_at_the_question(keyboard):
    type_, screen, _ = keyboard
    type_("j\x03")
    with pytest.raises(KeyboardInterrupt):
        screen.pick([], ROWS, NUMBERS, 0)
    type_("\x03")
    with pytest.raises(KeyboardInterrupt):
        screen.confirm("go? [y/N]")


@pytest.mark.parametrize("keys, answer", [("y", True), ("Y", True), ("n", False), ("\r", False), ("xq", False)])
def test_the_question_is_yes_only_with_y(keyboard, keys, answer):
    type_, screen, shown = keyboard
    type_(keys)
    assert screen.confirm("roll back deployment/web from 5 to 3? [y/N]") is answer
    assert shown.getvalue().startswith("roll back deployment/web from 5 to 3? [y/N] ")


def test_colours_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal
    assert terminal.coloured_diff("-a\n+b") == "-a\n+b"

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert terminal.coloured_diff("-a\n+b") == "\033[31m-a\033[0m\n\033[32m+b\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.coloured_diff("-a\n+b") == "-a\n+b"
