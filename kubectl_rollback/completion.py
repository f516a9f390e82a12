"""Shell completion the kubectl way: the executable kubectl_complete-harness_rollback.

kubectl (1.26 and newer) completes `kubectl harness-rollback ...<TAB>` by running kubectl_complete-harness_rollback
from PATH with the words typed after the plugin's name; the last word is the one under the cursor, empty when a new
word starts. The answer is cobra's `__complete` protocol: one candidate a line, `candidate<TAB>description` where a
description helps, then `:<directive>`, cobra's ShellCompDirective bit field. kubectl passes both on to the shell's
cobra script, so completion works in bash, zsh, fish and PowerShell alike.

What is completed comes from the click command tree of the CLI itself (verbs, flags with their help, arguments), so a
new verb or flag completes without a change here. Only the values of a flag are known here: the enumerations of
options.py, the kubeconfig's contexts, and from the cluster, the namespaces, the workload kinds it serves and the
user may list (`workloads.readable`, as `history --all` reads them) and the objects a KIND/NAME names.

It runs on every TAB, so it stays light: click and the CLI's flag declarations, never the `kubernetes` package; the
cluster is asked only for what the word under the cursor needs, through kube.py, within one deadline; a server that
let the deadline pass is not asked again for UNANSWERED_FOR_SECONDS (a file per server under the cache folder
`completion`, cachedir.py), so the next TABs answer at once with what is known without it; and a failure yields no
candidates, never a traceback (the reason goes to $BASH_COMP_DEBUG_FILE, cobra's debug log, when set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Protocol, Sequence, Tuple

import click

from kubectl_rollback import cachedir

if TYPE_CHECKING:
    from kubectl_rollback.kube import Kube, Resource

# cobra's ShellCompDirective bits (spf13/cobra completions.go).
DEFAULT = 0  # the shell's default: complete file names when there is no candidate
ERROR = 1  # something failed: ignore the candidates
NO_SPACE = 2  # no space after the candidate (a KIND/ waiting for its NAME)
NO_FILE_COMP = 4  # no file names, even when there is no candidate
KEEP_ORDER = 32  # show the candidates in the order given, not sorted

KIND_NAME_METAVAR = "KIND/NAME"
# The verbs whose KIND/NAME may be service/NAME, a Blue/Green primary Service (record takes workloads only).
SERVICE_VERBS = ("history", "rollback", "resume")
# A completion waits for the cluster at most this long (or --request-timeout when typed), retries included.
DEFAULT_DEADLINE_SECONDS = 5.0
# A server that let the deadline pass is not asked again for this long: each TAB would wait the deadline out again.
UNANSWERED_FOR_SECONDS = 30
DEBUG_FILE_VARIABLE = "BASH_COMP_DEBUG_FILE"

Candidate = Tuple[str, str]  # (value, description); the description may be empty


@dataclasses.dataclass(frozen=True)
class Completion:
    candidates: Tuple[Candidate, ...] = ()
    directive: int = NO_FILE_COMP

    def render(self) -> str:
        """cobra's wire format: descriptions on one line after a tab, the directive last."""
        lines = []
        for value, description in self.candidates:
            description = " ".join(description.split())
            lines.append(f"{value}\t{description}" if description else value)
        lines.append(f":{self.directive}")
        return "\n".join(lines) + "\n"


class Lookups(Protocol):
    """What only the kubeconfig or the cluster knows. The real one is ClusterLookups; each method may raise
    RollbackError (an unreachable cluster, a denied list, a broken kubeconfig), which completion turns into no
    candidates."""

    def contexts(self) -> List[str]: ...

    def namespaces(self) -> List[str]: ...

    def names(self, resource: Resource) -> List[str]:
        """Names of the objects of a kind in the namespace of the line (-n) or of the context."""
        ...

    def kinds(self) -> List[str]:
        """Names of the registered workload kinds the cluster serves and the user may list (workloads.readable), and
        "service" when the user may list Services; a ForbiddenError when the user may list none of the kinds."""
        ...


class DeadlineExceeded(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt whatever runs (a connect, a read, a retry's sleep) after `seconds`: a TAB must not hang the shell.
    A no-op where there is no SIGALRM (Windows)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise DeadlineExceeded(f"the cluster did not answer within {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ClusterLookups(Lookups):
    """Lookups through the plugin's own client (kube.py) and kubeconfig reader, with the connection flags typed on
    the line (named as cli.connection_options takes them), as the command itself would connect."""

    def __init__(self, flags: dict):
        from kubectl_rollback.cli import connection_options

        typed = dict(flags)
        if typed.get("kubeconfig"):
            typed["kubeconfig"] = os.path.expanduser(typed["kubeconfig"])  # the shell expands ~ only in whole words
        options = connection_options(**typed)
        self.deadline = options.request_timeout if "request_timeout" in typed else DEFAULT_DEADLINE_SECONDS
        # Each request's own timeout a second past the deadline (0: none, as the deadline): a server that never
        # answers always ends in the deadline, the failure remembered.
        self.options = dataclasses.replace(options, request_timeout=self.deadline and self.deadline + 1)

    def contexts(self) -> List[str]:
        from kubectl_rollback.kubeconfig import context_names

        return context_names(self.options.kubeconfig)

    def namespaces(self) -> List[str]:
        from kubectl_rollback.kube import NAMESPACES

        return self._list(NAMESPACES)

    def names(self, resource: Resource) -> List[str]:
        return self._list(resource)

    def kinds(self) -> List[str]:
        from kubectl_rollback.errors import ForbiddenError
        from kubectl_rollback.kube import SERVICES
        from kubectl_rollback.targets import SERVICE_ALIASES
        from kubectl_rollback.workloads import readable

        said = io.StringIO()  # the kinds skipped: for the debug log, not for the terminal of the shell
        try:
            with self._asking() as kube, contextlib.redirect_stderr(said):
                listed, forbidden = readable(kube)
                if forbidden and not listed:  # a Role that gets and patches but lists nothing (docs/rbac.yaml's
                    raise forbidden[0]  # record role): every kind is offered, as when the cluster cannot say
                names = [kind.name for kind, _ in listed]
                try:
                    kube.list(SERVICES)
                    names.append(SERVICE_ALIASES[0])
                except ForbiddenError as exc:
                    forbidden.append(exc)
                for denied in forbidden:
                    debug(f"not offered: {denied.message}")
                return names
        finally:
            if said.getvalue():
                debug(" ".join(said.getvalue().split()))

    def _list(self, resource: Resource) -> List[str]:
        with self._asking() as kube:
            return sorted(item["metadata"]["name"] for item in kube.iter_list(resource))

    @contextlib.contextmanager
    def _asking(self) -> Iterator[Kube]:
        """The cluster, within the deadline; not asked at all while it is remembered as not answering."""
        from kubectl_rollback.kube import Kube

        with deadline(self.deadline):
            kube = Kube.connect(self.options, quiet=True)
            unanswered = _unanswered_file(kube.host, create=False)
            _check_answering(kube.host, unanswered)
            try:
                yield kube
            except DeadlineExceeded:
                _remember_unanswered(kube.host)
                raise
        if unanswered is not None:
            cachedir.remove(unanswered)  # answered again: a stale entry goes


def _unanswered_file(server: str, create: bool) -> Optional[str]:
    """The file that says `server` let the deadline pass (its modification time when); None where there is no
    cache."""
    folder = cachedir.private_folder("completion", create)
    if folder is None:
        return None
    return os.path.join(folder, hashlib.sha256(server.encode("utf-8")).hexdigest()[:32])


def _check_answering(server: str, unanswered: Optional[str]) -> None:
    if unanswered is None:
        return
    try:
        age = time.time() - os.stat(unanswered).st_mtime
    except OSError:
        return
    if 0 <= age < UNANSWERED_FOR_SECONDS:
        raise DeadlineExceeded(f"{server} did not answer {age:.0f}s ago; not asked again until "
                               f"{UNANSWERED_FOR_SECONDS}s have passed ({unanswered})")


def _remember_unanswered(server: str) -> None:
    path = _unanswered_file(server, create=True)
    if path is not None:
        cachedir.write(path, server + "\n")


# -- reading the line --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Line:
    """What the words before the cursor say: the command reached, the options given, the arguments so far."""

    command: click.Command
    context: click.Context
    given: dict  # option (its first long name) -> the value typed, True for a flag
    arguments: List[str]
    pending: Optional[click.Option] = None  # an option whose value is the word under the cursor
    options_ended: bool = False  # a "--" was typed: every later word is an argument
    subcommand_expected: bool = True


def _context(command: click.Command, name: str, parent: Optional[click.Context]) -> click.Context:
    """A context as click would make for the command (help option names inherited), without parsing anything."""
    return click.Context(command, info_name=name, parent=parent, **command.context_settings)


def _options(command: click.Command, ctx: click.Context) -> List[click.Option]:
    return [p for p in command.get_params(ctx) if isinstance(p, click.Option)]


def _flag_name(option: click.Option) -> str:
    """The option's first long name (--namespace for -n/--namespace): how it is keyed here."""
    return next((o for o in option.opts if o.startswith("--")), option.opts[0])


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _find_option(options: Sequence[click.Option], word: str) -> Optional[click.Option]:
    return next((o for o in options if word in o.opts or word in o.secondary_opts), None)


def _split_option(options: Sequence[click.Option], word: str) -> Tuple[Optional[click.Option], Optional[str]]:
    """The option a word names and the value it carries, if any: --name=VALUE, or -nVALUE (click's attached
    short value)."""
    if word.startswith("--"):
        name, has_value, value = word.partition("=")
        return _find_option(options, name), (value if has_value else None)
    option = _find_option(options, word)
    if option is None and len(word) > 2:
        option = _find_option(options, word[:2])
        if option is not None and _takes_value(option):
            return option, word[2:]
    return option, None


def read_line(root: click.Command, words: Sequence[str], prog: str) -> Line:
    """Walk the words as click would parse them: into subcommands, over options and their values."""
    line = Line(command=root, context=_context(root, prog, None), given={}, arguments=[])
    options = _options(root, line.context)
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if line.options_ended or word == "-" or not word.startswith("-"):
            if isinstance(line.command, click.Group) and not line.options_ended and line.subcommand_expected:
                sub = line.command.get_command(line.context, word)
                if sub is not None:
                    line.command, line.context = sub, _context(sub, word, line.context)
                    options = _options(sub, line.context)
                    line.subcommand_expected = isinstance(sub, click.Group)
                    continue
                line.subcommand_expected = False
            line.arguments.append(word)
            continue
        if word == "--":
            line.options_ended = True
            continue
        option, value = _split_option(options, word)
        if option is None:
            continue  # unknown here: the command will say so when run
        if not _takes_value(option):
            line.given[_flag_name(option)] = True
        elif value is not None:
            line.given[_flag_name(option)] = value
        elif index < len(words):
            line.given[_flag_name(option)] = words[index]
            index += 1
        else:
            line.pending = option
    return line


# -- what to offer -----------------------------------------------------------------------------------------------


def _matching(values: Sequence[str], prefix: str) -> Tuple[Candidate, ...]:
    return tuple((value, "") for value in values if value.startswith(prefix))


def _enumerations() -> dict:
    """Flags whose values are a fixed set, by long name: the sets options.py validates against."""
    from kubectl_rollback.options import DryRun, OutputFormat
    from kubectl_rollback.records import RECORDABLE_STATUSES

    return {
        "--output": tuple(f.value for f in OutputFormat),
        "--status": tuple(s.value for s in RECORDABLE_STATUSES),
        "--dry-run": tuple(d.value for d in DryRun),
    }


def _from_cluster(lookup: Callable[[], List[str]], prefix: str, what: str) -> Completion:
    """Candidates that need the kubeconfig or the cluster; a failure there is no candidates, as kubectl does."""
    from kubectl_rollback.errors import RollbackError

    try:
        values = lookup()
    except (RollbackError, DeadlineExceeded) as exc:
        debug(f"no {what}: {getattr(exc, 'message', None) or exc}")
        return Completion((), NO_FILE_COMP)
    return Completion(_matching(values, prefix), NO_FILE_COMP)


def _option_value(option: click.Option, prefix: str, lookups: Callable[[], Lookups]) -> Completion:
    flag = _flag_name(option)
    if flag == "--context":
        return _from_cluster(lambda: lookups().contexts(), prefix, "contexts")
    if flag == "--contexts":  # a list: the names not given yet, after those given (a,b,<TAB>)
        given, comma, _ = prefix.rpartition(",")
        return _from_cluster(lambda: [given + comma + name for name in lookups().contexts()
                                      if name not in given.split(",")], prefix, "contexts")
    if flag == "--namespace":
        return _from_cluster(lambda: lookups().namespaces(), prefix, "namespaces")
    if isinstance(option.type, click.Choice):
        return Completion(_matching([str(c) for c in option.type.choices], prefix), NO_FILE_COMP)
    enumeration = _enumerations().get(flag)
    if enumeration is not None:
        return Completion(_matching(enumeration, prefix), NO_FILE_COMP)
    if flag == "--kubeconfig" or isinstance(option.type, (click.Path, click.File)):
        return Completion((), DEFAULT)  # a file name: the shell completes it
    return Completion((), NO_FILE_COMP)  # free text: nothing to offer


def _option_names(line: Line, prefix: str) -> Completion:
    """Every option of the command not given yet (cobra's rule), long and short, with its help."""
    candidates = []
    for option in _options(line.command, line.context):
        if option.hidden or (_flag_name(option) in line.given and not option.multiple):
            continue
        for name in option.opts + option.secondary_opts:
            if name.startswith(prefix):
                candidates.append((name, option.help or ""))
    return Completion(tuple(candidates), NO_FILE_COMP)


def _subcommands(line: Line, prefix: str) -> Completion:
    group = line.command
    assert isinstance(group, click.Group)
    candidates = []
    for name in group.list_commands(line.context):
        sub = group.get_command(line.context, name)
        if sub is not None and not sub.hidden and name.startswith(prefix):
            candidates.append((name, sub.get_short_help_str(limit=200)))
    return Completion(tuple(candidates), NO_FILE_COMP)


def _kinds(command_name: str, served: Optional[List[str]] = None) -> List[tuple]:
    """(name, aliases, resource) of every kind the command's KIND/NAME accepts: the workload kinds, and a Service for
    the verbs that take a Blue/Green primary Service; only those named in `served` when it is given."""
    from kubectl_rollback.kube import SERVICES
    from kubectl_rollback.targets import SERVICE_ALIASES
    from kubectl_rollback.workloads import KINDS

    kinds = [(kind.name, kind.aliases, kind.resource) for kind in KINDS if served is None or kind.name in served]
    if command_name in SERVICE_VERBS and (served is None or SERVICE_ALIASES[0] in served):
        kinds.append((SERVICE_ALIASES[0], SERVICE_ALIASES, SERVICES))
    return kinds


def _served_kinds(lookups: Callable[[], Lookups]) -> Optional[List[str]]:
    """The kinds the cluster serves and the user may list, or None when it cannot say within the deadline: then every
    registered kind is offered (a kind it does not serve lists no names after the slash)."""
    from kubectl_rollback.errors import RollbackError

    try:
        return lookups().kinds()
    except (RollbackError, DeadlineExceeded) as exc:
        debug(f"every registered kind offered: which ones the cluster serves is unknown: "
              f"{getattr(exc, 'message', None) or exc}")
        return None


def _kind_name(command_name: str, word: str, lookups: Callable[[], Lookups]) -> Completion:
    """As kubectl completes TYPE/NAME: the kinds the cluster serves first (KIND/, no space after it), then once the
    slash is typed, the names of that kind in the namespace, spelled with the kind as typed."""
    kind_text, slash, name_prefix = word.partition("/")
    if not slash:
        kinds = _kinds(command_name, _served_kinds(lookups))
        return Completion(_matching([f"{name}/" for name, _, _ in kinds], word), NO_SPACE | NO_FILE_COMP | KEEP_ORDER)
    kinds = _kinds(command_name)
    resource = next((r for _, aliases, r in kinds if kind_text.lower() in aliases), None)
    if resource is None:
        debug(f"no names: {kind_text!r} is not a kind this argument accepts")
        return Completion((), NO_FILE_COMP)
    found = _from_cluster(lambda: lookups().names(resource), name_prefix, resource.qualified)
    return dataclasses.replace(found, candidates=tuple((f"{kind_text}/{n}", d) for n, d in found.candidates))


def _argument(line: Line, word: str, lookups: Callable[[], Lookups]) -> Completion:
    arguments = [p for p in line.command.get_params(line.context) if isinstance(p, click.Argument)]
    position, filled = 0, len(line.arguments)
    for argument in arguments:  # the argument the cursor is on; nargs=-1 takes every remaining word
        if argument.nargs == -1 or filled < position + argument.nargs:
            break
        position += argument.nargs
    else:
        return Completion((), NO_FILE_COMP)  # every argument is given
    if argument.metavar == KIND_NAME_METAVAR:
        return _kind_name(line.context.info_name or "", word, lookups)
    if isinstance(argument.type, click.Choice):
        return Completion(_matching([str(c) for c in argument.type.choices], word), NO_FILE_COMP)
    if isinstance(argument.type, (click.Path, click.File)):
        return Completion((), DEFAULT)
    return Completion((), NO_FILE_COMP)


def _connection_flags(line: Line) -> dict:
    """The connection flags typed on the line, by the names cli.connection_options takes (a repeated flag: its last
    value, as a list)."""
    from kubectl_rollback.cli import CONNECTION_FLAGS

    names = {parameter.name for parameter in CONNECTION_FLAGS}
    typed = {}
    for option in _options(line.command, line.context):
        if option.name in names and _flag_name(option) in line.given:
            value = line.given[_flag_name(option)]
            typed[option.name] = [value] if option.multiple else value
    return typed


def complete(root: click.Command, words: Sequence[str], make_lookups: Callable[[dict], Lookups],
             prog: str = "kubectl harness-rollback") -> Completion:
    """The candidates for the last of `words` (the word under the cursor), the words before it as typed."""
    *before, word = list(words) or [""]
    line = read_line(root, _as_the_cli_reads(before), prog)
    made: List[Lookups] = []

    def lookups() -> Lookups:  # built once, and only when a candidate needs the kubeconfig or the cluster
        if not made:
            made.append(make_lookups(_connection_flags(line)))
        return made[0]

    if any(o.is_eager and _flag_name(o) in line.given for o in _options(line.command, line.context)):
        return Completion((), NO_FILE_COMP)  # --help, --version: the command ends there
    if line.pending is not None:
        return _option_value(line.pending, word, lookups)
    if not line.options_ended and word.startswith("-"):
        if word.startswith("--") and "=" in word:  # --name=VALUE: cobra completes VALUE, the shell keeps the rest
            option, value = _split_option(_options(line.command, line.context), word)
            if option is None or value is None or not _takes_value(option):
                return Completion((), NO_FILE_COMP)
            return _option_value(option, value, lookups)
        return _option_names(line, word)
    if isinstance(line.command, click.Group) and line.subcommand_expected and not line.options_ended:
        return _subcommands(line, word)
    return _argument(line, word, lookups)


def _as_the_cli_reads(words: List[str]) -> List[str]:
    """The words as the CLI rewrites them before click parses them (a bare --dry-run means --dry-run=client), so a
    word after a bare --dry-run is read as an argument here too."""
    from kubectl_rollback.cli import normalise_kubectl_flags

    return normalise_kubectl_flags(words)


def debug(message: str) -> None:
    """cobra's debug log: appended to $BASH_COMP_DEBUG_FILE when the user set it; never on the terminal."""
    path = os.environ.get(DEBUG_FILE_VARIABLE)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"kubectl_complete-harness_rollback: {message}\n")
        except OSError:
            pass


def root_command() -> click.Command:
    import typer

    from kubectl_rollback.cli import app

    return typer.main.get_command(app)


def main(argv: Optional[List[str]] = None) -> None:
    """kubectl_complete-harness_rollback WORD... : print the completions of the last word and exit 0 (kubectl
    ignores the output of a completer that fails)."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        result = complete(root_command(), words, ClusterLookups)
    except KeyboardInterrupt:
        result = Completion((), ERROR)
    except Exception as exc:  # a bug here must not print a traceback into the user's shell
        debug(f"unexpected {type(exc).__name__}: {exc}")
        if os.environ.get("KUBECTL_HARNESS_ROLLBACK_DEBUG"):
            raise
        result = Completion((), ERROR)
    sys.stdout.write(result.render())
    sys.stdout.flush()
    sys.exit(0)
