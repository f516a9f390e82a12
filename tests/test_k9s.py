"""The shipped k9s plugins (integrations/k9s/plugins.yaml) in a real k9s (github.com/derailed/k9s v0.50.16, built by
tests/cluster/build.sh from tests/cluster/gomod/k9s) in tmux against the test cluster: the Deployments view of the
test namespace, the history entry shows the history in less, and the rollback entry asks in k9s's dialog (Cancel
changes nothing), then rolls the Deployment back to its last good revision."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests import manifests
from tests.cluster.controlplane import bin_dir
from tests.conftest import VENV_BIN
from tests.scenarios import IDENTITY, deploy_and_record, live_image

pytestmark = pytest.mark.cluster  # the test environment's kubectl and k9s (tests/cluster/build.sh)

ROOT = Path(__file__).parent.parent
PLUGIN_FILE = ROOT / "integrations" / "k9s" / "plugins.yaml"
GOOD, BROKEN = "example.test/web:1", "example.test/web:2-broken"


class K9s:
    """k9s in a tmux server of its own (its own socket), with its config, data, state and log under `tmp` and the
    plugin file where the README puts it. Only the kubeconfig given with --kubeconfig reaches the cluster: HOME is
    `tmp`, and KUBECONFIG is not in its environment, so the plugins get the cluster through k9s's $KUBECONFIG."""

    def __init__(self, tmp: Path, kubeconfig: str, namespace: str):
        k9s = bin_dir() / "k9s"
        assert k9s.exists(), f"{k9s} is missing: make testenv builds it (tests/cluster/build.sh)"
        assert shutil.which("tmux"), "tmux is needed to drive k9s in a terminal (apt-get install tmux)"
        config = tmp / "config"
        (config / "k9s").mkdir(parents=True)
        shutil.copyfile(PLUGIN_FILE, config / "k9s" / "plugins.yaml")
        # No splash, and no look for a newer release (no network here); everything else is k9s's default.
        (config / "k9s" / "config.yaml").write_text("k9s:\n  skipLatestRevCheck: true\n  ui:\n    splashless: true\n")
        self.log = tmp / "k9s.log"
        self.socket = str(tmp / "tmux.sock")
        env = {"HOME": str(tmp), "XDG_CONFIG_HOME": str(config), "XDG_DATA_HOME": str(tmp / "data"),
               "XDG_STATE_HOME": str(tmp / "state"), "XDG_CACHE_HOME": str(tmp / "cache"), "LANG": "C.UTF-8",
               "TERM": "screen",  # what tmux emulates (its pane's TERM, which env -i drops)
               "PATH": f"{VENV_BIN}:{bin_dir()}:/usr/bin:/bin"}
        command = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(k9s), "--kubeconfig", kubeconfig,
                   "-n", namespace, "-c", "deploy", "--logFile", str(self.log), "--logLevel", "debug"]
        self.tmux("new-session", "-d", "-s", "k9s", "-x", "200", "-y", "50", shlex.join(command))

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null", *args], check=True, capture_output=True,
                              text=True, timeout=30).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "k9s")

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "k9s", *keys)

    def wait_for(self, *texts: str, absent: str = None, timeout: float = 60) -> str:
        """The screen once it shows every one of `texts` (and not `absent`): k9s redraws, so poll."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(t in screen for t in texts) and not (absent and absent in screen):
                return screen
            time.sleep(0.3)
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no k9s log)"
        raise AssertionError(f"timed out after {timeout}s waiting for {texts} on k9s's screen:\n{screen}\n"
                             f"k9s log tail:\n{log}")

    def close(self) -> None:
        # kill-server ends k9s (and anything it runs) with the tmux server this test started, and only that one.
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


def dialog_text(screen: str) -> str:
    """The text inside k9s's dialog box, without its border and with no whitespace: the dialog wraps long lines
    where it likes (inside words too)."""
    lines = screen.splitlines()
    top = next(i for i, line in enumerate(lines) if "<Confirm" in line)
    left = lines[top].index("┌")
    right = lines[top].index("┐", left)
    inside = []
    for line in lines[top + 1:]:
        if line[left:left + 1] == "└":
            break
        inside.append(line[left + 1:right])
    return "".join("".join(inside).split())


@pytest.fixture
def k9s(ns, tmp_path):
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", GOOD), "Succeeded", *IDENTITY)
    deploy_and_record(ns, "deployment/web", manifests.deployment("web", BROKEN), "Failed", *IDENTITY)
    tui = K9s(tmp_path, ns.cluster.kubeconfig, ns.name)
    try:
        # The Deployments view of the namespace, web selected (the only row), the plugins' keys in the menu.
        tui.wait_for(f"deployments({ns.name})[1]", " web ", "<shift-b>", "Roll back to last good")
        yield tui
    finally:
        tui.close()


def test_history_opens_in_the_pager_and_q_returns_to_k9s(k9s, ns):
    k9s.press("H")
    screen = k9s.wait_for("deployment/web in namespace", "rollback target: revision 1")
    assert "REVISION" in screen and BROKEN in screen
    k9s.press("q")
    k9s.wait_for(f"deployments({ns.name})[1]", absent="rollback target: revision")


def test_diff_to_the_target_opens_in_the_pager_and_changes_nothing(k9s, ns):
    k9s.press("X")
    screen = k9s.wait_for(f"image: {BROKEN}", f"image: {GOOD}")
    assert "deployment/web: revision 2 (live) against revision 1 (rollback target)" in screen, screen
    changed = [line.split() for line in screen.splitlines() if "image: " in line]
    assert changed == [["-", "-", "image:", BROKEN], ["+", "-", "image:", GOOD]], screen
    k9s.press("q")
    k9s.wait_for(f"deployments({ns.name})[1]", absent=f"image: {GOOD}")
    assert live_image(ns) == BROKEN


def test_rollback_asks_in_k9s_dialog_and_rolls_back_to_the_last_good_revision(k9s, ns):
    k9s.press("B")
    dialog = dialog_text(k9s.wait_for("<Confirm Roll back to last good>", "Cancel     OK"))
    command = f'kubectl harness-rollback rollback "deployments/web" -n "{ns.name}" --context "admin"'
    assert "".join(command.split()) in dialog
    k9s.press("Enter")  # k9s focuses Cancel first
    k9s.wait_for(f"deployments({ns.name})[1]", absent="Confirm Roll back")
    assert live_image(ns) == BROKEN

    k9s.press("B")
    k9s.wait_for("Confirm Roll back to last good")
    k9s.press("Tab", "Enter")  # OK
    k9s.wait_for("deployment/web rolled back from revision 2 (Failed;", "to revision 1 (Succeeded;")
    assert live_image(ns) == GOOD
    k9s.press("q")
    k9s.wait_for(f"deployments({ns.name})[1]", absent="rolled back")


def test_the_keys_are_in_the_other_workload_views(k9s, ns):
    """The scopes are names k9s knows: each view lists the three keys (a key k9s already used there would be left
    out, with an error in its log)."""
    for command, title in (("sts", "statefulsets"), ("ds", "daemonsets"), ("svc", "services")):
        k9s.press(":")
        k9s.press(command, "Enter")
        k9s.wait_for(f"{title}({ns.name})", "<shift-h>", "<shift-x>", "<shift-b>", "Roll back to last good")
