"""pgqueuer on PostgreSQL: asyncio workers that wake up on LISTEN/NOTIFY and dequeue in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from pgqueuer import PgQueuer
from pgqueuer.db import PsycopgDriver, SyncPsycopgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries, SyncQueries

from bench.peers import jobs, servers
from bench.peers.adapters import base_environment, python
from bench.peers.adapters.postgres import PostgresAdapter

TABLES = ["pgqueuer", "pgqueuer_log", "pgqueuer_statistics"]


@asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    """Build the worker's PgQueuer with both entrypoints; the factory that ``pgq run`` would load."""
    connection = await psycopg.AsyncConnection.connect(servers.POSTGRES_URL, autocommit=True)
    queuer = PgQueuer(PsycopgDriver(connection))

    @queuer.entrypoint("noop")
    async def noop(job: Job) -> None:
        jobs.noop(int(job.payload or b"0"))

    @queuer.entrypoint("record_latency")
    async def record_latency(job: Job) -> None:
        index, enqueued_at = (job.payload or b"").decode().split()
        jobs.record_latency(int(index), float(enqueued_at))

    try:
        yield queuer
    finally:
        await connection.close()


class PgqueuerAdapter(PostgresAdapter):
    library = "pgqueuer"
    workers = "2 x `pgq run` defaults (batch size 10, asyncio), LISTEN/NOTIFY"
    has_bulk = True

    def connect(self) -> None:
        self.connect_poll()
        if not self.scalar("SELECT to_regclass('pgqueuer') IS NOT NULL"):
            import asyncio

            asyncio.run(self._install())
        self.enqueue_connection = servers.connect_postgres()
        self.queries = SyncQueries(SyncPsycopgDriver(self.enqueue_connection))

    async def _install(self) -> None:
        connection = await psycopg.AsyncConnection.connect(servers.POSTGRES_URL, autocommit=True)
        try:
            await Queries(PsycopgDriver(connection)).install()
        finally:
            await connection.close()

    def reset(self) -> None:
        self.truncate(TABLES)

    def enqueue(self, number: int) -> None:
        self.queries.enqueue("noop", str(number).encode())

    def enqueue_bulk(self, count: int) -> None:
        self.queries.enqueue(["noop"] * count, [str(number).encode() for number in range(count)], [0] * count)

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        self.queries.enqueue("record_latency", f"{index} {enqueued_at!r}".encode())

    def pending(self) -> int:
        # pgqueuer deletes a job's row from the queue table when the job finishes.
        return self.scalar("SELECT count(*) FROM pgqueuer")

    def failed(self) -> int | None:
        return self.scalar("SELECT count(*) FROM pgqueuer_log WHERE status = 'exception'")

    def worker_commands(self) -> list[list[str]]:
        command = [python(), "-m", "bench.peers.pgqueuer_worker"]
        return [command, command]

    def worker_environment(self) -> dict[str, str]:
        return base_environment()

    def close(self) -> None:
        self.enqueue_connection.close()
        super().close()
