"""`rollback KIND/NAME -i` in a real pseudo-terminal (issue 33): tmux runs the plugin against the test cluster, the
test types keys and reads the screen tmux renders, then checks the cluster. The list preselects the rollback target
and says why revisions were skipped; Enter shows the diff and the pre-flight and asks once; `y` rolls back, `n` and
Ctrl-C write nothing; without a terminal it refuses at once (exit 2)."""

import json
import shlex
import subprocess
import time
import uuid

import pytest

from kubectl_rollback.errors import ExitCode
from tests import manifests
from tests import scenarios as sc

# 1 and 2 Succeeded, 3 and 4 Failed, 4 live: the target is 2, 3 is skipped (and needs --force).
RUNS = (("1", "Succeeded"), ("2", "Succeeded"), ("3-broken", "Failed"), ("4-broken", "Failed"))
QUESTION = "roll back deployment/web from 4 to {}? [y/N]"


class Terminal:
    """The plugin in a tmux session of its own (a private tmux server on a socket in the test's folder, 120x40), its
    exit code kept in a file."""

    def __init__(self, cluster, ns, tmp_path, *args: str):
        self.socket = str(tmp_path / f"tmux-{uuid.uuid4().hex[:8]}")
        self.code_file = tmp_path / "exit-code"
        script = tmp_path / "run.sh"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in cluster.env.items() if k.isidentifier())
        command = " ".join(shlex.quote(a) for a in (cluster.kubectl_bin, "harness-rollback", *args, "-n", ns.name))
        script.write_text(f"export {exports}\n{command}\necho $? > {shlex.quote(str(self.code_file))}\nsleep 600\n")
        self._tmux("new-session", "-d", "-x", "120", "-y", "40", f"sh {shlex.quote(str(script))}")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-S", "-200")

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"not on the screen after {timeout}s: {text!r}\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def exit_code(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.code_file.exists() and self.code_file.read_text().strip():
                return int(self.code_file.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the plugin did not exit in {timeout}s\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(cluster, ns, tmp_path):
    opened = []

    def open_(*args: str) -> Terminal:
        opened.append(Terminal(cluster, ns, tmp_path, *args))
        return opened[-1]

    yield open_
    for t in opened:
        t.close()


@pytest.fixture
def four_revisions(ns):
    for tag, status in RUNS:
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"), status,
                             *sc.IDENTITY)


def cluster_state(ns) -> tuple:
    """What any write would change: the Deployment's generation and annotations, every ReplicaSet's annotations."""
    deployment = ns.get("deployment", "web")
    sets = {rs["metadata"]["name"]: rs["metadata"].get("annotations") for rs in ns.items("replicasets")}
    return deployment["metadata"]["generation"], deployment["metadata"].get("annotations"), json.dumps(sets)


def test_enter_and_y_roll_back_to_the_preselected_target(four_revisions, ns, terminal):
    t = terminal("rollback", "deployment/web", "-i")
    screen = t.wait_for("pick the revision to roll back to")
    rows = {line[2:].split()[0]: line for line in screen.splitlines() if line[2:3].isdigit()}
    assert rows["2"].startswith("> ") and "rollback target" in rows["2"], screen  # preselected
    assert "skipped: recorded Failed" in rows["3"] and "live" in rows["4"], screen
    t.keys("Down")
    t.wait_for("> 1 ")
    t.keys("Up")
    t.wait_for("> 2 ")
    t.keys("Enter")
    screen = t.wait_for(QUESTION.format(2))
    assert "-      - image: example.test/web:4-broken" in screen and "+      - image: example.test/web:2" in screen
    assert "pre-flight: " in screen, screen
    t.keys("y")
    assert t.exit_code() == ExitCode.OK, t.screen()
    assert sc.live_image(ns) == "example.test/web:2"
    assert "deployment/web rolled back from revision 4" in t.screen()


def test_a_typed_number_picks_that_revision_and_a_failed_one_asks_for_force(four_revisions, ns, terminal):
    t = terminal("rollback", "deployment/web", "--interactive")
    t.wait_for("pick the revision to roll back to")
    t.keys("1")
    t.wait_for("revision: 1")
    t.keys("Enter")
    t.wait_for(QUESTION.format(1))
    t.keys("y")
    assert t.exit_code() == ExitCode.OK, t.screen()
    assert sc.live_image(ns) == "example.test/web:1"

    forced = terminal("rollback", "deployment/web", "-i")
    screen = forced.wait_for("no rollback needed: the live revision 5 is the last successful one")
    assert "> 4 " in screen, screen  # no target to preselect: the newest revision that is not live
    forced.keys("j")  # the arrows and j/k move: down to 3 (recorded Failed)
    forced.wait_for("> 3 ")
    forced.keys("Enter")
    forced.wait_for("revision 3 is recorded Failed; roll back to it anyway (--force)? [y/N]")
    forced.keys("y")
    forced.wait_for("roll back deployment/web from 5 to 3? [y/N]")  # revision 1 came back as 5
    forced.keys("y")
    assert forced.exit_code() == ExitCode.OK, forced.screen()
    assert sc.live_image(ns) == "example.test/web:3-broken"


@pytest.mark.parametrize("answer, code", [("n", ExitCode.ERROR), ("C-c", ExitCode.INTERRUPTED)])
def test_n_or_ctrl_c_at_the_question_writes_nothing(four_revisions, ns, terminal, answer, code):
    before = cluster_state(ns)
    t = terminal("rollback", "deployment/web", "-i")
    t.wait_for("pick the revision to roll back to")
    t.keys("Enter")
    t.wait_for(QUESTION.format(2))
    t.keys(answer)
    assert t.exit_code() == code, t.screen()
    said = "declined: deployment/web was not rolled back" if answer == "n" else "interrupted"
    assert f"error: {said}" in t.screen(), t.screen()
    assert cluster_state(ns) == before
    assert sc.live_image(ns) == "example.test/web:4-broken"


def test_ctrl_c_in_the_list_writes_nothing(four_revisions, ns, terminal):
    before = cluster_state(ns)
    t = terminal("rollback", "deployment/web", "-i")
    t.wait_for("pick the revision to roll back to")
    t.keys("j", "C-c")
    assert t.exit_code() == ExitCode.INTERRUPTED, t.screen()
    assert cluster_state(ns) == before


def test_without_a_terminal_it_refuses_at_once(four_revisions, ns):
    before = cluster_state(ns)
    done = ns.plugin("rollback", "deployment/web", "-i", input="y\n")  # stdin and stdout are pipes here
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr == ("error: --interactive needs a terminal on stdin and stdout; in a script pass --to-revision "
                           "N (history shows the numbers)\n")
    assert done.stdout == "" and cluster_state(ns) == before


def test_a_deploy_while_the_question_is_open_is_not_rolled_back(four_revisions, ns, terminal):
    """A tester's finding: the `y` agreed to "from 4 to 2", a deploy of web:5 came in meanwhile, and the rollback
    undid it unseen. The question's live revision is the only one the `y` may roll back from."""
    t = terminal("rollback", "deployment/web", "-i")
    t.wait_for("pick the revision to roll back to")
    t.keys("Enter")
    t.wait_for(QUESTION.format(2))
    ns.apply(manifests.deployment("web", "example.test/web:5"))
    ns.wait_until(lambda: "example.test/web:5" in sc.rs_by_image(ns, "web"), "the new deploy's ReplicaSet")
    t.keys("y")
    assert t.exit_code() == ExitCode.ERROR, t.screen()
    assert "runs revision 5 now, not the revision this rollback was to replace; left as it is" in t.screen()
    assert sc.live_image(ns) == "example.test/web:5"


def test_a_typed_number_that_names_no_revision_is_never_taken_for_another(four_revisions, ns, terminal):
    before = cluster_state(ns)
    t = terminal("rollback", "deployment/web", "-i")
    t.wait_for("pick the revision to roll back to")
    t.keys("9", "Enter")
    t.wait_for("revision 9: not in the list")
    t.keys("7", "1")  # 7 names no revision either: 1 starts a new number
    t.wait_for("revision: 1")
    t.keys("Enter")
    t.wait_for(QUESTION.format(1))
    t.keys("n")
    assert t.exit_code() == ExitCode.ERROR, t.screen()
    assert cluster_state(ns) == before
