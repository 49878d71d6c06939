"""rq with its default worker class, which forks a work horse process per job."""

from __future__ import annotations

from typing import Any

from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from bench.peers import jobs, servers
from bench.peers.adapters import base_environment, script
from bench.peers.adapters.redis_base import RedisAdapter

QUEUE = "bench_peers"


class RqAdapter(RedisAdapter):
    library = "rq"
    workers = "2 x `rq worker` (fork per job)"
    has_bulk = True

    def connect(self) -> None:
        super().connect()
        self.queue: Any = Queue(QUEUE, connection=self.redis)

    def enqueue(self, number: int) -> None:
        self.queue.enqueue(jobs.noop, number)

    def enqueue_bulk(self, count: int) -> None:
        self.queue.enqueue_many([Queue.prepare_data(jobs.noop, (number,)) for number in range(count)])

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        self.queue.enqueue(jobs.record_latency, index, enqueued_at)

    def pending(self) -> int:
        return len(self.queue) + StartedJobRegistry(queue=self.queue).count

    def failed(self) -> int | None:
        return FailedJobRegistry(queue=self.queue).count

    def worker_commands(self) -> list[list[str]]:
        command = [script("rq"), "worker", QUEUE, "--url", servers.REDIS_URL]
        return [command, command]

    def worker_environment(self) -> dict[str, str]:
        return base_environment()
