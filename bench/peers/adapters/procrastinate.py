"""procrastinate on PostgreSQL; its workers wake up on LISTEN/NOTIFY."""

from __future__ import annotations

from procrastinate import App, PsycopgConnector

from bench.peers import jobs, servers
from bench.peers.adapters import base_environment, script
from bench.peers.adapters.postgres import PostgresAdapter

app = App(connector=PsycopgConnector(conninfo=servers.POSTGRES_URL))


@app.task(name="noop")
def noop(number: int) -> None:
    jobs.noop(number)


@app.task(name="record_latency")
def record_latency(index: int, enqueued_at: float) -> None:
    jobs.record_latency(index, enqueued_at)


class ProcrastinateAdapter(PostgresAdapter):
    library = "procrastinate"
    workers = "2 x `procrastinate worker` (concurrency 1 each), LISTEN/NOTIFY"
    has_bulk = True

    def connect(self) -> None:
        self.connect_poll()
        app.open()
        installed = self.scalar("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        if not installed:
            app.schema_manager.apply_schema()

    def reset(self) -> None:
        self.truncate(["procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
                       "procrastinate_workers"])

    def enqueue(self, number: int) -> None:
        noop.defer(number=number)

    def enqueue_bulk(self, count: int) -> None:
        noop.batch_defer(*[{"number": number} for number in range(count)])

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        record_latency.defer(index=index, enqueued_at=enqueued_at)

    def pending(self) -> int:
        return self.scalar("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")

    def failed(self) -> int | None:
        return self.scalar("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")

    def worker_commands(self) -> list[list[str]]:
        command = [script("procrastinate"), "--app", "bench.peers.adapters.procrastinate.app", "worker"]
        return [command, command]

    def worker_environment(self) -> dict[str, str]:
        return base_environment()

    def close(self) -> None:
        app.close()
        super().close()
