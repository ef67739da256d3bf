"""The decision service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from nacre.serve.service import DecisionService


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self, service: DecisionService) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("nacre_decisions", "decisions made and logged", registry=r)
        self.rewards = Counter("nacre_rewards", "rewards received", ["status"], registry=r)
        self.latency = Histogram("nacre_decide_seconds", "time to answer /v1/decide, durable "
                                 "logging included", registry=r,
                                 buckets=(.0005, .001, .002, .003, .005, .01, .025, .05, .1, 1))
        commit = Histogram("nacre_log_commit_seconds", "time of one durable commit of the log",
                           registry=r, buckets=(.0002, .0005, .001, .002, .005, .01, .05, .2, 1))
        group = Histogram("nacre_log_group_requests", "requests per commit", registry=r,
                          buckets=(1, 2, 4, 8, 16, 64, 256))

        def observe(seconds: float, requests: int) -> None:
            commit.observe(seconds)
            group.observe(requests)

        service.log.on_commit = observe
        Gauge("nacre_log_queue", "requests waiting for the log writer",
              registry=r).set_function(lambda: service.log.queued)
        Gauge("nacre_log_commits", "transactions the log writer committed",
              registry=r).set_function(lambda: service.log.commits)
        Gauge("nacre_production_version", "model version serving",
              registry=r).set_function(lambda: service.production.version)
        Gauge("nacre_candidate_version", "model version in shadow (0: none)",
              registry=r).set_function(lambda: service.shadow_version or 0)
        ProcessCollector(registry=r)  # resident memory, CPU time, open files

        # the log writer is a process of its own (nacre.serve.writer): its CPU and memory too
        # ("none" names no process: nothing is reported while no writer runs)
        ProcessCollector(namespace="nacre_log_writer", registry=r,
                         pid=lambda: service.log.writer_pid or "none")


__all__ = ["Metrics"]
