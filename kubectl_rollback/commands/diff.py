"""`diff KIND/NAME [REV_A [REV_B]]`: what differs between two revisions of a workload: their pod templates, and the
ConfigMap and Secret snapshots both revisions recorded (docs/config-rollback.md). `live` and `target` name the live
revision and the rollback target, as `rollback --dry-run` picks it (the shared loader, commands/workload_history.py).

As `kubectl diff`: one file per object in two folders for the program KUBECTL_EXTERNAL_DIFF names, a unified diff
without it; exit 0 when equal, 1 when they differ, >1 on error (cli.py maps it). A Secret's values never leave this
module: both sides show a placeholder per key, the same where the value is the same, so only which keys changed shows.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from typing import Any, List, Optional, Sequence, Tuple

from kubectl_rollback import configrefs, console, render
from kubectl_rollback.commands import configsnap, workload_history
from kubectl_rollback.commands.workload_history import WorkloadHistory
from kubectl_rollback.decide import Revision, find_revision, snapshots_of
from kubectl_rollback.errors import RollbackError, UsageError
from kubectl_rollback.kube import Kube, Resource
from kubectl_rollback.options import IdentityFlags
from kubectl_rollback.output import Result
from kubectl_rollback.workloads.base import WorkloadKind

LIVE, TARGET = "live", "target"
EXTERNAL_DIFF = "KUBECTL_EXTERNAL_DIFF"
# kubectl keeps only these words of KUBECTL_EXTERNAL_DIFF after the program (its diff.go: no shell, no quoting).
_ARGUMENT = re.compile(r"^[a-zA-Z0-9-=]+$")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclasses.dataclass(frozen=True)
class Compared:
    """One object on both sides: `file` is kubectl diff's name for it (group.version.kind.namespace.name), the name
    it has in both folders: an external program pairs the files by name, as in kubectl diff's LIVE-* and MERGED-*."""

    file: str
    before: Any
    after: Any
    # When the sides are two objects (a Blue/Green pair's Deployments): each one's own name, for the unified diff
    names: Tuple[str, ...] = ()

    def name(self, side: int) -> str:
        """The file name of side 0 (before) or 1 (after) in the unified diff."""
        return self.names[side] if self.names else self.file

    @property
    def changed(self) -> Tuple[str, ...]:
        return tuple(changed_paths(self.before, self.after))


@dataclasses.dataclass(frozen=True)
class Side:
    revision: Revision
    role: str  # "live", "rollback target", or ""
    workload: str = ""  # service/NAME: the colour's Deployment the revision belongs to (deployment/NAME)
    colour: str = ""  # service/NAME: the colour of that Deployment

    @property
    def label(self) -> str:
        """What the side is: `revision 2 (live)`; of a Blue/Green pair, whose colours' revisions are often both
        number 1, `green (deployment/web-green revision 1, live)`."""
        if self.colour:
            role = f", {self.role}" if self.role else ""
            return f"{self.colour} ({self.workload} revision {self.revision.number}{role})"
        return f"revision {self.revision.number}" + (f" ({self.role})" if self.role else "")

    @property
    def folder(self) -> str:
        """Its files' folder for KUBECTL_EXTERNAL_DIFF (kubectl's are LIVE-* and MERGED-*), and its unified diff's
        file names: `REVISION-2`; of a Blue/Green pair, `GREEN-web-green-REVISION-1`."""
        colour = f"{self.colour.upper()}-{self.workload.partition('/')[2]}-" if self.colour else ""
        return f"{colour}REVISION-{self.revision.number}"


@dataclasses.dataclass(frozen=True)
class DiffResult(Result):
    display: str
    namespace: str
    before: Side
    after: Side
    objects: Tuple[Compared, ...]
    external: Optional[int] = None  # the exit code of KUBECTL_EXTERNAL_DIFF's program, which printed the diff itself
    skipped: Tuple[str, ...] = ()  # snapshots that could not be compared, and why

    @property
    def differ(self) -> bool:
        if self.external is not None:  # kubectl diff takes the program's word for it
            return self.external == 1
        return any(o.changed for o in self.objects)

    def table(self, wide: bool) -> str:
        return "" if self.external is not None else render.diff_text(self)

    def data(self) -> Any:
        return render.diff_dict(self)

    def notes(self) -> Sequence[str]:
        same = "" if self.differ else ": no difference"
        return [f"{self.display}: {self.before.label} against {self.after.label}{same}", *self.skipped]


def run(kube: Kube, kind: WorkloadKind, name: str, words: Sequence[str], flags: IdentityFlags,
        external: Optional[str] = None) -> DiffResult:
    """Compare the revisions `words` name (none: live against the target; one: live against it). With `external`
    (KUBECTL_EXTERNAL_DIFF's value) its program shows the difference and decides whether there is one."""
    history = workload_history.load(kube, kind, name, flags)
    before, after = sides(history, words)
    template = template_compared(kind, object_file(kind.resource, kube.namespace, name), before.revision,
                                 after.revision)
    return compare(kube, history.display, template, before, after, external)


def run_service(kube: Kube, name: str, words: Sequence[str], flags: IdentityFlags,
                external: Optional[str] = None) -> DiffResult:
    """service/NAME, a Blue/Green pair: the live colour's live revision against the other colour's, the rollback
    target colour where there is one (commands/bluegreen.py decides it as `rollback service/NAME` does)."""
    from kubectl_rollback.commands import bluegreen
    from kubectl_rollback.commands.bluegreen import DEPLOYMENT

    if words:
        raise UsageError(f"service/{name} compares its live colour with the other one and takes no revisions; to "
                         "compare revisions, diff one colour's Deployment")
    state = bluegreen.load(kube, name, flags)
    layout = state.layout
    colours = [state.colors.get(layout.live_color), state.colors.get(layout.stage_color)]
    if any(c is None or c.live is None for c in colours):
        raise RollbackError(f"service/{name}: each colour needs a Deployment with a live revision to compare "
                            f"(live {layout.live_color}, other {layout.stage_color})")
    live, other = colours
    assert live is not None and live.live is not None and other is not None and other.live is not None
    role = "rollback target" if state.target_color == layout.stage_color else ""
    # Two Deployments: the unified diff names each; in the external program's folders, which name them, the file
    # has one colour-neutral name, so that the program pairs the two (docs/bluegreen.md).
    names = tuple(object_file(DEPLOYMENT.resource, kube.namespace, c.display.partition("/")[2]) for c in (live, other))
    template = dataclasses.replace(
        template_compared(DEPLOYMENT, object_file(DEPLOYMENT.resource, kube.namespace, f"{name}-colour"),
                          live.live, other.live), names=names)
    return compare(kube, f"service/{name}", template, Side(live.live, "live", live.display, layout.live_color),
                   Side(other.live, role, other.display, layout.stage_color), external)


def compare(kube: Kube, display: str, template: Compared, before: Side, after: Side,
            external: Optional[str]) -> DiffResult:
    """The templates (`template`) and the snapshots both sides recorded, then the external program."""
    objects = [template]
    skipped = []
    for pair in snapshot_pairs(before.revision, after.revision, kube.namespace):
        try:
            objects.append(read_snapshots(kube, pair))
        except RollbackError as exc:
            skipped.append(f"{pair.ref.key} not compared: {exc.message}")
    result = DiffResult(display, kube.namespace, before, after, tuple(objects), skipped=tuple(skipped))
    if external:
        result = dataclasses.replace(result, external=run_external(external, result))
    return result


def sides(history: WorkloadHistory, words: Sequence[str]) -> Tuple[Side, Side]:
    """The two revisions compared: none named, live against the rollback target; one, live against it."""
    if len(words) > 2:
        raise UsageError(f"diff compares two revisions; {len(words)} were given ({' '.join(words)})")
    named = {0: (LIVE, TARGET), 1: (LIVE, *words)}.get(len(words), tuple(words))
    return _side(history, named[0]), _side(history, named[1])


def _side(history: WorkloadHistory, word: str) -> Side:
    if word == LIVE:
        if history.live is None:
            raise RollbackError(f"{history.display} runs a template no revision object holds (a rollout just "
                                "started?); name two revision numbers")
        revision = history.live
    elif word == TARGET:
        if history.target is None:
            assert history.problem is not None  # the loader keeps why there is no target
            raise history.problem
        revision = history.target
    elif word.isdigit() and int(word) > 0:
        revision, renumbered = find_revision(history.revisions, int(word))
        if renumbered:
            console.warn(renumbered)
    else:
        raise UsageError(f"{word!r} names no revision: pass a revision number (as history shows it), live or target")
    target = history.target
    return Side(revision, "live" if revision.live else "rollback target" if target is not None
                and revision.number == target.number else "")


def object_file(resource: Resource, namespace: str, name: str) -> str:
    """kubectl diff's file name of an object: group.version.kind.namespace.name (a core object: version.kind...)."""
    return ".".join(filter(None, (resource.group, resource.version, resource.kind, namespace, name)))


def template_compared(kind: WorkloadKind, file: str, before: Revision, after: Revision) -> Compared:
    """The pod templates, where the workload keeps them (spec.template), so the paths read as in the manifest."""

    def placed(template: Any) -> dict:
        placed_at: Any = kind.comparable(template)
        for key in reversed(kind.template_path):
            placed_at = {key: placed_at}
        return placed_at

    return Compared(file, placed(before.template), placed(after.template))


@dataclasses.dataclass(frozen=True)
class SnapshotPair:
    ref: configrefs.ConfigRef
    file: str
    before: str  # the snapshots' object names
    after: str


def snapshot_pairs(before: Revision, after: Revision, namespace: str) -> List[SnapshotPair]:
    """The objects both revisions snapshotted (an object only one of them read is in the template's diff)."""
    theirs = {e.ref: e.snapshot for e in snapshots_of(after) if e.snapshot}
    return [SnapshotPair(e.ref, object_file(configsnap.resource_of(e.ref), namespace, e.ref.name), e.snapshot,
                         theirs[e.ref])
            for e in snapshots_of(before) if e.snapshot and e.ref in theirs]


def read_snapshots(kube: Kube, pair: SnapshotPair) -> Compared:
    resource = configsnap.resource_of(pair.ref)
    before = configrefs.content(pair.ref.kind, kube.get(resource, pair.before))
    after = before if pair.after == pair.before else configrefs.content(pair.ref.kind, kube.get(resource, pair.after))
    if pair.ref.kind == configrefs.SECRET:
        before, after = masked(before, after)
    return Compared(pair.file, before, after)


def masked(before: dict, after: dict) -> Tuple[dict, dict]:
    """A Secret's content with each value replaced by a placeholder: the same on both sides where the value is the
    same, `(before)`/`(after)` where it changed. Its type stays (not secret)."""

    def hide(mine: dict, other: dict, side: str) -> dict:
        return {key: "(hidden)" if other.get(key) == value else f"(hidden, {side})" for key, value in mine.items()}

    def side(mine: dict, other: dict, name: str) -> dict:
        hidden = {field: hide(mine.get(field) or {}, other.get(field) or {}, name)
                  for field in ("data", "binaryData")}
        return {**mine, **hidden}

    return side(before, after, "before"), side(after, before, "after")


def changed_paths(before: Any, after: Any, path: str = "") -> List[str]:
    """Where two objects differ, as paths (spec.template.spec.containers[web].image); a list of named items (containers,
    env, volumes) by name, other lists by index."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [p for key in sorted(set(before) | set(after), key=str)
                for p in changed_paths(before.get(key), after.get(key), _child(path, str(key)))]
    if isinstance(before, list) and isinstance(after, list):
        named_before, named_after = _by_name(before), _by_name(after)
        if named_before is not None and named_after is not None:
            return [p for key in sorted(set(named_before) | set(named_after))
                    for p in changed_paths(named_before.get(key), named_after.get(key), f"{path}[{key}]")]
        return [p for i in range(max(len(before), len(after)))
                for p in changed_paths(before[i] if i < len(before) else None,
                                       after[i] if i < len(after) else None, f"{path}[{i}]")]
    return [] if before == after else [path or "."]


def _child(path: str, key: str) -> str:
    part = key if _PLAIN_KEY.match(key) else f'["{key}"]'
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}" if path else part


def _by_name(items: list) -> Optional[dict]:
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if not items or None in names or len(set(names)) != len(names):
        return None
    return dict(zip(names, items))


# -- KUBECTL_EXTERNAL_DIFF ---------------------------------------------------------------------------------------


def external_command(value: str, before: str, after: str) -> List[str]:
    """The command kubectl diff runs for KUBECTL_EXTERNAL_DIFF: its first word is the program, the two folders come
    next, then its other words that are made of letters, digits, '-' and '=' only (kubectl drops the rest)."""
    program, *words = value.split(" ")
    return [program, before, after, *(w for w in words if _ARGUMENT.match(w))]


def run_external(value: str, result: DiffResult) -> int:
    """Write one file per object into two folders and run the program on them; its 0 or 1 is the verdict, anything
    else an error (kubectl's rule)."""
    import yaml

    with tempfile.TemporaryDirectory(prefix="harness-rollback-diff-") as scratch:
        folders = []
        for side, attribute in ((result.before, "before"), (result.after, "after")):
            folder = tempfile.mkdtemp(prefix=side.folder + "-", dir=scratch)  # two folders even for `2 2`
            for compared in result.objects:
                with open(os.path.join(folder, compared.file), "w", encoding="utf-8") as out:
                    out.write(yaml.safe_dump(getattr(compared, attribute), sort_keys=True, default_flow_style=False))
            folders.append(folder)
        command = external_command(value, *folders)
        try:
            code = subprocess.run(command, check=False).returncode
        except OSError as exc:
            raise RollbackError(f"{EXTERNAL_DIFF}={value!r}: cannot run {command[0]}: {exc.strerror}; fix or unset "
                                f"{EXTERNAL_DIFF}") from None
    if code not in (0, 1):
        raise RollbackError(f"{EXTERNAL_DIFF}={value!r}: {command[0]} failed (exit {code})")
    return code

