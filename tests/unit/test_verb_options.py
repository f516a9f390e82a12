"""Each verb's options built from its flags as typed (`Request.from_flags`, options.py): every combination a verb
refuses is one line, exit 2, before any API request (nothing here has a cluster)."""

from __future__ import annotations

import os

import pytest

from kubectl_rollback import targets
from kubectl_rollback.errors import ExitCode, UsageError
from kubectl_rollback.options import (
    DryRun,
    HistoryRequest,
    MarkRequest,
    OutputFormat,
    RecordRequest,
    ResumeRequest,
    RollbackRequest,
    VerifyRequest,
    WatchRequest,
)

IDENTITY = dict(workflow_id=None, service_id=None, infra_id=None, cluster_name=None)
# The flags as the CLI passes them when none is typed (cli.py's defaults).
ROLLBACK = dict(IDENTITY, output="table", to_revision=None, release_number=None, force=False,
                trust_legacy_history=False, dry_run=None, wait=False, timeout=None, keep_canary=False,
                skip_ready_check=False, skip_preflight=False, config=None, gitops="fail", argocd_namespace="argocd",
                override_barrier=False, reason=None, pin_digests=False, any_workflow=False)
HISTORY = dict(IDENTITY, output="table", any_workflow=False, argocd_namespace="argocd")
RECORD = dict(IDENTITY, output="table", status=None, follow=False, release_number=None, artifact=None, timeout=None,
              revision=None, image=None, force=False, config_snapshot="all", rollback_on_failure=False, verify=None,
              arg=None, on_inconclusive="inprogress")
WATCH = dict(IDENTITY, all_namespaces=False, auto_rollback=False, progress_deadline="10m", log_format="text",
             leader_elect=False, lease_name="harness-rollback-watch", lease_duration="15s", health_address=None)
MARK = dict(output="table", revision=3, reason=None, clear=False)
VERIFY = dict(IDENTITY, output="table", spec="analysistemplate/error-ratio", arg=None, no_record=False,
              on_inconclusive="inprogress")
RESUME = dict(output="table", argocd_namespace="argocd")

WORKLOAD = ("deployment/web", None, None)
SERVICE = ("service/web", None, None)
RELEASE = (None, "rel-1", None)
HARNESS = (None, None, "rel-1")


def refused(build, message: str) -> None:
    """`build()` refuses with exactly one line that contains `message`, as a usage error (exit 2)."""
    with pytest.raises(UsageError) as caught:
        build()
    assert message in caught.value.message and "\n" not in caught.value.message, caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("selection, flags, message", [
    (WORKLOAD, dict(override_barrier=True), "--override-barrier and --reason TEXT go together"),
    (WORKLOAD, dict(reason="schema v2"), "--override-barrier and --reason TEXT go together"),
    (WORKLOAD, dict(timeout="90s"), "--timeout 90s bounds --wait, which was not given"),
    (WORKLOAD, dict(to_revision=-1), "--to-revision must be a revision number, got -1"),
    (WORKLOAD, dict(force=True), "--force lets --to-revision name a revision recorded Failed"),
    (WORKLOAD, dict(release_number=2), "--release-number names a release of Harness's own history"),
    (WORKLOAD, dict(trust_legacy_history=True), "--trust-legacy-history is about Harness's own history"),
    (WORKLOAD, dict(workflow_id="wf", any_workflow=True), "--any-workflow and --workflow-id contradict"),
    (WORKLOAD, dict(argocd_namespace=""), "--argocd-namespace is empty"),
    (WORKLOAD, dict(dry_run="maybe"), "--dry-run 'maybe': must be client, server or none"),
    (WORKLOAD, dict(config="all"), "--config 'all': must be one of restore, repoint, none"),
    (WORKLOAD, dict(gitops="later"), "--gitops 'later': must be one of fail, pause, ignore"),
    (WORKLOAD, dict(output="name"), "--output name: kubectl's -o name is not offered here"),
    (SERVICE, dict(to_revision=2), "--to-revision names a revision of one workload; pass KIND/NAME"),
    (RELEASE, dict(override_barrier=True, reason="why"), "--override-barrier crosses the barrier of one workload"),
    (RELEASE, dict(pin_digests=True), "--pin-digests pins the images of one workload's revision"),
    (HARNESS, dict(release_number=0), "--release-number must be a positive release number, got 0"),
])
def test_rollback_refuses(selection, flags, message):
    target = targets.select(*selection)
    refused(lambda: RollbackRequest.from_flags(target, **dict(ROLLBACK, **flags)), message)


def test_rollback_takes_every_flag_into_its_request():
    request = RollbackRequest.from_flags(targets.select(*WORKLOAD), **dict(
        ROLLBACK, output="json", to_revision=0, dry_run="server", wait=True, timeout="90s", override_barrier=True,
        reason=" schema v2 ", workflow_id="wf"))
    assert (request.output, request.to_revision, request.dry_run, request.timeout, request.override_barrier,
            request.flags.workflow_id) == (OutputFormat.JSON, None, DryRun.SERVER, 90.0, "schema v2", "wf")
    # Harness's own history takes --force alone, and a release number
    assert RollbackRequest.from_flags(targets.select(*HARNESS), **dict(ROLLBACK, force=True, release_number=3)).force


@pytest.mark.parametrize("flags, message", [
    (dict(workflow_id="wf", any_workflow=True), "--any-workflow and --workflow-id contradict"),
    (dict(argocd_namespace="Argo"), "--argocd-namespace 'Argo' is not a valid namespace name"),
    (dict(output="xml"), "--output 'xml': must be one of table, wide, json, yaml"),
    (dict(cluster_name=" "), "--cluster-name is empty"),
])
def test_history_refuses(flags, message):
    refused(lambda: HistoryRequest.from_flags(**dict(HISTORY, **flags)), message)


@pytest.mark.parametrize("flags, message", [
    (dict(), "pass exactly one of --status and --follow"),
    (dict(status="Succeeded", follow=True), "pass exactly one of --status and --follow"),
    (dict(status="Failed", rollback_on_failure=True), "--rollback-on-failure acts on the rollout --follow waits"),
    (dict(status="Succeeded", verify="t.yaml"), "--verify runs after the rollout --follow waits for"),
    (dict(follow=True, arg=["threshold=1"]), "--arg is for the analysis: pass --verify with it"),
    (dict(follow=True, on_inconclusive="fail"), "--on-inconclusive is for the analysis: pass --verify with it"),
    (dict(status="Succeeded", timeout="5m"), "--timeout 5m bounds --follow, which was not given"),
    (dict(status="Succeeded", revision=0), "--revision must be a positive revision number, got 0"),
    (dict(status="Done"), "--status 'Done': must be one of Succeeded, Failed, InProgress"),
    (dict(status="Succeeded", config_snapshot="some"), "--config-snapshot 'some': must be one of"),
    (dict(status="Succeeded", image=[""]), "--image is empty"),
])
def test_record_refuses(flags, message):
    refused(lambda: RecordRequest.from_flags(**dict(RECORD, **flags)), message)


def test_record_with_verify_carries_the_analysis_with_the_same_identity():
    request = RecordRequest.from_flags(**dict(RECORD, follow=True, verify="t.yaml", arg=["a=1", "b=2"],
                                              on_inconclusive="fail", workflow_id="wf"))
    assert request.verify == VerifyRequest(request.flags, "t.yaml", (("a", "1"), ("b", "2")), inconclusive_fails=True)


@pytest.mark.parametrize("flags, message", [
    (dict(log_format="xml"), "--log-format 'xml': must be text or json"),
    (dict(lease_duration="1s"), "--lease-duration 1s: must be at least 2s"),
    (dict(lease_name="Watch_Lease"), "--lease-name: 'Watch_Lease' is not a valid object name"),
    (dict(health_address="8080"), "--health-address '8080': write it as :8080 or 127.0.0.1:8080"),
    (dict(progress_deadline="soon"), "--progress-deadline 'soon': not a duration"),
])
def test_watch_refuses(flags, message):
    refused(lambda: WatchRequest.from_flags(**dict(WATCH, **flags)), message)


@pytest.mark.parametrize("flags, message", [
    (dict(), "pass exactly one of --reason TEXT and --clear"),
    (dict(reason="bad", clear=True), "pass exactly one of --reason TEXT and --clear"),
    (dict(revision=0, clear=True), "--revision must be a revision number, got 0"),
    (dict(reason=""), "--reason is empty"),
])
def test_mark_bad_and_barrier_refuse(flags, message):
    refused(lambda: MarkRequest.from_flags(**dict(MARK, **flags)), message)


@pytest.mark.parametrize("flags, message", [
    (dict(on_inconclusive="pass"), "--on-inconclusive 'pass': must be inprogress or fail"),
    (dict(arg=["threshold"]), "--arg 'threshold': write it as KEY=VALUE"),
    (dict(infra_id="a\nb"), "--infra-id must be printable text"),
])
def test_verify_refuses(flags, message):
    refused(lambda: VerifyRequest.from_flags(**dict(VERIFY, **flags)), message)


def test_resume_refuses():
    refused(lambda: ResumeRequest.from_flags(**dict(RESUME, argocd_namespace="")), "--argocd-namespace is empty")
    refused(lambda: targets.select_resumable(None), "resume needs KIND/NAME or service/NAME")
    refused(lambda: targets.select_resumable("deployment"), "is not KIND/NAME")


@pytest.mark.parametrize("service", ["service/web", "svc/web"])
def test_interactive_on_a_service_says_what_a_service_offers_instead(capsys, service):
    # Tester finding: it said "pass KIND/NAME", as if service/NAME were not one; a Service has colours, not revisions.
    from kubectl_rollback import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["rollback", service, "-i"])
    assert exited.value.code == ExitCode.USAGE
    assert capsys.readouterr().err == (
        f"error: --interactive is not offered for a Blue/Green {service}: its rollback picks no revision, it routes "
        f"the primary Service back to the other colour; run 'kubectl harness-rollback rollback {service} --dry-run' "
        "to see that switch, then without --dry-run (or -i on the Deployment of one colour: 'kubectl harness-rollback "
        f"history {service}' names them)\n")


def test_the_commands_a_refusal_prints_carry_the_namespace_and_context_typed(capsys):
    # Tester finding: `rollback service/shop -n bg -i` printed commands without -n bg, which then looked in default.
    from kubectl_rollback import cli

    with pytest.raises(SystemExit):
        cli.main(["rollback", "service/shop", "-i", "-n", "bg", "--context", "prod east", "--kubeconfig", "k.yaml"])
    flags = f"-n bg --kubeconfig {os.path.abspath('k.yaml')} --context 'prod east'"  # absolute: pasted anywhere
    err = capsys.readouterr().err
    assert f"'kubectl harness-rollback rollback service/shop --dry-run {flags}'" in err, err
    assert f"'kubectl harness-rollback history service/shop {flags}' names them" in err, err
