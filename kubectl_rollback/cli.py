"""The command line: parse flags, build the request, call the target (or record), print its result, map errors to
exit codes.

Kept thin on purpose: no decision and no orchestration here (targets.py and commands/ do the work, output.py prints),
and the modules that talk to the cluster are imported only when a command runs, so --help and shell completion stay
fast.
"""

# No `from __future__ import annotations` here: on Python 3.9 typer reads the Annotated option names and help from
# the evaluated annotations only, and would see strings (no -n, no --as, no help text).

import copy
import functools
import inspect
import os
import re
import sys
import textwrap
from typing import TYPE_CHECKING, Annotated, Any, Callable, List, Optional

import click
import typer

from kubectl_rollback import __version__, console, interrupts
from kubectl_rollback.errors import ExitCode, PreflightBlockedError, RollbackError, UsageError
from kubectl_rollback.options import (
    DEFAULT_ARGOCD_NAMESPACE,
    DryRun,
    FleetRequest,
    HistoryRequest,
    IdentityFlags,
    Impersonation,
    MarkRequest,
    OutputFormat,
    RecordRequest,
    ResumeRequest,
    RollbackRequest,
    VerifyRequest,
    WatchRequest,
    check_namespace,
    parse_duration,
    parse_output,
    parse_user_extra,
)

if TYPE_CHECKING:
    from kubectl_rollback.kube import ConnectionOptions, Kube
    from kubectl_rollback.output import Result

PROG = "kubectl harness-rollback"
# click 8.2 raises NoArgsIsHelpError for a bare command; 8.0 and 8.1 (the krew archive's, for Python 3.9) print the
# help themselves and exit 0, so there is nothing to catch: an empty tuple matches no exception.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


KUBECTL_FLAGS = """\
\b
kubectl's other connection flags are taken too, as kubectl takes them (kubectl options):
  -s/--server, --token, --certificate-authority, --client-certificate, --client-key,
  --insecure-skip-tls-verify, --tls-server-name, --cluster, --user, --username, --password, --as-user-extra"""

EXIT_CODES = KUBECTL_FLAGS + "\n\n\b\nExit codes:\n" + "\n".join(
    textwrap.fill(code.meaning, 108, initial_indent=f"  {int(code):<3}  ", subsequent_indent=" " * 7)
    for code in ExitCode)

app = typer.Typer(
    name=PROG,
    help=(
        "Roll Kubernetes workloads back to the last *successful* revision of a deployment, identified as Harness CD "
        "does: Workflow Id + Infrastructure Mapping (Service Id, Infrastructure Id, Cluster Name, Namespace). "
        "The history is the versioning annotations (harness.io/*) on each revision's ReplicaSet. "
        "ConfigMaps and Secrets the pod template reads are snapshotted at record time and restored with the "
        "workload (--config-snapshot, --config); other objects are left as they are."
    ),
    epilog="\b\nExamples:\n"
    "  # after each deploy, in the pipeline\n"
    f"  {PROG} record deployment/web --follow --workflow-id wf1 --service-id svc --infra-id infra\n"
    "  # during an incident: what would we go back to, then go\n"
    f"  {PROG} history deployment/web\n"
    f"  {PROG} rollback deployment/web --dry-run\n"
    f"  {PROG} rollback deployment/web --wait\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,  # completion is kubectl's: kubectl_complete-harness_rollback (README, "Shell completion")
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)

# -- shared flags ------------------------------------------------------------------------------------------------

Workload = Annotated[
    str, typer.Argument(metavar="KIND/NAME", help="deployment/NAME (also deploy/, statefulset/, daemonset/)")
]
OptionalWorkload = Annotated[
    Optional[str],
    typer.Argument(
        metavar="KIND/NAME",
        help="deployment/, statefulset/, daemonset/NAME, or service/NAME for a Blue/Green primary Service",
        show_default=False,
    ),
]
ReleaseName = Annotated[
    Optional[str],
    typer.Option("--release-name", help="Every workload whose pod template has harness.io/release-name=R."),
]
HARNESS_RELEASE_HELP = ("Harness's own release history of release R, found as Harness finds it: declarative release "
                        "Secrets harness.release.R.<n> (while one Succeeded), else Secret R, else ConfigMap R")
HarnessReleaseRollback = Annotated[
    Optional[str],
    typer.Option("--harness-release", help=f"{HARNESS_RELEASE_HELP}; rolled back as Harness's rollback would, "
                 "with Harness's own book-keeping (docs/releases.md)."),
]
HarnessRelease = Annotated[
    Optional[str],
    typer.Option("--harness-release", help=f"{HARNESS_RELEASE_HELP} (read-only)."),
]
Kubeconfig = Annotated[Optional[str], typer.Option("--kubeconfig", help="Path to the kubeconfig file to use.")]
Context = Annotated[Optional[str], typer.Option("--context", help="The kubeconfig context to use.")]
As = Annotated[
    Optional[str], typer.Option("--as", help="Username to impersonate for the operation (user or service account).")
]
AsGroup = Annotated[
    Optional[List[str]],
    typer.Option("--as-group", help="Group to impersonate for the operation; repeat it for several groups."),
]
AsUid = Annotated[Optional[str], typer.Option("--as-uid", help="UID to impersonate for the operation.")]
# kubectl's other connection flags: taken as kubectl takes them, listed once in each verb's help (KUBECTL_FLAGS), as
# kubectl lists its global flags in `kubectl options` rather than in every command's help.
AsUserExtra = Annotated[Optional[List[str]], typer.Option("--as-user-extra", hidden=True)]
Server = Annotated[Optional[str], typer.Option("--server", "-s", hidden=True)]
Token = Annotated[Optional[str], typer.Option("--token", hidden=True)]
CertificateAuthority = Annotated[Optional[str], typer.Option("--certificate-authority", hidden=True)]
ClientCertificate = Annotated[Optional[str], typer.Option("--client-certificate", hidden=True)]
ClientKey = Annotated[Optional[str], typer.Option("--client-key", hidden=True)]
InsecureSkipTlsVerify = Annotated[bool, typer.Option("--insecure-skip-tls-verify", hidden=True)]
TlsServerName = Annotated[Optional[str], typer.Option("--tls-server-name", hidden=True)]
ClusterEntry = Annotated[Optional[str], typer.Option("--cluster", hidden=True)]
UserEntry = Annotated[Optional[str], typer.Option("--user", hidden=True)]
Username = Annotated[Optional[str], typer.Option("--username", hidden=True)]
Password = Annotated[Optional[str], typer.Option("--password", hidden=True)]
Namespace = Annotated[
    Optional[str], typer.Option("--namespace", "-n", help="Namespace (default: the context's, else default).")
]
RequestTimeout = Annotated[
    str, typer.Option("--request-timeout", help="How long one API request may take (e.g. 30s, 500ms; 0: no limit).")
]
WorkflowId = Annotated[Optional[str], typer.Option("--workflow-id", help="Workflow (pipeline) Id of the deployment.")]
ServiceId = Annotated[Optional[str], typer.Option("--service-id", help="Service Id of the Infrastructure Mapping.")]
InfraId = Annotated[Optional[str], typer.Option("--infra-id", help="Infrastructure Id of the Infrastructure Mapping.")]
ClusterName = Annotated[
    Optional[str],
    typer.Option("--cluster-name", help="Cluster Name of the mapping (default: the kubeconfig context's cluster)."),
]
AnyWorkflow = Annotated[
    bool,
    typer.Option("--any-workflow", help="Match the Infrastructure Mapping only, whatever workflow deployed it."),
]
Output = Annotated[str, typer.Option("--output", "-o", help="Output format: table, wide, json or yaml.")]
ArgocdNamespace = Annotated[
    str, typer.Option("--argocd-namespace", help="Where Argo CD's Applications are (label tracking; resume: by default "
                      "where the pause left it; docs/gitops.md).")
]
WaitTimeout = Annotated[
    Optional[str], typer.Option("--timeout", help="How long --wait may wait (e.g. 90s; default 5m); only with --wait.")
]
FollowTimeout = Annotated[
    Optional[str],
    typer.Option("--timeout", help="How long --follow may wait (e.g. 90s; default 10m); only with --follow."),
]
AnalysisArgs = Annotated[
    Optional[List[str]],
    typer.Option("--arg", metavar="KEY=VALUE",
                 help="A value for one of the template's args (repeatable); wins over its declared value."),
]
OnInconclusive = Annotated[
    str,
    typer.Option("--on-inconclusive", metavar="inprogress|fail",
                 help="What an Inconclusive or Error analysis records: InProgress (default, exit 7) or Failed "
                 "(exit 4)."),
]
VERIFY_METAVAR = "FILE|analysistemplate/NAME|clusteranalysistemplate/NAME"


def connection_options(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    as_user: As = None,
    as_group: AsGroup = None,
    as_uid: AsUid = None,
    namespace: Namespace = None,
    request_timeout: RequestTimeout = "30s",
    as_user_extra: AsUserExtra = None,
    server: Server = None,
    token: Token = None,
    certificate_authority: CertificateAuthority = None,
    client_certificate: ClientCertificate = None,
    client_key: ClientKey = None,
    insecure_skip_tls_verify: InsecureSkipTlsVerify = False,
    tls_server_name: TlsServerName = None,
    cluster: ClusterEntry = None,
    user: UserEntry = None,
    username: Username = None,
    password: Password = None,
) -> "ConnectionOptions":
    """The connection flags, checked, as the client takes them (also for shell completion's lookups). Its parameters
    are the flags every verb gets (CONNECTION_FLAGS)."""
    from kubectl_rollback.kube import ConnectionOptions
    from kubectl_rollback.kubeconfig import Overrides

    impersonation = Impersonation(as_user, tuple(as_group or ()), as_uid,
                                  tuple(parse_user_extra(e) for e in as_user_extra or ())).validate()
    # As kubectl, the values are taken as typed, and an empty one is not given.
    overrides = Overrides(
        cluster=cluster or "", user=user or "", server=server or "", token=token or "",
        certificate_authority=certificate_authority or "", client_certificate=client_certificate or "",
        client_key=client_key or "", insecure_skip_tls_verify=insecure_skip_tls_verify,
        tls_server_name=tls_server_name or "", username=username or "", password=password or "",
        impersonate=impersonation.user or "", impersonate_uid=impersonation.uid or "",
        impersonate_groups=impersonation.groups, impersonate_extra=impersonation.extra,
    )
    return ConnectionOptions(kubeconfig=kubeconfig, context=context, namespace=check_namespace(namespace),
                             request_timeout=parse_duration(request_timeout, "--request-timeout", zero=True),
                             overrides=overrides)


class Connect:
    """kubectl's connection flags as given, checked when a client is made: `connect()` for the one context they name,
    `connect(NAME)` for context NAME with every other flag as given (a run across contexts)."""

    def __init__(self, flags: dict):
        self._flags = flags
        self.kubeconfig: Optional[str] = flags["kubeconfig"]
        self.context: Optional[str] = flags["context"]

    def __call__(self, context: Optional[str] = None) -> "Kube":
        return _connect(connection_options(**dict(self._flags, context=context or self.context)))

    def typed(self) -> str:
        """The flags given that reach the cluster and namespace, for a command printed before connecting."""
        from kubectl_rollback.kube import typed_flags

        return typed_flags(connection_options(**self._flags))


# kubectl's connection flags, last on every verb: connection_options' parameters, declared there once.
CONNECTION_FLAGS = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                    for p in inspect.signature(connection_options).parameters.values()]


def _connect(options: "ConnectionOptions") -> "Kube":
    from kubectl_rollback.kube import Kube

    return Kube.connect(options)


def connects(verb: Callable[..., None]) -> Callable[..., None]:
    """Give a verb kubectl's connection flags, declared once here: typer reads a verb's flags from its signature,
    so the flags are added to the signature it sees, and the verb gets `connect` (validated flags in, a client out)
    in their place. Nothing connects before the verb has checked its own flags."""

    # Not the annotations: typer evaluates those it finds, and `connect`'s names a type imported for mypy only.
    @functools.wraps(verb, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    def with_connection_flags(**given: Any) -> None:
        flags = {p.name: given.pop(p.name) for p in CONNECTION_FLAGS}
        verb(connect=Connect(flags), **given)

    own = [p for p in inspect.signature(verb).parameters.values() if p.name != "connect"]
    with_connection_flags.__signature__ = inspect.Signature(own + CONNECTION_FLAGS)  # type: ignore[attr-defined]
    return with_connection_flags


Contexts = Annotated[
    Optional[str],
    typer.Option("--contexts", metavar="A,B,...", help="Run for each of these kubeconfig contexts, as --context X "
                 "would, and print one report: a row per context (README, \"Across clusters\").", show_default=False),
]
AllContexts = Annotated[bool, typer.Option("--all-contexts", help="As --contexts, with every context of the "
                                           "kubeconfig, in its order.")]
MaxParallel = Annotated[Optional[int], typer.Option("--max-parallel", help="With --contexts/--all-contexts: how "
                                                    "many contexts run at once (default 4).", show_default=False)]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="With --contexts/--all-contexts: start no context after "
                                        "the first one failed (--max-parallel 1 --fail-fast: one by one).")]


def _per_context(verb: str, fleet: Optional[FleetRequest], connect: Connect,
                 act: Callable[["Kube", Any], "Result"], fmt: OutputFormat) -> "Result":
    """The verb's work on the context the flags name, or on each context of a fleet, as that one would run."""
    from kubectl_rollback import output

    if fleet is None:
        return act(connect(), output.progress(fmt))
    from kubectl_rollback.commands import fleet as command

    return command.run(verb, fleet, connect.kubeconfig, connect, act, fmt)


def _finish(result: "Result", fmt: OutputFormat) -> None:
    """Print the result, then end with the error it carries, if any (its exit code leaves from main)."""
    from kubectl_rollback import output

    failure = result.failure()
    interrupts.finished()
    output.show(result, fmt, click.get_current_context().info_name or "", failure)
    if failure is not None:
        raise failure


# -- verbs -------------------------------------------------------------------------------------------------------


@app.command(
    epilog="\b\nExamples:\n"
    "  # right after kubectl apply: mark the new revision, then its outcome\n"
    f"  {PROG} record deployment/web --status InProgress --workflow-id wf1 --service-id svc --infra-id infra\n"
    f"  {PROG} record deployment/web --status Succeeded\n"
    "  # or in one line: InProgress now, Succeeded or Failed when the rollout ends\n"
    f"  {PROG} record deployment/web --follow --timeout 10m --workflow-id wf1 --service-id svc --infra-id infra\n"
    "  # name what you deployed: the record lands on no other revision (another pipeline's, say)\n"
    f"  {PROG} record deployment/web --follow --image example.test/web:1.8.2 --workflow-id wf1 --service-id svc "
    "--infra-id infra\n"
    "  # and roll it back by itself if it fails (the command still exits 4)\n"
    f"  {PROG} record deployment/web --follow --rollback-on-failure --workflow-id wf1 --service-id svc --infra-id infra"
    "\n"
    "  # Succeeded only once a metric analysis of the new revision is Successful too (docs/verify.md)\n"
    f"  {PROG} record deployment/web --follow --verify analysistemplate/error-ratio --rollback-on-failure "
    "--workflow-id wf1 --service-id svc --infra-id infra"
    "\n\n" + EXIT_CODES
)
@connects
def record(
    workload: Workload,
    status: Annotated[
        Optional[str], typer.Option("--status", help="Succeeded, Failed or InProgress (or use --follow).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Record InProgress, wait for the rollout, then record its outcome.")
    ] = False,
    release_number: Annotated[
        Optional[str], typer.Option("--release-number", help="The pipeline's release or build number (127, 1.8.2).")
    ] = None,
    artifact: Annotated[
        Optional[str], typer.Option("--artifact", help="What was deployed (default: the template's images).")
    ] = None,
    timeout: FollowTimeout = None,
    revision: Annotated[
        Optional[int],
        typer.Option("--revision", help="The revision you deployed; refused if another is live (default: the live "
                     "one, if it runs what the last kubectl apply applied).", show_default=False),
    ] = None,
    image: Annotated[
        Optional[List[str]],
        typer.Option("--image", help="An image the revision you deployed runs (repeatable); refused if the live "
                     "revision does not run it. Pipelines should pass it: without it or --revision, record is refused "
                     "when two revisions were deployed since the last record.", show_default=False),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Record anyway a revision that a rollback restored as Failed or InProgress, "
                     "or one recorded for another identity (replacing its record)."),
    ] = False,
    config_snapshot: Annotated[
        str,
        typer.Option(
            "--config-snapshot",
            help="Snapshot the ConfigMaps and Secrets the pod template reads (all), only the ConfigMaps, or none; "
            "rollback puts them back (docs/config-rollback.md).",
            metavar="all|configmaps|none",
        ),
    ] = "all",
    rollback_on_failure: Annotated[
        bool,
        typer.Option("--rollback-on-failure",
                     help="With --follow: roll a failed rollout back to the last good revision (still exit 4)."),
    ] = False,
    verify: Annotated[
        Optional[str],
        typer.Option("--verify", metavar=VERIFY_METAVAR, show_default=False,
                     help="With --follow: once the rollout completes, run this Argo Rollouts AnalysisTemplate on the "
                     "revision; Succeeded only if it is Successful, Failed if it fails (docs/verify.md).",
                     click_type=click.Path()),  # a path: shell completion offers file names
    ] = None,
    arg: AnalysisArgs = None,
    on_inconclusive: OnInconclusive = "inprogress",
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Record the outcome of a deployment on the revision that backs the workload now.

    Identity flags left out keep the values already recorded on that revision, so a pipeline can record
    InProgress with every flag and later Succeeded or Failed with --status alone. Only the live revision is
    recorded, and only if it is the one deployed (--revision, --image, or the last kubectl apply's images); a
    record of another identity is not replaced without --force. With --follow, the followed revision is judged
    itself: if it stops being live (a rollback, a newer deploy), it is not Succeeded (exit 4, at once; see
    docs/annotations.md). With --verify, a completed rollout is Succeeded only once the metric analysis is
    Successful (Failed: recorded Failed, exit 4; Inconclusive or Error: left InProgress, exit 7; docs/verify.md).
    The revision also keeps what was
    applied for it (harness.io/applied-template, harness.io/template-owners), so that a rollback to it leaves the
    next kubectl apply, client-side or server-side, consistent.
    """
    from kubectl_rollback.commands import record as command
    from kubectl_rollback.targets import parse_kind_name

    kind, name = parse_kind_name(workload)
    request = RecordRequest.from_flags(
        output=output, status=status, follow=follow, release_number=release_number, artifact=artifact,
        timeout=timeout, revision=revision, image=image, force=force, config_snapshot=config_snapshot,
        rollback_on_failure=rollback_on_failure, verify=verify, arg=arg, on_inconclusive=on_inconclusive,
        workflow_id=workflow_id, service_id=service_id, infra_id=infra_id, cluster_name=cluster_name)
    _finish(command.run(connect(), kind, name, request), request.output)


@app.command(
    epilog="\b\nExamples:\n"
    f"  {PROG} history deployment/web\n"
    f"  {PROG} history deployment/web --any-workflow -o wide\n"
    f"  {PROG} history statefulset/db --workflow-id wf1 -o json\n"
    "  # a Blue/Green primary Service: both colours, which is live, which is the target\n"
    f"  {PROG} history service/web\n"
    "  # every workload in the namespace, or of one release\n"
    f"  {PROG} history --all\n"
    f"  {PROG} history --release-name release-3f2a\n"
    "  # Harness's own release history (release Secrets harness.release.R.<n>, else Secret or ConfigMap R)\n"
    f"  {PROG} history --harness-release release-3f2a\n"
    "  # the same workload in every cluster of the kubeconfig: one row per context\n"
    f"  {PROG} history deployment/web --all-contexts\n\n" + EXIT_CODES
)
@connects
def history(
    workload: OptionalWorkload = None,
    all_: Annotated[bool, typer.Option("--all", help="Every workload in the namespace.")] = False,
    release_name: ReleaseName = None,
    harness_release: HarnessRelease = None,
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    any_workflow: AnyWorkflow = False,
    argocd_namespace: ArgocdNamespace = DEFAULT_ARGOCD_NAMESPACE,
    contexts: Contexts = None,
    all_contexts: AllContexts = False,
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """List every revision, newest first, with its record, the live one and the rollback target.

    The identity is taken from the flags, or where they are left out, from the record on the live revision.
    Revisions without a record show status Unknown.
    """
    from kubectl_rollback.targets import select

    target = select(workload, release_name, harness_release, all_)
    request = HistoryRequest.from_flags(
        output=output, workflow_id=workflow_id, service_id=service_id, infra_id=infra_id, cluster_name=cluster_name,
        any_workflow=any_workflow, argocd_namespace=argocd_namespace)
    fleet = FleetRequest.parse(contexts, all_contexts, max_parallel, fail_fast, connect.context)
    _finish(_per_context("history", fleet, connect, lambda kube, progress: target.history(kube, request),
                         request.output), request.output)


@app.command(
    epilog="\b\nExamples:\n"
    "  # what a rollback would change: the live revision against the rollback target\n"
    f"  {PROG} diff deployment/web\n"
    "  # the live revision against revision 2, then two revisions\n"
    f"  {PROG} diff deployment/web 2\n"
    f"  {PROG} diff deployment/web 1 2\n"
    "  # in your own diff program (two folders, one file per object), as kubectl diff\n"
    f"  KUBECTL_EXTERNAL_DIFF='meld' {PROG} diff deployment/web live target\n"
    "  # a Blue/Green pair: the live colour against the other (the rollback target's)\n"
    f"  {PROG} diff service/web\n\n" + KUBECTL_FLAGS + """
\b
Exit codes:
  0    no difference (as kubectl diff and diff(1))
  1    the revisions differ
  2    usage error or any other error (API failure, RBAC denial, KUBECTL_EXTERNAL_DIFF's program failed)
  3    no such revision (pruned), or no rollback target for `target`
  130  interrupted (Ctrl-C)"""
)
@connects
def diff(
    workload: Workload,
    revisions: Annotated[
        Optional[List[str]],
        typer.Argument(metavar="[REV_A [REV_B]]", show_default=False,
                       help="Revision numbers (as history shows them), live or target; none: live against target; "
                       "one: live against it."),
    ] = None,
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    any_workflow: AnyWorkflow = False,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Show what differs between two revisions of a workload: their pod templates, and the ConfigMap and Secret
    snapshots both recorded (a Secret's keys only, never a value).

    A unified diff, or with KUBECTL_EXTERNAL_DIFF the program it names on two folders (REVISION-A-*, REVISION-B-*)
    of one file per object, as kubectl diff runs it; -o json|yaml lists the changed paths per object. The rollback
    target is the one rollback --dry-run picks, for the identity of the flags or of the live revision's record.
    """
    from kubectl_rollback.commands import diff as command
    from kubectl_rollback.options import check_name
    from kubectl_rollback.targets import SERVICE_ALIASES, parse_kind_name

    try:
        kind_text, _, service = workload.partition("/")
        pair = kind_text.lower() in SERVICE_ALIASES and service
        kind, name = (None, check_name(service, workload)) if pair else parse_kind_name(workload)
        fmt = parse_output(output)
        flags = IdentityFlags(workflow_id, service_id, infra_id, cluster_name, any_workflow).validate()
        external = None if fmt.is_data else os.environ.get(command.EXTERNAL_DIFF) or None
        result = (command.run_service(connect(), name, revisions or (), flags, external) if kind is None
                  else command.run(connect(), kind, name, revisions or (), flags, external))
        _finish(result, fmt)
    except RollbackError as exc:
        if exc.exit_code == ExitCode.ERROR:  # diff's 1 means "they differ": an error is 2, as diff(1) says trouble
            exc.exit_code = ExitCode.USAGE
        raise
    if result.differ:
        raise typer.Exit(int(ExitCode.ERROR))


@app.command(
    epilog="\b\nExamples:\n"
    "  # back to the last revision recorded Succeeded by the same workflow on the same mapping\n"
    f"  {PROG} rollback deployment/web --wait\n"
    "  # any workflow that deployed to the same Infrastructure Mapping\n"
    f"  {PROG} rollback deployment/web --any-workflow\n"
    "  # show the template diff and change nothing\n"
    f"  {PROG} rollback deployment/web --dry-run\n"
    f"  {PROG} rollback deployment/web --to-revision 3 --force\n"
    "  # pick from the history on the terminal, see the diff, confirm\n"
    f"  {PROG} rollback deployment/web -i\n"
    "  # Blue/Green: route the primary Service back to the last good colour\n"
    f"  {PROG} rollback service/web --wait\n"
    "  # every workload of a release, each to its own last good revision\n"
    f"  {PROG} rollback --release-name release-3f2a\n"
    "  # as Harness's Rolling Rollback would, from Harness's own release history\n"
    f"  {PROG} rollback --harness-release release-3f2a\n"
    "  # every region at once, then one row per context (exit 1 if any failed, else 3 if any had no target)\n"
    f"  {PROG} rollback deployment/web --contexts eu-west,us-east,ap-south --wait\n"
    "  # region by region, stopping at the first failure\n"
    f"  {PROG} rollback deployment/web --all-contexts --max-parallel 1 --fail-fast\n\n" + EXIT_CODES
)
@connects
def rollback(
    workload: OptionalWorkload = None,
    release_name: ReleaseName = None,
    harness_release: HarnessReleaseRollback = None,
    to_revision: Annotated[
        Optional[int],
        typer.Option("--to-revision", help="Roll back to this revision instead of the last good one (0: that one)."),
    ] = None,
    release_number: Annotated[
        Optional[int],
        typer.Option("--release-number", help="--harness-release: roll back release N, as Harness does when its "
                     "deploy step passes N: to the newest Succeeded release older than N."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --to-revision to name a revision recorded Failed (only with it); "
                           "with --harness-release, roll back although the newest release Succeeded.")
    ] = False,
    trust_legacy_history: Annotated[
        bool, typer.Option("--trust-legacy-history", help="--harness-release, when you may not list Secrets (the "
                           "by-name Role): roll back from ConfigMap/Secret R although newer declarative release "
                           "Secrets could not be looked for (refused without it).")
    ] = False,
    dry_run: Annotated[
        Optional[str],
        typer.Option(
            "--dry-run",
            help="client: change nothing and print the template diff; server: send the change with dryRun=All.",
            metavar="[client|server]",
        ),
    ] = None,
    wait_: Annotated[bool, typer.Option(
        "--wait",
        help="Follow the rollout until it completes (Ctrl-C stops the waiting, not the rollout, and says what was "
             "rolled back).",
    )] = False,
    timeout: WaitTimeout = None,
    keep_canary: Annotated[
        bool, typer.Option("--keep-canary", help="Do not delete the canary Deployment NAME-canary.")
    ] = False,
    skip_ready_check: Annotated[
        bool,
        typer.Option("--skip-ready-check", help="Blue/Green: switch even if the target colour has no ready pods."),
    ] = False,
    skip_preflight: Annotated[
        bool,
        typer.Option("--skip-preflight", help="Write without first checking that the target can run (the objects "
                     "its pods reference, admission of the write and of a pod, in a dry run; blocked: exit 5)."),
    ] = False,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config",
            help="The target revision's config snapshots: restore their content into the objects (default: only "
            "objects no other workload reads), repoint the template at the snapshots, or none (workload only).",
            metavar="restore|repoint|none",
        ),
    ] = None,
    gitops: Annotated[
        str,
        typer.Option(
            "--gitops",
            help="When an Argo CD Application (self-heal) or Flux Kustomization/HelmRelease (not suspended) would "
            "undo the rollback: fail (change nothing, exit 1), pause it first (undo with resume), or ignore (warn).",
            metavar="fail|pause|ignore",
        ),
    ] = "fail",
    argocd_namespace: ArgocdNamespace = DEFAULT_ARGOCD_NAMESPACE,
    override_barrier: Annotated[
        bool, typer.Option("--override-barrier", help="Go behind a barrier (set with `barrier`); needs --reason, "
                           "recorded on the target with who crossed it (harness.io/barrier-crossed).")
    ] = False,
    reason: Annotated[
        Optional[str], typer.Option("--reason", help="Why --override-barrier crosses the barrier.")
    ] = None,
    pin_digests: Annotated[
        bool, typer.Option("--pin-digests", help="Write the target's images as image:tag@sha256:..., the digests "
                           "recorded for it (a new pod template: docs/apply-consistency.md).")
    ] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="Pick the revision from the history on the terminal (the "
                           "target preselected), see its diff and pre-flight, then confirm; declined: exit 1.")
    ] = False,
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    any_workflow: AnyWorkflow = False,
    contexts: Contexts = None,
    all_contexts: AllContexts = False,
    max_parallel: MaxParallel = None,
    fail_fast: FailFast = False,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Roll a workload back to the last revision recorded Succeeded for its deployment identity.

    The pod template of that revision replaces the workload's, as `kubectl rollout undo` does; nothing else of
    the workload changes. The revision left is recorded Failed if it was InProgress or unrecorded, and the
    target gets the audit annotations harness.io/rolled-back-from and harness.io/rolled-back-at. A canary
    Deployment NAME-canary (pods labelled harness.io/track: canary) is deleted, unless --keep-canary. The
    template part of kubectl.kubernetes.io/last-applied-configuration and the template's field owners come back
    with the template, so the next kubectl apply (client- or server-side) gives exactly its manifest.
    """
    from kubectl_rollback.targets import select

    target = select(workload, release_name, harness_release)
    request = RollbackRequest.from_flags(
        target, output=output, to_revision=to_revision, release_number=release_number, force=force,
        trust_legacy_history=trust_legacy_history, dry_run=dry_run, wait=wait_, timeout=timeout,
        keep_canary=keep_canary, skip_ready_check=skip_ready_check, skip_preflight=skip_preflight, config=config,
        gitops=gitops, argocd_namespace=argocd_namespace, override_barrier=override_barrier, reason=reason,
        pin_digests=pin_digests, workflow_id=workflow_id, service_id=service_id, infra_id=infra_id,
        cluster_name=cluster_name, any_workflow=any_workflow)
    fleet = FleetRequest.parse(contexts, all_contexts, max_parallel, fail_fast, connect.context)
    if to_revision == 0:
        console.info("--to-revision 0: rolling back to the rollback target (the last revision recorded Succeeded for "
                     "the identity), as without --to-revision; kubectl rollout undo's 0 is the previous revision")
    if interactive:
        _check_interactive(workload, target, request, fleet, connect)

    def act(kube: "Kube", on_progress: Any) -> "Result":
        try:
            if interactive:
                from kubectl_rollback.commands import interactive as picker
                from kubectl_rollback.terminal import Screen

                return picker.run(kube, target, request, on_progress, Screen())  # type: ignore[arg-type]
            return target.rollback(kube, request, on_progress)
        except PreflightBlockedError as exc:  # nothing written: what it would have done and why not, then exit 5
            if exc.result is None:
                raise
            return exc.result

    _finish(_per_context("rollback", fleet, connect, act, request.output), request.output)


def _check_interactive(workload: Optional[str], target: Any, request: RollbackRequest,
                       fleet: Optional[FleetRequest], connect: Connect) -> None:
    """--interactive: one workload, a person at a terminal on both ends (a pipeline never waits on the prompt)."""
    from kubectl_rollback.commands.bluegreen import ServiceTarget
    from kubectl_rollback.terminal import interactive

    if isinstance(target, ServiceTarget):
        flags = f" {connect.typed()}".rstrip()
        raise UsageError(f"--interactive is not offered for a Blue/Green {workload}: its rollback picks no revision, "
                         "it routes the primary Service back to the other colour; run "
                         f"'{PROG} rollback {workload} --dry-run{flags}' to see that switch, then without --dry-run "
                         f"(or -i on the Deployment of one colour: '{PROG} history {workload}{flags}' names them)")
    if not target.takes_to_revision or fleet is not None:
        raise UsageError("--interactive picks a revision of one workload in one context; pass KIND/NAME (and "
                         "--context, not --contexts)")
    if request.to_revision is not None or request.dry_run is not DryRun.NONE or request.output.is_data:
        raise UsageError("--interactive picks the revision and shows the diff itself: leave out --to-revision, "
                         "--dry-run and -o json|yaml")
    if not interactive():
        raise UsageError("--interactive needs a terminal on stdin and stdout; in a script pass --to-revision N "
                         "(history shows the numbers)")


MarkRevision = Annotated[int, typer.Option("--revision", help="The revision number (as history shows it).",
                                            show_default=False)]
MarkReason = Annotated[Optional[str], typer.Option("--reason", help="Why; kept with who set it and when.")]


@app.command(
    "mark-bad",
    epilog="\b\nExamples:\n"
    "  # revision 3 succeeded, but corrupts carts: no rollback goes to it again\n"
    f"  {PROG} mark-bad deployment/web --revision 3 --reason 'corrupts carts (INC-214)'\n"
    f"  {PROG} mark-bad deployment/web --revision 3 --clear\n\n" + EXIT_CODES
)
@connects
def mark_bad(
    workload: Workload,
    revision: MarkRevision,
    reason: MarkReason = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take the mark off.")] = False,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Mark a revision bad: it is never a rollback target again (history: "skipped: marked bad (REASON)"), and
    rollback --to-revision N needs --force for it. Kept on the revision object (harness.io/marked-bad), with who
    marked it and when. A revision marked bad that is live is rolled back by rollback as a failed one would be.
    The first reason is kept: the same one again changes nothing, another is refused (exit 2); --clear, then mark it
    again, to replace it.
    """
    _mark("mark_bad", workload, revision, reason, clear, output, connect)


@app.command(
    epilog="\b\nExamples:\n"
    "  # revision 7 migrated the schema: no rollback may go to a revision older than 7\n"
    f"  {PROG} barrier deployment/web --revision 7 --reason 'orders schema v2'\n"
    f"  {PROG} barrier deployment/web --revision 7 --clear\n\n" + EXIT_CODES
)
@connects
def barrier(
    workload: Workload,
    revision: MarkRevision,
    reason: MarkReason = None,
    clear: Annotated[bool, typer.Option("--clear", help="Lift the barrier.")] = False,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Set a barrier at a revision: no rollback goes to an older revision (exit 3 naming it), unless
    rollback --override-barrier --reason TEXT, which is recorded on the target; watch --auto-rollback never crosses
    one. Kept on the workload (harness.io/barriers: revision number and template hash) and on the revision object
    (harness.io/barrier), so pruning the revision does not lift it. The first reason is kept: the same one again
    changes nothing, another is refused (exit 2); --clear, then set it again, to replace it.
    """
    _mark("barrier", workload, revision, reason, clear, output, connect)


def _mark(verb: str, workload: str, revision: int, reason: Optional[str], clear: bool, output: str,
          connect: Connect) -> None:
    """mark-bad and barrier: the same flags, checked the same way (commands/revision_marks.py)."""
    from kubectl_rollback.commands import revision_marks as command
    from kubectl_rollback.targets import parse_kind_name

    kind, name = parse_kind_name(workload)
    request = MarkRequest.from_flags(output=output, revision=revision, reason=reason, clear=clear)
    act = command.mark_bad if verb == "mark_bad" else command.barrier
    _finish(act(connect(), kind, name, request), request.output)


@app.command(
    epilog="\b\nExamples:\n"
    "  # record every rollout in the namespace, with no record call in any pipeline\n"
    f"  {PROG} watch -n shop\n"
    "  # the whole cluster, rolling failed rollouts back, as a Deployment of 2 replicas (deploy/watch.yaml)\n"
    f"  {PROG} watch -A --auto-rollback --leader-elect --health-address :8080 --log-format json\n\n" + EXIT_CODES
)
@connects
def watch(
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace, not only -n's.")
    ] = False,
    auto_rollback: Annotated[
        bool,
        typer.Option("--auto-rollback", help="Roll a live revision recorded Failed back to the last Succeeded one, "
                     "once, never behind a barrier (per workload: annotation harness.io/auto-rollback: \"true\")."),
    ] = False,
    progress_deadline: Annotated[
        str, typer.Option("--progress-deadline", help="StatefulSets/DaemonSets: Failed if not rolled out in this.")
    ] = "10m",
    log_format: Annotated[str, typer.Option("--log-format", help="One line per decision: text or json.")] = "text",
    leader_elect: Annotated[
        bool, typer.Option("--leader-elect", help="Act only while holding the Lease (run 2+ replicas).")
    ] = False,
    lease_name: Annotated[str, typer.Option("--lease-name", help="The Lease, in -n's namespace.")] = (
        "harness-rollback-watch"),
    lease_duration: Annotated[
        str, typer.Option("--lease-duration", help="A dead leader is replaced after this.")
    ] = "15s",
    health_address: Annotated[
        Optional[str],
        typer.Option("--health-address", help="Serve /healthz (ready), /livez and /metrics here (e.g. :8080)."),
    ] = None,
    workflow_id: Annotated[
        Optional[str], typer.Option("--workflow-id", help="Workflow Id of unrecorded revisions (default: watch).")
    ] = None,
    service_id: Annotated[
        Optional[str], typer.Option("--service-id", help="Service Id of unrecorded revisions (default: the workload).")
    ] = None,
    infra_id: Annotated[
        Optional[str], typer.Option("--infra-id", help="Infra Id of unrecorded revisions (default: the namespace).")
    ] = None,
    cluster_name: ClusterName = None,
    *,
    connect: Connect,
) -> None:
    """Record every rollout's outcome with no pipeline change: a new revision InProgress, then Succeeded or Failed.

    Runs until SIGTERM or Ctrl-C. A revision's identity is what it already carries (a pipeline's record, or
    harness.io/* keys on the workload), else the flags, else workflow watch, service = the workload, infra = its
    namespace, cluster = the context's. A pipeline's record is never overwritten: the watcher completes only the
    records it wrote itself (harness.io/recorded-by: watch). A workload annotated harness.io/verify:
    analysistemplate/NAME has each rollout measured with that Argo Rollouts template before it is Succeeded: a
    Failed analysis is Failed (rolled back with --auto-rollback), an Inconclusive one stays InProgress. See
    docs/watch.md.
    """
    from kubectl_rollback.commands import watch as command

    request = WatchRequest.from_flags(
        all_namespaces=all_namespaces, auto_rollback=auto_rollback, progress_deadline=progress_deadline,
        log_format=log_format, leader_elect=leader_elect, lease_name=lease_name, lease_duration=lease_duration,
        health_address=health_address, workflow_id=workflow_id, service_id=service_id, infra_id=infra_id,
        cluster_name=cluster_name)
    command.run(connect(), request)


@app.command(
    epilog="\b\nExamples:\n"
    "  # after the fix is in Git: give the rollback's pause back to Argo CD or Flux\n"
    f"  {PROG} resume deployment/web\n"
    f"  {PROG} resume service/web --argocd-namespace gitops\n\n" + EXIT_CODES
)
@connects
def resume(
    workload: OptionalWorkload = None,
    argocd_namespace: ArgocdNamespace = DEFAULT_ARGOCD_NAMESPACE,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Undo what `rollback --gitops=pause` did to the workload's Argo CD Application or Flux Kustomization/HelmRelease.

    Puts back exactly the value the pause changed (self-heal, suspend), from the annotation harness.io/gitops-paused
    it left on that object, and removes the annotation. If someone changed that value since, nothing is changed
    (exit 1). See docs/gitops.md.
    """
    from kubectl_rollback.targets import select_resumable

    target = select_resumable(workload)
    request = ResumeRequest.from_flags(output=output, argocd_namespace=argocd_namespace)
    _finish(target.resume(connect(), request), request.output)


@app.command(
    epilog="\b\nExamples:\n"
    "  # analyse the live revision with a template file, record Succeeded or Failed on it\n"
    f"  {PROG} verify deployment/web --verify error-ratio.yaml --arg threshold=0.05\n"
    "  # with an Argo Rollouts AnalysisTemplate (or clusteranalysistemplate/NAME) from the cluster, no record\n"
    f"  {PROG} verify deployment/web --verify analysistemplate/success-rate --no-record -o yaml\n\n"
    + KUBECTL_FLAGS + """
\b
Exit codes:
  0  the analysis is Successful (recorded Succeeded)
  1  error (API failure, RBAC denial, a Secret that cannot be read)
  2  usage error (bad flag; a template field, provider or condition outside the supported subset, an
     address that is not an http(s) URL)
  3  the template needs the baseline (baseline-* args) and there is no rollback target
  4  the analysis is Failed (recorded Failed), or Inconclusive/Error with --on-inconclusive=fail
  7  the analysis is Inconclusive or Error (Prometheus down, a query error, an empty vector; NaN
     only as the conditions make it, as in Argo Rollouts: docs/verify.md):
     the revision stays InProgress (one recorded Succeeded or Failed keeps it), nothing is rolled back"""
)
@connects
def verify(
    workload: Workload,
    spec: Annotated[
        str,
        typer.Option("--verify", metavar=VERIFY_METAVAR,
                     help="The Argo Rollouts AnalysisTemplate to run: a YAML file, or one from the cluster.",
                     click_type=click.Path()),  # a path: shell completion offers file names
    ],
    arg: AnalysisArgs = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Analyse and print only; write nothing on the revision.")
    ] = False,
    on_inconclusive: OnInconclusive = "inprogress",
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    output: Output = "table",
    *,
    connect: Connect,
) -> None:
    """Run a metric analysis (Prometheus queries of an Argo Rollouts AnalysisTemplate) on the live revision and
    record its verdict on it: Successful -> Succeeded, Failed -> Failed with the failing metric, its value and
    condition; Inconclusive or Error leave it InProgress (a Succeeded or Failed record stays). One line per
    measurement on stderr. See docs/verify.md.
    """
    from kubectl_rollback import console
    from kubectl_rollback.commands import verify as command
    from kubectl_rollback.targets import parse_kind_name

    kind, name = parse_kind_name(workload)
    request = VerifyRequest.from_flags(
        output=output, spec=spec, arg=arg, no_record=no_record, on_inconclusive=on_inconclusive,
        workflow_id=workflow_id, service_id=service_id, infra_id=infra_id, cluster_name=cluster_name)
    _finish(command.run(connect(), kind, name, request, lambda progress: console.info(progress.line())),
            request.output)


@app.command(
    epilog="\b\nExamples:\n"
    "  # krew: put kubectl's completer next to the plugin, once (pip installs it already)\n"
    f"  {PROG} completion install\n"
    "  # before kubectl krew uninstall harness-rollback\n"
    f"  {PROG} completion uninstall\n\n" + EXIT_CODES
)
def completion(
    action: Annotated[str, typer.Argument(metavar="install|uninstall", help="Create or remove the completer link.")],
) -> None:
    """Link kubectl's completer (kubectl_complete-harness_rollback) next to the plugin krew put on PATH, or remove it.

    kubectl (1.26 and newer) completes `kubectl harness-rollback <TAB>` with it; krew links only the plugin itself.
    The link points at the plugin's own krew link, so it survives `kubectl krew upgrade`. Remove it before
    `kubectl krew uninstall harness-rollback`: krew refuses every command while its bin folder holds a file that no
    installed plugin owns.
    """
    from kubectl_rollback.commands import completer_link

    actions = {"install": completer_link.install, "uninstall": completer_link.uninstall}
    if action not in actions:
        raise UsageError(f"completion {action!r}: must be install or uninstall")
    _finish(actions[action](sys.argv[0]), OutputFormat.TABLE)


def _version_callback(value: bool) -> None:
    if value:
        print(f"kubectl-harness-rollback {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


# -- entry point -------------------------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> None:
    args: List[str] = []
    interrupts.install()  # `watch` installs its own handlers (it stops cleanly instead)
    try:
        try:
            args = normalise_kubectl_flags(list(sys.argv[1:] if argv is None else argv))
            command = _command_for(args)  # in the try: a Ctrl-C while it builds the commands is one line too
            args = join_kind_and_name(args, command)
            code = command.main(args=args, prog_name=PROG, standalone_mode=False)
            if code == ExitCode.INTERRUPTED:  # typer turns a KeyboardInterrupt into this return value, silently
                raise KeyboardInterrupt
        finally:  # however it ended, it is said below and then Python exits: no signal may cut that short
            interrupts.finished()
    except RollbackError as exc:
        if exc.message:  # a ReportedError's outcome is printed already
            console.error(exc.message)
        if exc.exit_code == ExitCode.INTERRUPTED:
            exc.exit_code = interrupts.stopped_code()
        _error_document(args, exc)
        sys.exit(int(exc.exit_code))
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        console.error("interrupted" if isinstance(exc, KeyboardInterrupt) else "aborted")
        stopped = RollbackError("interrupted")
        stopped.exit_code = interrupts.stopped_code()
        if not _fleet_stopped_before_any(args):
            _error_document(args, stopped)
        sys.exit(int(stopped.exit_code))
    except _NO_ARGS_IS_HELP as exc:  # no verb: the help, as kubectl prints it, not an error line
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(int(ExitCode.OK))
    except click.exceptions.ClickException as exc:  # bad flags and arguments, as click words them
        ctx = exc.ctx if isinstance(exc, click.exceptions.UsageError) else None
        # click raises "does not take a value" and "requires an argument" without a context: the verb's own --help
        # is still the one to read
        path = ctx.command_path if ctx is not None else " ".join(filter(None, (PROG, _verb_in(args))))
        hint = f"; see '{path} --help'" if exc.exit_code == ExitCode.USAGE else ""
        line = _one_suggestion(" ".join(exc.format_message().split())).rstrip(".") + hint
        console.error(line)
        failure = UsageError(line) if exc.exit_code == ExitCode.USAGE else RollbackError(line)
        _error_document(args, failure)
        sys.exit(exc.exit_code)
    except Exception as exc:  # anything we did not foresee
        if os.environ.get("KUBECTL_HARNESS_ROLLBACK_DEBUG"):
            raise
        line = (f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}; this is a bug, please report it "
                "(KUBECTL_HARNESS_ROLLBACK_DEBUG=1 shows the traceback)")
        console.error(line)
        _error_document(args, RollbackError(line))
        sys.exit(int(ExitCode.ERROR))
    sys.exit(code if isinstance(code, int) else 0)


def _one_suggestion(message: str) -> str:
    """A misspelt verb's "Did you mean 'rollback'?" once: click >= 8.2 words it and typer adds its own (click 8.1,
    the krew archive's, does not, so typer's is kept there)."""
    return re.sub(r"(Did you mean [^?]*\?)(?: \1)+", r"\1", message)


def stopped_document(args: List[str]) -> None:
    """The document of a Ctrl-C before main ran (launch.py: while the command line was being imported)."""
    args = normalise_kubectl_flags(args)
    if not _fleet_stopped_before_any(args):
        _error_document(args, KeyboardInterrupt())


def _fleet_stopped_before_any(args: List[str]) -> bool:
    """A run across contexts stopped before it started one still prints its report (every context `not started`),
    as a table or its document; whether the arguments ask for such a run (and name contexts to report)."""
    from kubectl_rollback import output
    from kubectl_rollback.commands import fleet

    verb = next((arg for arg in args if arg in ("history", "rollback")), None)
    try:
        request = FleetRequest.parse(_flag_value(args, "--contexts"), "--all-contexts" in args, None, False, None)
        if verb is None or request is None:
            return False
        report = fleet.stopped_before_any(verb, request, _flag_value(args, "--kubeconfig"))
    except RollbackError:  # flags or a kubeconfig the run would have refused: the error document then
        return False
    output.show(report, requested_output(args) or OutputFormat.TABLE, verb, report.failure())
    return True


def _command_for(args: List[str]) -> click.Command:
    """The click command that runs these arguments. With a verb first, a group of that verb alone: typer builds each
    verb's options from its signature, and building all of them would cost a command about a tenth of its start-up.
    Anything else (no verb, a flag first, a mistyped verb) gets the whole group, as its help and errors need."""
    verb = [info for info in app.registered_commands if args and args[0] == _verb_name(info)]
    if not verb:
        return typer.main.get_command(app)
    one_verb = copy.copy(app)
    one_verb.registered_commands = verb
    return typer.main.get_command(one_verb)


def _verb_name(info: Any) -> str:
    return info.name or typer.main.get_command_name(getattr(info.callback, "__name__", ""))


def _verb_in(args: List[str]) -> Optional[str]:
    """The verb the words name (the first word that is one), for an error raised before click knew the verb."""
    verbs = {_verb_name(info) for info in app.registered_commands}
    return next((arg for arg in args if arg in verbs), None)


def _error_document(args: List[str], failure: BaseException) -> None:
    """With -o json|yaml a script gets a document on every exit: the command ended before its result was printed,
    so the document holds the error (the one line on stderr stays) and what the error says was done, if anything."""
    if getattr(failure, "shown", False):
        return
    fmt = requested_output(args)
    if fmt is None or not fmt.is_data:
        return
    from kubectl_rollback import output

    verb = _verb_in(args) or ""  # flags put before the verb are refused too
    if verb and verb not in output.KINDS:
        return  # a verb without -o (watch, completion): its usage line alone, as for any flag it does not take
    print(output.dump(output.error_document(verb, failure), fmt), flush=True)


def requested_output(args: List[str]) -> Optional[OutputFormat]:
    """The --output the command line asked for (the last one, as click takes it), read from the words themselves:
    it must be known when the flags could not be parsed at all. None when absent or not a format."""
    wanted = _flag_value(args, "--output", "-o")
    try:
        return parse_output(wanted) if wanted is not None else None
    except UsageError:
        return None


def _flag_value(args: List[str], flag: str, shorthand: str = "") -> Optional[str]:
    """The value the words give a flag (the last one, as click takes it), for when they could not be parsed."""
    value = None
    for previous, arg in zip([""] + args, args):
        if previous and previous in (flag, shorthand):
            value = arg
        elif arg.startswith(flag + "="):
            value = arg.partition("=")[2]
        elif shorthand and arg.startswith(shorthand) and len(arg) > 2 and not arg.startswith("--"):
            value = arg[2:]
    return value


def join_kind_and_name(args: List[str], command: click.Command) -> List[str]:
    """kubectl's `KIND NAME` (two words, as in `kubectl rollout history deploy web`) as the KIND/NAME we take."""
    verbs = command.commands if isinstance(command, click.Group) else {}
    verb = verbs.get(args[0]) if args else None
    if verb is None:
        return args
    takes_value = {name for p in verb.params if isinstance(p, click.Option) and not p.is_flag
                   for name in p.opts + p.secondary_opts}
    positions = []
    after_value_flag = False
    for i, arg in enumerate(args[1:], start=1):
        if after_value_flag:
            after_value_flag = False
        elif arg.startswith("-"):
            after_value_flag = arg in takes_value
        else:
            positions.append(i)
    if len(positions) != 2 or "/" in args[positions[0]]:
        return args
    from kubectl_rollback.targets import SERVICE_ALIASES
    from kubectl_rollback.workloads import BY_ALIAS

    kind, name = positions
    if args[kind].lower() not in set(BY_ALIAS) | set(SERVICE_ALIASES):
        return args
    joined = f"{args[kind]}/{args[name]}"
    return [joined if i == kind else arg for i, arg in enumerate(args) if i != name]


def normalise_kubectl_flags(args: List[str]) -> List[str]:
    """kubectl's spellings that click does not take: a bare --dry-run means client (click options cannot take an
    optional value), a boolean flag may carry its value (--insecure-skip-tls-verify=true|false), and a shorthand
    flag its value after '=' (-o=json, -n=NS: pflag's spelling; click reads -ojson)."""
    normal: List[str] = []
    for previous, arg in zip([""] + args, args):
        flag, sep, value = arg.partition("=")
        if previous == "--dry-run" and arg.lower() in {mode.value for mode in DryRun}:
            normal[-1] = f"--dry-run={arg}"  # kubectl needs the '=', but no KIND/NAME is ever spelt like a mode
            continue
        if re.fullmatch(r"-[A-Za-z]=.*", arg):
            arg = arg[:2] + arg[3:]
        elif arg == "--dry-run":
            arg = "--dry-run=client"
        elif flag == "--insecure-skip-tls-verify" and value.lower() in ("true", "false"):
            if value.lower() == "false":
                continue  # false is the default, as in kubectl
            arg = flag
        normal.append(arg)
    return normal
