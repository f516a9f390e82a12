"""The entry points of the console scripts and of `python -m kubectl_rollback`. They import the command line
themselves, so that a Ctrl-C while Python is still importing it (a second or more on a slow machine) ends as every
Ctrl-C does: one line, exit 130, no traceback. `--help` and `--version` are printed from helpcache.py when an
earlier run printed them: without the command line's imports, they start as fast as Python does."""

from __future__ import annotations

import sys

from kubectl_rollback import console, helpcache

TYPE_CHECKING = False  # not typing's: importing typing costs as much as the rest of a kept --help
if TYPE_CHECKING:
    from typing import List, Optional

INTERRUPTED = 130  # errors.ExitCode.INTERRUPTED, which this module does not import: it is what may be interrupted


def plugin() -> None:
    """kubectl-harness-rollback, kubectl-harness_rollback."""
    args = sys.argv[1:]
    if args[:1] == ["watch"]:
        import signal  # here, not above: its enums would cost a kept --help a tenth of its time

        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            # Started with SIGINT ignored (a background job of a shell script): `watch` stops on SIGINT once it runs
            # (commands/watch.py), so one sent while it is still starting up must not be dropped (it ran on for good).
            signal.signal(signal.SIGINT, signal.default_int_handler)
    cacheable = helpcache.cacheable(args)
    try:
        kept = helpcache.lookup(args) if cacheable else None
        if kept is not None:
            sys.stdout.write(kept)
            sys.exit(0)
        from kubectl_rollback.cli import main
    except KeyboardInterrupt:
        console.error("interrupted")
        _interrupted_document(args)
        sys.exit(INTERRUPTED)
    if not cacheable:
        main()
        return
    recorder = helpcache.Recorder(sys.stdout)
    sys.stdout = recorder  # it writes through to the real one
    try:
        main()
    except SystemExit as end:
        if end.code in (0, None) and recorder.text():
            helpcache.store(args, recorder.text())
        raise
    finally:
        sys.stdout = recorder.stream


def _interrupted_document(args: List[str]) -> None:
    """A Ctrl-C while the command line was being imported still prints the -o json|yaml document a script waits
    for: the import it cut short is done again (a second Ctrl-C ends it with the line alone)."""
    if not any(arg.startswith(("-o", "--output")) for arg in args):
        return
    try:
        from kubectl_rollback import cli

        cli.stopped_document(args)
    except KeyboardInterrupt:
        pass


def completer(argv: Optional[List[str]] = None) -> None:
    """kubectl_complete-harness_rollback: kubectl ignores a completer that fails, so an interrupt says nothing."""
    try:
        from kubectl_rollback.completion import main
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    main(argv)
