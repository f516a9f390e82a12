#!/usr/bin/env python3
"""Start-up of krew archives side by side: each archive's zipapp run through kubectl, as a krew user runs it.

    python packaging/bench_dist.py [--reps 9] [--python DIR] LABEL=ARCHIVE.tar.gz [LABEL=ARCHIVE.tar.gz ...]

Each archive is unpacked into its own folder (what krew does), then `kubectl harness-rollback --help` and
`kubectl harness-rollback history deployment/x` (make bench's case 2: a Deployment with 10 recorded revisions on
the real test control plane) are timed with that folder first on PATH: one warm-up run each (the zipapp unpacks
itself into its own $XDG_CACHE_HOME on its first run, as a user's first run does), then --reps runs interleaved
across the archives, so load from elsewhere on the machine hits them alike. The medians go to stdout as a markdown
table. --python puts a folder holding the `python3` to run the zipapps with first on PATH (e.g. the oldest
supported Python, from packaging/oldest_python.sh).

The cluster and the measuring come from benchmarks/run.py (`make bench`); this writes no file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402
    Bench,
    BenchmarkBroke,
    BenchPlane,
    fmt_seconds,
    history_case,
    preflight,
    progress,
    run_once,
    table,
)

NAMESPACE = "bench-dist"
REVISIONS = 10


def unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/" in member.name:
                raise BenchmarkBroke(f"{archive}: unexpected member {member.name!r}")
            target = into / member.name
            target.write_bytes(tar.extractfile(member).read())
            target.chmod(member.mode)
    return into


def measure(bench: Bench, archives: dict, reps: int, python_dir: str, workdir: Path) -> dict:
    """{(label, what): [seconds]}, the warm-up runs as "first <what>"; a failed run breaks the benchmark."""
    commands = {"--help": ["--help"], "history": ["history", "deployment/x", "-n", NAMESPACE]}
    envs = {}
    for label, archive in archives.items():
        folder = unpack(archive, workdir / label)
        path = os.pathsep.join(p for p in [python_dir, str(folder), bench.env["PATH"]] if p)
        envs[label] = dict(bench.env, PATH=path, XDG_CACHE_HOME=str(workdir / f"{label}-cache"))
    times: dict = {}
    for rep in range(reps + 1):  # run 0 is the warm-up
        for what, args in commands.items():
            for label, env in envs.items():
                run = run_once([bench.kubectl, "harness-rollback", *args], env)
                if run.returncode != 0:
                    raise BenchmarkBroke(f"{label} {what}: {run.first_error_line()}")
                times.setdefault((label, what if rep else f"first {what}"), []).append(run.seconds)
        progress(f"run {rep}/{reps}" if rep else "warm-up done")
    return times


def main(argv: list = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archives", nargs="+", metavar="LABEL=ARCHIVE", help="a krew archive and its name in the table")
    parser.add_argument("--reps", type=int, default=9, help="timed runs per command and archive (default 9)")
    parser.add_argument("--python", default="", help="a folder whose python3 runs the zipapps (default: PATH's)")
    args = parser.parse_args(argv)
    archives = {}
    for item in args.archives:
        label, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            parser.error(f"{item!r}: expected LABEL=ARCHIVE.tar.gz, with an archive that exists")
        archives[label] = Path(path)
    with tempfile.TemporaryDirectory(prefix="khr-bench-dist-") as tmp:
        workdir = Path(tmp)
        plane = BenchPlane(workdir / "plane")
        try:
            preflight()
            plane.start()
            bench = Bench(plane, workdir)
            history_case(bench, NAMESPACE, REVISIONS)  # make bench's case 2 Deployment; its Case is not needed
            python = bench.check(*(["env", f"PATH={args.python}"] if args.python else []), "python3", "--version")
            times = measure(bench, archives, args.reps, args.python, workdir)
        except BenchmarkBroke as exc:
            progress(f"the benchmark broke: {exc}")
            return 1
        finally:
            plane.stop()
        unpacked = {label: sum(f.stat().st_size for f in (workdir / f"{label}-cache").rglob("*") if f.is_file())
                    for label in archives}
    columns = ("first --help", "--help", "history")
    rows = [[label, f"{archive.stat().st_size:,} B", f"{unpacked[label]:,} B",
             *(fmt_seconds(statistics.median(times[(label, what)])) for what in columns)]
            for label, archive in archives.items()]
    print(f"Through kubectl, {python.strip()}; the first --help unpacks the zipapp into an empty cache; the others "
          f"are medians of {args.reps} runs:\n")
    print("\n".join(table(["archive", "size", "unpacked cache", "first --help", "--help",
                            f"history ({REVISIONS} revisions)"], rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
