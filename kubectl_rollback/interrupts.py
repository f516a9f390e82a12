"""Ctrl-C (and SIGTERM, which the command line handles as Ctrl-C) held back across a step it must not split: a write
and what must be said or written with it."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held: one received during it is handled as it would have been (a
    KeyboardInterrupt) once the block has ended (an error it ends with goes first: the command ends with it anyway).
    Only the main thread receives signals, and only where Ctrl-C is a KeyboardInterrupt (not in `watch`, which stops
    on them in its own time); elsewhere the block runs as it is."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:  # watch handles them itself
        yield
        return
    pending: List[int] = []
    previous: Dict[int, Any] = {}
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
        if callable(signal.getsignal(signum)):  # a handler of Python's or ours: not SIG_DFL, not SIG_IGN
            previous[signum] = signal.signal(signum, lambda received, frame: pending.append(received))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        previous[pending[0]](pending[0], None)  # as if it came now: raises KeyboardInterrupt
