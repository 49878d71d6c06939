"""huey with RedisHuey: one consumer with 2 worker processes."""

from __future__ import annotations

from huey import RedisHuey

from bench.peers import jobs, servers
from bench.peers.adapters import base_environment, script
from bench.peers.adapters.redis_base import RedisAdapter

huey = RedisHuey("bench_peers", host=servers.REDIS_HOST, port=servers.REDIS_PORT, db=servers.REDIS_DATABASE)


@huey.task()
def noop(number: int) -> None:
    jobs.noop(number)


@huey.task()
def record_latency(index: int, enqueued_at: float) -> None:
    jobs.record_latency(index, enqueued_at)


class HueyAdapter(RedisAdapter):
    library = "huey"
    workers = "`huey_consumer --workers 2 --worker-type process`"

    def enqueue(self, number: int) -> None:
        noop(number)

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        record_latency(index, enqueued_at)

    def pending(self) -> int:
        # The queue's length only: huey keeps no record of running tasks, hence empty_polls = 2.
        return huey.pending_count()

    def worker_commands(self) -> list[list[str]]:
        return [[script("huey_consumer"), "bench.peers.adapters.huey.huey", "--workers", "2",
                 "--worker-type", "process"]]

    def worker_environment(self) -> dict[str, str]:
        return base_environment()
