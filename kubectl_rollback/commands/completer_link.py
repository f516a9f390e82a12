"""`completion install|uninstall`: kubectl's completer for a krew install (issue 32 item 4).

kubectl (1.26+) completes a plugin by running kubectl_complete-<plugin> from PATH; krew links one `bin` per plugin
onto PATH (krew#812), so the completer shipped in the archive is not there. `install` puts a relative symlink named
kubectl_complete-harness_rollback next to the plugin kubectl ran, pointing at the plugin itself: the krew link that
`krew upgrade` keeps pointing at the current version. The plugin started under that name answers completion
(packaging/build_dist.py). `uninstall` removes it, and only it, before `krew uninstall`: krew 0.4 refuses every
command ("krew home outdated") while its bin folder holds a file and no plugin is installed."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from kubectl_rollback.errors import RollbackError, UsageError
from kubectl_rollback.output import Result

COMPLETER = "kubectl_complete-harness_rollback"
PLUGIN_NAMES = ("kubectl-harness_rollback", "kubectl-harness-rollback")
# What the shell completer copied into krew's bin folder by the earlier caveats runs: replaced by the link.
COPIED_COMPLETER_MARK = b"exec kubectl-harness_rollback __complete"


@dataclasses.dataclass(frozen=True)
class LinkResult(Result):
    link: str
    changed: bool
    message: str

    def table(self, wide: bool) -> str:
        return self.message

    def data(self) -> Any:
        return {"link": self.link, "changed": self.changed, "message": self.message}


def _plugin(argv0: str) -> Path:
    plugin = Path(argv0)
    if plugin.name not in PLUGIN_NAMES or not plugin.is_absolute():
        raise UsageError(f"completion install|uninstall links the completer next to the plugin kubectl runs; run it "
                         f"as 'kubectl harness-rollback completion ...' (this is {argv0})")
    return plugin


def _ours(link: Path, plugin: Path) -> bool:
    if link.is_symlink():
        return os.readlink(link) in PLUGIN_NAMES or Path(os.readlink(link)) == plugin
    try:
        return COPIED_COMPLETER_MARK in link.read_bytes()
    except OSError:
        return False


def install(argv0: str) -> LinkResult:
    plugin = _plugin(argv0)
    link = plugin.with_name(COMPLETER)
    if link.is_symlink() and os.readlink(link) == plugin.name:
        return LinkResult(str(link), False, f"{link} links to {plugin.name} already: nothing to do")
    if link.exists() or link.is_symlink():
        if not _ours(link, plugin):  # pip's console script, or a file of someone else's
            return LinkResult(str(link), False, f"{link} is there already (not a link this command made): left as "
                                                "it is")
        link.unlink()  # the copy the earlier caveats told krew users to make
    try:
        os.symlink(plugin.name, link)
    except OSError as exc:
        raise RollbackError(f"cannot create {link}: {exc.strerror}") from None
    return LinkResult(str(link), True, f"{link} -> {plugin.name}: kubectl completes harness-rollback now; before "
                                       "'kubectl krew uninstall harness-rollback', run 'kubectl harness-rollback "
                                       "completion uninstall'")


def uninstall(argv0: str) -> LinkResult:
    plugin = _plugin(argv0)
    link = plugin.with_name(COMPLETER)
    if not (link.exists() or link.is_symlink()):
        return LinkResult(str(link), False, f"{link} is not there: nothing to do")
    if not _ours(link, plugin):
        raise RollbackError(f"{link} was not made by 'completion install' (pip's completer?): left as it is")
    try:
        link.unlink()
    except OSError as exc:
        raise RollbackError(f"cannot remove {link}: {exc.strerror}") from None
    return LinkResult(str(link), True, f"{link} removed")
