"""`rollback KIND/NAME -i`: the history as a list on the terminal with the rollback target preselected and the
skipped revisions marked why (history's own NOTE column); Enter shows the diff to the live revision
(commands/diff.py) and the pre-flight's findings (a server dry run of the same rollback), then asks once; `y` rolls
back as `rollback --to-revision N` does. Nothing is written before that `y`.
"""

from __future__ import annotations

import dataclasses

from kubectl_rollback import render
from kubectl_rollback.commands import diff, workload_history
from kubectl_rollback.commands.rollback import WorkloadRollback
from kubectl_rollback.commands.rollback import run as roll_back
from kubectl_rollback.commands.workload import WorkloadTarget
from kubectl_rollback.commands.workload_history import WorkloadHistory
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import Kube
from kubectl_rollback.options import DryRun, RollbackRequest
from kubectl_rollback.output import Progress
from kubectl_rollback.records import Status
from kubectl_rollback.terminal import Screen, coloured_diff


def declined(display: str) -> RollbackError:
    return RollbackError(f"declined: {display} was not rolled back, nothing was written")


def run(kube: Kube, target: WorkloadTarget, request: RollbackRequest, on_progress: Progress,
        screen: Screen) -> WorkloadRollback:
    history = workload_history.load(kube, target.kind, target.name, request.flags)
    if not history.revisions:
        raise RollbackError(f"{history.display} has no revisions to pick from")
    older = next((r for r in history.revisions if not r.live), history.revisions[0])
    chosen = history.target if history.target is not None and not history.target.live else older
    header, *rows = render.history_lines(history)
    while True:
        index = screen.pick(picker_header(history, header), rows, [r.number for r in history.revisions],
                            history.revisions.index(chosen))
        if index is None:
            raise declined(history.display)
        chosen = history.revisions[index]
        if not chosen.live:
            break
        screen.show(f"revision {chosen.number} is live: nothing to roll back to; pick another")
    force = needs_force(chosen)
    if force and not screen.confirm(f"revision {chosen.number} is {force}; roll back to it anyway (--force)? [y/N]"):
        raise declined(history.display)
    # The `y` agrees to what the question names: a deploy meanwhile makes the rollback refuse, not decide anew.
    picked = dataclasses.replace(request, to_revision=chosen.number, force=bool(force),
                                 only_from=history.live.name if history.live is not None else None)
    compared = diff.run(kube, target.kind, target.name, [diff.LIVE, str(chosen.number)], request.flags)
    screen.show(coloured_diff(compared.table(False)) if compared.differ else
                f"revision {chosen.number} runs the live pod template (its config may differ)")
    screen.show(preflight_text(roll_back(kube, target.kind, target.name,
                                         dataclasses.replace(picked, dry_run=DryRun.SERVER))))
    live = history.live.number if history.live is not None else "the current template"
    if not screen.confirm(f"roll back {history.display} from {live} to {chosen.number}? [y/N]"):
        raise declined(history.display)
    return target.rollback(kube, picked, on_progress)


def picker_header(history: WorkloadHistory, table_header: str) -> list:
    lines = [f"{history.display} in namespace {history.namespace}: pick the revision to roll back to"]
    if history.problem is not None:
        lines.append(f"no rollback target: {history.problem.message}")
    elif history.target is not None and history.target.live:
        lines.append(f"no rollback needed: the live revision {history.target.number} is the last successful one")
    return [*lines, "  " + table_header]


def needs_force(revision: Revision) -> str:
    """Why rolling back to it needs --force ("" when it does not): recorded Failed, or marked bad."""
    if revision.record.status is Status.FAILED:
        return "recorded Failed"
    return f"marked bad ({revision.marked_bad.reason})" if revision.marked_bad is not None else ""


def preflight_text(dry: WorkloadRollback) -> str:
    """What the server dry run of the rollback found: the pre-flight's findings and the config it would restore."""
    lines = [dry.preflight.summary(), *(f.line() for f in dry.preflight.said)]
    lines += render.config_lines(dry.config, True) + [f"warning: {w}" for w in dry.warnings]
    return "\n".join(lines)
