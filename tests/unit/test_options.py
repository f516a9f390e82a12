"""Flag handling: every bad value is a UsageError with a message that says what to do."""

import re

import pytest

from kubectl_rollback import targets
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


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("12", 12),
                                           ("500ms", 0.5), ("1ms", 0.001), ("1.5h", 5400), ("1h2m3.5s", 3723.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_zero_request_timeout_is_none_as_in_kubectl():
    assert parse_duration("0", "--request-timeout", zero=True) == 0
    assert parse_duration("0s", "--request-timeout", zero=True) == 0


@pytest.mark.parametrize("text", ["", "5x", "-1s", "0", "m", "0ms", "5 m", "1m30", "ms5"])
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


def test_to_revision_must_not_be_negative():
    with pytest.raises(UsageError, match="--to-revision must be a revision number, got -3"):
        RollbackRequest(to_revision=-3).validate()
    assert RollbackRequest(to_revision=1).validate().to_revision == 1


def test_to_revision_0_is_the_rollback_target_as_kubectl_undo_takes_0_for_the_previous_revision():
    assert RollbackRequest(to_revision=0).validate().to_revision is None


@pytest.mark.parametrize("to_revision", [None, 0])
@pytest.mark.parametrize("selection", [("deployment/web", None, None), (None, "rel", None),
                                       ("service/shop", None, None)])
def test_force_without_to_revision_is_refused(to_revision, selection):
    with pytest.raises(UsageError, match="pass --to-revision N with it"):
        RollbackRequest(to_revision=to_revision, force=True).validate(targets.select(*selection))


def test_force_alone_is_taken_by_harness_history_where_it_rolls_back_a_release_that_succeeded():
    RollbackRequest(force=True).validate(targets.select(None, None, "rel"))


@pytest.mark.parametrize("text, message", [
    ("name", "--output name: kubectl's -o name is not offered here; use -o json with jq"),
    ("jsonpath={.revisions[0]}", "--output jsonpath: kubectl's -o jsonpath=... is not offered here"),
    ("xml", "--output 'xml': must be one of table, wide, json, yaml"),
])
def test_kubectl_printers_are_refused_naming_them(text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_output(text)


def test_impersonation_needs_a_user_for_groups_and_uid():
    assert Impersonation("jane", ("devs", "ops"), "42").validate().groups == ("devs", "ops")
    with pytest.raises(UsageError, match="pass --as USER"):
        Impersonation(None, ("devs",)).validate()
    with pytest.raises(UsageError, match="pass --as USER"):
        Impersonation(uid="42").validate()
    with pytest.raises(UsageError, match="--as-group is empty"):
        Impersonation("jane", ("",)).validate()


@pytest.mark.parametrize("typed, parsed", [
    (["history", "deploy", "web", "-n", "shop"], ["history", "deploy/web", "-n", "shop"]),
    (["rollback", "-n", "deploy", "statefulset", "db", "--wait"], ["rollback", "-n", "deploy", "statefulset/db",
                                                                   "--wait"]),
    (["rollback", "svc", "shop", "--dry-run", "server"], ["rollback", "svc/shop", "--dry-run=server"]),
    (["rollback", "deployment/web", "--dry-run"], ["rollback", "deployment/web", "--dry-run=client"]),
    (["history", "web", "other"], ["history", "web", "other"]),  # not a kind: left for the usual error
    (["history", "--all", "--dry-run"], ["history", "--all", "--dry-run=client"]),
    (["history", "-n=shop", "deploy", "web", "-o=json"], ["history", "-nshop", "deploy/web", "-ojson"]),  # pflag's
])
def test_kubectl_spellings_of_kind_name_and_dry_run(typed, parsed):
    from typer.main import get_command

    from kubectl_rollback.cli import app, join_kind_and_name, normalise_kubectl_flags

    assert join_kind_and_name(normalise_kubectl_flags(typed), get_command(app)) == parsed


def test_no_verb_prints_the_help_as_kubectl_does_not_an_error_line(capsys):
    from kubectl_rollback.cli import main

    with pytest.raises(SystemExit) as exited:
        main([])
    printed = capsys.readouterr()
    assert exited.value.code == 0 and printed.err == ""
    assert printed.out.startswith("Usage: kubectl harness-rollback") and "\nCommands:" in printed.out


@pytest.mark.parametrize("verb, said", [("rollback", "How long --wait may wait"), ("record", "How long --follow")])
def test_each_timeout_names_its_own_waiting_flag(capsys, verb, said):
    from kubectl_rollback.cli import main

    with pytest.raises(SystemExit):
        main([verb, "--help"])
    assert said in " ".join(capsys.readouterr().out.split())


def test_a_verb_runs_in_a_group_of_its_own_with_the_help_and_options_of_the_whole_group():
    import click
    from typer.main import get_command

    from kubectl_rollback.cli import PROG, _command_for, app

    whole = get_command(app)

    def help_of(group: click.Group, verb: str) -> str:
        parent = click.Context(group, info_name=PROG)
        return group.commands[verb].get_help(click.Context(group.commands[verb], info_name=verb, parent=parent))

    assert len(whole.commands) >= 6
    for verb in whole.commands:
        alone = _command_for([verb, "deployment/web", "-n", "shop"])
        assert list(alone.commands) == [verb]
        assert help_of(alone, verb) == help_of(whole, verb)
        assert [p.opts for p in alone.commands[verb].params] == [p.opts for p in whole.commands[verb].params]
    for args in ([], ["--version"], ["histroy", "deployment/web"], ["-n", "history"]):
        assert list(_command_for(args).commands) == list(whole.commands)


def test_service_with_no_name_is_an_empty_name_not_an_unknown_kind():
    with pytest.raises(UsageError, match="^service/: the name is empty$"):
        targets.select("service/", None, None)


def test_a_rollback_s_command_flags_are_the_ones_a_copied_command_needs_quoted():
    from kubectl_rollback.configrefs import ConfigMode
    from kubectl_rollback.options import DryRun, GitOpsMode, IdentityFlags, RollbackRequest

    assert RollbackRequest().command_flags() == ""
    request = RollbackRequest(flags=IdentityFlags(any_workflow=True, service_id="svc"), config=ConfigMode.RESTORE,
                              gitops=GitOpsMode.PAUSE, argocd_namespace="gitops", dry_run=DryRun.SERVER,
                              override_barrier="incident 42: it's back", pin_digests=True)
    assert request.command_flags() == (
        "--service-id=svc --config=restore --gitops=pause --argocd-namespace=gitops --dry-run=server --any-workflow "
        "--pin-digests --override-barrier '--reason=incident 42: it'\"'\"'s back'")
