"""history and rollback across kubeconfig contexts (issue 23): two real clusters on this machine (the session's and
`second_cluster`, its own kube-apiserver on the same etcd under another prefix) and contexts for them in one
kubeconfig, with a context whose server does not answer (a closed port) and one whose user RBAC denies."""

from __future__ import annotations

import json
import signal

import pytest
import yaml

from kubectl_rollback.errors import ExitCode
from tests import contract, manifests
from tests import scenarios as sc
from tests.cluster.controlplane import ADMIN_TOKEN, LIMITED_TOKEN, free_port
from tests.test_interrupt import started_waiting

IDENTITY = ("--workflow-id", "wf1", "--service-id", "svc", "--infra-id", "infra")


@pytest.fixture
def fleet(cluster, second_cluster, ns, tmp_path):
    """The test's namespace on both clusters, and a kubeconfig: east (the session cluster), west (the second), down
    (a closed port), denied (the session cluster as a user with no Role), broken (a cluster the file lacks)."""
    with second_cluster.namespace(ns.name) as other:
        path = tmp_path / "fleet.kubeconfig"
        path.write_text(_kubeconfig(cluster.plane, second_cluster.plane))
        yield Fleet(ns, other, dict(cluster.env, KUBECONFIG=str(path)))


class Fleet:
    def __init__(self, east, west, env: dict):
        self.east, self.west, self.env = east, west, env

    def deploy(self, ns, context: str, statuses: tuple = ("Succeeded", "Failed")) -> None:
        """web:1, web:2, ... each recorded with its status in turn, each record made through `context`, so that it
        names that context's cluster as a pipeline's would."""
        for version, status in enumerate(statuses, start=1):
            ns.apply(manifests.deployment("web", f"example.test/web:{version}"))
            ns.rollout_status("deployment/web")
            ns.plugin("record", "deployment/web", "--status", status, *IDENTITY, "--context", context, env=self.env,
                      check=True)

    def plugin(self, *args: str, code: ExitCode):
        done = self.east.plugin(*args, env=self.env)
        assert done.returncode == code, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def document(self, *args: str, code: ExitCode = ExitCode.OK) -> dict:
        return contract.validated(self.plugin(*args, "-o", "json", code=code).stdout, "json", "FleetResult")


def _kubeconfig(east, west) -> str:
    closed = f"https://127.0.0.1:{free_port()}"  # bound once to find it free, closed since: nothing answers there
    clusters = {"east": (east.server, east.ca_file), "west": (west.server, west.ca_file),
                "down": (closed, east.ca_file)}
    contexts = [("east", "east", "admin"), ("west", "west", "admin"), ("down", "down", "admin"),
                ("denied", "east", "limited"), ("broken", "nowhere", "admin")]  # broken: a cluster not defined
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "east",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": ca}}
                     for name, (server, ca) in clusters.items()],
        "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}},
                  {"name": "limited", "user": {"token": LIMITED_TOKEN}}],
        "contexts": [{"name": name, "context": {"cluster": c, "user": u}} for name, c, u in contexts],
    })


def image(ns) -> str:
    return ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]


def rows(document: dict) -> list:
    return [(c["context"], c["cluster"], c["outcome"], c["fromRevision"], c["toRevision"])
            for c in document["contexts"]]


def test_history_a_dry_run_then_the_rollback_in_both_clusters(fleet):
    fleet.deploy(fleet.east, "east")
    fleet.deploy(fleet.west, "west")
    shown = fleet.document("history", "deployment/web", "--contexts", "east,west")
    assert rows(shown) == [("east", "east", "shown", 2, 1), ("west", "west", "shown", 2, 1)]
    assert [c["result"]["identity"]["clusterName"] for c in shown["contexts"]] == ["east", "west"]

    dry = fleet.document("rollback", "deployment/web", "--contexts", "east,west", "--dry-run=server")
    assert rows(dry) == [("east", "east", "would roll back", 2, 1), ("west", "west", "would roll back", 2, 1)]
    assert image(fleet.east) == image(fleet.west) == "example.test/web:2"

    done = fleet.plugin("rollback", "deployment/web", "--contexts", "east,west", "--wait", code=ExitCode.OK)
    assert image(fleet.east) == image(fleet.west) == "example.test/web:1"
    assert done.stdout.splitlines()[-1] == "2 contexts: 2 rolled back", done.stdout
    assert [line.split()[:3] for line in done.stdout.splitlines()[1:3]] == [["east", "east", "rolled"],
                                                                             ["west", "west", "rolled"]]
    stderr = done.stderr.splitlines()
    assert any(line.startswith("[east] ") for line in stderr) and any(line.startswith("[west] ") for line in stderr)
    assert all(line.startswith(("[east] ", "[west] ")) for line in stderr), done.stderr


def test_unreachable_denied_and_broken_contexts_fail_their_rows_while_the_others_roll_back(fleet):
    fleet.deploy(fleet.east, "east")
    fleet.deploy(fleet.west, "west")
    # five contexts, four at a time (the default): one waits for a slot
    document = fleet.document("rollback", "deployment/web", "--contexts", "down,denied,broken,east,west",
                              code=ExitCode.ERROR)
    assert rows(document) == [("down", "down", "failed", None, None), ("denied", "east", "failed", None, None),
                              ("broken", "nowhere", "failed", None, None),
                              ("east", "east", "rolled back", 2, 1), ("west", "west", "rolled back", 2, 1)]
    down, denied, broken = (c["result"]["error"] for c in document["contexts"][:3])
    assert "cannot reach the API server" in down["message"] and down["exitCode"] == 1
    assert "forbidden" in denied["message"].lower() and denied["exitCode"] == 1
    assert 'cluster "nowhere"' in broken["message"] and broken["exitCode"] == 2  # what --context broken exits
    assert document["summary"]["failed"] == 3 and document["summary"]["rolled back"] == 2
    assert document["error"]["exitCode"] == 1
    assert image(fleet.east) == image(fleet.west) == "example.test/web:1"


def test_fail_fast_one_by_one_starts_nothing_after_the_first_failure(fleet):
    fleet.deploy(fleet.east, "east")
    document = fleet.document("rollback", "deployment/web", "--contexts", "down,east", "--max-parallel", "1",
                              "--fail-fast", code=ExitCode.ERROR)
    assert [c["outcome"] for c in document["contexts"]] == ["failed", "not started"]
    assert document["contexts"][1]["result"] is None
    assert image(fleet.east) == "example.test/web:2"


def test_no_target_in_one_context_is_exit_3_and_the_table_counts_each_outcome(fleet):
    fleet.deploy(fleet.east, "east")
    fleet.deploy(fleet.west, "west", ("Failed",))  # its first deployment failed: nothing to go back to
    done = fleet.plugin("rollback", "deployment/web", "--contexts", "east,west", code=ExitCode.NO_TARGET)
    assert done.stdout.splitlines()[-1] == "2 contexts: 1 rolled back, 1 no target", done.stdout
    assert image(fleet.east) == "example.test/web:1" and image(fleet.west) == "example.test/web:1"
    west = [line for line in done.stdout.splitlines() if line.startswith("west ")]
    assert west and west[0].split()[2:4] == ["no", "target"], done.stdout


def test_all_contexts_and_bad_flags(fleet):
    fleet.deploy(fleet.east, "east", ("Succeeded",))
    # every context of the kubeconfig, in its order; down and denied fail, so exit 1
    document = fleet.document("history", "deployment/web", "--all-contexts", code=ExitCode.ERROR)
    assert [c["context"] for c in document["contexts"]] == ["east", "west", "down", "denied", "broken"]
    for args in (("--contexts", "east", "--context", "west"), ("--contexts", "east,nowhere"),
                 ("--max-parallel", "2"), ("--contexts", "east", "--max-parallel", "0")):
        done = fleet.plugin("rollback", "deployment/web", *args, code=ExitCode.USAGE)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr
    assert json.loads(fleet.plugin("rollback", "deployment/web", "--contexts", "east,nowhere", "-o", "json",
                                   code=ExitCode.USAGE).stdout)["error"]["reason"] == "USAGE"


def _east_waits_forever_after_its_rollback(fleet) -> None:
    """east's revision 1 is recorded Succeeded but its pods never get ready: the wait after its rollback cannot end."""
    for version, status in (("1-broken-now", "Succeeded"), ("2", "Failed")):
        fleet.east.apply(manifests.deployment("web", f"example.test/web:{version}"))
        fleet.east.plugin("record", "deployment/web", "--status", status, *IDENTITY, "--context", "east",
                          env=fleet.env, check=True)
    fleet.deploy(fleet.west, "west")


def _stopped_while_east_waits(fleet, signum: int, *args: str):
    proc = sc.start_plugin(fleet.east, "rollback", "deployment/web", "--contexts", "east,west", "--max-parallel", "1",
                           "--wait", "--timeout", "5m", *args, env=fleet.env)
    assert "[east] deployment/web rolled back from revision 2" in started_waiting(proc)
    proc.send_signal(signum)
    done = sc.finish(proc, timeout=60)
    assert "Traceback" not in done.stderr
    assert image(fleet.east) == "example.test/web:1-broken-now" and image(fleet.west) == "example.test/web:2"
    return done


def test_sigterm_while_a_context_waits_stops_its_wait_and_reports_it_rolled_back_as_its_own_command_would(fleet):
    """Issue 23b: the context stopped in its wait was reported `failed`, FROM/TO empty, its document null; and the
    SIGTERM waited out --timeout, its document saying INTERRUPTED/130."""
    _east_waits_forever_after_its_rollback(fleet)
    done = _stopped_while_east_waits(fleet, signal.SIGTERM, "-o", "json")
    assert done.returncode == ExitCode.TERMINATED, done.stderr
    document = contract.validated(done.stdout, "json", "FleetResult")
    assert (document["error"]["reason"], document["error"]["exitCode"]) == ("TERMINATED", 143), document["error"]
    assert rows(document) == [("east", "east", "rolled back", 2, 1), ("west", "west", "not started", None, None)]
    east = document["contexts"][0]
    follow = f"kubectl rollout status deployment/web -n {fleet.east.name} --context east"
    assert east["message"].startswith("interrupted while waiting: deployment/web rolled back 2 -> 1; the rollout "
                                      f"goes on; follow it with: {follow}"), east["message"]
    own = east["result"]  # what `--context east --wait -o json` prints on SIGTERM
    assert (own["changed"], own["from"]["revision"], own["to"]["revision"]) == (True, 2, 1), own
    assert (own["error"]["reason"], own["error"]["message"]) == ("TERMINATED", east["message"]), own["error"]


def test_ctrl_c_while_a_context_waits_prints_the_table_with_its_row_rolled_back(fleet):
    _east_waits_forever_after_its_rollback(fleet)
    done = _stopped_while_east_waits(fleet, signal.SIGINT)
    assert done.returncode == ExitCode.INTERRUPTED, done.stderr
    table = done.stdout.splitlines()
    assert table[1].split()[:5] == ["east", "east", "rolled", "back", "2"] and "interrupted while waiting" in table[1]
    assert table[2].split()[:4] == ["west", "west", "not", "started"]
    assert table[3] == "2 contexts: 1 rolled back, 1 not started"
    assert f"kubectl rollout status deployment/web -n {fleet.east.name} --context east" in table[1], table[1]
