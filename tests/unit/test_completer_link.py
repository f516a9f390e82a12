"""`completion install|uninstall` (issue 32 item 4): the completer link next to the plugin krew put on PATH."""

import os

import pytest

from kubectl_rollback.commands import completer_link
from kubectl_rollback.errors import RollbackError, UsageError

COMPLETER = completer_link.COMPLETER


@pytest.fixture
def krew_bin(tmp_path):
    """krew's bin folder with the plugin's link into the store."""
    store = tmp_path / "store" / "harness-rollback" / "v0.1.0"
    store.mkdir(parents=True)
    (store / "kubectl-harness_rollback").write_text("#!/usr/bin/env python3\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-harness_rollback").symlink_to(store / "kubectl-harness_rollback")
    return bin_dir


def test_install_links_the_plugin_itself_relatively_and_is_idempotent(krew_bin):
    plugin = str(krew_bin / "kubectl-harness_rollback")
    assert completer_link.install(plugin).changed
    assert os.readlink(krew_bin / COMPLETER) == "kubectl-harness_rollback"  # krew upgrade re-points the plugin link
    again = completer_link.install(plugin)
    assert not again.changed and "nothing to do" in again.message


def test_install_replaces_the_copy_the_earlier_caveats_made(krew_bin):
    (krew_bin / COMPLETER).write_bytes(b"#!/bin/sh\nexec kubectl-harness_rollback __complete \"$@\"\n")
    assert completer_link.install(str(krew_bin / "kubectl-harness_rollback")).changed
    assert (krew_bin / COMPLETER).is_symlink()


def test_a_completer_not_ours_is_left_alone(krew_bin):
    pip_script = b"#!/venv/bin/python\nfrom kubectl_rollback.launch import completer\n"
    (krew_bin / COMPLETER).write_bytes(pip_script)
    plugin = str(krew_bin / "kubectl-harness_rollback")
    assert not completer_link.install(plugin).changed
    with pytest.raises(RollbackError, match="not made by 'completion install'"):
        completer_link.uninstall(plugin)
    assert (krew_bin / COMPLETER).read_bytes() == pip_script


def test_uninstall_removes_the_link_even_dangling_and_then_has_nothing_to_do(krew_bin):
    plugin = str(krew_bin / "kubectl-harness_rollback")
    completer_link.install(plugin)
    (krew_bin / "kubectl-harness_rollback").unlink()  # krew uninstall ran first: the link dangles
    assert completer_link.uninstall(plugin).changed
    assert not os.path.lexists(krew_bin / COMPLETER)
    assert "nothing to do" in completer_link.uninstall(plugin).message


@pytest.mark.parametrize("argv0", ["kubectl-harness_rollback", "/usr/lib/python3/kubectl_rollback/__main__.py"])
def test_only_the_plugin_kubectl_runs_has_a_folder_to_link_in(argv0):
    with pytest.raises(UsageError, match="run it as 'kubectl harness-rollback completion"):
        completer_link.install(argv0)
