"""This user's cache folders: $XDG_CACHE_HOME (default ~/.cache)/kubectl-harness-rollback/NAME, for what `--help`
printed (helpcache.py) and the servers shell completion found not answering (completion.py).

A folder is used only when it and every folder from the cache root down are this user's real folders, writable by no
one else (as ssh and pip trust a folder); anything else means no cache, never an error. Standard library `os` only:
the kept `--help` imports this before anything else.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs as much as the rest of a kept --help
if TYPE_CHECKING:
    from typing import Optional


def private_folder(name: str, create: bool) -> Optional[str]:
    """The folder NAME of the plugin's cache, made (mode 0700) when `create` says so; None where there can be no
    cache."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):  # a relative one is ignored, as the XDG spec says
        root = os.path.join(os.path.expanduser("~"), ".cache")
    mine = os.path.join(root, "kubectl-harness-rollback")
    folders = (root, mine, os.path.join(mine, name))
    for folder in folders:
        if create and not os.path.isdir(folder):
            try:
                os.mkdir(folder, 0o700)
            except OSError:
                return None
        if not _private(folder):
            return None
    return folders[-1]


def write(path: str, text: str) -> bool:
    """`text` as the whole of the file at `path`, written beside it and renamed: a reader (another TAB, another
    --help) sees the old file or the new one, never half of one. False, and nothing left behind, when it cannot."""
    partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path)
    except OSError:
        remove(partial)
        return False
    return True


def remove(path: str) -> None:
    """The file at `path` gone, if it can be; a cache that cannot be tidied is no error."""
    try:
        os.remove(path)
    except OSError:
        pass


def _private(path: str) -> bool:
    """A real folder of this user's that no one else may write (as ssh and pip trust a folder)."""
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022
