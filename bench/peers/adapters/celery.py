"""celery with the Redis broker and no result backend (celery's default)."""

from __future__ import annotations

from celery import Celery

from bench.peers import jobs, servers
from bench.peers.adapters import base_environment, script
from bench.peers.adapters.redis_base import RedisAdapter

app = Celery("bench_peers", broker=servers.REDIS_URL)


@app.task(name="noop")
def noop(number: int) -> None:
    jobs.noop(number)


@app.task(name="record_latency")
def record_latency(index: int, enqueued_at: float) -> None:
    jobs.record_latency(index, enqueued_at)


class CeleryAdapter(RedisAdapter):
    library = "celery"
    workers = "`celery worker --pool prefork --concurrency 2` (prefetch multiplier 4)"

    def enqueue(self, number: int) -> None:
        noop.delay(number)

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        record_latency.delay(index, enqueued_at)

    def pending(self) -> int:
        # The default queue's list, plus the messages the workers fetched and haven't acknowledged.
        # A job acknowledges its message when it starts, so a running job counts in neither.
        return self.redis.llen("celery") + self.redis.hlen("unacked")

    def worker_commands(self) -> list[list[str]]:
        return [[script("celery"), "--app", "bench.peers.adapters.celery:app", "worker",
                 "--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO"]]

    def worker_environment(self) -> dict[str, str]:
        return base_environment()

    def close(self) -> None:
        app.close()
        super().close()
