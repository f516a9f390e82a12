"""Flag handling: every bad value is a UsageError with a message that says what to do."""

import pytest

from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import (
    DryRun,
    IdentityFlags,
    Impersonation,
    OutputFormat,
    RollbackRequest,
    check_namespace,
    parse_duration,
    parse_output,
    parse_status,
    parse_workload,
)
from kubectl_rollback.records import Status
from kubectl_rollback.workloads import BY_ALIAS


@pytest.mark.parametrize("text", ["deployment/web", "deploy/web", "deployments.apps/web", "Deployment/web"])
def test_workload_aliases(text):
    kind, name = parse_workload(text, BY_ALIAS)
    assert (kind.name, name) == ("deployment", "web")


@pytest.mark.parametrize(
    "text, message",
    [
        ("web", "not KIND/NAME"),
        ("pod/web", "supported kinds are"),
        ("deployment/Web", "not a valid object name"),
        ("deployment/", "the name is empty"),
        ("deployment/" + "a" * 254, "not a valid object name"),
        ("deployment/web_1", "not a valid object name"),
    ],
)
def test_bad_workloads(text, message):
    with pytest.raises(UsageError, match=message):
        parse_workload(text, BY_ALIAS)


def test_namespace_validation():
    assert check_namespace("team-a") == "team-a"
    assert check_namespace(None) is None
    with pytest.raises(UsageError):
        check_namespace("Team_A")


def test_status():
    assert parse_status("inprogress") is Status.IN_PROGRESS
    with pytest.raises(UsageError, match="Succeeded, Failed, InProgress"):
        parse_status("ok")


def test_output():
    assert parse_output("JSON") is OutputFormat.JSON
    with pytest.raises(UsageError):
        parse_output("xml")


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("12", 12)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1s", "0", "m"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text)


def test_identity_flags():
    with pytest.raises(UsageError, match="contradict"):
        IdentityFlags(workflow_id="wf", any_workflow=True).validate()
    with pytest.raises(UsageError, match="empty"):
        IdentityFlags(service_id=" ").validate()
    with pytest.raises(UsageError, match="printable"):
        IdentityFlags(infra_id="a\nb").validate()


def test_dry_run():
    from kubectl_rollback.options import parse_dry_run

    modes = (parse_dry_run(None), parse_dry_run(""), parse_dry_run("Server"))
    assert modes == (DryRun.NONE, DryRun.CLIENT, DryRun.SERVER)
    with pytest.raises(UsageError, match="must be client, server or none"):
        parse_dry_run("maybe")


@pytest.mark.parametrize("number", [0, -3])
def test_to_revision_must_be_positive(number):
    with pytest.raises(UsageError, match=f"--to-revision must be a positive revision number, got {number}"):
        RollbackRequest(to_revision=number).validate()
    assert RollbackRequest(to_revision=1).validate().to_revision == 1


def test_impersonation_needs_a_user_for_groups_and_uid():
    assert Impersonation("jane", ("devs", "ops"), "42").validate().groups == ("devs", "ops")
    with pytest.raises(UsageError, match="pass --as USER"):
        Impersonation(None, ("devs",)).validate()
    with pytest.raises(UsageError, match="pass --as USER"):
        Impersonation(uid="42").validate()
    with pytest.raises(UsageError, match="--as-group is empty"):
        Impersonation("jane", ("",)).validate()
