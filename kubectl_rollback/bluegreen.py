"""Blue/Green as Harness lays it out, as pure decisions over plain objects.

Two Deployments, one per colour, whose pod templates carry `harness.io/color: blue|green`; a primary Service (the
live colour) and a stage Service whose selectors differ only in that label. A rollback routes the primary back to
the other colour ("rapid rollback"): nothing is redeployed.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from kubectl_rollback.decide import Revision, barrier_before, mismatch
from kubectl_rollback.errors import NoTargetError, RollbackError, UsageError
from kubectl_rollback.marks import Barrier
from kubectl_rollback.records import Identity, Status

COLOR_LABEL = "harness.io/color"
COLORS = ("blue", "green")
STAGE_ANNOTATION = "harness.io/stage-service"


@dataclasses.dataclass(frozen=True)
class Layout:
    primary: dict
    stage: dict
    live_color: str
    deployments: dict  # colour -> Deployment object (a colour may be missing)

    @property
    def stage_color(self) -> str:
        """The colour that is not live: where a rollback routes the primary."""
        return other(self.live_color)

    @property
    def stage_selects(self) -> Optional[str]:
        """The colour the stage Service selects now (the live colour too, after a swap that died halfway)."""
        return selector(self.stage).get(COLOR_LABEL)

    @property
    def half_switched(self) -> bool:
        """Both Services select the live colour: a switch was interrupted after the primary's write."""
        return self.stage_selects == self.live_color


def other(color: str) -> str:
    return COLORS[1 - COLORS.index(color)]


def selector(service: dict) -> dict:
    return dict((service.get("spec") or {}).get("selector") or {})


def without_color(labels: dict) -> dict:
    return {k: v for k, v in labels.items() if k != COLOR_LABEL}


def find_layout(primary: dict, services: Sequence[dict], deployments: Sequence[dict]) -> Layout:
    """The stage Service and each colour's Deployment for a primary Service, or an error saying what is off."""
    name = primary["metadata"]["name"]
    live_color = selector(primary).get(COLOR_LABEL)
    if live_color not in COLORS:
        raise UsageError(
            f'service/{name} does not select a colour (its selector has no {COLOR_LABEL}: blue|green); '
            "it is not the primary Service of a Blue/Green deployment"
        )
    base = without_color(selector(primary))
    primaries = _primaries_of(primary, base, services)
    if primaries:
        names = " or ".join(f"service/{p['metadata']['name']}" for p in primaries)
        raise UsageError(f"service/{name} is the stage Service of {names}: name the primary Service, which takes "
                         "the traffic")
    stage = _find_stage(primary, base, services)
    if stage is None:  # a missing object, as a missing workload is (exit 1), not a bad name
        raise RollbackError(
            f'no stage Service for service/{name}: expected one annotated {STAGE_ANNOTATION}: "true" with the same '
            f"selector apart from {COLOR_LABEL}, or one named {name}-stage; create it (or annotate yours), then run "
            "this again"
        )
    by_color = {}
    for color in COLORS:
        matching = [d for d in deployments if _serves(d, base, color)]
        if len(matching) > 1:
            names = ", ".join(sorted(d["metadata"]["name"] for d in matching))
            raise RollbackError(f"more than one Deployment serves the {color} colour of service/{name}: {names}")
        if matching:
            by_color[color] = matching[0]
    return Layout(primary, stage, live_color, by_color)


def _pair(service: dict, base: dict, services: Sequence[dict]) -> List[dict]:
    """The other Services that select the same pods as `service` apart from the colour."""
    name = service["metadata"]["name"]
    return [s for s in services
            if s["metadata"]["name"] != name and without_color(selector(s)) == base and COLOR_LABEL in selector(s)]


def _primaries_of(service: dict, base: dict, services: Sequence[dict]) -> List[dict]:
    """The primary Services `service` is the stage of (annotated so, or named after one of them), else []."""
    name = service["metadata"]["name"]
    others = [s for s in _pair(service, base, services) if _annotation(s, STAGE_ANNOTATION) != "true"]
    if _annotation(service, STAGE_ANNOTATION) == "true":
        return others
    return [s for s in others if f"{s['metadata']['name']}-stage" == name]


def _find_stage(primary: dict, base: dict, services: Sequence[dict]) -> Optional[dict]:
    name = primary["metadata"]["name"]
    candidates = _pair(primary, base, services)
    annotated = [s for s in candidates if _annotation(s, STAGE_ANNOTATION) == "true"]
    if annotated:
        return annotated[0]
    return next((s for s in candidates if s["metadata"]["name"] == f"{name}-stage"), None)


def _serves(deployment: dict, base: dict, color: str) -> bool:
    labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(COLOR_LABEL) == color and all(labels.get(k) == v for k, v in base.items())


def _annotation(obj: dict, key: str) -> Optional[str]:
    return (obj["metadata"].get("annotations") or {}).get(key)


def ready_addresses(endpoints: Optional[dict]) -> list:
    """The IPs of the Ready endpoints in an Endpoints object."""
    subsets = (endpoints or {}).get("subsets") or []
    return sorted(a["ip"] for s in subsets for a in s.get("addresses") or [] if a.get("ip"))


def selector_patch(service: dict, color: str, annotations: Optional[dict] = None) -> dict:
    """A merge patch moving the Service's colour, preconditioned on the resourceVersion we read."""
    metadata: dict = {"resourceVersion": service["metadata"]["resourceVersion"]}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": {"selector": {COLOR_LABEL: color}}}


def choose_color(
    layout: Layout, live: Optional[Revision], candidate: Optional[Revision], identity: Identity,
    barriers: Sequence[Barrier] = (),
) -> Optional[str]:
    """The colour to route the primary back to, or None when the live colour is already the last successful one.
    Raises NoTargetError when the other colour cannot be the target, saying why: as for KIND/NAME, a revision marked
    bad or behind one of its Deployment's `barriers` is never a target."""
    if (live is not None and live.record.status is Status.SUCCEEDED and live.marked_bad is None
            and mismatch(live, identity) is None):
        return None
    color = layout.stage_color
    deployment = layout.deployments.get(color)
    if deployment is None:
        raise NoTargetError(f"no Deployment serves the {color} colour, so there is nothing to route traffic back to")
    where = f"the {color} colour (deployment/{deployment['metadata']['name']}"
    if candidate is None:
        raise NoTargetError(f"{where}) has no revision for its current template yet")
    reason = mismatch(candidate, identity)
    if reason is None and candidate.record.status is not Status.SUCCEEDED:
        reason = f"recorded {candidate.record.status.value}"
    if reason is None and candidate.marked_bad is not None:
        reason = f"marked bad ({candidate.marked_bad.reason})"
    barrier = barrier_before(candidate, barriers)
    if reason is None and barrier is not None:
        reason = f"behind {barrier.describe()}"
    if reason is not None:
        raise NoTargetError(f"{where}, revision {candidate.number}) cannot be the rollback target: {reason}")
    return color
