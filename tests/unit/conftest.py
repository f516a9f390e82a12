"""Fixtures of the unit tests that run through the in-memory API (tests/fakekube.py)."""

from __future__ import annotations

import signal

import pytest

from kubectl_rollback import interrupts, kube
from tests.fakekube import FakeKube


@pytest.fixture
def fake(monkeypatch) -> FakeKube:
    """A fresh fake cluster, namespace "ns". retry_on_conflict's pause between attempts is made zero: the races here
    are staged, not timed."""
    monkeypatch.setattr(kube, "_backoff", lambda attempt: 0.0)
    return FakeKube(namespace="ns")


@pytest.fixture(autouse=True)
def signal_handlers_as_they_were():
    """A test that runs the command line in this process (cli.main installs its SIGINT/SIGTERM handler, which
    remembers what it receives) leaves the next test Python's handlers and nothing remembered."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    interrupts.install()  # a new command starts told nothing
    for signum, handler in previous.items():
        signal.signal(signum, handler)
