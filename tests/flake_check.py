"""`make flake-check`: the cluster tests RUNS times in a row, each run a fresh pytest session with its own control
plane, as CI runs them (CI=true: nothing may skip). Prints each run's counts and every failed, errored or skipped
test id; ends with how often each failing test failed, and exits 1 if any did. A test that fails once is a flake
to fix (docs/testing.md). Full output of every run is kept in a folder named at the start."""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[1]


def outcomes(junit: Path) -> Tuple[int, List[str], List[str]]:
    """(passed, failed or errored test ids, skipped test ids) from pytest's JUnit XML report."""
    passed, bad, skipped = 0, [], []
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            bad.append(test_id)
        elif "skipped" in kinds:
            skipped.append(test_id)
        else:
            passed += 1
    return passed, bad, skipped


def run_once(number: int, runs: int, logs: Path, pytest_args: List[str]) -> List[str]:
    """One pytest session over the cluster tests, its output shown and kept; returns what did not pass."""
    junit, log = logs / f"run-{number}.xml", logs / f"run-{number}.log"
    command = [sys.executable, "-m", "pytest", "-m", "cluster", "-p", "no:cacheprovider", "-q", "-rfEs",
               f"--junitxml={junit}", *pytest_args]
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, CI="true"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            out.write(line)
        proc.wait()
    minutes = (time.monotonic() - started) / 60
    if not junit.exists():
        print(f"== run {number}/{runs}: pytest exited {proc.returncode} without a report ({log})", flush=True)
        return [f"run {number}: pytest exited {proc.returncode}"]
    passed, bad, skipped = outcomes(junit)
    print(f"== run {number}/{runs}: {passed} passed, {len(bad)} failed, {len(skipped)} skipped in {minutes:.1f} min"
          f" (pytest exit {proc.returncode}; {log})", flush=True)
    for test_id in bad:
        print(f"==   FAILED  {test_id}", flush=True)
    for test_id in skipped:
        print(f"==   SKIPPED {test_id} (a cluster test must not skip)", flush=True)
    if proc.returncode not in (0, 1) and not bad:
        bad.append(f"run {number}: pytest exited {proc.returncode}")
    return bad + skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="how many runs in a row (default 5)")
    parser.add_argument("--stop", action="store_true", help="stop after the first run in which anything failed")
    args, pytest_args = parser.parse_known_args()  # the rest goes to pytest: -k EXPRESSION, a test file, ...
    logs = Path(tempfile.mkdtemp(prefix="flake-check-"))
    print(f"== {args.runs} runs of the cluster tests; output kept in {logs}", flush=True)
    failed: collections.Counter = collections.Counter()
    for number in range(1, args.runs + 1):
        bad = run_once(number, args.runs, logs, pytest_args)
        failed.update(bad)
        if bad and args.stop:
            args.runs = number
            break
    if not failed:
        print(f"== {args.runs} runs, no failure", flush=True)
        return 0
    print(f"== {args.runs} runs; not passing every time:", flush=True)
    for test_id, count in failed.most_common():
        print(f"==   {count}x {test_id}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
