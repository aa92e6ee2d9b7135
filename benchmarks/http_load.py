"""A small closed-loop HTTP load generator: N client processes, each with its own
keep-alive session, run a scenario for a fixed time and report operations per
second and latency percentiles. Bounded in time; talks only to 127.0.0.1."""
from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import requests


@dataclass
class LoadResult:
    name: str
    operations: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (f"{self.name:28} {self.per_second:9.1f} ops/s  p50 {self.percentile(0.5):7.1f} ms  "
                f"p99 {self.percentile(0.99):7.1f} ms  ({self.operations} ops, {self.errors} errors)")


def _client(scenario: Callable, base_url: str, seconds: float, seed: int, queue) -> None:
    session = requests.Session()
    state = scenario.setup(session, base_url, seed) if hasattr(scenario, "setup") else None
    latencies, errors = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            ok = scenario(session, base_url, state)
        except requests.RequestException:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - start) * 1000)
        else:
            errors += 1
    queue.put((latencies, errors))


def run_load(name: str, scenario: Callable, base_url: str, *, clients: int = 4,
             seconds: float = 10.0) -> LoadResult:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(scenario, base_url, seconds, i, queue))
             for i in range(clients)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = time.perf_counter() - start
    latencies = [x for lat, _ in results for x in lat]
    return LoadResult(name, len(latencies), sum(e for _, e in results), min(elapsed, seconds) or elapsed,
                      latencies)


def median(values):
    return statistics.median(values) if values else float("nan")
