"""Turning command results into text: tables for people, and the plain data that output.py prints as JSON or YAML.
Nothing here decides, and nothing here imports the commands: each result's table() and data() call these."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any, Mapping, Optional, Sequence

from kubectl_rollback import configrefs, digests, marks
from kubectl_rollback import records as keys
from kubectl_rollback.decide import STOPPED_OUTCOMES, FleetOutcome, Outcome, Revision, mismatch, snapshots_of
from kubectl_rollback.options import DryRun
from kubectl_rollback.records import Identity, parse_time
from kubectl_rollback.verdict import Verification, recorded_verification

DRY_RUN_SUFFIX = {DryRun.NONE: "", DryRun.CLIENT: " (dry run)", DryRun.SERVER: " (server dry run)"}
# What a dry run of many workloads calls each outcome: what the real run will do, said as a prediction.
DRY_RUN_OUTCOME = {Outcome.ROLLED_BACK: "would roll back"}


def done(participle: str, dry: bool) -> str:
    """What a result did (`routed`), or in a dry run (`dry`), which changed nothing, what the real run will do
    (`would be routed`): the one wording of that choice for every target's message."""
    return f"would be {participle}" if dry else participle


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


def revision_dict(revision: Revision, namespace: str) -> dict:
    r = revision.record
    return {
        "revision": revision.number,
        "name": revision.name,
        "status": r.status.value,
        "statusReason": r.status_reason,
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
        "rolledBackFrom": revision_number(r.rolled_back_from),
        "rolledBackAt": r.rolled_back_at,
        "live": revision.live,
        "verification": _verification_data(recorded_verification(revision.annotations)),
        "markedBad": marks.stamp_data(revision.marked_bad) if revision.marked_bad else None,
        "digests": digests.parse(revision.annotations),
        "digestsNote": (revision.annotations or {}).get(digests.DIGESTS_NOTE),
        "barrierCrossed": _json_annotation(revision.annotations, marks.BARRIER_CROSSED),
        "warnings": list(r.warnings),
    }


def _verification_data(found: Optional[Verification]) -> Optional[dict]:
    if found is None:
        return None
    return {"phase": found.phase, "metric": found.metric, "value": found.value, "message": found.message,
            "verifiedAt": found.verified_at}


def revision_number(text: Optional[str]) -> Optional[int]:
    """An annotation that names a revision (harness.io/rolled-back-from) as the integer `revision` is; a damaged one
    is null (the record's warnings say why)."""
    return int(text) if text is not None and text.isdigit() else None


def history_dict(h) -> dict:
    notes = revision_notes(h)
    return {
        "workload": h.display,
        "namespace": h.namespace,
        "identity": identity_dict(h.identity),
        "liveRevision": h.live.number if h.live else None,
        "rollbackTarget": h.target.number if h.target else None,
        "problem": h.problem.message if h.problem else None,
        "configToRestore": list(h.config_to_restore),
        "skipped": skipped_list(h),
        "gitops": h.gitops.data(),
        "barriers": [b.data() for b in h.barriers],
        "revisions": [
            dict(revision_dict(r, h.namespace), note=notes[r.number] or None,
                 configSnapshots=[c.data() for c in config_states(h, r)])
            for r in h.revisions
        ],
    }


def config_states(h, r: Revision) -> tuple:
    """A revision's config snapshots: as `history KIND/NAME` checked them, else as its annotations name them."""
    checked = h.config.get(r.name)
    if checked is not None:
        return checked
    return tuple(configrefs.SnapshotState(e, None) for e in snapshots_of(r))


def config_change_dict(change: configrefs.Change) -> dict:
    """One object a rollback restores (or leaves): ConfigMap changes as diff lines, a Secret's as key names only."""
    return {"object": change.ref.key, "action": change.action.value, "snapshot": change.snapshot,
            "changes": list(change.detail), "sharedWith": list(change.shared_with)}


def config_lines(changes: Sequence[configrefs.Change], dry_run: bool) -> list:
    """The config part of a rollback's text: one line per object, and in a dry run what would change."""
    lines = []
    for change in changes:
        lines.append("config: " + change.line(dry_run))
        if dry_run:
            lines += ["  " + line for line in change.detail]
    return lines


def rollback_dict(result) -> dict:
    h = result.history
    return {
        "workload": h.display,
        "namespace": h.namespace,
        "identity": identity_dict(h.identity),
        "changed": result.changed,
        "dryRun": result.dry_run.value,
        "message": result.message + DRY_RUN_SUFFIX[result.dry_run],
        "from": revision_dict(result.source, h.namespace) if result.source else None,
        "to": revision_dict(result.target, h.namespace),
        "skipped": skipped_list(h),
        "barrierCrossed": crossing_dict(h.decision.crossed),
        "warnings": list(result.warnings),
        "rolledOut": result.rolled_out,
        "canaries": list(result.canaries),
        "diff": result.diff or None,
        "applyNotes": list(result.apply_notes),
        "config": [config_change_dict(c) for c in result.config],
        "gitops": result.gitops.data(),
        "preflight": result.preflight.data(),
        "stuckPods": list(result.stuck_pods),
    }


def crossing_dict(crossing: Optional[marks.Crossing]) -> Optional[dict]:
    return {"barrier": crossing.barrier.data(), "reason": crossing.reason} if crossing else None


def _json_annotation(annotations: Optional[Mapping], key: str) -> Any:
    """An annotation holding JSON (the audit of a barrier crossed), as its data; None when absent or unreadable."""
    try:
        return json.loads((annotations or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def mark_dict(result) -> dict:
    """`mark-bad -o json`, `barrier -o json`."""
    return {"verb": result.verb, "workload": result.display, "namespace": result.namespace,
            "revision": result.revision, "name": result.name, "changed": result.changed, "message": result.message,
            "cleared": result.stamp is None, **(marks.stamp_data(result.stamp) if result.stamp else {})}


def record_dict(result) -> dict:
    a = result.annotations
    rollback = result.rollback
    return {
        "workload": result.display,
        "namespace": result.namespace,
        "revision": result.revision.number,
        "name": result.revision.name,
        "status": a[keys.STATUS],
        "statusReason": a.get(keys.STATUS_REASON),
        "workflowId": a[keys.WORKFLOW_ID],
        "serviceId": a[keys.SERVICE_ID],
        "infraId": a[keys.INFRA_ID],
        "clusterName": a[keys.CLUSTER_NAME],
        "releaseNumber": a.get(keys.RELEASE_NUMBER),
        "artifact": a.get(keys.ARTIFACT),
        "recordedAt": a.get(keys.RECORDED_AT),
        "failure": result.failure_message,
        "rollback": None if rollback is None else {
            "rolledBack": rollback.rolled_back, "toRevision": rollback.to, "message": rollback.message},
        **({} if result.verification is None else {"verification": dict(
            analysis=result.analysis, **verification_dict(result.verification))}),
    }


def verification_dict(verdict) -> dict:
    """An analysis' verdict with every measurement (verify, record --follow --verify)."""
    return {
        "phase": verdict.phase.value,
        "message": verdict.message or None,
        "measurements": [dataclasses.asdict(m) | {"phase": m.phase.value} for m in verdict.measurements],
    }


def history_table(h, wide: bool = False) -> str:
    lines = [f"{h.display} in namespace {h.namespace}"]
    if h.identity is not None:
        lines.append(f"identity: {h.identity.describe()}")
    lines += [f"barrier: revision {b.revision}: {b.stamp.describe()}" for b in h.barriers]
    lines.append("\n".join(history_lines(h, wide)) if h.revisions else "no revisions")
    if h.target is not None and h.target.live and h.config_to_restore:
        lines.append(f"rollback target: revision {h.target.number} (live), but its config differs from the revision's "
                     f"snapshots ({', '.join(h.config_to_restore)}): a rollback would restore it and restart the pods")
    elif h.target is not None and h.target.live:
        lines.append(f"no rollback needed: the live revision {h.target.number} is the last successful one")
    elif h.target is not None:
        lines.append(f"rollback target: revision {h.target.number}")
    elif h.problem is not None:
        lines.append(f"no rollback target: {h.problem.message}")
    return "\n".join(lines)


def history_lines(h, wide: bool = False) -> list:
    """The history's table: its header line, then one line per revision, newest first (`rollback -i` picks from
    them)."""
    from tabulate import tabulate

    notes = revision_notes(h)
    headers = ["REVISION", "STATUS", "WORKFLOW", "RELEASE", "ARTIFACT", "AGE"]
    if wide:
        headers += ["SERVICE", "INFRA", "CLUSTER", "OBJECT", "RECORDED", "CHANGE-CAUSE", "CONFIG", "VERIFICATION",
                    "DIGESTS"]
    headers.append("NOTE")
    rows = []
    for r in h.revisions:
        rec = r.record
        row = [r.number, rec.status.value, rec.workflow_id or "-", rec.release_number or "-"]
        row += [_short(rec.artifact or ", ".join(r.images) or "-"), age(r.created_at)]
        if wide:
            row += [rec.service_id or "-", rec.infra_id or "-", rec.cluster_name or "-", r.name]
            row += [rec.recorded_at or "-", r.change_cause or "-"]
            row.append(", ".join(s.cell() for s in config_states(h, r)) or "-")
            verified = recorded_verification(r.annotations)
            row.append(_short(verified.cell(), 40) if verified is not None else "-")
            row.append(", ".join(f"{n}={digests.short(d)}" for n, d in digests.parse(r.annotations).items()) or "-")
        row.append("; ".join(filter(None, (notes[r.number], rec.status_reason))))
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True).split("\n")


def revision_notes(h) -> dict:
    """The NOTE column, by revision number: live, rollback target, why a revision was skipped on the way to the
    target, or why it does not match the identity, what people said of it, the digests its pods run against its
    record; "" for none."""
    skipped = _skipped(h)
    return {r.number: "; ".join(filter(None, (_role(h, r, skipped), _marks(h, r, skipped),
                                              h.digest_drift.get(r.number))))
            for r in h.revisions}


def skipped_list(h) -> list:
    """The revisions the NOTE column passes over, with its reason (the JSON `skipped`)."""
    skipped = _skipped(h)
    roles = {r.number: _role(h, r, skipped) for r in h.revisions}
    return [{"revision": number, "reason": role.removeprefix(SKIPPED)}
            for number, role in roles.items() if role not in ("", LIVE, TARGET)]


def _skipped(h) -> dict:
    return {s.revision: s.reason for s in (h.decision.skipped if h.decision else ())}


LIVE, TARGET, SKIPPED = "live", "rollback target", "skipped: "


def _marks(h, r: Revision, skipped: dict) -> str:
    """What people said about the revision since its rollout, where the decision did not already say it."""
    said = []
    if r.marked_bad is not None and r.number not in skipped:
        said.append(f"marked bad ({r.marked_bad.reason})")
    said += [f"barrier ({b.stamp.reason})" for b in h.barriers if b.revision == r.number]
    return "; ".join(said)


def _role(h, r: Revision, skipped: dict) -> str:
    if r.live:
        return LIVE
    if h.target is not None and r.number == h.target.number:
        return TARGET
    if r.number in skipped:
        return SKIPPED + skipped[r.number]
    if h.identity is not None and (reason := mismatch(r, h.identity)) is not None:
        return reason
    return ""


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def age(timestamp: Optional[str], now: Optional[datetime.datetime] = None) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    then = parse_time(timestamp)
    if then is None:
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
        + (f" ({a[keys.STATUS_REASON]})" if a.get(keys.STATUS_REASON) else "")
        + (f"; analysis {result.analysis} {result.verification.phase.value}" if result.verification else "")
    )


def rollback_text(result) -> str:
    """The outcome line, the canary workloads removed, and with a client dry run the template diff."""
    lines = [result.message + DRY_RUN_SUFFIX[result.dry_run]] + canary_lines(result)
    # A blocked pre-flight wrote nothing, as a dry run: what the rollback would do
    unwritten = result.dry_run is not DryRun.NONE or result.preflight.blocked
    lines += [f"{pod} {done('deleted', unwritten)} (not Ready on the revision left)" for pod in result.stuck_pods]
    if result.preflight.findings or result.preflight.skipped:
        lines.append(result.preflight.summary())
    lines += config_lines(result.config, unwritten)
    if result.dry_run is DryRun.CLIENT and result.diff:
        lines.append(result.diff.rstrip("\n"))
    return "\n".join(lines)


def canary_lines(result) -> list:
    """The canary workloads a rollback deleted, or in a dry run would delete."""
    gone = done("deleted", result.dry_run is not DryRun.NONE)
    return [f"{canary} {gone} (canary)" for canary in result.canaries]


def skipped_notes(h) -> list:
    return [f"skipped revision {s.revision}: {s.reason}" for s in (h.decision.skipped if h.decision else ())]


# -- many workloads (--all, --release-name) -----------------------------------------------------------------------


def workloads_dict(histories: list, namespace: str, release: Optional[str]) -> dict:
    return {"namespace": namespace, "release": release, "workloads": [history_dict(h) for h in histories]}


def workloads_table(histories: list, namespace: str, release: Optional[str]) -> str:
    from tabulate import tabulate

    rows = []
    for h in histories:
        live = h.live
        rows.append([
            h.display,
            live.number if live else "-",
            live.record.status.value if live else "-",
            h.target.number if h.target else "-",
            f"no target: {h.problem.message}" if h.problem else "",
        ])
    scope = f"release {release}" if release else "all workloads"
    if not rows:
        return f"no workloads ({scope}) in namespace {namespace}"
    table = tabulate(rows, headers=["WORKLOAD", "LIVE", "STATUS", "TARGET", "NOTE"], tablefmt="plain",
                     disable_numparse=True)
    return f"{scope} in namespace {namespace}\n{table}"


def outcome_line(outcome) -> str:
    line = (f"{outcome.display}: {_outcome_name(outcome.outcome, outcome.dry_run)}: {outcome.message}"
            f"{DRY_RUN_SUFFIX[outcome.dry_run]}")
    return "\n".join([line] + (["  " + canary for canary in canary_lines(outcome.result)] if outcome.result else []))


def _outcome_name(outcome: Outcome, dry_run: DryRun) -> str:
    return DRY_RUN_OUTCOME.get(outcome, outcome.value) if dry_run is not DryRun.NONE else outcome.value


def outcome_dict(o) -> dict:
    return {
        "workload": o.display,
        "outcome": o.outcome.value,
        "dryRun": o.dry_run.value,
        "message": o.message,
        "from": o.result.source.number if o.result and o.result.source else None,
        "to": o.result.target.number if o.result else None,
        "warnings": list(o.result.warnings) if o.result else [],
        "canaries": list(o.result.canaries) if o.result else [],
        "config": [config_change_dict(c) for c in o.result.config] if o.result else [],
        "gitops": o.gitops.data() if o.gitops else None,
    }


def outcome_counts(outcomes: Sequence) -> dict:
    counts = {kind.value: 0 for kind in Outcome if kind not in STOPPED_OUTCOMES}
    for o in outcomes:
        counts[o.outcome.value] = counts.get(o.outcome.value, 0) + 1
    return counts


def summary_line(outcomes: Sequence, dry_run: DryRun) -> str:
    counts = outcome_counts(outcomes)
    named = ", ".join(f"{n} {_outcome_name(Outcome(value), dry_run)}" for value, n in counts.items()
                      if n or value != Outcome.BLOCKED.value)  # blocked (by a pre-flight): named when it happened
    return f"{len(outcomes)} workloads: {named}{DRY_RUN_SUFFIX[dry_run]}"


# -- across kubeconfig contexts (--contexts, --all-contexts) ----------------------------------------------------


def fleet_table(runs: Sequence) -> str:
    from tabulate import tabulate

    rows = [[r.context, r.cluster or "-", r.row.outcome.value, _or_dash(r.row.from_revision),
             _or_dash(r.row.to_revision), r.row.message] for r in runs]
    table = tabulate(rows, headers=["CONTEXT", "CLUSTER", "OUTCOME", "FROM", "TO", "MESSAGE"], tablefmt="plain",
                     disable_numparse=True)
    return f"{table}\n{fleet_summary(runs)}"


def _or_dash(value: Optional[int]) -> str:
    return "-" if value is None else str(value)


def fleet_counts(runs: Sequence) -> dict:
    counts = {outcome.value: 0 for outcome in FleetOutcome}
    for r in runs:
        counts[r.row.outcome.value] += 1
    return counts


def fleet_summary(runs: Sequence) -> str:
    """The outcomes that happened, each counted: `3 contexts: 2 rolled back, 1 failed`."""
    named = ", ".join(f"{n} {outcome}" for outcome, n in fleet_counts(runs).items() if n)
    return f"{len(runs)} contexts: {named}"


# -- Blue/Green ------------------------------------------------------------------------------------------------


def bluegreen_dict(state) -> dict:
    return {
        "service": f"service/{state.name}",
        "namespace": state.namespace,
        "stageService": f"service/{state.layout.stage['metadata']['name']}",
        "liveColor": state.layout.live_color,
        "stageColor": state.layout.stage_selects,
        "targetColor": state.target_color,
        "identity": identity_dict(state.identity),
        "problem": state.problem.message if state.problem else None,
        "colors": {color: history_dict(h) for color, h in state.colors.items()},
        "gitops": state.gitops.data(),
    }


def bluegreen_table(state, wide: bool = False) -> str:
    layout = state.layout
    lines = [
        f"service/{state.name} in namespace {state.namespace}: live colour {layout.live_color}, "
        f"stage service/{layout.stage['metadata']['name']} on {layout.stage_selects}"
        + (" too (a swap was interrupted halfway)" if layout.half_switched else "")
    ]
    for color, h in state.colors.items():
        role = "live" if color == layout.live_color else "stage" if color == layout.stage_selects else "no Service"
        lines.append(f"\n{color} ({role}): " + history_table(h, wide))
    if state.target_color:
        lines.append(f"\nrollback target: route service/{state.name} to {state.target_color}")
    elif state.problem:
        lines.append(f"\nno rollback target: {state.problem.message}")
    else:
        lines.append(f"\nno rollback needed: {layout.live_color} is the last successful colour")
    return "\n".join(lines)


def bluegreen_rollback_dict(result) -> dict:
    return dict(bluegreen_dict(result.state), changed=result.changed, dryRun=result.dry_run.value,
                message=result.message, gitops=result.gitops.data(), preflight=result.preflight.data())


# -- Harness release history -----------------------------------------------------------------------------------


def harness_dict(loaded) -> dict:
    """The stable contract of `history --harness-release -o json`: source, releases (number, status, workloads with
    kind, name, namespace, revision), target, warnings; the other keys are additions."""
    plan = loaded.plan
    history = loaded.history
    return {
        "source": history.source,
        "sourceReason": history.why or None,
        "format": history.kind,
        "namespace": loaded.namespace,
        "current": plan.current.number if plan else None,
        "target": plan.target.number if plan else None,
        "reason": plan.reason if plan else None,
        "problem": loaded.problem.message if loaded.problem else None,
        "warnings": list(history.warnings),
        "releases": [
            {
                "number": r.number,
                "status": r.status,
                "workloads": [
                    {"kind": w.kind, "name": w.name, "namespace": w.namespace, "revision": w.revision,
                     "custom": w.custom}
                    for w in r.workloads
                ],
                "resources": list(r.resources),
                "bgEnvironment": r.bg_environment,
                "storedObjects": len(r.specs),
            }
            for r in history.releases
        ],
    }


def harness_table(loaded) -> str:
    from tabulate import tabulate

    plan = loaded.plan
    rows = []
    for r in loaded.history.releases:
        workloads = ", ".join(_harness_workload(w, loaded.namespace) for w in r.workloads)
        note = ""
        if plan and r.number == plan.current.number:
            note = "current"
        elif plan and r.number == plan.target.number:
            note = "rollback target"
        rows.append([r.number, r.status, workloads or "-", r.bg_environment or "-", len(r.specs), note])
    history = loaded.history
    lines = [f"{history.source} in namespace {loaded.namespace} (Harness {history.kind} release history"
             + (f": {history.why})" if history.why else ")")]
    lines.append(tabulate(rows, headers=["RELEASE", "STATUS", "WORKLOADS", "BG", "STORED", "NOTE"], tablefmt="plain",
                          disable_numparse=True) if rows else "no releases")
    if plan:
        lines.append(f"rollback target: release {plan.target.number} ({plan.reason})")
    elif loaded.problem:
        lines.append(f"no rollback target: {loaded.problem.message}")
    return "\n".join(lines)


def _harness_workload(w, namespace: str) -> str:
    """kind/name@revision (NS/kind/name@revision in a namespace other than the history's); a declarative or custom
    workload has no revision (it is re-applied, not undone)."""
    shown = f"{w.namespace}/" if w.namespace and w.namespace != namespace else ""
    shown += f"{w.kind.lower()}/{w.name}"
    if w.custom:
        return f"{shown} (custom)"
    return shown + (f"@{w.revision}" if w.revision is not None else "")


# -- diff (commands/diff.py) -------------------------------------------------------------------------------------


def diff_text(result) -> str:
    """A unified diff per object that differs, as `diff -u` prints it for kubectl diff (files named
    REVISION-N/group.version.kind.namespace.name); "" when nothing differs."""
    import difflib

    import yaml

    def lines(obj: Any) -> list:
        return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines(True)

    return "".join(
        "".join(difflib.unified_diff(lines(o.before), lines(o.after), fromfile=f"{result.before.folder}/{o.file}",
                                     tofile=f"{result.after.folder}/{o.file}"))
        for o in result.objects if o.changed).rstrip("\n")


def diff_dict(result) -> dict:
    return {
        "workload": result.display,
        "namespace": result.namespace,
        "from": {**revision_dict(result.before.revision, result.namespace), "role": result.before.role or None},
        "to": {**revision_dict(result.after.revision, result.namespace), "role": result.after.role or None},
        "differ": result.differ,
        "objects": [{"file": o.file, "changed": list(o.changed)} for o in result.objects],
        "notCompared": list(result.skipped),
    }
