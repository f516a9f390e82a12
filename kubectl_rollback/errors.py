"""Exit codes and the exceptions that carry them to the command line.

Every failure the user can act on is one of these; the CLI prints its message as one line on stderr and exits with
its code. Anything else is a bug and is reported as such (still one line, exit 1).
"""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0  # done, or nothing to do
    ERROR = 1  # the API server refused or failed, or the workload is in a state we cannot roll back
    USAGE = 2  # bad flags or arguments
    NO_TARGET = 3  # no revision to roll back to (first deployment, all failed, pruned)
    WAIT_FAILED = 4  # the rollout after the change failed or did not finish in --timeout
    # The pre-flight of the rollback's target found it would not recover (kubectl_rollback/preflight.py): nothing was
    # written.
    PREFLIGHT_BLOCKED = 5
    # The metric analysis (verify) ended Inconclusive or Error: no verdict, nothing rolled back. 6 is left to another
    # issue's plan.
    INCONCLUSIVE = 7
    INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports it


class RollbackError(Exception):
    """An error with a message meant for the user and the exit code it maps to."""

    exit_code = ExitCode.ERROR

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
    """Ctrl-C after the command had changed the cluster: the message says what was changed, and what goes on."""

    exit_code = ExitCode.INTERRUPTED


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

    def __init__(self, exit_code: ExitCode):
        super().__init__("")
        self.exit_code = exit_code
