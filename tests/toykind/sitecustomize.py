"""The toy kind's registry line, run as the plugin's Python starts (only where this folder is on PYTHONPATH)."""

from toy import ToyKind

from kubectl_rollback.workloads import register

register(ToyKind())
