"""watch: run the watcher until SIGTERM/SIGINT (kubectl_rollback/watcher does the work; this wires it up)."""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import threading
from typing import Any, Optional

from kubectl_rollback.kube import Kube
from kubectl_rollback.options import WatchRequest
from kubectl_rollback.watcher import reaction
from kubectl_rollback.watcher.lease import Elector
from kubectl_rollback.watcher.log import DecisionLog
from kubectl_rollback.watcher.loop import Health, Watcher
from kubectl_rollback.watcher.metrics import Metrics

RELEASE_SECONDS = 3.0  # how long giving the Lease up may hold the exit
SIGNAL_POLL_SECONDS = 0.5  # how soon the main loop acts on SIGINT/SIGTERM


def run(kube: Kube, request: WatchRequest) -> None:
    stop = threading.Event()
    signalled = Signalled()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signalled)
    log = DecisionLog(request.log_format)
    metrics = Metrics()
    settings = reaction.Settings(request.flags, kube.cluster_name, request.progress_deadline, request.auto_rollback)
    elector: Optional[Elector] = None
    if request.leader_elect:
        identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}-{secrets.token_hex(3)}"
        elector = Elector(kube, request.lease_name, identity, request.lease_duration, lambda _: None)
    watcher = Watcher(kube, settings, request.all_namespaces, log, metrics,
                      is_leader=elector.holds if elector else (lambda: True))
    if request.health_address is not None:
        from kubectl_rollback.watcher.serve import serve

        serve(request.health_address, metrics, functools.partial(health, watcher, elector, request.lease_name))
    scope = "all namespaces" if request.all_namespaces else f"namespace {kube.namespace}"
    watcher.start(stop)
    log.line("started", scope=scope, auto_rollback=str(request.auto_rollback).lower(),
             leader_election=str(request.leader_elect).lower())
    if elector is None:
        metrics.leader.set(1)
        watcher.enqueue_all()
    else:
        def leadership(leader: bool, elector: Any = elector) -> None:
            metrics.leader.set(1 if leader else 0)
            log.line("leader" if leader else "follower", identity=elector.identity, lease=request.lease_name)
            if leader:  # whatever happened while another replica led (or nobody did) is reconciled now
                watcher.enqueue_all()

        elector.on_change = leadership
        elector.on_problem = lambda why: log.line("error", lease=request.lease_name, why=f"cannot take the lease: "
                                                                                            f"{why}")
        threading.Thread(target=elector.run, args=(stop,), name="lease", daemon=True).start()
    while not (stop.wait(SIGNAL_POLL_SECONDS) or signalled.received):
        pass
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Stopping (bounded, within 5 s): more signals change nothing. Ignored rather than left to the handler:
        # Python puts the default action back on a signal it handles while it shuts down, so a repeated Ctrl-C or
        # TERM then killed the exit itself (status 130/143 where 0 is documented).
        signal.signal(signum, signal.SIG_IGN)
    stop.set()
    if elector is not None:
        # Bounded: through a dead connection the release would take a whole request timeout; the Lease then
        # expires by itself, and the process still exits within 5 s.
        releasing = threading.Thread(target=elector.release, name="release", daemon=True)
        releasing.start()
        releasing.join(RELEASE_SECONDS)
    log.line("stopped", scope=scope)



def health(watcher: Watcher, elector: Optional[Elector], lease_name: str) -> Health:
    """The watcher's health; not ready either while the Lease cannot be read or written (a replica that can never
    lead is not serving)."""
    seen = watcher.health()
    if elector is not None and elector.problem is not None:
        return Health(False, seen.alive, f"lease {lease_name}: {elector.problem}")
    return seen


class Signalled:
    """SIGINT/SIGTERM, as a flag the main loop turns into `stop` (within SIGNAL_POLL_SECONDS). The handler takes no
    lock: it runs in the main thread between any two bytecodes, also while that thread holds one of threading's own
    non-reentrant locks (the Event's inside stop.wait(), the one Thread.start() takes), and taking it there again
    hung the process until SIGKILL (seen 1 Ctrl-C in 14, with Event.set() and then with Thread.start())."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, *_: Any) -> None:
        self.received = True
