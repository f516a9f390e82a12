"""Image digests of a revision (issue 22 item 2), pure: what the kubelet reports in its pods'
`status.containerStatuses[].imageID`, kept on the revision at record time, so that a tag pushed again is noticed
at rollback (and can be pinned: `rollback --pin-digests`). docs/annotations.md has the keys."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from kubectl_rollback.records import PREFIX

DIGESTS = PREFIX + "digests"  # JSON {container name: "repo@sha256:..."}, the containers whose digest is known
DIGESTS_NOTE = PREFIX + "digests-note"  # why the other containers have none
_SHA256 = "@sha256:"


def repository_digest(image_id: Any) -> Optional[str]:
    """`repo@sha256:...` from an imageID as runtimes report it (`docker-pullable://repo@sha256:...`,
    `repo@sha256:...`); None for one with no repository digest (`sha256:...`, a local image) or none at all."""
    if not isinstance(image_id, str):
        return None
    value = image_id.split("://", 1)[-1]
    return value if _SHA256 in value and not value.startswith(_SHA256[1:]) else None


def from_pods(containers: Sequence[str], pods: Sequence[dict]) -> Tuple[Dict[str, str], List[str]]:
    """Each container's digest as every pod running it reports it, and a note for each container that gets none
    (no pod reports a repository digest, or the pods disagree: a tag pushed again while they started)."""
    digests: Dict[str, str] = {}
    notes: List[str] = []
    for name in containers:
        seen = set()
        for pod in pods:
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            seen |= {repository_digest(s.get("imageID")) for s in statuses if s.get("name") == name}
        found = {d for d in seen if d}
        if len(found) > 1:
            notes.append(f"container {name}: its pods run {len(found)} different digests")
        elif found and None in seen:
            notes.append(f"container {name}: some of its pods report no repository digest")
        elif found:
            digests[name] = found.pop()
        else:
            notes.append(f"container {name}: " + ("no pod reports a repository digest" if pods else "no pod runs"))
    return digests, notes


def digest_annotations(digests: Mapping[str, str], notes: Sequence[str]) -> dict:
    """The record's digest keys (None removes one)."""
    return {DIGESTS: json.dumps(dict(sorted(digests.items())), separators=(",", ":")) if digests else None,
            DIGESTS_NOTE: "; ".join(notes) or None}


def parse(annotations: Optional[Mapping[Any, Any]]) -> Dict[str, str]:
    """The digests a revision object keeps: container name -> repo@sha256:... (nothing unreadable)."""
    try:
        value = json.loads((annotations or {})[DIGESTS])
    except (KeyError, TypeError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and repository_digest(v) == v}


def containers(template: Any) -> List[Tuple[str, str]]:
    """(name, image) of each container and init container of a pod template."""
    spec = (template or {}).get("spec") or {}
    return [(c.get("name", ""), c.get("image", "")) for c in (spec.get("initContainers") or [])
            + (spec.get("containers") or [])]


def tag_moves(target_template: Any, target_digests: Mapping[str, str],
              newer: Sequence[Tuple[int, Any, Mapping[str, str]]]) -> List[str]:
    """Warnings for each image of the target whose recorded digest differs from what a newer revision recorded
    for the same image reference: the tag was pushed again, and rolling back to it runs the newer bytes unless
    pinned. `newer`: (number, template, digests) of the revisions newer than the target."""
    warnings = []
    for name, image in containers(target_template):
        ours = target_digests.get(name)
        if ours is None or _SHA256 in image:
            continue
        for number, template, theirs in newer:
            moved = sorted(d for d in (theirs.get(n) for n, i in containers(template) if i == image)
                           if d is not None and d != ours)
            if moved:
                warnings.append(f"{image} moved: the target recorded {ours}, revision {number} recorded "
                                f"{moved[0]}; the rollback runs what the tag points at now unless "
                                "--pin-digests")
                break
    return warnings


def pinned(template: Any, digests: Mapping[str, str]) -> Any:
    """The template with each container whose digest is known pinned to it: `image:tag@sha256:...`."""
    template = copy.deepcopy(template or {})
    spec = template.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        digest = digests.get(container.get("name", ""))
        image = container.get("image", "")
        if digest and _SHA256 not in image:
            container["image"] = image + _SHA256 + digest.split(_SHA256, 1)[1]
    return template
