"""Ctrl-C while the command line is still being imported (the slowest part of a start on a busy machine)."""

import subprocess
import sys

import pytest

# A Ctrl-C that lands during the import of `module`: an import hook raises KeyboardInterrupt there, as the default
# SIGINT handler would.
INTERRUPT_IMPORT = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from kubectl_rollback import launch
launch.{entry}()
"""


@pytest.mark.parametrize("module, entry, stderr", [
    ("kubectl_rollback.cli", "plugin", "error: interrupted\n"),
    ("kubectl_rollback.completion", "completer", ""),  # kubectl shows nothing of a completer that fails
])
def test_ctrl_c_during_the_import_is_one_line_and_exit_130(module, entry, stderr):
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_IMPORT.format(module=module, entry=entry)],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, stderr, "")
