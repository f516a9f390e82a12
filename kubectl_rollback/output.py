"""One printer for every result (Helm's pkg/cli/output Writer is the model): a result renders itself as a table, wide
or not, and as plain data; `show` picks by --output. This is the only place that looks at the output format."""

from __future__ import annotations

import abc
import dataclasses
import json
from typing import Any, Callable, Optional, Protocol, Sequence

from kubectl_rollback import console
from kubectl_rollback.errors import ExitCode, ReportedError, RollbackError
from kubectl_rollback.options import OutputFormat

# The versioned output contract (docs/output.md, schemas in docs/schemas/): every `-o json|yaml` document is one
# object with this apiVersion and its verb's kind, as kubectl's own objects are, and an `error` (null on success).
API_VERSION = "harness.io/v1"
KINDS = {
    "history": "HistoryResult",
    "rollback": "RollbackResult",
    "record": "RecordResult",
    "verify": "VerifyResult",
    "resume": "ResumeResult",
    "mark-bad": "MarkBadResult",
    "barrier": "BarrierResult",
    "diff": "DiffResult",
}
FLEET_KIND = "FleetResult"  # history and rollback across kubeconfig contexts (--contexts, --all-contexts)
UNKNOWN_VERB_KIND = "Result"  # an error before any verb could be read: only apiVersion, kind and error


class Printable(Protocol):
    def table(self, wide: bool) -> str:
        """The text for people (`-o table`, or `-o wide` with more columns); "" prints nothing."""
        ...

    def data(self) -> Any:
        """Plain data (dicts, lists, strings, numbers) for `-o json` and `-o yaml`."""
        ...


class Result(abc.ABC):
    """What a verb returns: printable, with notes for people on stderr and the error the command ends with once the
    result is printed."""

    document_kind: Optional[str] = None  # its document's kind, where it is not its verb's (KINDS)

    @abc.abstractmethod
    def table(self, wide: bool) -> str: ...

    @abc.abstractmethod
    def data(self) -> Any: ...

    def notes(self) -> Sequence[str]:
        """Lines for the person at the terminal (stderr), printed with tables only."""
        return ()

    def failure(self) -> Optional[RollbackError]:
        """The error to exit with after printing (e.g. a followed rollout that failed); None: success."""
        return None


@dataclasses.dataclass(frozen=True)
class Paragraph:
    """A printable set apart from what follows by a blank line (a release's plan before its outcomes)."""

    inner: Printable

    def table(self, wide: bool) -> str:
        return self.inner.table(wide) + "\n"

    def data(self) -> Any:
        return self.inner.data()


Progress = Callable[[Printable], None]


def show(result: Printable, fmt: OutputFormat, verb: str = "", failure: Optional[RollbackError] = None) -> None:
    """Print a result as --output asks: the data as JSON or YAML, else the table (and its notes on stderr). With
    data, the document carries `failure` (the error the command ends with) and the error is marked as shown."""
    if fmt.is_data:
        kind = result.document_kind if isinstance(result, Result) else None
        text = dump(document(verb, result.data(), failure, kind), fmt)
    else:
        if isinstance(result, Result):
            for note in result.notes():
                console.info(note)
        text = result.table(fmt is OutputFormat.WIDE)
    if text:
        print(text)


def document(verb: str, data: Optional[dict], failure: Optional[BaseException], kind: Optional[str] = None) -> dict:
    """The versioned document of one command: apiVersion and kind, the result's fields (none when the command ended
    before it had one), and `error`: the exit code's name and number and the message of stderr's line."""
    if failure is not None and isinstance(failure, RollbackError):
        failure.shown = True
    return {"apiVersion": API_VERSION, "kind": kind or KINDS.get(verb, UNKNOWN_VERB_KIND), **(data or {}),
            "error": error_dict(failure) if failure is not None else None}


def error_document(verb: str, failure: BaseException) -> dict:
    """The document of a command that ended before its result: the error, with what it says was done, if anything
    (an interrupted rollback's result: what it changed before the Ctrl-C)."""
    done = getattr(failure, "result", None)
    return document(verb, done.data() if done is not None else None, failure)


def error_dict(failure: BaseException) -> dict:
    if isinstance(failure, ReportedError):  # the outcomes are printed; the document says them in one line
        code, message = ExitCode(failure.exit_code), failure.summary or "see the outcomes above"
    elif isinstance(failure, RollbackError):
        code, message = ExitCode(failure.exit_code), failure.message
    elif isinstance(failure, KeyboardInterrupt):
        code, message = ExitCode.INTERRUPTED, "interrupted"
    else:
        code, message = ExitCode.ERROR, str(failure)
    return {"reason": code.name, "exitCode": int(code), "message": message}


def progress(fmt: OutputFormat) -> Progress:
    """How a long command reports as it goes (a release's plan, then each workload's outcome): printed as it happens
    with tables; with JSON or YAML everything is in the final result instead."""
    if fmt.is_data:
        return lambda item: None
    return lambda item: show(item, fmt)


def on_stderr(fmt: OutputFormat) -> Progress:
    """How one context of several reports as it goes, and what its own command would have printed: its table's lines
    on stderr (console prefixes them with the context), so that stdout holds the one report; nothing with JSON or
    YAML, whose report holds each context's document."""

    def tell(item: Printable) -> None:
        if isinstance(item, Result):
            for note in item.notes():
                console.info(note)
        for line in item.table(fmt is OutputFormat.WIDE).splitlines():
            console.info(line)

    return (lambda item: None) if fmt.is_data else tell


def dump(data: Any, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.YAML:
        import yaml

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2)
