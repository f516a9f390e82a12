"""kubectl_complete-harness_rollback's protocol logic, without a cluster: what is offered for the word under the
cursor, with which cobra directive. The cluster side (names, namespaces, contexts through the real kubectl) is
tests/test_completion.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_rollback import completion
from kubectl_rollback.completion import DEFAULT, ERROR, KEEP_ORDER, NO_FILE_COMP, NO_SPACE, Completion
from kubectl_rollback.errors import ApiError
from kubectl_rollback.options import DryRun, OutputFormat

ROOT = completion.root_command()
KINDS_DIRECTIVE = NO_SPACE | NO_FILE_COMP | KEEP_ORDER


class FakeLookups:
    """Contexts, namespaces and names as a cluster would answer; records the connection flags it was made with."""

    made_with: list = []

    def __init__(self, flags: dict, names: dict = None, failure: Exception = None, served: list = None):
        self.flags = flags
        self._served = served if served is not None else ["deployment", "statefulset", "daemonset", "service"]
        self._names = names if names is not None else {
            "deployments": ["api", "web", "worker"], "statefulsets": ["db"], "daemonsets": [], "services": ["web"]}
        self._failure = failure
        FakeLookups.made_with.append(flags)

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def contexts(self) -> list:
        self._check()
        return ["admin", "limited", "prod"]

    def namespaces(self) -> list:
        self._check()
        return ["default", "kube-system", "shop"]

    def names(self, resource) -> list:
        self._check()
        return self._names[resource.plural]

    def kinds(self) -> list:
        self._check()
        return self._served


def run(line: str, **lookups) -> Completion:
    """Complete as kubectl would call us for `line` (a trailing space starts a new, empty word)."""
    words = line.split(" ")
    return completion.complete(ROOT, words, lambda flags: FakeLookups(flags, **lookups))


def values(result: Completion) -> list:
    return [value for value, _ in result.candidates]


def command_options(name: str) -> list:
    command = ROOT.commands[name]
    ctx = click.Context(command, info_name=name, parent=click.Context(ROOT, **ROOT.context_settings))
    return [p for p in command.get_params(ctx) if isinstance(p, click.Option)]


# -- the wire format ---------------------------------------------------------------------------------------------


def test_render_is_cobras_format():
    result = Completion((("rollback", "Roll a workload\n  back."), ("json", "")), NO_FILE_COMP)
    assert result.render() == "rollback\tRoll a workload back.\njson\n:4\n"
    assert Completion((), ERROR).render() == ":1\n"


# -- verbs and flags, from the click tree -----------------------------------------------------------------------


def test_every_verb_of_the_app_with_its_short_help():
    result = run("")
    assert values(result) == ROOT.list_commands(None) and result.directive == NO_FILE_COMP
    descriptions = dict(result.candidates)
    assert descriptions["rollback"] == ROOT.commands["rollback"].get_short_help_str(limit=200)
    assert values(run("ro")) == ["rollback"]
    assert values(run("h")) == ["history"]
    assert run("nothing") == Completion((), NO_FILE_COMP)


def test_an_unknown_verb_offers_nothing_after_it():
    assert run("frobnicate ") == Completion((), NO_FILE_COMP)


def test_flags_of_the_verb_long_and_short_with_their_help():
    result = run("rollback -")
    offered = values(result)
    for option in command_options("rollback"):
        if not option.hidden:
            assert set(option.opts) <= set(offered), option.opts
    assert {"-o", "-n", "--output", "--namespace", "--dry-run", "--help", "-h"} <= set(offered)
    assert "--follow" not in offered  # a flag of record, not of rollback
    assert dict(result.candidates)["--to-revision"] == ("Roll back to this revision instead of the last good one "
                                                         "(0: that one).")
    assert result.directive == NO_FILE_COMP
    assert values(run("record --f")) == ["--follow", "--force"]


def test_root_flags():
    assert {"--version", "--help", "-h"} <= set(values(run("-")))


def test_a_flag_already_given_is_not_offered_again():
    assert values(run("rollback --wait --w")) == ["--workflow-id"]
    assert "-o" not in values(run("history -o json -"))
    assert "--output" not in values(run("history --output=json --"))


def test_nothing_after_help():
    assert run("rollback --help ") == Completion((), NO_FILE_COMP)
    assert run("--version ") == Completion((), NO_FILE_COMP)


# -- flag values --------------------------------------------------------------------------------------------------


def test_enumerated_values():
    assert run("history -o ") == Completion(tuple((f.value, "") for f in OutputFormat), NO_FILE_COMP)
    assert values(run("history --output w")) == ["wide"]
    assert values(run("history --output=y")) == ["yaml"]  # cobra's rule: the value alone, the shell keeps "--output="
    assert values(run("record --status ")) == ["Succeeded", "Failed", "InProgress"]
    assert values(run("record --status=In")) == ["InProgress"]
    assert values(run("rollback --dry-run=")) == [d.value for d in DryRun]
    assert values(run("rollback --dry-run=s")) == ["server"]


def test_a_bare_dry_run_takes_no_value_so_the_next_word_is_the_workload():
    """The CLI reads a bare --dry-run as --dry-run=client; the word after it is KIND/NAME, as when run."""
    assert run("rollback --dry-run ").directive == KINDS_DIRECTIVE
    assert "deployment/" in values(run("rollback --dry-run "))


def test_free_text_values_offer_nothing_and_no_files():
    for line in ("rollback --timeout ", "rollback --to-revision ", "record --workflow-id ", "history --release-name "):
        assert run(line) == Completion((), NO_FILE_COMP), line


def test_kubeconfig_value_is_left_to_the_shells_file_completion():
    assert run("history --kubeconfig ") == Completion((), DEFAULT)


def test_a_value_for_a_flag_that_takes_none():
    assert run("rollback --wait=") == Completion((), NO_FILE_COMP)


def test_contexts_and_namespaces_come_from_the_lookups():
    assert values(run("history --context ")) == ["admin", "limited", "prod"]
    assert values(run("history --context=p")) == ["prod"]
    assert values(run("history -n ")) == ["default", "kube-system", "shop"]
    assert values(run("history --namespace k")) == ["kube-system"]


def test_contexts_for_a_run_across_them_are_offered_after_the_ones_given():
    assert values(run("rollback --contexts ")) == ["admin", "limited", "prod"]
    assert values(run("rollback --contexts prod,")) == ["prod,admin", "prod,limited"]
    assert values(run("history --contexts=prod,l")) == ["prod,limited"]


# -- KIND/NAME ---------------------------------------------------------------------------------------------------


def test_kinds_first_in_order_with_no_space_after_the_slash():
    assert run("rollback ") == Completion(
        (("deployment/", ""), ("statefulset/", ""), ("daemonset/", ""), ("service/", "")), KINDS_DIRECTIVE)
    assert values(run("history s")) == ["statefulset/", "service/"]
    assert values(run("record ")) == ["deployment/", "statefulset/", "daemonset/"]  # record takes no Service


def test_only_the_kinds_the_user_may_list_are_offered():
    FakeLookups.made_with.clear()
    assert values(run("rollback ", served=["deployment", "daemonset", "service"])) == [
        "deployment/", "daemonset/", "service/"]
    assert values(run("record ", served=["statefulset"])) == ["statefulset/"]
    assert FakeLookups.made_with == [{}, {}]  # asked through the connection of the line, as the names are
    assert values(run("history ", served=["statefulset"])) == ["statefulset/"]  # no Service the user may not list


def test_every_registered_kind_when_the_cluster_cannot_say_which_it_serves(tmp_path, monkeypatch):
    log = tmp_path / "debug.log"
    monkeypatch.setenv(completion.DEBUG_FILE_VARIABLE, str(log))
    failure = completion.DeadlineExceeded("the cluster did not answer within 5s")
    assert run("rollback ", failure=failure) == Completion(
        (("deployment/", ""), ("statefulset/", ""), ("daemonset/", ""), ("service/", "")), KINDS_DIRECTIVE)
    assert "every registered kind offered" in log.read_text() and str(failure) in log.read_text()


def test_names_of_the_kind_typed_spelled_as_typed():
    assert run("rollback deployment/") == Completion(
        (("deployment/api", ""), ("deployment/web", ""), ("deployment/worker", "")), NO_FILE_COMP)
    assert values(run("rollback deployment/w")) == ["deployment/web", "deployment/worker"]
    assert values(run("rollback deploy/a")) == ["deploy/api"]
    assert values(run("rollback Deployments.apps/")) == ["Deployments.apps/api", "Deployments.apps/web",
                                                         "Deployments.apps/worker"]
    assert values(run("history svc/")) == ["svc/web"]
    assert values(run("history statefulset/")) == ["statefulset/db"]
    assert run("history daemonset/") == Completion((), NO_FILE_COMP)


def test_no_names_for_a_kind_the_verb_does_not_take():
    assert run("record service/") == Completion((), NO_FILE_COMP)
    assert run("rollback configmap/") == Completion((), NO_FILE_COMP)


def test_only_one_workload_argument():
    assert run("rollback deployment/web ") == Completion((), NO_FILE_COMP)
    assert run("rollback deployment/web -o json ") == Completion((), NO_FILE_COMP)


def test_flags_before_and_after_the_argument_are_skipped_with_their_values():
    assert values(run("rollback -n shop --context prod deployment/a")) == ["deployment/api"]
    assert values(run("rollback --wait -o json deploy/")) == ["deploy/api", "deploy/web", "deploy/worker"]
    assert values(run("rollback -nshop deployment/a")) == ["deployment/api"]


def test_after_double_dash_every_word_is_an_argument():
    assert run("rollback -- -").directive == KINDS_DIRECTIVE


# -- the connection the lookups are made with ---------------------------------------------------------------------


def test_lookups_get_the_connection_flags_typed_on_the_line():
    FakeLookups.made_with.clear()
    run("rollback --kubeconfig /tmp/k --context=prod -n shop --request-timeout 3s -s https://x --token t "
        "--insecure-skip-tls-verify --as-group ops deployment/")
    assert FakeLookups.made_with == [
        {"kubeconfig": "/tmp/k", "context": "prod", "namespace": "shop", "request_timeout": "3s",
         "server": "https://x", "token": "t", "insecure_skip_tls_verify": True, "as_group": ["ops"]}]
    FakeLookups.made_with.clear()
    run("rollback deployment/")
    assert FakeLookups.made_with == [{}]


def test_no_lookups_for_what_the_line_alone_answers():
    FakeLookups.made_with.clear()
    for line in ("", "rollback -", "rollback -o ", "rollback deployment/web ", "history --dry"):
        run(line)
    assert FakeLookups.made_with == []


@pytest.mark.parametrize("failure", [
    ApiError('cannot list deployments.apps in namespace "shop": Forbidden (403)', status=403),
    completion.DeadlineExceeded("the cluster did not answer within 5s"),
])
def test_a_failed_lookup_gives_no_candidates_and_no_files(failure, tmp_path, monkeypatch):
    log = tmp_path / "debug.log"
    monkeypatch.setenv(completion.DEBUG_FILE_VARIABLE, str(log))
    for line in ("rollback deployment/", "history -n ", "history --context "):
        assert run(line, failure=failure) == Completion((), NO_FILE_COMP), line
    assert str(failure) in log.read_text()


# -- the real lookups, where no cluster is needed ---------------------------------------------------------------


def test_contexts_of_every_kubeconfig_file(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("contexts: [{name: prod, context: {cluster: c}}, {name: dev, context: {cluster: c}}]\n")
    second.write_text("contexts: [{name: dev, context: {cluster: other}}, {name: ci, context: {cluster: c}}]\n")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert completion.complete(ROOT, ["history", "--context", ""], completion.ClusterLookups) == Completion(
        (("ci", ""), ("dev", ""), ("prod", "")), NO_FILE_COMP)
    typed = completion.complete(ROOT, ["history", "--kubeconfig", str(second), "--context", ""],
                                completion.ClusterLookups)
    assert values(typed) == ["ci", "dev"]


def test_unreadable_kubeconfig_or_bad_namespace_gives_no_candidates(tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.write_text("- not a mapping\n")
    monkeypatch.setenv("KUBECONFIG", str(broken))
    for words in (["history", "--context", ""], ["rollback", "deployment/"], ["rollback", "-n", "Bad_NS", "deploy/"]):
        assert completion.complete(ROOT, words, completion.ClusterLookups) == Completion((), NO_FILE_COMP), words


@pytest.fixture
def silent_server():
    """A server that takes connections and never answers (the path to it died), counting the connections made."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for connection in accepted:
        connection.close()


def test_a_server_that_did_not_answer_is_not_asked_again_for_a_while(silent_server, tmp_path, monkeypatch):
    # Tester finding: every TAB against a server that never answers cost the whole deadline again.
    server, accepted = silent_server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    log = tmp_path / "debug.log"
    monkeypatch.setenv(completion.DEBUG_FILE_VARIABLE, str(log))
    line = ["rollback", "--server", server, "--token", "t", "--request-timeout", "1s"]
    assert completion.complete(ROOT, [*line, "deployment/"], completion.ClusterLookups) == Completion(
        (), NO_FILE_COMP)
    asked = len(accepted)
    assert asked >= 1
    every_kind = completion.complete(ROOT, [*line, ""], completion.ClusterLookups)
    assert values(every_kind) == ["deployment/", "statefulset/", "daemonset/", "service/"]  # what is known
    assert completion.complete(ROOT, [*line, "-n", ""], completion.ClusterLookups) == Completion((), NO_FILE_COMP)
    assert len(accepted) == asked  # neither TAB asked the server
    assert f"{server} did not answer" in log.read_text() and "not asked again" in log.read_text()
    [remembered] = (tmp_path / "kubectl-harness-rollback" / "completion").iterdir()
    long_ago = time.time() - completion.UNANSWERED_FOR_SECONDS - 1
    os.utime(remembered, (long_ago, long_ago))
    completion.complete(ROOT, [*line, "deployment/"], completion.ClusterLookups)
    assert len(accepted) > asked  # once that time is over, it is asked again


def test_deadline_interrupts_a_wait():
    started = time.monotonic()
    with pytest.raises(completion.DeadlineExceeded):
        with completion.deadline(0.1):
            time.sleep(5)
    assert time.monotonic() - started < 2
    time.sleep(0.2)  # and the timer is gone once the block is left


# -- the executable ------------------------------------------------------------------------------------------------


def test_main_prints_the_protocol_and_exits_0():
    proc = subprocess.run([sys.executable, "-c", "from kubectl_rollback.completion import main; main()", "ro"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines()[0].startswith("rollback\t") and proc.stdout.endswith("\n:4\n")


def test_a_bug_gives_the_error_directive_and_no_traceback(monkeypatch, capsys, tmp_path):
    def broken(flags):
        raise RuntimeError("a bug")

    monkeypatch.setattr(completion, "ClusterLookups", broken)
    monkeypatch.delenv("KUBECTL_HARNESS_ROLLBACK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        completion.main(["history", "-n", ""])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert out == f":{ERROR}\n" and err == ""


WORDS = st.sampled_from(["", "-", "--", "rollback", "history", "record", "-o", "--output=", "json", "-n", "shop",
                         "--context", "--dry-run", "--dry-run=", "deployment/", "deploy/w", "svc/", "--help", "x/",
                         "--kubeconfig", "--status", "-h", "--wait", "=", "-nshop", "--to-revision", "3"])


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=7))
def test_any_line_gives_a_well_formed_answer(words):
    result = completion.complete(ROOT, words, FakeLookups)
    rendered = result.render()
    assert rendered.endswith(f":{result.directive}\n") and 0 <= result.directive < 64
    word = words[-1]
    for value, _ in result.candidates:
        assert "\n" not in value and "\t" not in value
        prefix = word.partition("=")[2] if word.startswith("--") and "=" in word else word
        assert value.startswith(prefix), (words, value)
