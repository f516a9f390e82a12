"""The exit-code table is kept in one place, errors.ExitCode (issue 30, issue 32 item 2): README's table and every
verb's --help list exactly its codes, and --timeout without the wait it bounds is a usage error. With -o json|yaml,
an exit before any result still prints a document (its kind's schema, docs/schemas/)."""

import json
import re
import sys
from pathlib import Path

import click
import jsonschema
import pytest
import typer
from click.testing import CliRunner

from kubectl_rollback import cli, output
from kubectl_rollback.errors import ExitCode, UsageError
from kubectl_rollback.options import parse_wait_timeout
from tests import contract

README = Path(__file__).parents[2] / "README.md"


def readme_rows() -> dict:
    section = README.read_text().split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.*) \|$", section, re.MULTILINE)}


def help_of(*verb: str) -> str:
    result = CliRunner().invoke(typer.main.get_command(cli.app), [*verb, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def help_rows(text: str) -> dict:
    section = text.split("Exit codes:", 1)[1]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\s+(\d+)\s+(\S.*)$", section, re.MULTILINE)}


def test_readme_lists_exactly_the_enums_codes():
    assert set(readme_rows()) == {int(code) for code in ExitCode}


@pytest.mark.parametrize("verb", [(), ("history",), ("rollback",), ("record",), ("resume",), ("watch",)],
                         ids=lambda v: " ".join(v) or "root")
def test_help_lists_every_code_with_the_enums_meaning(verb):
    rows = help_rows(help_of(*verb))
    assert set(rows) == {int(code) for code in ExitCode}
    for code in ExitCode:
        assert code.meaning.startswith(rows[int(code)].strip()), (code, rows[int(code)])


def test_verify_lists_its_own_meanings_of_the_enums_codes_only():
    assert set(help_rows(help_of("verify"))) <= {int(code) for code in ExitCode}


def test_diff_lists_kubectl_diffs_meanings_of_the_enums_codes_only():
    rows = help_rows(help_of("diff"))
    assert set(rows) <= {int(code) for code in ExitCode}
    assert rows[1].startswith("the revisions differ") and rows[2].startswith("usage error or any other error")


def test_timeout_is_refused_without_the_wait_it_bounds():
    with pytest.raises(UsageError, match="--timeout 5s bounds --wait, which was not given"):
        parse_wait_timeout("5s", False, "--wait", 300.0)
    assert parse_wait_timeout(None, False, "--wait", 300.0) == 300.0
    assert parse_wait_timeout("90s", True, "--follow", 600.0) == 90.0


# -- the document every exit prints with -o json|yaml ----------------------------------------------------------


def run_main(monkeypatch, capsys, *argv: str) -> tuple:
    monkeypatch.setattr(sys, "argv", ["kubectl-harness_rollback", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    printed = capsys.readouterr()
    return exited.value.code, printed.out, printed.err


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("argv, kind", [
    (("rollback", "deployment/web", "--timeout", "5s"), "RollbackResult"),
    (("rollback", "deployment/web", "--no-such-flag"), "RollbackResult"),
    (("history", "pod/web"), "HistoryResult"),
    (("record", "deployment/web"), "RecordResult"),
    (("verify", "deployment/web"), "VerifyResult"),
    (("resume",), "ResumeResult"),
    (("-n", "shop", "history", "deployment/web"), "HistoryResult"),
    (("rolback", "deployment/web"), "Result"),
    (("diff", "deployment/web", "--no-such-flag"), "DiffResult"),
    (("diff", "pod/web"), "DiffResult"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_a_usage_error_prints_its_document_on_stdout_and_its_line_on_stderr(monkeypatch, capsys, argv, kind, fmt):
    code, out, err = run_main(monkeypatch, capsys, *argv, "-o", fmt)
    assert code == ExitCode.USAGE
    document = contract.validated(out, fmt, kind)
    assert document["error"]["reason"] == "USAGE" and document["error"]["exitCode"] == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and document["error"]["message"] in err


@pytest.mark.parametrize("spelling", [("-o", "json"), ("-ojson",), ("--output=json",), ("--output", "json"),
                                      ("-o=json",)])
def test_every_spelling_of_output_gets_the_document(monkeypatch, capsys, spelling):
    code, out, _ = run_main(monkeypatch, capsys, "rollback", "deployment/web", "--timeout", "5s", *spelling)
    assert code == ExitCode.USAGE and json.loads(out)["error"]["exitCode"] == 2


def test_without_a_data_format_stdout_stays_empty(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "rollback", "deployment/web", "--timeout", "5s")
    assert (code, out) == (ExitCode.USAGE, "") and err.startswith("error: ")


@pytest.mark.parametrize("kind", contract.KINDS)
def test_the_schemas_are_valid_json_schemas(kind):
    jsonschema.Draft202012Validator.check_schema(contract.schema_of(kind))


def test_ctrl_c_is_one_line_exit_130_and_its_document(monkeypatch, capsys):
    """typer turns a KeyboardInterrupt into a silent return of 130: the line and the document were missing."""
    from kubectl_rollback import targets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(targets, "select", interrupted)
    code, out, err = run_main(monkeypatch, capsys, "history", "deployment/web", "-o", "json")
    assert (code, err) == (ExitCode.INTERRUPTED, "error: interrupted\n")
    assert contract.validated(out, "json", "HistoryResult")["error"]["reason"] == "INTERRUPTED"


def test_the_schemas_error_object_names_every_exit_code_but_success():
    # PREFLIGHT_BLOCKED (5) landed without it: a blocked rollback's document failed every schema.
    error = json.loads((contract.SCHEMAS / "common.json").read_text())["$defs"]["error"]["properties"]
    failing = [code for code in ExitCode if code != ExitCode.OK]
    assert error["reason"]["enum"] == [code.name for code in failing]
    assert error["exitCode"]["enum"] == [int(code) for code in failing]


def test_every_verb_with_output_has_its_kind_and_schema():
    verbs_with_output = {name for name, command in typer.main.get_command(cli.app).commands.items()
                         if any("--output" in p.opts for p in command.params)}
    assert verbs_with_output == set(output.KINDS)
    assert set(output.KINDS.values()) | {output.UNKNOWN_VERB_KIND, output.FLEET_KIND} == set(contract.KINDS)


def test_a_misspelt_verb_is_suggested_once(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "rolback", "deployment/web", "-o", "json")
    assert code == ExitCode.USAGE and err.count("Did you mean 'rollback'?") == 1, err
    assert json.loads(out)["error"]["message"].count("Did you mean") == 1


def test_a_flag_before_the_verb_gets_the_verbs_kind(monkeypatch, capsys):
    code, out, _ = run_main(monkeypatch, capsys, "-o", "json", "rollback", "deployment/web")
    assert code == ExitCode.USAGE
    contract.validated(out, "json", "RollbackResult")


def test_an_early_ctrl_c_still_prints_the_document():
    # Issue 32b item 3: a Ctrl-C while the command line was still being imported (the first tenths of a second)
    # said "error: interrupted" and exited 130 with nothing on stdout. Sent at growing delays, so some land in the
    # import; the server is unreachable and the flags lack credentials, so later ones end the command differently.
    import signal
    import subprocess
    import time

    interrupted = []
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3):
        proc = subprocess.Popen([sys.executable, "-m", "kubectl_rollback", "history", "deployment/web", "-o", "json",
                                 "--server", "https://127.0.0.1:9"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == ExitCode.INTERRUPTED:
            assert err.strip() == "error: interrupted", err
            document = contract.validated(out, "json", "HistoryResult")
            interrupted.append(document["error"]["reason"])
    assert interrupted and set(interrupted) == {"INTERRUPTED"}


def _verbs() -> dict:
    return dict(typer.main.get_command(cli.app).commands)


def _takes_output(command) -> bool:
    return any("--output" in p.opts for p in command.params)


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_an_unknown_flag_with_output_json_is_the_verbs_usage_line(monkeypatch, capsys, verb):
    # Tester finding: `watch -o json --bogus` printed a JSON document (kind Result), though watch has no -o at all.
    code, out, err = run_main(monkeypatch, capsys, verb, "-o", "json", "--bogus")
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and err.rstrip().endswith(f"see '{cli.PROG} {verb} --help'"), err
    if _takes_output(_verbs()[verb]):
        assert contract.validated(out, "json", output.KINDS[verb])["error"]["reason"] == "USAGE"
    else:
        assert out == ""


def _bad_values() -> list:
    """Per verb: a flag given a value it does not take, and a flag missing the value it needs (last on the line)."""
    cases = []
    for name, command in sorted(_verbs().items()):
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden and p.opts[0] != "--help"]
        switch = next((o for o in options if o.is_flag), None)
        valued = next((o for o in options if not o.is_flag), None)
        if switch is not None:
            cases.append((name, f"{switch.opts[-1]}=bogus"))
        if valued is not None:
            cases.append((name, valued.opts[-1]))
    return cases


@pytest.mark.parametrize("verb, flag", _bad_values(), ids=lambda v: v)
def test_a_bad_flag_value_points_to_the_verbs_help(monkeypatch, capsys, verb, flag):
    # Tester finding: `rollback deployment/web --wait=bogus` said "see 'kubectl harness-rollback --help'" (the root's):
    # click raises "does not take a value" and "requires an argument" without the verb's context.
    code, _, err = run_main(monkeypatch, capsys, verb, flag)
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and err.rstrip().endswith(f"see '{cli.PROG} {verb} --help'"), err
