"""integrations/k9s/plugins.yaml against k9s's own rules: its published plugin schema (vendored from k9s v0.50.16 in
tests/k9s), the fields k9s reads, its key syntax, and its variable substitution. k9s itself runs the file in
tests/test_k9s.py.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = ROOT / "integrations" / "k9s" / "plugins.yaml"
SCHEMA_FILE = ROOT / "tests" / "k9s" / "plugins.schema.json"

WORKLOAD_SCOPES = ["deployments", "statefulsets", "daemonsets", "services"]
# The variables a k9s table view hands a plugin (internal/view/helpers.go and table.go at v0.50.16), less COL-*.
K9S_VARIABLES = {"CONTEXT", "CLUSTER", "USER", "GROUPS", "KUBECONFIG", "NAMESPACE", "NAME", "FILTER",
                 "RESOURCE_GROUP", "RESOURCE_VERSION", "RESOURCE_NAME"}
# k9s's envRX (internal/view/env.go): $XXX, $!XXX, ${XXX}, ${!XXX}; the name is upper-cased before the look-up, so a
# shell variable `$name` would be replaced too.
K9S_VARIABLE_RX = re.compile(r"(\$(!?)([\w\-]+))|(\$\{(!?)([\w\-%/: ]+)})")
# internal/config/plugin.go's README: [a-z], Shift-[A-Z], Ctrl-[A-Z]
K9S_SHORTCUT_RX = re.compile(r"[a-z]|Shift-[A-Z]|Ctrl-[A-Z]")


@pytest.fixture(scope="module")
def plugins() -> dict:
    return yaml.safe_load(PLUGIN_FILE.read_text(encoding="utf-8"))["plugins"]


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def k9s_substitute(script: str, env: dict) -> str:
    """What k9s's Env.Substitute does to a plugin argument: the longest names first, unknown names left as they are."""
    matches = sorted(K9S_VARIABLE_RX.finditer(script), key=lambda m: len(m.group(0)), reverse=True)
    for match in matches:
        name = (match.group(3) if match.group(1) else match.group(6)).upper()
        if name in env:
            script = script.replace(match.group(0), env[name])
    return script


def test_the_file_is_valid_against_k9s_plugins_schema(schema):
    jsonschema.Draft7Validator.check_schema(schema)
    document = yaml.safe_load(PLUGIN_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(document)


def test_an_entry_missing_a_required_field_is_refused_by_the_schema(schema, plugins):
    """The vendored schema is the one that checks entries (not a schema that accepts anything)."""
    entry = dict(plugins["harness-rollback-history"])
    del entry["command"]
    with pytest.raises(jsonschema.ValidationError, match="'command' is a required property"):
        jsonschema.Draft7Validator(schema).validate({"plugins": {"broken": entry}})


def test_every_field_is_one_k9s_reads(schema, plugins):
    """k9s's plugins schema lets unknown fields through and its loader ignores them: a misspelt `confirm` would
    silently run the rollback unasked."""
    known = set(schema["properties"]["plugins"]["additionalProperties"]["properties"])
    for name, entry in plugins.items():
        assert set(entry) <= known, (name, set(entry) - known)


def test_history_diff_and_rollback_for_each_workload_kind_on_distinct_keys(plugins):
    verbs = {}
    for name, entry in plugins.items():
        assert entry["scopes"] == WORKLOAD_SCOPES, name
        assert K9S_SHORTCUT_RX.fullmatch(entry["shortCut"]), entry["shortCut"]
        verbs[shlex.split(entry["args"][1])[3]] = entry["shortCut"]
    assert sorted(verbs) == ["diff", "history", "rollback"]
    assert len(set(verbs.values())) == 3


def test_only_the_rollback_changes_anything_and_k9s_asks_first(plugins):
    for name, entry in plugins.items():
        writes = shlex.split(entry["args"][1])[3] == "rollback"
        assert entry.get("confirm", False) is writes, name
        assert entry.get("dangerous", False) is writes, name  # k9s --readonly hides it
        assert entry["background"] is False, name  # in the terminal, so less can show the output


def test_every_variable_in_a_script_is_one_k9s_fills_in(plugins):
    for name, entry in plugins.items():
        script = entry["args"][1]
        used = {(m.group(3) or m.group(6)).upper() for m in K9S_VARIABLE_RX.finditer(script)}
        assert used <= K9S_VARIABLES, (name, used - K9S_VARIABLES)
        assert {"RESOURCE_NAME", "NAME", "NAMESPACE", "CONTEXT", "KUBECONFIG"} <= used, name


@pytest.mark.parametrize("kubeconfig", ["/home/ops/kube configs/prod.yaml", ""])
def test_the_script_k9s_runs_passes_the_selection_through_quoted(plugins, tmp_path, kubeconfig):
    """After k9s's substitution the shell sees the workload, namespace and context as single words, and the
    kubeconfig as KUBECONFIG (empty when k9s has none: the default one)."""
    env = {"RESOURCE_NAME": "deployments", "NAME": "web", "NAMESPACE": "shop", "CONTEXT": "admin@prod eu",
           "KUBECONFIG": kubeconfig}
    for name, entry in plugins.items():
        script = k9s_substitute(entry["args"][1], env)
        subprocess.run(["sh", "-n", "-c", script], check=True)
        command = shlex.split(script.split(" 2>&1 | ")[0])
        assert command[0] == f"KUBECONFIG={env['KUBECONFIG']}", name
        assert command[1:3] == ["kubectl", "harness-rollback"], name
        assert command[4:] == ["deployments/web", "-n", "shop", "--context", "admin@prod eu"], name
        assert script.endswith(" 2>&1 | less -RK"), name
