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


NOT_STARTED = "no pod has started it yet"


def from_pods(containers: Sequence[str], pods: Sequence[dict]) -> Tuple[Dict[str, str], List[str]]:
    """Each container's digest as every pod that started it reports it (an imageID is reported once the image is
    pulled), and a note for each container that gets none: no pod has started it yet, no pod reports a repository
    digest, or the pods disagree (a tag pushed again while they started)."""
    digests: Dict[str, str] = {}
    notes: List[str] = []
    for name in containers:
        reported = [s.get("imageID") for pod in pods for s in (pod.get("status") or {}).get("containerStatuses") or []
                    if s.get("name") == name and s.get("imageID")]
        found = {repository_digest(i) for i in reported}
        if len(found - {None}) > 1:
            notes.append(f"container {name}: its pods run {len(found - {None})} different digests")
        elif None in found:
            which = "some of its pods report no" if len(found) > 1 else "no pod reports a"
            notes.append(f"container {name}: {which} repository digest")
        elif found:
            digests[name] = str(found.pop())
        else:
            notes.append(f"container {name}: {NOT_STARTED}")
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


def short(digest: str) -> str:
    """`sha256:` and the first 12 hex digits of `repo@sha256:...`, as tables show a digest."""
    return digest.split("@", 1)[-1][:19]


def drift(recorded: Mapping[str, str], running: Mapping[str, str]) -> Optional[str]:
    """What the pods of a revision run that its record does not say (its tag was pushed again, and pods started since
    pulled it), or None when every container they agree on runs its recorded digest."""
    moved = [f"{name}={short(running[name])}, not the recorded {short(digest)}"
             for name, digest in sorted(recorded.items()) if running.get(name, digest) != digest]
    return f"its pods run {'; '.join(moved)} (the tag moved; docs/apply-consistency.md)" if moved else None


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
