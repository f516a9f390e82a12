"""Turning command results into text: tables for people, JSON and YAML for pipelines. Nothing here decides."""

from __future__ import annotations

import datetime
import json
from typing import Any, Optional

from kubectl_rollback import records as keys
from kubectl_rollback.decide import Revision, mismatch
from kubectl_rollback.records import Identity


def identity_dict(identity: Optional[Identity]) -> Optional[dict]:
    if identity is None:
        return None
    m = identity.mapping
    return {
        "workflowId": identity.workflow_id,
        "anyWorkflow": identity.any_workflow,
        "serviceId": m.service_id,
        "infraId": m.infra_id,
        "clusterName": m.cluster_name,
        "namespace": m.namespace,
    }


def revision_dict(revision: Revision, namespace: str, target: Optional[Revision] = None) -> dict:
    r = revision.record
    return {
        "revision": revision.number,
        "name": revision.name,
        "status": r.status.value,
        "workflowId": r.workflow_id,
        "serviceId": r.service_id,
        "infraId": r.infra_id,
        "clusterName": r.cluster_name,
        "namespace": namespace,
        "releaseNumber": r.release_number,
        "artifact": r.artifact,
        "images": list(revision.images),
        "recordedAt": r.recorded_at,
        "createdAt": revision.created_at,
        "changeCause": revision.change_cause,
        "rolledBackFrom": r.rolled_back_from,
        "rolledBackAt": r.rolled_back_at,
        "live": revision.live,
        "rollbackTarget": target is not None and revision.number == target.number,
        "warnings": list(r.warnings),
    }


def history_dict(h) -> dict:
    return {
        "workload": h.display,
        "namespace": h.namespace,
        "identity": identity_dict(h.identity),
        "liveRevision": h.live.number if h.live else None,
        "rollbackTarget": h.target.number if h.target else None,
        "problem": h.problem.message if h.problem else None,
        "skipped": [{"revision": s.revision, "reason": s.reason} for s in (h.decision.skipped if h.decision else ())],
        "revisions": [revision_dict(r, h.namespace, h.target) for r in h.revisions],
    }


def rollback_dict(result) -> dict:
    h = result.history
    return {
        "workload": h.display,
        "namespace": h.namespace,
        "identity": identity_dict(h.identity),
        "changed": result.changed,
        "dryRun": result.dry_run,
        "message": result.message,
        "from": revision_dict(result.source, h.namespace) if result.source else None,
        "to": revision_dict(result.target, h.namespace),
        "skipped": [{"revision": s.revision, "reason": s.reason} for s in h.decision.skipped],
        "warnings": list(result.warnings),
        "rolledOut": result.rolled_out,
        "diff": result.diff or None,
    }


def record_dict(result) -> dict:
    return {
        "workload": result.display,
        "namespace": result.namespace,
        "revision": result.revision.number,
        "name": result.revision.name,
        "annotations": {k: v for k, v in result.annotations.items() if v is not None},
        "failure": result.failure,
    }


def dump(data: Any, fmt: str) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2)


def history_table(h, wide: bool = False) -> str:
    from tabulate import tabulate

    skipped = {s.revision: s.reason for s in (h.decision.skipped if h.decision else ())}
    headers = ["REVISION", "STATUS", "WORKFLOW", "RELEASE", "ARTIFACT", "AGE"]
    if wide:
        headers += ["SERVICE", "INFRA", "CLUSTER", "OBJECT", "RECORDED", "CHANGE-CAUSE"]
    headers.append("NOTE")
    rows = []
    for r in h.revisions:
        rec = r.record
        row = [r.number, rec.status.value, rec.workflow_id or "-", rec.release_number or "-"]
        row += [_short(rec.artifact or ", ".join(r.images) or "-"), age(r.created_at)]
        if wide:
            row += [rec.service_id or "-", rec.infra_id or "-", rec.cluster_name or "-", r.name]
            row += [rec.recorded_at or "-", r.change_cause or "-"]
        row.append(_note(h, r, skipped))
        rows.append(row)
    lines = [f"{h.display} in namespace {h.namespace}"]
    if h.identity is not None:
        lines.append(f"identity: {h.identity.describe()}")
    lines.append(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True) if rows else "no revisions")
    if h.target is not None:
        lines.append(f"rollback target: revision {h.target.number}")
    elif h.problem is not None:
        lines.append(f"no rollback target: {h.problem.message}")
    return "\n".join(lines)


def _note(h, r: Revision, skipped: dict) -> str:
    if r.live:
        return "live"
    if h.target is not None and r.number == h.target.number:
        return "rollback target"
    if r.number in skipped:
        return f"skipped: {skipped[r.number]}"
    if h.identity is not None and (reason := mismatch(r, h.identity)) is not None:
        return reason
    return ""


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def age(timestamp: Optional[str], now: Optional[datetime.datetime] = None) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    if not timestamp:
        return "-"
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "-"
    seconds = max(0, int(((now or datetime.datetime.now(datetime.timezone.utc)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def record_line(result) -> str:
    a = result.annotations
    return (
        f"{result.display} revision {result.revision.number} ({result.revision.name}) recorded {a[keys.STATUS]}: "
        f"workflow {a[keys.WORKFLOW_ID]}, service {a[keys.SERVICE_ID]}, infra {a[keys.INFRA_ID]}, "
        f"cluster {a[keys.CLUSTER_NAME]}, namespace {result.namespace}"
    )


def rollback_line(result) -> str:
    suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(result.dry_run, "")
    return result.message + suffix
