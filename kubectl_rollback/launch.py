"""The entry points of the console scripts and of `python -m kubectl_rollback`. They import the command line
themselves, so that a Ctrl-C while Python is still importing it (a second or more on a slow machine) ends as every
Ctrl-C does: one line, exit 130, no traceback."""

from __future__ import annotations

import signal
import sys
from typing import List, Optional

from kubectl_rollback import console

INTERRUPTED = 130  # errors.ExitCode.INTERRUPTED, which this module does not import: it is what may be interrupted


def plugin() -> None:
    """kubectl-harness-rollback, kubectl-harness_rollback."""
    if sys.argv[1:2] == ["watch"] and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started with SIGINT ignored (a background job of a shell script): `watch` stops on SIGINT once it runs
        # (commands/watch.py), so one sent while it is still starting up must not be dropped (it ran on for good).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from kubectl_rollback.cli import main
    except KeyboardInterrupt:
        console.error("interrupted")
        sys.exit(INTERRUPTED)
    main()


def completer(argv: Optional[List[str]] = None) -> None:
    """kubectl_complete-harness_rollback: kubectl ignores a completer that fails, so an interrupt says nothing."""
    try:
        from kubectl_rollback.completion import main
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    main(argv)
