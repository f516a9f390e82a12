"""The real krew (sigs.k8s.io/krew v0.4.3, built by tests/cluster/build.sh from tests/cluster/gomod/krew) over the
real archive (issue 32 item 4): install it from the manifest, link the completer and complete through kubectl,
upgrade as a manifest install upgrades, uninstall, and krew still works afterwards. The earlier caveats' copy of the
completer outlived `krew uninstall` and made krew refuse every command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.controlplane import bin_dir

pytestmark = pytest.mark.cluster  # the test environment's kubectl and krew (tests/cluster/build.sh)

ROOT = Path(__file__).parent.parent
COMPLETER = "kubectl_complete-harness_rollback"


class Krew:
    """A krew root of its own, and kubectl, krew and the plugins on PATH as a krew user has them."""

    def __init__(self, tmp: Path):
        krew = bin_dir() / "krew"
        assert krew.exists(), f"{krew} is missing: make testenv builds it (tests/cluster/build.sh)"
        self.root = tmp / "krew-root"
        tools = tmp / "tools"
        tools.mkdir()
        (tools / "kubectl-krew").symlink_to(krew)  # how krew installs itself: kubectl krew ...
        (tools / "kubectl").symlink_to(bin_dir() / "kubectl")
        # python3 for the zipapp, without the test venv's folder: pip put a completer there
        (tools / "python3").symlink_to(os.path.realpath(sys.executable))
        path = [str(tools), str(self.root / "bin"), "/usr/bin", "/bin"]
        self.env = {"PATH": os.pathsep.join(path), "HOME": str(tmp), "KREW_ROOT": str(self.root),
                    "KREW_NO_UPGRADE_CHECK": "1", "XDG_CACHE_HOME": str(tmp / "cache"), "LANG": "C.UTF-8"}
        # An empty local index instead of krew-index's clone (krew update needs GitHub): krew list wants one.
        index = self.root / "index" / "default"
        index.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(index)], check=True, timeout=60)
        self.manifest = tmp / "harness-rollback.yaml"
        shutil.copyfile(ROOT / "plugin-manifest.yaml", self.manifest)
        out = tmp / "dist"
        built = subprocess.run([sys.executable, str(ROOT / "packaging" / "build_dist.py"), "--out", str(out),
                                "--manifest", str(self.manifest)], capture_output=True, text=True, timeout=600,
                               stdin=subprocess.DEVNULL)
        assert built.returncode == 0, built.stdout + built.stderr
        (self.archive,) = out.glob("*.tar.gz")

    def kubectl(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def install(self) -> None:
        self.kubectl("krew", "install", f"--manifest={self.manifest}", f"--archive={self.archive}")

    def completes(self) -> bool:
        """kubectl's own completion of `kubectl harness-rollback ro<TAB>`, through the completer on PATH."""
        offered = self.kubectl("__complete", "harness-rollback", "ro").stdout.splitlines()
        return "rollback" in (line.split("\t")[0] for line in offered)


@pytest.fixture(scope="module")
def krew(tmp_path_factory) -> Krew:
    return Krew(tmp_path_factory.mktemp("krew-lifecycle"))


def test_install_complete_upgrade_uninstall_and_krew_still_works(krew):
    krew.install()
    assert "harness-rollback" in krew.kubectl("krew", "list").stdout
    assert not krew.completes()  # krew links the plugin only

    linked = krew.kubectl("harness-rollback", "completion", "install")
    assert COMPLETER in linked.stdout
    assert os.readlink(krew.root / "bin" / COMPLETER) == "kubectl-harness_rollback"
    assert krew.completes()

    # a manifest install upgrades by uninstall + install (krew upgrade has no --manifest), as the caveats say
    krew.kubectl("harness-rollback", "completion", "uninstall")
    krew.kubectl("krew", "uninstall", "harness-rollback")
    krew.install()
    krew.kubectl("harness-rollback", "completion", "install")
    assert krew.completes()

    krew.kubectl("harness-rollback", "completion", "uninstall")
    krew.kubectl("krew", "uninstall", "harness-rollback")
    assert sorted(os.listdir(krew.root / "bin")) == []
    listed = krew.kubectl("krew", "list", ok=False)
    assert listed.returncode == 0 and "outdated" not in listed.stderr, listed.stderr



def test_krew_index_validation_accepts_the_manifest(krew):
    """krew-index's own check of a submitted manifest (cmd/validate-krew-manifest), on the one `make dist` writes,
    which names the archive's sha256. --skip-install: its install step downloads the release `uri` (GitHub); the
    install from the same archive is the lifecycle test's."""
    validator = bin_dir() / "validate-krew-manifest"
    assert validator.exists(), f"{validator} is missing: make testenv builds it (tests/cluster/build.sh)"
    checked = subprocess.run([str(validator), f"--manifest={krew.manifest}", "--skip-install"], capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert checked.returncode == 0, checked.stdout + checked.stderr
