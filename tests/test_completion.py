"""Shell completion through the real kubectl: `kubectl __complete harness-rollback ...` is what the shell's kubectl
completion script runs on TAB; kubectl finds kubectl_complete-harness_rollback on PATH (the venv's bin, where
`make install` puts the console script) and passes its answer on in cobra's protocol."""

from __future__ import annotations

import os
import time

from tests import manifests
from tests.cluster.controlplane import ADMIN_TOKEN, kubeconfig_text

NO_FILE_COMP = 4
NO_SPACE = 2


def complete(cluster, *words: str, env: dict = None) -> tuple:
    """(candidates, directive) that kubectl prints for the words typed after `kubectl harness-rollback`."""
    proc = cluster.run("__complete", "harness-rollback", *words, env=env)
    *lines, last = proc.stdout.splitlines()
    assert last.startswith(":"), proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line.split("\t")[0] for line in lines], int(last[1:])


def test_verbs_complete(cluster):
    assert complete(cluster, "ro") == (["rollback"], NO_FILE_COMP)
    verbs, _ = complete(cluster, "")
    assert {"record", "history", "rollback"} <= set(verbs)
    proc = cluster.run("__complete", "harness-rollback", "ro")
    assert proc.stdout.splitlines()[0].startswith("rollback\tRoll a workload back"), proc.stdout


def test_flags_and_their_enumerated_values(cluster):
    flags, directive = complete(cluster, "rollback", "--dr")
    assert (flags, directive) == (["--dry-run"], NO_FILE_COMP)
    assert complete(cluster, "history", "-o", "") == (["table", "wide", "json", "yaml"], NO_FILE_COMP)
    assert complete(cluster, "history", "--output=j") == (["json"], NO_FILE_COMP)
    assert complete(cluster, "rollback", "--dry-run=") == (["none", "client", "server"], NO_FILE_COMP)
    assert complete(cluster, "record", "--status", "") == (["Succeeded", "Failed", "InProgress"], NO_FILE_COMP)


def test_kind_then_names_of_that_kind_in_the_namespace(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.apply(manifests.deployment("api", "example.test/api:1"))
    ns.apply(manifests.statefulset("db", "example.test/db:1"))
    kinds, directive = complete(ns.cluster, "rollback", "-n", ns.name, "")
    assert kinds == ["deployment/", "statefulset/", "daemonset/", "service/"]
    assert directive & NO_SPACE and directive & NO_FILE_COMP
    assert complete(ns.cluster, "rollback", "-n", ns.name, "deployment/") == (
        ["deployment/api", "deployment/web"], NO_FILE_COMP)
    assert complete(ns.cluster, "rollback", "--namespace", ns.name, "deploy/w") == (["deploy/web"], NO_FILE_COMP)
    assert complete(ns.cluster, "history", f"--namespace={ns.name}", "statefulset/") == (
        ["statefulset/db"], NO_FILE_COMP)
    # record takes a workload, never a Service
    assert complete(ns.cluster, "record", "-n", ns.name, "s")[0] == ["statefulset/"]


def test_names_come_from_the_kubeconfig_and_context_typed_on_the_line(ns, tmp_path):
    """--kubeconfig on the line wins over KUBECONFIG, and its context's namespace is the one listed."""
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    plane = ns.cluster.plane
    own = tmp_path / "own.kubeconfig"
    own.write_text(kubeconfig_text(plane.server, plane.ca_file, "admin", ADMIN_TOKEN, namespace=ns.name))
    nowhere = dict(ns.cluster.env, KUBECONFIG=str(tmp_path / "missing"))
    assert complete(ns.cluster, "rollback", "deployment/", env=nowhere) == ([], NO_FILE_COMP)
    assert complete(ns.cluster, "rollback", "--kubeconfig", str(own), "deployment/", env=nowhere) == (
        ["deployment/web"], NO_FILE_COMP)


def test_contexts_and_an_api_refusal_gives_no_candidates(ns):
    """--context offers the contexts of every KUBECONFIG file; the limited user may not list Deployments, so naming
    its context gives no candidates, quietly."""
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    files = [ns.cluster.kubeconfig, ns.cluster.plane.limited_kubeconfig]
    both = dict(ns.cluster.env, KUBECONFIG=os.pathsep.join(files))
    assert complete(ns.cluster, "history", "--context", "", env=both) == (["admin", "limited"], NO_FILE_COMP)
    assert complete(ns.cluster, "history", "--context=l", env=both) == (["limited"], NO_FILE_COMP)
    assert complete(ns.cluster, "history", "--context", "admin", "-n", ns.name, "deployment/", env=both) == (
        ["deployment/web"], NO_FILE_COMP)
    proc = ns.cluster.run("__complete", "harness-rollback", "history", "--context", "limited", "-n", ns.name,
                          "deployment/", env=both)
    assert proc.stdout.splitlines() == [f":{NO_FILE_COMP}"], proc.stdout
    assert "Traceback" not in proc.stderr and "forbidden" not in proc.stdout.lower()


def test_namespaces_from_the_cluster(ns):
    namespaces, directive = complete(ns.cluster, "history", "-n", "")
    assert {ns.name, "default", "kube-system"} <= set(namespaces) and directive == NO_FILE_COMP
    assert complete(ns.cluster, "history", "-n", ns.name) == ([ns.name], NO_FILE_COMP)


def test_unreachable_cluster_gives_no_candidates_within_the_deadline(cluster, tmp_path):
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(kubeconfig_text("https://127.0.0.1:9", cluster.plane.ca_file, "admin", ADMIN_TOKEN))
    started = time.monotonic()
    own_cache = dict(cluster.env, XDG_CACHE_HOME=str(tmp_path))  # a server remembered as not answering stays here
    result = complete(cluster, "rollback", "--kubeconfig", str(dead), "--request-timeout", "2s", "deployment/",
                      env=own_cache)
    assert result == ([], NO_FILE_COMP)
    assert time.monotonic() - started < 10


def test_kubectl_runs_the_venvs_console_script(cluster, tmp_path):
    """The executable kubectl runs is the one `make install` put beside the plugin (kubectl's debug log says)."""
    from tests.conftest import VENV_BIN

    log = tmp_path / "completion.log"
    complete(cluster, "ro", env=dict(cluster.env, BASH_COMP_DEBUG_FILE=str(log)))
    expected = os.path.join(VENV_BIN, "kubectl_complete-harness_rollback")
    assert f"About to call: {expected} ro" in log.read_text(), log.read_text()


def test_only_the_kinds_the_user_may_list_are_offered(ns):
    """Tester finding: a user allowed to list some kinds was offered every kind the cluster serves (and no names after
    the others). Offered are the kinds `history --all` reads for that user; a user who may list none of them (the
    record role of docs/rbac.yaml gets and patches, a second tester found it offered nothing) is offered every kind,
    as kubectl offers resource types whatever RBAC allows, and no names."""
    ns.apply(manifests.statefulset("db", "example.test/db:1"))
    limited = dict(ns.cluster.env, KUBECONFIG=ns.cluster.plane.limited_kubeconfig)
    every = ["deployment/", "statefulset/", "daemonset/", "service/"]
    assert complete(ns.cluster, "history", "-n", ns.name, "", env=limited) == (every, NO_SPACE | NO_FILE_COMP | 32)
    assert complete(ns.cluster, "record", "-n", ns.name, "", env=limited)[0] == every[:3]
    assert complete(ns.cluster, "history", "-n", ns.name, "statefulset/", env=limited)[0] == []
    ns.kubectl("create", "role", "list-statefulsets", "--verb=list", "--resource=statefulsets")
    ns.kubectl("create", "rolebinding", "list-statefulsets", "--role=list-statefulsets", "--user=limited")
    assert complete(ns.cluster, "history", "-n", ns.name, "", env=limited)[0] == ["statefulset/"]
    assert complete(ns.cluster, "history", "-n", ns.name, "statefulset/", env=limited)[0] == ["statefulset/db"]


def test_a_server_that_never_answers_is_not_asked_again_on_the_next_tab(ns, tmp_path):
    """Tester finding: each TAB against a server that never answers waited its whole deadline again. The failure is
    remembered (docs: README, "Shell completion"): the next TAB answers at once with what is known without it."""
    from tests.cluster.faultproxy import FaultProxy, Rule, freeze, kubeconfig_for

    ns.apply(manifests.deployment("web", "example.test/web:1"))
    with FaultProxy(ns.cluster.plane.server, ns.cluster.plane.ca_file) as proxy:
        kubeconfig = tmp_path / "proxy.kubeconfig"
        kubeconfig.write_text(kubeconfig_for(proxy, ADMIN_TOKEN, ns.name))
        env = dict(ns.cluster.env, KUBECONFIG=str(kubeconfig), XDG_CACHE_HOME=str(tmp_path / "cache"))
        proxy.add_rule(Rule(freeze(), times=None))
        assert complete(ns.cluster, "rollback", "--request-timeout", "2s", "deployment/", env=env) == (
            [], NO_FILE_COMP)
        asked = proxy.count()
        assert asked >= 1
        kinds, _ = complete(ns.cluster, "rollback", "", env=env)
        assert kinds == ["deployment/", "statefulset/", "daemonset/", "service/"]  # every registered kind
        assert complete(ns.cluster, "rollback", "deployment/", env=env) == ([], NO_FILE_COMP)
        assert proxy.count() == asked  # neither TAB asked the server
        proxy.clear_rules()
        [remembered] = (tmp_path / "cache" / "kubectl-harness-rollback" / "completion").iterdir()
        long_ago = time.time() - 60
        os.utime(remembered, (long_ago, long_ago))  # the time it is remembered for is over
        assert complete(ns.cluster, "rollback", "deployment/", env=env) == (["deployment/web"], NO_FILE_COMP)
