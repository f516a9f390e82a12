"""Flag values as plain data, and their validation: everything here runs before any API request."""

from __future__ import annotations

import dataclasses
import enum
import re
import shlex
from typing import List, Mapping, Optional, Protocol, Tuple, TypeVar

from kubectl_rollback.configrefs import ConfigMode, SnapshotMode
from kubectl_rollback.errors import UsageError
from kubectl_rollback.records import MAX_VALUE_LENGTH, RECORDABLE_STATUSES, Status, release_number_problem

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


DEFAULT_ARGOCD_NAMESPACE = "argocd"  # where Argo CD installs itself, and its Applications


class OutputFormat(enum.Enum):
    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"

    @property
    def is_data(self) -> bool:
        """JSON or YAML: the whole result as plain data, nothing printed before it is complete."""
        return self in (OutputFormat.JSON, OutputFormat.YAML)


class DryRun(enum.Enum):
    """kubectl's DryRunStrategy: change the cluster, change nothing (client), or send the change with dryRun=All."""

    NONE = "none"
    CLIENT = "client"
    SERVER = "server"

    @property
    def sends_writes(self) -> bool:
        """Whether write requests reach the API server at all (a server dry run sends them, flagged dryRun=All)."""
        return self is not DryRun.CLIENT

    @property
    def server_side(self) -> bool:
        """Whether the writes that are sent carry dryRun=All."""
        return self is DryRun.SERVER


class GitOpsMode(enum.Enum):
    """rollback --gitops: what to do when an Argo CD or Flux owner would undo the rollback (docs/gitops.md)."""

    FAIL = "fail"  # change nothing, exit 1
    PAUSE = "pause"  # turn off self-heal (Argo CD) or suspend (Flux) first; `resume` restores it
    IGNORE = "ignore"  # roll back and warn


def parse_gitops_mode(value: str) -> GitOpsMode:
    try:
        return GitOpsMode(value.lower())
    except ValueError:
        raise UsageError(f"--gitops {value!r}: must be one of {', '.join(m.value for m in GitOpsMode)}") from None


@dataclasses.dataclass(frozen=True)
class IdentityFlags:
    workflow_id: Optional[str] = None
    service_id: Optional[str] = None
    infra_id: Optional[str] = None
    cluster_name: Optional[str] = None
    any_workflow: bool = False

    def validate(self) -> IdentityFlags:
        for flag, value in (
            ("--workflow-id", self.workflow_id),
            ("--service-id", self.service_id),
            ("--infra-id", self.infra_id),
            ("--cluster-name", self.cluster_name),
        ):
            check_value(flag, value)
        if self.any_workflow and self.workflow_id:
            raise UsageError("--any-workflow and --workflow-id contradict each other; pass one of them")
        return self


class TargetFacts(Protocol):
    """What a target (commands/target.py) tells rollback's validation: which options it can honour. Only one
    workload has revision numbers, and only Harness's own history has release numbers."""

    @property
    def takes_to_revision(self) -> bool: ...

    @property
    def takes_release_number(self) -> bool: ...


@dataclasses.dataclass(frozen=True)
class HistoryRequest:
    """`history`'s options: every flag but the target's (targets.select) and the connection's (cli.connects)."""

    flags: IdentityFlags = IdentityFlags()
    argocd_namespace: str = DEFAULT_ARGOCD_NAMESPACE  # where an Application named by a label is (docs/gitops.md)
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, *, output: str, workflow_id: Optional[str], service_id: Optional[str],
                   infra_id: Optional[str], cluster_name: Optional[str], any_workflow: bool,
                   argocd_namespace: str) -> HistoryRequest:
        """The flags as typed, each checked (kubectl's Validate: before any API request)."""
        fmt = parse_output(output)
        return cls(IdentityFlags(workflow_id, service_id, infra_id, cluster_name, any_workflow).validate(),
                   check_argocd_namespace(argocd_namespace), fmt)


@dataclasses.dataclass(frozen=True)
class FleetRequest:
    """`history` and `rollback` across kubeconfig contexts (--contexts a,b or --all-contexts), each run as `--context
    X` would run, at most `max_parallel` at a time; `fail_fast`: no context starts after the first failure."""

    contexts: Tuple[str, ...] = ()  # empty with all_contexts: the kubeconfig's, in its order
    all_contexts: bool = False
    max_parallel: int = 4
    fail_fast: bool = False

    @classmethod
    def parse(cls, contexts: Optional[str], all_contexts: bool, max_parallel: Optional[int], fail_fast: bool,
              context: Optional[str]) -> Optional[FleetRequest]:
        """The fleet the flags ask for, or None for one context (then --max-parallel and --fail-fast are refused)."""
        if contexts is None and not all_contexts:
            for flag, given in (("--max-parallel", max_parallel is not None), ("--fail-fast", fail_fast)):
                if given:
                    raise UsageError(f"{flag} is for a run across contexts; pass --contexts a,b or --all-contexts")
            return None
        if contexts is not None and all_contexts:
            raise UsageError("--contexts and --all-contexts both name the contexts; pass one of them")
        if context is not None:
            raise UsageError("--context names one context and --contexts/--all-contexts several; pass one of them")
        names = tuple(name.strip() for name in (contexts or "").split(",")) if contexts is not None else ()
        if any(not name for name in names):
            raise UsageError(f"--contexts {contexts!r}: an empty name; pass names separated by commas (--contexts "
                             "east,west)")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise UsageError(f"--contexts names {', '.join(repeated)} twice; name each context once")
        if max_parallel is not None and max_parallel < 1:
            raise UsageError(f"--max-parallel must be 1 or more, got {max_parallel}")
        return cls(names, all_contexts, cls.max_parallel if max_parallel is None else max_parallel, fail_fast)


@dataclasses.dataclass(frozen=True)
class ResumeRequest:
    """`resume`: put back what `rollback --gitops=pause` changed on the workload's GitOps owner."""

    argocd_namespace: str = DEFAULT_ARGOCD_NAMESPACE
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, *, output: str, argocd_namespace: str) -> ResumeRequest:
        fmt = parse_output(output)
        return cls(check_argocd_namespace(argocd_namespace), fmt)


@dataclasses.dataclass(frozen=True)
class MarkRequest:
    """`mark-bad` and `barrier`: revision N (--revision), and why (--reason), or --clear to take it back."""

    revision: int
    reason: Optional[str] = None
    clear: bool = False
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, *, output: str, revision: int, reason: Optional[str], clear: bool) -> MarkRequest:
        fmt = parse_output(output)
        return cls(revision, check_value("--reason", reason), clear, fmt).validate()

    def validate(self) -> MarkRequest:
        if self.revision < 1:
            raise UsageError(f"--revision must be a revision number, got {self.revision}")
        if self.clear == (self.reason is not None):
            raise UsageError("pass exactly one of --reason TEXT and --clear")
        return self


@dataclasses.dataclass(frozen=True)
class RollbackRequest:
    """Every rollback option, whatever the target; a target ignores those that do not apply to it."""

    flags: IdentityFlags = IdentityFlags()
    to_revision: Optional[int] = None
    release_number: Optional[int] = None  # --harness-release: the release to roll back, as Harness's deploy passes it
    force: bool = False
    # --harness-release: when the declarative release Secrets may not be listed (RBAC), roll back from the legacy
    # history anyway (without it, such a rollback is refused: a newer declarative release may exist)
    trust_legacy_history: bool = False
    dry_run: DryRun = DryRun.NONE
    wait: bool = False
    timeout: float = 300.0
    keep_canary: bool = False
    skip_ready_check: bool = False  # Blue/Green: switch even when the target colour has no ready pods
    skip_preflight: bool = False  # write without checking first that the target can run (preflight.py), loudly
    config: ConfigMode = ConfigMode.AUTO  # --config: what happens to the target's ConfigMaps and Secrets
    gitops: GitOpsMode = GitOpsMode.FAIL  # --gitops: when an Argo CD or Flux owner would undo it (docs/gitops.md)
    argocd_namespace: str = DEFAULT_ARGOCD_NAMESPACE  # --argocd-namespace: where Argo CD's Applications are
    # record --rollback-on-failure (the revision object that failed), rollback -i (the live one its question named):
    # roll back only while it is live
    only_from: Optional[str] = None
    # --override-barrier --reason TEXT: the reason, recorded on the target; None: never go behind a barrier
    override_barrier: Optional[str] = None
    pin_digests: bool = False  # --pin-digests: the target's images as image:tag@sha256:... (its recorded digests)
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, target: TargetFacts, *, output: str, to_revision: Optional[int],
                   release_number: Optional[int], force: bool, trust_legacy_history: bool, dry_run: Optional[str],
                   wait: bool, timeout: Optional[str], keep_canary: bool, skip_ready_check: bool,
                   skip_preflight: bool, config: Optional[str], gitops: str, argocd_namespace: str,
                   override_barrier: bool, reason: Optional[str], pin_digests: bool, workflow_id: Optional[str],
                   service_id: Optional[str], infra_id: Optional[str], cluster_name: Optional[str],
                   any_workflow: bool) -> RollbackRequest:
        """The flags as typed, each checked, then together and against what `target` can honour (validate)."""
        fmt = parse_output(output)
        if override_barrier != (reason is not None):
            raise UsageError("--override-barrier and --reason TEXT go together: the reason is recorded on the target")
        return cls(
            flags=IdentityFlags(workflow_id, service_id, infra_id, cluster_name, any_workflow).validate(),
            to_revision=to_revision,
            release_number=release_number,
            force=force,
            trust_legacy_history=trust_legacy_history,
            dry_run=parse_dry_run(dry_run),
            wait=wait,
            timeout=parse_wait_timeout(timeout, wait, "--wait", cls.timeout),
            keep_canary=keep_canary,
            skip_ready_check=skip_ready_check,
            skip_preflight=skip_preflight,
            config=parse_config_mode(config),
            gitops=parse_gitops_mode(gitops),
            argocd_namespace=check_argocd_namespace(argocd_namespace),
            override_barrier=check_value("--reason", reason),
            pin_digests=pin_digests,
            output=fmt,
        ).validate(target)

    def command_flags(self) -> str:
        """The flags that decide what this rollback does, quoted, as a command printed for copying needs them (the
        one that finishes an interrupted rollback of many): the identity, the modes, the switches."""
        flags = [item for flag, value in (("--workflow-id", self.flags.workflow_id),
                                          ("--service-id", self.flags.service_id),
                                          ("--infra-id", self.flags.infra_id),
                                          ("--cluster-name", self.flags.cluster_name),
                                          ("--config", None if self.config is ConfigMode.AUTO else self.config.value),
                                          ("--gitops", None if self.gitops is GitOpsMode.FAIL else self.gitops.value),
                                          ("--argocd-namespace", None if self.argocd_namespace ==
                                           DEFAULT_ARGOCD_NAMESPACE else self.argocd_namespace),
                                          ("--dry-run", None if self.dry_run is DryRun.NONE else self.dry_run.value),
                                          ("--timeout", f"{self.timeout:g}s" if self.wait else None))
                 if value is not None for item in (f"{flag}={value}",)]
        flags += [flag for flag, on in (("--any-workflow", self.flags.any_workflow), ("--force", self.force),
                                        ("--trust-legacy-history", self.trust_legacy_history), ("--wait", self.wait),
                                        ("--keep-canary", self.keep_canary),
                                        ("--skip-ready-check", self.skip_ready_check),
                                        ("--skip-preflight", self.skip_preflight), ("--pin-digests", self.pin_digests),
                                        ("--override-barrier", self.override_barrier is not None)) if on]
        if self.override_barrier is not None:
            flags.append(f"--reason={self.override_barrier}")
        return " ".join(shlex.quote(flag) for flag in flags)

    def validate(self, target: Optional[TargetFacts] = None) -> RollbackRequest:
        """kubectl's Validate: what can be refused without asking the cluster; with `target`, also the options that
        target cannot honour."""
        if self.to_revision is not None and self.to_revision < 0:
            raise UsageError(f"--to-revision must be a revision number, got {self.to_revision}")
        if self.release_number is not None and self.release_number < 1:
            raise UsageError(f"--release-number must be a positive release number, got {self.release_number}")
        # --to-revision 0, kubectl rollout undo's "the previous revision": here, the rollback target
        valid = dataclasses.replace(self, to_revision=None) if self.to_revision == 0 else self
        if target is not None:
            valid._check_honoured_by(target)
        return valid

    def _check_honoured_by(self, target: TargetFacts) -> None:
        if self.to_revision is not None and not target.takes_to_revision:
            raise UsageError("--to-revision names a revision of one workload; pass KIND/NAME")
        if self.release_number is not None and not target.takes_release_number:
            raise UsageError("--release-number names a release of Harness's own history; pass --harness-release R")
        if self.trust_legacy_history and not target.takes_release_number:
            raise UsageError("--trust-legacy-history is about Harness's own history; pass --harness-release R")
        if self.override_barrier is not None and not target.takes_to_revision:
            raise UsageError("--override-barrier crosses the barrier of one workload; pass KIND/NAME")
        if self.pin_digests and not target.takes_to_revision:
            raise UsageError("--pin-digests pins the images of one workload's revision; pass KIND/NAME")
        if self.force and self.to_revision is None and not target.takes_release_number:
            # Harness's history takes --force alone (roll back although the newest release Succeeded)
            raise UsageError("--force lets --to-revision name a revision recorded Failed; pass --to-revision N with it")


@dataclasses.dataclass(frozen=True)
class RecordRequest:
    flags: IdentityFlags
    status: Optional[Status] = None  # None with follow: InProgress now, the outcome after the rollout
    release_number: Optional[str] = None
    artifact: Optional[str] = None
    follow: bool = False
    timeout: float = 600.0
    force: bool = False  # record a revision that a rollback restored as other than Succeeded
    config_snapshot: SnapshotMode = SnapshotMode.ALL  # --config-snapshot: which referenced objects to snapshot
    rollback_on_failure: bool = False  # with follow: roll a failed rollout back (record --rollback-on-failure)
    revision: Optional[int] = None  # --revision N: the revision meant (else the live one)
    images: tuple = ()  # --image: images the revision meant must run
    verify: Optional[VerifyRequest] = None  # with follow: the analysis run once the rollout completes (--verify)
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, *, output: str, status: Optional[str], follow: bool, release_number: Optional[str],
                   artifact: Optional[str], timeout: Optional[str], revision: Optional[int],
                   image: Optional[List[str]], force: bool, config_snapshot: str, rollback_on_failure: bool,
                   verify: Optional[str], arg: Optional[List[str]], on_inconclusive: str,
                   workflow_id: Optional[str], service_id: Optional[str], infra_id: Optional[str],
                   cluster_name: Optional[str]) -> RecordRequest:
        """The flags as typed: those that go together first, then each flag (kubectl's Validate)."""
        if follow == (status is not None):
            raise UsageError("pass exactly one of --status and --follow")
        if rollback_on_failure and not follow:
            raise UsageError("--rollback-on-failure acts on the rollout --follow waits for; pass --follow with it")
        if verify is not None and not follow:
            raise UsageError("--verify runs after the rollout --follow waits for; pass --follow with it (or use the "
                             "verify command on a revision already rolled out)")
        if verify is None and (arg or on_inconclusive != "inprogress"):
            raise UsageError(f"{'--arg' if arg else '--on-inconclusive'} is for the analysis: pass --verify with it")
        fmt = parse_output(output)
        flags = IdentityFlags(workflow_id, service_id, infra_id, cluster_name).validate()
        return cls(
            flags=flags,
            status=parse_status(status) if status is not None else None,
            release_number=check_release_number(release_number),
            artifact=check_value("--artifact", artifact),
            follow=follow,
            timeout=parse_wait_timeout(timeout, follow, "--follow", cls.timeout),
            force=force,
            config_snapshot=parse_snapshot_mode(config_snapshot),
            rollback_on_failure=rollback_on_failure,
            revision=revision,
            images=tuple(check_value("--image", i) for i in image or ()),
            verify=None if verify is None else VerifyRequest(
                flags=flags, spec=verify, args=parse_analysis_args(arg),
                inconclusive_fails=parse_on_inconclusive(on_inconclusive)),
            output=fmt,
        ).validate()

    def validate(self) -> RecordRequest:
        if self.revision is not None and self.revision < 1:
            raise UsageError(f"--revision must be a positive revision number, got {self.revision}")
        return self


@dataclasses.dataclass(frozen=True)
class WatchRequest:
    """`watch`: what to watch, the identity defaults, and how the process runs (docs/watch.md)."""

    flags: IdentityFlags = IdentityFlags()
    all_namespaces: bool = False
    progress_deadline: float = 600.0  # StatefulSets and DaemonSets: Failed when not rolled out within this
    auto_rollback: bool = False
    log_format: str = "text"
    leader_elect: bool = False
    lease_name: str = "harness-rollback-watch"
    lease_duration: float = 15.0
    health_address: Optional[Tuple[str, int]] = None  # (host, port) of --health-address: /healthz and /metrics

    @classmethod
    def from_flags(cls, *, all_namespaces: bool, auto_rollback: bool, progress_deadline: str, log_format: str,
                   leader_elect: bool, lease_name: str, lease_duration: str, health_address: Optional[str],
                   workflow_id: Optional[str], service_id: Optional[str], infra_id: Optional[str],
                   cluster_name: Optional[str]) -> WatchRequest:
        return cls(
            flags=IdentityFlags(workflow_id, service_id, infra_id, cluster_name).validate(),
            all_namespaces=all_namespaces,
            progress_deadline=parse_duration(progress_deadline, "--progress-deadline"),
            auto_rollback=auto_rollback,
            log_format=log_format.lower(),
            leader_elect=leader_elect,
            lease_name=lease_name,
            lease_duration=parse_duration(lease_duration, "--lease-duration"),
            health_address=parse_address(health_address) if health_address is not None else None,
        ).validate()

    def validate(self) -> WatchRequest:
        if self.log_format not in ("text", "json"):
            raise UsageError(f"--log-format {self.log_format!r}: must be text or json")
        if self.flags.any_workflow:
            raise UsageError("watch records one workflow per revision: --any-workflow does not apply")
        check_name(self.lease_name, "--lease-name")
        if self.lease_duration < 2:
            raise UsageError(f"--lease-duration {self.lease_duration:g}s: must be at least 2s")
        return self


@dataclasses.dataclass(frozen=True)
class Impersonation:
    """kubectl's --as, --as-group and --as-uid: act as another user (the API server checks that we may)."""

    user: Optional[str] = None
    groups: Tuple[str, ...] = ()
    uid: Optional[str] = None
    extra: Tuple[Tuple[str, str], ...] = ()  # --as-user-extra KEY=VALUE (parse_user_extra)

    def validate(self) -> Impersonation:
        for flag, value in [("--as", self.user), ("--as-uid", self.uid)] + [("--as-group", g) for g in self.groups]:
            check_value(flag, value)
        if self.user is None and (self.groups or self.uid is not None or self.extra):
            raise UsageError("--as-group, --as-uid and --as-user-extra impersonate a user: pass --as USER with them")
        return self


def parse_user_extra(text: str) -> Tuple[str, str]:
    """kubectl's --as-user-extra KEY=VALUE (an extra attribute of the impersonated user)."""
    return parse_key_value(text, "--as-user-extra", "reason=incident")


def parse_key_value(text: str, flag: str, example: str) -> Tuple[str, str]:
    """A repeatable KEY=VALUE flag; the value may be empty or hold '='."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{flag} {text!r}: write it as KEY=VALUE, e.g. {flag} {example}")
    return check_value(flag, key) or "", value


def parse_address(text: str, flag: str = "--health-address") -> Tuple[str, int]:
    """':8080' or '127.0.0.1:8080', as kube components spell a listen address; no host: every interface."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{flag} {text!r}: write it as :8080 or 127.0.0.1:8080")
    return host or "0.0.0.0", int(port)


def check_value(flag: str, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not value.strip():
        raise UsageError(f"{flag} is empty; pass a value or leave the flag out")
    if len(value) > MAX_VALUE_LENGTH or _CONTROL_CHARS.search(value):
        raise UsageError(f"{flag} must be printable text of at most {MAX_VALUE_LENGTH} characters")
    return value.strip()


def check_release_number(value: Optional[str]) -> Optional[str]:
    """record --release-number: what reading would take as a release number (records.release_number_problem)."""
    value = check_value("--release-number", value)
    problem = release_number_problem(value) if value is not None else None
    if problem is not None:
        raise UsageError(f"--release-number {value!r} {problem}")
    return value


class NamedKind(Protocol):
    @property
    def name(self) -> str: ...


# The registry (workloads.BY_ALIAS) is handed in: flags sit below the workload kinds (docs/architecture.md).
Kind = TypeVar("Kind", bound=NamedKind)


def parse_workload(text: str, known_kinds: Mapping[str, Kind]) -> Tuple[Kind, str]:
    """'deployment/web' -> (kind, 'web'). `known_kinds` maps every accepted kind spelling to its handler."""
    kind_text, sep, name = text.partition("/")
    if not sep:
        raise UsageError(f"{text!r} is not KIND/NAME; write it as deployment/{text} (or statefulset/, daemonset/...)")
    kind = known_kinds.get(kind_text.lower())
    if kind is None:
        kinds = sorted({k.name for k in known_kinds.values()})
        raise UsageError(f"{kind_text!r} is not a workload this plugin keeps a history of: supported kinds are "
                         f"{', '.join(kinds)}")
    check_name(name, f"{kind_text}/{name}")
    return kind, name


def check_name(name: str, what: str) -> str:
    if not name:
        raise UsageError(f"{what}: the name is empty")
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        raise UsageError(
            f"{what}: {name!r} is not a valid object name (lowercase letters, digits, '-' and '.', at most 253)"
        )
    return name


def check_argocd_namespace(value: str) -> str:
    if not value:
        raise UsageError("--argocd-namespace is empty; pass a namespace or leave the flag out")
    check_namespace(value, "--argocd-namespace")
    return value


def check_namespace(namespace: Optional[str], flag: str = "--namespace") -> Optional[str]:
    if namespace is not None and (len(namespace) > 63 or not _DNS1123_LABEL.match(namespace)):
        raise UsageError(
            f"{flag} {namespace!r} is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
        )
    return namespace


def parse_status(text: str) -> Status:
    for status in RECORDABLE_STATUSES:
        if status.value.lower() == text.lower():
            return status
    raise UsageError(f"--status {text!r}: must be one of {', '.join(s.value for s in RECORDABLE_STATUSES)}")


def parse_dry_run(value: Optional[str]) -> DryRun:
    """--dry-run absent: none; bare (or empty): client; else client, server or none, as kubectl spells them."""
    if value is None:
        return DryRun.NONE
    try:
        return DryRun(value.lower() or DryRun.CLIENT.value)
    except ValueError:
        raise UsageError(f"--dry-run {value!r}: must be client, server or none") from None


# kubectl's printers this plugin does not offer (kubectl get -o ...): named in the refusal, with what to use instead.
KUBECTL_ONLY_OUTPUTS = ("name", "jsonpath", "jsonpath-as-json", "jsonpath-file", "go-template", "go-template-file",
                        "template", "templatefile", "custom-columns", "custom-columns-file")


def parse_output(text: str) -> OutputFormat:
    try:
        return OutputFormat(text.lower())
    except ValueError:
        formats = ", ".join(f.value for f in OutputFormat)
        printer = text.partition("=")[0].lower()
        if printer in KUBECTL_ONLY_OUTPUTS:
            raise UsageError(f"--output {printer}: kubectl's -o {printer}{'=...' if '=' in text else ''} is not "
                             f"offered here; use -o json with jq (or -o yaml), or one of {formats}") from None
        raise UsageError(f"--output {text!r}: must be one of {formats}") from None


# Go's time.ParseDuration units, as kubectl's duration flags take them.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str, flag: str = "--timeout", zero: bool = False) -> float:
    """A duration as Go writes it ('90s', '5m', '1m30s', '500ms', '1.5h') or a bare number of seconds, as kubectl
    accepts. 0 only where `zero` says it means something (--request-timeout 0: no timeout, as in kubectl)."""
    spelt = text.strip()
    parts = _DURATION_PART.findall(spelt)
    if re.fullmatch(r"\d+(?:\.\d+)?", spelt):
        seconds = float(spelt)
    elif parts and "".join(number + unit for number, unit in parts) == spelt:
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    else:
        raise UsageError(f"{flag} {text!r}: not a duration; write it like 90s, 5m, 1h or 500ms")
    if seconds < 0 or (seconds == 0 and not zero):
        raise UsageError(f"{flag} {text!r}: must be more than zero")
    return seconds


def parse_wait_timeout(text: Optional[str], waits: bool, wait_flag: str, default: float) -> float:
    """--timeout bounds the wait of `wait_flag` (--wait, --follow), and nothing else: given without it, it would be
    ignored while the script that passed it believes the command waited, so it is refused."""
    if text is None:
        return default
    if not waits:
        raise UsageError(f"--timeout {text} bounds {wait_flag}, which was not given: pass {wait_flag} with it, "
                         "or leave --timeout out")
    return parse_duration(text)


def parse_config_mode(value: Optional[str]) -> ConfigMode:
    """rollback --config: restore, repoint or none; absent, the default (restore what only this workload reads)."""
    if value is None:
        return ConfigMode.AUTO
    modes = (ConfigMode.RESTORE, ConfigMode.REPOINT, ConfigMode.NONE)
    try:
        mode = ConfigMode(value.lower())
    except ValueError:
        mode = None
    if mode not in modes:
        raise UsageError(f"--config {value!r}: must be one of {', '.join(m.value for m in modes)}")
    return mode


def parse_snapshot_mode(value: str) -> SnapshotMode:
    try:
        return SnapshotMode(value.lower())
    except ValueError:
        raise UsageError(
            f"--config-snapshot {value!r}: must be one of {', '.join(m.value for m in SnapshotMode)}"
        ) from None


@dataclasses.dataclass(frozen=True)
class VerifyRequest:
    """`verify KIND/NAME --verify SPEC`: the analysis of the live revision and what to record (docs/verify.md)."""

    flags: IdentityFlags
    spec: str  # a file, or analysistemplate/NAME, clusteranalysistemplate/NAME
    args: Tuple[Tuple[str, str], ...] = ()  # --arg KEY=VALUE, in order (a later one wins)
    record: bool = True  # --no-record: analyse and print only
    inconclusive_fails: bool = False  # --on-inconclusive=fail
    output: OutputFormat = OutputFormat.TABLE

    @classmethod
    def from_flags(cls, *, output: str, spec: str, arg: Optional[List[str]], no_record: bool, on_inconclusive: str,
                   workflow_id: Optional[str], service_id: Optional[str], infra_id: Optional[str],
                   cluster_name: Optional[str]) -> VerifyRequest:
        fmt = parse_output(output)
        return cls(
            flags=IdentityFlags(workflow_id, service_id, infra_id, cluster_name).validate(),
            spec=spec,
            args=parse_analysis_args(arg),
            record=not no_record,
            inconclusive_fails=parse_on_inconclusive(on_inconclusive),
            output=fmt,
        )


def parse_analysis_args(arg: Optional[List[str]]) -> Tuple[Tuple[str, str], ...]:
    """--arg KEY=VALUE, repeated: the analysis template's args, in order."""
    return tuple(parse_key_value(a, "--arg", "threshold=0.05") for a in arg or ())


def parse_on_inconclusive(value: str) -> bool:
    """--on-inconclusive: 'inprogress' (default: the revision stays InProgress) or 'fail' (recorded Failed)."""
    if value.lower() not in ("inprogress", "fail"):
        raise UsageError(f"--on-inconclusive {value!r}: must be inprogress or fail")
    return value.lower() == "fail"
