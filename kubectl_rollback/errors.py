"""Exit codes and the exceptions that carry them to the command line.

Every failure the user can act on is one of these; the CLI prints its message as one line on stderr and exits with
its code. Anything else is a bug and is reported as such (still one line, exit 1).
"""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    """The one exit-code table: `--help` prints MEANINGS, README's "Exit codes" explains each row, and with
    `-o json|yaml` the `error` object names the code (tests/unit/test_exit_codes.py keeps the copies in step)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NO_TARGET = 3
    WAIT_FAILED = 4
    PREFLIGHT_BLOCKED = 5  # nothing written: the target would not run (kubectl_rollback/preflight.py)
    # 6 is left to another issue's plan.
    INCONCLUSIVE = 7
    INTERRUPTED = 130  # as a shell reports SIGINT
    TERMINATED = 143  # as a shell reports SIGTERM (a cancelled CI job): handled as Ctrl-C is

    @property
    def meaning(self) -> str:
        return MEANINGS[self]


MEANINGS = {
    ExitCode.OK: "done, or nothing to do; history: shown, with or without a rollback target",
    ExitCode.ERROR: "error (API failure, RBAC denial, paused or missing workload, no such release (no "
                    "release history, no workload labelled with it), a workload carrying record keys, a GitOps owner "
                    "that would undo it); diff: the revisions differ (its errors exit 2 or more); rollback -i: "
                    "declined at the prompt, nothing written",
    ExitCode.USAGE: "usage error (bad flag, name or identity; --timeout without the --wait or --follow it bounds); "
                    "rollback --to-revision N of a revision recorded Failed or marked bad, without --force; "
                    "mark-bad/barrier with another reason than the one set (--clear it first); "
                    "rollback -i without a terminal; diff: any error other verbs exit 1 with (as diff(1))",
    ExitCode.NO_TARGET: "rollback: no rollback target (first deployment, all failed, marked bad, behind a barrier, "
                        "or pruned), or --to-revision N of a revision behind a barrier, without --override-barrier; "
                        "rollback --to-revision, mark-bad, barrier, diff: revision N is not in the history",
    ExitCode.WAIT_FAILED: "the rollout after the change failed or timed out (--wait, --follow), or the followed "
                          "revision stopped being live before its rollout completed (--follow: a rollback or a newer "
                          "deploy replaced it; --wait: the rollback was done, but a newer deploy or another rollback "
                          "replaced its target); verify: Failed",
    ExitCode.PREFLIGHT_BLOCKED: "rollback: the pre-flight blocked it, nothing was written: its target would not run "
                                "(a referenced object is gone, admission refuses it); --dry-run too; "
                                "--skip-preflight goes ahead",
    ExitCode.INCONCLUSIVE: "verify, record --follow --verify: the metric analysis was Inconclusive or Error (the "
                           "revision stays InProgress, nothing rolled back)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); after a change, the line says what was changed",
    ExitCode.TERMINATED: "terminated (SIGTERM, e.g. a cancelled CI job): as Ctrl-C, the line says what was changed",
}


class RollbackError(Exception):
    """An error with a message meant for the user and the exit code it maps to."""

    exit_code = ExitCode.ERROR
    shown = False  # in the -o json|yaml document already printed (output.document): main prints no second one

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(RollbackError):
    exit_code = ExitCode.USAGE


class NoTargetError(RollbackError):
    exit_code = ExitCode.NO_TARGET


class WaitFailedError(RollbackError):
    exit_code = ExitCode.WAIT_FAILED


class Interrupted(RollbackError):
    """Ctrl-C after the command had changed the cluster: the message says what was changed, and what goes on.
    `result`: what was done, where the command has it, for the -o json|yaml document (docs/output.md)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class InconclusiveError(RollbackError):
    exit_code = ExitCode.INCONCLUSIVE


class ApiError(RollbackError):
    """An API request that failed after retries; `status` is the HTTP status, 0 when the server was not reached;
    `server_message` the server's own words (the Status's message), where it answered."""

    def __init__(self, message: str, status: int = 0, reason: str = "", server_message: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.server_message = server_message


class ConflictError(ApiError):
    """A write whose resourceVersion precondition failed: someone else changed the object since we read it.

    `ambiguous`: an earlier attempt of this same write got no answer (connection lost, gateway timeout), so the
    change that beat us may have been our own first attempt."""

    ambiguous = False


class NotFoundError(ApiError):
    pass


class ForbiddenError(ApiError):
    """403: RBAC denied the request (docs/rbac.yaml lists what the plugin needs)."""


class PreflightBlockedError(RollbackError):
    """The pre-flight blocked the rollback: nothing was written. `result`: what the command prints before it exits
    (the target and the findings), where it has one."""

    exit_code = ExitCode.PREFLIGHT_BLOCKED

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class ReportedError(RollbackError):
    """The command has printed its outcome, failures included (a release where some workloads failed); only the exit
    code is left to give, with no further message."""

    def __init__(self, exit_code: ExitCode, summary: str = ""):
        super().__init__("")
        self.exit_code = exit_code
        self.summary = summary  # the outcomes counted, for the -o json|yaml document's error message
