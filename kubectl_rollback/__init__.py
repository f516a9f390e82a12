"""kubectl harness-rollback: roll workloads back to the last successful release, as Harness CD does."""

__version__ = "0.1.0"
