"""Ctrl-C (and SIGTERM, which the command line handles as Ctrl-C): raised as a KeyboardInterrupt where the command
is, remembered so that it cannot be lost, and held back across a step it must not split (a write and what must be
said or written with it)."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List

from kubectl_rollback.errors import ExitCode

# Every SIGINT and SIGTERM the command was sent (by `on_signal`, the handler the command line installs).
_received: List[int] = []


def on_signal(signum: int, frame: Any) -> None:
    """The command line's handler of SIGINT and SIGTERM: Ctrl-C's KeyboardInterrupt, remembered. CPython drops an
    exception raised while it finalizes an object: an HTTP response collected in the middle of a request closes
    itself, and IOBase's finalizer silences what close() raises, this KeyboardInterrupt too (seen: a `rollback
    --wait` that polled on after Ctrl-C until killed). What is remembered is not lost: `sleep` and `deferred`
    raise it again."""
    _received.append(signum)
    raise KeyboardInterrupt


def install() -> None:
    """`on_signal` for SIGINT and SIGTERM, but for one the command was started with ignored (a background job of a
    shell script, nohup): it stays ignored, as Python leaves it. A new command starts told nothing."""
    _received.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, on_signal)


def finished() -> None:
    """The command's work is over: its result, or the line and document that say why it stopped, is being printed.
    A signal now would cut that short and print "interrupted" after a whole result (with -o json, a second document
    after the first), or reach the interpreter while it exits (a traceback, or death by the signal): nothing is left
    to stop, so from here on SIGINT and SIGTERM are ignored (the handlers `install` set; `watch` has its own)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is on_signal:
            signal.signal(signum, signal.SIG_IGN)


def terminated() -> bool:
    """Whether a SIGTERM (a cancelled CI job, a pod being deleted) stopped the command, rather than Ctrl-C."""
    return int(signal.SIGTERM) in _received


def stopped_code() -> ExitCode:
    """The exit code of a command that was told to stop: SIGTERM (a cancelled CI job, a pod being deleted) is handled
    as Ctrl-C, every step that says what Ctrl-C left behind says it, and the document is printed; only the exit code
    differs (143, as a shell reports SIGTERM)."""
    return ExitCode.TERMINATED if terminated() else ExitCode.INTERRUPTED


def check() -> None:
    """Once the command was told to stop, nothing new starts, in any thread: no further poll, no write (a
    KeyboardInterrupt that was lost, see on_signal, is raised here; in a fleet's contexts, which Ctrl-C does not
    reach, this is how each stops at its next safe point, as the main thread would)."""
    if _received:
        raise KeyboardInterrupt


def sleep(seconds: float) -> None:
    """time.sleep between two polls or attempts, which ends the command if it was told to stop."""
    check()
    time.sleep(seconds)
    check()


class _Held:
    """A `deferred` block: the signals received during it, the handlers they go to, and whether it has written."""

    def __init__(self) -> None:
        self.pending: List[int] = []
        self.handlers: Dict[int, Any] = {}
        self.written = False
        self.written_before_last = False  # `written` before the last write was sent (`refused` puts it back)

    def raise_pending(self) -> None:
        """The first signal held, handled now as it would have been: raises KeyboardInterrupt."""
        if self.pending:
            self.handlers[self.pending[0]](self.pending[0], None)


_threads = threading.local()  # each thread's `deferred` block while it runs (the main thread's alone holds signals)


def _held() -> List[_Held]:
    if not hasattr(_threads, "held"):
        _threads.held = []
    return _threads.held


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held from its first write on: one received before that write stops the
    block there, nothing written (`before_write`); one received after it is handled as it would have been (a
    KeyboardInterrupt) once the block has ended (an error it ends with goes first: the command ends with it anyway).
    A block does not start once the command was told to stop, in any thread. Only the main thread receives signals,
    and only where Ctrl-C is a KeyboardInterrupt (not in `watch`, which stops on them in its own time). In another
    thread (a fleet's context) nothing is held: a stop told before its first write stops it there, and one told after
    is raised once the block has ended, as in the main thread."""
    main = threading.current_thread() is threading.main_thread()
    blocks = _held()
    if blocks or (main and signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, on_signal)):
        yield  # in a block already, or watch, which handles them itself
        return
    check()
    held = _Held()
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)) if main else ():
        if callable(signal.getsignal(signum)):  # a handler of Python's or ours: not SIG_DFL, not SIG_IGN
            held.handlers[signum] = signal.signal(signum, lambda received, frame: held.pending.append(received))
    blocks.append(held)
    try:
        yield
    finally:
        blocks.remove(held)
        for signum, handler in held.handlers.items():
            signal.signal(signum, handler)
    held.raise_pending()
    check()  # another thread's: a stop told during the block (the main thread's was raised just above)


@contextmanager
def own_step() -> Iterator[None]:
    """A write that is a step of its own before the block's main write (the GitOps pause before a rollback's): held
    whole as in `deferred`, then a signal received during it stops the command at once, before the next step is
    written, and the block's next write is again its first (`before_write`)."""
    with deferred():
        yield
    blocks = _held()
    if blocks:  # within a block: end this step of it
        blocks[-1].written = False
    before_write(changes=False)


def before_write(changes: bool) -> None:
    """Called by the API seam before each write (`changes`: not a dry run). Told to stop before the first write that
    changes something, the command stops there, nothing changed; from that write on, a `deferred` block finishes
    what it must write with it."""
    unless_written()
    blocks = _held()
    if blocks:
        blocks[-1].written_before_last = blocks[-1].written
        blocks[-1].written = blocks[-1].written or changes


def unless_written() -> None:
    """Told to stop while the `deferred` block has written nothing yet (or outside any block), stop here: before a
    write, and before a retry of a step whose write was refused (409)."""
    blocks = _held()
    if not blocks:
        check()
        return
    if not blocks[-1].written:
        blocks[-1].raise_pending()  # the main thread's signals, held
        check()  # another thread's stop


def refused() -> None:
    """The API server answered the last write with a refusal (a 409 Conflict, a 403...): it changed nothing, so it is
    not the block's first write, and a stop told during it still stops the block before its next one (a 409's
    retry would otherwise write after the command was told to stop, over a change it never showed)."""
    blocks = _held()
    if blocks:
        blocks[-1].written = blocks[-1].written_before_last
