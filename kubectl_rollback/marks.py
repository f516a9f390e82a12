"""What people learn about revisions after their rollout: a revision marked bad (`mark-bad`) and a barrier no rollback
goes behind (`barrier`, e.g. a schema migration). Pure: the annotation keys, their JSON values and the rule of which
revisions a barrier forbids (docs/annotations.md).

A mark and a barrier name who set them and why. A barrier is kept twice: on its revision object, and in a list on
the workload (revision number and template hash), so that pruning the revision object does not lift it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

from kubectl_rollback.records import PREFIX, _clean

MARKED_BAD = PREFIX + "marked-bad"  # on a revision object: JSON {reason, by, at}
BARRIER = PREFIX + "barrier"  # on a revision object: JSON {revision, templateHash, reason, by, at}
BARRIERS = PREFIX + "barriers"  # on the workload: a JSON list of the same objects, one per barrier
BARRIER_CROSSED = PREFIX + "barrier-crossed"  # on a rollback's target: JSON {barrier, reason, by, at}
# On the revision `rollback --pin-digests` made: JSON {revision, templateHash, copyHash} (copyHash: its own hash).
PINNED_FROM = PREFIX + "pinned-from"

# The keys that belong on a revision object only (the controllers copy a workload's annotations onto its revisions).
REVISION_KEYS = (MARKED_BAD, BARRIER, BARRIER_CROSSED, PINNED_FROM)


@dataclasses.dataclass(frozen=True)
class PinnedOrigin:
    """The revision a `rollback --pin-digests` copy runs the recorded bytes of: its first number and template hash.
    The copy is that revision under another template hash (the images carry digests), so it stands where the origin
    stands: behind the same barriers, under the same mark."""

    revision: int
    template_hash: str

    def data(self, copy_hash: str) -> dict:
        return {"revision": self.revision, "templateHash": self.template_hash, "copyHash": copy_hash}


def parse_pinned_from(annotations: Optional[Mapping[Any, Any]], template_hash: str) -> Optional[PinnedOrigin]:
    """The origin a pinned copy names, or None: no key, one that cannot be read (then only its own number and
    template place it), or one whose copyHash is another's (copied onto it by `kubectl rollout undo` and the
    controller: it is not a copy of anything)."""
    value = _json((annotations or {}).get(PINNED_FROM))
    if not isinstance(value, Mapping) or value.get("copyHash") != template_hash:
        return None
    if not isinstance(value.get("revision"), int) or not isinstance(value.get("templateHash"), str):
        return None
    return PinnedOrigin(value["revision"], value["templateHash"])


@dataclasses.dataclass(frozen=True)
class Stamp:
    """Why, by whom (the API server's user name; None where it cannot say) and when."""

    reason: str
    by: Optional[str]
    at: str

    def describe(self) -> str:
        return f"{self.reason}; set by {self.by or 'an unknown user'} at {self.at}"


@dataclasses.dataclass(frozen=True)
class Barrier:
    revision: int
    template_hash: str
    stamp: Stamp
    # The template hashes of the revisions older than the barrier when it was set. A StatefulSet's ControllerRevision
    # that a rollback brings back is renumbered and keeps no former numbers (a Deployment's ReplicaSet keeps them in
    # revision-history): its hash is what still says it lies behind.
    behind: Tuple[str, ...] = ()

    def describe(self) -> str:
        return f"the barrier at revision {self.revision} ({self.stamp.reason})"

    def data(self) -> dict:
        behind = {"behind": list(self.behind)} if self.behind else {}
        return {"revision": self.revision, "templateHash": self.template_hash, **behind, **stamp_data(self.stamp)}

    def forbids(self, numbers: Sequence[int], template_hashes: Sequence[str]) -> bool:
        """Whether a revision lies behind this barrier, given the numbers it was deployed under (counting those a
        rollback renumbered it from and, for a pinned copy, its origin's) and its template hashes (a pinned copy's
        and its origin's): it is not the barrier's own template, and it was first deployed before the barrier's
        revision or was one of the templates behind it when the barrier was set."""
        if self.template_hash in template_hashes:
            return False
        return min(numbers) < self.revision or any(h in self.behind for h in template_hashes)


@dataclasses.dataclass(frozen=True)
class Crossing:
    """A rollback that goes behind a barrier (--override-barrier --reason TEXT)."""

    barrier: Barrier
    reason: str


def crossing_annotations(crossing: Optional[Crossing], whoami: Callable[[], Optional[str]], at: str) -> dict:
    """The target's audit of a crossing: which barrier, why, by whom and when (none without a crossing)."""
    if crossing is None:
        return {}
    return {BARRIER_CROSSED: encode({"barrier": crossing.barrier.revision, "reason": crossing.reason,
                                     "by": whoami(), "at": at})}


def stamp_data(stamp: Stamp) -> dict:
    return {"reason": stamp.reason, "by": stamp.by, "at": stamp.at}


def _stamp(value: Any) -> Optional[Stamp]:
    if not isinstance(value, Mapping):
        return None
    reason, by, at = (_clean(key, value.get(key), []) for key in ("reason", "by", "at"))
    return Stamp(reason, by, at) if reason and at else None


def _barrier(value: Any) -> Optional[Barrier]:
    stamp = _stamp(value)
    if stamp is None or not isinstance(value.get("revision"), int) or not isinstance(value.get("templateHash"), str):
        return None
    behind = value.get("behind", [])
    if not isinstance(behind, list) or not all(isinstance(h, str) for h in behind):
        return None
    return Barrier(value["revision"], value["templateHash"], stamp, tuple(behind))


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


UNREADABLE = "unreadable: not written by mark-bad or barrier"


def parse_marked_bad(annotations: Optional[Mapping[Any, Any]]) -> Optional[Stamp]:
    """The mark on a revision object's annotations, or None. A mark that cannot be read still marks the revision bad:
    whoever wrote it meant to keep rollbacks away from it."""
    value = (annotations or {}).get(MARKED_BAD)
    if value is None:
        return None
    return _stamp(_json(value)) or Stamp(f"{MARKED_BAD} {UNREADABLE}", None, "")


def parse_revision_barrier(annotations: Optional[Mapping[Any, Any]], number: int,
                           template_hash: str) -> Optional[Barrier]:
    """The barrier a revision object carries for itself: one whose template hash is another's was copied onto it
    (by `kubectl rollout undo` and the controller) and is not its own. One that cannot be read is taken as a
    barrier at this revision: a barrier is never lifted by damage."""
    value = (annotations or {}).get(BARRIER)
    if value is None:
        return None
    barrier = _barrier(_json(value))
    if barrier is None:
        return Barrier(number, template_hash, Stamp(f"{BARRIER} {UNREADABLE}", None, ""))
    return barrier if barrier.template_hash == template_hash else None


def parse_workload_barriers(annotations: Optional[Mapping[Any, Any]]) -> Tuple[List[Barrier], Optional[str]]:
    """The barriers listed on the workload, and what is wrong with the list when it cannot be read (then no
    rollback target can be trusted: which revisions it forbids is unknown)."""
    value = (annotations or {}).get(BARRIERS)
    if value is None:
        return [], None
    listed = _json(value)
    barriers = [_barrier(item) for item in listed] if isinstance(listed, list) else [None]
    if any(b is None for b in barriers):
        return [], f"the workload's {BARRIERS} annotation is {UNREADABLE}; fix it or set the barriers again"
    return [b for b in barriers if b is not None], None


def merged(barriers: Iterable[Barrier]) -> List[Barrier]:
    """One barrier per revision number (the workload's and the revision's copies of it), newest first."""
    by_number: dict = {}
    for barrier in barriers:
        by_number.setdefault(barrier.revision, barrier)
    return sorted(by_number.values(), key=lambda b: b.revision, reverse=True)


def standing(workload_annotations: Optional[Mapping[Any, Any]],
             revision_barriers: Iterable[Optional[Barrier]]) -> Tuple[List[Barrier], Optional[str]]:
    """Every barrier that stands, newest first: the workload's list and the revisions' own copies, one per revision;
    and what is wrong with the workload's list when it cannot be read (parse_workload_barriers)."""
    listed, unreadable = parse_workload_barriers(workload_annotations)
    return merged([*listed, *(b for b in revision_barriers if b is not None)]), unreadable


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def workload_barriers_value(barriers: Sequence[Barrier]) -> Optional[str]:
    """The workload's annotation for `barriers` (None removes it)."""
    return encode([b.data() for b in sorted(barriers, key=lambda b: b.revision)]) if barriers else None
