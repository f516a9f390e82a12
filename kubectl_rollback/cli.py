"""The command line: parse flags, build the options, call a command, render its result, map errors to exit codes.

Kept thin on purpose: no decision is made here, and the modules that talk to the cluster are imported only when a
command runs, so --help and shell completion stay fast.
"""

# No `from __future__ import annotations` here: on Python 3.9 typer reads the Annotated option names and help from
# the evaluated annotations only, and would see strings (no -n, no --as, no help text).

import dataclasses
import os
import sys
from typing import Annotated, Any, Callable, List, Optional

import typer

from kubectl_rollback import __version__, console
from kubectl_rollback.errors import ExitCode, NoTargetError, RollbackError, UsageError, WaitFailedError
from kubectl_rollback.options import (
    IdentityFlags,
    check_name,
    check_namespace,
    check_value,
    parse_dry_run,
    parse_duration,
    parse_output,
    parse_status,
    parse_workload,
)

PROG = "kubectl harness-rollback"
SERVICE_ALIASES = ("service", "services", "svc")


class Exited(Exception):
    """Leave with this exit code after the output has been printed (a release with some failures)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


EXIT_CODES = """\
\b
Exit codes:
  0  done, or nothing to do
  1  error (API failure, RBAC denial, paused or missing workload)
  2  usage error (bad flag, name or identity)
  3  no rollback target (first deployment, all failed, or pruned)
  4  the rollout after the change failed or timed out (--wait, --follow)"""

app = typer.Typer(
    name=PROG,
    help=(
        "Roll Kubernetes workloads back to the last *successful* revision of a deployment, identified as Harness CD "
        "does: Workflow Id + Infrastructure Mapping (Service Id, Infrastructure Id, Cluster Name, Namespace). "
        "The history is the versioning annotations (harness.io/*) on each revision's ReplicaSet. "
        "Only workloads are rolled back: ConfigMaps, Secrets and other objects are left as they are."
    ),
    epilog="\b\nExamples:\n"
    "  # after each deploy, in the pipeline\n"
    f"  {PROG} record deployment/web --follow --workflow-id wf1 --service-id svc --infra-id infra\n"
    "  # during an incident: what would we go back to, then go\n"
    f"  {PROG} history deployment/web\n"
    f"  {PROG} rollback deployment/web --dry-run\n"
    f"  {PROG} rollback deployment/web --wait\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=True,
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
HarnessRelease = Annotated[
    Optional[str],
    typer.Option("--harness-release", help="Harness's release history in ConfigMap (or Secret) R, read-only."),
]
Kubeconfig = Annotated[Optional[str], typer.Option("--kubeconfig", help="Path to the kubeconfig file to use.")]
Context = Annotated[Optional[str], typer.Option("--context", help="The kubeconfig context to use.")]
Namespace = Annotated[
    Optional[str], typer.Option("--namespace", "-n", help="Namespace (default: the context's, else default).")
]
RequestTimeout = Annotated[
    str, typer.Option("--request-timeout", help="How long one API request may take (e.g. 30s).")
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
Timeout = Annotated[str, typer.Option("--timeout", help="How long --wait/--follow may wait (e.g. 90s, 5m).")]


AsUser = Annotated[Optional[str], typer.Option("--as", help="Username to impersonate for the operation.")]
AsGroup = Annotated[Optional[List[str]], typer.Option("--as-group", help="Group to impersonate (repeatable).")]
AsUid = Annotated[Optional[str], typer.Option("--as-uid", help="UID to impersonate for the operation.")]


def _connect(kubeconfig, context, namespace, request_timeout, as_user=None, as_group=None, as_uid=None):
    from kubectl_rollback.kube import ConnectionOptions, Kube

    options = ConnectionOptions(
        kubeconfig=kubeconfig,
        context=context,
        namespace=check_namespace(namespace),
        request_timeout=parse_duration(request_timeout, "--request-timeout"),
        impersonate_user=as_user,
        impersonate_uid=as_uid,
        impersonate_groups=tuple(as_group or ()),
    )
    return Kube.connect(options)


def _workload(text: str):
    from kubectl_rollback.workloads import BY_ALIAS

    return parse_workload(text, BY_ALIAS)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a history or rollback acts on: exactly one of these is set."""

    kind: Any = None
    name: Optional[str] = None
    service: Optional[str] = None
    all: bool = False
    release: Optional[str] = None
    harness_release: Optional[str] = None

    @property
    def many(self) -> bool:
        return self.all or self.release is not None


def _select(
    workload: Optional[str], release: Optional[str], harness_release: Optional[str], all_: Optional[bool] = None
) -> Selection:
    """Exactly one target; `all_` is None where --all is not offered."""
    given = [w for w in (workload, all_ or None, release, harness_release) if w]
    if len(given) != 1:
        offered = "KIND/NAME, --all, --release-name R" if all_ is not None else "KIND/NAME, --release-name R"
        raise UsageError(f"name exactly one of {offered} or --harness-release R")
    if release is not None:
        return Selection(release=check_name(release, "--release-name"))
    if harness_release is not None:
        return Selection(harness_release=check_name(harness_release, "--harness-release"))
    if all_:
        return Selection(all=True)
    kind_text, _, name = workload.partition("/")
    if kind_text.lower() in SERVICE_ALIASES and name:
        return Selection(service=check_name(name, workload))
    kind, name = _workload(workload)
    return Selection(kind=kind, name=name)


def _identity(workflow_id, service_id, infra_id, cluster_name, any_workflow) -> IdentityFlags:
    return IdentityFlags(workflow_id, service_id, infra_id, cluster_name, any_workflow).validate()


def _emit(text: str) -> None:
    if text:
        print(text)


def _show(fmt: str, data: Callable[[], Any], table: Callable[[], str]) -> None:
    """Print the data as JSON/YAML, or the table; each is built only when chosen."""
    from kubectl_rollback import render

    _emit(render.dump(data(), fmt) if fmt in ("json", "yaml") else table())


# -- verbs -------------------------------------------------------------------------------------------------------


@app.command(
    epilog="\b\nExamples:\n"
    "  # right after kubectl apply: mark the new revision, then its outcome\n"
    f"  {PROG} record deployment/web --status InProgress --workflow-id wf1 --service-id svc --infra-id infra\n"
    f"  {PROG} record deployment/web --status Succeeded\n"
    "  # or in one line: InProgress now, Succeeded or Failed when the rollout ends\n"
    f"  {PROG} record deployment/web --follow --timeout 10m --workflow-id wf1 --service-id svc --infra-id infra\n\n"
    + EXIT_CODES
)
def record(
    workload: Workload,
    status: Annotated[
        Optional[str], typer.Option("--status", help="Succeeded, Failed or InProgress (or use --follow).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Record InProgress, wait for the rollout, then record its outcome.")
    ] = False,
    release_number: Annotated[
        Optional[str], typer.Option("--release-number", help="The pipeline's release or build number.")
    ] = None,
    artifact: Annotated[
        Optional[str], typer.Option("--artifact", help="What was deployed (default: the template's images).")
    ] = None,
    timeout: Timeout = "10m",
    force: Annotated[
        bool,
        typer.Option("--force", help="Record a revision that a rollback restored as Failed or InProgress anyway."),
    ] = False,
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    output: Output = "table",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    request_timeout: RequestTimeout = "30s",
    as_user: AsUser = None,
    as_group: AsGroup = None,
    as_uid: AsUid = None,
) -> None:
    """Record the outcome of a deployment on the revision that backs the workload now.

    Identity flags left out keep the values already recorded on that revision, so a pipeline can record
    InProgress with every flag and later Succeeded or Failed with --status alone.
    """
    from kubectl_rollback import render
    from kubectl_rollback.commands import record as command

    kind, name = _workload(workload)
    if follow == (status is not None):
        raise UsageError("pass exactly one of --status and --follow")
    fmt = parse_output(output)
    request = command.Request(
        flags=IdentityFlags(workflow_id, service_id, infra_id, cluster_name).validate(),
        status=parse_status(status) if status is not None else None,
        release_number=check_value("--release-number", release_number),
        artifact=check_value("--artifact", artifact),
        follow=follow,
        timeout=parse_duration(timeout),
        force=force,
    )
    kube = _connect(kubeconfig, context, namespace, request_timeout, as_user, as_group, as_uid)
    result = command.run(kube, kind, name, request)
    if fmt in ("json", "yaml"):
        _emit(render.dump(render.record_dict(result), fmt))
    else:
        _emit(render.record_line(result))
    if result.failure:
        raise WaitFailedError(f"{result.failure}; recorded revision {result.revision.number} Failed")


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
    "  # Harness's own release history (ConfigMap or Secret named after the release)\n"
    f"  {PROG} history --harness-release release-3f2a\n\n" + EXIT_CODES
)
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
    output: Output = "table",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    request_timeout: RequestTimeout = "30s",
    as_user: AsUser = None,
    as_group: AsGroup = None,
    as_uid: AsUid = None,
) -> None:
    """List every revision, newest first, with its record, the live one and the rollback target.

    The identity is taken from the flags, or where they are left out, from the record on the live revision.
    Revisions without a record show status Unknown.
    """
    from kubectl_rollback import render

    selection = _select(workload, release_name, harness_release, all_)
    fmt = parse_output(output)
    flags = _identity(workflow_id, service_id, infra_id, cluster_name, any_workflow)
    kube = _connect(kubeconfig, context, namespace, request_timeout, as_user, as_group, as_uid)
    if selection.service:
        from kubectl_rollback.commands import bluegreen

        state = bluegreen.load(kube, selection.service, flags)
        _show(fmt, lambda: render.bluegreen_dict(state), lambda: render.bluegreen_table(state, fmt == "wide"))
    elif selection.harness_release:
        from kubectl_rollback.commands import harness

        loaded = harness.load(kube, selection.harness_release)
        _show(fmt, lambda: render.harness_dict(loaded), lambda: render.harness_table(loaded))
    elif selection.many:
        from kubectl_rollback.commands import release

        histories = release.load(kube, flags, selection.release)
        _show(
            fmt,
            lambda: render.workloads_dict(histories, kube.namespace, selection.release),
            lambda: render.workloads_table(histories, kube.namespace, selection.release),
        )
    else:
        from kubectl_rollback.commands import history as command

        result = command.load(kube, selection.kind, selection.name, flags)
        _show(fmt, lambda: render.history_dict(result), lambda: render.history_table(result, fmt == "wide"))


@app.command(
    epilog="\b\nExamples:\n"
    "  # back to the last revision recorded Succeeded by the same workflow on the same mapping\n"
    f"  {PROG} rollback deployment/web --wait\n"
    "  # any workflow that deployed to the same Infrastructure Mapping\n"
    f"  {PROG} rollback deployment/web --any-workflow\n"
    "  # show the template diff and change nothing\n"
    f"  {PROG} rollback deployment/web --dry-run\n"
    f"  {PROG} rollback deployment/web --to-revision 3 --force\n"
    "  # Blue/Green: route the primary Service back to the last good colour\n"
    f"  {PROG} rollback service/web --wait\n"
    "  # every workload of a release, each to its own last good revision\n"
    f"  {PROG} rollback --release-name release-3f2a\n"
    "  # as Harness's Rolling Rollback would, from Harness's own release history\n"
    f"  {PROG} rollback --harness-release release-3f2a\n\n" + EXIT_CODES
)
def rollback(
    workload: OptionalWorkload = None,
    release_name: ReleaseName = None,
    harness_release: HarnessRelease = None,
    to_revision: Annotated[
        Optional[int], typer.Option("--to-revision", help="Roll back to this revision instead of the last good one.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --to-revision to name a revision recorded Failed.")
    ] = False,
    dry_run: Annotated[
        Optional[str],
        typer.Option(
            "--dry-run",
            help="client: change nothing and print the template diff; server: send the change with dryRun=All.",
            metavar="[client|server]",
        ),
    ] = None,
    wait_: Annotated[bool, typer.Option("--wait", help="Follow the rollout until it completes.")] = False,
    timeout: Timeout = "5m",
    keep_canary: Annotated[
        bool, typer.Option("--keep-canary", help="Do not delete the canary Deployment NAME-canary.")
    ] = False,
    skip_ready_check: Annotated[
        bool,
        typer.Option("--skip-ready-check", help="Blue/Green: switch even if the target colour has no ready pods."),
    ] = False,
    workflow_id: WorkflowId = None,
    service_id: ServiceId = None,
    infra_id: InfraId = None,
    cluster_name: ClusterName = None,
    any_workflow: AnyWorkflow = False,
    output: Output = "table",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    request_timeout: RequestTimeout = "30s",
    as_user: AsUser = None,
    as_group: AsGroup = None,
    as_uid: AsUid = None,
) -> None:
    """Roll a workload back to the last revision recorded Succeeded for its deployment identity.

    The pod template of that revision replaces the workload's, as `kubectl rollout undo` does; nothing else of
    the workload changes. The revision left is recorded Failed if it was InProgress or unrecorded, and the
    target gets the audit annotations harness.io/rolled-back-from and harness.io/rolled-back-at. A canary
    Deployment NAME-canary (pods labelled harness.io/track: canary) is deleted, unless --keep-canary.
    """
    from kubectl_rollback import render
    from kubectl_rollback.commands import rollback as command

    selection = _select(workload, release_name, harness_release)
    fmt = parse_output(output)
    flags = _identity(workflow_id, service_id, infra_id, cluster_name, any_workflow)
    if to_revision is not None and selection.kind is None:
        raise UsageError("--to-revision names a revision of one workload; pass KIND/NAME")
    request = command.Request(
        flags=flags,
        to_revision=to_revision,
        force=force,
        dry_run=parse_dry_run(dry_run),
        wait=wait_,
        timeout=parse_duration(timeout),
        keep_canary=keep_canary,
    )
    kube = _connect(kubeconfig, context, namespace, request_timeout, as_user, as_group, as_uid)
    machine = fmt in ("json", "yaml")
    if selection.service:
        _rollback_service(kube, selection.service, request, skip_ready_check, fmt)
    elif selection.harness_release or selection.many:
        _rollback_many(kube, selection, request, fmt)
    else:
        result = command.run(kube, selection.kind, selection.name, request)
        for warning in result.warnings:
            console.warn(warning)
        if machine:
            _emit(render.dump(render.rollback_dict(result), fmt))
            return
        for skip in result.history.decision.skipped:
            console.info(f"skipped revision {skip.revision}: {skip.reason}")
        _emit(render.rollback_line(result))
        for canary in result.canaries:
            _emit(f"{canary} {'would be deleted' if result.dry_run == 'client' else 'deleted'} (canary)")
        if result.dry_run == "client" and result.diff:
            _emit(result.diff.rstrip("\n"))


def _rollback_service(kube, name: str, request, skip_ready_check: bool, fmt: str) -> None:
    from kubectl_rollback import render
    from kubectl_rollback.commands import bluegreen

    result = bluegreen.rollback(
        kube,
        name,
        bluegreen.Request(request.flags, request.dry_run, skip_ready_check, request.wait, request.timeout),
    )
    if fmt in ("json", "yaml"):
        data = dict(render.bluegreen_dict(result.state), changed=result.changed, dryRun=result.dry_run,
                    message=result.message)
        _emit(render.dump(data, fmt))
    else:
        suffix = {"client": " (dry run)", "server": " (server dry run)"}.get(result.dry_run, "")
        _emit(result.message + suffix)


def _rollback_many(kube, selection, request, fmt: str) -> None:
    """A release: the plan first, then each workload's outcome as it happens, then the summary; the exit code
    says whether any failed (1) or had no target (3)."""
    from kubectl_rollback import render
    from kubectl_rollback.commands import harness, release

    machine = fmt in ("json", "yaml")
    report = (lambda outcome: None) if machine else (lambda outcome: _emit(render.outcome_line(outcome)))
    if selection.harness_release:
        loaded = harness.load(kube, selection.harness_release)
        if not machine:
            _emit(render.harness_table(loaded) + "\n")
        result = harness.roll_back(kube, loaded, request, report)
        plan = render.harness_dict(loaded)
    else:
        histories = release.load(kube, request.flags, selection.release)
        if not histories:
            raise NoTargetError(f"no workload in namespace {kube.namespace} carries {release.RELEASE_LABEL}="
                                f"{selection.release} on its pod template")
        if not machine:
            _emit(render.workloads_table(histories, kube.namespace, selection.release) + "\n")
        result = release.roll_back(kube, histories, request, selection.release, report)
        plan = render.workloads_dict(histories, kube.namespace, selection.release)
    if machine:
        _emit(render.dump(dict(plan=plan, **render.outcomes_dict(result.outcomes)), fmt))
    else:
        _emit(render.summary_line(result.outcomes))
    if result.exit_code != ExitCode.OK:
        raise Exited(result.exit_code)


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
    args = _normalise_dry_run(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except RollbackError as exc:
        console.error(exc.message)
        sys.exit(int(exc.exit_code))
    except Exited as exc:
        sys.exit(int(exc.code))
    except KeyboardInterrupt:
        console.error("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors and aborts, then anything we did not foresee
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            path = ctx.command_path if ctx is not None else PROG
            hint = f"; see '{path} --help'" if exc.exit_code == ExitCode.USAGE else ""
            console.error(" ".join(exc.format_message().split()) + hint)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            console.error("aborted")
            sys.exit(130)
        if os.environ.get("KUBECTL_HARNESS_ROLLBACK_DEBUG"):
            raise
        console.error(
            f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}; this is a bug, please report it "
            "(KUBECTL_HARNESS_ROLLBACK_DEBUG=1 shows the traceback)"
        )
        sys.exit(int(ExitCode.ERROR))
    sys.exit(code if isinstance(code, int) else 0)


def _normalise_dry_run(args: list) -> list:
    """kubectl spells it --dry-run, --dry-run=client or --dry-run=server; a bare --dry-run means client. Click
    options cannot take an optional value, so a bare flag gets its value here."""
    return ["--dry-run=client" if a == "--dry-run" else a for a in args]
