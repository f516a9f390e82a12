"""Ctrl-C held back across a step it must not split: a write and what must be said or written with it."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT held: a Ctrl-C during it is raised as KeyboardInterrupt once it has ended (an error
    it ends with goes first: the command ends with it anyway). Only the main thread receives signals, and only where
    a Ctrl-C is a KeyboardInterrupt (not in `watch`, which stops on it in its own time); elsewhere the block runs as
    it is."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:  # watch handles it itself
        yield
        return
    pending: List[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
