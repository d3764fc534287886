"""A painter's own process metrics, served on WORKER_METRICS_PORT (Prometheus text).

What only this process knows: its device, memory (process RSS; GPU memory on CUDA), whether
it paints now, iterations run and their speed, and the jobs it ended. The install-wide view
(queue, outcomes, timings, which painters are alive) is the bot's /metrics, from the table.
Served by prometheus_client's own HTTP server in a thread: painting holds no event loop.
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

import torch
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client import start_http_server as _start_http_server

log = logging.getLogger(__name__)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.info = Gauge(
            "picasso_worker_info",
            "This painter (always 1), labelled with its id, device and number format",
            ["worker", "device", "precision"],
            registry=self.registry,
        )
        self.busy = Gauge("picasso_worker_busy", "1 while painting a job", registry=self.registry)
        self.iterations = Counter(
            "picasso_worker_iterations", "Optimisation iterations run", registry=self.registry
        )
        self.speed = Gauge(
            "picasso_worker_iterations_per_second",
            "Mean speed of the current (or last) job so far",
            registry=self.registry,
        )
        self.jobs = Counter(
            "picasso_worker_jobs",
            "Jobs this painter ended, by outcome",
            ["status"],
            registry=self.registry,
        )
        self.batch_jobs = Gauge(
            "picasso_worker_batch_jobs",
            "Jobs painted together in the last batch (1: painted alone; BATCH_JOBS)",
            registry=self.registry,
        )
        self.batch_jobs.set(1)
        self._lock = threading.Lock()
        self._last_iteration = 0
        self._server: WSGIServer | None = None

    def painter(
        self, worker_id: str, device: torch.device, description: str, precision: str
    ) -> None:
        """Name the painter; on CUDA also report its GPU memory at every scrape."""
        self.info.labels(worker_id, description, precision).set(1)
        if device.type != "cuda":
            return
        for name, read, what in (
            ("allocated", torch.cuda.memory_allocated, "held by tensors now"),
            ("reserved", torch.cuda.memory_reserved, "reserved by the caching allocator"),
            ("peak", torch.cuda.max_memory_allocated, "peak held by tensors since start"),
        ):
            gauge = Gauge(
                f"picasso_worker_gpu_memory_{name}_bytes",
                f"GPU memory {what}",
                registry=self.registry,
            )
            gauge.set_function(lambda read=read: read(device))

    def job_started(self) -> None:
        with self._lock:
            self._last_iteration = 0
        self.busy.set(1)
        self.speed.set(0)

    def progress(self, iteration: int, elapsed: float) -> None:
        """Called every iteration from the painting thread (cheap)."""
        with self._lock:
            advanced = max(0, iteration - self._last_iteration)
            self._last_iteration = max(iteration, self._last_iteration)
        if advanced:
            self.iterations.inc(advanced)
        if elapsed > 0:
            self.speed.set(iteration / elapsed)

    def batch(self, jobs: int) -> None:
        """A batch of `jobs` was painted together."""
        self.batch_jobs.set(jobs)

    def job_ended(self, status: str | None) -> None:
        """`status`: the job's new status (None: the job was taken from this painter)."""
        self.busy.set(0)
        if status is not None:
            self.jobs.labels(status).inc()

    def serve(self, port: int, listen: str) -> int:
        """Start the HTTP server (a daemon thread); returns the port it listens on."""
        self._server, _ = _start_http_server(port, listen, registry=self.registry)
        bound = self._server.server_address[1]
        log.info("painter metrics on http://%s:%d/metrics", listen, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()
