"""Fixtures of the unit tests that run through the in-memory API (tests/fakekube.py)."""

from __future__ import annotations

import pytest

from kubectl_rollback import kube
from tests.fakekube import FakeKube


@pytest.fixture
def fake(monkeypatch) -> FakeKube:
    """A fresh fake cluster, namespace "ns". retry_on_conflict's pause between attempts is made zero: the races here
    are staged, not timed."""
    monkeypatch.setattr(kube, "_backoff", lambda attempt: 0.0)
    return FakeKube(namespace="ns")
