"""The one printer: the output format picks table or data, progress is printed only with tables, and the selection
of a target is parsed before any request."""

import dataclasses
import json

import pytest
import yaml

from kubectl_rollback import output
from kubectl_rollback.commands import record, release
from kubectl_rollback.commands.bluegreen import ServiceTarget
from kubectl_rollback.commands.harness import HarnessTarget
from kubectl_rollback.commands.release import ReleaseTarget
from kubectl_rollback.commands.workload import WorkloadTarget
from kubectl_rollback.decide import Outcome, Revision
from kubectl_rollback.errors import ExitCode, UsageError, WaitFailedError
from kubectl_rollback.options import OutputFormat, RollbackRequest
from kubectl_rollback.records import STATUS, STATUS_REASON, Record
from kubectl_rollback.targets import select


@dataclasses.dataclass(frozen=True)
class Shown(output.Result):
    rows: tuple

    def table(self, wide: bool) -> str:
        return ("WIDE " if wide else "") + ", ".join(self.rows)

    def data(self):
        return {"rows": list(self.rows)}

    def notes(self):
        return ("a note for people",)


@pytest.mark.parametrize(
    "fmt, stdout",
    [
        (OutputFormat.TABLE, "a, b\n"),
        (OutputFormat.WIDE, "WIDE a, b\n"),
        (OutputFormat.JSON, json.dumps({"apiVersion": "harness.io/v1", "kind": "HistoryResult", "rows": ["a", "b"],
                                        "error": None}, indent=2) + "\n"),
        (OutputFormat.YAML, "apiVersion: harness.io/v1\nkind: HistoryResult\nrows:\n- a\n- b\nerror: null\n"),
    ],
)
def test_show_prints_table_or_data(capsys, fmt, stdout):
    output.show(Shown(("a", "b")), fmt, "history")
    printed = capsys.readouterr()
    assert printed.out == stdout
    assert printed.err == ("" if fmt.is_data else "a note for people\n")


def test_a_failure_is_in_the_document_as_the_exit_codes_name_number_and_message(capsys):
    failure = WaitFailedError("the rollout did not complete")
    output.show(Shown(("a",)), OutputFormat.JSON, "rollback", failure)
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "RollbackResult" and printed["rows"] == ["a"]
    assert printed["error"] == {"reason": "WAIT_FAILED", "exitCode": 4, "message": "the rollout did not complete"}
    assert failure.shown  # main prints no second document for it


def test_yaml_output_parses_back():
    assert yaml.safe_load(output.dump({"rows": ["a"], "n": None}, OutputFormat.YAML)) == {"rows": ["a"], "n": None}


def test_progress_prints_only_with_tables(capsys):
    output.progress(OutputFormat.JSON)(Shown(("x",)))
    assert capsys.readouterr().out == ""
    output.progress(OutputFormat.TABLE)(output.Paragraph(Shown(("x",))))
    assert capsys.readouterr().out == "x\n\n"


def test_an_empty_table_prints_nothing(capsys):
    output.show(Shown(()), OutputFormat.TABLE)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "args, target",
    [
        (("deployment/web", None, None, False), WorkloadTarget),
        (("sts/db", None, None, None), WorkloadTarget),
        (("svc/web", None, None, None), ServiceTarget),
        ((None, "rel-1", None, None), ReleaseTarget),
        ((None, None, None, True), ReleaseTarget),
        ((None, None, "rel-1", None), HarnessTarget),
    ],
)
def test_select_yields_one_target(args, target):
    assert type(select(*args)) is target


@pytest.mark.parametrize(
    "args, message",
    [
        ((None, None, None, False), "name exactly one of KIND/NAME, --all, --release-name R or --harness-release R"),
        (("deployment/web", "rel", None, None), "name exactly one of KIND/NAME, --release-name R or --harness"),
        ((None, "Bad_Name", None, None), "not a valid object name"),
        (("pod/web", None, None, None), "supported kinds are"),
    ],
)
def test_select_refuses_bad_selections(args, message):
    with pytest.raises(UsageError, match=message):
        select(*args)


def test_only_a_workload_takes_a_revision_number():
    request = RollbackRequest(to_revision=2)
    request.validate(select("deployment/web", None, None))
    for args in (("service/web", None, None), (None, "rel-1", None), (None, None, "rel-1")):
        with pytest.raises(UsageError, match="--to-revision names a revision of one workload"):
            request.validate(select(*args))


def test_a_followed_rollout_that_failed_ends_record_with_exit_4():
    revision = Revision(3, "web-5d8f", Record(), (), None, live=True)
    assert record.RecordResult("deployment/web", "ns", revision, {}).failure() is None
    failed = {STATUS: "Failed"}
    failure = record.RecordResult("deployment/web", "ns", revision, failed, failure_message="timed out").failure()
    assert isinstance(failure, WaitFailedError) and failure.message == "timed out; recorded revision 3 Failed"
    superseded = {STATUS: "InProgress", STATUS_REASON: "superseded by revision 4"}
    failure = record.RecordResult("deployment/web", "ns", revision, superseded,
                            failure_message="revision 3 was superseded by revision 4").failure()
    assert isinstance(failure, WaitFailedError) and failure.message == (
        "revision 3 was superseded by revision 4; recorded revision 3 InProgress (superseded by revision 4)")


@pytest.mark.parametrize(
    "outcomes, code",
    [
        ((Outcome.ROLLED_BACK, Outcome.NOTHING_TO_DO), None),
        ((Outcome.ROLLED_BACK, Outcome.NO_TARGET), ExitCode.NO_TARGET),
        ((Outcome.NO_TARGET, Outcome.FAILED), ExitCode.ERROR),
    ],
)
def test_a_release_reports_each_outcome_then_exits_with_the_worst(capsys, outcomes, code):
    done = release.ReleaseRollback(
        Shown(("plan",)), [release.WorkloadOutcome(f"deployment/w{i}", o, "why") for i, o in enumerate(outcomes)]
    )
    failure = done.failure()
    assert (failure.exit_code if failure else None) == code and (failure is None or failure.message == "")
    output.show(done, OutputFormat.JSON)
    data = json.loads(capsys.readouterr().out)
    assert data["plan"] == {"rows": ["plan"]} and [r["outcome"] for r in data["results"]] == [o.value for o in outcomes]
    assert sum(data["summary"].values()) == len(outcomes)
