"""`make demo` is documentation that runs: it must keep working end to end."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster  # the demo starts a control plane of its own
ROOT = Path(__file__).resolve().parent.parent


def test_demo_walks_through_to_the_end():
    proc = subprocess.run([sys.executable, "-m", "tests.cluster.demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "recorded Failed" in out and "rolled back from revision 3" in out
    assert "nothing to do" in out
    assert "service/shop routed from green to blue" in out
    assert "demo complete." in out
