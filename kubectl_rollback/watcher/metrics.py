"""Prometheus metrics of the watcher, on a registry of its own (prometheus_client, imported only by `watch`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.outcomes = Counter("harness_rollback_outcomes_recorded", "Rollout outcomes recorded by the watcher",
                                ["status"], registry=self.registry)
        self.rollbacks = Counter("harness_rollback_auto_rollbacks", "Auto-rollbacks, by result",
                                 ["result"], registry=self.registry)
        self.watch_restarts = Counter("harness_rollback_watch_restarts",
                                      "Relists after 410 Gone, a broken stream or an unreachable API server",
                                      ["resource"], registry=self.registry)
        self.rollbacks_pending = Gauge("harness_rollback_auto_rollbacks_pending",
                                       "Auto-rollbacks taken on whose last attempt failed, waiting to be retried",
                                       registry=self.registry)
        self.stream_age = Gauge("harness_rollback_watch_stream_age_seconds",
                                "Seconds since the API server was last heard on this kind's watch (an event, a "
                                "bookmark, a stream's end) or list", ["resource"], registry=self.registry)
        self.last_list = Gauge("harness_rollback_watch_last_list_timestamp_seconds",
                               "Unix time of this kind's last successful list", ["resource"], registry=self.registry)
        self.analyses = Counter("harness_rollback_analyses", "Analyses of workloads annotated harness.io/verify, "
                                "by verdict (Successful, Failed, Inconclusive, Error)", ["phase"],
                                registry=self.registry)
        self.analyses_running = Gauge("harness_rollback_analyses_running", "Analyses measuring now",
                                      registry=self.registry)
        self.leader = Gauge("harness_rollback_leader", "1 while this replica holds the lease and acts",
                            registry=self.registry)
